package server_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/panels/panels/server/auth"
)

// Input PostgreSQL cannot store is refused before anything is written.

// wantNULRefused checks a 400 problem that names field, and that the tenant's rows did not change.
func wantNULRefused(t *testing.T, what string, resp *http.Response, body []byte, field string) {
	t.Helper()
	p := wantProblem(t, what, resp, body, http.StatusBadRequest)
	if resp.StatusCode == http.StatusBadRequest && !slices.Contains(p.fields(), field) {
		t.Errorf("%s: errors name %v, want %s; detail %q", what, p.fields(), field, p.Detail)
	}
}

// TestNULInJSONObjectsDoesNotPoison: a \u0000 in metadata, config or properties used to answer 200
// while PostgreSQL stored a different 6-character text, after which every write answered 500.
func TestNULInJSONObjectsDoesNotPoison(t *testing.T) {
	f := newNegFixture(t, newTenant("nulpoison"))
	before := secSnapshot(t, f.tenant)
	for _, c := range []struct{ path, body, field string }{
		{f.panelPath, `{"metadata":{"x":"\u0000"}}`, "body.metadata.x"},
		{f.panelPath, `{"metadata":{"deep":[{"y":"a\u0000b"}]}}`, "body.metadata.deep.0.y"},
		{f.panelPath, `{"metadata":{"k\u0000":"v"}}`, `body.metadata.k\u0000`},
		{fmt.Sprintf("/api/views/%d", f.view), `{"metadata":{"x":"\u0000"}}`, "body.metadata.x"},
		{f.dsPath, `{"config":{"endpoint":"/api/patients","note":"\u0000"}}`, "body.config.note"},
		{f.colURL + fmt.Sprint(f.base), `{"properties":{"x":"\u0000"}}`, "body.properties.x"},
	} {
		resp, body := raw(t, "PUT", c.path, f.owner, []byte(c.body), jsonCT)
		wantNULRefused(t, "PUT "+c.path+" "+c.body, resp, body, c.field)
	}
	if after := secSnapshot(t, f.tenant); after != before {
		t.Errorf("a refused request changed rows:\nbefore %s\nafter  %s", before, after)
	}
	// The six characters \u0000 as text are ordinary input: stored and echoed as sent, and the
	// resource stays writable (Bun's own JSON quoting turned them into a NUL escape PostgreSQL refuses).
	resp, body := raw(t, "PUT", f.panelPath, f.owner, []byte(`{"metadata":{"x":"\\u0000","y":"\\\\u0000"}}`), jsonCT)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"x":"\\u0000"`) || !strings.Contains(string(body), `"y":"\\\\u0000"`) {
		t.Fatalf("literal \\u0000 text: %d %s", resp.StatusCode, body)
	}
	wantWritable(t, f.owner, "after the metadata writes", []nulWrite{
		{"PUT", f.panelPath, `{"name":"Renamed"}`},
		{"PUT", fmt.Sprintf("/api/views/%d/sorts", f.view), `{"sorts":[]}`},
		{"PUT", fmt.Sprintf("/api/views/%d/filters", f.view), `{"filters":[]}`},
		{"POST", fmt.Sprintf("/api/views/%d/publish", f.view), ``},
		{"DELETE", f.panelPath, ``},
	})
}

// TestNULInStringsIs400: a NUL in a name, description, sourceField, userEmail or formula used to
// answer 500 "syntax error at or near ":"".
func TestNULInStringsIs400(t *testing.T) {
	f := newNegFixture(t, newTenant("nulstr"))
	before := secSnapshot(t, f.tenant)
	n := "a\\u0000b"
	for _, c := range []struct{ method, path, body, field string }{
		{"POST", "/api/panels", `{"name":"` + n + `"}`, "body.name"},
		{"PUT", f.panelPath, `{"name":"` + n + `"}`, "body.name"},
		{"PUT", f.panelPath, `{"description":"` + n + `"}`, "body.description"},
		{"POST", "/api/views", fmt.Sprintf(`{"name":"%s","panelId":%d}`, n, f.panel), "body.name"},
		{"PUT", fmt.Sprintf("/api/views/%d", f.view), `{"description":"` + n + `"}`, "body.description"},
		{"POST", f.panelPath + "/columns/base", fmt.Sprintf(`{"name":"C%s","type":"text","sourceField":"x","dataSourceId":%d}`, n, f.ds), "body.name"},
		{"POST", f.panelPath + "/columns/base", fmt.Sprintf(`{"name":"C","type":"text","sourceField":"%s","dataSourceId":%d}`, n, f.ds), "body.sourceField"},
		{"POST", f.panelPath + "/columns/calculated", `{"name":"K","type":"text","formula":"UPPER([Email])&\"` + n + `\""}`, "body.formula"},
		{"POST", fmt.Sprintf("/api/acls/panel/%d", f.panel), `{"userEmail":"x` + n + `@e.example","permission":"viewer"}`, "body.userEmail"},
	} {
		resp, body := raw(t, c.method, c.path, f.owner, []byte(c.body), jsonCT)
		wantNULRefused(t, c.method+" "+c.path+" "+c.body, resp, body, c.field)
	}
	for _, c := range []struct{ method, path, field string }{
		{"GET", "/api/acls/user/a%00b", "path.userEmail"},
		{"DELETE", fmt.Sprintf("/api/acls/panel/%d/a%%00b", f.panel), "path.userEmail"},
		{"GET", "/api/panels?cursor=a%00b", "query.cursor"},
		{"GET", "/api/changes/panels?panelId=1&zz%00=1", `query.zz\u0000`},
	} {
		resp, body := raw(t, c.method, c.path, f.owner, nil, nil)
		wantNULRefused(t, c.method+" "+c.path, resp, body, c.field)
	}
	if after := secSnapshot(t, f.tenant); after != before {
		t.Errorf("a refused request changed rows:\nbefore %s\nafter  %s", before, after)
	}
}

// TestNULInTokenClaimsIs401: a NUL in tenant_id, sub, email or a role used to answer 500.
func TestNULInTokenClaimsIs401(t *testing.T) {
	tenant := newTenant("nultok")
	for _, p := range []auth.Principal{
		{TenantID: tenant + "\x00x", UserID: "u", Email: "u@e.example", Role: auth.RoleAdmin},
		{TenantID: tenant, UserID: "u\x00x", Email: "u@e.example", Role: auth.RoleAdmin},
		{TenantID: tenant, UserID: "u", Email: "u\x00@e.example", Role: auth.RoleAdmin},
		{TenantID: tenant, UserID: "u", Email: "u@e.example", Role: auth.Role("admin\x00")},
	} {
		tok, err := auth.Mint([]byte(testSecret), p, time.Hour, "", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/api/panels", ""},
			{"POST", "/api/panels", `{"name":"P"}`},
		} {
			var b []byte
			if c.body != "" {
				b = []byte(c.body)
			}
			resp, body := raw(t, c.method, c.path, tok, b, jsonCT)
			wantProblem(t, fmt.Sprintf("%s %s with %q", c.method, c.path, p), resp, body, http.StatusUnauthorized)
		}
	}
	var n int
	if err := secDB(t).QueryRowContext(t.Context(), `SELECT count(*) FROM panels WHERE tenant_id LIKE $1`, tenant+"%").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d panels created with a NUL token", n)
	}
}

// TestDuplicateJSONKeysAre400: the validator and the binder each resolved a repeated key their own way.
func TestDuplicateJSONKeysAre400(t *testing.T) {
	f := newNegFixture(t, newTenant("dupkey"))
	before := secSnapshot(t, f.tenant)
	for _, c := range []struct{ method, path, body, field string }{
		{"PUT", f.panelPath, `{"name":"A","name":"B"}`, "body.name"},
		{"PUT", f.panelPath, `{"metadata":{"a":{"b":1,"b":2}}}`, "body.metadata.a.b"},
		{"PUT", f.panelPath, `{"metadata":{"l":[{"x":1},{"x":1,"\u0078":2}]}}`, "body.metadata.l.1.x"},
		{"POST", "/api/panels", `{"name":"A","name":"A"}`, "body.name"},
	} {
		resp, body := raw(t, c.method, c.path, f.owner, []byte(c.body), jsonCT)
		wantNULRefused(t, c.method+" "+c.path+" "+c.body, resp, body, c.field)
	}
	if after := secSnapshot(t, f.tenant); after != before {
		t.Errorf("a refused request changed rows:\nbefore %s\nafter  %s", before, after)
	}
}

// TestIDBeyondInt64IsAValidationMessage: an id above 2^63-1 used to answer the decoder's own text.
func TestIDBeyondInt64IsAValidationMessage(t *testing.T) {
	f := newNegFixture(t, newTenant("bigid"))
	for _, c := range []struct{ method, path, body, field string }{
		{"POST", "/api/views", `{"name":"V","panelId":9223372036854775808,"visibleColumns":[]}`, "body.panelId"},
		{"POST", f.panelPath + "/columns/base", `{"name":"C","type":"text","sourceField":"x","dataSourceId":99999999999999999999}`, "body.dataSourceId"},
		{"PUT", fmt.Sprintf("/api/views/%d/sorts", f.view), `{"sorts":[{"columnName":"Email","direction":"asc","order":9223372036854775808}]}`, "body.sorts.0.order"},
	} {
		resp, body := raw(t, c.method, c.path, f.owner, []byte(c.body), jsonCT)
		p := wantProblem(t, c.method+" "+c.path+" "+c.body, resp, body, http.StatusBadRequest)
		t.Logf("%s: %s", c.body, p.Detail)
		if !strings.HasPrefix(p.Detail, "invalid request: "+c.field+": ") || !slices.Contains(p.fields(), c.field) {
			t.Errorf("%s: detail %q, fields %v; want invalid request: %s: ...", c.body, p.Detail, p.fields(), c.field)
		}
		for _, leak := range []string{"Unmarshal", "Go struct", "offset=", "expected="} {
			if strings.Contains(p.Detail, leak) {
				t.Errorf("%s: detail leaks the decoder's text: %q", c.body, p.Detail)
			}
		}
	}
}

// TestNULInRecordsIs400: uploaded and pushed records are stored as jsonb, which cannot hold a NUL:
// the record is refused with a 400 naming it, and nothing (records, sync history) is written.
func TestNULInRecordsIs400(t *testing.T) {
	f := newNegFixture(t, newTenant("nulrec"))
	upload := "/api/datasources/" + f.opPathVals["uploadDataSourceFile"]["dataSourceId"] + "/upload"
	push := "/api/datasources/" + f.opPathVals["pushDataSourceRecords"]["dataSourceId"] + "/records"
	state := dbWrites(t)
	for _, c := range []struct{ path, ct, body, field string }{
		{upload, "text/csv", "email,name\na@e.example,ok\nb@e.example,b\x00c\n", "body.2.name"},
		{upload, "text/csv", "email,na\x00me\na@e.example,ok\n", `body.1.na\u0000me`},
		{upload, "application/x-ndjson", `{"email":"a"}` + "\n" + `{"email":"b","deep":{"n":["\u0000"]}}`, "body.2.deep.n.0"},
		{upload, "application/json", `[{"email":"a\u0000"}]`, "body.1.email"},
		{push, "application/x-ndjson", `{"op":"upsert","key":"k1","record":{"x":"ok"}}` + "\n" + `{"op":"upsert","key":"k2","record":{"x":"\u0000"}}`, "body.2.record.x"},
		{push, "application/x-ndjson", `{"op":"delete","key":"k\u0000"}`, "body.1.key"},
	} {
		resp, body := raw(t, "POST", c.path, f.owner, []byte(c.body), map[string]string{"Content-Type": c.ct})
		wantNULRefused(t, "POST "+c.path+" "+c.ct, resp, body, c.field)
	}
	if after := dbWrites(t); after != state {
		t.Errorf("a refused upload or push wrote to the database:\nbefore %s\nafter  %s", state, after)
	}
	// The text \u0000 in a record is ordinary data.
	resp, body := raw(t, "POST", push, f.owner, []byte(`{"op":"upsert","key":"k1","record":{"x":"\\u0000"}}`), map[string]string{"Content-Type": "application/x-ndjson"})
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"success"`) {
		t.Errorf("push of the text \\u0000: %d %s", resp.StatusCode, body)
	}
}

// TestPoisonedRowsAreWritable: rows stored before the gate refused NULs hold the text \u0000
// where the NUL was (what PostgreSQL stored from Bun's quoting); every write of them answered 500.
// They are written again like any other row (migration 0005 also turns that text into U+FFFD).
func TestPoisonedRowsAreWritable(t *testing.T) {
	f := newNegFixture(t, newTenant("poisoned"))
	for _, q := range []string{
		`UPDATE panels SET metadata = '{"x":"\\u0000"}' WHERE id = $1`,
		`UPDATE views SET metadata = '{"x":"\\u0000"}' WHERE panel_id = $1`,
		`UPDATE data_sources SET config = config || '{"note":"\\u0000"}' WHERE panel_id = $1`,
		`UPDATE columns SET properties = '{"x":"\\u0000"}' WHERE panel_id = $1`,
	} {
		if _, err := secDB(t).ExecContext(t.Context(), q, f.panel); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var stored string
	if err := secDB(t).QueryRowContext(t.Context(), `SELECT metadata->>'x' FROM panels WHERE id = $1`, f.panel).Scan(&stored); err != nil || stored != `\u0000` {
		t.Fatalf("poisoned metadata: %q %v", stored, err)
	}
	wantWritable(t, f.owner, "on a poisoned row", []nulWrite{
		{"PUT", f.panelPath, `{"name":"Renamed"}`},
		{"PUT", fmt.Sprintf("/api/views/%d", f.view), `{"name":"Renamed view"}`},
		{"PUT", fmt.Sprintf("/api/views/%d/sorts", f.view), `{"sorts":[]}`},
		{"PUT", fmt.Sprintf("/api/views/%d/filters", f.view), `{"filters":[]}`},
		{"POST", fmt.Sprintf("/api/views/%d/publish", f.view), ``},
		{"PUT", f.dsPath, `{"config":{"endpoint":"/api/other","method":"GET"}}`},
		{"PUT", f.colURL + fmt.Sprint(f.base), `{"name":"Mail"}`},
		{"DELETE", fmt.Sprintf("/api/views/%d", f.view), ``},
		{"DELETE", f.panelPath, ``},
	})
}

// nulWrite is one request that must succeed on a resource that once held a NUL.
type nulWrite struct{ method, path, body string }

// wantWritable sends each write as tok and fails on any answer that is not a success.
func wantWritable(t *testing.T, tok, what string, writes []nulWrite) {
	t.Helper()
	for _, c := range writes {
		var b []byte
		if c.body != "" {
			b = []byte(c.body)
		}
		resp, body := raw(t, c.method, c.path, tok, b, jsonCT)
		if resp.StatusCode >= 300 {
			t.Errorf("%s %s %s: %d %s", c.method, c.path, what, resp.StatusCode, body)
		}
	}
}
