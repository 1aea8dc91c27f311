package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/panels/panels/store/rows"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/panels/panels/store/ingest"
)

// The rows engine on a small, hand-checked data set. Every case runs twice: with conditions and
// sorts pushed into SQL where possible, and with everything evaluated in Go; both must give the
// hand-computed answer.
//
// Typed cells of the data set (the expectations below are derived from this table):
//
//	key  Name           Age        Status    Score      VIP          Born          City      Visits
//	p1   Ada Lovelace   36         active    12.5       true         1990-12-10    London    3
//	p2   alan turing    41         pending   7          false ("false")  1983-06-23 Wilmslow  null (no record)
//	p3   Grace Hopper   85 ("85")  inactive  null       false        1936-12-09    New York  1
//	p4   Émile          err        active    3          err ("yes")  err           null      null
//	p5   null           65         ACTIVE    100        true         2000-01-01    null      0
//	p6   Zed            65         pending   err ("abc") null        null          london    null
//
// Calculated: Age Next = [Age] + 1; Label = CONCAT(UPPER([Name]), " (", [Age Next], ")");
// Senior = [Age] >= 65; Ratio = [Score] / [Visits] (p5 divides by zero).
var rowsPatients = []string{
	`{"id":"p1","name":"Ada Lovelace","age":36,"status":"active","score":"12.5","vip":true,"born":"1990-12-10","addr":{"city":"London"}}`,
	`{"id":"p2","name":"alan turing","age":41,"status":"pending","score":7,"vip":"false","born":"1983-06-23","addr":{"city":"Wilmslow"}}`,
	`{"id":"p3","name":"Grace Hopper","age":"85","status":"inactive","score":null,"vip":false,"born":"1936-12-09T10:00:00Z","addr":{"city":"New York"}}`,
	`{"id":"p4","name":"Émile","age":"unknown","status":"active","score":3,"vip":"yes","born":"not a date"}`,
	`{"id":"p5","name":null,"age":65,"status":"ACTIVE","score":100,"vip":true,"born":"2000-01-01"}`,
	`{"id":"p6","name":"Zed","age":65,"status":"pending","score":"abc","vip":null,"addr":{"city":"london"}}`,
}

var rowsVisits = []string{
	`{"patient":"p1","visits":3}`, `{"patient":"p3","visits":1}`, `{"patient":"p5","visits":0}`, `{"patient":"zz","visits":9}`,
}

type rowsFixture struct {
	a        Actor
	panel    *Panel
	primary  *DataSource
	visits   *DataSource
	cols     map[string]*Column
	view     *View
	colNames []string
}

func syncNDJSON(t *testing.T, a Actor, ds *DataSource, keyField string, lines []string) SyncResult {
	t.Helper()
	run, err := testStore.BeginSync(t.Context(), a, "syncDataSource", ds.ID, 0, TriggerUpload, 0, stAllowDS)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	res, err := run.Replace(t.Context(), ingest.NDJSON(strings.NewReader(strings.Join(lines, "\n")), ingest.Options{KeyField: keyField}))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func newRowsFixture(t *testing.T) *rowsFixture {
	t.Helper()
	a := stActor(stTenant("rows"), "owner")
	f := &rowsFixture{a: a, panel: stPanel(t, a, "Rows"), cols: map[string]*Column{}}
	mk := func(cfg map[string]any) *DataSource {
		ds := &DataSource{Type: "file", Config: cfg}
		if err := testStore.CreateDataSource(t.Context(), a, f.panel.ID, ds); err != nil {
			t.Fatal(err)
		}
		return ds
	}
	f.primary = mk(map[string]any{"format": "ndjson", "keyField": "id"})
	f.visits = mk(map[string]any{"format": "ndjson", "keyField": "patient"})
	if res := syncNDJSON(t, a, f.primary, "id", rowsPatients); res.Record.Status != SyncSuccess || res.Record.RecordsProcessed != 6 {
		t.Fatalf("sync patients: %+v", res.Record)
	}
	if res := syncNDJSON(t, a, f.visits, "patient", rowsVisits); res.Record.Status != SyncSuccess {
		t.Fatalf("sync visits: %+v", res.Record)
	}
	base := func(name, typ, field string, ds *DataSource) {
		sf, id := field, ds.ID
		c := &Column{Name: name, Type: typ, SourceField: &sf, DataSourceID: &id}
		if _, err := testStore.CreateColumn(t.Context(), a, f.panel.ID, c, nil); err != nil {
			t.Fatal(err)
		}
		f.cols[name], f.colNames = c, append(f.colNames, name)
	}
	calc := func(name, typ, src string) {
		c := &Column{Name: name, Type: typ}
		if _, err := testStore.CreateColumn(t.Context(), a, f.panel.ID, c, &FormulaInput{Source: src}); err != nil {
			t.Fatal(err)
		}
		f.cols[name], f.colNames = c, append(f.colNames, name)
	}
	base("Name", "text", "name", f.primary)
	base("Age", "number", "age", f.primary)
	base("Status", "select", "status", f.primary)
	base("Score", "number", "score", f.primary)
	base("VIP", "boolean", "vip", f.primary)
	base("Born", "date", "born", f.primary)
	base("City", "text", "addr.city", f.primary)
	base("Visits", "number", "visits", f.visits)
	base("FHIR", "text", "name.where(use='official').given", f.primary)
	calc("Age Next", "number", "[Age] + 1")
	calc("Label", "text", `CONCAT(UPPER([Name]), " (", [Age Next], ")")`)
	calc("Senior", "boolean", "[Age] >= 65")
	calc("Ratio", "number", "[Score] / [Visits]")
	f.view = &View{Name: "Worklist", PanelID: f.panel.ID}
	if err := testStore.CreateView(t.Context(), a, f.view); err != nil {
		t.Fatal(err)
	}
	return f
}

// fixtureColumn is a base column of a one-source fixture (zone: properties.timeZone, if any).
type fixtureColumn struct{ name, typ, field, zone string }

// newOneSourceFixture is a panel with one NDJSON source holding lines (keyed by "id"), the base
// columns cols over it, and an empty view.
func newOneSourceFixture(t *testing.T, tenant, name string, lines []string, cols ...fixtureColumn) *rowsFixture {
	t.Helper()
	a := stActor(stTenant(tenant), "owner")
	f := &rowsFixture{a: a, panel: stPanel(t, a, name), cols: map[string]*Column{}}
	ds := &DataSource{Type: "file", Config: map[string]any{"format": "ndjson", "keyField": "id"}}
	if err := testStore.CreateDataSource(t.Context(), a, f.panel.ID, ds); err != nil {
		t.Fatal(err)
	}
	f.primary = ds
	if res := syncNDJSON(t, a, ds, "id", lines); res.Record.Status != SyncSuccess || res.Record.RecordsProcessed != int64(len(lines)) {
		t.Fatalf("sync: %+v", res.Record)
	}
	for _, c := range cols {
		sf, id := c.field, ds.ID
		col := &Column{Name: c.name, Type: c.typ, SourceField: &sf, DataSourceID: &id}
		if c.zone != "" {
			col.Properties = map[string]any{"timeZone": c.zone}
		}
		if _, err := testStore.CreateColumn(t.Context(), a, f.panel.ID, col, nil); err != nil {
			t.Fatal(err)
		}
		f.cols[c.name], f.colNames = col, append(f.colNames, c.name)
	}
	f.view = &View{Name: name, PanelID: f.panel.ID}
	if err := testStore.CreateView(t.Context(), a, f.view); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *rowsFixture) setCohort(t *testing.T, logic string, conds ...CohortCondition) {
	t.Helper()
	rule := CohortRule{Logic: logic, Conditions: conds}
	if rule.Conditions == nil {
		rule.Conditions = []CohortCondition{}
	}
	if _, err := testStore.UpdatePanel(t.Context(), f.a, f.panel.ID, stAllow, PanelPatch{CohortRule: &rule}); err != nil {
		t.Fatal(err)
	}
}

func (f *rowsFixture) setView(t *testing.T, filters []ViewFilter, sorts []ViewSort) {
	t.Helper()
	allow := func(*View) error { return nil }
	if filters == nil {
		filters = []ViewFilter{}
	}
	if sorts == nil {
		sorts = []ViewSort{}
	}
	if _, err := testStore.ReplaceFilters(t.Context(), f.a, f.view.ID, allow, filters); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.ReplaceSorts(t.Context(), f.a, f.view.ID, allow, sorts); err != nil {
		t.Fatal(err)
	}
}

// rows runs a query and returns its rows, checking that both evaluation paths agree.
func (f *rowsFixture) rows(t *testing.T, q RowsQuery) ([]Row, []rows.Column, rows.Result) {
	t.Helper()
	q.PanelID = f.panel.ID
	if q.Now.IsZero() {
		q.Now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	}
	var results [2][]Row
	var res [2]rows.Result
	var cols []rows.Column
	for i, goOnly := range []bool{false, true} {
		q.GoOnly = goOnly
		plan, err := testStore.PlanRows(t.Context(), f.a, q)
		if err != nil {
			t.Fatalf("plan: %v", err)
		}
		cols = plan.Columns()
		res[i], err = plan.Run(t.Context(), func(r Row) error { results[i] = append(results[i], r); return nil })
		if err != nil {
			t.Fatalf("run (goOnly=%v): %v", goOnly, err)
		}
	}
	if !reflect.DeepEqual(results[0], results[1]) || res[0].HasMore != res[1].HasMore || !slices.Equal(res[0].Errors, res[1].Errors) {
		t.Errorf("SQL and Go paths differ:\nsql: %v %+v\ngo:  %v %+v", keysOf(results[0]), res[0], keysOf(results[1]), res[1])
	}
	return results[0], cols, res[0]
}

func keysOf(rows []Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Key
	}
	return out
}

func (f *rowsFixture) keys(t *testing.T, q RowsQuery) []string {
	t.Helper()
	rows, _, _ := f.rows(t, q)
	return keysOf(rows)
}

func TestRowsValuesAndErrors(t *testing.T) {
	f := newRowsFixture(t)
	rows, cols, res := f.rows(t, RowsQuery{})
	if got := keysOf(rows); !slices.Equal(got, []string{"p1", "p2", "p3", "p4", "p5", "p6"}) {
		t.Fatalf("rows %v", got)
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	if !slices.Equal(names, f.colNames) {
		t.Fatalf("columns %v, want %v", names, f.colNames)
	}
	col := func(name string) int { return slices.Index(names, name) }
	want := map[string][]any{
		"Name":     {"Ada Lovelace", "alan turing", "Grace Hopper", "Émile", nil, "Zed"},
		"Age":      {36.0, 41.0, 85.0, nil, 65.0, 65.0},
		"Status":   {"active", "pending", "inactive", "active", "ACTIVE", "pending"},
		"Score":    {12.5, 7.0, nil, 3.0, 100.0, nil},
		"VIP":      {true, false, false, nil, true, nil},
		"Born":     {"1990-12-10", "1983-06-23", "1936-12-09", nil, "2000-01-01", nil},
		"City":     {"London", "Wilmslow", "New York", nil, nil, "london"},
		"Visits":   {3.0, nil, 1.0, nil, 0.0, nil},
		"FHIR":     {nil, nil, nil, nil, nil, nil},
		"Age Next": {37.0, 42.0, 86.0, nil, 66.0, 66.0},
		"Label":    {"ADA LOVELACE (37)", "ALAN TURING (42)", "GRACE HOPPER (86)", "ÉMILE ()", " (66)", "ZED (66)"},
		"Senior":   {false, false, true, nil, true, true},
		"Ratio":    {12.5 / 3, nil, nil, nil, nil, nil},
	}
	for name, vals := range want {
		for i, w := range vals {
			got := rows[i].Values[col(name)]
			if gf, ok := got.(float64); ok {
				if wf, ok := w.(float64); ok && math.Abs(gf-wf) < 1e-9 {
					continue
				}
			}
			if got != w {
				t.Errorf("%s of %s = %#v, want %#v", name, rows[i].Key, got, w)
			}
		}
	}
	wantErrs := map[string]int{"Age": 1, "Score": 1, "VIP": 1, "Born": 1, "FHIR": 6, "Ratio": 1}
	for i, n := range res.Errors {
		if n != wantErrs[names[i]] {
			t.Errorf("errors of %s = %d, want %d", names[i], n, wantErrs[names[i]])
		}
	}
}

func TestRowsCohort(t *testing.T) {
	f := newRowsFixture(t)
	c := func(field, op string, v any) CohortCondition {
		return CohortCondition{Field: field, Operator: op, Value: v}
	}
	tests := []struct {
		name  string
		logic string
		conds []CohortCondition
		want  []string
	}{
		{"column gte", "AND", []CohortCondition{c("Age", "gte", 65)}, []string{"p3", "p5", "p6"}},
		{"column gt (a numeric string counts)", "AND", []CohortCondition{c("Age", "gt", 41)}, []string{"p3", "p5", "p6"}},
		{"column lt", "AND", []CohortCondition{c("Age", "lt", 41)}, []string{"p1"}},
		{"column lte", "AND", []CohortCondition{c("Age", "lte", json.Number("41"))}, []string{"p1", "p2"}},
		{"column eq text", "AND", []CohortCondition{c("Status", "eq", "active")}, []string{"p1", "p4"}},
		{"column by id", "AND", []CohortCondition{c(fmt.Sprint(f.cols["Status"].ID), "eq", "pending")}, []string{"p2", "p6"}},
		{"path number", "AND", []CohortCondition{c("age", "gt", 40)}, []string{"p2", "p3", "p5", "p6"}},
		{"nested path", "AND", []CohortCondition{c("addr.city", "eq", "London")}, []string{"p1"}},
		{"path boolean", "AND", []CohortCondition{c("vip", "eq", true)}, []string{"p1", "p5"}},
		{"path text ordering", "AND", []CohortCondition{c("status", "lt", "b")}, []string{"p1", "p4", "p5"}},
		{"path null", "AND", []CohortCondition{c("missing.field", "eq", nil)}, []string{"p1", "p2", "p3", "p4", "p5", "p6"}},
		{"secondary source column", "AND", []CohortCondition{c("Visits", "lte", 1)}, []string{"p3", "p5"}},
		{"AND", "AND", []CohortCondition{c("Age", "gte", 40), c("Visits", "lt", 2)}, []string{"p3", "p5"}},
		{"OR", "OR", []CohortCondition{c("Status", "eq", "pending"), c("VIP", "eq", true)}, []string{"p1", "p2", "p5", "p6"}},
		{"calculated", "AND", []CohortCondition{c("Senior", "eq", true)}, []string{"p3", "p5", "p6"}},
		{"AND of calculated and base", "AND", []CohortCondition{c("Senior", "eq", true), c("Status", "eq", "pending")}, []string{"p6"}},
		{"OR of calculated and base", "OR", []CohortCondition{c("Senior", "eq", true), c("Name", "eq", "Ada Lovelace")}, []string{"p1", "p3", "p5", "p6"}},
		{"wrong type matches nothing", "AND", []CohortCondition{c("Age", "eq", "abc")}, nil},
		{"not a column nor a path", "OR", []CohortCondition{c("name.where(x)", "eq", "x"), c("Age", "eq", 36)}, []string{"p1"}},
		{"empty rule", "AND", nil, []string{"p1", "p2", "p3", "p4", "p5", "p6"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.setCohort(t, tc.logic, tc.conds...)
			if got := f.keys(t, RowsQuery{}); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRowsFilters(t *testing.T) {
	f := newRowsFixture(t)
	flt := func(col, op string, v any, logic ...string) ViewFilter {
		l := "and"
		if len(logic) > 0 {
			l = logic[0]
		}
		return ViewFilter{ColumnName: col, Operator: op, Value: v, LogicalOperator: l}
	}
	tests := []struct {
		name    string
		filters []ViewFilter
		want    []string
	}{
		{"eq", []ViewFilter{flt("Status", "eq", "pending")}, []string{"p2", "p6"}},
		{"ne keeps nulls", []ViewFilter{flt("City", "ne", "London")}, []string{"p2", "p3", "p4", "p5", "p6"}},
		{"gt", []ViewFilter{flt("Age", "gt", 41)}, []string{"p3", "p5", "p6"}},
		{"gte", []ViewFilter{flt("Score", "gte", 12.5)}, []string{"p1", "p5"}},
		{"lt byte order", []ViewFilter{flt("Name", "lt", "Grace Hopper")}, []string{"p1"}},
		{"lte date", []ViewFilter{flt("Born", "lte", "1983-06-23")}, []string{"p2", "p3"}},
		{"contains, case-insensitive", []ViewFilter{flt("Name", "contains", "A")}, []string{"p1", "p2", "p3"}},
		{"startsWith", []ViewFilter{flt("City", "startsWith", "lon")}, []string{"p1", "p6"}},
		{"endsWith", []ViewFilter{flt("Name", "endsWith", "ER")}, []string{"p3"}},
		{"in", []ViewFilter{flt("Status", "in", []any{"active", "pending"})}, []string{"p1", "p2", "p4", "p6"}},
		{"notIn", []ViewFilter{flt("Status", "notIn", []any{"active", "pending"})}, []string{"p3", "p5"}},
		{"between", []ViewFilter{flt("Age", "between", []any{40, "70"})}, []string{"p2", "p5", "p6"}},
		{"isNull on a secondary source", []ViewFilter{flt("Visits", "isNull", nil)}, []string{"p2", "p4", "p6"}},
		{"isNotNull", []ViewFilter{flt("City", "isNotNull", nil)}, []string{"p1", "p2", "p3", "p6"}},
		{"isNull counts failed cells", []ViewFilter{flt("Age", "isNull", nil)}, []string{"p4"}},
		{"secondary source", []ViewFilter{flt("Visits", "gt", 0)}, []string{"p1", "p3"}},
		{"boolean", []ViewFilter{flt("VIP", "eq", "false")}, []string{"p2", "p3"}},
		{"calculated", []ViewFilter{flt("Label", "contains", "(66)")}, []string{"p5", "p6"}},
		{"chained calculated", []ViewFilter{flt("Age Next", "between", []any{40, 70})}, []string{"p2", "p5", "p6"}},
		{"number as text", []ViewFilter{flt("Score", "contains", "2.")}, []string{"p1"}},
		{"a OR b AND c", []ViewFilter{flt("Status", "eq", "active"), flt("Age", "gt", 80, "or"), flt("VIP", "eq", false)}, []string{"p1", "p3", "p4"}},
		{"pushed AND go", []ViewFilter{flt("Age", "gte", 41), flt("Born", "lt", "1990-01-01")}, []string{"p2", "p3"}},
		{"OR across pushed and go", []ViewFilter{flt("Born", "gt", "1999-01-01"), flt("City", "eq", "Wilmslow", "or")}, []string{"p2", "p5"}},
		{"wrong type eq", []ViewFilter{flt("Age", "eq", "abc")}, nil},
		{"wrong type ne", []ViewFilter{flt("Age", "ne", "abc")}, []string{"p1", "p2", "p3", "p4", "p5", "p6"}},
		{"wrong type between", []ViewFilter{flt("Age", "between", []any{"x", 70})}, nil},
		{"in with a wrong-typed member", []ViewFilter{flt("Age", "in", []any{"x", 36})}, []string{"p1"}},
		{"datetime", []ViewFilter{flt("Born", "gt", "1936-12-09T00:00:00Z")}, []string{"p1", "p2", "p5"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.setView(t, tc.filters, nil)
			if got := f.keys(t, RowsQuery{ViewID: f.view.ID}); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
		})
	}
	// The cohort rule and the filters apply together.
	f.setCohort(t, "AND", CohortCondition{Field: "Age", Operator: "gte", Value: 65})
	f.setView(t, []ViewFilter{flt("Status", "eq", "pending")}, nil)
	if got := f.keys(t, RowsQuery{ViewID: f.view.ID}); !slices.Equal(got, []string{"p6"}) {
		t.Errorf("cohort and filters: %v", got)
	}
}

func TestRowsSorts(t *testing.T) {
	f := newRowsFixture(t)
	s := func(col, dir string, order int) ViewSort {
		return ViewSort{ColumnName: col, Direction: dir, Order: order}
	}
	tests := []struct {
		name  string
		sorts []ViewSort
		want  []string
	}{
		{"text asc, number desc (nulls last)", []ViewSort{s("Status", "asc", 0), s("Age", "desc", 1)}, []string{"p5", "p1", "p4", "p3", "p6", "p2"}},
		{"secondary source", []ViewSort{s("Visits", "asc", 0)}, []string{"p5", "p3", "p1", "p2", "p4", "p6"}},
		{"secondary source desc", []ViewSort{s("Visits", "desc", 0)}, []string{"p1", "p3", "p5", "p2", "p4", "p6"}},
		{"calculated desc", []ViewSort{s("Label", "desc", 0)}, []string{"p4", "p6", "p3", "p2", "p1", "p5"}},
		{"date", []ViewSort{s("Born", "asc", 0)}, []string{"p3", "p2", "p1", "p5", "p4", "p6"}},
		{"boolean desc, text asc", []ViewSort{s("VIP", "desc", 0), s("Name", "asc", 1)}, []string{"p1", "p5", "p3", "p2", "p6", "p4"}},
		{"order field decides", []ViewSort{s("Name", "asc", 1), s("VIP", "desc", 0)}, []string{"p1", "p5", "p3", "p2", "p6", "p4"}},
		{"ties keep the source order", []ViewSort{s("Senior", "asc", 0)}, []string{"p1", "p2", "p3", "p5", "p6", "p4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.setView(t, nil, tc.sorts)
			if got := f.keys(t, RowsQuery{ViewID: f.view.ID}); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
			// Pages of every size give the same order, without duplicates or gaps.
			for limit := 1; limit <= 4; limit++ {
				if got := f.paged(t, RowsQuery{ViewID: f.view.ID}, limit); !slices.Equal(got, tc.want) {
					t.Errorf("pages of %d: %v, want %v", limit, got, tc.want)
				}
			}
		})
	}
}

// paged reads every page of q with the given limit, on both evaluation paths.
func (f *rowsFixture) paged(t *testing.T, q RowsQuery, limit int) []string {
	t.Helper()
	var out [2][]string
	for i, goOnly := range []bool{false, true} {
		q := q
		q.PanelID, q.Limit, q.GoOnly = f.panel.ID, limit, goOnly
		for page := 0; ; page++ {
			plan, err := testStore.PlanRows(t.Context(), f.a, q)
			if err != nil {
				t.Fatal(err)
			}
			res, err := plan.Run(t.Context(), func(r Row) error { out[i] = append(out[i], r.Key); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if !res.HasMore {
				break
			}
			if page > 20 {
				t.Fatal("pagination does not end")
			}
			q.After = res.Next
		}
	}
	if !slices.Equal(out[0], out[1]) {
		t.Errorf("paged: SQL %v, Go %v", out[0], out[1])
	}
	return out[0]
}

func TestRowsFiltersAndSortsPaged(t *testing.T) {
	f := newRowsFixture(t)
	f.setCohort(t, "OR", CohortCondition{Field: "Age", Operator: "gte", Value: 40}, CohortCondition{Field: "City", Operator: "eq", Value: "London"})
	f.setView(t, []ViewFilter{{ColumnName: "Status", Operator: "ne", Value: "inactive", LogicalOperator: "and"}},
		[]ViewSort{{ColumnName: "Age", Direction: "desc", Order: 0}})
	// Cohort: p1 (London), p2, p3, p5, p6; without inactive p3; Age desc: p5, p6 (65, by position), p2, p1.
	want := []string{"p5", "p6", "p2", "p1"}
	for limit := 1; limit <= 5; limit++ {
		if got := f.paged(t, RowsQuery{ViewID: f.view.ID}, limit); !slices.Equal(got, want) {
			t.Errorf("limit %d: %v, want %v", limit, got, want)
		}
	}
}

func TestRowsVisibleColumnsOfTheView(t *testing.T) {
	f := newRowsFixture(t)
	vis := []string{"Label", fmt.Sprint(f.cols["Age"].ID), "no such column"}
	if _, err := testStore.UpdateView(t.Context(), f.a, f.view.ID, func(*View) error { return nil }, ViewPatch{VisibleColumns: vis[:2]}); err != nil {
		t.Fatal(err)
	}
	rows, cols, _ := f.rows(t, RowsQuery{ViewID: f.view.ID})
	if len(cols) != 2 || cols[0].Name != "Label" || cols[1].Name != "Age" {
		t.Fatalf("columns %+v", cols)
	}
	if rows[0].Values[0] != "ADA LOVELACE (37)" || rows[0].Values[1] != 36.0 {
		t.Errorf("first row %v", rows[0].Values)
	}
}

func TestRowsCursorAcrossResync(t *testing.T) {
	f := newRowsFixture(t)
	f.setView(t, nil, []ViewSort{{ColumnName: "Name", Direction: "asc"}})
	for _, goOnly := range []bool{false, true} {
		q := RowsQuery{PanelID: f.panel.ID, ViewID: f.view.ID, Limit: 2, GoOnly: goOnly}
		plan, err := testStore.PlanRows(t.Context(), f.a, q)
		if err != nil {
			t.Fatal(err)
		}
		res, err := plan.Run(t.Context(), func(Row) error { return nil })
		if err != nil || !res.HasMore {
			t.Fatalf("first page: %+v %v", res, err)
		}
		// A sync of any of the panel's sources replaces the generation the cursor was issued on.
		syncNDJSON(t, f.a, f.visits, "patient", rowsVisits)
		q.After = res.Next
		plan, err = testStore.PlanRows(t.Context(), f.a, q)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := plan.Run(t.Context(), func(Row) error { return nil }); !errors.Is(err, ErrCursorStale) {
			t.Errorf("cursor after a re-sync: %v, want ErrCursorStale", err)
		}
	}
	// A changed view (another sort) also invalidates the cursor.
	q := RowsQuery{PanelID: f.panel.ID, ViewID: f.view.ID, Limit: 2}
	plan, _ := testStore.PlanRows(t.Context(), f.a, q)
	res, err := plan.Run(t.Context(), func(Row) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	f.setView(t, nil, []ViewSort{{ColumnName: "Age", Direction: "asc"}})
	q.After = res.Next
	plan, _ = testStore.PlanRows(t.Context(), f.a, q)
	if _, err := plan.Run(t.Context(), func(Row) error { return nil }); !errors.Is(err, ErrCursorStale) {
		t.Errorf("cursor after a view change: %v", err)
	}
}

func TestSyncFailureKeepsRecords(t *testing.T) {
	f := newRowsFixture(t)
	run, err := testStore.BeginSync(t.Context(), f.a, "syncDataSource", f.primary.ID, 0, TriggerUpload, 0, stAllowDS)
	if err != nil {
		t.Fatal(err)
	}
	// Two records, then bad JSON: nothing of this sync may land.
	res, err := run.Replace(t.Context(), ingest.NDJSON(strings.NewReader(`{"id":"n1"}`+"\n"+`{"id":"n2"}`+"\n{bad"), ingest.Options{KeyField: "id"}))
	run.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Record.Status != SyncError || !strings.Contains(res.Record.Message, "invalid JSON") {
		t.Errorf("result %+v", res.Record)
	}
	if got := f.keys(t, RowsQuery{}); len(got) != 6 || got[0] != "p1" {
		t.Errorf("records after a failed sync: %v", got)
	}
	// A second sync while one runs is a conflict.
	run, err = testStore.BeginSync(t.Context(), f.a, "syncDataSource", f.primary.ID, 0, TriggerSync, 0, stAllowDS)
	if err != nil {
		t.Fatal(err)
	}
	_, err = testStore.BeginSync(t.Context(), f.a, "syncDataSource", f.primary.ID, 0, TriggerSync, 0, stAllowDS)
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Errorf("concurrent sync: %v, want a ConflictError", err)
	}
	run.Close()
	run, err = testStore.BeginSync(t.Context(), f.a, "syncDataSource", f.primary.ID, 0, TriggerSync, 0, stAllowDS)
	if err != nil {
		t.Fatalf("sync after the lock was released: %v", err)
	}
	run.Close()
	// The history keeps both outcomes, newest first; each wrote a change row.
	page, err := testStore.ListSyncs(t.Context(), f.a, f.primary.ID, SyncFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Syncs) != 2 || page.Syncs[0].Status != SyncError || page.Syncs[1].Status != SyncSuccess || page.Syncs[1].RecordsProcessed != 6 {
		t.Errorf("history %+v", page.Syncs)
	}
	if n := stCount(t, "SELECT count(*) FROM panel_changes WHERE panel_id = ? AND change_type = 'source_synced'", f.panel.ID); n != 3 {
		t.Errorf("source_synced change rows: %d, want 3 (two of patients, one of visits)", n)
	}
	if n := stCount(t, "SELECT count(*) FROM view_notifications WHERE view_id = ?", f.view.ID); n != 0 {
		t.Errorf("syncs notified views: %d", n)
	}
}

func TestPushUpsertsAndDeletes(t *testing.T) {
	f := newRowsFixture(t)
	run, err := testStore.BeginSync(t.Context(), f.a, "syncDataSource", f.primary.ID, 0, TriggerPush, time.Second, stAllowDS)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Join([]string{
		`{"op":"upsert","record":{"id":"p7","name":"New","age":20}}`,
		`{"op":"upsert","key":"p1","record":{"id":"p1","name":"Ada Byron","age":36}}`,
		`{"op":"delete","key":"p2"}`,
		`{"op":"upsert","key":"p2","record":{"id":"p2","name":"back","age":1}}`,
		`{"op":"delete","key":"p2"}`,
		`{"op":"delete","key":"nope"}`,
	}, "\n")
	res, err := run.Push(t.Context(), ingest.Ops(strings.NewReader(body), "id", 0))
	run.Close()
	if err != nil || res.Record.Status != SyncSuccess {
		t.Fatalf("push: %+v %v", res.Record, err)
	}
	if res.Record.RecordsProcessed != 2 || res.Record.RecordsDeleted != 1 {
		t.Errorf("counts %+v", res.Record)
	}
	rows, _, _ := f.rows(t, RowsQuery{})
	if got := keysOf(rows); !slices.Equal(got, []string{"p1", "p3", "p4", "p5", "p6", "p7"}) {
		t.Errorf("rows after push %v (an updated record keeps its place, a new one goes last)", got)
	}
	if rows[0].Values[0] != "Ada Byron" {
		t.Errorf("p1 not updated: %v", rows[0].Values)
	}
}

func TestDeletingSourcesDeletesTheirRecords(t *testing.T) {
	f := newRowsFixture(t)
	// A forced source delete, then the panel (its remaining source goes with it by cascade).
	if err := testStore.DeleteDataSource(t.Context(), f.a, f.visits.ID, 0, true, stAllowDS); err != nil {
		t.Fatal(err)
	}
	if n := stCount(t, "SELECT count(*) FROM source_records WHERE data_source_id = ?", f.visits.ID); n != 0 {
		t.Errorf("records of a deleted source: %d", n)
	}
	if n := stCount(t, "SELECT count(*) FROM source_records WHERE data_source_id = ?", f.primary.ID); n != 6 {
		t.Errorf("records of the other source: %d", n)
	}
	if err := testStore.DeletePanel(t.Context(), f.a, f.panel.ID, stAllow); err != nil {
		t.Fatal(err)
	}
	if n := stCount(t, "SELECT count(*) FROM source_records WHERE data_source_id = ?", f.primary.ID); n != 0 {
		t.Errorf("records of a deleted panel's source: %d", n)
	}
}
