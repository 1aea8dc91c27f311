package formula

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// examples seed both the acceptance table and the fuzz corpus.
var examples = []string{
	`CONCAT([Full Name], " (", [Email Address], ")")`,
	`DATEDIFF(NOW(), [Created Date])`,
	`IF([Account Status] = "active", "Active", IF([Account Status] = "pending", "Pending", "Inactive"))`,
	`CONCAT(first_name, ' ', last_name)`,
	"IF(\n\t[A] > 1,\n\t\"big\",\n\t\"small\"\n)",
	`[A] & " " & [B]`,
	`-[x] * (2 + 3) / 4 >= 10`,
	`ROUND([x], 2)`,
	`{12} + {3}`,
	`'it\'s' & "say \"hi\"\\"`,
	`AND(TRUE, false, NOT(x.y <> 1), a != b)`,
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		src, want string // want is Format of the parsed tree
	}{
		{examples[0], `CONCAT([Full Name], " (", [Email Address], ")")`},
		{examples[1], `DATEDIFF(NOW(), [Created Date])`},
		{examples[2], `IF([Account Status] = "active", "Active", IF([Account Status] = "pending", "Pending", "Inactive"))`},
		{examples[3], `CONCAT(first_name, " ", last_name)`},
		{examples[4], `IF([A] > 1, "big", "small")`},
		{examples[5], `[A] & " " & [B]`},
		{examples[6], `-[x] * (2 + 3) / 4 >= 10`},
		{examples[7], `ROUND([x], 2)`},
		{examples[8], `{12} + {3}`},
		{examples[9], `"it's" & "say \"hi\"\\"`},
		{examples[10], `AND(TRUE, FALSE, NOT(x.y <> 1), a <> b)`},
		{`round ( [x] , 2 )`, `ROUND([x], 2)`},
		{`1 + 2 * 3`, `1 + 2 * 3`},
		{`(1 + 2) * 3`, `(1 + 2) * 3`},
		{`1 - (2 - 3)`, `1 - (2 - 3)`},
		{`(1 - 2) - 3`, `1 - 2 - 3`},
		{`((([x])))`, `[x]`},
		{`[x] & 1 + 2`, `[x] & 1 + 2`},
		{`([x] & 1) + 2`, `([x] & 1) + 2`},
		{`(1 = 2) = TRUE`, `(1 = 2) = TRUE`},
		{`1 = (2 = TRUE)`, `1 = (2 = TRUE)`},
		{`--+1`, `--+1`},
		{`-(1 + 2)`, `-(1 + 2)`},
		{`.5 + 2.50 + 7. + 007`, `0.5 + 2.5 + 7 + 7`},
		{`"a\tb\nc\rd"`, `"a\tb\nc\rd"`},
		{"\"multi\nline\"", `"multi\nline"`},
		{`[weird {name} (x), "y"]`, `[weird {name} (x), "y"]`},
		{`[a[b]`, `[a[b]`},
		{`_private`, `_private`},
		{`[true]`, `[true]`},
		{`True`, `TRUE`},
		{`NOW()`, `NOW()`},
		{`1<=2`, `1 <= 2`},
		{`"héllo" & [Naïve]`, `"héllo" & [Naïve]`},
		{`now()`, `NOW()`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			e, err := Parse(tt.src)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := Format(e); got != tt.want {
				t.Errorf("Format = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		src, want string // want is a substring of the single syntax problem
	}{
		{``, "empty formula (line 1, column 1)"},
		{" \n\t", "empty formula"},
		{`(1 + 2`, "missing ')' to close '(' opened at line 1, column 1 (line 1, column 7)"},
		{`ROUND([x], 2`, "missing ')' to close ROUND( opened at line 1, column 1"},
		{`ROUND([x] 2)`, `expected ',' or ')' but found "2"`},
		{`(1 2)`, `expected ')' but found "2"`},
		{`1 + 2)`, "unmatched ')' (line 1, column 6)"},
		{`[a] [b]`, `unexpected "[b]" after end of expression`},
		{`1 + 2 garbage`, `unexpected "garbage" after end of expression`},
		{`1.2.3`, `unexpected ".3"`},
		{`"abc`, "unterminated string (line 1, column 1)"},
		{`'abc\'`, "unterminated string"},
		{`"abc\`, "unterminated string"},
		{`"a\qb"`, `unknown escape \q`},
		{`[]`, "empty column name [] (line 1, column 1)"},
		{`[abc`, "missing ']'"},
		{`{}`, "invalid column id {}"},
		{`{0}`, "invalid column id {0}"},
		{`{-1}`, "invalid column id {-1}"},
		{`{+1}`, "invalid column id {+1}"},
		{`{abc}`, "invalid column id {abc}"},
		{`{99999999999999999999}`, "invalid column id"},
		{`{12`, "missing '}'"},
		{`1 +`, "expected a value but found end of formula"},
		{`* 2`, `expected a value but found "*"`},
		{`F(1,)`, `expected a value but found ")"`},
		{`F(,1)`, `expected a value but found ","`},
		{`1 # 2`, `unexpected character '#'`},
		{`1 ! 2`, `unexpected character '!'`},
		{"\xff", "invalid UTF-8 byte 0xff"},
		{`1 < [x] < 10`, "comparisons cannot be chained"},
		{`1 = 2 <> 3`, "comparisons cannot be chained"},
		{strings.Repeat("1", 400), "too large"},
		{"IF(\n  [a],\n  (1 +\n)", "expected a value but found \")\" (line 4, column 1)"},
		{strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300), "nested too deeply"},
		{strings.Repeat("-", 300) + "1", "nested too deeply"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			e, err := Parse(tt.src)
			if err == nil {
				t.Fatalf("Parse succeeded: %s", Format(e))
			}
			var fe *Error
			if !errors.As(err, &fe) || len(fe.Problems) != 1 {
				t.Fatalf("want *Error with one problem, got %#v", err)
			}
			if p := fe.Problems[0]; p.Ref != "" || !strings.Contains(p.Reason, tt.want) {
				t.Errorf("problem = %+v, want reason containing %q", p, tt.want)
			}
		})
	}
}

func TestParseTree(t *testing.T) {
	e, err := Parse(`-[x] * (2 + 3) / 4 >= 10`)
	if err != nil {
		t.Fatal(err)
	}
	want := &Binary{at: 0, Op: ">=",
		L: &Binary{at: 0, Op: "/",
			L: &Binary{at: 0, Op: "*",
				L: &Unary{at: 0, Op: "-", X: &Ref{at: 1, Name: "x", Bracketed: true}},
				R: &Binary{at: 8, Op: "+", L: &NumberLit{at: 8, Value: 2, Raw: "2"}, R: &NumberLit{at: 12, Value: 3, Raw: "3"}},
			},
			R: &NumberLit{at: 17, Value: 4, Raw: "4"},
		},
		R: &NumberLit{at: 22, Value: 10, Raw: "10"},
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("tree mismatch:\n got %#v\nwant %#v", e, want)
	}

	e, err = Parse("if(x, {7}, 'a', true)")
	if err != nil {
		t.Fatal(err)
	}
	wantCall := &Call{at: 0, Name: "IF", Args: []Expr{
		&Ref{at: 3, Name: "x"},
		&Ref{at: 6, ID: 7},
		&StringLit{at: 11, Value: "a"},
		&BoolLit{at: 16, Value: true},
	}}
	if !reflect.DeepEqual(e, wantCall) {
		t.Errorf("tree mismatch:\n got %#v\nwant %#v", e, wantCall)
	}
}

func TestWalkAndRefs(t *testing.T) {
	e, err := Parse(`IF([a] > b, CONCAT({3}, [a]), -c)`)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	Walk(e, func(n Expr) bool {
		kinds = append(kinds, reflect.TypeOf(n).Elem().Name())
		return true
	})
	want := []string{"Call", "Binary", "Ref", "Ref", "Call", "Ref", "Ref", "Unary", "Ref"}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("walk order = %v, want %v", kinds, want)
	}

	var texts []string
	for _, r := range Refs(e) {
		texts = append(texts, refText(r))
	}
	if want := []string{"[a]", "b", "{3}", "[a]", "c"}; !reflect.DeepEqual(texts, want) {
		t.Errorf("Refs = %v, want %v", texts, want)
	}

	// Returning false prunes the subtree: refs inside CONCAT are not seen.
	var seen []string
	Walk(e, func(n Expr) bool {
		if r, ok := n.(*Ref); ok {
			seen = append(seen, refText(r))
		}
		_, isCall := n.(*Call)
		return !isCall || n == e
	})
	if want := []string{"[a]", "b", "c"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("pruned walk = %v, want %v", seen, want)
	}

	Walk(nil, func(Expr) bool { t.Fatal("visited nil"); return true })
	if Refs(&NumberLit{Value: 1}) != nil {
		t.Error("Refs of a literal should be nil")
	}
}

func TestFunctions(t *testing.T) {
	tests := []struct {
		name    string
		ok      bool
		arity   string
		accepts []int
		rejects []int
	}{
		{"if", true, "2 to 3 arguments", []int{2, 3}, []int{0, 1, 4}},
		{"And", true, "at least 1 argument", []int{1, 2, 50}, []int{0}},
		{"NOW", true, "no arguments", []int{0}, []int{1}},
		{"not", true, "1 argument", []int{1}, []int{0, 2}},
		{"DATEDIFF", true, "2 arguments", []int{2}, []int{1, 3}},
		{"ROUND", true, "1 to 2 arguments", []int{1, 2}, []int{0, 3}},
		{"FOO", false, "", nil, nil},
	}
	for _, tt := range tests {
		a, ok := lookupFunction(tt.name)
		if ok != tt.ok {
			t.Errorf("lookupFunction(%q) ok = %v", tt.name, ok)
			continue
		}
		if !ok {
			continue
		}
		if a.String() != tt.arity {
			t.Errorf("%s arity = %q, want %q", tt.name, a, tt.arity)
		}
		for _, n := range tt.accepts {
			if !a.Accepts(n) {
				t.Errorf("%s should accept %d args", tt.name, n)
			}
		}
		for _, n := range tt.rejects {
			if a.Accepts(n) {
				t.Errorf("%s should reject %d args", tt.name, n)
			}
		}
	}
	if len(Functions) != 70 {
		t.Errorf("len(Functions) = %d, want 70", len(Functions))
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range examples {
		f.Add(s)
	}
	for _, s := range []string{`(1 + 2`, `"abc`, `[]`, `IF(1)`, `{999}`, `1 < 2 < 3`, `--1`, `'\\'`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || len(fe.Problems) == 0 {
				t.Fatalf("error is not a populated *Error: %#v", err)
			}
			return
		}
		canon := Format(e)
		e2, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, src, err)
		}
		if again := Format(e2); again != canon {
			t.Fatalf("Format not idempotent: %q -> %q", canon, again)
		}
	})
}

func TestFormatBuiltTrees(t *testing.T) {
	n := func(v float64) Expr { return &NumberLit{Value: v} }
	tests := []struct {
		e    Expr
		want string
	}{
		{&Ref{Name: "Full Name"}, `[Full Name]`}, // not a valid bare name
		{&Ref{Name: "true"}, `[true]`},           // would lex as a boolean
		{&Ref{Name: "1st"}, `[1st]`},
		{&Ref{Name: "ok_1.x"}, `ok_1.x`},
		{&Ref{Name: "x", Bracketed: true, ID: 4}, `{4}`},
		{&Binary{Op: "-", L: n(1), R: &Binary{Op: "+", L: n(2), R: n(3)}}, `1 - (2 + 3)`},
		{&Binary{Op: "*", L: &Binary{Op: "&", L: n(1), R: n(2)}, R: n(3)}, `(1 & 2) * 3`},
		{&Unary{Op: "-", X: &Binary{Op: "*", L: n(2), R: n(3)}}, `-(2 * 3)`},
		{&Call{Name: "concat", Args: []Expr{&StringLit{Value: "a\"\\\n"}, &BoolLit{}}}, `CONCAT("a\"\\\n", FALSE)`},
		{n(1e21), `1000000000000000000000`},
		{n(0.1), `0.1`},
	}
	for _, tt := range tests {
		if got := Format(tt.e); got != tt.want {
			t.Errorf("Format = %s, want %s", got, tt.want)
		}
		if _, err := Parse(tt.want); err != nil {
			t.Errorf("Parse(%s): %v", tt.want, err)
		}
	}
}
