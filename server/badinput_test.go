package server_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/panels/panels/server/auth"
)

// secProblem is the wire shape of a problem+json answer, decoded strictly.
type secProblem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Instance  string `json:"instance"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
	Errors    []struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"errors"`
	Dependents []json.RawMessage `json:"dependents"`
}

// wantProblem checks that resp is a problem+json answer with the given status, whose message equals
// its detail and whose requestId is the X-Request-Id header, and returns it decoded.
func wantProblem(t testing.TB, what string, resp *http.Response, body []byte, status int) secProblem {
	t.Helper()
	var p secProblem
	if resp.StatusCode != status {
		t.Errorf("%s: status %d, want %d; body %s", what, resp.StatusCode, status, body)
		return p
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Errorf("%s: body is not a problem: %v: %s", what, err, body)
		return p
	}
	if p.Status != status {
		t.Errorf("%s: problem status %d, want %d", what, p.Status, status)
	}
	if p.Detail == "" || p.Message != p.Detail {
		t.Errorf("%s: message %q must equal a non-empty detail %q", what, p.Message, p.Detail)
	}
	if id := resp.Header.Get("X-Request-Id"); id == "" || p.RequestID != id {
		t.Errorf("%s: requestId %q, X-Request-Id header %q", what, p.RequestID, id)
	}
	if p.Type == "" || p.Title != http.StatusText(status) {
		t.Errorf("%s: type %q title %q", what, p.Type, p.Title)
	}
	for _, leak := range []string{"SQLSTATE", "pq:", "pgx", "goroutine", "panic", ".go:"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("%s: problem leaks internals (%q): %s", what, leak, body)
		}
	}
	return p
}

// fields lists the errors[] fields of a problem.
func (p secProblem) fields() []string {
	out := make([]string, len(p.Errors))
	for i, e := range p.Errors {
		out[i] = e.Field
	}
	return out
}

var secDBState struct {
	once sync.Once
	db   *sql.DB
	err  error
}

// secDB is a plain SQL connection to the test database, for fixtures and snapshots.
func secDB(t testing.TB) *sql.DB {
	t.Helper()
	secDBState.once.Do(func() {
		secDBState.db, secDBState.err = sql.Open("pgx", env.dsn)
		if secDBState.err == nil {
			secDBState.db.SetMaxOpenConns(4)
		}
	})
	if secDBState.err != nil {
		t.Fatal(secDBState.err)
	}
	return secDBState.db
}

// secTables are the tables a request on panels, data sources, columns and ACLs can touch.
var secTables = []string{"panels", "data_sources", "columns", "panel_changes", "acls", "views", "view_notifications", "webhooks", "webhook_deliveries"}

// secSnapshot is every row of the tenant in secTables, as JSON text: equal snapshots mean nothing changed.
func secSnapshot(t testing.TB, tenant string) string {
	t.Helper()
	var b strings.Builder
	for _, table := range secTables {
		var rows string
		q := fmt.Sprintf(`SELECT COALESCE(jsonb_agg(to_jsonb(x) ORDER BY x.id), '[]'::jsonb)::text FROM %s AS x WHERE x.tenant_id = $1`, table)
		if err := secDB(t).QueryRowContext(t.Context(), q, tenant).Scan(&rows); err != nil {
			t.Fatalf("snapshot %s: %v", table, err)
		}
		b.WriteString(table + "=" + rows + "\n")
	}
	return b.String()
}

// secCounts counts the rows of every table in secTables, all tenants included.
func secCounts(t testing.TB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range secTables {
		var n int
		if err := secDB(t).QueryRowContext(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

// secGrant writes an ACL row on a panel, as the (not yet implemented) ACL endpoints would.
func secGrant(t testing.TB, tenant string, panelID int64, principal, permission string) {
	t.Helper()
	_, err := secDB(t).ExecContext(t.Context(), `INSERT INTO acls (tenant_id, resource_type, resource_id, panel_id, user_email, permission)
		VALUES ($1, 'panel', $2, $2, $3, $4)`, tenant, panelID, principal, permission)
	if err != nil {
		t.Fatalf("grant %s %s on panel %d: %v", permission, principal, panelID, err)
	}
}

// secFixture is a panel with a data source, a base column and a calculated column on top of it.
type secFixture struct {
	tenant         string
	owner          string // token of the panel's creator
	panel, ds      int64
	base, calc     int64
	spare1, spare2 int64 // unused data sources, for delete tests
	panelPath      string
	dsPath, colURL string
}

func newSecFixture(t testing.TB, tenant string) secFixture {
	t.Helper()
	f := secFixture{tenant: tenant, owner: token(t, tenant, "owner-"+tenant, "owner@"+tenant+".example", auth.RoleBuilder)}
	var p struct {
		ID int64 `json:"id"`
	}
	mustCreate(t, "POST", "/api/panels", f.owner, `{"name":"Fixture panel","metadata":{"k":"v"}}`, &p)
	f.panel = p.ID
	f.panelPath = "/api/panels/" + strconv.FormatInt(f.panel, 10)
	mustCreate(t, "POST", f.panelPath+"/datasources", f.owner, `{"type":"api","config":{"endpoint":"/api/patients","method":"GET"}}`, &p)
	f.ds = p.ID
	f.dsPath = "/api/datasources/" + strconv.FormatInt(f.ds, 10)
	mustCreate(t, "POST", f.panelPath+"/columns/base", f.owner,
		fmt.Sprintf(`{"name":"Email","type":"text","sourceField":"email","dataSourceId":%d,"properties":{}}`, f.ds), &p)
	f.base = p.ID
	mustCreate(t, "POST", f.panelPath+"/columns/calculated", f.owner, `{"name":"Shout","type":"text","formula":"UPPER([Email])","properties":{}}`, &p)
	f.calc = p.ID
	f.colURL = f.panelPath + "/columns/"
	mustCreate(t, "POST", f.panelPath+"/datasources", f.owner, `{"type":"custom","config":{"note":"spare one"}}`, &p)
	f.spare1 = p.ID
	mustCreate(t, "POST", f.panelPath+"/datasources", f.owner, `{"type":"custom","config":{"note":"spare two"}}`, &p)
	f.spare2 = p.ID
	return f
}

func mustCreate(t testing.TB, method, path, tok, body string, out any) {
	t.Helper()
	resp, data := raw(t, method, path, tok, []byte(body), map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatal(err)
	}
}

var jsonCT = map[string]string{"Content-Type": "application/json"}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	tenant := newTenant("bad")
	f := newSecFixture(t, tenant)
	tok := token(t, tenant, "admin-1", "admin@"+tenant+".example", auth.RoleAdmin)
	ds := strconv.FormatInt(f.ds, 10)
	base := strconv.FormatInt(f.base, 10)
	big := append(append([]byte(`{"name":"x","metadata":{"blob":"`), bytes.Repeat([]byte("a"), 2<<20)...), `"}}`...)

	cases := []struct {
		name, method, path string
		body               []byte
		headers            map[string]string
		status             int
		fields             []string // expected errors[].field, in any order; nil: not checked
	}{
		{"malformed JSON", "POST", "/api/panels", []byte(`{"name":`), jsonCT, 400, []string{"body"}},
		{"malformed JSON on update", "PUT", f.panelPath, []byte(`{"name":"x",}`), jsonCT, 400, []string{"body"}},
		{"wrong type", "POST", "/api/panels", []byte(`{"name":5}`), jsonCT, 400, []string{"body.name"}},
		{"two wrong fields", "POST", "/api/panels", []byte(`{"name":5,"description":7}`), jsonCT, 400, []string{"body.name", "body.description"}},
		{"wrong type in update", "PUT", f.panelPath, []byte(`{"name":"ok","metadata":"not an object"}`), jsonCT, 400, []string{"body.metadata"}},
		{"unknown data source type", "POST", f.panelPath + "/datasources", []byte(`{"type":"webhook","config":{}}`), jsonCT, 400, []string{"body.type"}},
		{"unknown data source type on update", "PUT", f.dsPath, []byte(`{"type":"webhook"}`), jsonCT, 400, []string{"body.type"}},
		{"unknown column type", "POST", f.panelPath + "/columns/base",
			[]byte(`{"name":"c","type":"blob","sourceField":"x","dataSourceId":` + ds + `,"properties":{}}`), jsonCT, 400, []string{"body.type"}},
		{"base column without sourceField", "POST", f.panelPath + "/columns/base",
			[]byte(`{"name":"c","type":"text","dataSourceId":` + ds + `,"properties":{}}`), jsonCT, 400, nil},
		{"unknown field", "POST", "/api/panels", []byte(`{"name":"x","bogus":1}`), jsonCT, 400, nil},
		{"two unknown fields", "POST", "/api/panels", []byte(`{"name":"x","bogus":1,"other":2}`), jsonCT, 400, []string{"body.bogus", "body.other"}},
		{"unknown field on column update", "PUT", f.colURL + base, []byte(`{"name":"x","bogus":1}`), jsonCT, 400, nil},
		{"empty JSON body", "POST", "/api/panels", []byte{}, jsonCT, 400, nil},
		{"no body", "POST", "/api/panels", nil, jsonCT, 400, nil},
		{"JSON null body", "POST", "/api/panels", []byte(`null`), jsonCT, 400, nil},
		{"JSON array body", "POST", "/api/panels", []byte(`[]`), jsonCT, 400, nil},
		{"empty name", "POST", "/api/panels", []byte(`{"name":""}`), jsonCT, 400, []string{"body.name"}},
		{"name too long", "POST", "/api/panels", []byte(`{"name":"` + strings.Repeat("n", 256) + `"}`), jsonCT, 400, []string{"body.name"}},
		{"bad cohort operator", "PUT", f.panelPath, []byte(`{"cohortRule":{"logic":"AND","conditions":[{"field":"age","operator":"like","value":1}]}}`), jsonCT, 400, nil},
		{"echoed id of another resource", "PUT", f.panelPath, []byte(`{"id":` + strconv.FormatInt(f.panel+1000, 10) + `,"name":"x"}`), jsonCT, 400, []string{"body.id"}},
		{"text/plain", "POST", "/api/panels", []byte(`{"name":"x"}`), map[string]string{"Content-Type": "text/plain"}, 415, nil},
		{"text/plain on update", "PUT", f.panelPath, []byte(`{"name":"x"}`), map[string]string{"Content-Type": "text/plain"}, 415, nil},
		{"2 MiB body", "POST", "/api/panels", big, jsonCT, 413, nil},
		{"2 MiB body on update", "PUT", f.panelPath, big, jsonCT, 413, nil},
		{"non-numeric id", "GET", "/api/panels/abc", nil, nil, 400, []string{"path.panelId"}},
		{"zero id", "GET", "/api/panels/0", nil, nil, 400, []string{"path.panelId"}},
		{"negative id", "GET", "/api/panels/-1", nil, nil, 400, []string{"path.panelId"}},
		{"id beyond int64", "GET", "/api/panels/99999999999999999999", nil, nil, 400, []string{"path.panelId"}},
		{"id beyond int64 on delete", "DELETE", "/api/panels/99999999999999999999", nil, nil, 400, []string{"path.panelId"}},
		{"non-numeric data source id", "DELETE", "/api/datasources/abc", nil, nil, 400, []string{"path.dataSourceId"}},
		{"zero column id", "DELETE", f.colURL + "0", nil, nil, 400, []string{"path.columnId"}},
		{"limit=0", "GET", "/api/panels?limit=0", nil, nil, 400, []string{"query.limit"}},
		{"limit=501", "GET", "/api/panels?limit=501", nil, nil, 400, []string{"query.limit"}},
		{"limit not a number", "GET", "/api/panels?limit=ten", nil, nil, 400, []string{"query.limit"}},
		{"changes limit=0", "GET", "/api/changes/panels?limit=0", nil, nil, 400, []string{"query.limit"}},
		{"changes limit=501", "GET", "/api/changes/panels?limit=501", nil, nil, 400, []string{"query.limit"}},
		{"offset=-1", "GET", "/api/changes/panels?offset=-1", nil, nil, 400, []string{"query.offset"}},
		{"limit and offset both bad", "GET", "/api/changes/panels?limit=0&offset=-1", nil, nil, 400, []string{"query.limit", "query.offset"}},
		{"bad since", "GET", "/api/changes/panels?since=yesterday", nil, nil, 400, []string{"query.since"}},
		{"unknown changeType", "GET", "/api/changes/panels?changeType=panel_exploded", nil, nil, 400, []string{"query.changeType"}},
		{"bad panelId filter", "GET", "/api/changes/panels?panelId=0", nil, nil, 400, []string{"query.panelId"}},
		{"bad cursor", "GET", "/api/panels?cursor=garbage", nil, nil, 400, []string{"query.cursor"}},
		{"bad data source cursor", "GET", f.panelPath + "/datasources?cursor=%21%21", nil, nil, 400, []string{"query.cursor"}},
		{"bad changes cursor", "GET", "/api/changes/panels?cursor=eyJsIjoicGFuZWxzIn0", nil, nil, 400, []string{"query.cursor"}},
		{"bad ids filter", "GET", f.panelPath + "/columns?ids=abc", nil, nil, 400, []string{"query.ids"}},
		{"bad force flag", "DELETE", f.dsPath + "?force=maybe", nil, nil, 400, []string{"query.force"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, counts := secSnapshot(t, tenant), secCounts(t)
			resp, body := raw(t, tc.method, tc.path, tok, tc.body, tc.headers)
			p := wantProblem(t, tc.name, resp, body, tc.status)
			if tc.status == 400 && len(p.Errors) == 0 {
				t.Errorf("400 without errors[]: %s", body)
			}
			if tc.fields != nil {
				got := p.fields()
				if len(got) != len(tc.fields) {
					t.Errorf("errors[] fields %q, want %q", got, tc.fields)
				}
				for _, want := range tc.fields {
					found := false
					for _, g := range got {
						found = found || g == want
					}
					if !found {
						t.Errorf("errors[] fields %q lack %q", got, want)
					}
				}
			}
			for _, e := range p.Errors {
				if e.Field == "" || e.Reason == "" {
					t.Errorf("errors[] entry without field or reason: %+v", e)
				}
			}
			if after := secSnapshot(t, tenant); after != before {
				t.Errorf("the tenant's rows changed:\nbefore %s\nafter  %s", before, after)
			}
			if after := secCounts(t); fmt.Sprint(after) != fmt.Sprint(counts) {
				t.Errorf("row counts changed: before %v after %v", counts, after)
			}
		})
	}

	t.Run("missing required field is named", func(t *testing.T) {
		resp, body := raw(t, "POST", f.panelPath+"/columns/base", tok,
			[]byte(`{"name":"c","type":"text","dataSourceId":`+ds+`,"properties":{}}`), jsonCT)
		p := wantProblem(t, "missing sourceField", resp, body, 400)
		if len(p.Errors) != 1 || !strings.Contains(p.Errors[0].Field+" "+p.Errors[0].Reason, "sourceField") {
			t.Errorf("errors[] should name sourceField once: %s", body)
		}
	})
	t.Run("unknown field is named", func(t *testing.T) {
		resp, body := raw(t, "POST", "/api/panels", tok, []byte(`{"name":"x","bogus":1}`), jsonCT)
		p := wantProblem(t, "unknown field", resp, body, 400)
		if len(p.Errors) != 1 || !strings.Contains(p.Errors[0].Field+" "+p.Errors[0].Reason, "bogus") {
			t.Errorf("errors[] should name bogus once: %s", body)
		}
	})

	t.Run("2 MiB chunked body", func(t *testing.T) {
		before := secSnapshot(t, tenant)
		// No Content-Length: the limit must hold while reading too.
		req, err := http.NewRequest("POST", env.url+"/api/panels", io.MultiReader(bytes.NewReader(big)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&validatingTransport{t: t}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		wantProblem(t, "chunked 2 MiB", resp, body, 413)
		if after := secSnapshot(t, tenant); after != before {
			t.Errorf("the tenant's rows changed")
		}
	})

	t.Run("requestId echoes the caller's X-Request-Id", func(t *testing.T) {
		resp, body := raw(t, "POST", "/api/panels", tok, []byte(`{"name":5}`),
			map[string]string{"Content-Type": "application/json", "X-Request-Id": "bad-input-trace-42"})
		p := wantProblem(t, "request id", resp, body, 400)
		if p.RequestID != "bad-input-trace-42" {
			t.Errorf("requestId %q", p.RequestID)
		}
	})

	t.Run("unknown routes", func(t *testing.T) {
		for _, path := range []string{"/api/nope", "/nope", "/api/panels/1/nope", "/api"} {
			resp, body := raw(t, "GET", path, tok, nil, nil)
			wantProblem(t, "GET "+path, resp, body, 404)
		}
		resp, body := raw(t, "GET", "/api/nope", "", nil, nil)
		wantProblem(t, "unknown route without token", resp, body, 404)
		resp, body = raw(t, "PATCH", f.panelPath, tok, []byte(`{}`), jsonCT)
		wantProblem(t, "PATCH panel", resp, body, 405)
	})

	t.Run("the web UI's habits are accepted", func(t *testing.T) {
		// GET with a JSON content type.
		resp, body := raw(t, "GET", "/api/panels", tok, nil, jsonCT)
		if resp.StatusCode != 200 {
			t.Errorf("GET with JSON content type: %d %s", resp.StatusCode, body)
		}
		// POST action with a JSON content type and an empty body: never a validation failure.
		resp, body = raw(t, "POST", f.dsPath+"/sync", tok, []byte{}, jsonCT)
		if s := resp.StatusCode; s == 400 || s == 413 || s == 415 || (s >= 500 && s != 501) {
			t.Errorf("POST sync with empty JSON body: %d %s", s, body)
		}
		resp, body = raw(t, "POST", f.panelPath+"/datasources/"+ds+"/sync", tok, nil, nil)
		if s := resp.StatusCode; s == 400 || s == 413 || s == 415 || (s >= 500 && s != 501) {
			t.Errorf("POST sync without body: %d %s", s, body)
		}
		// DELETE with a JSON content type and an empty body.
		resp, body = raw(t, "DELETE", f.colURL+strconv.FormatInt(f.calc, 10), tok, []byte{}, jsonCT)
		if resp.StatusCode != 204 {
			t.Errorf("DELETE column with empty JSON body: %d %s", resp.StatusCode, body)
		}
		// DELETE without any body or content type (the web UI's delete).
		resp, body = raw(t, "DELETE", f.panelPath+"/datasources/"+ds+"?force=true", tok, nil, nil)
		if resp.StatusCode != 204 {
			t.Errorf("DELETE data source without body: %d %s", resp.StatusCode, body)
		}
		resp, body = raw(t, "DELETE", f.panelPath, tok, []byte{}, jsonCT)
		if resp.StatusCode != 204 {
			t.Errorf("DELETE panel with empty JSON body: %d %s", resp.StatusCode, body)
		}
		other := newSecFixture(t, tenant)
		resp, body = raw(t, "DELETE", other.panelPath, tok, nil, nil)
		if resp.StatusCode != 204 {
			t.Errorf("DELETE panel without body: %d %s", resp.StatusCode, body)
		}
		var n int
		if err := secDB(t).QueryRowContext(t.Context(), "SELECT count(*) FROM panels WHERE id IN ($1, $2)", f.panel, other.panel).Scan(&n); err != nil || n != 0 {
			t.Errorf("panels still there after delete: %d %v", n, err)
		}
	})
}
