package query

import "strings"

// Source is the document collection a query reads (its FROM clause).
type Source int

const (
	// Devices is "FROM devices": device twins.
	Devices Source = iota + 1
	// Modules is "FROM devices.modules": module twins.
	Modules
)

// String returns the collection name as written in a query.
func (s Source) String() string {
	switch s {
	case Devices:
		return "devices"
	case Modules:
		return "devices.modules"
	}
	return "unknown"
}

// expr is a node of an expression tree. pos is the byte offset where the
// expression starts, for error messages.
type expr interface{ position() int }

// literalExpr is a constant: nil (null), bool, float64, string, []any, or
// undefined when undef is set.
type literalExpr struct {
	pos   int
	val   any
	undef bool
}

// segment is one step of a property path: a property name, or an array index
// when isIndex is set.
type segment struct {
	name    string
	index   int
	isIndex bool
}

// pathExpr reads a property of the document, e.g. properties.reported.fw or
// tags['some key'].
type pathExpr struct {
	pos  int
	segs []segment
}

// unaryExpr is NOT x, -x or +x.
type unaryExpr struct {
	pos int
	op  tokenKind // tokIdent stands for NOT
	x   expr
}

// binaryOp enumerates the binary operators.
type binaryOp int

const (
	opAnd binaryOp = iota
	opOr
	opEq
	opNe
	opLt
	opLe
	opGt
	opGe
	opAdd
	opSub
	opMul
	opDiv
	opMod
)

// binaryExpr is l op r.
type binaryExpr struct {
	pos  int
	op   binaryOp
	l, r expr
}

// inExpr is x IN [..] or, with negate set, x NIN [..].
type inExpr struct {
	pos    int
	x      expr
	list   []any
	negate bool
}

// callExpr calls a built-in scalar function.
type callExpr struct {
	pos  int
	fn   *function
	args []expr
}

func (e *literalExpr) position() int { return e.pos }
func (e *pathExpr) position() int    { return e.pos }
func (e *unaryExpr) position() int   { return e.pos }
func (e *binaryExpr) position() int  { return e.pos }
func (e *inExpr) position() int      { return e.pos }
func (e *callExpr) position() int    { return e.pos }

// aggKind enumerates the aggregate functions of the SELECT clause.
type aggKind int

const (
	aggNone aggKind = iota
	aggCount
	aggSum
	aggAvg
	aggMin
	aggMax
)

// selectItem is one element of the projection list: a path, or an aggregate
// over a path (COUNT() has none).
type selectItem struct {
	pos   int
	path  *pathExpr
	agg   aggKind
	alias string // "" when no AS was written
	name  string // output name for aggregates and index paths without alias: $1, $2…
}

// Query is a parsed IoT Hub query. It is immutable and safe for concurrent
// use by many goroutines.
type Query struct {
	text      string
	source    Source
	selectAll bool
	starPos   int
	top       int // -1 when there is no TOP
	items     []selectItem
	where     expr // nil when there is no WHERE
	groupBy   []*pathExpr
	aggregate bool
	// numericAggs is set when SELECT has SUM, AVG, MIN or MAX.
	numericAggs bool
	hash        [16]byte
}

// Text returns the query text as given to Parse.
func (q *Query) Text() string { return q.text }

// Source returns the collection the query reads.
func (q *Query) Source() Source { return q.source }

// IsSelectAll reports whether the query is "SELECT * …", whose results are
// whole twins (item type "twin"); any other projection returns raw JSON
// objects (item type "raw").
func (q *Query) IsSelectAll() bool { return q.selectAll }

// ItemType returns the hub's item type of the result rows: "twin" for
// SELECT *, "raw" for projections and aggregates.
func (q *Query) ItemType() string {
	if q.selectAll {
		return "twin"
	}
	return "raw"
}

// IsAggregate reports whether the query uses COUNT (or another aggregate) or
// GROUP BY, so that its rows are computed over the whole collection.
func (q *Query) IsAggregate() bool { return q.aggregate }

// Top returns the n of "SELECT TOP n", or -1 without TOP.
func (q *Query) Top() int { return q.top }

// pathString renders a path in canonical form (lower-case names), used to
// match projected paths against GROUP BY paths.
func (p *pathExpr) canonical() string {
	var b strings.Builder
	for i, s := range p.segs {
		if s.isIndex {
			b.WriteString("[")
			b.WriteString(itoa(s.index))
			b.WriteString("]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strings.ToLower(s.name))
	}
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}
