package query

import (
	"errors"
	"fmt"
)

// Limits that keep hostile input from exhausting memory or the stack.
const (
	// MaxQueryLength is the longest query text accepted, in characters. The hub
	// documents "Query expressions can have a maximum length of 8192 characters".
	MaxQueryLength = 8192
	// MaxDepth bounds the nesting of parentheses, NOT, unary signs and function
	// calls, so a query such as "((((…" fails with a SyntaxError instead of
	// recursing without limit.
	MaxDepth = 64
)

// SyntaxError reports a query the engine cannot accept: bad syntax, an unknown
// function or collection, a limit exceeded, or a clause combination the hub
// does not support. The emulator answers it with 400 ArgumentInvalid.
type SyntaxError struct {
	// Pos is the byte offset in the query text where the problem was found.
	Pos int
	// Line and Col are the 1-based line and column (in characters) of Pos.
	Line, Col int
	// Msg says what was wrong, without the position.
	Msg string
}

// Error gives the position and the message, e.g.
// "query: syntax error at line 1, column 8 (offset 7): expected FROM".
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("query: syntax error at line %d, column %d (offset %d): %s", e.Line, e.Col, e.Pos, e.Msg)
}

// newSyntaxError builds a SyntaxError at byte offset pos of src.
func newSyntaxError(src string, pos int, format string, args ...any) *SyntaxError {
	if pos < 0 {
		pos = 0
	}
	if pos > len(src) {
		pos = len(src)
	}
	line, col := 1, 1
	for _, r := range src[:pos] {
		if r == '\n' {
			line++
			col = 1
			continue
		}
		col++
	}
	return &SyntaxError{Pos: pos, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// ErrBadContinuation is returned (wrapped, test with errors.Is) when a
// continuation token is malformed, tampered with, truncated, issued by another
// Engine, or issued for a different query. The query is never silently
// restarted from the beginning.
var ErrBadContinuation = errors.New("query: invalid continuation token")
