package store

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"testing"
)

// Calculated number columns pushed into SQL: on the float64 edge values of rows_numbers_test.go
// (the largest double, the smallest, values that overflow or underflow when added or scaled),
// the pushed SQL alone must keep exactly the rows the Go evaluator keeps, sort them in the same
// order page after page, and count the same groups.
func TestRowsCalculatedColumnsInSQL(t *testing.T) {
	n := len(numberEdgeValues)
	// Sums at float64's top: the largest double plus half its ulp (2^970) is exactly halfway to
	// 2^1024 and rounds to overflow; plus a quarter ulp it stays the largest double.
	extra := [][2]string{
		{`1.7976931348623157e308`, `9.9792015476736e291`}, {`1.7976931348623157e308`, `4.9896007738368e291`},
		{`-1.7976931348623157e308`, `-9.9792015476736e291`}, {`8.98846567431158e307`, `8.98846567431158e307`},
		{`4.49423283715579e307`, `4.49423283715579e307`}, {`1.7976931348623157e308`, `-1.7976931348623157e308`},
		{`1.7976931348623157e308`, `5e-324`}, {`5e-324`, `-8.98846567431158e307`}, {`1e-300`, `1e-300`}, {`-0`, `-0`},
	}
	var lines []string
	for i := 0; i < n+len(extra); i++ {
		var x, y string
		if i < n {
			x, y = numberEdgeValues[i].json, numberEdgeValues[(i*7+3)%n].json
		} else {
			x, y = extra[i-n][0], extra[i-n][1]
		}
		lines = append(lines, fmt.Sprintf(`{"id":"c%02d","a":%s,"b":%s}`, i, x, y))
	}
	f := newOneSourceFixture(t, "calcsql", "Calc", lines, fixtureColumn{"A", "number", "a", ""}, fixtureColumn{"B", "number", "b", ""})
	a := f.a
	pushed := map[string]string{
		"Sum": "[A] + [B]", "Diff": "[A] - [B]", "Scaled": "[A] * 2.5", "Tiny": "[A] * 0.0000000001", "Big": "10000000000 * [A]",
		"Neg": "-[A] * 3 + 1", "Half": "0.5 * [A]", "Lit": "1.5 + 2", "Chain": "[Sum] + [Scaled] - [B]",
		"Long": "[A] + [B] * 3 + [A] - [B] + [A] * 0.5 + [B] + [A] + [B] - [A] + [B] * 2 + [A] + [B] + [Chain]", // 15 steps, 13 levels
	}
	inGo := map[string]string{"Prod": "[A] * [B]", "Quot": "[A] / 2", "Round": "ROUND([A], 1)"}
	for _, set := range []map[string]string{pushed, inGo} {
		for _, name := range []string{"Sum", "Diff", "Scaled", "Tiny", "Big", "Neg", "Half", "Lit", "Chain", "Long", "Prod", "Quot", "Round"} {
			src, ok := set[name]
			if !ok {
				continue
			}
			col := &Column{Name: name, Type: "number"}
			if _, err := testStore.CreateColumn(t.Context(), a, f.panel.ID, col, &FormulaInput{Source: src}); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			f.cols[name] = col
		}
	}
	type op struct {
		op string
		v  any
	}
	ops := []op{
		{"isNull", nil}, {"isNotNull", nil}, {"isEmpty", nil}, {"eq", 0}, {"ne", 0}, {"eq", 1}, {"gt", 1}, {"lt", 0},
		{"gte", 1e300}, {"lte", -1e300}, {"between", []any{-1, 1}}, {"in", []any{0.1, 5, 3.5, 12.5}}, {"eq", math.MaxFloat64},
	}
	matched := 0
	for name := range f.cols {
		if name == "A" || name == "B" {
			continue
		}
		for _, o := range ops {
			v, _ := json.Marshal(o.v)
			t.Run(fmt.Sprintf("%s %s %s", name, o.op, v), func(t *testing.T) {
				f.setView(t, []ViewFilter{fleaf(name, o.op, o.v)}, nil)
				q := RowsQuery{ViewID: f.view.ID}
				got := f.keys(t, q)
				matched += len(got)
				inSQL := f.sqlKeys(t, q)
				_, isPushed := pushed[name]
				if isPushed && !slices.Equal(inSQL, got) {
					t.Errorf("the pushed SQL keeps %v, the answer is %v", inSQL, got)
				}
				if !isPushed && len(inSQL) != len(lines) {
					t.Errorf("a formula that is not translated filtered in SQL: %v", inSQL)
				}
			})
		}
	}
	if matched == 0 {
		t.Fatal("no filter matched any row")
	}
	for _, name := range []string{"Sum", "Chain", "Long", "Big", "Tiny", "Prod"} {
		for _, dir := range []string{"asc", "desc"} {
			f.setView(t, []ViewFilter{fleaf("A", "isNotNull", nil)}, []ViewSort{{ColumnName: name, Direction: dir}, {ColumnName: "B", Direction: "desc"}})
			q := RowsQuery{ViewID: f.view.ID}
			whole := f.keys(t, q)
			for _, limit := range []int{3, 7} {
				if paged := f.paged(t, q, limit); !slices.Equal(paged, whole) {
					t.Errorf("%s %s: pages of %d %v, whole %v", name, dir, limit, paged, whole)
				}
			}
		}
		f.setView(t, nil, nil)
		if g := f.groups(t, RowsQuery{ViewID: f.view.ID, GroupBy: name}); g.Total != int64(len(lines)) || len(g.Groups) < 3 {
			t.Errorf("groups by %s: %+v", name, g)
		}
	}
}

// A translated formula over a column of another source reads it through the source's join: a
// primary record without a record there has no number in it.
func TestRowsCalculatedColumnAcrossSources(t *testing.T) {
	f := newRowsFixture(t)
	col := &Column{Name: "Busy", Type: "number"}
	if _, err := testStore.CreateColumn(t.Context(), f.a, f.panel.ID, col, &FormulaInput{Source: "[Visits] * 10 + [Age]"}); err != nil {
		t.Fatal(err)
	}
	f.setView(t, []ViewFilter{fleaf("Busy", "gt", 40)}, []ViewSort{{ColumnName: "Busy", Direction: "desc"}})
	q := RowsQuery{ViewID: f.view.ID}
	// p1: 3*10+36 = 66; p3: 1*10+85 ("85") = 95; p5: 0*10+65 = 65; p2, p4, p6 have no visits record
	// or no age.
	if got := f.keys(t, q); !slices.Equal(got, []string{"p3", "p1", "p5"}) {
		t.Errorf("Busy > 40 by Busy descending: %v", got)
	}
	if inSQL := f.sqlKeys(t, q); !slices.Equal(inSQL, []string{"p1", "p3", "p5"}) { // sorted by key
		t.Errorf("the pushed SQL keeps %v", inSQL)
	}
}
