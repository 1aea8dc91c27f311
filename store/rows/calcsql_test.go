package rows

import (
	"fmt"
	"strings"
	"testing"
)

// A translated formula's SQL grows with the formula: each sum is a column of its own, so a guard
// repeats names. (Written out, a chain of ten sums took 1 GB.) Past maxCalcSteps, or for a
// formula outside the subset, the column runs in Go.
func TestCalcSQLGrowsLinearly(t *testing.T) {
	src := int64(1)
	field := "n"
	for _, tc := range []struct {
		terms      int
		translated bool
	}{{2, true}, {12, true}, {40, true}, {maxCalcSteps + 1, true}, {maxCalcSteps + 2, false}, {400, false}} {
		t.Run(fmt.Sprint(tc.terms), func(t *testing.T) {
			formula := strings.TrimSuffix(strings.Repeat("{1} + ", tc.terms), " + ")
			cols := []Column{
				{ID: 1, Name: "N", Type: "number", ColumnType: "base", SourceID: &src, SourceField: &field},
				{ID: 2, Name: "Sum", Type: "number", ColumnType: "calculated", Formula: &formula, Dependencies: []int64{1}},
			}
			pl := Compile(Input{Columns: cols, Sources: []int64{src}, WholePanel: true,
				View: &View{ID: 1, Filters: []Filter{{Column: "Sum", Operator: "gt", Value: 1.0}}, Sorts: []Sort{{Column: "Sum", Desc: true}}}})
			if got := pl.cols[1].calcSteps != nil; got != tc.translated {
				t.Fatalf("translated %v, want %v", got, tc.translated)
			}
			pl.rowsGen = []int64{1}
			q := pl.query(nil, 51)
			if size := len(q.sql); size > 2000*tc.terms+2000 {
				t.Errorf("%d characters of SQL for %d terms", size, tc.terms)
			}
			if tc.translated != strings.Contains(q.sql, "calc.k1") {
				t.Errorf("the query does not read the translated column: %s", q.sql)
			}
		})
	}
}

// Cursors of a view sorted by a calculated column held Go keys before the column's formula ran
// in SQL: the shape tells them apart, so such a cursor is stale (start again), not invalid.
func TestCalcSortChangesTheCursorShape(t *testing.T) {
	src := int64(1)
	field, formula := "n", "{1} * 2"
	cols := []Column{
		{ID: 1, Name: "N", Type: "number", ColumnType: "base", SourceID: &src, SourceField: &field},
		{ID: 2, Name: "Twice", Type: "number", ColumnType: "calculated", Formula: &formula, Dependencies: []int64{1}},
	}
	for _, tc := range []struct {
		sort    string
		changes bool
	}{{"Twice", true}, {"N", false}} {
		view := &View{ID: 1, Sorts: []Sort{{Column: tc.sort}}}
		pl := Compile(Input{Columns: cols, Sources: []int64{src}, WholePanel: true, View: view})
		if !pl.sqlSort {
			t.Fatalf("sort by %s runs in Go", tc.sort)
		}
		inSQL := pl.shape
		pl.sqlSort = false // as the engine planned it before calcsql.go
		if before := pl.fingerprint(Cohort{}, view); (before != inSQL) != tc.changes {
			t.Errorf("sort by %s: shape %s in SQL, %s in Go", tc.sort, inSQL, before)
		}
	}
}
