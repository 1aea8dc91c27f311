package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	client "github.com/panels/panels/clients/go"
)

// Bounded computation over HTTP (docs/formulas.md#limits; prefix fl): with the default limits (64 KiB of
// text, a 16 MiB growth bound, 4 MiB pages) a column past the growth bound is 422 naming the
// chain, a value past the text limit is a null cell with its row's `errors` entry, and a page
// of large values ends early with a cursor. Every answer is checked against the spec.

func flRepeat(ref string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = ref
	}
	return strings.Join(parts, "&")
}

func TestFormulaBoundsOverHTTP(t *testing.T) {
	c, p := flowSetup(t, "fl")
	f := &rwFixture{c: c, panel: p, cols: map[string]int64{}}
	f.source = fxDataSource(t, c, p.Id, client.DataSourceTypeFile, map[string]any{"format": "csv", "keyField": "id"})
	const rows = 200
	var csv strings.Builder
	csv.WriteString("id,e\n")
	for i := range rows {
		fmt.Fprintf(&csv, "r%03d,%s\n", i, strings.Repeat("x", 600))
	}
	f.upload(t, csv.String())
	r, err := c.api.CreateBaseColumnWithResponse(t.Context(), p.Id, nil, client.BaseColumnCreate{Name: "E", Type: client.ColumnTypeText,
		SourceField: "e", DataSourceId: f.source.Id, Properties: map[string]any{}})
	if err != nil || r.JSON201 == nil {
		t.Fatalf("create E: %v %s", err, r.Body)
	}
	calc := func(name, src string) (*client.Column, *http.Response, []byte) {
		r, err := c.api.CreateCalculatedColumnWithResponse(t.Context(), p.Id, nil, client.CalculatedColumnCreate{Name: name,
			Type: client.ColumnTypeText, Formula: src, Properties: map[string]any{}})
		if err != nil {
			t.Fatal(err)
		}
		return r.JSON201, r.HTTPResponse, r.Body
	}
	c1, _, body := calc("C1", flRepeat("[E]", 100)) // 60,000 bytes, within 64 KiB; bound 6.25 MiB
	if c1 == nil {
		t.Fatalf("C1: %s", body)
	}
	_, resp, body := calc("C2", flRepeat("[C1]", 100))
	var prob client.Problem
	_ = json.Unmarshal(body, &prob)
	want := "C2 → C1 → E can grow to 655360000 bytes, the limit is 16777216"
	if resp.StatusCode != http.StatusUnprocessableEntity || len(prob.Errors) != 1 || !strings.Contains(prob.Errors[0].Reason, want) {
		t.Fatalf("C2: want 422 naming %q, got %d %s", want, resp.StatusCode, body)
	}
	// Within the bound (12.5 MiB) but not the text limit: 120,000 bytes is an error cell.
	twice, _, body := calc("Twice", "[C1]&[C1]")
	if twice == nil {
		t.Fatalf("Twice: %s", body)
	}
	c1ID, twiceID := strconv.FormatInt(c1.Id, 10), strconv.FormatInt(twice.Id, 10)

	page, _ := f.page(t, "limit=1")
	if len(page.Rows) != 1 || len(page.Rows[0].Values[c1ID].(string)) != 60000 || page.Rows[0].Values[twiceID] != nil {
		t.Fatalf("first row: C1 is computed, Twice is null: %v", page.Rows)
	}
	if got := page.Rows[0].Errors[twiceID]; got != "the text would be longer than the limit of 65536 bytes" {
		t.Errorf("row errors %v", page.Rows[0].Errors)
	}
	if _, ok := page.Rows[0].Errors[c1ID]; ok {
		t.Errorf("C1 did not fail: %v", page.Rows[0].Errors)
	}
	for _, col := range page.Columns {
		if col.Id == twice.Id && col.Errors != 1 {
			t.Errorf("Twice's error count: %+v", col)
		}
	}

	// 200 rows of about 60 KB are 12 MB: pages end at the 4 MiB budget and follow on.
	seen, pages := 0, 0
	query := "limit=500"
	for {
		page, _ := f.page(t, query)
		pages++
		seen += len(page.Rows)
		if !page.HasMore {
			break
		}
		if len(page.Rows) == 0 || page.NextCursor == nil || pages > rows {
			t.Fatalf("page %d: %d rows, cursor %v", pages, len(page.Rows), page.NextCursor)
		}
		query = "limit=500&cursor=" + *page.NextCursor
	}
	if seen != rows || pages < 2 {
		t.Errorf("pages: %d rows in %d pages, want %d in at least 2", seen, pages, rows)
	}

	// The CSV export holds every row, the failed cells empty. It streams: its 12 MB go out in
	// chunks as the rows are computed, with no length known up front.
	resp, body = flowDo(t, c, "GET", fmt.Sprintf("/api/panels/%d/rows?format=csv", p.Id), nil, "")
	if resp.StatusCode != http.StatusOK || strings.Count(string(body), "\n") != rows+1 {
		t.Fatalf("csv: %d, %d lines", resp.StatusCode, strings.Count(string(body), "\n"))
	}
	if resp.ContentLength != -1 || !slices.Contains(resp.TransferEncoding, "chunked") {
		t.Errorf("csv: a streamed answer is chunked, got length %d, transfer encoding %v", resp.ContentLength, resp.TransferEncoding)
	}
}
