package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/servertest"
)

// publicHook is a URL the outbound guard allows without resolving anything (a public address);
// the shared instance runs no delivery worker, so nothing is ever sent to it.
const publicHook = "https://93.184.215.14/panels-hook"

type whFixture struct {
	tenant                               string
	admin, owner, viewer, stranger, user string // tokens
	otherAdmin                           string // another tenant's admin
	panel                                int64
	hook                                 int64 // a webhook of the panel
	wide                                 int64 // a tenant-wide webhook
	delivery                             int64 // a delivery of hook
}

func whDo(t *testing.T, method, path, tok string, body any) (*http.Response, []byte) {
	t.Helper()
	var payload []byte
	var headers map[string]string
	if body != nil {
		if s, ok := body.(string); ok {
			payload = []byte(s)
		} else {
			payload, _ = json.Marshal(body)
		}
		headers = jsonCT
	}
	return raw(t, method, path, tok, payload, headers)
}

func whID(t *testing.T, resp *http.Response, body []byte, want int) int64 {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, body)
	}
	var out struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out.ID
}

func newWhFixture(t *testing.T) whFixture {
	t.Helper()
	f := whFixture{tenant: newTenant("wh")}
	tok := func(user string, role auth.Role) string {
		return token(t, f.tenant, user, user+"@"+f.tenant+".example", role)
	}
	f.admin, f.owner, f.viewer, f.stranger, f.user = tok("admin", auth.RoleAdmin), tok("owner", auth.RoleBuilder),
		tok("viewer", auth.RoleUser), tok("stranger", auth.RoleBuilder), tok("user", auth.RoleUser)
	other := newTenant("whother")
	f.otherAdmin = token(t, other, "admin", "admin@"+other+".example", auth.RoleAdmin)
	resp, body := whDo(t, "POST", "/api/panels", f.owner, map[string]any{"name": "Hooked"})
	f.panel = whID(t, resp, body, http.StatusCreated)
	resp, body = whDo(t, "POST", fmt.Sprintf("/api/acls/panel/%d", f.panel), f.owner,
		map[string]any{"userEmail": "viewer@" + f.tenant + ".example", "permission": "viewer"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("grant: %d %s", resp.StatusCode, body)
	}
	resp, body = whDo(t, "POST", "/api/webhooks", f.owner, map[string]any{"url": publicHook, "events": []string{"*"}, "panelId": f.panel})
	f.hook = whID(t, resp, body, http.StatusCreated)
	resp, body = whDo(t, "POST", "/api/webhooks", f.admin, map[string]any{"url": publicHook, "events": []string{"panel_created"}})
	f.wide = whID(t, resp, body, http.StatusCreated)
	resp, body = whDo(t, "PUT", fmt.Sprintf("/api/panels/%d", f.panel), f.owner, map[string]any{"name": "Renamed"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rename: %d %s", resp.StatusCode, body)
	}
	resp, body = whDo(t, "GET", fmt.Sprintf("/api/webhooks/%d/deliveries", f.hook), f.owner, nil)
	var list struct {
		Deliveries []struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
		} `json:"deliveries"`
	}
	if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != http.StatusOK || len(list.Deliveries) == 0 {
		t.Fatalf("deliveries of the panel's webhook: %d %s", resp.StatusCode, body)
	}
	f.delivery = list.Deliveries[0].ID
	return f
}

// TestWebhookLifecycle: create answers 201 with the secret once; get, list, update, the
// deliveries list, redeliver and delete work for the panel's owner.
func TestWebhookLifecycle(t *testing.T) {
	f := newWhFixture(t)
	resp, body := whDo(t, "POST", "/api/webhooks", f.owner, map[string]any{"url": publicHook, "events": []string{"column_added", "column_added"},
		"panelId": f.panel, "description": "columns"})
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(body), `"secret":"whsec_`) {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	id := whID(t, resp, body, http.StatusCreated)
	if loc := resp.Header.Get("Location"); loc != fmt.Sprintf("/api/webhooks/%d", id) {
		t.Errorf("Location %q", loc)
	}
	resp, body = whDo(t, "GET", fmt.Sprintf("/api/webhooks/%d", id), f.owner, nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "secret") || !strings.Contains(string(body), `"events":["column_added"]`) {
		t.Errorf("get: %d %s (no secret, events deduplicated)", resp.StatusCode, body)
	}
	resp, body = whDo(t, "GET", "/api/webhooks?limit=1", f.owner, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"hasMore":true`) || strings.Contains(string(body), "secret") {
		t.Errorf("list: %d %s", resp.StatusCode, body)
	}
	var page struct {
		NextCursor string `json:"nextCursor"`
		Total      int    `json:"total"`
	}
	_ = json.Unmarshal(body, &page)
	if page.Total != 2 {
		t.Errorf("the owner manages %d webhooks, want 2 (the panel's; the tenant-wide one is the admin's)", page.Total)
	}
	resp, body = whDo(t, "GET", "/api/webhooks?limit=1&cursor="+page.NextCursor, f.owner, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"hasMore":false`) {
		t.Errorf("second page: %d %s", resp.StatusCode, body)
	}
	resp, body = whDo(t, "PUT", fmt.Sprintf("/api/webhooks/%d", id), f.owner, map[string]any{"enabled": false, "events": []string{"*"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"enabled":false`) || !strings.Contains(string(body), `"events":["*"]`) {
		t.Errorf("update: %d %s", resp.StatusCode, body)
	}
	resp, body = whDo(t, "POST", fmt.Sprintf("/api/webhooks/%d/deliveries/%d/redeliver", f.hook, f.delivery), f.owner, nil)
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(string(body), `"status":"pending"`) {
		t.Errorf("redeliver: %d %s", resp.StatusCode, body)
	}
	// A delivery a worker holds (its lease running) is not queued again under it.
	if _, err := secDB(t).ExecContext(t.Context(), `UPDATE webhook_deliveries SET lease_expires_at = now() + interval '1 hour'
		WHERE tenant_id = $1 AND id = $2`, f.tenant, f.delivery); err != nil {
		t.Fatal(err)
	}
	resp, body = whDo(t, "POST", fmt.Sprintf("/api/webhooks/%d/deliveries/%d/redeliver", f.hook, f.delivery), f.owner, nil)
	wantProblem(t, "redeliver under a lease", resp, body, http.StatusConflict)
	resp, body = whDo(t, "GET", fmt.Sprintf("/api/webhooks/%d/deliveries?status=delivered", f.hook), f.owner, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"total":0`) {
		t.Errorf("deliveries filtered by status: %d %s", resp.StatusCode, body)
	}
	resp, body = whDo(t, "DELETE", fmt.Sprintf("/api/webhooks/%d", id), f.owner, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("delete: %d %s", resp.StatusCode, body)
	}
	resp, body = whDo(t, "GET", fmt.Sprintf("/api/webhooks/%d", id), f.owner, nil)
	wantProblem(t, "get after delete", resp, body, http.StatusNotFound)
}

// TestWebhookPermissions: every webhook operation refuses, and changes nothing for, a panel
// viewer (403), a caller without a row (404), a non-admin on a tenant-wide webhook (403) and
// another tenant's admin (404).
func TestWebhookPermissions(t *testing.T) {
	f := newWhFixture(t)
	ops := func(hook, delivery int64) []struct{ method, path, body string } {
		return []struct{ method, path, body string }{
			{"GET", fmt.Sprintf("/api/webhooks/%d", hook), ""},
			{"PUT", fmt.Sprintf("/api/webhooks/%d", hook), `{"description":"mine now"}`},
			{"DELETE", fmt.Sprintf("/api/webhooks/%d", hook), ""},
			{"GET", fmt.Sprintf("/api/webhooks/%d/deliveries", hook), ""},
			{"POST", fmt.Sprintf("/api/webhooks/%d/deliveries/%d/redeliver", hook, delivery), ""},
		}
	}
	cases := []struct {
		who, tok string
		hook     int64
		want     int
	}{
		{"panel viewer", f.viewer, f.hook, http.StatusForbidden},
		{"builder without rows", f.stranger, f.hook, http.StatusNotFound},
		{"owner on the tenant-wide webhook", f.owner, f.wide, http.StatusForbidden},
		{"other tenant's admin", f.otherAdmin, f.hook, http.StatusNotFound},
		{"other tenant's admin, tenant-wide", f.otherAdmin, f.wide, http.StatusNotFound},
	}
	before := secSnapshot(t, f.tenant)
	for _, c := range cases {
		for _, op := range ops(c.hook, f.delivery) {
			var body any
			if op.body != "" {
				body = op.body
			}
			resp, got := whDo(t, op.method, op.path, c.tok, body)
			wantProblem(t, c.who+": "+op.method+" "+op.path, resp, got, c.want)
		}
	}
	creates := []struct {
		who, tok string
		body     map[string]any
		want     int
	}{
		{"panel viewer", f.viewer, map[string]any{"url": publicHook, "events": []string{"*"}, "panelId": f.panel}, http.StatusForbidden},
		{"builder without rows", f.stranger, map[string]any{"url": publicHook, "events": []string{"*"}, "panelId": f.panel}, http.StatusNotFound},
		{"owner, tenant-wide", f.owner, map[string]any{"url": publicHook, "events": []string{"*"}}, http.StatusForbidden},
		{"other tenant's admin", f.otherAdmin, map[string]any{"url": publicHook, "events": []string{"*"}, "panelId": f.panel}, http.StatusNotFound},
		// The permission comes before the body's checks: a refused caller learns nothing of the URL.
		{"panel viewer, private URL", f.viewer, map[string]any{"url": "http://127.0.0.1/", "events": []string{"*"}, "panelId": f.panel}, http.StatusForbidden},
	}
	for _, c := range creates {
		resp, got := whDo(t, "POST", "/api/webhooks", c.tok, c.body)
		wantProblem(t, "create as "+c.who, resp, got, c.want)
	}
	for _, tok := range []string{f.viewer, f.stranger, f.otherAdmin, f.user} {
		resp, got := whDo(t, "GET", "/api/webhooks", tok, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(got), `"total":0`) {
			t.Errorf("a caller who manages no webhook listed: %d %s", resp.StatusCode, got)
		}
	}
	if after := secSnapshot(t, f.tenant); after != before {
		t.Errorf("refused webhook calls changed rows:\n%s\n%s", before, after)
	}
	// The admin manages both.
	resp, got := whDo(t, "GET", "/api/webhooks", f.admin, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(got), `"total":2`) {
		t.Errorf("the admin's list: %d %s", resp.StatusCode, got)
	}
}

// TestWebhookBadInput: bad URLs, addresses the guard refuses, unknown event types and NULs are
// 400/422 and change nothing.
func TestWebhookBadInput(t *testing.T) {
	f := newWhFixture(t)
	before := secSnapshot(t, f.tenant)
	cases := []struct {
		body string
		want int
	}{
		{`{"url":"ftp://files.example.com/x","events":["*"]}`, http.StatusUnprocessableEntity},
		{`{"url":"not a url","events":["*"]}`, http.StatusUnprocessableEntity},
		{`{"url":"https://user:pw@93.184.215.14/","events":["*"]}`, http.StatusUnprocessableEntity},
		{`{"url":"http://127.0.0.1:8080/hook","events":["*"]}`, http.StatusUnprocessableEntity},
		{`{"url":"http://10.1.2.3/hook","events":["*"]}`, http.StatusUnprocessableEntity},
		{`{"url":"http://169.254.169.254/latest/meta-data","events":["*"]}`, http.StatusUnprocessableEntity},
		{`{"url":"http://[::1]/hook","events":["*"]}`, http.StatusUnprocessableEntity},
		{`{"url":"` + publicHook + `","events":["row_added"]}`, http.StatusUnprocessableEntity},
		{`{"url":"` + publicHook + `","events":["*","panel_created"]}`, http.StatusUnprocessableEntity},
		{`{"url":"` + publicHook + `","events":[]}`, http.StatusBadRequest},
		{`{"url":"` + publicHook + `"}`, http.StatusBadRequest},
		{`{"url":"` + publicHook + `","events":["*"],"description":"a\u0000b"}`, http.StatusBadRequest},
		{`{"url":"https://93.184.215.14/\u0000","events":["*"]}`, http.StatusBadRequest},
		{`{"url":"` + publicHook + `","events":["*"],"secret":"whsec_mine"}`, http.StatusBadRequest},
	}
	for _, c := range cases {
		resp, got := whDo(t, "POST", "/api/webhooks", f.admin, c.body)
		wantProblem(t, "create "+c.body, resp, got, c.want)
		if !strings.Contains(c.body, `"events"`) {
			continue // a valid partial update
		}
		resp, got = whDo(t, "PUT", fmt.Sprintf("/api/webhooks/%d", f.hook), f.admin, strings.Replace(c.body, `"events":[]`, `"events":[1]`, 1))
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("update %s: %d %s", c.body, resp.StatusCode, got)
		}
	}
	if after := secSnapshot(t, f.tenant); after != before {
		t.Errorf("refused input changed rows:\n%s\n%s", before, after)
	}
}

// TestWebhookDeliveredEndToEnd runs an instance with a delivery worker (its own database, the
// guard opened to loopback, millisecond retries): a panel change reaches the receiver, signed;
// a receiver that keeps failing disables its webhook and the creator finds the notification in
// the notifications list.
func TestWebhookDeliveredEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an instance of its own")
	}
	var ok atomic.Bool
	var hits atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if ok.Load() && r.Header.Get("webhook-signature") != "" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusTeapot)
	}))
	defer rcv.Close()
	svc := servertest.New(t, servertest.Options{DBPrefix: "panels_webhook_e2e", Log: servertest.Log(), Env: map[string]string{
		"JWT_SECRET": testSecret, "DB_MAX_CONNS": "4", "SYNC_ALLOW_PRIVATE": "true",
		"WEBHOOK_WORKERS": "4", "WEBHOOK_POLL_INTERVAL": "2ms", "WEBHOOK_RETRY_SCHEDULE": "1ms,1ms,1ms,1ms,1ms,1ms", "WEBHOOK_MAX_FAILURES": "3",
	}})
	tenant := newTenant("whe2e")
	admin := token(t, tenant, "admin", "admin@"+tenant+".example", auth.RoleAdmin)
	do := func(method, path string, body any) (int, []byte) {
		var r *strings.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = strings.NewReader(string(b))
		} else {
			r = strings.NewReader("")
		}
		req, _ := http.NewRequest(method, svc.URL+path, r)
		req.Header.Set("Authorization", "Bearer "+admin)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := (&validatingTransport{t: t}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	status, body := do("POST", "/api/webhooks", map[string]any{"url": rcv.URL + "/hook", "events": []string{"panel_created"}})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	var hook struct {
		ID int64 `json:"id"`
	}
	_ = json.Unmarshal(body, &hook)
	if status, body = do("POST", "/api/panels", map[string]any{"name": "Down"}); status != http.StatusCreated {
		t.Fatalf("panel: %d %s", status, body)
	}
	waitFor := func(what string, cond func() bool) {
		bound := time.Now().Add(60 * time.Second) // ends a broken run only
		for !cond() {
			if time.Now().After(bound) {
				t.Fatalf("never: %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("webhook disabled", func() bool {
		_, body := do("GET", fmt.Sprintf("/api/webhooks/%d", hook.ID), nil)
		return strings.Contains(string(body), `"enabled":false`)
	})
	_, body = do("GET", "/api/notifications/views", nil)
	if !strings.Contains(string(body), fmt.Sprintf(`"webhookId":%d`, hook.ID)) {
		t.Errorf("the creator's notifications do not name the disabled webhook: %s", body)
	}
	// Re-enabled with the receiver up, the queued change is delivered.
	ok.Store(true)
	if status, body = do("PUT", fmt.Sprintf("/api/webhooks/%d", hook.ID), map[string]any{"enabled": true}); status != http.StatusOK {
		t.Fatalf("enable: %d %s", status, body)
	}
	waitFor("delivered", func() bool {
		_, body := do("GET", fmt.Sprintf("/api/webhooks/%d/deliveries?status=delivered", hook.ID), nil)
		return strings.Contains(string(body), `"total":1`)
	})
}
