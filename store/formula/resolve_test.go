package formula

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// panel is a worklist with base columns, a chain of calculated columns
// (Total -> Net -> Gross -> Full Name) and a few naming traps.
var panel = []Column{
	{ID: 1, Name: "Full Name", SourceField: "full_name"},
	{ID: 2, Name: "Email Address", SourceField: "email"},
	{ID: 3, Name: "Created Date", SourceField: "created_at"},
	{ID: 4, Name: "Account Status", SourceField: "status"},
	{ID: 5, Name: "First Name", SourceField: "first_name"},
	{ID: 6, Name: "Last Name", SourceField: "last_name"},
	{ID: 7, Name: "x", SourceField: "amount"},
	{ID: 8, Name: "X", SourceField: "other_amount"},
	{ID: 9, Name: "Status", SourceField: "state"},
	{ID: 10, Name: "Status", SourceField: "state2"},
	{ID: 11, Name: "Priority", SourceField: "prio"},
	{ID: 12, Name: "prio", Calculated: true, DependsOn: []int64{11}},
	{ID: 13, Name: "dup_a", SourceField: "dup"},
	{ID: 14, Name: "dup_b", SourceField: "dup"},
	{ID: 20, Name: "Total", Calculated: true, DependsOn: []int64{21}},
	{ID: 21, Name: "Net", Calculated: true, DependsOn: []int64{22}},
	{ID: 22, Name: "Gross", Calculated: true, DependsOn: []int64{1}},
	{ID: 23, Name: "Other", Calculated: true, DependsOn: []int64{4, 22}},
	{ID: 24, Name: "Calc", Calculated: true, SourceField: "calc_src"},
}

func TestResolveAccepts(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		self   int64
		stored string
		deps   []int64
	}{
		{"concat", `CONCAT([Full Name], " (", [Email Address], ")")`, 0,
			`CONCAT({1}, " (", {2}, ")")`, []int64{1, 2}},
		{"datediff", `DATEDIFF(NOW(), [Created Date])`, 0,
			`DATEDIFF(NOW(), {3})`, []int64{3}},
		{"nested if, repeated ref", `IF([Account Status] = "active", "Active", IF([Account Status] = "pending", "Pending", "Inactive"))`, 0,
			`IF({4} = "active", "Active", IF({4} = "pending", "Pending", "Inactive"))`, []int64{4}},
		{"source fields", `CONCAT(first_name, ' ', last_name)`, 0,
			`CONCAT({5}, " ", {6})`, []int64{5, 6}},
		{"multi-line", "concat(\n\t[Last Name],\n\t', ',\n\t[First Name]\n)", 0,
			`CONCAT({6}, ", ", {5})`, []int64{6, 5}},
		{"concat operator", `[Full Name] & " " & [Email Address]`, 0,
			`{1} & " " & {2}`, []int64{1, 2}},
		{"arithmetic", `-[x] * (2 + 3) / 4 >= 10`, 0,
			`-{7} * (2 + 3) / 4 >= 10`, []int64{7}},
		{"round", `round([X], 2)`, 0, `ROUND({8}, 2)`, []int64{8}},
		{"exact name beats case-insensitive", `x + X`, 0, `{7} + {8}`, []int64{7, 8}},
		{"case-insensitive name", `[full name] & [EMAIL ADDRESS]`, 0, `{1} & {2}`, []int64{1, 2}},
		{"name beats source field", `prio`, 0, `{12}`, []int64{12}},
		{"bracketed source field", `[email]`, 0, `{2}`, []int64{2}},
		{"stored id", `{9} & {10} & {9}`, 0, `{9} & {10} & {9}`, []int64{9, 10}},
		{"stored form re-resolves", `CONCAT({1}, " (", {2}, ")")`, 0, `CONCAT({1}, " (", {2}, ")")`, []int64{1, 2}},
		{"no references", `1 + 2`, 0, `1 + 2`, nil},
		{"canonical literals", `'a\'b' & .50 & true != false`, 0, `"a'b" & 0.5 & TRUE <> FALSE`, nil},
		{"calculated dependency without cycle", `[Gross] + [Net]`, 20, `{22} + {21}`, []int64{22, 21}},
		{"editing a column to drop its cycle risk", `[Full Name]`, 22, `{1}`, []int64{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Resolve(tt.src, panel, tt.self)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if res.Stored != tt.stored {
				t.Errorf("Stored = %s, want %s", res.Stored, tt.stored)
			}
			if !reflect.DeepEqual(res.Dependencies, tt.deps) {
				t.Errorf("Dependencies = %v, want %v", res.Dependencies, tt.deps)
			}
		})
	}
}

func TestResolveRejects(t *testing.T) {
	tests := []struct {
		name string
		src  string
		self int64
		want []Problem
	}{
		{"unbalanced", `CONCAT([Full Name]`, 0,
			[]Problem{{"", "missing ')' to close CONCAT( opened at line 1, column 1 (line 1, column 19)"}}},
		{"unknown column", `[Nope] + 1`, 0, []Problem{{"[Nope]", "unknown column"}}},
		{"unknown bare column", `nope`, 0, []Problem{{"nope", "unknown column"}}},
		{"unknown id", `{999}`, 0, []Problem{{"{999}", "unknown column id"}}},
		{"ambiguous name", `[Status]`, 0, []Problem{{"[Status]", "ambiguous, use the column id ({9}, {10})"}}},
		{"ambiguous case-insensitive", `[STATUS]`, 0, []Problem{{"[STATUS]", "ambiguous, use the column id ({9}, {10})"}}},
		{"ambiguous source field", `dup`, 0, []Problem{{"dup", "ambiguous, use the column id ({13}, {14})"}}},
		{"source field of calculated column is not a name", `[Calc] + calc_src`, 0, []Problem{{"calc_src", "unknown column"}}},
		{"self by name", `[Total] + 1`, 20, []Problem{{"[Total]", "refers to itself"}}},
		{"self by id", `{20}`, 20, []Problem{{"{20}", "refers to itself"}}},
		{"unknown function", `FOO(1)`, 0, []Problem{{"FOO", "unknown function"}}},
		{"arity too few", `IF(1)`, 0, []Problem{{"IF", "IF expects 2 to 3 arguments, got 1"}}},
		{"arity too many", `NOW(1)`, 0, []Problem{{"NOW", "NOW expects no arguments, got 1"}}},
		{"arity exact", `datediff([Created Date])`, 0, []Problem{{"DATEDIFF", "DATEDIFF expects 2 arguments, got 1"}}},
		{"arity unbounded", `CONCAT()`, 0, []Problem{{"CONCAT", "CONCAT expects at least 1 argument, got 0"}}},
		{"2-cycle", `[Net] * 2`, 22, []Problem{{"[Net]", "cycle: Gross -> Net -> Gross"}}},
		{"3-cycle", `[Total] * 2`, 22, []Problem{{"[Total]", "cycle: Gross -> Total -> Net -> Gross"}}},
		{"cycle through several deps", `{21} + [Other]`, 22, []Problem{
			{"{21}", "cycle: Gross -> Net -> Gross"},
			{"[Other]", "cycle: Gross -> Other -> Gross"},
		}},
		{"all problems collected in source order, duplicates once", `IF([Nope], FOO([Status]), [Nope]) & {999} & IF(1) & [Net]`, 22, []Problem{
			{"[Nope]", "unknown column"},
			{"FOO", "unknown function"},
			{"[Status]", "ambiguous, use the column id ({9}, {10})"},
			{"{999}", "unknown column id"},
			{"IF", "IF expects 2 to 3 arguments, got 1"},
			{"[Net]", "cycle: Gross -> Net -> Gross"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Resolve(tt.src, panel, tt.self)
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("want *Error, got %v (stored %q)", err, res.Stored)
			}
			if !reflect.DeepEqual(fe.Problems, tt.want) {
				t.Errorf("problems:\n got %q\nwant %q", fe.Problems, tt.want)
			}
			if !reflect.DeepEqual(res, Resolved{}) {
				t.Errorf("result should be empty on error, got %+v", res)
			}
		})
	}
}

func TestCycleIgnoresUnrelatedLoops(t *testing.T) {
	cols := []Column{
		{ID: 1, Name: "A", Calculated: true, DependsOn: []int64{2}},
		{ID: 2, Name: "B", Calculated: true, DependsOn: []int64{1}}, // pre-existing loop
		{ID: 3, Name: "C", Calculated: true, DependsOn: []int64{99}},
	}
	res, err := Resolve(`[A] + [B]`, cols, 3)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != `{1} + {2}` {
		t.Errorf("Stored = %s", res.Stored)
	}
	// Self's old DependsOn must not matter; only the new formula does.
	cols[2].DependsOn = []int64{1}
	cols[0].DependsOn = []int64{3}
	if _, err := Resolve(`1`, cols, 3); err != nil {
		t.Errorf("formula without refs cannot cycle: %v", err)
	}
	_, err = Resolve(`[A]`, cols, 3)
	if err == nil || !strings.Contains(err.Error(), "cycle: C -> A -> C") {
		t.Errorf("want cycle error, got %v", err)
	}
}

func TestErrorString(t *testing.T) {
	err := &Error{Problems: []Problem{{"", "unmatched ')'"}, {"[A]", "unknown column"}}}
	if got, want := err.Error(), "formula: unmatched ')'; [A]: unknown column"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestRender(t *testing.T) {
	names := map[int64]string{1: "Full Name", 2: "Email Address", 5: "Patient Name", 6: "Odd ] name", 7: "Twin", 8: "Twin", 9: ""}
	tests := []struct {
		stored, want string
	}{
		{`CONCAT({1}, " (", {2}, ")")`, `CONCAT([Full Name], " (", [Email Address], ")")`},
		{`{5} & "!"`, `[Patient Name] & "!"`}, // column 5 was renamed since the formula was stored
		{`{42} + 1`, `{42} + 1`},              // unknown id stays an id
		{`{6}`, `{6}`},                        // name not writable in brackets
		{`{7} & {8}`, `{7} & {8}`},            // shared names would be ambiguous
		{`{9}`, `{9}`},                        // empty name
		{`-{1} * (1 + 2)`, `-[Full Name] * (1 + 2)`},
		{`IF({1} = "a\"b", TRUE, FALSE)`, `IF([Full Name] = "a\"b", TRUE, FALSE)`},
	}
	for _, tt := range tests {
		got, err := Render(tt.stored, names)
		if err != nil {
			t.Errorf("Render(%s): %v", tt.stored, err)
		} else if got != tt.want {
			t.Errorf("Render(%s) = %s, want %s", tt.stored, got, tt.want)
		}
	}
	if _, err := Render(`{1} +`, names); err == nil {
		t.Error("Render of a broken stored formula should fail")
	}
}

func TestRenameRoundTrip(t *testing.T) {
	cols := []Column{
		{ID: 5, Name: "First Name", SourceField: "first_name"},
		{ID: 6, Name: "Last Name", SourceField: "last_name"},
	}
	res, err := Resolve(`CONCAT(first_name, ' ', [Last Name])`, cols, 0)
	if err != nil {
		t.Fatal(err)
	}
	cols[0].Name = "Given Name" // rename after the formula was stored
	names := map[int64]string{}
	for _, c := range cols {
		names[c.ID] = c.Name
	}
	text, err := Render(res.Stored, names)
	if err != nil {
		t.Fatal(err)
	}
	if want := `CONCAT([Given Name], " ", [Last Name])`; text != want {
		t.Fatalf("Render = %s, want %s", text, want)
	}
	again, err := Resolve(text, cols, 0)
	if err != nil {
		t.Fatal(err)
	}
	if again.Stored != res.Stored || !reflect.DeepEqual(again.Dependencies, res.Dependencies) {
		t.Errorf("round trip changed the formula: %+v vs %+v", again, res)
	}
}

func TestCheckDependencies(t *testing.T) {
	res, err := Resolve(`CONCAT(first_name, ' ', [Last Name], [Email Address])`, panel, 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		sent []string
		want []Problem // nil means accepted
	}{
		{"names", []string{"First Name", "Last Name", "Email Address"}, nil},
		{"source fields, any order, repeats", []string{"email", "last_name", "first_name", "email"}, nil},
		{"case-insensitive names and ids", []string{"first name", "{6}", "{2}"}, nil},
		{"missing", []string{"First Name"}, []Problem{
			{"Last Name", "referenced by the formula but missing from dependencies"},
			{"Email Address", "referenced by the formula but missing from dependencies"},
		}},
		{"extra and unknown", []string{"First Name", "Last Name", "Email Address", "Full Name", "nope", "{999}"}, []Problem{
			{"Full Name", "not referenced by the formula"},
			{"nope", "unknown column"},
			{"{999}", "unknown column id"},
		}},
		{"ambiguous", []string{"First Name", "Last Name", "Email Address", "Status"}, []Problem{
			{"Status", "ambiguous, use the column id ({9}, {10})"},
		}},
		{"empty", nil, []Problem{
			{"First Name", "referenced by the formula but missing from dependencies"},
			{"Last Name", "referenced by the formula but missing from dependencies"},
			{"Email Address", "referenced by the formula but missing from dependencies"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckDependencies(tt.sent, res, panel)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("want *Error, got %v", err)
			}
			if !reflect.DeepEqual(fe.Problems, tt.want) {
				t.Errorf("problems:\n got %q\nwant %q", fe.Problems, tt.want)
			}
		})
	}
	if err := CheckDependencies(nil, Resolved{Stored: "1"}, panel); err != nil {
		t.Errorf("no deps, nothing sent: %v", err)
	}
}

func TestDependents(t *testing.T) {
	cols := append([]Column{
		{ID: 30, Name: "Loop A", Calculated: true, DependsOn: []int64{31, 2}},
		{ID: 31, Name: "Loop B", Calculated: true, DependsOn: []int64{30}},
		{ID: 32, Name: "Twice", Calculated: true, DependsOn: []int64{2, 2, 30}},
	}, panel...)
	tests := []struct {
		id   int64
		want []int64
	}{
		{1, []int64{22, 21, 23, 20}},
		{22, []int64{21, 23, 20}},
		{21, []int64{20}},
		{20, nil},
		{4, []int64{23}},
		{11, []int64{12}},
		{2, []int64{30, 32, 31}},
		{30, []int64{31, 32}},
		{999, nil},
	}
	for _, tt := range tests {
		if got := Dependents(cols, tt.id); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Dependents(%d) = %v, want %v", tt.id, got, tt.want)
		}
	}
}
