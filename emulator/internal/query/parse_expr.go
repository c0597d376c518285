package query

import "strings"

// expression parses a WHERE condition. Precedence, loosest first:
// OR, AND, NOT, comparison / IN / NIN, + -, * / %, unary sign.
func (p *parser) expression() (expr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("OR") {
		pos := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &binaryExpr{pos: pos, op: opOr, l: l, r: r}
	}
	return l, nil
}

func (p *parser) and() (expr, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("AND") {
		pos := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = &binaryExpr{pos: pos, op: opAnd, l: l, r: r}
	}
	return l, nil
}

func (p *parser) not() (expr, error) {
	if !p.isKeyword("NOT") {
		return p.comparison()
	}
	pos := p.tok.pos
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if err := p.advance(); err != nil {
		return nil, err
	}
	x, err := p.not()
	if err != nil {
		return nil, err
	}
	return &unaryExpr{pos: pos, op: tokIdent, x: x}, nil
}

var comparisons = map[tokenKind]binaryOp{
	tokEq: opEq, tokNe: opNe, tokLt: opLt, tokLe: opLe, tokGt: opGt, tokGe: opGe,
}

func (p *parser) comparison() (expr, error) {
	l, err := p.additive()
	if err != nil {
		return nil, err
	}
	if op, ok := comparisons[p.tok.kind]; ok {
		pos := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.additive()
		if err != nil {
			return nil, err
		}
		return &binaryExpr{pos: pos, op: op, l: l, r: r}, nil
	}
	if p.isKeyword("IN") || p.isKeyword("NIN") {
		in := &inExpr{pos: p.tok.pos, x: l, negate: p.isKeyword("NIN")}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if in.list, err = p.constantList(); err != nil {
			return nil, err
		}
		return in, nil
	}
	return l, nil
}

func (p *parser) additive() (expr, error) {
	l, err := p.multiplicative()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tokPlus || p.tok.kind == tokMinus {
		op, pos := opAdd, p.tok.pos
		if p.tok.kind == tokMinus {
			op = opSub
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.multiplicative()
		if err != nil {
			return nil, err
		}
		l = &binaryExpr{pos: pos, op: op, l: l, r: r}
	}
	return l, nil
}

func (p *parser) multiplicative() (expr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		var op binaryOp
		switch p.tok.kind {
		case tokStar:
			op = opMul
		case tokSlash:
			op = opDiv
		case tokPercent:
			op = opMod
		default:
			return l, nil
		}
		pos := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &binaryExpr{pos: pos, op: op, l: l, r: r}
	}
}

func (p *parser) unary() (expr, error) {
	if p.tok.kind != tokMinus && p.tok.kind != tokPlus {
		return p.primary()
	}
	pos, op := p.tok.pos, p.tok.kind
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokNumber { // fold signed number literals
		n := p.tok.num
		if op == tokMinus {
			n = -n
		}
		return &literalExpr{pos: pos, val: n}, p.advance()
	}
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	return &unaryExpr{pos: pos, op: op, x: x}, nil
}

func (p *parser) primary() (expr, error) {
	t := p.tok
	switch t.kind {
	case tokNumber:
		return &literalExpr{pos: t.pos, val: t.num}, p.advance()
	case tokString:
		return &literalExpr{pos: t.pos, val: t.text}, p.advance()
	case tokLParen:
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.expression()
		if err != nil {
			return nil, err
		}
		return x, p.expect(tokRParen)
	case tokLBracket:
		list, err := p.constantList()
		if err != nil {
			return nil, err
		}
		return &literalExpr{pos: t.pos, val: list}, nil
	case tokIdent:
		if lit, ok := keywordLiteral(t.text); ok {
			lit.pos = t.pos
			return lit, p.advance()
		}
		next, err := p.peek()
		if err != nil {
			return nil, err
		}
		if next.kind == tokLParen {
			return p.call()
		}
		return p.path()
	}
	return nil, p.errorf(t.pos, "expected an expression, found %s", p.describe())
}

// keywordLiteral recognises true, false, null and undefined.
func keywordLiteral(word string) (*literalExpr, bool) {
	switch strings.ToUpper(word) {
	case "TRUE":
		return &literalExpr{val: true}, true
	case "FALSE":
		return &literalExpr{val: false}, true
	case "NULL":
		return &literalExpr{val: nil}, true
	case "UNDEFINED":
		return &literalExpr{val: undefined, undef: true}, true
	}
	return nil, false
}

// call parses name(args) for a built-in scalar function and checks arity.
func (p *parser) call() (expr, error) {
	t := p.tok
	upper := strings.ToUpper(t.text)
	fn, ok := functions[upper]
	if !ok {
		if _, agg := aggregates[upper]; agg {
			return nil, p.errorf(t.pos, "aggregate %s is allowed only in SELECT", upper)
		}
		return nil, p.errorf(t.pos, "unknown function %s", t.text)
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if err := p.advance(); err != nil { // name
		return nil, err
	}
	if err := p.advance(); err != nil { // (
		return nil, err
	}
	c := &callExpr{pos: t.pos, fn: fn}
	if p.tok.kind != tokRParen {
		for {
			if len(c.args) == MaxDepth {
				return nil, p.errorf(p.tok.pos, "too many arguments to %s", upper)
			}
			a, err := p.expression()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			if p.tok.kind != tokComma {
				break
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
		}
	}
	if err := p.expect(tokRParen); err != nil {
		return nil, err
	}
	if n := len(c.args); n < fn.minArgs || (fn.maxArgs >= 0 && n > fn.maxArgs) {
		return nil, p.errorf(t.pos, "%s takes %s, got %d", upper, arity(fn), n)
	}
	return c, nil
}

func arity(fn *function) string {
	switch {
	case fn.maxArgs < 0:
		return "at least " + itoa(fn.minArgs) + " arguments"
	case fn.minArgs == fn.maxArgs && fn.minArgs == 1:
		return "1 argument"
	case fn.minArgs == fn.maxArgs:
		return itoa(fn.minArgs) + " arguments"
	}
	return itoa(fn.minArgs) + " to " + itoa(fn.maxArgs) + " arguments"
}

// constantList parses the array constant of IN / NIN: [c1, c2, …]. The
// parenthesised form (c1, c2) is accepted too.
func (p *parser) constantList() ([]any, error) {
	open := p.tok.kind
	if open != tokLBracket && open != tokLParen {
		return nil, p.errorf(p.tok.pos, "expected '[' to start a list of constants, found %s", p.describe())
	}
	closeKind := tokRBracket
	if open == tokLParen {
		closeKind = tokRParen
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	list := []any{}
	if p.tok.kind == closeKind {
		return list, p.advance()
	}
	for {
		v, err := p.constant()
		if err != nil {
			return nil, err
		}
		list = append(list, v)
		if p.tok.kind == closeKind {
			return list, p.advance()
		}
		if err := p.expect(tokComma); err != nil {
			return nil, err
		}
	}
}

func (p *parser) constant() (any, error) {
	t := p.tok
	switch t.kind {
	case tokNumber:
		return t.num, p.advance()
	case tokString:
		return t.text, p.advance()
	case tokMinus:
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind != tokNumber {
			return nil, p.errorf(p.tok.pos, "expected a number after '-', found %s", p.describe())
		}
		return -p.tok.num, p.advance()
	case tokIdent:
		if lit, ok := keywordLiteral(t.text); ok && !lit.undef {
			return lit.val, p.advance()
		}
	}
	return nil, p.errorf(t.pos, "expected a constant (string, number, true, false or null), found %s", p.describe())
}
