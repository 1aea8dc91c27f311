package server_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	client "github.com/panels/panels/clients/go"
	"github.com/panels/panels/server/auth"
)

// uploadMediaTypes are the media types uploadDataSourceFile reads (sync.go's uploadFormat), each
// with a body in its format; octet-stream and a missing Content-Type are read as the source's
// configured format (csv here).
var uploadMediaTypes = []struct {
	contentType string // "" sends no Content-Type at all
	body        func(keys ...string) string
}{
	{"text/csv", csvRecords},
	{"application/json", func(keys ...string) string {
		recs := make([]string, len(keys))
		for i, k := range keys {
			recs[i] = fmt.Sprintf(`{"id":%q,"name":"n"}`, k)
		}
		return "[" + strings.Join(recs, ",") + "]"
	}},
	{"application/x-ndjson", ndjsonRecords},
	{"application/ndjson", ndjsonRecords},
	{"application/jsonl", ndjsonRecords},
	{"application/octet-stream", csvRecords},
	{"", csvRecords},
}

func csvRecords(keys ...string) string {
	var b strings.Builder
	b.WriteString("id,name\n")
	for _, k := range keys {
		b.WriteString(k + ",n\n")
	}
	return b.String()
}

func ndjsonRecords(keys ...string) string {
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "{\"id\":%q,\"name\":\"n\"}\n", k)
	}
	return b.String()
}

// TestUploadMediaTypes: the spec lists each media type the upload reads (no `*/*`); each one
// uploads through the generated Go client (or with no Content-Type at all), and any other type,
// `*/*` included, is a 415 problem+json that changes neither the records nor the sync history.
func TestUploadMediaTypes(t *testing.T) {
	c := newCaller(t, newTenant("upload-types"), "owner", auth.RoleBuilder)
	p := fxPanel(t, c, "upload types")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeFile, map[string]any{"format": "csv", "keyField": "id"})
	path := fmt.Sprintf("/api/datasources/%d/upload", ds.Id)

	declared := env.doc.Paths.Find("/api/datasources/{dataSourceId}/upload").Post.RequestBody.Value.Content
	var want []string
	for _, mt := range uploadMediaTypes {
		if mt.contentType != "" {
			want = append(want, mt.contentType)
		}
	}
	var got []string
	for ct := range declared {
		got = append(got, ct)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the spec declares the upload's media types %v, want %v", got, want)
	}

	keysNow := func() string {
		t.Helper()
		r, err := c.api.GetPanelRowsWithResponse(t.Context(), p.Id, &client.GetPanelRowsParams{})
		if err != nil || r.JSON200 == nil {
			t.Fatalf("rows: %v %d %s", err, fxStatus(r.HTTPResponse), r.Body)
		}
		keys := make([]string, len(r.JSON200.Rows))
		for i, row := range r.JSON200.Rows {
			keys[i] = row.Key
		}
		return strings.Join(keys, ",")
	}
	syncCount := func() int {
		t.Helper()
		r, err := c.api.ListDataSourceSyncsWithResponse(t.Context(), ds.Id, &client.ListDataSourceSyncsParams{})
		if err != nil || r.JSON200 == nil {
			t.Fatalf("syncs: %v %d %s", err, fxStatus(r.HTTPResponse), r.Body)
		}
		return r.JSON200.Total
	}

	for i, mt := range uploadMediaTypes {
		keys := []string{fmt.Sprintf("t%da", i), fmt.Sprintf("t%db", i)}
		body := mt.body(keys...)
		var status int
		var answer []byte
		if mt.contentType == "" {
			resp, b := raw(t, "POST", path, c.token, []byte(body), nil)
			status, answer = resp.StatusCode, b
		} else {
			r, err := c.api.UploadDataSourceFileWithBodyWithResponse(t.Context(), ds.Id, mt.contentType, strings.NewReader(body))
			if err != nil {
				t.Fatalf("upload %s: %v", mt.contentType, err)
			}
			status, answer = r.StatusCode(), r.Body
			if r.JSON200 != nil && (r.JSON200.SyncStatus != client.Success || r.JSON200.RecordsProcessed != 2) {
				t.Errorf("upload %s: %+v", mt.contentType, *r.JSON200)
			}
		}
		if status != http.StatusOK {
			t.Errorf("upload %q: %d %s", mt.contentType, status, answer)
			continue
		}
		if got := keysNow(); got != strings.Join(keys, ",") {
			t.Errorf("rows after the %q upload: %s, want %s", mt.contentType, got, strings.Join(keys, ","))
		}
	}

	before, syncsBefore := keysNow(), syncCount()
	for _, ct := range []string{"*/*", "text/plain", "image/png", "application/xml", "text/*", "not a media type"} {
		resp, b := raw(t, "POST", path, c.token, []byte(csvRecords("refused")), map[string]string{"Content-Type": ct})
		if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("upload as %q: %d %s %s, want 415 problem+json", ct, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
	if after := keysNow(); after != before {
		t.Errorf("refused uploads changed the records: %s, then %s", before, after)
	}
	if after := syncCount(); after != syncsBefore {
		t.Errorf("refused uploads were recorded as syncs: %d, then %d", syncsBefore, after)
	}
}
