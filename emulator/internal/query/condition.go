package query

import "unicode/utf8"

// Condition is a stand-alone WHERE expression, as the hub takes in a job's
// queryCondition ("deviceId IN ['a', 'b']") or a configuration's
// targetCondition ("tags.environment = 'prod'"). It is immutable and safe for
// concurrent use.
type Condition struct {
	text string
	expr expr
}

// ParseCondition parses a condition with the same grammar and semantics as a
// query's WHERE clause. Problems are reported as a *SyntaxError whose
// position is relative to text.
func ParseCondition(text string) (*Condition, error) {
	if len(text) > 4*MaxQueryLength || utf8.RuneCountInString(text) > MaxQueryLength {
		return nil, newSyntaxError(text, 0, "condition is longer than %d characters", MaxQueryLength)
	}
	p := &parser{src: text, lx: lexer{src: text}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	e, err := p.expression()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errorf(p.tok.pos, "unexpected %s", p.describe())
	}
	walk(e, func(x expr) {
		if pe, ok := x.(*pathExpr); ok {
			unqualify(pe, Devices)
		}
	})
	return &Condition{text: text, expr: e}, nil
}

// Text returns the condition as given to ParseCondition.
func (c *Condition) Text() string { return c.text }

// Matches reports whether doc satisfies the condition: only Boolean true
// matches, never false, null or undefined.
func (c *Condition) Matches(doc map[string]any) bool {
	return eval(c.expr, doc) == true
}
