package query

import (
	"encoding/json"
	"fmt"
)

// project builds the result row of a non-aggregate query for one matching
// document: the document itself for SELECT *, otherwise an object holding the
// selected properties. A property that is undefined in doc is left out of the
// row, as the hub does.
func (q *Query) project(doc map[string]any) map[string]any {
	if q.selectAll {
		return doc
	}
	row := make(map[string]any, len(q.items))
	for _, it := range q.items {
		v, key := it.path.lookup(doc)
		if isUndefined(v) {
			continue
		}
		row[outputName(it, key)] = v
	}
	return row
}

// outputName is the alias, else the generated $n name, else the document's
// own spelling of the last property name.
func outputName(it selectItem, key string) string {
	switch {
	case it.alias != "":
		return it.alias
	case it.name != "":
		return it.name
	}
	return key
}

// Rows evaluates a non-aggregate query over docs, or an aggregate query over
// all of docs, and returns the result rows without paging. It is meant for
// small, in-memory collections and for tests; the emulator pages with
// Engine.Page. The rows of SELECT * are the documents themselves, not copies.
func (q *Query) Rows(docs []map[string]any) ([]map[string]any, error) {
	if q.aggregate {
		groups, err := q.aggregateGroups(func(fn func(string, map[string]any) bool) {
			for _, d := range docs {
				if !fn("", d) {
					return
				}
			}
		})
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(groups))
		for _, gr := range groups {
			if q.top >= 0 && len(out) == q.top {
				break
			}
			out = append(out, q.groupResult(gr))
		}
		return out, nil
	}
	var out []map[string]any
	for _, d := range docs {
		if q.top >= 0 && len(out) == q.top {
			break
		}
		if q.Matches(d) {
			out = append(out, q.project(d))
		}
	}
	return out, nil
}

// marshalRow encodes a result row; sizeHint is the expected encoded size.
func marshalRow(row map[string]any, sizeHint int) (json.RawMessage, error) {
	b, err := appendJSON(make([]byte, 0, sizeHint), row)
	if err != nil {
		return nil, fmt.Errorf("query: encoding result row: %w", err)
	}
	return b, nil
}
