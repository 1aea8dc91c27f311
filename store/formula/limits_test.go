package formula

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

func runLimited(t *testing.T, src string, env *rowEnv, lim Limits) (any, error) {
	t.Helper()
	e, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	p, err := CompileWithLimits(e, env.bind, lim)
	if err != nil {
		t.Fatal(err)
	}
	return p.Run(env)
}

// TestEvalTextLimit: every operation that produces text fails with *TooLongError past the limit
// and succeeds up to it exactly.
func TestEvalTextLimit(t *testing.T) {
	env := &rowEnv{names: []string{"A", "Long", "Odd"}, values: []any{strings.Repeat("a", 10), strings.Repeat("b", 101), "ɐɐɐɐ"}}
	lim := Limits{MaxText: 100}
	tests := []struct {
		src  string
		fail bool
	}{
		{`[A] & [A]`, false},
		{strings.Repeat(`[A] & `, 9) + `[A]`, false}, // exactly 100 bytes
		{strings.Repeat(`[A] & `, 10) + `[A]`, true},
		{`CONCAT(` + strings.Repeat(`[A], `, 9) + `[A])`, false},
		{`CONCAT(` + strings.Repeat(`[A], `, 10) + `[A])`, true},
		{`CONCAT([A], 1, TRUE)`, false},
		{`[Long]`, true},           // a source value passed through is a computed value too
		{`LEN([Long])`, false},     // a number: fine
		{`UPPER([Long])`, true},    // checked before converting
		{`LOWER([Long])`, true},    // likewise
		{`TRIM([Long])`, true},     // a substring, still over
		{`IF(TRUE, [Long])`, true}, // passed through
	}
	for _, tc := range tests {
		v, err := runLimited(t, tc.src, env, lim)
		var tl *TooLongError
		if got := errors.As(err, &tl); got != tc.fail {
			t.Errorf("%s: got (%v, %v), want failure %v", tc.src, clip(Text(v)), err, tc.fail)
		} else if tc.fail && (v != nil || tl.Limit != 100) {
			t.Errorf("%s: a failure is (nil, limit 100), got (%v, %+v)", tc.src, v, tl)
		}
	}
	// UPPER can grow a text (ɐ, 2 bytes, upper-cases to Ɐ, 3 bytes): the size is computed first.
	if _, err := runLimited(t, `UPPER([Odd])`, env, Limits{MaxText: 11}); err == nil {
		t.Error("UPPER(ɐɐɐɐ) is 12 bytes, over 11")
	}
	if v, err := runLimited(t, `UPPER([Odd])`, env, Limits{MaxText: 12}); err != nil || v != "ⱯⱯⱯⱯ" {
		t.Errorf("UPPER(ɐɐɐɐ) within 12 bytes: %v %v", v, err)
	}
	// The default limit applies to Compile.
	big := &rowEnv{names: []string{"X"}, values: []any{strings.Repeat("x", defaultMaxText/2+1)}}
	if _, err := runLimited(t, `[X] & [X]`, big, Limits{}); !errors.As(err, new(*TooLongError)) {
		t.Errorf("default limit: %v", err)
	}
}

// TestEvalTextLimitNeverAllocates: concatenating 1,000 copies of a 64 KiB text over the limit
// fails without building the 64 MB text.
func TestEvalTextLimitNeverAllocates(t *testing.T) {
	env := &rowEnv{names: []string{"X"}, values: []any{strings.Repeat("x", 64<<10)}}
	src := strings.Repeat(`[X] & `, 999) + `[X]`
	e, _ := Parse(src)
	p, err := Compile(e, env.bind)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, err := p.Run(env); !errors.As(err, new(*TooLongError)) {
			t.Fatalf("want *TooLongError, got %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("10 refused evaluations allocated %d bytes", got)
	}
}

// TestGrowthBound: the bound multiplies along the chain, counts every reference in the tree, and
// CheckGrowth names the chain with the bound and the limit.
func TestGrowthBound(t *testing.T) {
	rep := func(ref string, n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = ref
		}
		return strings.Join(parts, "&")
	}
	cols := []Column{
		{ID: 1, Name: "E", SourceField: "e"},
		{ID: 2, Name: "C1", Calculated: true, Formula: rep("{1}", 100)},
		{ID: 3, Name: "C2", Calculated: true, Formula: rep("{2}", 100)},
		{ID: 4, Name: "C3", Calculated: true, Formula: rep("{3}", 100)},
		{ID: 5, Name: "C4", Calculated: true, Formula: rep("{4}", 5)},
		{ID: 6, Name: "Label", Calculated: true, Formula: `CONCAT(UPPER({1}), " (", {1}, ")")`},
		{ID: 7, Name: "Pick", Calculated: true, Formula: `IF({1} = "x", {2}, COALESCE({1}, "y"))`},
		{ID: 8, Name: "Len", Calculated: true, Formula: `LEN({3}) + 1`},
	}
	lim := Limits{MaxText: 1000, MaxGrowth: 1 << 20}
	for id, want := range map[int64]int64{
		1: 1000, 2: 100 * 1000, 3: 100 * 100 * 1000, 4: 100 * 100 * 100 * 1000, 5: 5 * 100 * 100 * 100 * 1000,
		6: 1501 + 2 + 1000 + 1, 7: 100 * 1000, 8: maxScalarText,
	} {
		if got := growthBound(cols, id, lim); got != want {
			t.Errorf("bound of %d: %d, want %d", id, got, want)
		}
	}
	if err := CheckGrowth(cols, []int64{1, 2, 6, 7, 8}, lim); err != nil {
		t.Errorf("within the limit: %v", err)
	}
	err := CheckGrowth(cols, []int64{5, 3}, lim)
	var fe *Error
	if !errors.As(err, &fe) || len(fe.Problems) != 2 {
		t.Fatalf("want two problems, got %v", err)
	}
	if want := "C4 → C3 → C2 → C1 → E can grow to 5000000000 bytes, the limit is 1048576"; fe.Problems[0].Reason != want {
		t.Errorf("problem %q, want %q", fe.Problems[0].Reason, want)
	}
	if want := "C2 → C1 → E can grow to 10000000 bytes"; !strings.HasPrefix(fe.Problems[1].Reason, want) {
		t.Errorf("problem %q, want %q…", fe.Problems[1].Reason, want)
	}
	// Saturation instead of overflow, and cycles (refused by Resolve) do not loop.
	deep := append([]Column{}, cols...)
	for i := int64(9); i < 40; i++ {
		deep = append(deep, Column{ID: i, Name: "D", Calculated: true, Formula: rep("{"+itoa(i-1)+"}", 100)})
	}
	if got := growthBound(deep, 39, lim); got != saturated {
		t.Errorf("deep chain: %d, want saturated", got)
	}
	loop := []Column{{ID: 1, Name: "A", Calculated: true, Formula: "{2}&{2}"}, {ID: 2, Name: "B", Calculated: true, Formula: "{1}"}}
	if got := growthBound(loop, 1, lim); got != 2000 {
		t.Errorf("cycle: %d", got)
	}
}

func itoa(i int64) string { return Text(float64(i)) }

// The text functions of issue 15 take part in the static bound: CONCATENATE adds like CONCAT, the
// substring functions count their text, and the rewriting ones cannot hide a growing chain.
func TestGrowthBoundNewFunctions(t *testing.T) {
	cols := []Column{
		{ID: 1, Name: "E", SourceField: "e"},
		{ID: 2, Name: "Cat", Calculated: true, Formula: `CONCATENATE({1}, {1}, "ab")`},
		{ID: 3, Name: "Left", Calculated: true, Formula: `LEFT({2}, 3)`},
		{ID: 4, Name: "Rept", Calculated: true, Formula: `REPT({1}, 1000000)`},
		{ID: 5, Name: "Sub", Calculated: true, Formula: `SUBSTITUTE({2}, "a", "b") & SUBSTITUTE({2}, "a", "b")`},
		{ID: 6, Name: "Switch", Calculated: true, Formula: `SWITCH({1}, "x", {2}, "y")`},
		{ID: 7, Name: "Fmt", Calculated: true, Formula: `DATETIME_FORMAT(NOW(), "dddd")`},
		{ID: 8, Name: "Chain", Calculated: true, Formula: `CONCATENATE({5}, {5}, {5})`},
	}
	lim := Limits{MaxText: 1000, MaxGrowth: 10000}
	for id, want := range map[int64]int64{2: 2002, 3: 2002, 4: 1000, 5: 4004, 6: 2002, 7: maxScalarText, 8: 12012} {
		if got := growthBound(cols, id, lim); got != want {
			t.Errorf("bound of %d: %d, want %d", id, got, want)
		}
	}
	if err := CheckGrowth(cols, []int64{8}, lim); err == nil || !strings.Contains(err.Error(), "Chain → Sub → Cat → E") {
		t.Errorf("chain through SUBSTITUTE: %v", err)
	}
}
