package store

import (
	"errors"
	"github.com/panels/panels/store/rows"
	"slices"
	"strings"
	"testing"

	"github.com/panels/panels/store/formula"
)

// Bounded computation (docs/formulas.md): a computed text over the limit is an error cell naming the
// column, the cells reading it fail too, a page stops at its byte budget, and a calculated
// column whose static growth bound exceeds the limit is refused with 422 naming the chain.

func repeatRef(ref string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = ref
	}
	return strings.Join(parts, " & ")
}

func TestRowsTextLimitErrorCells(t *testing.T) {
	f := newRowsFixture(t)
	lim := formula.Limits{MaxText: 100, MaxGrowth: 1 << 40}
	calc := func(name, src string) {
		c := &Column{Name: name, Type: "text"}
		if _, err := testStore.CreateColumn(t.Context(), f.a, f.panel.ID, c, &FormulaInput{Source: src, Limits: lim}); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	calc("C1", repeatRef("[Name]", 8)) // "Ada Lovelace" ×8 = 96 bytes; "Grace Hopper" too; "alan turing" 88
	calc("C2", repeatRef("[C1]", 2))
	calc("C3", "COALESCE([C2], \"fallback\")")
	q := RowsQuery{Limits: lim}
	got, cols, res := f.rows(t, q)
	idx := func(name string) int {
		return slices.IndexFunc(cols, func(c rows.Column) bool { return c.Name == name })
	}
	c1, c2, c3 := idx("C1"), idx("C2"), idx("C3")
	if v := got[0].Values[c1]; v != strings.Repeat("Ada Lovelace", 8) {
		t.Errorf("C1 within the limit: %v", v)
	}
	for _, r := range got[:3] { // the long names; the others stay within 100 bytes
		if r.Values[c2] != nil || r.Values[c3] != nil {
			t.Errorf("%s: C2 and C3 are over the limit: %v %v", r.Key, r.Values[c2], r.Values[c3])
		}
	}
	if v := got[5].Values[c3]; v != strings.Repeat("Zed", 16) {
		t.Errorf("p6's C3 is within the limit: %v", v)
	}
	if res.Errors[c2] != 3 || res.Errors[c3] != 3 {
		t.Errorf("errors per column %v", res.Errors)
	}
	msgs := map[int]string{}
	for _, e := range got[0].Errors {
		msgs[e.Column] = e.Message
	}
	if want := "the text would be longer than the limit of 100 bytes"; msgs[c2] != want {
		t.Errorf("C2's error %q, want %q", msgs[c2], want)
	}
	// The message does not name C2: the reader of C3 may not be allowed to see it.
	if want := "the text would be longer than the limit of 100 bytes"; msgs[c3] != want {
		t.Errorf("C3's error %q, want %q (the overflow is not hidden by COALESCE)", msgs[c3], want)
	}
	if _, ok := msgs[c1]; ok {
		t.Errorf("C1 did not fail: %v", got[0].Errors)
	}
	if _, ok := msgs[idx("FHIR")]; !ok {
		t.Errorf("every failed cell has its row error: %v", got[0].Errors)
	}
}

// TestRowsPageByteBudget: a page ends early at MaxBytes (at least one row), with a cursor that
// continues where it stopped, on both evaluation paths.
func TestRowsPageByteBudget(t *testing.T) {
	f := newRowsFixture(t)
	all := f.keys(t, RowsQuery{})
	for _, budget := range []int{1, 900, 2000} {
		var pages [2][][]string
		for i, goOnly := range []bool{false, true} {
			q := RowsQuery{PanelID: f.panel.ID, Limit: 100, MaxBytes: budget, GoOnly: goOnly}
			for n := 0; n < 20; n++ {
				plan, err := testStore.PlanRows(t.Context(), f.a, q)
				if err != nil {
					t.Fatal(err)
				}
				var page []string
				res, err := plan.Run(t.Context(), func(r Row) error { page = append(page, r.Key); return nil })
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					t.Fatalf("budget %d: an empty page", budget)
				}
				pages[i] = append(pages[i], page)
				if !res.HasMore {
					break
				}
				q.After = res.Next
			}
		}
		if !slices.Equal(slices.Concat(pages[0]...), all) || !slices.Equal(slices.Concat(pages[1]...), all) {
			t.Errorf("budget %d: pages %v / %v, want %v in order", budget, pages[0], pages[1], all)
		}
		if budget == 1 && len(pages[0]) != len(all) {
			t.Errorf("budget 1: one row per page, got %v", pages[0])
		}
		if budget == 2000 && (len(pages[0]) < 2 || len(pages[0]) == len(all)) {
			t.Errorf("budget 2000: a few rows per page, got %v", pages[0])
		}
	}
}

// TestCalculatedColumnGrowthBound: creating or updating a column (or a column it feeds) past the
// static growth bound is 422 naming the chain; existing small formulas stay accepted.
func TestCalculatedColumnGrowthBound(t *testing.T) {
	a := stActor(stTenant("growth"), "owner")
	p := stPanel(t, a, "Growth")
	ds := &DataSource{Type: "file", Config: map[string]any{"format": "ndjson", "keyField": "id"}}
	if err := testStore.CreateDataSource(t.Context(), a, p.ID, ds); err != nil {
		t.Fatal(err)
	}
	sf := "e"
	if _, err := testStore.CreateColumn(t.Context(), a, p.ID, &Column{Name: "E", Type: "text", SourceField: &sf, DataSourceID: &ds.ID}, nil); err != nil {
		t.Fatal(err)
	}
	lim := formula.Limits{MaxText: 64 << 10, MaxGrowth: 16 << 20}
	create := func(name, src string) (*Column, error) {
		c := &Column{Name: name, Type: "text"}
		_, err := testStore.CreateColumn(t.Context(), a, p.ID, c, &FormulaInput{Source: src, Limits: lim})
		return c, err
	}
	c1, err := create("C1", repeatRef("[E]", 100))
	if err != nil {
		t.Fatalf("C1 (100 copies of E, 6.25 MiB) is within 16 MiB: %v", err)
	}
	_, err = create("C2", repeatRef("[C1]", 100))
	var ie *InvalidError
	if !errors.As(err, &ie) || len(ie.Problems) != 1 || ie.Problems[0].Field != "formula" ||
		ie.Problems[0].Reason != "C2 → C1 → E can grow to 655360000 bytes, the limit is 16777216" {
		t.Fatalf("C2: want 422 naming the chain, got %v", err)
	}
	if _, err := create("Label", `CONCAT(UPPER([E]), " (", [C1], ")")`); err != nil {
		t.Errorf("an ordinary formula: %v", err)
	}
	// Growing C1 grows Mid, which reads it: the update is refused naming Mid's chain.
	if _, err := create("Mid", repeatRef("[C1]", 2)); err != nil {
		t.Fatal(err)
	}
	up := func(src string) error {
		_, _, err := testStore.UpdateColumn(t.Context(), a, p.ID, c1.ID, stAllowCol,
			ColumnPatch{Formula: &FormulaInput{Source: src, Limits: lim}})
		return err
	}
	err = up(repeatRef("[E]", 200))
	if !errors.As(err, &ie) || !strings.Contains(ie.Message, "Mid → C1 → E can grow to 26214400 bytes, the limit is 16777216") {
		t.Fatalf("update of C1: want 422 naming Mid → C1 → E, got %v", err)
	}
	if err := up(repeatRef("[E]", 300)); !errors.As(err, &ie) || !strings.Contains(ie.Message, "C1 → E can grow to") {
		t.Fatalf("update of C1 past the bound itself: %v", err)
	}
	if err := up(repeatRef("[E]", 20)); err != nil {
		t.Errorf("a smaller C1: %v", err)
	}
}
