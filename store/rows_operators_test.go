package store

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/panels/panels/store/rows"
)

// The operators of issue 15 on a hand-checked data set, each run with pushdown and in Go only
// (f.keys requires both answers to agree). "now" is 2026-06-15T12:00:00Z.
//
//	key  Name          Tags           Note        Seen (datetime)        Due (date)  Count
//	o1   Ada           [red, Blue]    ""          2026-06-15T08:00:00Z   2026-06-16  3
//	o2   bob           []             null        2026-06-10T00:00:00Z   2026-06-14  null
//	o3   Cy 100% sure  [green]        call back   2025-06-20T00:00:00Z   2026-07-01  0
//	o4   d_e           (missing)      Back pain   2026-06-14T23:59:59Z   2026-06-22  err ("x")
//	o5   (missing)     [RED, green]   n/a         null                   2027-06-01  (missing)
//
// Shout = UPPER([Name]) is calculated (Go only).
var opsRecords = []string{
	`{"id":"o1","name":"Ada","tags":["red","Blue"],"note":"","seen":"2026-06-15T08:00:00Z","due":"2026-06-16","count":3}`,
	`{"id":"o2","name":"bob","tags":[],"note":null,"seen":"2026-06-10T00:00:00Z","due":"2026-06-14","count":null}`,
	`{"id":"o3","name":"Cy 100% sure","tags":["green"],"note":"call back","seen":"2025-06-20T00:00:00Z","due":"2026-07-01","count":0}`,
	`{"id":"o4","name":"d_e","note":"Back pain","seen":"2026-06-14T23:59:59Z","due":"2026-06-22","count":"x"}`,
	`{"id":"o5","tags":["RED","green"],"note":"n/a","seen":null,"due":"2027-06-01"}`,
}

var opsNow = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

func newOpsFixture(t *testing.T) *rowsFixture {
	t.Helper()
	a := stActor(stTenant("ops"), "owner")
	f := &rowsFixture{a: a, panel: stPanel(t, a, "Ops"), cols: map[string]*Column{}}
	ds := &DataSource{Type: "file", Config: map[string]any{"format": "ndjson", "keyField": "id"}}
	if err := testStore.CreateDataSource(t.Context(), a, f.panel.ID, ds); err != nil {
		t.Fatal(err)
	}
	f.primary = ds
	if res := syncNDJSON(t, a, ds, "id", opsRecords); res.Record.Status != SyncSuccess {
		t.Fatalf("sync: %+v", res.Record)
	}
	for _, c := range []struct{ name, typ, field string }{
		{"Name", "text", "name"}, {"Tags", "multi_select", "tags"}, {"Note", "text", "note"},
		{"Seen", "datetime", "seen"}, {"Due", "date", "due"}, {"Count", "number", "count"},
	} {
		sf, id := c.field, ds.ID
		col := &Column{Name: c.name, Type: c.typ, SourceField: &sf, DataSourceID: &id}
		if _, err := testStore.CreateColumn(t.Context(), a, f.panel.ID, col, nil); err != nil {
			t.Fatal(err)
		}
		f.cols[c.name], f.colNames = col, append(f.colNames, c.name)
	}
	col := &Column{Name: "Shout", Type: "text"}
	if _, err := testStore.CreateColumn(t.Context(), a, f.panel.ID, col, &FormulaInput{Source: "UPPER([Name])"}); err != nil {
		t.Fatal(err)
	}
	f.cols["Shout"], f.colNames = col, append(f.colNames, "Shout")
	f.view = &View{Name: "Ops", PanelID: f.panel.ID}
	if err := testStore.CreateView(t.Context(), a, f.view); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRowsNewOperators(t *testing.T) {
	f := newOpsFixture(t)
	mode := func(m string, days ...int) map[string]any {
		v := map[string]any{"mode": m}
		if len(days) > 0 {
			v["numberOfDays"] = float64(days[0])
		}
		return v
	}
	tests := []struct {
		name string
		col  string
		op   string
		v    any
		want []string
	}{
		{"isEmpty: empty text and null", "Note", "isEmpty", nil, []string{"o1", "o2"}},
		{"isNotEmpty", "Note", "isNotEmpty", nil, []string{"o3", "o4", "o5"}},
		{"isEmpty: empty and missing list", "Tags", "isEmpty", nil, []string{"o2", "o4"}},
		{"isEmpty: missing text", "Name", "isEmpty", nil, []string{"o5"}},
		{"isEmpty: number null, wrong-typed and missing", "Count", "isEmpty", nil, []string{"o2", "o4", "o5"}},
		{"isNotEmpty: number", "Count", "isNotEmpty", nil, []string{"o1", "o3"}},
		{"isEmpty: calculated", "Shout", "isEmpty", nil, []string{"o5"}},
		{"notContains keeps empty cells", "Note", "notContains", "BACK", []string{"o1", "o2", "o5"}},
		{"notContains on a list", "Tags", "notContains", "red", []string{"o2", "o3", "o4"}},
		{"containsAny text", "Note", "containsAny", []any{"PAIN", "n/a"}, []string{"o4", "o5"}},
		{"containsAll text", "Name", "containsAll", []any{"a", "D"}, []string{"o1"}},
		{"containsAny list, case-insensitive items", "Tags", "containsAny", []any{"red", "yellow"}, []string{"o1", "o5"}},
		{"containsAll list", "Tags", "containsAll", []any{"red", "GREEN"}, []string{"o5"}},
		{"containsAny list compares whole items", "Tags", "containsAny", []any{"gre"}, nil},
		{"containsAny calculated", "Shout", "containsAny", []any{"ada", "BOB"}, []string{"o1", "o2"}},
		{"contains a literal percent", "Name", "contains", "%", []string{"o3"}},
		{"contains a literal underscore", "Name", "contains", "_", []string{"o4"}},
		{"isWithin today", "Seen", "isWithin", "today", []string{"o1"}},
		{"isWithin yesterday", "Seen", "isWithin", mode("yesterday"), []string{"o4"}},
		{"isWithin pastWeek", "Seen", "isWithin", "pastWeek", []string{"o1", "o2", "o4"}},
		{"isWithin pastYear", "Seen", "isWithin", "pastYear", []string{"o1", "o2", "o3", "o4"}},
		{"isWithin pastMonth", "Seen", "isWithin", "pastMonth", []string{"o1", "o2", "o4"}},
		{"isWithin tomorrow", "Due", "isWithin", "tomorrow", []string{"o1"}},
		{"isWithin nextWeek", "Due", "isWithin", "nextWeek", []string{"o1", "o4"}},
		{"isWithin nextNumberOfDays", "Due", "isWithin", mode("nextNumberOfDays", 16), []string{"o1", "o3", "o4"}},
		{"isWithin pastNumberOfDays", "Due", "isWithin", mode("pastNumberOfDays", 1), []string{"o2"}},
		{"isWithin nextMonth", "Due", "isWithin", "nextMonth", []string{"o1", "o3", "o4"}},
		{"isWithin nextYear", "Due", "isWithin", "nextYear", []string{"o1", "o3", "o4", "o5"}},
		{"before today", "Due", "before", "today", []string{"o2"}},
		{"after today", "Due", "after", "today", []string{"o1", "o3", "o4", "o5"}},
		{"onOrBefore an exact date", "Due", "onOrBefore", "2026-06-16", []string{"o1", "o2"}},
		{"onOrAfter a relative mode", "Due", "onOrAfter", mode("nextNumberOfDays", 7), []string{"o1", "o3", "o4", "o5"}},
		{"before an instant", "Seen", "before", "2026-06-14T23:59:59Z", []string{"o2", "o3"}},
		{"onOrBefore an instant", "Seen", "onOrBefore", "2026-06-14T23:59:59Z", []string{"o2", "o3", "o4"}},
		{"after a whole day", "Seen", "after", "2026-06-14", []string{"o1"}},
		{"a date operator on a text column matches nothing", "Name", "before", "2030-01-01", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.setView(t, []ViewFilter{{ColumnName: tc.col, Operator: tc.op, Value: tc.v, LogicalOperator: "and"}}, nil)
			if got := f.keys(t, RowsQuery{ViewID: f.view.ID, Now: opsNow}); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
		})
	}
	// Relative dates follow the injected clock: a day later, "today" is another day.
	f.setView(t, []ViewFilter{{ColumnName: "Due", Operator: "isWithin", Value: "today", LogicalOperator: "and"}}, nil)
	if got := f.keys(t, RowsQuery{ViewID: f.view.ID, Now: opsNow.AddDate(0, 0, 1)}); !slices.Equal(got, []string{"o1"}) {
		t.Errorf("today a day later: %v", got)
	}
}

// Every new operator refuses a value that does not fit it, and the refusal changes nothing.
func TestNewOperatorValues(t *testing.T) {
	f := newOpsFixture(t)
	allow := func(*View) error { return nil }
	good := []ViewFilter{{ColumnName: "Note", Operator: "isEmpty", LogicalOperator: "and"}}
	if _, err := testStore.ReplaceFilters(t.Context(), f.a, f.view.ID, allow, good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		op string
		v  any
	}{
		{"isEmpty", "x"}, {"isNotEmpty", 1.0}, {"notContains", nil}, {"notContains", 3.0},
		{"containsAny", "x"}, {"containsAny", []any{}}, {"containsAll", []any{"a", 1.0}}, {"containsAny", make([]any, MaxFilterValues+1)},
		{"isWithin", "2026-01-01"}, {"isWithin", "someday"}, {"isWithin", map[string]any{"mode": "pastNumberOfDays"}},
		{"isWithin", map[string]any{"mode": "pastNumberOfDays", "numberOfDays": 1.5}},
		{"isWithin", map[string]any{"mode": "pastNumberOfDays", "numberOfDays": -1.0}},
		{"isWithin", map[string]any{"mode": "today", "numberOfDays": 3.0}},
		{"isWithin", map[string]any{"mode": "today", "extra": 1.0}}, {"isWithin", nil},
		{"before", "not a date"}, {"after", 3.0}, {"onOrBefore", nil}, {"onOrAfter", map[string]any{"mode": "nope"}},
	} {
		_, err := testStore.ReplaceFilters(t.Context(), f.a, f.view.ID, allow, []ViewFilter{{ColumnName: "Due", Operator: bad.op, Value: bad.v}})
		var ie *InvalidError
		if !errors.As(err, &ie) {
			t.Errorf("%s %v: %v", bad.op, bad.v, err)
		}
	}
	v, err := testStore.GetView(t.Context(), f.a, "getViewFilters", f.view.ID)
	if err != nil || len(v.Filters) != 1 || v.Filters[0].Operator != "isEmpty" {
		t.Fatalf("after refusals: %v %+v", err, v)
	}
}

// Search: a case-insensitive substring of any answer column, with the view's filters; LIKE's
// metacharacters stand for themselves. Both ways, and pushed down when the columns allow.
func TestRowsSearch(t *testing.T) {
	f := newOpsFixture(t)
	f.setView(t, nil, nil)
	tests := []struct {
		name, search string
		visible      []string
		filters      []ViewFilter
		want         []string
	}{
		{"over text columns, pushed", "BACK", []string{"Name", "Note"}, nil, []string{"o3", "o4"}},
		{"a percent is a literal percent", "%", []string{"Name", "Note"}, nil, []string{"o3"}},
		{"an underscore is a literal underscore", "_", []string{"Name", "Note"}, nil, []string{"o4"}},
		{"a backslash is literal", `\`, []string{"Name", "Note"}, nil, nil},
		{"over every column, some in Go", "green", nil, nil, []string{"o3", "o5"}},
		{"a date column's text", "2026-06-22", nil, nil, []string{"o4"}},
		{"with the view's filters", "a", []string{"Name", "Note"}, []ViewFilter{{ColumnName: "Note", Operator: "isNotEmpty", LogicalOperator: "and"}}, []string{"o3", "o4", "o5"}},
		{"only visible columns are searched", "green", []string{"Name"}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.view.VisibleColumns = tc.visible
			if tc.visible == nil {
				f.view.VisibleColumns = []string{}
			}
			if _, err := testStore.UpdateView(t.Context(), f.a, f.view.ID, func(*View) error { return nil }, ViewPatch{VisibleColumns: f.view.VisibleColumns}); err != nil {
				t.Fatal(err)
			}
			f.setView(t, tc.filters, nil)
			if got := f.keys(t, RowsQuery{ViewID: f.view.ID, Now: opsNow, Search: tc.search}); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
		})
	}
}

// groups counts both ways and requires the same answer.
func (f *rowsFixture) groups(t *testing.T, q RowsQuery) rows.GroupCounts {
	t.Helper()
	q.PanelID = f.panel.ID
	var res [2]rows.GroupCounts
	for i, goOnly := range []bool{false, true} {
		q.GoOnly = goOnly
		plan, err := testStore.PlanRows(t.Context(), f.a, q)
		if err != nil {
			t.Fatal(err)
		}
		if res[i], err = plan.Groups(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(res[0], res[1]) {
		t.Errorf("SQL and Go group counts differ:\nsql: %+v\ngo:  %+v", res[0], res[1])
	}
	return res[0]
}

func TestRowGroups(t *testing.T) {
	f := newRowsFixture(t)
	f.setView(t, nil, nil)
	g := func(v any, n int64) rows.GroupCount { return rows.GroupCount{Value: v, Count: n} }
	tests := []struct {
		name    string
		by      string
		search  string
		filters []ViewFilter
		want    []rows.GroupCount
		total   int64
	}{
		{"a select column, ties by value", "Status", "", nil, []rows.GroupCount{g("active", 2), g("pending", 2), g("ACTIVE", 1), g("inactive", 1)}, 6},
		{"numbers, failed cells with the nulls", "Age", "", nil, []rows.GroupCount{g(65.0, 2), g(36.0, 1), g(41.0, 1), g(85.0, 1), g(nil, 1)}, 6},
		{"text with nulls last", "City", "", nil, []rows.GroupCount{g(nil, 2), g("London", 1), g("New York", 1), g("Wilmslow", 1), g("london", 1)}, 6},
		{"with the view's filters", "Status", "", []ViewFilter{fleaf("Age", "gte", 41)}, []rows.GroupCount{g("pending", 2), g("ACTIVE", 1), g("inactive", 1)}, 4},
		{"with a search", "VIP", "lon", nil, []rows.GroupCount{g(true, 1), g(nil, 1)}, 2},
		{"a calculated column (Go)", "Senior", "", nil, []rows.GroupCount{g(true, 3), g(false, 2), g(nil, 1)}, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.setView(t, tc.filters, nil)
			got := f.groups(t, RowsQuery{ViewID: f.view.ID, GroupBy: tc.by, Search: tc.search})
			if !reflect.DeepEqual(got.Groups, tc.want) || got.Total != tc.total || got.More {
				t.Errorf("groups %+v, want %+v (total %d)", got, tc.want, tc.total)
			}
		})
	}
	plan, err := testStore.PlanRows(t.Context(), f.a, RowsQuery{PanelID: f.panel.ID, GroupBy: "Nope"})
	if err == nil {
		_, err = plan.Groups(t.Context())
	}
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Errorf("an unknown group column: %v", err)
	}
}
