package query

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// function is a built-in scalar function. Arity is checked by the parser, so
// call always receives between minArgs and maxArgs evaluated arguments, each
// possibly undefined.
type function struct {
	name             string
	minArgs, maxArgs int // maxArgs < 0: variadic
	call             func(args []any) any
}

// functions maps the upper-case function name to its definition. The hub's
// twin queries document IS_DEFINED; routing conditions (same language) document
// the type checks and string functions, and the Cosmos-style spellings
// STARTSWITH and ENDSWITH are accepted alongside STARTS_WITH and ENDS_WITH.
var functions = buildFunctions()

func buildFunctions() map[string]*function {
	functions := map[string]*function{}
	add := func(min, max int, call func([]any) any, names ...string) {
		for _, n := range names {
			functions[n] = &function{name: n, minArgs: min, maxArgs: max, call: call}
		}
	}
	typeCheck := func(pred func(any) bool) func([]any) any {
		return func(a []any) any { return pred(a[0]) }
	}
	add(1, 1, typeCheck(func(v any) bool { return !isUndefined(v) }), "IS_DEFINED")
	add(1, 1, typeCheck(func(v any) bool { return v == nil }), "IS_NULL")
	add(1, 1, typeCheck(func(v any) bool { _, ok := v.(bool); return ok }), "IS_BOOL")
	add(1, 1, typeCheck(func(v any) bool { _, ok := v.(float64); return ok }), "IS_NUMBER")
	add(1, 1, typeCheck(func(v any) bool { _, ok := v.(string); return ok }), "IS_STRING")
	add(1, 1, typeCheck(func(v any) bool { _, ok := v.(map[string]any); return ok }), "IS_OBJECT")
	add(1, 1, typeCheck(func(v any) bool { _, ok := v.([]any); return ok }), "IS_ARRAY")
	add(1, 1, typeCheck(isPrimitive), "IS_PRIMITIVE")

	add(2, 3, strings2(strings.HasPrefix), "STARTSWITH", "STARTS_WITH")
	add(2, 3, strings2(strings.HasSuffix), "ENDSWITH", "ENDS_WITH")
	add(2, 3, strings2(strings.Contains), "CONTAINS")
	add(1, 1, string1(strings.ToLower), "LOWER")
	add(1, 1, string1(strings.ToUpper), "UPPER")
	add(1, 1, string1(strings.TrimSpace), "TRIM")
	add(1, 1, string1(func(s string) string { return strings.TrimLeft(s, " \t\r\n") }), "LTRIM")
	add(1, 1, string1(func(s string) string { return strings.TrimRight(s, " \t\r\n") }), "RTRIM")
	add(1, 1, fnLength, "LENGTH")
	add(2, -1, fnConcat, "CONCAT")
	add(2, 3, fnSubstring, "SUBSTRING")
	add(2, 2, fnIndexOf, "INDEX_OF")
	add(1, 1, fnAsNumber, "AS_NUMBER")
	add(1, 1, number1(math.Abs), "ABS")
	add(1, 1, number1(math.Ceil), "CEILING")
	add(1, 1, number1(math.Floor), "FLOOR")
	return functions
}

func isPrimitive(v any) bool {
	switch v.(type) {
	case nil, bool, float64, string:
		return true
	}
	return false
}

// strings2 lifts a string predicate; any non-string argument gives undefined.
// An optional third Boolean argument true makes the test case-insensitive,
// as in Cosmos DB's STARTSWITH(s, prefix, true).
func strings2(f func(a, b string) bool) func([]any) any {
	return func(a []any) any {
		s, ok1 := a[0].(string)
		t, ok2 := a[1].(string)
		if !ok1 || !ok2 {
			return undefined
		}
		if len(a) == 3 {
			fold, ok := a[2].(bool)
			if !ok {
				return undefined
			}
			if fold {
				s, t = strings.ToLower(s), strings.ToLower(t)
			}
		}
		return f(s, t)
	}
}

func string1(f func(string) string) func([]any) any {
	return func(a []any) any {
		s, ok := a[0].(string)
		if !ok {
			return undefined
		}
		return f(s)
	}
}

func number1(f func(float64) float64) func([]any) any {
	return func(a []any) any {
		n, ok := a[0].(float64)
		if !ok {
			return undefined
		}
		return f(n)
	}
}

func fnLength(a []any) any {
	s, ok := a[0].(string)
	if !ok {
		return undefined
	}
	return float64(utf8.RuneCountInString(s))
}

func fnConcat(a []any) any {
	var b strings.Builder
	for _, v := range a {
		s, ok := v.(string)
		if !ok {
			return undefined
		}
		b.WriteString(s)
	}
	return b.String()
}

// fnSubstring is SUBSTRING(s, start[, length]) with a zero-based start in
// characters; out-of-range positions are clamped.
func fnSubstring(a []any) any {
	s, ok := a[0].(string)
	start, ok2 := a[1].(float64)
	if !ok || !ok2 || math.IsNaN(start) {
		return undefined
	}
	r := []rune(s)
	from := clampIndex(start, len(r))
	to := len(r)
	if len(a) == 3 {
		n, ok := a[2].(float64)
		if !ok || math.IsNaN(n) {
			return undefined
		}
		to = from + clampIndex(n, len(r)-from)
	}
	return string(r[from:to])
}

func clampIndex(f float64, n int) int {
	if f <= 0 {
		return 0
	}
	if f >= float64(n) {
		return n
	}
	return int(f)
}

// fnIndexOf is INDEX_OF(s, fragment): the character position of the first
// occurrence, or -1.
func fnIndexOf(a []any) any {
	s, ok1 := a[0].(string)
	t, ok2 := a[1].(string)
	if !ok1 || !ok2 {
		return undefined
	}
	i := strings.Index(s, t)
	if i < 0 {
		return float64(-1)
	}
	return float64(utf8.RuneCountInString(s[:i]))
}

// fnAsNumber converts a numeric string to a number; a number is returned as
// is; anything else is undefined.
func fnAsNumber(a []any) any {
	switch v := a[0].(type) {
	case float64:
		return v
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return undefined
		}
		return f
	}
	return undefined
}
