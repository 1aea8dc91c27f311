package server_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/oapi-codegen/nullable"

	client "github.com/panels/panels/clients/go"
)

// filterItems wraps plain filters as items of a filter list (which may also hold groups).
func filterItems(fs ...client.ViewFilterInput) []client.ViewFilterInputItem {
	out := make([]client.ViewFilterInputItem, len(fs))
	for i, f := range fs {
		if err := out[i].FromViewFilterInput(f); err != nil {
			panic(err)
		}
	}
	return out
}

// Nested filter groups over HTTP: the tree is saved and read back as sent (filterItems), the
// released flat form (filters) stays as it was for flat lists and is empty for a tree, and the
// rows follow the tree. Bad trees are refused and change nothing.
func TestViewFilterGroupsHTTP(t *testing.T) {
	f := rwSetup(t)
	// A flat list through today's client: filters and filterItems say the same.
	flat := f.view(t, nil, []client.ViewFilterInput{
		{ColumnName: "Status", Operator: client.FilterOperatorEq, Value: nullable.NewNullableWithValue[any]("active")},
		{ColumnName: "Age", Operator: client.FilterOperatorGt, Value: nullable.NewNullableWithValue[any](80), LogicalOperator: ptr(client.Or)},
	}, nil)
	got, err := f.c.api.GetViewFiltersWithResponse(t.Context(), flat, nil)
	if err != nil || got.JSON200 == nil || len(got.JSON200.Filters) != 2 || len(got.JSON200.FilterItems) != 2 ||
		got.JSON200.FilterItems[1].LogicalOperator != client.Or || got.JSON200.Filters[1].LogicalOperator != client.Or {
		t.Fatalf("flat filters: %v %s", err, got.Body)
	}
	page, _ := f.page(t, fmt.Sprintf("viewId=%d", flat))
	if keys := rwKeys(page); !slices.Equal(keys, []string{"r1", "r3", "r4", "r5"}) {
		t.Errorf("flat rows %v", keys)
	}

	// Status = active AND (Age > 70 OR Name contains "ada"), sent as JSON the way any client would.
	tree := f.view(t, nil, nil, nil)
	body := `{"filters":[{"columnName":"Status","operator":"eq","value":"active"},
		{"conjunction":"or","filters":[{"columnName":"Age","operator":"gt","value":70},{"columnName":"Name","operator":"contains","value":"ADA"}]}]}`
	resp, b := flowDo(t, f.c, "PUT", fmt.Sprintf("/api/views/%d/filters", tree), strings.NewReader(body), "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("tree: %d %s", resp.StatusCode, b)
	}
	var list client.ViewFilterList
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Filters) != 0 || len(list.FilterItems) != 2 || list.FilterItems[1].Operator != client.ViewFilterItemOperatorGroup ||
		list.FilterItems[1].Conjunction == nil || *list.FilterItems[1].Conjunction != client.Or || len(list.FilterItems[1].Filters) != 2 ||
		list.FilterItems[1].Filters[1].ColumnName != "Name" {
		t.Fatalf("saved tree %s", b)
	}
	v, err := f.c.api.GetViewWithResponse(t.Context(), tree, nil)
	if err != nil || v.JSON200 == nil || len(v.JSON200.FilterItems) != 2 || len(v.JSON200.Filters) != 0 {
		t.Fatalf("view: %v %s", err, v.Body)
	}
	page, _ = f.page(t, fmt.Sprintf("viewId=%d", tree))
	if keys := rwKeys(page); !slices.Equal(keys, []string{"r1", "r4"}) {
		t.Errorf("tree rows %v, want r1, r4", keys)
	}

	for name, bad := range map[string]struct {
		body   string
		status int
	}{
		"four levels":               {`{"filters":[{"conjunction":"and","filters":[{"conjunction":"or","filters":[{"conjunction":"and","filters":[{"conjunction":"or","filters":[{"columnName":"Age","operator":"gt","value":1}]}]}]}]}]}`, http.StatusUnprocessableEntity},
		"unknown column in a group": {`{"filters":[{"conjunction":"and","filters":[{"columnName":"Nope","operator":"eq","value":1}]}]}`, http.StatusUnprocessableEntity},
		"bad value in a group":      {`{"filters":[{"conjunction":"and","filters":[{"columnName":"Age","operator":"between","value":1}]}]}`, http.StatusUnprocessableEntity},
		"a group with a column":     {`{"filters":[{"conjunction":"and","columnName":"Age","filters":[]}]}`, http.StatusBadRequest},
		"an unknown conjunction":    {`{"filters":[{"conjunction":"xor","filters":[]}]}`, http.StatusBadRequest},
	} {
		resp, b := flowDo(t, f.c, "PUT", fmt.Sprintf("/api/views/%d/filters", tree), strings.NewReader(bad.body), "application/json")
		if resp.StatusCode != bad.status {
			t.Errorf("%s: %d %s, want %d", name, resp.StatusCode, b, bad.status)
		}
	}
	after, err := f.c.api.GetViewFiltersWithResponse(t.Context(), tree, nil)
	if err != nil || after.JSON200 == nil || len(after.JSON200.FilterItems) != 2 || after.JSON200.FilterItems[0].Id != list.FilterItems[0].Id {
		t.Fatalf("refused trees changed the filters: %v %s", err, after.Body)
	}
}

// Cohort groups over HTTP, and the old {logic, conditions} form answering exactly as before: the
// panel reads back byte-for-byte the rule that was sent (no groups key), and the rows are the ones
// the rule selected before groups existed.
func TestCohortGroupsHTTPAndOldForm(t *testing.T) {
	f := rwSetup(t)
	put := func(body string) (*http.Response, []byte) {
		return flowDo(t, f.c, "PUT", fmt.Sprintf("/api/panels/%d", f.panel.Id), strings.NewReader(body), "application/json")
	}
	old := `{"logic":"OR","conditions":[{"field":"status","operator":"eq","value":"pending"},{"field":"Age","operator":"gt","value":80}]}`
	if resp, b := put(`{"cohortRule":` + old + `}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("old form: %d %s", resp.StatusCode, b)
	}
	resp, b := flowDo(t, f.c, "GET", fmt.Sprintf("/api/panels/%d", f.panel.Id), nil, "")
	var got struct {
		CohortRule json.RawMessage `json:"cohortRule"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &got) != nil || !sameJSON(got.CohortRule, old) {
		t.Fatalf("old form read back: %d %s", resp.StatusCode, got.CohortRule)
	}
	page, _ := f.page(t, "")
	if keys := rwKeys(page); !slices.Equal(keys, []string{"r2", "r3"}) {
		t.Errorf("old form rows %v", keys)
	}

	// active AND (Age > 70 OR name contains nothing: a path equal to "Ada Lovelace").
	grouped := `{"logic":"AND","conditions":[{"field":"status","operator":"eq","value":"active"}],` +
		`"groups":[{"conjunction":"or","conditions":[{"field":"Age","operator":"gt","value":70},{"field":"name","operator":"eq","value":"Ada Lovelace"}]}]}`
	if resp, b := put(`{"cohortRule":` + grouped + `}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("groups: %d %s", resp.StatusCode, b)
	}
	resp, b = flowDo(t, f.c, "GET", fmt.Sprintf("/api/panels/%d", f.panel.Id), nil, "")
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &got) != nil || !sameJSON(got.CohortRule, grouped) {
		t.Fatalf("groups read back: %d %s", resp.StatusCode, got.CohortRule)
	}
	page, _ = f.page(t, "")
	if keys := rwKeys(page); !slices.Equal(keys, []string{"r1", "r4"}) {
		t.Errorf("grouped rows %v, want r1, r4", keys)
	}
	deep := `{"cohortRule":{"logic":"AND","conditions":[],"groups":[{"conjunction":"and","conditions":[],"groups":[{"conjunction":"or","conditions":[],` +
		`"groups":[{"conjunction":"and","conditions":[],"groups":[{"conjunction":"or","conditions":[]}]}]}]}]}}`
	if resp, b := put(deep); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("four levels: %d %s", resp.StatusCode, b)
	}
	if resp, b := put(`{"cohortRule":{"logic":"AND","conditions":[],"groups":[{"conjunction":"xor","conditions":[]}]}}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown conjunction: %d %s", resp.StatusCode, b)
	}
	resp, b = flowDo(t, f.c, "GET", fmt.Sprintf("/api/panels/%d", f.panel.Id), nil, "")
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &got) != nil || !sameJSON(got.CohortRule, grouped) {
		t.Errorf("refused rules changed the panel: %d %s", resp.StatusCode, got.CohortRule)
	}
}

// sameJSON compares two JSON texts as values (key order aside).
func sameJSON(a json.RawMessage, b string) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}

// A new operator over HTTP: saved and read back in filterItems (the released flat list cannot
// name it, so filters is empty); a value that does not fit it is a 422 problem.
func TestNewFilterOperatorsHTTP(t *testing.T) {
	f := rwSetup(t)
	id := f.view(t, nil, nil, nil)
	put := func(body string) (*http.Response, []byte) {
		return flowDo(t, f.c, "PUT", fmt.Sprintf("/api/views/%d/filters", id), strings.NewReader(body), "application/json")
	}
	resp, b := put(`{"filters":[{"columnName":"Name","operator":"containsAny","value":["ADA","grace"]},{"columnName":"Email","operator":"isNotEmpty"}]}`)
	var list client.ViewFilterList
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &list) != nil || len(list.Filters) != 0 || len(list.FilterItems) != 2 ||
		list.FilterItems[0].Operator != client.ViewFilterItemOperatorContainsAny {
		t.Fatalf("containsAny: %d %s", resp.StatusCode, b)
	}
	page, _ := f.page(t, fmt.Sprintf("viewId=%d", id))
	if keys := rwKeys(page); !slices.Equal(keys, []string{"r1", "r3"}) {
		t.Errorf("rows %v, want r1, r3", keys)
	}
	for _, bad := range []string{
		`{"filters":[{"columnName":"Name","operator":"containsAny","value":"ADA"}]}`,
		`{"filters":[{"columnName":"Name","operator":"isWithin","value":{"mode":"pastNumberOfDays"}}]}`,
		`{"filters":[{"columnName":"Name","operator":"before","value":"soon"}]}`,
		`{"filters":[{"columnName":"Name","operator":"isEmpty","value":1}]}`,
	} {
		if resp, b := put(bad); resp.StatusCode != http.StatusUnprocessableEntity || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: %d %s", bad, resp.StatusCode, b)
		}
	}
	if resp, b := put(`{"filters":[{"columnName":"Name","operator":"group","value":1}]}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("group as a filter operator: %d %s", resp.StatusCode, b)
	}
}

// search on the rows page and the CSV export, with a view's filters; an over-long search is a 400.
func TestRowsSearchHTTP(t *testing.T) {
	f := rwSetup(t)
	page, _ := f.page(t, "search=LOVE")
	if keys := rwKeys(page); !slices.Equal(keys, []string{"r1"}) {
		t.Errorf("search rows %v", keys)
	}
	view := f.view(t, []string{"Name", "Email"}, []client.ViewFilterInput{
		{ColumnName: "Status", Operator: client.FilterOperatorEq, Value: nullable.NewNullableWithValue[any]("active")}}, nil)
	page, _ = f.page(t, fmt.Sprintf("viewId=%d&search=%s", view, url.QueryEscape("example.COM")))
	if keys := rwKeys(page); !slices.Equal(keys, []string{"r1", "r5"}) {
		t.Errorf("search with the view %v, want r1, r5", keys)
	}
	resp, body := flowDo(t, f.c, "GET", fmt.Sprintf("/api/panels/%d/rows.csv?viewId=%d&search=liskov", f.panel.Id, view), nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("csv: %d %s", resp.StatusCode, body)
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || len(recs) != 2 || recs[1][0] != "Barbara Liskov" {
		t.Errorf("csv search: %v %q", err, body)
	}
	resp, body = flowDo(t, f.c, "GET", fmt.Sprintf("/api/panels/%d/rows?search=%s", f.panel.Id, strings.Repeat("x", 201)), nil, "")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("long search: %d %s", resp.StatusCode, body)
	}
}

// Group counts over HTTP: with a view's filters and a search; a column the view hides is a 422,
// a missing by a 400.
func TestRowGroupsHTTP(t *testing.T) {
	f := rwSetup(t)
	get := func(query string) (*http.Response, client.RowGroups) {
		resp, b := flowDo(t, f.c, "GET", fmt.Sprintf("/api/panels/%d/rows/groups?%s", f.panel.Id, query), nil, "")
		var g client.RowGroups
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(b, &g); err != nil {
				t.Fatal(err)
			}
		}
		return resp, g
	}
	resp, g := get("by=Status")
	if resp.StatusCode != http.StatusOK || g.Total != 5 || g.TotalCapped || len(g.Groups) != 3 ||
		g.Groups[0].Value.MustGet() != "active" || g.Groups[0].Count != 3 {
		t.Fatalf("by Status: %d %+v", resp.StatusCode, g)
	}
	view := f.view(t, []string{"Name", "Status"}, []client.ViewFilterInput{
		{ColumnName: "Age", Operator: client.FilterOperatorGt, Value: nullable.NewNullableWithValue[any](40)}}, nil)
	resp, g = get(fmt.Sprintf("by=Status&viewId=%d&search=a", view))
	if resp.StatusCode != http.StatusOK || g.Total != 3 || len(g.Groups) != 3 || g.Groups[0].Value.MustGet() != "active" || g.Groups[2].Value.MustGet() != "pending" {
		t.Errorf("through the view: %d %+v", resp.StatusCode, g)
	}
	if resp, _ := get(fmt.Sprintf("by=Email&viewId=%d", view)); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("a hidden column: %d", resp.StatusCode)
	}
	if resp, _ := get("viewId=1"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("no by: %d", resp.StatusCode)
	}
}
