package formula

import (
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Computed values are bounded in two ways (docs/formulas.md):
//
//   - At run time, no operation that produces text (&, CONCAT, UPPER, LOWER, TRIM, and the
//     conversion of a value to text) builds a text longer than Limits.MaxText bytes: the size of
//     the result is computed first, and when it is over the limit the cell fails with a
//     *TooLongError instead. A cell that fails this way makes the cells that read it fail too
//     (other failed cells read as empty), so a chain never hides an overflow as "".
//   - When a calculated column is created or changed, its static growth bound (growthBound) must
//     not exceed Limits.MaxGrowth, or the change is refused naming the chain that grows.

const (
	// defaultMaxText is the default longest computed text, in bytes (64 KiB).
	defaultMaxText = 64 << 10
	// defaultMaxGrowth is the default largest static growth bound of a calculated column, in
	// bytes (16 MiB: 256 source values of defaultMaxText).
	defaultMaxGrowth = 16 << 20
)

// Limits bound computed text. A zero field means its default.
type Limits struct {
	// MaxText is the longest text a formula may compute, in bytes.
	MaxText int
	// MaxGrowth is the largest static growth bound a calculated column may have, in bytes.
	MaxGrowth int64
}

func (l Limits) maxText() int {
	if l.MaxText > 0 {
		return l.MaxText
	}
	return defaultMaxText
}

func (l Limits) maxGrowth() int64 {
	if l.MaxGrowth > 0 {
		return l.MaxGrowth
	}
	return defaultMaxGrowth
}

// TooLongError is a computed text over Limits.MaxText. The longer text is never built. Column is
// set when the cause is a referenced column whose value failed this way.
type TooLongError struct {
	Limit  int
	Column string
}

func (e *TooLongError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("column %q is longer than the limit of %d bytes", e.Column, e.Limit)
	}
	return fmt.Sprintf("the text would be longer than the limit of %d bytes", e.Limit)
}

// textLen is len(Text(v)) without building a text for the kinds whose text is computed.
func textLen(v any) int {
	if s, ok := v.(string); ok {
		return len(s)
	}
	return len(Text(v)) // numbers, booleans, dates: a few hundred bytes at most
}

// caseLen is the byte length strings.ToUpper (upper) or strings.ToLower would give s, computed
// without building it: both map rune by rune, invalid bytes becoming U+FFFD.
func caseLen(s string, upper bool) int {
	n := 0
	for _, r := range s {
		if upper {
			r = unicode.ToUpper(r)
		} else {
			r = unicode.ToLower(r)
		}
		if l := utf8.RuneLen(r); l > 0 {
			n += l
		} else {
			n += utf8.RuneLen(utf8.RuneError)
		}
	}
	return n
}

// concat joins the texts of vals, or fails when the result would be longer than limit.
func concat(vals []any, limit int) (any, error) {
	total := 0
	for _, v := range vals {
		total += textLen(v)
		if total > limit {
			return nil, &TooLongError{Limit: limit}
		}
	}
	var b strings.Builder
	b.Grow(total)
	for _, v := range vals {
		b.WriteString(Text(v))
	}
	return b.String(), nil
}

// Static growth bound.
//
// growthBound is the most bytes a column's text can have, computed from the formulas alone:
//
//   - a base column counts as MaxText bytes (the longest source value the bound assumes; a
//     longer source value is allowed, but whatever a formula builds from it is still cut off at
//     run time by MaxText);
//   - a literal counts its own text; a number, a date or a TRUE/FALSE as maxScalarText;
//   - & and CONCAT (CONCATENATE) add their operands, so every reference counts as often as it appears in the
//     formula's tree; IF, COALESCE and the other functions count their largest operand; UPPER
//     and LOWER count 3/2 of theirs; REPT, SUBSTITUTE, REPLACE and REGEX_REPLACE count their
//     largest operand or MaxText, whichever is more (their result is cut off at MaxText at run
//     time); DATETIME_FORMAT three times its format (a rune's case can change its UTF-8 length from 2 to 3);
//   - a calculated column counts the bound of its own formula, so the bounds multiply along a
//     chain: C1 = [E]&[E] (2 copies of E), C2 = [C1]&[C1]&[C1] (6 copies).
//
// The run-time limit already caps every single value; the static bound refuses formulas that
// could only ever produce such error cells and whose evaluation work grows along the chain.

// maxScalarText bounds the text of a number (strconv's 'f' form of ±1e308 has 309 digits), a
// date or a TRUE/FALSE.
const maxScalarText = 330

const saturated = math.MaxInt64 / 4

func addSat(a, b int64) int64 { return min(a+b, saturated) }

// growthError is a calculated column whose static growth bound exceeds the limit.
type growthError struct {
	Chain []string // column names, from the column to the base column (or literal) it grows from
	Bound int64
	Limit int64
}

func (e *growthError) Error() string {
	return fmt.Sprintf("%s can grow to %d bytes, the limit is %d", strings.Join(e.Chain, " → "), e.Bound, e.Limit)
}

// CheckGrowth computes the static growth bound of each column of ids (its stored formula, in
// cols, is what counts) and reports every one over lim.MaxGrowth as a Problem naming the chain,
// in one *Error. Columns that do not parse count as MaxText.
func CheckGrowth(cols []Column, ids []int64, lim Limits) error {
	g := newGrowth(cols, lim)
	var ps problems
	for _, id := range ids {
		if b := g.column(id); b > lim.maxGrowth() {
			ge := &growthError{Chain: g.chain(id), Bound: b, Limit: lim.maxGrowth()}
			ps.add("", ge.Error())
		}
	}
	return ps.err()
}

// growthBound is the static growth bound of column id, in bytes.
func growthBound(cols []Column, id int64, lim Limits) int64 { return newGrowth(cols, lim).column(id) }

type growth struct {
	byID  map[int64]*Column
	lim   Limits
	bound map[int64]int64
	next  map[int64]int64 // the referenced column with the largest bound
	busy  map[int64]bool
}

func newGrowth(cols []Column, lim Limits) *growth {
	return &growth{byID: indexColumns(cols), lim: lim, bound: map[int64]int64{}, next: map[int64]int64{}, busy: map[int64]bool{}}
}

func (g *growth) column(id int64) int64 {
	if b, ok := g.bound[id]; ok {
		return b
	}
	c := g.byID[id]
	base := int64(g.lim.maxText())
	if c == nil || !c.Calculated || g.busy[id] {
		return base // a base column, an unknown one, or a cycle (refused elsewhere)
	}
	e, err := Parse(c.Formula)
	if err != nil {
		return base
	}
	g.busy[id] = true
	b := g.expr(e)
	delete(g.busy, id)
	var best, bestB int64 = 0, -1
	for _, r := range Refs(e) {
		if rb := g.column(r.ID); rb > bestB {
			best, bestB = r.ID, rb
		}
	}
	if bestB >= 0 {
		g.next[id] = best
	}
	g.bound[id] = b
	return b
}

func (g *growth) expr(e Expr) int64 {
	switch e := e.(type) {
	case *StringLit:
		return int64(len(e.Value))
	case *NumberLit, *BoolLit, *Unary:
		return maxScalarText
	case *Ref:
		return g.column(e.ID)
	case *Binary:
		if e.Op == "&" {
			return addSat(g.expr(e.L), g.expr(e.R))
		}
		return maxScalarText
	case *Call:
		switch e.Name {
		case "CONCAT", "CONCATENATE":
			var n int64
			for _, a := range e.Args {
				n = addSat(n, g.expr(a))
			}
			return n
		case "UPPER", "LOWER":
			b := g.expr(e.Args[0])
			return min(addSat(b, b/2+1), saturated)
		case "TRIM", "IF", "COALESCE", "LEFT", "RIGHT", "MID", "T", "REGEX_EXTRACT", "SWITCH":
			var n int64
			for i, a := range e.Args {
				if (e.Name == "IF" && i == 0) || (e.Name != "IF" && e.Name != "COALESCE" && e.Name != "SWITCH" && i > 0) {
					continue // the condition, a count or a pattern is not returned
				}
				if e.Name == "SWITCH" && i%2 == 1 && i < len(e.Args)-1 {
					continue // a pattern
				}
				n = max(n, g.expr(a))
			}
			return n
		case "REPT", "SUBSTITUTE", "REPLACE", "REGEX_REPLACE":
			// Their output is cut off at MaxText at run time, and the work to find that out is
			// linear in their inputs: they count as their largest operand, or MaxText.
			n := int64(g.lim.maxText())
			for _, a := range e.Args {
				n = max(n, g.expr(a))
			}
			return n
		case "DATETIME_FORMAT":
			if len(e.Args) == 2 { // a token such as dddd (4 bytes) writes at most 9 ("Wednesday")
				return max(maxScalarText, min(g.expr(e.Args[1])*3, saturated))
			}
		}
		return maxScalarText
	}
	return maxScalarText
}

// chain names the columns from id along the largest reference down to where it stops growing.
func (g *growth) chain(id int64) []string {
	var out []string
	seen := map[int64]bool{}
	for !seen[id] {
		seen[id] = true
		out = append(out, columnName(id, g.byID))
		next, ok := g.next[id]
		if !ok {
			break
		}
		id = next
	}
	return out
}
