package query

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokenKind classifies a lexical token.
type tokenKind int

const (
	tokEOF tokenKind = iota
	tokIdent
	tokNumber
	tokString
	tokStar     // *
	tokComma    // ,
	tokDot      // .
	tokLParen   // (
	tokRParen   // )
	tokLBracket // [
	tokRBracket // ]
	tokEq       // =
	tokNe       // != or <>
	tokLt       // <
	tokLe       // <=
	tokGt       // >
	tokGe       // >=
	tokPlus     // +
	tokMinus    // -
	tokSlash    // /
	tokPercent  // %
)

var tokenNames = [...]string{
	tokEOF: "end of query", tokIdent: "identifier", tokNumber: "number", tokString: "string",
	tokStar: "'*'", tokComma: "','", tokDot: "'.'", tokLParen: "'('", tokRParen: "')'",
	tokLBracket: "'['", tokRBracket: "']'", tokEq: "'='", tokNe: "'!='", tokLt: "'<'",
	tokLe: "'<='", tokGt: "'>'", tokGe: "'>='", tokPlus: "'+'", tokMinus: "'-'",
	tokSlash: "'/'", tokPercent: "'%'",
}

func (k tokenKind) String() string { return tokenNames[k] }

// token is one lexical token. text is the identifier as written, or the
// decoded value of a string literal; num is the value of a number literal.
type token struct {
	kind tokenKind
	pos  int
	text string
	num  float64
}

// lexer turns query text into tokens. It never recurses and stops at the first
// error, so its cost is linear in the (bounded) input.
type lexer struct {
	src string
	pos int
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// letterAt returns the byte length of a non-ASCII letter at i (property names
// such as tags.größe), or 0.
func (l *lexer) letterAt(i int) int {
	if l.src[i] < utf8.RuneSelf {
		return 0
	}
	r, n := utf8.DecodeRuneInString(l.src[i:])
	if r == utf8.RuneError || !unicode.IsLetter(r) {
		return 0
	}
	return n
}

// next returns the next token or a *SyntaxError.
func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
			l.pos++
			continue
		}
		break
	}
	start := l.pos
	if l.pos >= len(l.src) {
		return token{kind: tokEOF, pos: start}, nil
	}
	c := l.src[l.pos]
	switch {
	case isIdentStart(c) || l.letterAt(l.pos) > 0:
		for l.pos < len(l.src) {
			if isIdentPart(l.src[l.pos]) {
				l.pos++
			} else if n := l.letterAt(l.pos); n > 0 {
				l.pos += n
			} else {
				break
			}
		}
		return token{kind: tokIdent, pos: start, text: l.src[start:l.pos]}, nil
	case isDigit(c) || (c == '.' && l.pos+1 < len(l.src) && isDigit(l.src[l.pos+1])):
		return l.number()
	case c == '\'' || c == '"':
		return l.stringLit(c)
	}
	l.pos++
	two := func(second byte, ifTwo, ifOne tokenKind) (token, error) {
		if l.pos < len(l.src) && l.src[l.pos] == second {
			l.pos++
			return token{kind: ifTwo, pos: start}, nil
		}
		return token{kind: ifOne, pos: start}, nil
	}
	switch c {
	case '*':
		return token{kind: tokStar, pos: start}, nil
	case ',':
		return token{kind: tokComma, pos: start}, nil
	case '.':
		return token{kind: tokDot, pos: start}, nil
	case '(':
		return token{kind: tokLParen, pos: start}, nil
	case ')':
		return token{kind: tokRParen, pos: start}, nil
	case '[':
		return token{kind: tokLBracket, pos: start}, nil
	case ']':
		return token{kind: tokRBracket, pos: start}, nil
	case '=':
		return token{kind: tokEq, pos: start}, nil
	case '+':
		return token{kind: tokPlus, pos: start}, nil
	case '-':
		return token{kind: tokMinus, pos: start}, nil
	case '/':
		return token{kind: tokSlash, pos: start}, nil
	case '%':
		return token{kind: tokPercent, pos: start}, nil
	case '>':
		return two('=', tokGe, tokGt)
	case '<':
		if l.pos < len(l.src) && l.src[l.pos] == '>' {
			l.pos++
			return token{kind: tokNe, pos: start}, nil
		}
		return two('=', tokLe, tokLt)
	case '!':
		if l.pos < len(l.src) && l.src[l.pos] == '=' {
			l.pos++
			return token{kind: tokNe, pos: start}, nil
		}
		return token{}, newSyntaxError(l.src, start, "unexpected '!' (did you mean '!='?)")
	}
	r, _ := utf8.DecodeRuneInString(l.src[start:])
	if r == utf8.RuneError {
		return token{}, newSyntaxError(l.src, start, "invalid UTF-8 in query")
	}
	return token{}, newSyntaxError(l.src, start, "unexpected character %q", r)
}

// number scans a decimal literal (digits, optional fraction and exponent) or a
// hexadecimal literal "0x…", as the hub documents.
func (l *lexer) number() (token, error) {
	start := l.pos
	s := l.src
	if s[l.pos] == '0' && l.pos+1 < len(s) && (s[l.pos+1] == 'x' || s[l.pos+1] == 'X') {
		l.pos += 2
		digits := l.pos
		for l.pos < len(s) && isHex(s[l.pos]) {
			l.pos++
		}
		if l.pos == digits {
			return token{}, newSyntaxError(s, start, "hexadecimal literal needs digits after 0x")
		}
		if l.pos < len(s) && isIdentPart(s[l.pos]) {
			return token{}, newSyntaxError(s, l.pos, "invalid character in number")
		}
		u, err := strconv.ParseUint(s[digits:l.pos], 16, 64)
		if err != nil {
			return token{}, newSyntaxError(s, start, "hexadecimal literal out of range")
		}
		return token{kind: tokNumber, pos: start, text: s[start:l.pos], num: float64(u)}, nil
	}
	for l.pos < len(s) && isDigit(s[l.pos]) {
		l.pos++
	}
	if l.pos < len(s) && s[l.pos] == '.' {
		l.pos++
		for l.pos < len(s) && isDigit(s[l.pos]) {
			l.pos++
		}
	}
	if l.pos < len(s) && (s[l.pos] == 'e' || s[l.pos] == 'E') {
		l.pos++
		if l.pos < len(s) && (s[l.pos] == '+' || s[l.pos] == '-') {
			l.pos++
		}
		exp := l.pos
		for l.pos < len(s) && isDigit(s[l.pos]) {
			l.pos++
		}
		if l.pos == exp {
			return token{}, newSyntaxError(s, start, "malformed number exponent")
		}
	}
	if l.pos < len(s) && isIdentPart(s[l.pos]) {
		return token{}, newSyntaxError(s, l.pos, "invalid character in number")
	}
	f, err := strconv.ParseFloat(s[start:l.pos], 64)
	if err != nil {
		return token{}, newSyntaxError(s, start, "number out of range")
	}
	return token{kind: tokNumber, pos: start, text: s[start:l.pos], num: f}, nil
}

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// stringLit scans a literal quoted with quote. The hub documents the escapes
// \' \" \\ and \uXXXX; the JSON escapes \/ \b \f \n \r \t are accepted too.
func (l *lexer) stringLit(quote byte) (token, error) {
	start := l.pos
	s := l.src
	l.pos++
	var b strings.Builder
	for {
		if l.pos >= len(s) {
			return token{}, newSyntaxError(s, start, "unterminated string literal")
		}
		c := s[l.pos]
		if c == quote {
			l.pos++
			return token{kind: tokString, pos: start, text: b.String()}, nil
		}
		if c != '\\' {
			b.WriteByte(c)
			l.pos++
			continue
		}
		esc := l.pos
		l.pos++
		if l.pos >= len(s) {
			return token{}, newSyntaxError(s, start, "unterminated string literal")
		}
		e := s[l.pos]
		l.pos++
		switch e {
		case '\'', '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			if l.pos+4 > len(s) {
				return token{}, newSyntaxError(s, esc, `\u escape needs 4 hexadecimal digits`)
			}
			v, err := strconv.ParseUint(s[l.pos:l.pos+4], 16, 32)
			if err != nil {
				return token{}, newSyntaxError(s, esc, `\u escape needs 4 hexadecimal digits`)
			}
			l.pos += 4
			b.WriteRune(rune(v))
		default:
			return token{}, newSyntaxError(s, esc, "unknown escape sequence \\%c", e)
		}
	}
}
