package formula

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxDepth bounds nesting (parentheses, calls, unary operators) so that a
// hostile formula cannot exhaust the stack of the request goroutine.
const maxDepth = 200

type tokKind int

const (
	tEOF    tokKind = iota
	tNumber         // 1, 2.5, .5
	tString         // "..." or '...'; val is decoded
	tIdent          // bare identifier; function name or reference
	tName           // [Column Name]; val is the name
	tColID          // {123}; val is the digits
	tOp             // operators and punctuation; val is normalised
)

type token struct {
	kind tokKind
	pos  int
	text string // exact source text, for error messages
	val  string
}

// bailout carries a syntax error up the recursive descent; Parse recovers
// only this type so genuine bugs still crash loudly (and fail the fuzzer).
type bailout struct {
	pos int
	msg string
}

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

// Parse parses a formula in user or stored form. Syntax errors are returned
// as *Error with a single Problem whose Reason includes line and column.
func Parse(src string) (e Expr, err error) {
	p := &parser{src: src}
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(bailout)
			if !ok {
				panic(r)
			}
			line, col := lineCol(src, b.pos)
			e, err = nil, &Error{Problems: []Problem{{
				Reason: fmt.Sprintf("%s (line %d, column %d)", b.msg, line, col),
			}}}
		}
	}()
	p.lex()
	if p.peek().kind == tEOF {
		p.fail(0, "empty formula")
	}
	e = p.expr()
	if t := p.peek(); t.kind != tEOF {
		if t.val == ")" {
			p.fail(t.pos, "unmatched ')'")
		}
		p.fail(t.pos, "unexpected %s after end of expression", describe(t))
	}
	return e, nil
}

func (p *parser) fail(pos int, format string, args ...any) {
	panic(bailout{pos, fmt.Sprintf(format, args...)})
}

func lineCol(src string, off int) (line, col int) {
	line, col = 1, 1
	for _, r := range src[:off] {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

func describe(t token) string {
	if t.kind == tEOF {
		return "end of formula"
	}
	s := t.text
	if utf8.RuneCountInString(s) > 24 {
		s = string([]rune(s)[:24]) + "…"
	}
	return strconv.Quote(s)
}

// ---- tokenizer ----

func isIdentStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }
func isIdentPart(r rune) bool  { return isIdentStart(r) || r == '.' || unicode.IsDigit(r) }
func isDigit(b byte) bool      { return '0' <= b && b <= '9' }

// lex tokenizes the whole source up front; formulas are short and a token
// slice makes one-token lookahead (identifier vs call) trivial.
func (p *parser) lex() {
	s := p.src
	for i := 0; i < len(s); {
		c := s[i]
		start := i
		emit := func(k tokKind, end int, val string) {
			p.toks = append(p.toks, token{kind: k, pos: start, text: s[start:end], val: val})
			i = end
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsSpace(r):
			i += size
		case isDigit(c) || c == '.' && i+1 < len(s) && isDigit(s[i+1]):
			j, dot := i, false
			for j < len(s) && (isDigit(s[j]) || s[j] == '.' && !dot) {
				dot = dot || s[j] == '.'
				j++
			}
			emit(tNumber, j, s[i:j])
		case c == '"' || c == '\'':
			j, val := p.lexString(i)
			emit(tString, j, val)
		case c == '[':
			j := strings.IndexByte(s[i+1:], ']')
			if j < 0 {
				p.fail(i, "missing ']' after column name")
			}
			if j == 0 {
				p.fail(i, "empty column name []")
			}
			emit(tName, i+j+2, s[i+1:i+1+j])
		case c == '{':
			j := strings.IndexByte(s[i+1:], '}')
			if j < 0 {
				p.fail(i, "missing '}' after column id")
			}
			digits := s[i+1 : i+1+j]
			if id, err := strconv.ParseInt(digits, 10, 64); err != nil || id <= 0 || strings.TrimLeft(digits, "0123456789") != "" {
				p.fail(i, "invalid column id {%s}", digits)
			}
			emit(tColID, i+j+2, digits)
		case isIdentStart(r):
			j := i + size
			for j < len(s) {
				r, n := utf8.DecodeRuneInString(s[j:])
				if !isIdentPart(r) {
					break
				}
				j += n
			}
			emit(tIdent, j, s[i:j])
		default:
			if i+1 < len(s) {
				switch two := s[i : i+2]; two {
				case "<>", "<=", ">=":
					emit(tOp, i+2, two)
					continue
				case "!=":
					emit(tOp, i+2, "<>")
					continue
				}
			}
			if r == utf8.RuneError && size == 1 {
				p.fail(i, "invalid UTF-8 byte 0x%02x", c)
			}
			if !strings.ContainsRune("(),+-*/&=<>", r) {
				p.fail(i, "unexpected character %q", r)
			}
			emit(tOp, i+1, string(c))
		}
	}
	p.toks = append(p.toks, token{kind: tEOF, pos: len(s)})
}

// lexString scans a quoted string starting at the opening quote and returns
// the offset after the closing quote plus the decoded value. Only backslash
// escapes are supported (no doubled quotes) so the rule is the same for both
// quote characters.
func (p *parser) lexString(start int) (int, string) {
	s, q := p.src, p.src[start]
	var b strings.Builder
	for i := start + 1; i < len(s); i++ {
		switch c := s[i]; c {
		case q:
			return i + 1, b.String()
		case '\\':
			if i+1 >= len(s) {
				p.fail(start, "unterminated string")
			}
			i++
			switch e := s[i]; e {
			case '"', '\'', '\\':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				p.fail(i-1, "unknown escape \\%c in string (use \\\\ for a backslash)", e)
			}
		default:
			b.WriteByte(c)
		}
	}
	p.fail(start, "unterminated string")
	panic("unreachable")
}

// ---- parser ----

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isOp(val string) bool {
	t := p.peek()
	return t.kind == tOp && t.val == val
}

const (
	precCompare = 1 + iota
	precConcat
	precAdd
	precMul
	precUnary
)

// binaryPrec returns 0 for anything that is not a binary operator.
func binaryPrec(op string) int {
	switch op {
	case "=", "<>", "<", ">", "<=", ">=":
		return precCompare
	case "&":
		return precConcat
	case "+", "-":
		return precAdd
	case "*", "/":
		return precMul
	}
	return 0
}

func (p *parser) expr() Expr { return p.binary(precCompare) }

// binary is precedence climbing: every operator is left-associative except
// comparisons, which refuse to chain because "1 < [x] < 10" almost always
// means something other than "(1 < [x]) < 10".
func (p *parser) binary(minPrec int) Expr {
	x := p.unary()
	compared := false
	for {
		t := p.peek()
		prec := 0
		if t.kind == tOp {
			prec = binaryPrec(t.val)
		}
		if prec == 0 || prec < minPrec {
			return x
		}
		if prec == precCompare {
			if compared {
				p.fail(t.pos, "comparisons cannot be chained; use AND(...) or parentheses")
			}
			compared = true
		}
		p.next()
		y := p.binary(prec + 1)
		x = &Binary{at: at(x.Pos()), Op: t.val, L: x, R: y}
	}
}

func (p *parser) unary() Expr {
	p.depth++
	defer func() { p.depth-- }()
	if t := p.peek(); p.depth > maxDepth {
		p.fail(t.pos, "formula is nested too deeply")
	}
	if t := p.peek(); t.kind == tOp && (t.val == "-" || t.val == "+") {
		p.next()
		return &Unary{at: at(t.pos), Op: t.val, X: p.unary()}
	}
	return p.primary()
}

func (p *parser) primary() Expr {
	t := p.next()
	switch t.kind {
	case tNumber:
		v, err := strconv.ParseFloat(t.val, 64)
		if errors.Is(err, strconv.ErrRange) {
			p.fail(t.pos, "number %s is too large", describe(t))
		} else if err != nil {
			p.fail(t.pos, "invalid number %s", describe(t))
		}
		return &NumberLit{at: at(t.pos), Value: v, Raw: t.val}
	case tString:
		return &StringLit{at: at(t.pos), Value: t.val}
	case tName:
		return &Ref{at: at(t.pos), Name: t.val, Bracketed: true}
	case tColID:
		id, _ := strconv.ParseInt(t.val, 10, 64) // validated by the lexer
		return &Ref{at: at(t.pos), ID: id}
	case tIdent:
		if p.isOp("(") {
			return p.call(t)
		}
		switch {
		case strings.EqualFold(t.val, "TRUE"):
			return &BoolLit{at: at(t.pos), Value: true}
		case strings.EqualFold(t.val, "FALSE"):
			return &BoolLit{at: at(t.pos), Value: false}
		}
		return &Ref{at: at(t.pos), Name: t.val}
	case tOp:
		if t.val == "(" {
			x := p.expr()
			if !p.isOp(")") {
				p.closeFailure("'('", t.pos, false)
			}
			p.next()
			return x
		}
	}
	p.fail(t.pos, "expected a value but found %s", describe(t))
	return nil
}

func (p *parser) call(name token) Expr {
	c := &Call{at: at(name.pos), Name: strings.ToUpper(name.val)}
	p.next() // "("
	if p.isOp(")") {
		p.next()
		return c
	}
	for {
		c.Args = append(c.Args, p.expr())
		switch {
		case p.isOp(","):
			p.next()
		case p.isOp(")"):
			p.next()
			return c
		default:
			p.closeFailure(c.Name+"(", name.pos, true)
		}
	}
}

// closeFailure reports a missing ')' at the offending token but names where
// the group was opened, which is what the user needs to find the mistake.
func (p *parser) closeFailure(what string, openPos int, inCall bool) {
	t := p.peek()
	line, col := lineCol(p.src, openPos)
	if t.kind == tEOF {
		p.fail(t.pos, "missing ')' to close %s opened at line %d, column %d", what, line, col)
	}
	want := "')'"
	if inCall {
		want = "',' or ')'"
	}
	p.fail(t.pos, "expected %s but found %s (closing %s opened at line %d, column %d)", want, describe(t), what, line, col)
}
