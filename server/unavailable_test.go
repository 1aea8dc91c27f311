package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/uptrace/bun"

	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/servertest"
	"github.com/panels/panels/store/sqlaudit"
)

// TestDatabaseUnavailableIs503 runs a private service on its own database, then takes the
// database away (connections refused, open ones terminated): every operation that documents 503
// must answer it (problem+json with Retry-After on /api routes), never 500.
func TestDatabaseUnavailableIs503(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private server")
	}
	svc := servertest.New(t, servertest.Options{
		DBPrefix:   "panels_unavailable_test",
		Env:        map[string]string{"JWT_SECRET": testSecret},
		QueryHooks: []bun.QueryHook{sqlaudit.Hook},
		Log:        servertest.Log(),
	})
	dsn := svc.DSN
	tenant := newTenant("down")
	tok := token(t, tenant, "admin", "admin@"+tenant+".example", auth.RoleAdmin)

	send := func(method, path, body string, headers map[string]string) (*http.Response, []byte) {
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, svc.URL+path, r)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := (&validatingTransport{t: t}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp, data
	}
	if resp, body := send("POST", "/api/panels", `{"name":"before the outage"}`, jsonCT); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create while up: %d %s", resp.StatusCode, body)
	}

	name := strings.TrimPrefix(mustParse(t, dsn).Path, "/")
	admin := secDB(t)
	for _, q := range []string{
		fmt.Sprintf(`ALTER DATABASE %q WITH ALLOW_CONNECTIONS false`, name),
		fmt.Sprintf(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s' AND pid <> pg_backend_pid()`, name),
	} {
		if _, err := admin.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	defer func() {
		_, _ = admin.ExecContext(context.Background(), fmt.Sprintf(`ALTER DATABASE %q WITH ALLOW_CONNECTIONS true`, name))
	}()

	// Every operation that documents 503, with a valid request (the ids need not exist: the
	// database is asked first).
	f := negFixture{pathVals: map[string]string{"panelId": "1", "dataSourceId": "1", "columnId": "1", "viewId": "1",
		"resourceType": "panel", "resourceId": "1", "userEmail": "admin@" + tenant + ".example", "asset": "docs.js",
		"webhookId": "1", "deliveryId": "1"}}
	sent := 0
	for _, o := range specOperations(t) {
		if !o.documents(http.StatusServiceUnavailable) {
			continue
		}
		r := f.baseRequest(t, o)
		if m, ok := r.body.(map[string]any); ok {
			delete(m, "id") // an example's echoed id would not match the path's
		}
		c := o.negCase(t, "outage", r)
		if o.rawBodyType != "" {
			c.headers["Content-Type"], c.body = strings.Replace(o.rawBodyType, "*/*", "text/csv", 1), []byte(o.rawBodyExample)
		}
		resp, body := send(o.method, c.url, string(c.body), c.headers)
		sent++
		if o.op.Security != nil && len(*o.op.Security) == 0 {
			// System routes answer their own shape (health, readiness), not a problem.
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("%s %s: %d, want 503: %s", o.method, c.url, resp.StatusCode, body)
			}
			continue
		}
		p := wantProblem(t, o.id, resp, body, http.StatusServiceUnavailable)
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", o.method, c.url)
		}
		if bytes.Contains(body, []byte(name)) || strings.Contains(p.Detail, "terminat") {
			t.Errorf("%s %s: the problem leaks the database failure: %s", o.method, c.url, body)
		}
	}
	t.Logf("%d operations answered while the database was down", sent)
}

func mustParse(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// documentsProblem tells whether an error answer of the operation must be problem+json: yes
// unless the spec documents the status with another shape (/health and /healthz answer 503 with
// their own bodies).
func documentsProblem(op *openapi3.Operation, status int) bool {
	r := op.Responses.Status(status)
	if r == nil || r.Value == nil || len(r.Value.Content) == 0 {
		return true
	}
	return r.Value.Content["application/problem+json"] != nil
}
