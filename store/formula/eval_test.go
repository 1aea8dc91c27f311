package formula

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// rowEnv binds references by column name to the values of one row.
type rowEnv struct {
	names  []string
	values []any
	errs   map[int]error
	now    time.Time
}

func (r *rowEnv) bind(ref *Ref) (int, error) {
	for i, n := range r.names {
		if n == ref.Name {
			return i, nil
		}
	}
	return 0, errors.New("unknown column " + ref.Name)
}

func (r *rowEnv) Value(slot int) (any, error) { return r.values[slot], r.errs[slot] }
func (r *rowEnv) Now() time.Time              { return r.now }

func date(s string) time.Time {
	t, err := ToTime(s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestEvalValues(t *testing.T) {
	env := &rowEnv{
		names:  []string{"Full Name", "Email Address", "Created Date", "Account Status", "first_name", "last_name", "Age", "Empty", "Numtext", "Flag", "Word"},
		values: []any{"Ada Lovelace", "ada@example.com", date("2026-11-01"), "pending", "Ada", "Lovelace", 36.0, nil, " 12.5 ", true, "abc"},
		now:    time.Date(2026, 11, 26, 15, 30, 0, 0, time.UTC),
	}
	tests := []struct {
		src  string
		want any
	}{
		// Formulas the web UI writes, which must be accepted.
		{`CONCAT([Full Name], " (", [Email Address], ")")`, "Ada Lovelace (ada@example.com)"},
		{`DATEDIFF(NOW(), [Created Date])`, 25.0},
		{`IF([Account Status] = "active", "Active", IF([Account Status] = "pending", "Pending", "Inactive"))`, "Pending"},
		{`CONCAT(first_name, ' ', last_name)`, "Ada Lovelace"},
		// Arithmetic, precedence, concatenation.
		{`1 + 2 * 3`, 7.0},
		{`(1 + 2) * 3`, 9.0},
		{`-[Age] + 1`, -35.0},
		{`[Age] / 4`, 9.0},
		{`[Numtext] * 2`, 25.0},
		{`"a" & 1 & TRUE`, "a1true"},
		{`[Empty] & "x"`, "x"},
		// Empty values.
		{`[Empty] + 1`, nil},
		{`[Empty] = [Empty]`, true},
		{`[Empty] = 0`, false},
		{`[Empty] <> 0`, true},
		{`[Empty] > 0`, nil},
		{`COALESCE([Empty], [Age])`, 36.0},
		{`LEN([Empty])`, 0.0},
		{`UPPER([Empty])`, nil},
		{`IF([Empty], "y", "n")`, "n"},
		{`IF(FALSE, 1)`, nil},
		// Comparisons across kinds.
		{`[Age] = "36"`, true},
		{`[Age] >= 36`, true},
		{`[Age] < 36`, false},
		{`"b" > "a"`, true},
		{`[Created Date] = "2026-11-01"`, true},
		{`[Created Date] < "2026-12-01T00:00:00Z"`, true},
		{`[Flag] = TRUE`, true},
		{`[Word] = 3`, false},
		// Functions.
		{`AND([Flag], [Age] > 30)`, true},
		{`AND([Flag], [Age] > 40)`, false},
		{`OR(FALSE, [Age] > 40)`, false},
		{`OR(FALSE, 1)`, true},
		{`AND(FALSE, 1 / 0)`, false}, // short-circuit: the error is never reached
		{`NOT([Flag])`, false},
		{`LEN("héllo")`, 5.0},
		{`UPPER("abc")`, "ABC"},
		{`LOWER("ÀB")`, "àb"},
		{`TRIM("  x  ")`, "x"},
		{`ROUND(2.5)`, 3.0},
		{`ROUND(-2.5)`, -3.0},
		{`ROUND(1234.5678, 2)`, 1234.57},
		{`ROUND(1234.5678, -2)`, 1200.0},
		{`ABS(-4)`, 4.0},
		{`MIN(3, [Empty], 1, "2")`, 1.0},
		{`MAX(3, [Empty], 1, "2")`, 3.0},
		{`MAX([Empty])`, nil},
		{`MAX([Created Date], NOW())`, time.Date(2026, 11, 26, 15, 30, 0, 0, time.UTC)},
		{`TODAY()`, date("2026-11-26")},
		{`YEAR([Created Date])`, 2026.0},
		{`MONTH([Created Date])`, 11.0},
		{`DAY("2026-02-03T10:00:00Z")`, 3.0},
		{`DATEDIFF("2026-01-01", "2026-01-11")`, -10.0},
		{`[Created Date] + 30`, date("2026-12-01")},
		{`TODAY() - [Created Date]`, 25.0},
		{`DATEDIFF([Empty], NOW())`, nil},
	}
	for _, tc := range tests {
		e, err := Parse(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		p, err := Compile(e, env.bind)
		if err != nil {
			t.Fatalf("%s: compile: %v", tc.src, err)
		}
		got, err := p.Run(env)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if gt, ok := got.(time.Time); ok {
			if wt, ok := tc.want.(time.Time); !ok || !gt.Equal(wt) {
				t.Errorf("%s = %v, want %v", tc.src, got, tc.want)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%s = %#v, want %#v", tc.src, got, tc.want)
		}
	}
}

func TestEvalErrors(t *testing.T) {
	env := &rowEnv{names: []string{"Word", "Date", "Broken"}, values: []any{"abc", date("2026-01-01"), nil},
		errs: map[int]error{2: errors.New("upstream")}}
	tests := []struct{ src, want string }{
		{`[Word] * 2`, `text is not a number`}, // never the value: its reader may not see [Word]
		{`1 / 0`, "division by zero"},
		{`[Date] * 2`, "cannot apply * to a date"},
		{`YEAR([Word])`, `text is not a date`},
		{`IF([Word], 1, 2)`, `text is not TRUE or FALSE`},
		{`[Word] > 3`, "cannot compare a number with text"},
		{`TRUE > 1`, "cannot compare TRUE/FALSE with a number"},
		{`MAX(1, [Date])`, "cannot compare"},
		{`ROUND(1, 0.5)`, "ROUND digits"},
		{`[Broken] + 1`, "upstream"},
	}
	for _, tc := range tests {
		e, err := Parse(tc.src)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Compile(e, env.bind)
		if err != nil {
			t.Fatalf("%s: compile: %v", tc.src, err)
		}
		got, err := p.Run(env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s = %v, %v; want error containing %q", tc.src, got, err, tc.want)
		}
	}
}

func TestCompileRejects(t *testing.T) {
	env := &rowEnv{names: []string{"a"}}
	for _, src := range []string{`[nope] + 1`, `FOO(1)`, `IF(1)`, `NOW(1)`} {
		e, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Compile(e, env.bind); err == nil {
			t.Errorf("%s: compiled", src)
		}
	}
}

// Every function of the arity table evaluates: the table and the evaluator cannot drift apart.
// The functions added later take typed arguments, so they use their first case of funcCases that
// has a value (ERROR() has none: its only result is an error).
func TestEveryFunctionEvaluates(t *testing.T) {
	env := &rowEnv{now: time.Now()}
	for name, a := range Functions {
		args := make([]string, a.Min)
		for i := range args {
			args[i] = "1"
		}
		if name == "DATEDIFF" || name == "YEAR" || name == "MONTH" || name == "DAY" {
			for i := range args {
				args[i] = `"2026-01-01"`
			}
		}
		src := name + "(" + strings.Join(args, ", ") + ")"
		wantErr, env := false, env
		if !legacyFunctions[name] {
			src, wantErr, env = funcCases[name][0].src, funcCases[name][0].err != "", funcEnv()
		}
		e, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Compile(e, env.bind)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if _, err := p.Run(env); (err != nil) != wantErr {
			t.Errorf("%s: %v", src, err)
		}
	}
}

func TestParseNumberMatchesPostgres(t *testing.T) {
	for s, want := range map[string]bool{"1": true, " -1.5 ": true, "+.5": true, "1.": true, "1e3": true, "2E-2": true,
		"": false, "abc": false, "1,5": false, "Inf": false, "NaN": false, "0x10": false, "1_000": false, ".": false, "--1": false} {
		if _, ok := ParseNumber(s); ok != want {
			t.Errorf("ParseNumber(%q) ok = %v, want %v", s, ok, want)
		}
	}
}
