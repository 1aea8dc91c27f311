package formula

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Evaluation works on five kinds of value: nil (empty), float64, string,
// bool and time.Time (dates are midnight UTC). A formula is compiled once
// into a tree of closures and then run for every row.
//
// Empty values propagate the way spreadsheet users expect: arithmetic and
// text functions on an empty value give an empty value, CONCAT and & treat
// it as "", comparisons with an empty value are false (= is true only when
// both sides are empty). Wrong types (text where a number is needed, a date
// that does not parse, division by zero) are evaluation errors, which the
// caller reports per cell.

// Env supplies what a compiled formula reads while it runs.
type Env interface {
	// Value returns the value of the column bound to slot by Compile.
	Value(slot int) (any, error)
	// Now is the instant NOW() and TODAY() see; fixed for one evaluation run.
	Now() time.Time
}

// evalError is a per-cell evaluation failure: a wrong type, a bad date,
// a division by zero.
type evalError struct{ Msg string }

func (e *evalError) Error() string { return e.Msg }

func evalErr(format string, args ...any) error {
	return &evalError{Msg: fmt.Sprintf(format, args...)}
}

// Program is a compiled formula.
type Program struct {
	run     evalFn
	maxText int
}

type evalFn func(Env) (any, error)

// Run evaluates the program against env. A text result longer than the limit (see Limits) is a
// *TooLongError, whether the formula built it or passed a source value through.
func (p *Program) Run(env Env) (any, error) {
	v, err := p.run(env)
	if s, ok := v.(string); ok && err == nil && len(s) > p.maxText {
		return nil, &TooLongError{Limit: p.maxText}
	}
	return v, err
}

// Compile turns a syntax tree into a Program with the default Limits.
func Compile(e Expr, bind func(*Ref) (int, error)) (*Program, error) {
	return CompileWithLimits(e, bind, Limits{})
}

// CompileWithLimits turns a syntax tree into a Program. bind maps every column
// reference to the slot the Env will be asked for; an error from bind (an
// unknown column) fails the compilation, as do unknown functions and wrong
// argument counts, so a compiled Program only fails on data. No text the
// program computes is longer than lim.MaxText.
func CompileWithLimits(e Expr, bind func(*Ref) (int, error), lim Limits) (*Program, error) {
	return CompileInZone(e, bind, lim, nil)
}

// CompileInZone is CompileWithLimits for a calculated column with a time zone (nil: UTC): its
// date functions read and write wall-clock times in loc (see dates.go).
func CompileInZone(e Expr, bind func(*Ref) (int, error), lim Limits, loc *time.Location) (*Program, error) {
	c := compiler{bind: bind, maxText: lim.maxText(), loc: loc}
	fn := c.compile(e)
	if c.err != nil {
		return nil, c.err
	}
	return &Program{run: fn, maxText: c.maxText}, nil
}

type compiler struct {
	bind    func(*Ref) (int, error)
	maxText int
	err     error
	loc     *time.Location // the column's time zone; nil: UTC
}

func (c *compiler) fail(err error) evalFn {
	if c.err == nil {
		c.err = err
	}
	return func(Env) (any, error) { return nil, err }
}

func constant(v any) evalFn { return func(Env) (any, error) { return v, nil } }

func (c *compiler) compile(e Expr) evalFn {
	switch e := e.(type) {
	case *NumberLit:
		return constant(e.Value)
	case *StringLit:
		return constant(e.Value)
	case *BoolLit:
		return constant(e.Value)
	case *Ref:
		slot, err := c.bind(e)
		if err != nil {
			return c.fail(err)
		}
		return func(env Env) (any, error) { return env.Value(slot) }
	case *Unary:
		x := c.compile(e.X)
		neg := e.Op == "-"
		return func(env Env) (any, error) {
			v, err := x(env)
			if err != nil || v == nil {
				return nil, err
			}
			n, err := toNumber(v)
			if err != nil {
				return nil, err
			}
			if neg {
				return -n, nil
			}
			return n, nil
		}
	case *Binary:
		return c.binary(e)
	case *Call:
		return c.call(e)
	}
	return c.fail(fmt.Errorf("formula: unknown node %T", e))
}

// concatChain compiles a & b & c … (left-associative, so a tree leaning left) as one
// concatenation: its size is checked once and it is built once, not once per operator.
func (c *compiler) concatChain(e *Binary) evalFn {
	var operands []Expr
	var walk func(x Expr)
	walk = func(x Expr) {
		if b, ok := x.(*Binary); ok && b.Op == "&" {
			walk(b.L)
			walk(b.R)
			return
		}
		operands = append(operands, x)
	}
	walk(e)
	fns := make([]evalFn, len(operands))
	for i, o := range operands {
		fns[i] = c.compile(o)
	}
	limit := c.maxText
	return func(env Env) (any, error) {
		vals := make([]any, len(fns))
		for i, f := range fns {
			v, err := f(env)
			if err != nil {
				return nil, err
			}
			vals[i] = v
		}
		return concat(vals, limit)
	}
}

func (c *compiler) binary(e *Binary) evalFn {
	if e.Op == "&" {
		return c.concatChain(e)
	}
	l, r := c.compile(e.L), c.compile(e.R)
	op := e.Op
	return func(env Env) (any, error) {
		a, err := l(env)
		if err != nil {
			return nil, err
		}
		b, err := r(env)
		if err != nil {
			return nil, err
		}
		switch op {
		case "+", "-", "*", "/":
			return arithmetic(op, a, b)
		case "=":
			return Equal(a, b), nil
		case "<>":
			return !Equal(a, b), nil
		}
		if a == nil || b == nil {
			return nil, nil
		}
		cmp, err := compareValues(a, b)
		if err != nil {
			return nil, err
		}
		switch op {
		case "<":
			return cmp < 0, nil
		case ">":
			return cmp > 0, nil
		case "<=":
			return cmp <= 0, nil
		default: // ">="
			return cmp >= 0, nil
		}
	}
}

const day = 24 * time.Hour

func arithmetic(op string, a, b any) (any, error) {
	if a == nil || b == nil {
		return nil, nil
	}
	ta, aTime := a.(time.Time)
	tb, bTime := b.(time.Time)
	switch {
	case aTime && bTime && op == "-":
		return ta.Sub(tb).Hours() / 24, nil
	case aTime && !bTime && (op == "+" || op == "-"):
		n, err := toNumber(b)
		if err != nil {
			return nil, err
		}
		if op == "-" {
			n = -n
		}
		return ta.Add(time.Duration(n * float64(day))), nil
	case bTime && !aTime && op == "+":
		n, err := toNumber(a)
		if err != nil {
			return nil, err
		}
		return tb.Add(time.Duration(n * float64(day))), nil
	case aTime || bTime:
		return nil, evalErr("cannot apply %s to a date", op)
	}
	x, err := toNumber(a)
	if err != nil {
		return nil, err
	}
	y, err := toNumber(b)
	if err != nil {
		return nil, err
	}
	var out float64
	switch op {
	case "+":
		out = x + y
	case "-":
		out = x - y
	case "*":
		out = x * y
	case "/":
		if y == 0 {
			return nil, evalErr("division by zero")
		}
		out = x / y
	}
	if math.IsInf(out, 0) || math.IsNaN(out) {
		return nil, evalErr("number out of range")
	}
	return out, nil
}

func (c *compiler) call(e *Call) evalFn {
	arity, ok := Functions[e.Name]
	if !ok {
		return c.fail(&Error{Problems: []Problem{{Ref: e.Name, Reason: "unknown function"}}})
	}
	if !arity.Accepts(len(e.Args)) {
		return c.fail(&Error{Problems: []Problem{{Ref: e.Name, Reason: fmt.Sprintf("%s expects %s, got %d", e.Name, arity, len(e.Args))}}})
	}
	args := make([]evalFn, len(e.Args))
	for i, a := range e.Args {
		args[i] = c.compile(a)
	}
	if c.loc != nil {
		if fn := c.zoned(e, args); fn != nil {
			return fn
		}
	}
	if fn := lazyCall(e.Name, args); fn != nil {
		return fn
	}
	if fn := c.extended(e, args); fn != nil {
		return fn
	}
	fn := c.boundText(e.Name, builtins[e.Name])
	return func(env Env) (any, error) {
		vals := make([]any, len(args))
		for i, a := range args {
			v, err := a(env)
			if err != nil {
				return nil, err
			}
			vals[i] = v
		}
		return fn(vals)
	}
}

// lazyCall compiles the functions that decide which of their arguments to evaluate, or read the
// clock; nil for the others, which take their arguments' values.
func lazyCall(name string, args []evalFn) evalFn {
	switch name {
	case "IF":
		return func(env Env) (any, error) {
			cond, err := args[0](env)
			if err != nil {
				return nil, err
			}
			t, err := truthy(cond)
			if err != nil {
				return nil, err
			}
			if t {
				return args[1](env)
			}
			if len(args) == 3 {
				return args[2](env)
			}
			return nil, nil
		}
	case "AND", "OR":
		isAnd := name == "AND"
		return func(env Env) (any, error) {
			for _, a := range args {
				v, err := a(env)
				if err != nil {
					return nil, err
				}
				t, err := truthy(v)
				if err != nil {
					return nil, err
				}
				if t != isAnd { // AND stops at the first false, OR at the first true
					return t, nil
				}
			}
			return isAnd, nil
		}
	case "NOW":
		return func(env Env) (any, error) { return env.Now().UTC(), nil }
	case "TODAY":
		return func(env Env) (any, error) { return truncDay(env.Now().UTC()), nil }
	case "COALESCE":
		return func(env Env) (any, error) {
			for _, a := range args {
				v, err := a(env)
				if err != nil || v != nil {
					return v, err
				}
			}
			return nil, nil
		}
	}
	return nil
}

// boundText wraps the functions that build text so that a result over the text limit is a
// TooLongError instead of a value.
func (c *compiler) boundText(name string, fn func([]any) (any, error)) func([]any) (any, error) {
	switch limit := c.maxText; name {
	case "CONCAT":
		fn = func(v []any) (any, error) { return concat(v, limit) }
	case "UPPER", "LOWER":
		upper, convert := name == "UPPER", fn
		fn = func(v []any) (any, error) {
			if s, ok := v[0].(string); ok && caseLen(s, upper) > limit {
				return nil, &TooLongError{Limit: limit}
			}
			return convert(v)
		}
	case "TRIM":
		trim := fn
		fn = func(v []any) (any, error) {
			out, err := trim(v)
			if s, ok := out.(string); ok && len(s) > limit { // a substring: nothing was built
				return nil, &TooLongError{Limit: limit}
			}
			return out, err
		}
	}
	return fn
}

// builtins are the functions that evaluate all their arguments first.
var builtins = map[string]func([]any) (any, error){
	"NOT": func(v []any) (any, error) {
		t, err := truthy(v[0])
		return !t, err
	},
	"CONCAT": func(v []any) (any, error) { return concat(v, defaultMaxText) }, // compiled with its limit
	"LEN": func(v []any) (any, error) {
		return float64(utf8.RuneCountInString(Text(v[0]))), nil
	},
	"UPPER": textFn(strings.ToUpper),
	"LOWER": textFn(strings.ToLower),
	"TRIM":  textFn(strings.TrimSpace),
	"ROUND": func(v []any) (any, error) {
		x, digits, blank, err := numberAnd(v, 0)
		if blank || err != nil {
			return nil, err
		}
		if digits != math.Trunc(digits) || math.Abs(digits) > 15 {
			return nil, evalErr("ROUND digits must be a whole number between -15 and 15")
		}
		p := math.Pow(10, digits)
		return math.Round(x*p) / p, nil
	},
	"ABS": func(v []any) (any, error) {
		if v[0] == nil {
			return nil, nil
		}
		x, err := toNumber(v[0])
		return math.Abs(x), err
	},
	"MIN": extreme(-1),
	"MAX": extreme(1),
	"DATEDIFF": func(v []any) (any, error) {
		if v[0] == nil || v[1] == nil {
			return nil, nil
		}
		a, err := ToTime(v[0])
		if err != nil {
			return nil, err
		}
		b, err := ToTime(v[1])
		if err != nil {
			return nil, err
		}
		return math.Trunc(a.Sub(b).Hours() / 24), nil
	},
	"YEAR":  datePart(func(t time.Time) int { return t.Year() }),
	"MONTH": datePart(func(t time.Time) int { return int(t.Month()) }),
	"DAY":   datePart(func(t time.Time) int { return t.Day() }),
}

func textFn(f func(string) string) func([]any) (any, error) {
	return func(v []any) (any, error) {
		if v[0] == nil {
			return nil, nil
		}
		return f(Text(v[0])), nil
	}
}

func datePart(f func(time.Time) int) func([]any) (any, error) {
	return func(v []any) (any, error) {
		if v[0] == nil {
			return nil, nil
		}
		t, err := ToTime(v[0])
		if err != nil {
			return nil, err
		}
		return float64(f(t)), nil
	}
}

// extreme is MIN (sign -1) or MAX (sign 1): empty arguments are skipped;
// numbers and dates may not be mixed.
func extreme(sign int) func([]any) (any, error) {
	return func(v []any) (any, error) {
		var best any
		for _, x := range v {
			if x == nil {
				continue
			}
			if _, isTime := x.(time.Time); !isTime {
				n, err := toNumber(x)
				if err != nil {
					return nil, err
				}
				x = n
			}
			if best == nil {
				best = x
				continue
			}
			cmp, err := compareValues(x, best)
			if err != nil {
				return nil, err
			}
			if cmp*sign > 0 {
				best = x
			}
		}
		return best, nil
	}
}

// NumberPattern is what a text value must look like to count as a number: decimal digits with an
// optional exponent (no Inf, NaN or hex), which both strconv.ParseFloat and PostgreSQL's float8
// input read, so that filters pushed into SQL and evaluated here agree. The spaces are spelled
// out: \s means these five in Go but also the vertical tab in PostgreSQL.
const NumberPattern = `^[\t\n\f\r ]*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?[\t\n\f\r ]*$`

var numberPattern = regexp.MustCompile(NumberPattern)

// ParseNumber reads a text as a number when it looks like one.
func ParseNumber(s string) (float64, bool) {
	if !numberPattern.MatchString(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, !math.IsInf(f, 0)
}

func toNumber(v any) (float64, error) {
	switch v := v.(type) {
	case float64:
		return v, nil
	case string:
		if f, ok := ParseNumber(v); ok {
			return f, nil
		}
		return 0, evalErr("%s is not a number", kindOf(v))
	case bool:
		return 0, evalErr("expected a number, got TRUE/FALSE")
	case time.Time:
		return 0, evalErr("expected a number, got a date")
	}
	return 0, evalErr("expected a number")
}

// truthy is the condition value of IF, AND, OR and NOT: empty is false,
// numbers are true unless zero, the texts "true"/"false" are accepted.
func truthy(v any) (bool, error) {
	switch v := v.(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	case float64:
		return v != 0, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return true, nil
		case "false", "":
			return false, nil
		}
		return false, evalErr("%s is not TRUE or FALSE", kindOf(v))
	}
	return false, evalErr("a date is not TRUE or FALSE")
}

// Text renders a value as text: empty is "", numbers in their shortest
// form, booleans as true/false, dates as YYYY-MM-DD (or RFC 3339 in UTC
// with milliseconds when they have a time of day).
func Text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		if v {
			return "true"
		}
		return "false"
	case time.Time:
		return FormatTime(v)
	}
	return fmt.Sprint(v)
}

// FormatTime writes a date as YYYY-MM-DD when it is midnight UTC, otherwise
// as RFC 3339 UTC with milliseconds.
func FormatTime(t time.Time) string {
	t = t.UTC()
	if t.Equal(truncDay(t)) {
		return t.Format(time.DateOnly)
	}
	return t.Format("2006-01-02T15:04:05.000Z07:00")
}

func truncDay(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", time.DateOnly}

// ToTime reads a date or date-time: a time.Time as is, or an ISO 8601 text
// (RFC 3339, date and time without a zone, which is taken as UTC, or a date).
func ToTime(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		return v, nil
	case string:
		s := strings.TrimSpace(v)
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t, nil
			}
		}
		return time.Time{}, evalErr("%s is not a date", kindOf(v))
	}
	return time.Time{}, evalErr("expected a date")
}

// Equal is the = operator: two empty values are equal, an empty and a
// non-empty one are not; numbers compare with texts that look like numbers,
// dates with texts that parse as dates; anything else compares as text.
func Equal(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if cmp, err := compareValues(a, b); err == nil {
		return cmp == 0
	}
	return Text(a) == Text(b)
}

// compareValues orders two non-empty values of compatible kinds.
func compareValues(a, b any) (int, error) {
	switch x := a.(type) {
	case float64:
		y, err := toNumber(b)
		if err != nil {
			return 0, evalErr("cannot compare a number with %s", kindOf(b))
		}
		return cmp.Compare(x, y), nil
	case time.Time:
		y, err := ToTime(b)
		if err != nil {
			return 0, evalErr("cannot compare a date with %s", kindOf(b))
		}
		return x.Compare(y), nil
	case string:
		switch y := b.(type) {
		case string:
			return strings.Compare(x, y), nil
		case float64, time.Time:
			cmp, err := compareValues(b, a)
			return -cmp, err
		}
	case bool:
		if y, ok := b.(bool); ok {
			return cmpBool(x, y), nil
		}
	}
	return 0, evalErr("cannot compare %s with %s", kindOf(a), kindOf(b))
}

func cmpBool(x, y bool) int {
	switch {
	case x == y:
		return 0
	case !x:
		return -1
	}
	return 1
}

// kindOf names a value's kind for an error message. Messages never quote the value itself: a
// cell's error reaches the readers of its column, who may not be allowed to read the columns
// the formula reads (a view reader sees only the view's columns).
func kindOf(v any) string {
	switch v.(type) {
	case float64:
		return "a number"
	case string:
		return "text"
	case bool:
		return "TRUE/FALSE"
	case time.Time:
		return "a date"
	}
	return "an empty value"
}

func clip(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		return string([]rune(s)[:40]) + "…"
	}
	return s
}
