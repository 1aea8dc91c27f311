package server_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/oapi-codegen/nullable"

	client "github.com/panels/panels/clients/go"
	"github.com/panels/panels/server/auth"
)

// The rows endpoint end to end, as the README's tour does it: a panel, a file source synced by
// an upload, columns, a view whose filters and sorts change what comes back. The engine's
// semantics (every operator, sorts, nulls, wrong types) are covered on a hand-checked data set in
// store/rows_test.go; this file checks the HTTP contract around it (prefix rw).

const rwCSV = `id,name,age,status,email,fhir
r1,Ada Lovelace,36,active,ada@example.com,x
r2,Alan Turing,41,pending,alan@example.com,x
r3,Grace Hopper,85,inactive,grace@example.com,x
r4,Edsger Dijkstra,72,active,,x
r5,Barbara Liskov,not known,active,barbara@example.com,x
`

type rwFixture struct {
	c      *caller
	panel  client.Panel
	source client.DataSource
	cols   map[string]int64
}

func rwSetup(t *testing.T) *rwFixture {
	t.Helper()
	c, p := flowSetup(t, "rows")
	f := &rwFixture{c: c, panel: p, cols: map[string]int64{}}
	f.source = fxDataSource(t, c, p.Id, client.DataSourceTypeFile, map[string]any{"format": "csv", "keyField": "id"})
	f.upload(t, rwCSV)
	base := func(name string, typ client.ColumnType, field string) {
		r, err := c.api.CreateBaseColumnWithResponse(t.Context(), p.Id, nil, client.BaseColumnCreate{Name: name, Type: typ,
			SourceField: field, DataSourceId: f.source.Id, Properties: map[string]any{}})
		if err != nil || r.JSON201 == nil {
			t.Fatalf("create column %s: %v %s", name, err, r.Body)
		}
		f.cols[name] = r.JSON201.Id
	}
	base("Name", client.ColumnTypeText, "name")
	base("Age", client.ColumnTypeNumber, "age")
	base("Status", client.ColumnTypeSelect, "status")
	base("Email", client.ColumnTypeText, "email")
	base("Official Name", client.ColumnTypeText, "name.where(use='official').given.first()")
	r, err := c.api.CreateCalculatedColumnWithResponse(t.Context(), p.Id, nil, client.CalculatedColumnCreate{Name: "Label", Type: client.ColumnTypeText,
		Formula: `CONCAT(UPPER([Name]), " (", [Age], ")")`, Properties: map[string]any{}})
	if err != nil || r.JSON201 == nil {
		t.Fatalf("create calculated column: %v %s", err, r.Body)
	}
	f.cols["Label"] = r.JSON201.Id
	return f
}

func (f *rwFixture) upload(t *testing.T, body string) {
	t.Helper()
	resp, b := flowDo(t, f.c, "POST", fmt.Sprintf("/api/datasources/%d/upload", f.source.Id), strings.NewReader(body), "text/csv")
	if got := flowSyncAnswer(t, "upload", resp, b); got.SyncStatus != client.Success {
		t.Fatalf("upload: %+v", got)
	}
}

func (f *rwFixture) page(t *testing.T, query string) (client.PanelRows, http.Header) {
	t.Helper()
	resp, body := flowDo(t, f.c, "GET", fmt.Sprintf("/api/panels/%d/rows?%s", f.panel.Id, query), nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rows?%s: %d %s", query, resp.StatusCode, body)
	}
	var page client.PanelRows
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	return page, resp.Header
}

func rwKeys(p client.PanelRows) []string {
	out := make([]string, len(p.Rows))
	for i, r := range p.Rows {
		out[i] = r.Key
	}
	return out
}

func (f *rwFixture) view(t *testing.T, visible []string, filters []client.ViewFilterInput, sorts []client.ViewSortInput) int64 {
	t.Helper()
	if visible == nil {
		visible = []string{}
	}
	if filters == nil {
		filters = []client.ViewFilterInput{}
	}
	if sorts == nil {
		sorts = []client.ViewSortInput{}
	}
	r, err := f.c.api.CreateViewWithResponse(t.Context(), nil, client.ViewCreate{Name: "Worklist", PanelId: f.panel.Id, VisibleColumns: visible})
	if err != nil || r.JSON201 == nil {
		t.Fatalf("create view: %v %s", err, r.Body)
	}
	id := r.JSON201.Id
	if fr, err := f.c.api.ReplaceViewFiltersWithResponse(t.Context(), id, client.ViewFiltersReplace{Filters: filterItems(filters...)}); err != nil || fr.StatusCode() != 200 {
		t.Fatalf("filters: %v %s", err, fr.Body)
	}
	if sr, err := f.c.api.ReplaceViewSortsWithResponse(t.Context(), id, client.ViewSortsReplace{Sorts: sorts}); err != nil || sr.StatusCode() != 200 {
		t.Fatalf("sorts: %v %s", err, sr.Body)
	}
	return id
}

func TestRowsOfAPanel(t *testing.T) {
	f := rwSetup(t)
	page, _ := f.page(t, "")
	if got := rwKeys(page); !slices.Equal(got, []string{"r1", "r2", "r3", "r4", "r5"}) || page.HasMore || page.NextCursor != nil {
		t.Fatalf("rows %v (hasMore %v)", got, page.HasMore)
	}
	if len(page.Columns) != 6 || page.Columns[0].Name != "Name" || page.Columns[5].ColumnType != client.RowsColumnColumnTypeCalculated {
		t.Errorf("columns %+v", page.Columns)
	}
	id := func(name string) string { return strconv.FormatInt(f.cols[name], 10) }
	r1 := page.Rows[0].Values
	if r1[id("Name")] != "Ada Lovelace" || r1[id("Age")] != 36.0 || r1[id("Label")] != "ADA LOVELACE (36)" || r1[id("Official Name")] != nil {
		t.Errorf("row r1: %v", r1)
	}
	if r4 := page.Rows[3].Values; r4[id("Email")] != nil {
		t.Errorf("an empty CSV field is null: %v", r4)
	}
	errs := map[string]int{}
	for _, c := range page.Columns {
		errs[c.Name] = c.Errors
	}
	// "not known" is no number; the FHIRPath source field is not a path (every row).
	if errs["Age"] != 1 || errs["Official Name"] != 5 || errs["Name"] != 0 || errs["Label"] != 0 {
		t.Errorf("column errors %v", errs)
	}

	// A view: its filters and sorts change what comes back; only its visible columns return.
	view := f.view(t, []string{"Label", id("Age")},
		[]client.ViewFilterInput{{ColumnName: "Status", Operator: client.FilterOperatorIn, Value: nullable.NewNullableWithValue[any]([]any{"active", "pending"})},
			{ColumnName: "Age", Operator: client.FilterOperatorGte, Value: nullable.NewNullableWithValue[any](40)}},
		[]client.ViewSortInput{{ColumnName: "Age", Direction: client.Desc, Order: 0}})
	page, _ = f.page(t, fmt.Sprintf("viewId=%d", view))
	if got := rwKeys(page); !slices.Equal(got, []string{"r4", "r2"}) {
		t.Errorf("view rows %v, want r4, r2", got)
	}
	if len(page.Columns) != 2 || page.Columns[0].Name != "Label" || page.Columns[1].Name != "Age" || len(page.Rows[0].Values) != 2 {
		t.Errorf("view columns %+v %v", page.Columns, page.Rows[0].Values)
	}
	// The cohort rule applies too (a dotted path into the records here).
	rule := client.CohortRule{Logic: client.AND, Conditions: []client.CohortCondition{{Field: "status", Operator: client.CohortOperatorEq}}}
	rule.Conditions[0].Value.Set("pending")
	if r, err := f.c.api.UpdatePanelWithResponse(t.Context(), f.panel.Id, nil, client.PanelUpdate{CohortRule: &rule}); err != nil || r.StatusCode() != 200 {
		t.Fatalf("cohort: %v %s", err, r.Body)
	}
	page, _ = f.page(t, fmt.Sprintf("viewId=%d", view))
	if got := rwKeys(page); !slices.Equal(got, []string{"r2"}) {
		t.Errorf("rows with the cohort rule %v", got)
	}

	// CSV: every row, streamed, with the view's columns.
	resp, body := flowDo(t, f.c, "GET", fmt.Sprintf("/api/panels/%d/rows?format=csv&limit=1", f.panel.Id), nil, "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", resp.StatusCode, body)
	}
	lines, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || len(lines) != 2 || lines[0][0] != "Name" || lines[1][0] != "Alan Turing" || lines[1][1] != "41" {
		t.Errorf("csv %q %v", body, err)
	}
	resp, body = flowDo(t, f.c, "GET", fmt.Sprintf("/api/panels/%d/rows?format=csv&viewId=%d", f.panel.Id, view), nil, "")
	if resp.StatusCode != 200 || string(body) != "Label,Age\nALAN TURING (41),41\n" {
		t.Errorf("csv of the view: %d %q", resp.StatusCode, body)
	}
	// rows.csv answers exactly what the deprecated format=csv does, under a path typed as CSV.
	for _, query := range []string{"", fmt.Sprintf("?viewId=%d", view)} {
		_, old := flowDo(t, f.c, "GET", fmt.Sprintf("/api/panels/%d/rows?format=csv&%s", f.panel.Id, strings.TrimPrefix(query, "?")), nil, "")
		resp, body = flowDo(t, f.c, "GET", fmt.Sprintf("/api/panels/%d/rows.csv%s", f.panel.Id, query), nil, "")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || string(body) != string(old) {
			t.Errorf("rows.csv%s: %d %q, want %q", query, resp.StatusCode, body, old)
		}
	}
}

// TestRowsPagination: pages without duplicates or gaps; a re-sync replaces the records a cursor
// was issued on, and the cursor answers 410 until the client starts again.
func TestRowsPagination(t *testing.T) {
	f := rwSetup(t)
	view := f.view(t, nil, nil, []client.ViewSortInput{{ColumnName: "Name", Direction: client.Asc, Order: 0}})
	var all []string
	query := fmt.Sprintf("viewId=%d&limit=2", view)
	for i := 0; ; i++ {
		page, h := f.page(t, query)
		all = append(all, rwKeys(page)...)
		if !page.HasMore {
			if h.Get("Link") != "" || page.NextCursor != nil {
				t.Errorf("last page announces another")
			}
			break
		}
		link := h.Get("Link")
		if page.NextCursor == nil || !strings.Contains(link, url.QueryEscape(*page.NextCursor)) || !strings.Contains(link, "viewId=") {
			t.Fatalf("page %d: cursor %v, Link %q", i, page.NextCursor, link)
		}
		query = fmt.Sprintf("viewId=%d&limit=2&cursor=%s", view, url.QueryEscape(*page.NextCursor))
		if i > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if want := []string{"r1", "r2", "r5", "r4", "r3"}; !slices.Equal(all, want) {
		t.Errorf("pages %v, want %v", all, want)
	}

	first, _ := f.page(t, fmt.Sprintf("viewId=%d&limit=2", view))
	next := fmt.Sprintf("viewId=%d&limit=2&cursor=%s", view, url.QueryEscape(*first.NextCursor))
	f.upload(t, rwCSV+"r6,Zed,1,active,z@example.com,x\n")
	resp, body := flowDo(t, f.c, "GET", fmt.Sprintf("/api/panels/%d/rows?%s", f.panel.Id, next), nil, "")
	if resp.StatusCode != http.StatusGone || !strings.Contains(fxProblem(t, body).Message, "start again") {
		t.Errorf("cursor after a re-sync: %d %s", resp.StatusCode, body)
	}
	page, _ := f.page(t, fmt.Sprintf("viewId=%d&limit=10", view))
	if len(page.Rows) != 6 {
		t.Errorf("rows after the re-sync: %v", rwKeys(page))
	}

	// Cursors are bound to their panel and view, and must be cursors.
	for _, q := range []string{
		"cursor=" + url.QueryEscape(*first.NextCursor),
		fmt.Sprintf("viewId=%d&cursor=bm9wZQ", view),
	} {
		resp, body := flowDo(t, f.c, "GET", fmt.Sprintf("/api/panels/%d/rows?%s", f.panel.Id, q), nil, "")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("rows?%s: %d %s", q, resp.StatusCode, body)
		}
	}
}

func TestRowsRefusals(t *testing.T) {
	f := rwSetup(t)
	other := fxPanel(t, f.c, "other")
	r, err := f.c.api.CreateViewWithResponse(t.Context(), nil, client.ViewCreate{Name: "Elsewhere", PanelId: other.Id, VisibleColumns: []string{}})
	if err != nil || r.JSON201 == nil {
		t.Fatal(err)
	}
	outsider := flowCaller(t, newTenant("rows-out"), "x", auth.RoleAdmin)
	type refusal struct {
		name   string
		c      *caller
		query  string
		panel  int64
		status int
	}
	cases := []refusal{
		{"a view of another panel", f.c, fmt.Sprintf("viewId=%d", r.JSON201.Id), f.panel.Id, 422},
		{"an unknown view", f.c, "viewId=999999999", f.panel.Id, 404},
		{"an unknown panel", f.c, "", 999999999, 404},
		{"another tenant's panel", outsider, "", f.panel.Id, 404},
		{"a bad format", f.c, "format=xml", f.panel.Id, 400},
		{"a limit out of range", f.c, "limit=0", f.panel.Id, 400},
	}
	for _, tc := range cases {
		resp, body := flowDo(t, tc.c, "GET", fmt.Sprintf("/api/panels/%d/rows?%s", tc.panel, tc.query), nil, "")
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.name, resp.StatusCode, tc.status, body)
		}
	}
	// The CSV export refuses the same way (it takes no format, limit or cursor).
	for _, tc := range append(cases[:4:4],
		refusal{"a view id that is not a number", f.c, "viewId=abc", f.panel.Id, 400},
		refusal{"another tenant asserted", f.c, "tenantId=someone-else", f.panel.Id, 403}) {
		resp, body := flowDo(t, tc.c, "GET", fmt.Sprintf("/api/panels/%d/rows.csv?%s", tc.panel, tc.query), nil, "")
		if resp.StatusCode != tc.status {
			t.Errorf("rows.csv, %s: %d, want %d: %s", tc.name, resp.StatusCode, tc.status, body)
		}
	}
	// A panel without data sources has no rows, but its columns.
	page, _ := (&rwFixture{c: f.c, panel: other}).page(t, "")
	if len(page.Rows) != 0 || page.HasMore {
		t.Errorf("rows of a panel without sources: %+v", page)
	}
}

// TestRowsCSVNeutralizesFormulas: text a spreadsheet would run as a formula is exported with a
// leading ', numbers are not.
func TestRowsCSVNeutralizesFormulas(t *testing.T) {
	f := rwSetup(t)
	f.upload(t, `id,name,age,status,email,fhir
r1,"=HYPERLINK(""http://evil.example"",""x"")",-5,active,@evil,x
r2,+1 555 0100,41,pending,-2+3,x
`)
	resp, body := flowDo(t, f.c, "GET", fmt.Sprintf("/api/panels/%d/rows?format=csv", f.panel.Id), nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("csv: %d %s", resp.StatusCode, body)
	}
	lines, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || len(lines) != 3 {
		t.Fatalf("csv %q %v", body, err)
	}
	col := map[string]int{}
	for i, name := range lines[0] {
		col[name] = i
	}
	want := map[string][2]string{ // column: r1's cell, r2's cell
		"Name":  {`'=HYPERLINK("http://evil.example","x")`, "'+1 555 0100"},
		"Age":   {"-5", "41"},
		"Email": {"'@evil", "'-2+3"},
	}
	for name, cells := range want {
		for r, cell := range cells {
			if got := lines[1+r][col[name]]; got != cell {
				t.Errorf("%s of r%d: %q, want %q", name, r+1, got, cell)
			}
		}
	}
}
