package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/oapi-codegen/nullable"

	client "github.com/panels/panels/clients/go"
)

// Number cells no float64 holds, through the API: texts that overflow PostgreSQL's numeric
// ("1e999999" made every pushed filter, sort and group count on the column a 500) and a
// calculated column over them. Each answer is a 200 that the spec validates, and pages join up.
func TestRowsNumberEdgesHTTP(t *testing.T) {
	f := rwSetup(t)
	f.upload(t, "id,name,age,status,email,fhir\n"+
		"r1,Ada,1e999999,active,a@example.com,x\n"+
		"r2,Alan,-1e-400,active,b@example.com,x\n"+
		"r3,Grace,1.7976931348623157e308,active,c@example.com,x\n"+
		"r4,Edsger,41,active,d@example.com,x\n"+
		"r5,Barbara,\"\v5\",active,e@example.com,x\n"+
		"r6,Donald,0.1000000000000000001,active,f@example.com,x\n"+
		"r7,Frances,0.1,active,g@example.com,x\n")
	r, err := f.c.api.CreateCalculatedColumnWithResponse(t.Context(), f.panel.Id, nil, client.CalculatedColumnCreate{Name: "Twice", Type: client.ColumnTypeNumber,
		Formula: `[Age] * 2 + 1`, Properties: map[string]any{}})
	if err != nil || r.JSON201 == nil {
		t.Fatalf("create calculated column: %v %s", err, r.Body)
	}
	for _, col := range []string{"Age", "Twice"} {
		view := f.view(t, []string{"Name", "Age", "Twice"}, []client.ViewFilterInput{
			{ColumnName: col, Operator: client.FilterOperatorGt, Value: nullable.NewNullableWithValue[any](0)}},
			[]client.ViewSortInput{{ColumnName: col, Direction: client.Desc}})
		var keys []string
		query := fmt.Sprintf("viewId=%d&limit=1", view)
		for range 10 {
			page, _ := f.page(t, query)
			keys = append(keys, rwKeys(page)...)
			if page.NextCursor == nil {
				break
			}
			query = fmt.Sprintf("viewId=%d&limit=1&cursor=%s", view, url.QueryEscape(*page.NextCursor))
		}
		// r3 doubles past float64's range: Twice has no number there; r2's -0 gives it 1. 0.1
		// and 0.1000000000000000001 are one number, in source order.
		want := []string{"r3", "r4", "r6", "r7"}
		if col == "Twice" {
			want = []string{"r4", "r6", "r7", "r2"}
		}
		if !slices.Equal(keys, want) {
			t.Errorf("%s > 0 by %s descending, a row a page: %v, want %v", col, col, keys, want)
		}
		resp, body := flowDo(t, f.c, "GET", fmt.Sprintf("/api/panels/%d/rows/groups?viewId=%d&by=%s", f.panel.Id, view, col), nil, "")
		var groups client.RowGroups
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &groups) != nil || groups.Total != int64(len(want)) || len(groups.Groups) != len(want)-1 {
			t.Errorf("groups by %s: %d %s", col, resp.StatusCode, body)
		}
	}
}
