package rows

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/panels/panels/store/formula"
)

// Calculated number columns in SQL. A formula made of references to number columns (base, or
// calculated and themselves translated), number literals, unary minus and plus, + and -, and *
// by a literal runs in PostgreSQL as float8 arithmetic that gives exactly the Go evaluator's
// cell: IEEE doubles round the same way in both, and where PostgreSQL would raise an error (a
// result too large, or a non-zero product that rounds to zero) the SQL takes the branch that
// gives Go's answer instead: no number (Go's "number out of range" error cell reads as null
// in filters, sorts and groups), or the zero of the product's sign. Any other formula, a
// division, a product of two columns or a function call, runs in Go as before.
//
// Each value is computed once per row, in one LATERAL subquery named calc (OFFSET 0 keeps
// PostgreSQL from inlining it back): its innermost level types the base values the expressions
// read (calc.n<index>), and each level around it adds the steps of its level: every sum and
// product is a column of its own (calc.t<column>_<n>, the formula's last one calc.k<column>),
// so that a guard, which repeats its operands, repeats their names, never their expressions,
// and the SQL grows with the formula, not exponentially. Nesting rather than a LATERAL per
// level: PostgreSQL would put a Memoize, hashing every row's values, between two LATERAL joins.

// Bounds of a translated formula (a longer one runs in Go): steps, the nesting depth of the
// subquery, and an operand's text (a chain of unary minuses).
const (
	maxCalcSteps   = 64
	maxCalcOperand = 1024
)

// calcStep is a column of the calc subquery: a sum or product of a translated formula.
type calcStep struct {
	name  string // t<column>_<n>, or k<column> for the formula's value
	sql   string
	level int // 1 + the highest level of the columns it reads (base values are level 0)
}

// calcOperand is an operand of a step: a column of the calc subquery, a literal, or either
// negated.
type calcOperand struct {
	sql   string
	level int
}

var (
	two1022    = f8(math.Ldexp(1, 1022))  // |a|, |b| below this: a + b cannot overflow
	two1023    = f8(math.Ldexp(1, 1023))  // (a/2 + b/2) below this: doubling it cannot overflow
	twoMinus1k = f8(math.Ldexp(1, -1000)) // halving a double at least this large is exact
)

// f8 is a float8 literal that reads back as exactly v.
func f8(v float64) string { return "'" + strconv.FormatFloat(v, 'g', -1, 64) + "'::float8" }

// translateCalcs gives every translatable calculated column its SQL.
func (pl *Plan) translateCalcs(asts map[int]formula.Expr, byID map[int64]int) {
	state := make([]int8, len(pl.cols)) // 0 not visited, 1 in progress, 2 done
	var visit func(i int) bool
	visit = func(i int) bool {
		ci := &pl.cols[i]
		switch state[i] {
		case 1:
			return false // a cycle: Go reports it
		case 2:
			return ci.calcSteps != nil
		}
		state[i] = 1
		defer func() { state[i] = 2 }()
		e, ok := asts[i]
		if !ok || ci.errC != nil || ci.prog == nil || ci.col.Type != "number" {
			return false
		}
		t := &calcTranslator{pl: pl, col: i, byID: byID, visit: visit, base: map[int]bool{}, deps: map[int]bool{}}
		top, ok := t.expr(e)
		if !ok {
			return false
		}
		// The formula's value is its last step, or, for a bare reference or literal, a step of its own.
		if n := len(t.steps); n > 0 && top.sql == "calc."+t.steps[n-1].name {
			t.steps[n-1].name = "k" + strconv.Itoa(i)
		} else {
			t.steps = append(t.steps, calcStep{name: "k" + strconv.Itoa(i), sql: top.sql, level: top.level + 1})
		}
		ci.calcSteps = t.steps
		ci.calcLevel = t.steps[len(t.steps)-1].level
		for j := range t.base {
			ci.calcBase = append(ci.calcBase, j)
		}
		for j := range t.deps {
			ci.calcDeps = append(ci.calcDeps, j)
		}
		slices.Sort(ci.calcBase)
		slices.Sort(ci.calcDeps)
		return true
	}
	for i := range pl.cols {
		if pl.cols[i].calc {
			visit(i)
		}
	}
}

type calcTranslator struct {
	pl    *Plan
	col   int // the column translated
	byID  map[int64]int
	visit func(i int) bool
	base  map[int]bool // base columns read
	deps  map[int]bool // calculated columns read
	steps []calcStep
}

// step adds a column computing sql from operands and returns it as an operand.
func (t *calcTranslator) step(sql string, operands ...calcOperand) (calcOperand, bool) {
	if len(t.steps) >= maxCalcSteps {
		return calcOperand{}, false
	}
	level := 0
	for _, o := range operands {
		level = max(level, o.level)
	}
	name := "t" + strconv.Itoa(t.col) + "_" + strconv.Itoa(len(t.steps))
	t.steps = append(t.steps, calcStep{name: name, sql: sql, level: level + 1})
	return calcOperand{sql: "calc." + name, level: level + 1}, true
}

// expr translates e (literals are written out, exactly: the SQL takes no arguments) or says
// it cannot.
func (t *calcTranslator) expr(e formula.Expr) (calcOperand, bool) {
	switch e := e.(type) {
	case *formula.NumberLit:
		if math.IsInf(e.Value, 0) || math.IsNaN(e.Value) {
			return calcOperand{}, false
		}
		return calcOperand{sql: f8(e.Value)}, true
	case *formula.Ref:
		j, ok := t.byID[e.ID]
		if !ok || e.ID <= 0 {
			return calcOperand{}, false
		}
		cj := &t.pl.cols[j]
		if cj.calc {
			if !t.visit(j) {
				return calcOperand{}, false
			}
			t.deps[j] = true
			return calcOperand{sql: calcRef(j), level: cj.calcLevel}, true
		}
		if !t.pl.basePushable(j) || cj.col.Type != "number" {
			return calcOperand{}, false
		}
		t.base[j] = true
		return calcOperand{sql: "calc.n" + strconv.Itoa(j)}, true
	case *formula.Unary:
		x, ok := t.expr(e.X)
		switch {
		case !ok || len(x.sql) > maxCalcOperand:
			return calcOperand{}, false
		case e.Op == "-":
			return calcOperand{sql: "(-" + x.sql + ")", level: x.level}, true
		case e.Op == "+":
			return x, true
		}
	case *formula.Binary:
		switch e.Op {
		case "+", "-":
			a, ok := t.expr(e.L)
			if !ok {
				return calcOperand{}, false
			}
			b, ok := t.expr(e.R)
			if !ok || len(b.sql) > maxCalcOperand {
				return calcOperand{}, false
			}
			if e.Op == "-" {
				b.sql = "(-" + b.sql + ")" // a - b is a + (-b), exactly
			}
			return t.step(sumSQL(a.sql, b.sql), a, b)
		case "*":
			x, c := e.L, e.R
			if _, ok := c.(*formula.NumberLit); !ok {
				x, c = e.R, e.L
			}
			lit, ok := c.(*formula.NumberLit)
			if !ok {
				return calcOperand{}, false
			}
			o, ok := t.expr(x)
			if !ok {
				return calcOperand{}, false
			}
			sql, ok := productSQL(o.sql, lit.Value)
			if !ok {
				return calcOperand{}, false
			}
			return t.step(sql, o)
		}
	}
	return calcOperand{}, false
}

// sumSQL is a + b as Go's float64 sum, or NULL where it overflows. Below 2^1022 the float8 sum
// cannot overflow. Otherwise a negligible operand leaves the other as the sum, and two operands
// of at least 2^-1000 halve exactly, so round(a/2 + b/2) = round(a + b)/2: the sum overflows
// when that half reaches 2^1023, and is its double when not.
func sumSQL(a, b string) string {
	half := "(" + a + " * 0.5::float8 + " + b + " * 0.5::float8)"
	return "(CASE WHEN abs(" + a + ") < " + two1022 + " AND abs(" + b + ") < " + two1022 + " THEN " + a + " + " + b +
		" WHEN abs(" + a + ") < " + twoMinus1k + " THEN " + b +
		" WHEN abs(" + b + ") < " + twoMinus1k + " THEN " + a +
		" WHEN abs" + half + " < " + two1023 + " THEN " + half + " * 2::float8 END)"
}

// productSQL is x * c as Go's float64 product: NULL where it overflows, and the zero of the
// product's sign where a non-zero x's product rounds to zero (float8 raises errors for both).
// The bounds are the largest doubles whose product with |c| stays finite, and is zero.
func productSQL(x string, c float64) (string, bool) {
	if math.IsInf(c, 0) || math.IsNaN(c) {
		return "", false
	}
	lit := f8(c)
	out := x + " * " + lit
	if m := math.Abs(c); m != 0 && m < 1 {
		zero := largestDouble(func(v float64) bool { return v*m == 0 })
		out = "CASE WHEN abs(" + x + ") <= " + f8(zero) + " THEN " + x + " * 0::float8 * " + lit + " ELSE " + out + " END"
	} else if m > 1 {
		finite := largestDouble(func(v float64) bool { return !math.IsInf(v*m, 0) })
		out = "CASE WHEN abs(" + x + ") <= " + f8(finite) + " THEN " + out + " END"
	}
	return "(" + out + ")", true
}

// largestDouble is the largest non-negative double v with ok(v), for an ok that holds from 0 up
// to some point and not after it: a binary search over the doubles' bit patterns, which are
// ordered as the doubles they stand for.
func largestDouble(ok func(v float64) bool) float64 {
	lo, hi := uint64(0), math.Float64bits(math.MaxFloat64) // ok(lo) holds
	if ok(math.MaxFloat64) {
		return math.MaxFloat64
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if ok(math.Float64frombits(mid)) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return math.Float64frombits(lo)
}

// calcRef names calculated column j's value in the calc subquery.
func calcRef(j int) string { return "calc.k" + strconv.Itoa(j) }

// useCalc records that the query reads calculated column i in SQL: its LATERAL columns, those of
// the columns it reads, and their base values.
func (pl *Plan) useCalc(i int, joined map[int]bool) {
	if slices.Contains(pl.calcCols, i) {
		return
	}
	pl.calcCols = append(pl.calcCols, i)
	ci := &pl.cols[i]
	for _, j := range ci.calcBase {
		joined[pl.cols[j].src] = true
		if !slices.Contains(pl.calcBase, j) {
			pl.calcBase = append(pl.calcBase, j)
		}
	}
	for _, j := range ci.calcDeps {
		pl.useCalc(j, joined)
	}
}

// calcLateral is the LATERAL subquery that types the base values and computes the calculated
// columns the query reads in SQL, a level at a time (nil when none).
func (pl *Plan) calcLateral() []sqlFrag {
	if len(pl.calcCols) == 0 {
		return nil
	}
	slices.Sort(pl.calcBase)
	cols := make([]sqlFrag, len(pl.calcBase))
	for i, j := range pl.calcBase {
		cj := &pl.cols[j]
		cols[i] = typedAt(cj.src, cj.path, "number").wrap("%s AS n" + strconv.Itoa(j))
	}
	if len(cols) == 0 {
		cols = []sqlFrag{frag("NULL")} // formulas of literals only
	}
	inner := joinFrags([]sqlFrag{frag("(SELECT "), joinFrags(cols, ", "), frag(" OFFSET 0) AS calc")}, "")
	for level := 1; ; level++ {
		var ks []string
		for _, j := range pl.calcCols {
			for _, st := range pl.cols[j].calcSteps {
				if st.level == level {
					ks = append(ks, st.sql+" AS "+st.name)
				}
			}
		}
		if len(ks) == 0 {
			return []sqlFrag{frag(" CROSS JOIN LATERAL "), inner}
		}
		inner = inner.wrap("(SELECT calc.*, " + strings.Join(ks, ", ") + " FROM %s OFFSET 0) AS calc")
	}
}
