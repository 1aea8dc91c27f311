package formula

import (
	"strconv"
	"strings"
)

// Format renders e as canonical formula text: single spaces around binary
// operators, ", " between arguments, upper-case function names, TRUE/FALSE,
// double-quoted strings with backslash escapes, shortest round-tripping
// numbers and only the parentheses precedence requires. References keep the
// form they were written in ({id}, [Name] or bare name).
//
// A reference whose Name contains ']' and has no ID cannot be written in the
// language; Parse never produces one.
func Format(e Expr) string {
	return format(e, refText)
}

func format(e Expr, ref func(*Ref) string) string {
	p := printer{ref: ref}
	p.expr(e)
	return p.b.String()
}

type printer struct {
	b   strings.Builder
	ref func(*Ref) string
}

func (p *printer) expr(e Expr) {
	switch e := e.(type) {
	case *NumberLit:
		p.b.WriteString(strconv.FormatFloat(e.Value, 'f', -1, 64))
	case *StringLit:
		p.b.WriteString(quote(e.Value))
	case *BoolLit:
		if e.Value {
			p.b.WriteString("TRUE")
		} else {
			p.b.WriteString("FALSE")
		}
	case *Ref:
		p.b.WriteString(p.ref(e))
	case *Unary:
		p.b.WriteString(e.Op)
		p.operand(e.X, precUnary, false)
	case *Binary:
		prec := binaryPrec(e.Op)
		p.operand(e.L, prec, true)
		p.b.WriteString(" " + e.Op + " ")
		p.operand(e.R, prec, false)
	case *Call:
		p.b.WriteString(strings.ToUpper(e.Name))
		p.b.WriteByte('(')
		for i, a := range e.Args {
			if i > 0 {
				p.b.WriteString(", ")
			}
			p.expr(a)
		}
		p.b.WriteByte(')')
	}
}

// operand parenthesises a child binary expression when printing it bare would
// re-associate it: a looser operator always needs parentheses, an equally
// tight one only on the right (operators are left-associative) or when both
// are comparisons (which do not chain).
func (p *printer) operand(x Expr, parent int, left bool) {
	b, ok := x.(*Binary)
	need := false
	if ok {
		child := binaryPrec(b.Op)
		need = child < parent || child == parent && (!left || parent == precCompare)
	}
	if need {
		p.b.WriteByte('(')
	}
	p.expr(x)
	if need {
		p.b.WriteByte(')')
	}
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// refText writes a reference the way the user most likely wrote it.
func refText(r *Ref) string {
	switch {
	case r.ID > 0:
		return idText(r.ID)
	case !r.Bracketed && isBareName(r.Name):
		return r.Name
	default:
		return "[" + r.Name + "]"
	}
}

func idText(id int64) string { return "{" + strconv.FormatInt(id, 10) + "}" }

// isBareName reports whether name would lex back as a single identifier that
// Parse treats as a reference (not a boolean literal).
func isBareName(name string) bool {
	if name == "" || strings.EqualFold(name, "TRUE") || strings.EqualFold(name, "FALSE") {
		return false
	}
	for i, r := range name {
		if i == 0 && !isIdentStart(r) || !isIdentPart(r) {
			return false
		}
	}
	return true
}

// bracketable reports whether name can be written as [name].
func bracketable(name string) bool {
	return name != "" && !strings.Contains(name, "]")
}
