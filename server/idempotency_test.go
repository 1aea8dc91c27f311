package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	client "github.com/panels/panels/clients/go"
	"github.com/panels/panels/server/auth"
)

// idemCase is one creating operation with a body to send and a way to count what it created.
type idemCase struct {
	op        string
	path      string
	body      map[string]any
	other     map[string]any // a different request for the same path
	wantFirst int
	count     func(t testing.TB) int
}

// idemCases builds one case per operation that declares Idempotency-Key, on fresh fixtures.
func idemCases(t *testing.T, c *caller) []idemCase {
	t.Helper()
	p := fxPanel(t, c, "Idem")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeCustom, map[string]any{})
	pid := strconv.FormatInt(p.Id, 10)
	count := func(query string, args ...any) func(t testing.TB) int {
		return func(t testing.TB) int {
			t.Helper()
			var n int
			if err := fxDB(t).QueryRow(query, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return []idemCase{
		{op: "createPanel", path: "/api/panels", body: map[string]any{"name": "Idem panel"}, other: map[string]any{"name": "Other panel"},
			wantFirst: 201, count: count(`SELECT count(*) FROM panels WHERE tenant_id = $1 AND name = 'Idem panel'`, c.tenant)},
		{op: "createDataSource", path: "/api/panels/" + pid + "/datasources", body: map[string]any{"type": "api", "config": fxSecretAPIConfig()},
			other: map[string]any{"type": "custom", "config": map[string]any{}}, wantFirst: 201,
			count: count(`SELECT count(*) FROM data_sources WHERE panel_id = $1 AND type = 'api'`, p.Id)},
		{op: "createBaseColumn", path: "/api/panels/" + pid + "/columns/base",
			body:      map[string]any{"name": "Idem base", "type": "text", "sourceField": "email", "dataSourceId": ds.Id, "properties": map[string]any{}},
			other:     map[string]any{"name": "Other base", "type": "text", "sourceField": "email", "dataSourceId": ds.Id, "properties": map[string]any{}},
			wantFirst: 201, count: count(`SELECT count(*) FROM columns WHERE panel_id = $1 AND name = 'Idem base'`, p.Id)},
		{op: "createCalculatedColumn", path: "/api/panels/" + pid + "/columns/calculated",
			body:      map[string]any{"name": "Idem calc", "type": "text", "formula": `"x"`, "properties": map[string]any{}},
			other:     map[string]any{"name": "Idem calc", "type": "text", "formula": `"y"`, "properties": map[string]any{}},
			wantFirst: 201, count: count(`SELECT count(*) FROM columns WHERE panel_id = $1 AND name = 'Idem calc'`, p.Id)},
		{op: "createView", path: "/api/views", body: map[string]any{"name": "Idem view", "panelId": p.Id, "visibleColumns": []string{}},
			other:     map[string]any{"name": "Idem view", "panelId": p.Id, "visibleColumns": []string{}, "metadata": map[string]any{"x": 1}},
			wantFirst: 201, count: count(`SELECT count(*) FROM views WHERE panel_id = $1 AND name = 'Idem view'`, p.Id)},
		{op: "createAcl", path: "/api/acls/panel/" + pid, body: map[string]any{"userEmail": "nurse@idem.example", "permission": "viewer"},
			other: map[string]any{"userEmail": "nurse@idem.example", "permission": "editor"}, wantFirst: 201,
			count: count(`SELECT count(*) FROM acls WHERE resource_type = 'panel' AND resource_id = $1 AND user_email = 'nurse@idem.example'`, p.Id)},
		{op: "createWebhook", path: "/api/webhooks", body: map[string]any{"url": publicHook, "events": []string{"*"}, "panelId": p.Id},
			other: map[string]any{"url": publicHook, "events": []string{"panel_updated"}, "panelId": p.Id}, wantFirst: 201,
			count: count(`SELECT count(*) FROM webhooks WHERE panel_id = $1`, p.Id)},
		{op: "shareAclPublic", path: "/api/acls/panel/" + pid + "/share-public", body: map[string]any{"permission": "viewer"},
			other: map[string]any{"permission": "editor"}, wantFirst: 201,
			count: count(`SELECT count(*) FROM acls WHERE resource_type = 'panel' AND resource_id = $1 AND user_email = '_all'`, p.Id)},
	}
}

func newKey(t testing.TB) string {
	return fmt.Sprintf("key-%s-%d", strings.ReplaceAll(t.Name(), "/", "."), time.Now().UnixNano())
}

// TestIdempotentCreatesReplay: for every creating operation, a retry with the same key answers
// what the first request answered and creates nothing; another request under the key is 422.
func TestIdempotentCreatesReplay(t *testing.T) {
	c := newCaller(t, newTenant("idem"), "u1", auth.RoleAdmin)
	for _, tc := range idemCases(t, c) {
		t.Run(tc.op, func(t *testing.T) {
			key := newKey(t)
			hdr := map[string]string{"Idempotency-Key": key}
			first, firstBody := fxJSON(t, "POST", tc.path, c.token, tc.body, hdr)
			if first.StatusCode != tc.wantFirst {
				t.Fatalf("first: %d %s", first.StatusCode, firstBody)
			}
			for i := 0; i < 3; i++ {
				again, againBody := fxJSON(t, "POST", tc.path, c.token, tc.body, hdr)
				if again.StatusCode != first.StatusCode || string(againBody) != string(firstBody) {
					t.Fatalf("retry %d: %d %s, first answered %d %s", i, again.StatusCode, againBody, first.StatusCode, firstBody)
				}
				for _, h := range []string{"Location", "ETag", "Content-Type"} {
					if again.Header.Get(h) != first.Header.Get(h) {
						t.Errorf("retry %d: %s %q, first %q", i, h, again.Header.Get(h), first.Header.Get(h))
					}
				}
			}
			if n := tc.count(t); n != 1 {
				t.Fatalf("created %d, want 1", n)
			}
			resp, body := fxJSON(t, "POST", tc.path, c.token, tc.other, hdr)
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "idempotency-key-reused") {
				t.Fatalf("same key, different request: %d %s", resp.StatusCode, body)
			}
			if n := tc.count(t); n != 1 {
				t.Fatalf("after a reused key: %d, want 1", n)
			}
			// The same body re-encoded (other key order, spacing) is the same request.
			reordered, _ := json.MarshalIndent(tc.body, "", "   ")
			resp, body = raw(t, "POST", tc.path, c.token, reordered, map[string]string{"Idempotency-Key": key, "Content-Type": "application/json"})
			if resp.StatusCode != first.StatusCode || string(body) != string(firstBody) {
				t.Errorf("re-encoded retry: %d %s", resp.StatusCode, body)
			}
		})
	}
}

// TestIdempotencyKeyHeldElsewhere: while another transaction holds a key, a request with it waits
// and then answers 409 with Retry-After; once the holder gives up, the request goes through.
func TestIdempotencyKeyHeldElsewhere(t *testing.T) {
	c := newCaller(t, newTenant("idem-held"), "u1", auth.RoleAdmin)
	for _, tc := range idemCases(t, c) {
		t.Run(tc.op, func(t *testing.T) {
			t.Parallel()
			key := newKey(t)
			tx, err := fxDB(t).Begin()
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback() }()
			if _, err := tx.Exec(`INSERT INTO idempotency_keys (tenant_id, user_id, key, request_hash, operation, status, body, expires_at)
				VALUES ($1, $2, $3, '\x00', $4, 0, '', now() + interval '1 hour')`, c.tenant, c.user, key, tc.op); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			resp, body := fxJSON(t, "POST", tc.path, c.token, tc.body, map[string]string{"Idempotency-Key": key})
			if resp.StatusCode != http.StatusConflict || resp.Header.Get("Retry-After") == "" ||
				!strings.Contains(string(body), "idempotency-key-in-progress") {
				t.Fatalf("key held by another transaction: %d %v %s", resp.StatusCode, resp.Header, body)
			}
			if waited := time.Since(start); waited < 2*time.Second {
				t.Errorf("answered 409 after %s without waiting for the holder", waited)
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			if resp, body := fxJSON(t, "POST", tc.path, c.token, tc.body, map[string]string{"Idempotency-Key": key}); resp.StatusCode != tc.wantFirst {
				t.Fatalf("after the holder rolled back: %d %s", resp.StatusCode, body)
			}
		})
	}
}

// TestIdempotencyConcurrentDuplicates: many clients send the same create with one key at once;
// exactly one resource is created and every client gets its answer.
func TestIdempotencyConcurrentDuplicates(t *testing.T) {
	c := newCaller(t, newTenant("idem-dup"), "u1", auth.RoleAdmin)
	const keys, perKey = 8, 12
	var wg sync.WaitGroup
	start := make(chan struct{})
	type answer struct {
		key    int
		status int
		body   string
	}
	answers := make(chan answer, keys*perKey*21)
	for k := 0; k < keys; k++ {
		key := fmt.Sprintf("%s-%d", newKey(t), k)
		body := map[string]any{"name": fmt.Sprintf("Dup %d", k), "metadata": map[string]any{"k": k}}
		for i := 0; i < perKey; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				// Like a real client: a 503 (the shared test database may run out of connections
				// under a parallel `go test ./...`) or a 409 (the first request is still running)
				// is retried with the same key.
				for attempt := 0; ; attempt++ {
					resp, b := fxJSON(t, "POST", "/api/panels", c.token, body, map[string]string{"Idempotency-Key": key})
					answers <- answer{k, resp.StatusCode, string(b)}
					if resp.StatusCode == http.StatusCreated || attempt == 20 ||
						(resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusConflict) {
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	close(answers)
	bodies := map[int]map[string]bool{}
	statuses := map[int]int{}
	for a := range answers {
		statuses[a.status]++
		if a.status == http.StatusCreated {
			if bodies[a.key] == nil {
				bodies[a.key] = map[string]bool{}
			}
			bodies[a.key][a.body] = true
		}
	}
	var created, duplicates int
	for k := 0; k < keys; k++ {
		var n int
		if err := fxDB(t).QueryRow(`SELECT count(*) FROM panels WHERE tenant_id = $1 AND name = $2`, c.tenant, fmt.Sprintf("Dup %d", k)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		created += n
		duplicates += max(n-1, 0)
		if n != 1 {
			t.Errorf("key %d: %d panels created, want 1", k, n)
		}
		if len(bodies[k]) != 1 {
			t.Errorf("key %d: %d different 201 bodies, want 1", k, len(bodies[k]))
		}
	}
	if statuses[http.StatusCreated] != keys*perKey || len(statuses) > 3 || statuses[http.StatusInternalServerError] > 0 {
		t.Errorf("want every client to end with a 201 and nothing but 503/409 on the way: %v", statuses)
	}
	t.Logf("concurrent duplicates: %d clients (%d keys x %d), answers %v, panels created %d, duplicates %d",
		keys*perKey, keys, perKey, statuses, created, duplicates)
}

// TestIdempotencyScope: keys belong to one user; refusals are not recorded; expired keys are free.
func TestIdempotencyScope(t *testing.T) {
	tenant := newTenant("idem-scope")
	alice := newCaller(t, tenant, "alice", auth.RoleAdmin)
	bob := newCaller(t, tenant, "bob", auth.RoleAdmin)
	key := newKey(t)
	hdr := map[string]string{"Idempotency-Key": key}
	body := map[string]any{"name": "Scoped"}
	ra, ba := fxJSON(t, "POST", "/api/panels", alice.token, body, hdr)
	rb, bb := fxJSON(t, "POST", "/api/panels", bob.token, body, hdr)
	if ra.StatusCode != 201 || rb.StatusCode != 201 || ra.Header.Get("Location") == rb.Header.Get("Location") {
		t.Fatalf("two users with one key: %d %s / %d %s", ra.StatusCode, ba, rb.StatusCode, bb)
	}

	// A refusal creates nothing and is not recorded: the same key works once the cause is fixed.
	p := fxPanel(t, alice, "Refusals")
	viewKey := map[string]string{"Idempotency-Key": newKey(t) + "-view"}
	view := map[string]any{"name": "Later", "panelId": p.Id, "visibleColumns": []string{"Later column"}}
	if resp, b := fxJSON(t, "POST", "/api/views", alice.token, view, viewKey); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("view of a missing column: %d %s", resp.StatusCode, b)
	}
	fxCalc(t, alice, p.Id, "Later column", `"x"`, map[string]any{})
	if resp, b := fxJSON(t, "POST", "/api/views", alice.token, view, viewKey); resp.StatusCode != http.StatusCreated {
		t.Fatalf("same key after fixing the cause: %d %s", resp.StatusCode, b)
	}

	// After 24 hours the key is forgotten.
	if _, err := fxDB(t).Exec(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE tenant_id = $1 AND user_id = $2 AND key = $3`,
		tenant, "alice", key); err != nil {
		t.Fatal(err)
	}
	again, b := fxJSON(t, "POST", "/api/panels", alice.token, map[string]any{"name": "Scoped, later"}, hdr)
	if again.StatusCode != 201 || again.Header.Get("Location") == ra.Header.Get("Location") {
		t.Fatalf("expired key: %d %s", again.StatusCode, b)
	}

	for _, bad := range []string{strings.Repeat("k", 256), "has space"} {
		if resp, b := fxJSON(t, "POST", "/api/panels", alice.token, body, map[string]string{"Idempotency-Key": bad}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("key %q: %d %s", bad[:min(len(bad), 10)], resp.StatusCode, b)
		}
	}
}

// TestIdempotencyRecordHasNoSecrets: the recorded answer is the masked response.
func TestIdempotencyRecordHasNoSecrets(t *testing.T) {
	c := newCaller(t, newTenant("idem-secret"), "u1", auth.RoleAdmin)
	p := fxPanel(t, c, "Secrets")
	key := newKey(t)
	path := "/api/panels/" + strconv.FormatInt(p.Id, 10) + "/datasources"
	for _, cfg := range []map[string]any{fxSecretAPIConfig(), fxSecretDBConfig()} {
		typ := "api"
		if _, ok := cfg["connectionString"]; ok {
			typ = "database"
		}
		k := key + "-" + typ
		if resp, b := fxJSON(t, "POST", path, c.token, map[string]any{"type": typ, "config": cfg}, map[string]string{"Idempotency-Key": k}); resp.StatusCode != 201 {
			t.Fatalf("%s: %d %s", typ, resp.StatusCode, b)
		}
		var stored []byte
		if err := fxDB(t).QueryRow(`SELECT body FROM idempotency_keys WHERE tenant_id = $1 AND key = $2`, c.tenant, k).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		fxAssertNoSecrets(t, "idempotency record", stored)
		if !strings.Contains(string(stored), "********") {
			t.Errorf("%s record shows no mask: %s", typ, stored)
		}
		// The replay is the masked answer too.
		_, replay := fxJSON(t, "POST", path, c.token, map[string]any{"type": typ, "config": cfg}, map[string]string{"Idempotency-Key": k})
		fxAssertNoSecrets(t, "replay", replay)
	}
}
