package query

import "strings"

// check resolves collection-qualified paths, decides whether the query is an
// aggregate, validates the SELECT list against GROUP BY and assigns the
// generated names ($1, $2, …) of unaliased aggregates.
func (p *parser) check(q *Query) error {
	for i := range q.items {
		if q.items[i].path != nil {
			unqualify(q.items[i].path, q.source)
		}
	}
	for _, g := range q.groupBy {
		unqualify(g, q.source)
	}
	walk(q.where, func(e expr) {
		if pe, ok := e.(*pathExpr); ok {
			unqualify(pe, q.source)
		}
	})

	for _, it := range q.items {
		if it.agg != aggNone {
			q.aggregate = true
		}
		if it.agg != aggNone && it.agg != aggCount {
			q.numericAggs = true
		}
	}
	if len(q.groupBy) > 0 {
		q.aggregate = true
	}
	if q.aggregate {
		if q.selectAll {
			return p.errorf(q.starPos, "SELECT * cannot be combined with GROUP BY")
		}
		grouped := map[string]bool{}
		for _, g := range q.groupBy {
			grouped[g.canonical()] = true
		}
		for _, it := range q.items {
			if it.agg == aggNone && !grouped[it.path.canonical()] {
				return p.errorf(it.pos, "%s must be an aggregate or appear in GROUP BY", it.path.canonical())
			}
		}
	}

	generated := 0
	seen := map[string]bool{}
	for i := range q.items {
		it := &q.items[i]
		name := it.alias
		if name == "" && (it.agg != aggNone || it.path.segs[len(it.path.segs)-1].isIndex) {
			generated++
			it.name = "$" + itoa(generated)
			name = it.name
		}
		if name == "" {
			continue // named after the document's property at run time
		}
		if seen[name] {
			return p.errorf(it.pos, "duplicate output name %q in SELECT", name)
		}
		seen[name] = true
	}
	return nil
}

// unqualify strips a leading collection name, so that devices.deviceId (or
// devices.modules.moduleId when querying modules) reads deviceId (moduleId).
func unqualify(pe *pathExpr, src Source) {
	s := pe.segs
	if len(s) < 2 || s[0].isIndex || !strings.EqualFold(s[0].name, "devices") {
		return
	}
	if src == Modules && len(s) >= 3 && !s[1].isIndex && strings.EqualFold(s[1].name, "modules") {
		pe.segs = s[2:]
		return
	}
	pe.segs = s[1:]
}

// walk calls fn for e and every sub-expression.
func walk(e expr, fn func(expr)) {
	if e == nil {
		return
	}
	fn(e)
	switch x := e.(type) {
	case *unaryExpr:
		walk(x.x, fn)
	case *binaryExpr:
		walk(x.l, fn)
		walk(x.r, fn)
	case *inExpr:
		walk(x.x, fn)
	case *callExpr:
		for _, a := range x.args {
			walk(a, fn)
		}
	}
}
