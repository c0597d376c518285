package query

import (
	"crypto/sha256"
	"math"
	"strings"
	"unicode/utf8"
)

// reserved words cannot start a property path; after a '.' any identifier is
// a property name (tags.group is fine, group alone is not).
var reserved = map[string]bool{
	"SELECT": true, "TOP": true, "FROM": true, "WHERE": true, "GROUP": true, "BY": true,
	"AS": true, "AND": true, "OR": true, "NOT": true, "IN": true, "NIN": true,
	"TRUE": true, "FALSE": true, "NULL": true, "UNDEFINED": true,
}

var aggregates = map[string]aggKind{
	"COUNT": aggCount, "SUM": aggSum, "AVG": aggAvg, "MIN": aggMin, "MAX": aggMax,
}

// Parse parses an IoT Hub query such as
//
//	SELECT deviceId, tags.location AS loc FROM devices WHERE status = 'enabled'
//
// Keywords and function names are case-insensitive. Any problem with the text
// is reported as a *SyntaxError carrying its position.
func Parse(text string) (*Query, error) {
	if len(text) > 4*MaxQueryLength { // more bytes than 8192 characters can take
		return nil, newSyntaxError(text, MaxQueryLength, "query is %d bytes long; the limit is %d characters", len(text), MaxQueryLength)
	}
	if n := utf8.RuneCountInString(text); n > MaxQueryLength {
		// Point at the first character past the limit.
		pos, count := 0, 0
		for pos = range text {
			if count == MaxQueryLength {
				break
			}
			count++
		}
		return nil, newSyntaxError(text, pos, "query is %d characters long; the limit is %d", n, MaxQueryLength)
	}
	p := &parser{src: text, lx: lexer{src: text}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	q, err := p.query()
	if err != nil {
		return nil, err
	}
	q.text = text
	sum := sha256.Sum256([]byte(text))
	copy(q.hash[:], sum[:])
	return q, nil
}

// parser is a recursive-descent parser with one token of lookahead.
type parser struct {
	src      string
	lx       lexer
	tok      token
	ahead    token
	hasAhead bool
	depth    int
}

func (p *parser) advance() error {
	if p.hasAhead {
		p.tok, p.hasAhead = p.ahead, false
		return nil
	}
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) peek() (token, error) {
	if !p.hasAhead {
		t, err := p.lx.next()
		if err != nil {
			return token{}, err
		}
		p.ahead, p.hasAhead = t, true
	}
	return p.ahead, nil
}

func (p *parser) errorf(pos int, format string, args ...any) error {
	return newSyntaxError(p.src, pos, format, args...)
}

// isKeyword reports whether the current token is the keyword kw (upper case).
func (p *parser) isKeyword(kw string) bool {
	return p.tok.kind == tokIdent && strings.EqualFold(p.tok.text, kw)
}

func (p *parser) expectKeyword(kw string) error {
	if !p.isKeyword(kw) {
		return p.errorf(p.tok.pos, "expected %s, found %s", kw, p.describe())
	}
	return p.advance()
}

func (p *parser) expect(k tokenKind) error {
	if p.tok.kind != k {
		return p.errorf(p.tok.pos, "expected %s, found %s", k, p.describe())
	}
	return p.advance()
}

// describe names the current token for error messages.
func (p *parser) describe() string {
	switch p.tok.kind {
	case tokIdent:
		return "'" + p.tok.text + "'"
	case tokNumber:
		return "number " + p.tok.text
	case tokString:
		return "string literal"
	}
	return p.tok.kind.String()
}

// enter and leave bound the recursion depth.
func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errorf(p.tok.pos, "expression nested too deeply (limit %d)", MaxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) query() (*Query, error) {
	q := &Query{top: -1}
	if err := p.expectKeyword("SELECT"); err != nil {
		return nil, err
	}
	if p.isKeyword("TOP") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind != tokNumber || p.tok.num != math.Trunc(p.tok.num) || p.tok.num > math.MaxInt32 {
			return nil, p.errorf(p.tok.pos, "TOP needs a non-negative integer, found %s", p.describe())
		}
		q.top = int(p.tok.num)
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if err := p.selectList(q); err != nil {
		return nil, err
	}
	if err := p.expectKeyword("FROM"); err != nil {
		return nil, err
	}
	if err := p.from(q); err != nil {
		return nil, err
	}
	if p.isKeyword("WHERE") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		w, err := p.expression()
		if err != nil {
			return nil, err
		}
		q.where = w
	}
	groupPos := -1
	if p.isKeyword("GROUP") {
		groupPos = p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		if err := p.expectKeyword("BY"); err != nil {
			return nil, err
		}
		for {
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			q.groupBy = append(q.groupBy, path)
			if p.tok.kind != tokComma {
				break
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
		}
	}
	if p.tok.kind != tokEOF {
		return nil, p.errorf(p.tok.pos, "unexpected %s", p.describe())
	}
	if groupPos >= 0 && q.source != Devices {
		return nil, p.errorf(groupPos, "GROUP BY is supported only when querying devices")
	}
	if err := p.check(q); err != nil {
		return nil, err
	}
	return q, nil
}

func (p *parser) selectList(q *Query) error {
	if p.tok.kind == tokStar {
		q.selectAll, q.starPos = true, p.tok.pos
		return p.advance()
	}
	for {
		item, err := p.selectItem()
		if err != nil {
			return err
		}
		q.items = append(q.items, item)
		if p.tok.kind != tokComma {
			return nil
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
}

func (p *parser) selectItem() (selectItem, error) {
	item := selectItem{pos: p.tok.pos}
	if p.tok.kind != tokIdent {
		return item, p.errorf(p.tok.pos, "expected a property path or COUNT(), found %s", p.describe())
	}
	next, err := p.peek()
	if err != nil {
		return item, err
	}
	if next.kind == tokLParen {
		name := strings.ToUpper(p.tok.text)
		kind, ok := aggregates[name]
		if !ok {
			return item, p.errorf(p.tok.pos, "%s cannot be projected; SELECT accepts property paths and COUNT, SUM, AVG, MIN, MAX", p.tok.text)
		}
		item.agg = kind
		if err := p.advance(); err != nil { // name
			return item, err
		}
		if err := p.advance(); err != nil { // (
			return item, err
		}
		if kind != aggCount {
			if item.path, err = p.path(); err != nil {
				return item, err
			}
		}
		if err := p.expect(tokRParen); err != nil {
			return item, err
		}
	} else if item.path, err = p.path(); err != nil {
		return item, err
	}
	if p.isKeyword("AS") {
		if err := p.advance(); err != nil {
			return item, err
		}
		if p.tok.kind != tokIdent || reserved[strings.ToUpper(p.tok.text)] {
			return item, p.errorf(p.tok.pos, "expected an alias after AS, found %s", p.describe())
		}
		item.alias = p.tok.text
		if err := p.advance(); err != nil {
			return item, err
		}
	}
	return item, nil
}

func (p *parser) from(q *Query) error {
	if !p.isKeyword("devices") {
		return p.errorf(p.tok.pos, "expected devices or devices.modules after FROM, found %s", p.describe())
	}
	q.source = Devices
	if err := p.advance(); err != nil {
		return err
	}
	if p.tok.kind != tokDot {
		return nil
	}
	if err := p.advance(); err != nil {
		return err
	}
	switch {
	case p.isKeyword("modules"):
		q.source = Modules
		return p.advance()
	case p.isKeyword("jobs"):
		return p.errorf(p.tok.pos, "devices.jobs is not supported")
	}
	return p.errorf(p.tok.pos, "expected modules after devices., found %s", p.describe())
}

// path parses attribute_name { '.' name | '[' string ']' | '[' index ']' }.
func (p *parser) path() (*pathExpr, error) {
	if p.tok.kind != tokIdent {
		return nil, p.errorf(p.tok.pos, "expected a property path, found %s", p.describe())
	}
	if reserved[strings.ToUpper(p.tok.text)] {
		return nil, p.errorf(p.tok.pos, "unexpected keyword %s", strings.ToUpper(p.tok.text))
	}
	pe := &pathExpr{pos: p.tok.pos, segs: []segment{{name: p.tok.text}}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	for {
		switch p.tok.kind {
		case tokDot:
			if err := p.advance(); err != nil {
				return nil, err
			}
			if p.tok.kind != tokIdent {
				return nil, p.errorf(p.tok.pos, "expected a property name after '.', found %s", p.describe())
			}
			pe.segs = append(pe.segs, segment{name: p.tok.text})
		case tokLBracket:
			if err := p.advance(); err != nil {
				return nil, err
			}
			switch {
			case p.tok.kind == tokString:
				pe.segs = append(pe.segs, segment{name: p.tok.text})
			case p.tok.kind == tokNumber && p.tok.num == math.Trunc(p.tok.num) && p.tok.num <= math.MaxInt32:
				pe.segs = append(pe.segs, segment{index: int(p.tok.num), isIndex: true})
			default:
				return nil, p.errorf(p.tok.pos, "expected a quoted property name or an array index in [], found %s", p.describe())
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
			if p.tok.kind != tokRBracket {
				return nil, p.errorf(p.tok.pos, "expected %s, found %s", tokRBracket, p.describe())
			}
		default:
			return pe, nil
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
}
