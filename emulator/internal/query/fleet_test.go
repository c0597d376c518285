package query

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// memStore is a key-ordered in-memory Store whose contents may change between
// pages.
type memStore struct {
	mu   sync.Mutex
	keys []string // sorted
	docs map[string]map[string]any
}

func newMemStore(keyOf func(map[string]any) string, docs []map[string]any) *memStore {
	s := &memStore{docs: map[string]map[string]any{}}
	for _, d := range docs {
		s.put(keyOf(d), d)
	}
	return s
}

func (s *memStore) put(key string, doc map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.docs[key]; !ok {
		i, _ := slices.BinarySearch(s.keys, key)
		s.keys = slices.Insert(s.keys, i, key)
	}
	s.docs[key] = doc
}

func (s *memStore) delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := slices.BinarySearch(s.keys, key); ok {
		s.keys = slices.Delete(s.keys, i, i+1)
		delete(s.docs, key)
	}
}

func (s *memStore) Scan(after string, fn func(string, map[string]any) bool) {
	// The lock is held for the scan: fn must not modify the store. Changes
	// between pages are what the paging tests exercise.
	s.mu.Lock()
	defer s.mu.Unlock()
	i, found := slices.BinarySearch(s.keys, after)
	if found {
		i++
	}
	for _, k := range s.keys[i:] {
		if !fn(k, s.docs[k]) {
			return
		}
	}
}

func deviceKey(d map[string]any) string { return d["deviceId"].(string) }
func moduleKey(d map[string]any) string { return d["deviceId"].(string) + "/" + d["moduleId"].(string) }

// roundTrip gives v the shape encoding/json produces (float64 numbers, …).
func roundTrip(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// makeDevice builds the twin of device i. Fields vary with i so that every
// operator has matches and non-matches, with typed and missing values.
func makeDevice(i int) map[string]any {
	id := fmt.Sprintf("dev-%03d", i)
	tags := map[string]any{
		"building": []string{"A", "B", "C", "D"}[i%4],
		"floor":    float64(i % 6),
	}
	if i%11 != 0 {
		tags["region"] = []string{"eu-west", "us-east", "ap"}[i%3]
	}
	if i%13 == 0 {
		tags["some key"] = "v"
	}
	if i%37 == 0 {
		tags["note"] = "it's"
	}
	if i%17 == 0 {
		tags = map[string]any{}
	}
	reported := map[string]any{
		"battery":  float64(i % 101),
		"online":   i%2 == 0,
		"nested":   map[string]any{"sensor": map[string]any{"type": []string{"temp", "humidity"}[i%2]}},
		"$version": float64(i%4 + 2),
		"$metadata": map[string]any{
			"$lastUpdated": "2026-01-01T00:00:00Z",
		},
	}
	switch i % 5 {
	case 0, 1, 2:
		reported["fw"] = []string{"1.0", "1.1", "2.0"}[i%5]
	case 3:
		reported["fw"] = float64(1 + i%2)
	}
	if i%19 == 0 {
		reported["fw"] = nil
	}
	if i%8 == 0 {
		reported["ips"] = []any{"10.0.0.1", "10.0.0.2"}
	}
	d := map[string]any{
		"deviceId":                  id,
		"etag":                      "AAAAAAAAAAE=",
		"deviceEtag":                "NDk2MzQxNjc2",
		"status":                    map[bool]string{true: "disabled", false: "enabled"}[i%7 == 0],
		"statusUpdateTime":          "0001-01-01T00:00:00Z",
		"connectionState":           map[bool]string{true: "Connected", false: "Disconnected"}[i%3 == 0],
		"lastActivityTime":          "0001-01-01T00:00:00Z",
		"cloudToDeviceMessageCount": float64(0),
		"authenticationType":        "sas",
		"x509Thumbprint":            map[string]any{"primaryThumbprint": nil, "secondaryThumbprint": nil},
		"modelId":                   "",
		"version":                   float64(i%5 + 1),
		"tags":                      tags,
		"properties": map[string]any{
			"desired": map[string]any{
				"telemetryInterval": float64(10 * (i%4 + 1)),
				"$metadata":         map[string]any{"$lastUpdated": "2026-01-01T00:00:00Z"},
				"$version":          float64(i%9 + 1),
			},
			"reported": reported,
		},
	}
	if i%29 != 0 {
		d["capabilities"] = map[string]any{"iotEdge": i%10 == 0}
	}
	return d
}

// makeModules builds the module twins of device i: even devices run edgeAgent,
// multiples of 4 also run sensor.
func makeModules(i int) []map[string]any {
	if i%2 != 0 {
		return nil
	}
	names := []string{"edgeAgent"}
	if i%4 == 0 {
		names = append(names, "sensor")
	}
	var out []map[string]any
	for j, m := range names {
		out = append(out, map[string]any{
			"deviceId":        fmt.Sprintf("dev-%03d", i),
			"moduleId":        m,
			"status":          "enabled",
			"connectionState": map[bool]string{true: "Connected", false: "Disconnected"}[(i+j)%3 == 0],
			"tags":            map[string]any{"building": []string{"A", "B", "C", "D"}[i%4]},
			"properties": map[string]any{
				"desired":  map[string]any{"$version": float64(1)},
				"reported": map[string]any{"status": []string{"scanning", "idle"}[(i/2+j)%2], "$version": float64(1)},
			},
		})
	}
	return out
}

// fleet is the deterministic test fleet, in key order.
type fleet struct {
	devices []map[string]any
	modules []map[string]any
}

func newFleet(n int) *fleet {
	f := &fleet{}
	for i := 0; i < n; i++ {
		f.devices = append(f.devices, makeDevice(i))
		f.modules = append(f.modules, makeModules(i)...)
	}
	sort.Slice(f.modules, func(a, b int) bool { return moduleKey(f.modules[a]) < moduleKey(f.modules[b]) })
	return f
}

// get walks a path of keys in a document, the plain-Go way.
func get(d map[string]any, keys ...string) (any, bool) {
	var cur any = d
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func getStr(d map[string]any, keys ...string) (string, bool) {
	v, _ := get(d, keys...)
	s, ok := v.(string)
	return s, ok
}

func getNum(d map[string]any, keys ...string) (float64, bool) {
	v, _ := get(d, keys...)
	n, ok := v.(float64)
	return n, ok
}

func filter(docs []map[string]any, pred func(map[string]any) bool) []map[string]any {
	out := []map[string]any{}
	for _, d := range docs {
		if pred(d) {
			out = append(out, d)
		}
	}
	return out
}

// runAll pages through the whole result of q with the given page size.
func runAll(t testing.TB, e *Engine, q *Query, s Store, pageSize int) []json.RawMessage {
	t.Helper()
	var all []json.RawMessage
	tok := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 100000, "paging does not terminate")
		res, err := e.Page(q, s, tok, pageSize)
		require.NoError(t, err)
		if pageSize > 0 {
			require.LessOrEqual(t, len(res.Items), pageSize)
		}
		all = append(all, res.Items...)
		if res.Continuation == "" {
			return all
		}
		tok = res.Continuation
	}
}

func decodeRows(t testing.TB, items []json.RawMessage) []map[string]any {
	t.Helper()
	rows := make([]map[string]any, 0, len(items))
	for _, it := range items {
		var m map[string]any
		require.NoError(t, json.Unmarshal(it, &m))
		rows = append(rows, m)
	}
	return rows
}

func idsOf(rows []map[string]any) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		id, _ := r["deviceId"].(string)
		if m, ok := r["moduleId"].(string); ok {
			id += "/" + m
		}
		out = append(out, id)
	}
	return out
}

func sortRows(t testing.TB, rows []map[string]any) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		b, err := json.Marshal(r)
		require.NoError(t, err)
		out[i] = string(b)
	}
	sort.Strings(out)
	return out
}

func lowerASCII(s string) string { return strings.ToLower(s) }
