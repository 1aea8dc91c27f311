package server_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
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

var rateLimitHeaders = []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}

// TestRateLimitHeadersOnEveryAnswer: the rate limiter's headers come with every answer to an
// authenticated /api request, whatever wrote it (a handler's success or error, a 304, the cache, an
// idempotent replay, the gate's own refusals, an event stream), with values the limiter could have
// sent; an answer that never reached the limiter (401) has none, as the spec's descriptions say.
func TestRateLimitHeadersOnEveryAnswer(t *testing.T) {
	f := newNegFixture(t, newTenant("ratelimit-headers"))
	plain := token(t, f.tenant, "plain-"+f.tenant, "plain@"+f.tenant+".example", auth.RoleUser)
	_, panelAnswer := raw(t, "GET", f.panelPath, f.owner, nil, nil)
	resp, _ := raw(t, "GET", f.panelPath, f.owner, nil, nil)
	panelETag := resp.Header.Get("ETag")
	if panelETag == "" {
		t.Fatalf("GET %s: no ETag (%s)", f.panelPath, panelAnswer)
	}
	idem := map[string]string{"Content-Type": "application/json", "Idempotency-Key": "rl-headers-" + f.tenant}
	for _, c := range []struct {
		name, method, path, tok, body string
		headers                       map[string]string
		status                        int
	}{
		{"list", "GET", "/api/panels", f.owner, "", nil, 200},
		{"list again (the cache's answer)", "GET", "/api/panels", f.owner, "", nil, 200},
		{"create", "POST", "/api/panels", f.owner, `{"name":"rl"}`, idem, 201},
		{"create again (the recorded answer)", "POST", "/api/panels", f.owner, `{"name":"rl"}`, idem, 201},
		{"not modified", "GET", f.panelPath, f.owner, "", map[string]string{"If-None-Match": panelETag}, 304},
		{"delete", "DELETE", fmt.Sprintf("/api/datasources/%d", f.spare1), f.owner, "", nil, 204},
		{"event stream", "GET", "/api/events", f.owner, "", nil, 200},
		{"bad query (the gate's 400)", "GET", "/api/panels?limit=-1", f.owner, "", nil, 400},
		{"forbidden", "POST", "/api/panels", plain, `{"name":"no"}`, jsonCT, 403},
		{"not found", "GET", "/api/panels/999999999", f.owner, "", nil, 404},
		{"precondition failed", "PUT", f.panelPath, f.owner, `{"name":"x"}`, map[string]string{"Content-Type": "application/json", "If-Match": `"stale"`}, 412},
		{"unsupported media type", "POST", "/api/panels", f.owner, `{"name":"x"}`, map[string]string{"Content-Type": "text/plain"}, 415},
		{"unprocessable", "POST", f.panelPath + "/columns/calculated", f.owner, `{"name":"Bad","type":"text","formula":"[Nope]","properties":{}}`, jsonCT, 422},
	} {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		resp, b := raw(t, c.method, c.path, c.tok, body, c.headers)
		if resp.StatusCode != c.status {
			t.Errorf("%s: %s %s answered %d, want %d: %.300s", c.name, c.method, c.path, resp.StatusCode, c.status, b)
			continue
		}
		checkRateLimitHeaders(t, c.name, resp.Header)
	}
	resp, _ = raw(t, "GET", "/api/panels", "", nil, nil)
	for _, h := range rateLimitHeaders {
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get(h) != "" {
			t.Errorf("without a token: %d with %s %q; want 401 without it", resp.StatusCode, h, resp.Header.Get(h))
		}
	}
}

// checkRateLimitHeaders wants the three headers as integers with 0 <= remaining <= limit.
func checkRateLimitHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	vals := map[string]int{}
	for _, name := range rateLimitHeaders {
		v := h.Values(name)
		n, err := strconv.Atoi(strings.Join(v, ","))
		if len(v) != 1 || err != nil || n < 0 {
			t.Errorf("%s: %s is %q, want one integer >= 0", what, name, v)
			return
		}
		vals[name] = n
	}
	if vals["RateLimit-Limit"] < 1 || vals["RateLimit-Remaining"] > vals["RateLimit-Limit"] {
		t.Errorf("%s: limit %d, remaining %d", what, vals["RateLimit-Limit"], vals["RateLimit-Remaining"])
	}
}

// TestSpecDocumentsRateLimitAndDefault: every response of every /api operation documents the three
// RateLimit headers, and every operation has a problem+json default response (the 500s).
func TestSpecDocumentsRateLimitAndDefault(t *testing.T) {
	ops := 0
	for path, item := range env.doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops++
			def := op.Responses.Default()
			if def == nil || def.Value == nil {
				t.Errorf("%s %s (%s): no default response", method, path, op.OperationID)
			} else if mt := def.Value.Content.Get("application/problem+json"); mt == nil || mt.Schema == nil || mt.Schema.Ref != "#/components/schemas/Problem" {
				t.Errorf("%s %s (%s): the default response is not a problem+json Problem", method, path, op.OperationID)
			}
			if !strings.HasPrefix(path, "/api/") {
				continue
			}
			for status, r := range op.Responses.Map() {
				for _, name := range rateLimitHeaders {
					if hr := r.Value.Headers[name]; hr == nil || hr.Value == nil || hr.Value.Schema == nil || hr.Value.Schema.Value.Type.Is("integer") == false {
						t.Errorf("%s %s (%s): response %s does not document %s", method, path, op.OperationID, status, name)
					}
				}
			}
		}
	}
	if ops < 50 {
		t.Fatalf("only %d operations in the spec", ops)
	}
}
