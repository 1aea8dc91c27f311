package rows

import (
	"strings"
	"testing"
)

// Which parts of a nested filter tree run in SQL: AND conjuncts split between SQL and Go, an OR
// runs in SQL only when all of it can.
func TestNestedFiltersPushdown(t *testing.T) {
	src := int64(1)
	field := func(s string) *string { return &s }
	cols := []Column{
		{ID: 1, Name: "Status", Type: "text", ColumnType: "base", SourceID: &src, SourceField: field("status")},
		{ID: 2, Name: "Age", Type: "number", ColumnType: "base", SourceID: &src, SourceField: field("age")},
		// A calculated column runs in Go (a date formula does not translate to SQL).
		{ID: 3, Name: "Born", Type: "date", ColumnType: "calculated", Formula: field("TODAY()")},
		{ID: 4, Name: "Due", Type: "date", ColumnType: "base", SourceID: &src, SourceField: field("due")},
	}
	leaf := func(col, op string, v any) Filter { return Filter{Column: col, Operator: op, Value: v} }
	tests := []struct {
		name    string
		filters []Filter
		all     bool
		pushed  []bool // per leaf, depth first
		sqlHas  string
	}{
		{"pushed OR inside AND", []Filter{leaf("Status", "eq", "a"),
			{Group: &Group{Or: true, Filters: []Filter{leaf("Age", "gt", 1.0), leaf("Status", "eq", "b")}}}},
			true, []bool{true, true, true}, " OR "},
		{"mixed OR inside AND stays in Go, its sibling in SQL", []Filter{leaf("Status", "eq", "a"),
			{Group: &Group{Or: true, Filters: []Filter{leaf("Born", "gt", "2000-01-01"), leaf("Age", "gt", 1.0)}}}},
			false, []bool{true, false, false}, "COLLATE"},
		{"AND group inside AND is flattened", []Filter{leaf("Born", "gt", "2000-01-01"),
			{Group: &Group{Filters: []Filter{leaf("Age", "gt", 1.0), leaf("Status", "eq", "b")}}}},
			false, []bool{false, true, true}, " AND "},
		{"a base date column runs in SQL, rechecked in Go", []Filter{leaf("Status", "eq", "a"), leaf("Due", "before", "2000-01-01")},
			true, []bool{true, true}, "COLLATE"},
		{"flat OR across SQL and Go runs in Go", []Filter{leaf("Born", "gt", "2000-01-01"), {Column: "Age", Operator: "gt", Value: 1.0, Or: true}},
			false, []bool{false, false}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pl := Compile(Input{Columns: cols, Sources: []int64{src}, View: &View{ID: 1, Filters: tc.filters}, WholePanel: true})
			if pl.filters.all != tc.all {
				t.Errorf("all = %v", pl.filters.all)
			}
			var got []bool
			for _, c := range pl.filters.leaves() {
				got = append(got, c.pushed)
			}
			if len(got) != len(tc.pushed) {
				t.Fatalf("pushed %v, want %v", got, tc.pushed)
			}
			for i := range got {
				if got[i] != tc.pushed[i] {
					t.Fatalf("pushed %v, want %v", got, tc.pushed)
				}
			}
			// Go evaluates the rechecked date leaf (and nothing else of an AND) again.
			for _, c := range pl.filters.leaves() {
				if c.recheck != (c.pushed && c.typ == "date") {
					t.Errorf("%s %s: recheck %v", pl.cols[c.col].col.Name, c.op, c.recheck)
				}
			}
			f, ok := pl.pushedSQL(pl.filters)
			if ok != (tc.sqlHas != "") || !strings.Contains(f.sql, tc.sqlHas) {
				t.Errorf("SQL %q (%v)", f.sql, ok)
			}
		})
	}
}

// Search runs in SQL, as a LIKE with its metacharacters escaped, when every answer column is a
// pushed-down text column; a non-text answer column sends all of it to Go.
func TestSearchPushdown(t *testing.T) {
	src := int64(1)
	field := func(s string) *string { return &s }
	cols := []Column{
		{ID: 1, Name: "Name", Type: "text", ColumnType: "base", SourceID: &src, SourceField: field("name")},
		{ID: 2, Name: "Age", Type: "number", ColumnType: "base", SourceID: &src, SourceField: field("age")},
	}
	pl := Compile(Input{Columns: cols, Sources: []int64{src}, View: &View{ID: 1, VisibleColumns: []string{"Name"}}, WholePanel: true,
		Query: Query{Search: `50%_\`}})
	f, ok := pl.pushedSQL(pl.search)
	if !pl.search.all || !ok || !strings.Contains(f.sql, "LIKE") || len(f.args) != 2 || f.args[1] != `50\%\_\\` {
		t.Fatalf("pushed %v: %q %v", pl.search.all, f.sql, f.args)
	}
	pl = Compile(Input{Columns: cols, Sources: []int64{src}, WholePanel: true, Query: Query{Search: "5"}})
	if _, ok := pl.pushedSQL(pl.search); pl.search.all || ok {
		t.Fatalf("a number column in the answer: search should run in Go")
	}
}
