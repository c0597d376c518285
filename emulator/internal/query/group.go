package query

import (
	"encoding/json"
	"slices"
	"strings"
)

// groupRow is one result row of an aggregate query with the sort key that
// orders rows and that continuation tokens resume after.
type groupRow struct {
	key string
	row map[string]any
}

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

// aggregateRows scans the whole collection through scan, groups the matching
// documents and returns the result rows ordered by group key. A query with
// aggregates but no GROUP BY yields exactly one row, even over no documents
// (COUNT() is then 0).
func (q *Query) aggregateRows(scan func(fn func(key string, doc map[string]any) bool)) ([]groupRow, error) {
	groups := map[string]*group{}
	var buf strings.Builder
	values := make([]any, len(q.groupBy))
	names := make([]string, len(q.groupBy))
	var encErr error
	scan(func(_ string, doc map[string]any) bool {
		if !q.Matches(doc) {
			return true
		}
		buf.Reset()
		for i, g := range q.groupBy {
			values[i], names[i] = g.lookup(doc)
			if err := encodeKeyPart(&buf, values[i]); err != nil {
				encErr = err
				return false
			}
		}
		k := buf.String()
		gr := groups[k]
		if gr == nil {
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
	rows := make([]groupRow, 0, len(groups))
	for _, gr := range groups {
		rows = append(rows, groupRow{key: gr.key, row: q.groupResult(gr)})
	}
	slices.SortFunc(rows, func(a, b groupRow) int { return strings.Compare(a.key, b.key) })
	return rows, nil
}

func (q *Query) newGroup(key string, values []any, names []string) *group {
	n := len(q.items)
	return &group{
		key:    key,
		values: slices.Clone(values),
		names:  slices.Clone(names),
		sums:   make([]float64, n),
		nums:   make([]int, n),
		mins:   make([]float64, n),
		maxs:   make([]float64, n),
	}
}

func (q *Query) accumulate(gr *group, doc map[string]any) {
	gr.count++
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

// encodeKeyPart appends a type-tagged, self-delimiting encoding of v, so that
// distinct GROUP BY tuples (including a string "1" and a number 1) never share
// a key.
func encodeKeyPart(b *strings.Builder, v any) error {
	if isUndefined(v) {
		b.WriteString("u;")
		return nil
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b.WriteString("v")
	b.WriteString(itoa(len(enc)))
	b.WriteByte(':')
	b.Write(enc)
	return nil
}
