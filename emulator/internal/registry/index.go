package registry

import "github.com/google/btree"

// keyIndex is an ordered set of keys (device ids, or ModuleKeys): inserts
// and deletes cost O(log n) whatever order keys come in, and scans go in
// key order from any key. A B-tree, because a sorted slice makes a bulk
// create of ids in random order quadratic (each insert moves half the
// slice). Not safe for concurrent use: the Store's lock guards it.
type keyIndex struct{ t *btree.BTreeG[string] }

// indexDegree is the B-tree's degree: nodes of up to 63 keys, a few cache
// lines of string headers.
const indexDegree = 32

func newKeyIndex() keyIndex { return keyIndex{t: btree.NewOrderedG[string](indexDegree)} }

// insert adds k (no-op if present).
func (x keyIndex) insert(k string) { x.t.ReplaceOrInsert(k) }

// remove deletes k (no-op if absent).
func (x keyIndex) remove(k string) { x.t.Delete(k) }

// len is the number of keys.
func (x keyIndex) len() int { return x.t.Len() }

// after calls fn with each key sorting after after ("" for the first), in
// order, until fn returns false.
func (x keyIndex) after(after string, fn func(k string) bool) {
	x.t.AscendGreaterOrEqual(after, func(k string) bool {
		if k == after && after != "" {
			return true
		}
		return fn(k)
	})
}
