package query

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
)

// group accumulates the documents of one GROUP BY key.
type group struct {
	key    string
	values []any    // value of each GROUP BY path (possibly undefined)
	names  []string // the document's spelling of each GROUP BY path's last name
	count  int
	sums   []float64 // per select item: sum of numeric values (SUM, AVG)
	nums   []int     // per select item: how many numeric values were seen
	mins   []float64
	maxs   []float64
}

// aggregateGroups scans the whole collection through scan, groups the
// matching documents and returns the groups ordered by key; groupResult
// projects each into its result row. A query with aggregates but no GROUP BY
// yields exactly one group, even over no documents (COUNT() is then 0).
func (q *Query) aggregateGroups(scan func(fn func(key string, doc map[string]any) bool)) ([]*group, error) {
	groups := map[string]*group{}
	var buf []byte
	values := make([]any, len(q.groupBy))
	names := make([]string, len(q.groupBy))
	var encErr error
	scan(func(_ string, doc map[string]any) bool {
		if !q.Matches(doc) {
			return true
		}
		buf = buf[:0]
		for i, g := range q.groupBy {
			values[i], names[i] = g.lookup(doc)
			var err error
			if buf, err = appendKeyPart(buf, values[i]); err != nil {
				encErr = err
				return false
			}
		}
		gr := groups[string(buf)] // no allocation for the lookup
		if gr == nil {
			k := string(buf)
			gr = q.newGroup(k, values, names)
			groups[k] = gr
		}
		q.accumulate(gr, doc)
		return true
	})
	if encErr != nil {
		return nil, encErr
	}
	if len(q.groupBy) == 0 && len(groups) == 0 {
		groups[""] = q.newGroup("", nil, nil)
	}
	sorted := make([]*group, 0, len(groups))
	for _, gr := range groups {
		sorted = append(sorted, gr)
	}
	slices.SortFunc(sorted, func(a, b *group) int { return strings.Compare(a.key, b.key) })
	return sorted, nil
}

func (q *Query) newGroup(key string, values []any, names []string) *group {
	gr := &group{key: key, values: slices.Clone(values), names: slices.Clone(names)}
	if q.numericAggs {
		n := len(q.items)
		acc := make([]float64, 3*n)
		gr.sums, gr.mins, gr.maxs = acc[:n], acc[n:2*n], acc[2*n:]
		gr.nums = make([]int, n)
	}
	return gr
}

func (q *Query) accumulate(gr *group, doc map[string]any) {
	gr.count++
	if !q.numericAggs {
		return
	}
	for i, it := range q.items {
		if it.agg == aggNone || it.agg == aggCount {
			continue
		}
		v, _ := it.path.lookup(doc)
		f, ok := v.(float64)
		if !ok {
			continue // SUM, AVG, MIN and MAX consider numbers only
		}
		if gr.nums[i] == 0 || f < gr.mins[i] {
			gr.mins[i] = f
		}
		if gr.nums[i] == 0 || f > gr.maxs[i] {
			gr.maxs[i] = f
		}
		gr.sums[i] += f
		gr.nums[i]++
	}
}

// groupResult projects a finished group. Undefined values (a GROUP BY path
// missing in the group's documents, AVG of no numbers) are left out.
func (q *Query) groupResult(gr *group) map[string]any {
	row := make(map[string]any, len(q.items))
	for i, it := range q.items {
		var v any
		key := ""
		switch it.agg {
		case aggCount:
			v = float64(gr.count)
		case aggSum:
			v = gr.sums[i]
		case aggAvg, aggMin, aggMax:
			v = undefined
			switch {
			case gr.nums[i] == 0:
			case it.agg == aggAvg:
				v = gr.sums[i] / float64(gr.nums[i])
			case it.agg == aggMin:
				v = gr.mins[i]
			default:
				v = gr.maxs[i]
			}
		default:
			c := it.path.canonical()
			v = undefined
			for j, g := range q.groupBy {
				if g.canonical() == c {
					v, key = gr.values[j], gr.names[j]
					break
				}
			}
		}
		if isUndefined(v) {
			continue
		}
		row[outputName(it, key)] = v
	}
	return row
}

// appendKeyPart appends an order-preserving, self-delimiting encoding of v,
// so that byte order of keys is the natural order of GROUP BY tuples and
// distinct tuples (a string "1" and a number 1) never share a key. Per value:
// a type byte (undefined < null < Boolean < number < string < array/object),
// then for Booleans one byte, for numbers 8 bytes of sign-adjusted IEEE 754
// bits, for strings and JSON-encoded arrays and objects the bytes with 0x00
// escaped as 0x00 0xFF and terminated by 0x00 0x01.
func appendKeyPart(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case undefinedType:
		return append(b, 0), nil
	case nil:
		return append(b, 1), nil
	case bool:
		if x {
			return append(b, 2, 1), nil
		}
		return append(b, 2, 0), nil
	case float64:
		if x == 0 {
			x = 0 // fold -0 into 0
		}
		bits := math.Float64bits(x)
		if bits>>63 == 0 {
			bits |= 1 << 63
		} else {
			bits = ^bits
		}
		return binary.BigEndian.AppendUint64(append(b, 3), bits), nil
	case string:
		return appendEscaped(append(b, 4), x), nil
	}
	enc, err := appendJSON(nil, v)
	if err != nil {
		return nil, err
	}
	return appendEscaped(append(b, 5), string(enc)), nil
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			b = append(b, 0, 0xFF)
			continue
		}
		b = append(b, s[i])
	}
	return append(b, 0, 1)
}
