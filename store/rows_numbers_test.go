package store

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// Number cells at the edges of float64, as JSON numbers and as texts: the SQL path must type each
// exactly as the Go evaluator does (strconv.ParseFloat: nearest double, too small is zero of
// its sign, too large is no number), and nothing a record holds may fail the statement.
var numberEdgeValues = []struct {
	json string
	want any // the Go evaluator's typed cell: a float64, or nil for no number
}{
	{`"1e999999"`, nil}, // numeric input overflows on this one
	{`"-1e999999"`, nil},
	{`"1e-999999"`, 0.0},
	{`"-1e-400"`, math.Copysign(0, -1)},
	{`"1e-400"`, 0.0},
	{`"5e-324"`, 5e-324},
	{`"2e-324"`, 0.0},
	{`"1.7976931348623157e308"`, math.MaxFloat64},
	{`"1.7976931348623159e308"`, nil},
	{`" 1e309 "`, nil},
	{`"1e99999999999999999999999"`, nil},
	{`"\u000b5"`, nil}, // a vertical tab is not a space to Go's \s
	{`" 5 "`, 5.0},
	{`"\t7\n"`, 7.0},
	{`"\u00a05"`, nil},
	{`"0.1000000000000000001"`, 0.1}, // the same double as 0.1
	{`0.1`, 0.1},
	{`0.1000000000000000001`, 0.1},
	{`1e400`, nil},
	{`-1e400`, nil},
	{`1e-400`, 0.0},
	{`"-0"`, math.Copysign(0, -1)},
	{`0`, 0.0},
	{`"1E+2"`, 100.0},
	{`".5"`, 0.5},
	{`"5."`, 5.0},
	{`"+3"`, 3.0},
	{`"0x10"`, nil},
	{`"Infinity"`, nil},
	{`"NaN"`, nil},
	{`"1_000"`, nil},
	{`"١٢"`, nil},
	{`"abc"`, nil},
	{`""`, nil},
	{`null`, nil},
	{`true`, nil},
	{`"1` + strings.Repeat("0", 300) + `"`, 1e300},
	{`"-0.` + strings.Repeat("0", 400) + `1"`, math.Copysign(0, -1)},
	{`"` + strings.Repeat("9", 400) + `e-100"`, 1e300},
	{`-12.5`, -12.5},
	{`"12.5"`, 12.5},
}

func newNumberFixture(t *testing.T, tenant string, values []string) *rowsFixture {
	t.Helper()
	lines := make([]string, len(values))
	for i, v := range values {
		lines[i] = fmt.Sprintf(`{"id":"n%02d","n":%s}`, i, v)
	}
	return newOneSourceFixture(t, tenant, "Numbers", lines, fixtureColumn{"N", "number", "n", ""})
}

func TestRowsNumberEdgesBothPaths(t *testing.T) {
	var values []string
	for _, v := range numberEdgeValues {
		values = append(values, v.json)
	}
	f := newNumberFixture(t, "numbers", values)
	// The Go cells are the table's.
	all, _, _ := f.rows(t, RowsQuery{ViewID: f.view.ID})
	if len(all) != len(numberEdgeValues) {
		t.Fatalf("%d rows", len(all))
	}
	for _, r := range all {
		var i int
		fmt.Sscanf(r.Key, "n%02d", &i)
		got, want := r.Values[0], numberEdgeValues[i].want
		if w, ok := want.(float64); ok {
			g, isNum := got.(float64)
			if !isNum || g != w || math.Signbit(g) != math.Signbit(w) {
				t.Errorf("%s (%s): cell %v, want %v", r.Key, numberEdgeValues[i].json, got, want)
			}
		} else if got != nil {
			t.Errorf("%s (%s): cell %v, want no number", r.Key, numberEdgeValues[i].json, got)
		}
	}
	type op struct {
		op string
		v  any
	}
	for _, o := range []op{
		{"isNull", nil}, {"isNotNull", nil}, {"isEmpty", nil}, {"isNotEmpty", nil},
		{"eq", 0.1}, {"eq", 0}, {"eq", math.Copysign(0, -1)}, {"ne", 5}, {"eq", math.MaxFloat64}, {"eq", 5e-324},
		{"gt", 1}, {"lt", 0}, {"gte", 1e300}, {"lte", -1e-300}, {"between", []any{-1, 1}}, {"between", []any{0, 0}},
		{"in", []any{0.1, 5, 7, 1e300}}, {"notIn", []any{0, 12.5}},
	} {
		v, _ := json.Marshal(o.v)
		t.Run(fmt.Sprintf("%s %s", o.op, v), func(t *testing.T) {
			f.setView(t, []ViewFilter{fleaf("N", o.op, o.v)}, nil)
			q := RowsQuery{ViewID: f.view.ID}
			got := f.keys(t, q)
			if inSQL := f.sqlKeys(t, q); !slices.Equal(inSQL, got) {
				t.Errorf("the pushed SQL keeps %v, the answer is %v", inSQL, got)
			}
		})
	}
	// Sorted both ways, a page at a time: float8 keys in the cursors, ties broken by order.
	for _, dir := range []string{"asc", "desc"} {
		f.setView(t, []ViewFilter{fleaf("N", "isNotNull", nil)}, []ViewSort{{ColumnName: "N", Direction: dir}})
		q := RowsQuery{ViewID: f.view.ID}
		whole := f.keys(t, q)
		// (paged stops at 20 pages)
		for _, limit := range []int{2, 3, 7} {
			if paged := f.paged(t, q, limit); !slices.Equal(paged, whole) {
				t.Errorf("%s: pages of %d %v, whole %v", dir, limit, paged, whole)
			}
		}
	}
	f.setView(t, nil, nil)
	g := f.groups(t, RowsQuery{ViewID: f.view.ID, GroupBy: "N"})
	var sum int64
	negZero := false
	for _, grp := range g.Groups {
		sum += grp.Count
		if v, ok := grp.Value.(float64); ok && v == 0 && math.Signbit(v) {
			negZero = true
		}
	}
	if sum != int64(len(numberEdgeValues)) || g.Total != sum || !negZero {
		t.Errorf("groups %+v: counts add up to %d of %d, -0 a group of its own: %v", g, sum, len(numberEdgeValues), negZero)
	}
}

// Groups of equal counts come in one order on both paths, by value and -0 before 0 (Go's map
// order is random, and float8 and float64 both compare -0 and 0 equal).
func TestRowGroupsNegativeZeroOrder(t *testing.T) {
	f := newNumberFixture(t, "negzero", []string{`0`, `"-0"`, `5`, `"5.0"`, `"-1e-400"`, `1e-400`})
	for i := range 20 {
		goOnly := i%2 == 1
		plan, err := testStore.PlanRows(t.Context(), f.a, RowsQuery{PanelID: f.panel.ID, ViewID: f.view.ID, GroupBy: "N", GoOnly: goOnly})
		if err != nil {
			t.Fatal(err)
		}
		g, err := plan.Groups(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, grp := range g.Groups {
			got = append(got, fmt.Sprintf("%v:%d", grp.Value, grp.Count)) // %v writes -0's sign
		}
		if want := []string{"-0:2", "0:2", "5:2"}; !slices.Equal(got, want) {
			t.Fatalf("groups (goOnly %v) %v, want %v", goOnly, got, want)
		}
	}
}
