package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	curs "github.com/panels/panels/server/cursor"
)

// Statuses the spec documents that no feature test reaches on its own; found missing by the
// response-coverage check (coverage_test.go).

// TestSpecIdentityAssertions sends, to every operation that takes a `tenantId` or `userId`
// (query or JSON body), an otherwise valid request asserting another tenant or user: the answer
// must be 403 and nothing may change.
func TestSpecIdentityAssertions(t *testing.T) {
	tenant := newTenant("assert")
	f := newNegFixture(t, tenant)
	raw(t, "GET", "/api/panels", f.admin, nil, nil) // records the admin as a member first
	before, state := secSnapshot(t, tenant), dbWrites(t)
	sent := 0
	for _, o := range specOperations(t) {
		for _, field := range []string{"tenantId", "userId"} {
			r := f.baseRequest(t, o)
			inQuery := false
			for _, p := range o.params {
				inQuery = inQuery || (p.In == "query" && p.Name == field)
			}
			inBody := o.body != nil && o.body.Properties[field] != nil
			if !inQuery && !inBody {
				continue
			}
			if inQuery {
				r.query.Set(field, "someone-else")
			} else if m, ok := r.body.(map[string]any); ok {
				m[field] = "someone-else"
				delete(m, "id") // an example's echoed id would be refused (400) before the assertion
			}
			c := o.negCase(t, field, r)
			resp, body := sendCase(t, o.method, f.admin, c)
			sent++
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s with another %s: %d, want 403: %.300s", o.method, c.url, field, resp.StatusCode, body)
			}
		}
	}
	if after := secSnapshot(t, tenant); after != before {
		t.Errorf("the tenant's rows changed:\nbefore %s\nafter  %s", before, after)
	}
	if after := dbWrites(t); after != state {
		t.Errorf("the database was written to: before %s after %s", state, after)
	}
	if sent == 0 {
		t.Fatal("no operation takes tenantId or userId: the spec changed, revisit this test")
	}
	t.Logf("%d requests asserting another tenant or user", sent)
}

// expiredCursor forges a cursor of the given list as the server would have issued it 25 hours
// ago (cursors live 24 hours).
func expiredCursor(list, scope string) string {
	return signedCursor(list, scope, &curs.Key{Time: time.Now().UnixMicro(), ID: 1}, time.Now().Add(-25*time.Hour))
}

func TestContractStatuses(t *testing.T) {
	tenant := newTenant("statuses")
	f := newNegFixture(t, tenant)
	admin := "admin-" + tenant
	viewPath := fmt.Sprintf("/api/views/%d", f.view)

	t.Run("expired cursors are 410", func(t *testing.T) {
		for _, tc := range []struct{ name, path string }{
			{"listPanels", "/api/panels?limit=1&cursor=" + expiredCursor("panels", tenant)},
			{"listViews", "/api/views?limit=1&cursor=" + expiredCursor("views", tenant+"|")},
			{"listViewNotifications", "/api/notifications/views?limit=1&cursor=" + expiredCursor("notifications", tenant+"|"+admin+"|")},
		} {
			resp, body := raw(t, "GET", tc.path, f.admin, nil, nil)
			wantProblem(t, tc.name, resp, body, http.StatusGone)
		}
	})

	t.Run("getView answers 304 to its own ETag", func(t *testing.T) {
		resp, body := raw(t, "GET", viewPath, f.admin, nil, nil)
		etag := resp.Header.Get("ETag")
		if resp.StatusCode != http.StatusOK || etag == "" {
			t.Fatalf("getView: %d ETag %q %s", resp.StatusCode, etag, body)
		}
		resp, body = raw(t, "GET", viewPath, f.admin, nil, map[string]string{"If-None-Match": etag})
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("ETag") != etag {
			t.Errorf("getView with If-None-Match: %d ETag %q body %q", resp.StatusCode, resp.Header.Get("ETag"), body)
		}
	})

	t.Run("a stale If-Match on delete is 412 and deletes nothing", func(t *testing.T) {
		before := secSnapshot(t, tenant)
		stale := map[string]string{"If-Match": `"stale"`}
		for _, path := range []string{viewPath, f.panelPath} {
			resp, body := raw(t, "DELETE", path, f.admin, nil, stale)
			wantProblem(t, "DELETE "+path, resp, body, http.StatusPreconditionFailed)
		}
		if after := secSnapshot(t, tenant); after != before {
			t.Errorf("the tenant's rows changed:\nbefore %s\nafter  %s", before, after)
		}
	})
}
