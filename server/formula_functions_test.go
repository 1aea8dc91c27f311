package server_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"

	client "github.com/panels/panels/clients/go"
)

// The formula functions of issue 15 over HTTP (prefix ff): a calculated column using them is 201
// and the rows answer its computed values, a row whose data does not fit is an error cell in that
// row's errors (never a 500), and a wrong arity or a statically wrong argument is 422 naming the
// function and the argument.
func TestFormulaFunctionsOverHTTP(t *testing.T) {
	c, p := flowSetup(t, "ff")
	f := &rwFixture{c: c, panel: p, cols: map[string]int64{}}
	f.source = fxDataSource(t, c, p.Id, client.DataSourceTypeFile, map[string]any{"format": "csv", "keyField": "id"})
	f.upload(t, "id,name,visit\nr1,Ada Lovelace,2026-11-27\nr2,Grace Hopper,soon\n")
	base := func(name, field string) int64 {
		r, err := c.api.CreateBaseColumnWithResponse(t.Context(), p.Id, nil, client.BaseColumnCreate{Name: name, Type: client.ColumnTypeText,
			SourceField: field, DataSourceId: f.source.Id, Properties: map[string]any{}})
		if err != nil || r.JSON201 == nil {
			t.Fatalf("create %s: %v %s", name, err, r.Body)
		}
		return r.JSON201.Id
	}
	idCol := base("Id", "id")
	base("Name", "name")
	base("Visit", "visit")
	calc := func(name, src string, typ client.ColumnType) (*client.CreateCalculatedColumnResponse, error) {
		return c.api.CreateCalculatedColumnWithResponse(t.Context(), p.Id, nil, client.CalculatedColumnCreate{Name: name, Type: typ,
			Formula: src, Properties: map[string]any{}})
	}
	want := map[string]map[string]any{} // column id -> row id -> value (nil: an error cell)
	for _, tc := range []struct {
		name, src string
		typ       client.ColumnType
		r1, r2    any
	}{
		{"Next visit", `DATETIME_FORMAT(DATEADD([Visit], 1, "month"), "dddd D MMM YYYY")`, client.ColumnTypeText, "Sunday 27 Dec 2026", nil},
		{"Working days", `WORKDAY_DIFF([Visit], "2026-12-04")`, client.ColumnTypeNumber, 6.0, nil},
		{"First name", `REGEX_EXTRACT([Name], "^\\w+")`, client.ColumnTypeText, "Ada", "Grace"},
		{"Initials", `CONCATENATE(LEFT([Name], 1), MID([Name], FIND(" ", [Name]) + 1, 1))`, client.ColumnTypeText, "AL", "GH"},
		{"Bad visit", `ISERROR(DATETIME_PARSE([Visit], "YYYY-MM-DD"))`, client.ColumnTypeBoolean, false, true},
	} {
		r, err := calc(tc.name, tc.src, tc.typ)
		if err != nil || r.StatusCode() != http.StatusCreated {
			t.Fatalf("%s: %v %d %s", tc.src, err, r.StatusCode(), r.Body)
		}
		want[strconv.FormatInt(r.JSON201.Id, 10)] = map[string]any{"r1": tc.r1, "r2": tc.r2}
	}
	page, _ := f.page(t, "limit=10")
	if len(page.Rows) != 2 {
		t.Fatalf("rows: %+v", page.Rows)
	}
	for _, row := range page.Rows {
		key := fmt.Sprint(row.Values[strconv.FormatInt(idCol, 10)])
		for col, byRow := range want {
			w := byRow[key]
			if got := row.Values[col]; got != w {
				t.Errorf("row %s column %s: %#v, want %#v", key, col, got, w)
			}
			if _, failed := row.Errors[col]; failed != (w == nil) {
				t.Errorf("row %s column %s: errors %v", key, col, row.Errors)
			}
		}
	}

	for _, tc := range []struct {
		src      string
		culprits []string
	}{
		{`LEFT([Name])`, []string{"LEFT", "expects 2 arguments, got 1"}},
		{`DATEADD([Visit], 1, "fortnights")`, []string{"DATEADD", "argument 3", "not a date unit"}},
		{`REGEX_MATCH([Name], "(")`, []string{"REGEX_MATCH", "argument 2", "invalid regular expression"}},
		{`REPT([Name], "many")`, []string{"REPT", "argument 2", "expects a number"}},
	} {
		r, err := calc("Refused", tc.src, client.ColumnTypeText)
		if err != nil {
			t.Fatal(err)
		}
		fxAssertUnprocessable(t, "create "+tc.src, r.StatusCode(), r.Body, "formula", tc.culprits...)
	}
	l, _ := c.api.ListColumnsWithResponse(t.Context(), p.Id, nil)
	if n := len(l.JSON200.CalculatedColumns); n != len(want) {
		t.Errorf("%d calculated columns after refused requests, want %d", n, len(want))
	}
}
