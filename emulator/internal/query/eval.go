package query

import (
	"encoding/json"
	"math"
	"strings"
)

// undefinedType is the type of the undefined value: what a missing property,
// a type mismatch or an invalid operation evaluates to. It is distinct from
// JSON null.
type undefinedType struct{}

var undefined any = undefinedType{}

func isUndefined(v any) bool { _, ok := v.(undefinedType); return ok }

// Matches reports whether doc satisfies the query's WHERE clause (true when
// there is none). Only a Boolean true matches: false, null and undefined do
// not, as the hub documents.
func (q *Query) Matches(doc map[string]any) bool {
	if q.where == nil {
		return true
	}
	return eval(q.where, doc) == true
}

// whereOnViews reports whether the WHERE clause reads nothing a
// MatchScanner's view leaves out: no $-property (such as $metadata or
// $version) and not properties, properties.desired or
// properties.reported as a whole, whose view lacks those two keys.
func (q *Query) whereOnViews() bool {
	ok := true
	walk(q.where, func(e expr) {
		pe, isPath := e.(*pathExpr)
		if !isPath {
			return
		}
		var names []string
		for _, s := range pe.segs {
			if s.isIndex {
				break
			}
			if strings.HasPrefix(s.name, "$") {
				ok = false
			}
			names = append(names, strings.ToLower(s.name))
		}
		if len(names) >= 1 && names[0] == "properties" && (len(names) == 1 || len(names) == 2 && (names[1] == "desired" || names[1] == "reported")) && len(names) == len(pe.segs) {
			ok = false
		}
	})
	return ok
}

// lookup reads the property the path names. It returns undefined when any step
// is missing or of the wrong type, and the document's own spelling of the last
// property name (names match case-insensitively, as in the hub, where
// "SELECT DeviceId" returns "deviceId").
func (pe *pathExpr) lookup(doc map[string]any) (any, string) {
	var cur any = doc
	name := ""
	for _, s := range pe.segs {
		if s.isIndex {
			arr, ok := cur.([]any)
			if !ok || s.index >= len(arr) {
				return undefined, ""
			}
			cur, name = arr[s.index], ""
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return undefined, ""
		}
		if cur, name, ok = getKey(m, s.name); !ok {
			return undefined, ""
		}
	}
	return normalize(cur), name
}

// getKey finds name in m: the exact spelling first, then case-insensitively;
// if several keys differ only in case, the smallest one wins, so the choice
// never depends on map iteration order.
func getKey(m map[string]any, name string) (any, string, bool) {
	if v, ok := m[name]; ok {
		return v, name, true
	}
	found := ""
	var val any
	for k, v := range m {
		if strings.EqualFold(k, name) && (found == "" || k < found) {
			found, val = k, v
		}
	}
	return val, found, found != ""
}

// normalize maps the numeric types a caller might store to float64, the type
// encoding/json produces, so that all numbers compare alike.
func normalize(v any) any {
	switch n := v.(type) {
	case float64, string, bool, nil, map[string]any, []any:
		return v
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case int32:
		return float64(n)
	case uint64:
		return float64(n)
	case uint32:
		return float64(n)
	case float32:
		return float64(n)
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			return undefined
		}
		return f
	}
	return v
}

// tristate is the result of a condition: true, false or undefined.
type tristate int8

const (
	triUndef tristate = iota
	triFalse
	triTrue
)

func truth(v any) tristate {
	if b, ok := v.(bool); ok {
		if b {
			return triTrue
		}
		return triFalse
	}
	return triUndef
}

func (t tristate) value() any {
	switch t {
	case triTrue:
		return true
	case triFalse:
		return false
	}
	return undefined
}

// eval evaluates e against doc. It never panics on any document shape.
func eval(e expr, doc map[string]any) any {
	switch x := e.(type) {
	case *literalExpr:
		return x.val
	case *pathExpr:
		v, _ := x.lookup(doc)
		return v
	case *unaryExpr:
		v := eval(x.x, doc)
		switch x.op {
		case tokIdent: // NOT
			switch truth(v) {
			case triTrue:
				return false
			case triFalse:
				return true
			}
			return undefined
		case tokMinus:
			if n, ok := v.(float64); ok {
				return -n
			}
			return undefined
		default: // unary plus
			if _, ok := v.(float64); ok {
				return v
			}
			return undefined
		}
	case *binaryExpr:
		return evalBinary(x, doc)
	case *inExpr:
		v := eval(x.x, doc)
		if isUndefined(v) {
			return undefined
		}
		res := triFalse
		for _, c := range x.list {
			switch compare(v, c, opEq) {
			case triTrue:
				res = triTrue
			case triUndef:
				if res == triFalse {
					res = triUndef
				}
			}
			if res == triTrue {
				break
			}
		}
		if x.negate {
			return notTri(res).value()
		}
		return res.value()
	case *callExpr:
		args := make([]any, len(x.args))
		for i, a := range x.args {
			args[i] = eval(a, doc)
		}
		return x.fn.call(args)
	}
	return undefined
}

func notTri(t tristate) tristate {
	switch t {
	case triTrue:
		return triFalse
	case triFalse:
		return triTrue
	}
	return triUndef
}

func evalBinary(x *binaryExpr, doc map[string]any) any {
	switch x.op {
	case opAnd:
		l := truth(eval(x.l, doc))
		if l == triFalse {
			return false
		}
		r := truth(eval(x.r, doc))
		if r == triFalse {
			return false
		}
		if l == triTrue && r == triTrue {
			return true
		}
		return undefined
	case opOr:
		l := truth(eval(x.l, doc))
		if l == triTrue {
			return true
		}
		r := truth(eval(x.r, doc))
		if r == triTrue {
			return true
		}
		if l == triFalse && r == triFalse {
			return false
		}
		return undefined
	case opEq, opNe, opLt, opLe, opGt, opGe:
		return compare(eval(x.l, doc), eval(x.r, doc), x.op).value()
	}
	l, ok1 := eval(x.l, doc).(float64)
	r, ok2 := eval(x.r, doc).(float64)
	if !ok1 || !ok2 {
		return undefined
	}
	var v float64
	switch x.op {
	case opAdd:
		v = l + r
	case opSub:
		v = l - r
	case opMul:
		v = l * r
	case opDiv:
		if r == 0 {
			return undefined
		}
		v = l / r
	case opMod:
		if r == 0 {
			return undefined
		}
		v = math.Mod(l, r)
	}
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return undefined
	}
	return v
}

// compare applies a comparison operator with the typing rules of the hub's
// (Cosmos DB-derived) language: only values of the same primitive type
// compare; any other pair — a string against a number, anything against
// undefined, objects and arrays — is undefined, so neither "=" nor "!="
// matches. Numbers compare numerically, strings ordinally (by code point),
// false < true; null equals null and has no order.
func compare(l, r any, op binaryOp) tristate {
	var c int
	switch a := l.(type) {
	case float64:
		b, ok := r.(float64)
		if !ok {
			return triUndef
		}
		switch {
		case a < b:
			c = -1
		case a > b:
			c = 1
		}
	case string:
		b, ok := r.(string)
		if !ok {
			return triUndef
		}
		c = strings.Compare(a, b)
	case bool:
		b, ok := r.(bool)
		if !ok {
			return triUndef
		}
		switch {
		case a == b:
		case !a:
			c = -1
		default:
			c = 1
		}
	case nil:
		if r != nil {
			return triUndef
		}
		switch op {
		case opEq:
			return triTrue
		case opNe:
			return triFalse
		}
		return triUndef
	default:
		return triUndef
	}
	var res bool
	switch op {
	case opEq:
		res = c == 0
	case opNe:
		res = c != 0
	case opLt:
		res = c < 0
	case opLe:
		res = c <= 0
	case opGt:
		res = c > 0
	case opGe:
		res = c >= 0
	}
	if res {
		return triTrue
	}
	return triFalse
}
