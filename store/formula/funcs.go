package formula

import (
	"errors"
	"math"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// The functions added for issue 15 (docs/formulas.md, "Functions"). They follow the Airtable
// formula reference; where it is silent the decision is written in docs/formulas.md.

// maxPattern bounds a regular expression computed per row (a constant one is compiled once by
// Compile, and a bad constant one is refused when the column is saved).
const maxPattern = 1 << 10

// extended compiles the added functions that need their arguments unevaluated (SWITCH, ISERROR),
// read constants at compile time (a regular expression, a date unit or format), or bound the text
// they build; nil for the others, which are plain builtins.
func (c *compiler) extended(e *Call, args []evalFn) evalFn {
	limit := c.maxText
	switch e.Name {
	case "SWITCH":
		return func(env Env) (any, error) {
			x, err := args[0](env)
			if err != nil {
				return nil, err
			}
			i := 1
			for ; i+1 < len(args); i += 2 {
				p, err := args[i](env)
				if err != nil {
					return nil, err
				}
				if Equal(x, p) {
					return args[i+1](env)
				}
			}
			if i < len(args) { // the default
				return args[i](env)
			}
			return nil, nil
		}
	case "ISERROR":
		return func(env Env) (any, error) {
			_, err := args[0](env)
			return err != nil, nil
		}
	case "BLANK":
		return constant(nil)
	case "ERROR":
		return func(Env) (any, error) { return nil, evalErr("ERROR()") }
	case "CONCATENATE":
		return c.eager(args, func(v []any) (any, error) { return concat(v, limit) })
	case "REPT":
		return c.eager(args, func(v []any) (any, error) { return rept(v, limit) })
	case "SUBSTITUTE":
		return c.eager(args, func(v []any) (any, error) { return substitute(v, limit) })
	case "REPLACE":
		return c.eager(args, func(v []any) (any, error) { return replace(v, limit) })
	case "REGEX_MATCH", "REGEX_EXTRACT", "REGEX_REPLACE":
		return c.regexCall(e, args)
	case "DATEADD", "DATETIME_DIFF", "IS_SAME":
		return c.unitCall(e, args)
	case "DATETIME_FORMAT", "DATETIME_PARSE":
		return c.formatCall(e, args)
	}
	return nil
}

func (c *compiler) eager(args []evalFn, fn func([]any) (any, error)) evalFn {
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

// constString is the text of a literal argument, if it is one.
func constString(e Expr) (string, bool) {
	if s, ok := e.(*StringLit); ok {
		return s.Value, true
	}
	return "", false
}

func (c *compiler) regexCall(e *Call, args []evalFn) evalFn {
	var fixed *regexp.Regexp
	if src, ok := constString(e.Args[1]); ok {
		re, err := compilePattern(src)
		if err != nil {
			return c.fail(&Error{Problems: []Problem{{Ref: e.Name, Reason: "argument 2 (regex): " + err.Error()}}})
		}
		fixed = re
	}
	limit, name := c.maxText, e.Name
	return c.eager(args, func(v []any) (any, error) {
		if v[0] == nil && name != "REGEX_MATCH" {
			return nil, nil
		}
		re := fixed
		if re == nil {
			if v[1] == nil {
				return nil, evalErr("%s: the pattern is empty", name)
			}
			var err error
			if re, err = compilePattern(Text(v[1])); err != nil {
				return nil, evalErr("%s: %v", name, err)
			}
		}
		s := Text(v[0])
		switch name {
		case "REGEX_MATCH":
			return re.MatchString(s), nil
		case "REGEX_EXTRACT":
			m := re.FindString(s)
			if m == "" && !re.MatchString(s) {
				return nil, nil
			}
			return m, nil
		}
		return regexReplace(re, s, Text(v[2]), limit)
	})
}

// compilePattern compiles an RE2 pattern (linear-time matching), refusing long ones: a pattern
// computed per row is compiled per row, so its size bounds that work.
func compilePattern(src string) (*regexp.Regexp, error) {
	if len(src) > maxPattern {
		return nil, errors.New("the pattern is longer than 1024 bytes")
	}
	re, err := regexp.Compile(src)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, errors.New("invalid regular expression: " + string(se.Code))
		}
		return nil, errors.New("invalid regular expression")
	}
	return re, nil
}

// regexReplace is ReplaceAllString with $1-style replacements, stopping as soon as the result
// would pass limit.
func regexReplace(re *regexp.Regexp, s, repl string, limit int) (any, error) {
	var out []byte
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		out = append(out, s[last:m[0]]...)
		out = re.ExpandString(out, repl, s, m)
		last = m[1]
		if len(out)+len(s)-last > limit {
			return nil, &TooLongError{Limit: limit}
		}
	}
	out = append(out, s[last:]...)
	if len(out) > limit {
		return nil, &TooLongError{Limit: limit}
	}
	return string(out), nil
}

// wholeNumber reads an argument that counts something: empty is 0, a fraction is truncated.
func wholeNumber(v any, what string) (int64, error) {
	if v == nil {
		return 0, nil
	}
	n, err := toNumber(v)
	if err != nil {
		return 0, err
	}
	if math.Abs(n) > 1e15 {
		return 0, evalErr("%s is out of range", what)
	}
	return int64(n), nil
}

func rept(v []any, limit int) (any, error) {
	if v[0] == nil {
		return nil, nil
	}
	n, err := wholeNumber(v[1], "REPT count")
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, evalErr("REPT count must not be negative")
	}
	s := Text(v[0])
	if s == "" || n == 0 {
		return "", nil
	}
	if n > int64(limit/len(s)) {
		return nil, &TooLongError{Limit: limit}
	}
	return strings.Repeat(s, int(n)), nil
}

func substitute(v []any, limit int) (any, error) {
	if v[0] == nil {
		return nil, nil
	}
	s, old, repl := Text(v[0]), Text(v[1]), Text(v[2])
	if old == "" {
		return s, nil
	}
	if len(v) == 4 && v[3] != nil {
		n, err := wholeNumber(v[3], "SUBSTITUTE index")
		if err != nil {
			return nil, err
		}
		if n < 1 {
			return nil, evalErr("SUBSTITUTE index must be 1 or more")
		}
		at := -1
		for from, k := 0, int64(0); k < n; k++ {
			i := strings.Index(s[from:], old)
			if i < 0 {
				return s, nil
			}
			at = from + i
			from = at + len(old)
		}
		if len(s)-len(old)+len(repl) > limit {
			return nil, &TooLongError{Limit: limit}
		}
		return s[:at] + repl + s[at+len(old):], nil
	}
	n := strings.Count(s, old)
	if len(s)+n*(len(repl)-len(old)) > limit {
		return nil, &TooLongError{Limit: limit}
	}
	return strings.ReplaceAll(s, old, repl), nil
}

func replace(v []any, limit int) (any, error) {
	if v[0] == nil {
		return nil, nil
	}
	r := []rune(Text(v[0]))
	start, err := wholeNumber(v[1], "REPLACE start")
	if err != nil {
		return nil, err
	}
	count, err := wholeNumber(v[2], "REPLACE count")
	if err != nil {
		return nil, err
	}
	if start < 1 || count < 0 {
		return nil, evalErr("REPLACE start must be 1 or more and count not negative")
	}
	from := min(int(start-1), len(r))
	to := min(from+int(min(count, int64(len(r)))), len(r))
	repl := Text(v[3])
	if len(string(r[:from]))+len(repl)+len(string(r[to:])) > limit {
		return nil, &TooLongError{Limit: limit}
	}
	return string(r[:from]) + repl + string(r[to:]), nil
}

func init() {
	for name, fn := range map[string]func([]any) (any, error){
		"LEFT":   func(v []any) (any, error) { return slice(v[0], v[1], false) },
		"RIGHT":  func(v []any) (any, error) { return slice(v[0], v[1], true) },
		"MID":    mid,
		"FIND":   func(v []any) (any, error) { return find(v, false) },
		"SEARCH": func(v []any) (any, error) { return find(v, true) },
		"T": func(v []any) (any, error) {
			s, ok := v[0].(string)
			if !ok {
				return nil, nil
			}
			return s, nil
		},
		"VALUE":     value,
		"XOR":       xor,
		"ROUNDUP":   roundTo(func(x float64) float64 { return math.Copysign(math.Ceil(math.Abs(x)), x) }),
		"ROUNDDOWN": roundTo(math.Trunc),
		"CEILING":   multiple(math.Ceil),
		"FLOOR":     multiple(math.Floor),
		"INT":       number1(func(x float64) (float64, error) { return math.Floor(x), nil }),
		"MOD":       number2(mod),
		"POWER":     number2(func(x, y float64) (float64, error) { return checked(math.Pow(x, y)) }),
		"SQRT": number1(func(x float64) (float64, error) {
			if x < 0 {
				return 0, evalErr("SQRT of a negative number")
			}
			return math.Sqrt(x), nil
		}),
		"EXP":      number1(func(x float64) (float64, error) { return checked(math.Exp(x)) }),
		"LOG":      logFn,
		"SUM":      sum(false),
		"AVERAGE":  sum(true),
		"COUNT":    count(func(v any) bool { _, ok := v.(float64); return ok }),
		"COUNTA":   count(func(v any) bool { return v != nil && v != "" }),
		"COUNTALL": func(v []any) (any, error) { return float64(len(v)), nil },
		"EVEN":     number1(func(x float64) (float64, error) { return parity(x, 0), nil }),
		"ODD":      number1(func(x float64) (float64, error) { return parity(x, 1), nil }),
	} {
		builtins[name] = fn
	}
	for name, fn := range dateBuiltins {
		builtins[name] = fn
	}
}

// slice is LEFT (fromEnd false) or RIGHT, counting characters (runes).
func slice(sv, nv any, fromEnd bool) (any, error) {
	if sv == nil {
		return nil, nil
	}
	n, err := wholeNumber(nv, "the character count")
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, evalErr("the character count must not be negative")
	}
	s := Text(sv)
	total := int64(utf8.RuneCountInString(s))
	if n >= total {
		return s, nil
	}
	r := []rune(s)
	if fromEnd {
		return string(r[total-n:]), nil
	}
	return string(r[:n]), nil
}

func mid(v []any) (any, error) {
	if v[0] == nil {
		return nil, nil
	}
	start, err := wholeNumber(v[1], "MID start")
	if err != nil {
		return nil, err
	}
	n, err := wholeNumber(v[2], "MID count")
	if err != nil {
		return nil, err
	}
	if start < 1 || n < 0 {
		return nil, evalErr("MID start must be 1 or more and count not negative")
	}
	r := []rune(Text(v[0]))
	from := min(start-1, int64(len(r)))
	to := min(from+n, int64(len(r)))
	return string(r[from:to]), nil
}

// find is FIND (case-sensitive, 0 when absent) or SEARCH (case-insensitive, empty when
// absent), as 1-based character positions.
func find(v []any, fold bool) (any, error) {
	needle, hay := Text(v[0]), Text(v[1])
	start := int64(1)
	if len(v) == 3 && v[2] != nil {
		var err error
		if start, err = wholeNumber(v[2], "the start position"); err != nil {
			return nil, err
		}
		if start < 1 {
			return nil, evalErr("the start position must be 1 or more")
		}
	}
	notFound := any(0.0)
	if fold {
		notFound = nil
		needle, hay = strings.ToLower(needle), strings.ToLower(hay)
	}
	if v[0] == nil || needle == "" {
		return notFound, nil
	}
	r := []rune(hay)
	if start > int64(len(r)) {
		return notFound, nil
	}
	prefix := string(r[:start-1])
	i := strings.Index(hay[len(prefix):], needle)
	if i < 0 {
		return notFound, nil
	}
	return float64(int(start) + utf8.RuneCountInString(hay[len(prefix):len(prefix)+i])), nil
}

// value reads a text as a number, ignoring the thousands separators and currency signs users
// paste ("$1,200.50"); a trailing % divides by 100.
func value(v []any) (any, error) {
	if v[0] == nil {
		return nil, nil
	}
	if n, ok := v[0].(float64); ok {
		return n, nil
	}
	s := strings.TrimSpace(Text(v[0]))
	if s == "" {
		return nil, nil
	}
	pct := strings.HasSuffix(s, "%")
	s = strings.TrimSuffix(s, "%")
	s = strings.Map(func(r rune) rune {
		switch r {
		case ',', '$', '€', '£', '¥', ' ':
			return -1
		}
		return r
	}, s)
	n, ok := ParseNumber(s)
	if !ok {
		return nil, evalErr("%s is not a number", kindOf(v[0]))
	}
	if pct {
		n /= 100
	}
	return n, nil
}

func xor(v []any) (any, error) {
	odd := false
	for _, x := range v {
		t, err := truthy(x)
		if err != nil {
			return nil, err
		}
		odd = odd != t
	}
	return odd, nil
}

func checked(x float64) (float64, error) {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return 0, evalErr("number out of range")
	}
	return x, nil
}

func number1(f func(float64) (float64, error)) func([]any) (any, error) {
	return func(v []any) (any, error) {
		if v[0] == nil {
			return nil, nil
		}
		x, err := toNumber(v[0])
		if err != nil {
			return nil, err
		}
		out, err := f(x)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

func number2(f func(x, y float64) (float64, error)) func([]any) (any, error) {
	return func(v []any) (any, error) {
		if v[0] == nil || v[1] == nil {
			return nil, nil
		}
		x, err := toNumber(v[0])
		if err != nil {
			return nil, err
		}
		y, err := toNumber(v[1])
		if err != nil {
			return nil, err
		}
		out, err := f(x, y)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

func mod(x, d float64) (float64, error) {
	if d == 0 {
		return 0, evalErr("division by zero")
	}
	return checked(x - d*math.Floor(x/d)) // the sign of the divisor, as in spreadsheets
}

// roundTo is ROUNDUP/ROUNDDOWN: f rounds a scaled value away from or toward zero.
func roundTo(f func(float64) float64) func([]any) (any, error) {
	return func(v []any) (any, error) {
		if v[0] == nil {
			return nil, nil
		}
		x, err := toNumber(v[0])
		if err != nil {
			return nil, err
		}
		digits, err := wholeNumber(v[1], "the precision")
		if err != nil {
			return nil, err
		}
		if digits < -15 || digits > 15 {
			return nil, evalErr("the precision must be a whole number between -15 and 15")
		}
		p := math.Pow(10, float64(digits))
		// Rounding the scaled value to 12 significant places first keeps 1.1*100 = 110.00000000000001
		// from rounding up to 111.
		scaled := x * p
		if s, err := checked(math.Round(scaled*1e9) / 1e9); err == nil && math.Abs(scaled) < 1e6 {
			scaled = s
		}
		return f(scaled) / p, nil
	}
}

// numberAnd reads the arguments of a function of a number and an optional second number (def
// when it is missing or blank); blank is a blank first argument, which makes the result blank.
func numberAnd(v []any, def float64) (x, second float64, blank bool, err error) {
	if v[0] == nil {
		return 0, 0, true, nil
	}
	if x, err = toNumber(v[0]); err != nil {
		return 0, 0, false, err
	}
	second = def
	if len(v) == 2 && v[1] != nil {
		if second, err = toNumber(v[1]); err != nil {
			return 0, 0, false, err
		}
	}
	return x, second, false, nil
}

// multiple is CEILING/FLOOR: the nearest multiple of significance (default 1) up or down.
func multiple(f func(float64) float64) func([]any) (any, error) {
	return func(v []any) (any, error) {
		x, sig, blank, err := numberAnd(v, 1)
		if blank || err != nil {
			return nil, err
		}
		sig = math.Abs(sig)
		if sig == 0 {
			return 0.0, nil
		}
		return checked(f(x/sig) * sig)
	}
}

func logFn(v []any) (any, error) {
	x, base, blank, err := numberAnd(v, 10)
	if blank || err != nil {
		return nil, err
	}
	if x <= 0 || base <= 0 || base == 1 {
		return nil, evalErr("LOG needs a positive number and a positive base other than 1")
	}
	switch base { // exact for the usual bases: LOG(1000) is 3, not 2.9999999999999996
	case 10:
		return math.Log10(x), nil
	case 2:
		return math.Log2(x), nil
	}
	return math.Log(x) / math.Log(base), nil
}

// sum is SUM (or AVERAGE): empty arguments are skipped, texts must be numeric.
func sum(average bool) func([]any) (any, error) {
	return func(v []any) (any, error) {
		total, n := 0.0, 0
		for _, x := range v {
			if x == nil {
				continue
			}
			f, err := toNumber(x)
			if err != nil {
				return nil, err
			}
			total += f
			n++
		}
		if average {
			if n == 0 {
				return nil, nil
			}
			total /= float64(n)
		}
		return checked(total)
	}
}

func count(keep func(any) bool) func([]any) (any, error) {
	return func(v []any) (any, error) {
		n := 0
		for _, x := range v {
			if keep(x) {
				n++
			}
		}
		return float64(n), nil
	}
}

// parity rounds away from zero to the nearest even (rem 0) or odd (rem 1) integer.
func parity(x float64, rem float64) float64 {
	sign := 1.0
	if x < 0 {
		sign = -1
	}
	n := math.Ceil(math.Abs(x))
	if math.Mod(n, 2) != rem {
		n++
	}
	if rem == 1 && n == 0 {
		n = 1
	}
	return sign * n
}
