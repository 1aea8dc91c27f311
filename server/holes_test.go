package server_test

// The original service's known holes (docs/README.md#the-original-web-ui), each closed on purpose
// (docs/permissions.md#tenant-isolation). Every test plays the attack that worked against the original and checks both the
// answer and that nothing was written.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/panels/panels/server/auth"
)

// holeWorld is two tenants built like the matrix's, without rows crossing tenants.
func holeWorld(t *testing.T) *mxWorld {
	t.Helper()
	return &mxWorld{A: mxBuildSide(t, newTenant("hole-a"), 1), B: mxBuildSide(t, newTenant("hole-b"), 1)}
}

func holeCount(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := secDB(t).QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// The original checked neither that an ACL's resource exists nor its tenant: any member of tenant B
// could attach rows (even owner rows) to tenant A's panel and view ids, list A's rows, and change or
// revoke them.
func TestHoleACLOnAnotherTenantsResource(t *testing.T) {
	w := holeWorld(t)
	a := w.A.slots[0]
	before := w.snapshot(t)
	rowsNamingA := `SELECT count(*) FROM acls WHERE resource_id IN ($1, $2, $3, $4, $5) OR panel_id IN ($1, $2) OR view_id IN ($3, $4, $5)`
	idsA := []any{a.P.id, a.Q.id, a.V, a.U, a.W}
	countBefore := holeCount(t, rowsNamingA, idsA...)

	for _, kind := range []mxKind{mxAdmin, mxCreator, mxUser} {
		tok := w.B.tokens[kind]
		who := "tenant B's " + mxKindName[kind]
		me := w.B.persons[kind].email
		for _, tg := range []mxTarget{tgP, tgQ, tgV, tgW} {
			res := a.resource(tg)
			for _, c := range []struct{ method, path, body string }{
				{"POST", res, `{"userEmail":"` + me + `","permission":"owner"}`},
				{"POST", res, `{"userEmail":"_all","permission":"owner"}`},
				{"POST", res + "/share-public", `{"permission":"owner"}`},
				{"GET", res, ""},
				{"PUT", res + "/" + a.bystander(), `{"permission":"owner"}`},
				{"PUT", res + "/" + w.A.persons[mxCreator].email, `{"permission":"viewer"}`},
				{"DELETE", res + "/" + a.coowner(), ""},
				{"DELETE", res + "/" + a.bystander(), ""},
			} {
				var body []byte
				var h map[string]string
				if c.body != "" {
					body, h = []byte(c.body), jsonCT
				}
				resp, got := raw(t, c.method, c.path, tok, body, h)
				p := wantProblem(t, fmt.Sprintf("%s: %s %s", who, c.method, c.path), resp, got, http.StatusNotFound)
				if strings.Contains(p.Detail, a.tenant) {
					t.Errorf("%s: the 404 names tenant A: %q", who, p.Detail)
				}
			}
		}
		// Ids that exist nowhere answer exactly the same.
		resp, got := raw(t, "POST", "/api/acls/panel/999999999999", tok, []byte(`{"userEmail":"x@y.example","permission":"owner"}`), jsonCT)
		wantProblem(t, who+": ACL on a panel that does not exist", resp, got, http.StatusNotFound)
		resp, got = raw(t, "POST", "/api/acls/view/999999999999/share-public", tok, []byte(`{"permission":"viewer"}`), jsonCT)
		wantProblem(t, who+": sharing a view that does not exist", resp, got, http.StatusNotFound)
	}

	if after := w.snapshot(t); after != before {
		t.Errorf("tenant B's ACL calls on tenant A's ids changed rows:\n%s", mxDiff(before, after))
	}
	if n := holeCount(t, rowsNamingA, idsA...); n != countBefore {
		t.Errorf("ACL rows naming tenant A's ids: %d, before %d", n, countBefore)
	}
	if n := holeCount(t, `SELECT count(*) FROM acls WHERE tenant_id = $1 AND user_email = $2`, w.B.tenant, w.B.persons[mxAdmin].email); n != 0 {
		t.Errorf("%d ACL rows of tenant B name B's admin", n)
	}
	// And tenant A's resources stay invisible to B.
	for _, path := range []string{"/api/panels/" + mxID(a.P.id), "/api/views/" + mxID(a.V), "/api/views/" + mxID(a.W)} {
		resp, got := raw(t, "GET", path, w.B.tokens[mxAdmin], nil, nil)
		wantProblem(t, "tenant B's admin: GET "+path, resp, got, http.StatusNotFound)
	}
}

// The original fetched the resources an ACL row names without a tenant filter, so a row of tenant A
// naming tenant B's ids listed B's panels and views to A's members. Such rows cannot be created
// through the API any more; written directly, they still grant nothing.
func TestHoleACLRowsNamingAnotherTenantsIDsGrantNothing(t *testing.T) {
	w := holeWorld(t)
	a, b := w.A.slots[0], w.B.slots[0]
	mxInsertACLs(t, a.tenant, []mxRow{
		{"panel", w.A.persons[mxUser].email, "owner", b.P.id},
		{"panel", "_all", "owner", b.Q.id},
		{"view", w.A.persons[mxUser].email, "owner", b.V},
		{"view", "_all", "owner", b.U},
	})
	before := w.snapshot(t)
	for _, kind := range []mxKind{mxUser, mxBuilder, mxAdmin} {
		tok := w.A.tokens[kind]
		who := "tenant A's " + mxKindName[kind]
		if listed := listedPanels(t, tok); listed[b.P.id] || listed[b.Q.id] {
			t.Errorf("%s: GET /api/panels lists tenant B's panels", who)
		}
		resp, got := raw(t, "GET", "/api/views", tok, nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: GET /api/views: %d %s", who, resp.StatusCode, got)
		}
		for _, id := range []int64{b.V, b.U, b.W} {
			if strings.Contains(string(got), fmt.Sprintf(`"id":%d,`, id)) {
				t.Errorf("%s: GET /api/views lists tenant B's view %d: %s", who, id, got)
			}
		}
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/api/panels/" + mxID(b.P.id), ""},
			{"GET", "/api/panels/" + mxID(b.Q.id) + "/columns", ""},
			{"PUT", "/api/panels/" + mxID(b.P.id), `{"name":"taken over"}`},
			{"DELETE", "/api/panels/" + mxID(b.Q.id), ""},
			{"GET", "/api/views/" + mxID(b.V), ""},
			{"PUT", "/api/views/" + mxID(b.U), `{"name":"taken over"}`},
			{"PUT", "/api/views/" + mxID(b.V) + "/sorts", `{"sorts":[]}`},
			{"DELETE", "/api/views/" + mxID(b.U), ""},
			{"GET", "/api/acls/panel/" + mxID(b.P.id), ""},
		} {
			var body []byte
			var h map[string]string
			if c.body != "" {
				body, h = []byte(c.body), jsonCT
			}
			resp, got := raw(t, c.method, c.path, tok, body, h)
			wantProblem(t, fmt.Sprintf("%s: %s %s", who, c.method, c.path), resp, got, http.StatusNotFound)
		}
	}
	if after := w.snapshot(t); after != before {
		t.Errorf("rows changed:\n%s", mxDiff(before, after))
	}
}

// The original's GET /changes/panels replaced the tenant condition by panel.id = panelId, and took
// the tenant from the query string: any caller read any tenant's history.
func TestHoleChangesOfAnotherTenantsPanel(t *testing.T) {
	w := holeWorld(t)
	b := w.B.slots[0]
	for _, kind := range []mxKind{mxAdmin, mxCreator, mxUser} {
		tok := w.A.tokens[kind]
		who := "tenant A's " + mxKindName[kind]
		for _, q := range []string{
			"?panelId=" + mxID(b.P.id),
			"?panelId=" + mxID(b.Q.id), // the panel of B's published view
			"?panelId=" + mxID(b.P.id) + "&changeType=panel_created",
			"?panelId=" + mxID(b.P.id) + "&limit=500&offset=0",
		} {
			resp, got := raw(t, "GET", "/api/changes/panels"+q, tok, nil, nil)
			p := wantProblem(t, who+": changes"+q, resp, got, http.StatusNotFound)
			if strings.Contains(p.Detail, b.tenant) {
				t.Errorf("%s: the 404 names tenant B: %q", who, p.Detail)
			}
		}
		// The original's query-string tenant is an assertion now: another tenant's is refused.
		resp, got := raw(t, "GET", "/api/changes/panels?tenantId="+b.tenant+"&userId="+w.A.persons[kind].sub, tok, nil, nil)
		wantProblem(t, who+": changes with tenant B in the query", resp, got, http.StatusForbidden)
		resp, got = raw(t, "GET", "/api/changes/panels?panelId="+mxID(b.P.id)+"&tenantId="+b.tenant, tok, nil, nil)
		wantProblem(t, who+": changes of B's panel with tenant B in the query", resp, got, http.StatusForbidden)
		if changed := changedPanels(t, tok); changed[b.P.id] || changed[b.Q.id] {
			t.Errorf("%s: the unfiltered history shows tenant B's panels", who)
		}
	}
	// B's own members read it, so the 404 above is about the tenant, not the id.
	resp, got := raw(t, "GET", "/api/changes/panels?panelId="+mxID(b.P.id), w.B.tokens[mxCreator], nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(got), `"panel_created"`) {
		t.Errorf("tenant B's creator reading its panel's history: %d %s", resp.StatusCode, got)
	}
}

// holeNote writes a notification directly (what a change would write), unread.
func holeNote(t *testing.T, tenant string, view int64, user string) int64 {
	t.Helper()
	var id int64
	if err := secDB(t).QueryRowContext(t.Context(), `INSERT INTO view_notifications (tenant_id, view_id, user_id, impact, message)
		VALUES ($1, $2, $3, 'warning', 'hole test') RETURNING id`, tenant, view, user).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

type holeNotes struct {
	Notifications []struct {
		ID     int64  `json:"id"`
		UserID string `json:"userId"`
	} `json:"notifications"`
	Total       int `json:"total"`
	UnreadCount int `json:"unreadCount"`
}

func holeListNotes(t *testing.T, who, tok, query string) holeNotes {
	t.Helper()
	resp, body := raw(t, "GET", "/api/notifications/views"+query, tok, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: list notifications: %d %s", who, resp.StatusCode, body)
	}
	var l holeNotes
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

func holeMarkRead(t *testing.T, who, tok string, ids ...int64) int {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"notificationIds": ids})
	resp, body := raw(t, "PUT", "/api/notifications/views/mark-read", tok, b, jsonCT)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: mark read: %d %s", who, resp.StatusCode, body)
	}
	var r struct {
		Updated *int `json:"updated"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Updated == nil {
		t.Fatalf("%s: mark read answered %s", who, body)
	}
	return *r.Updated
}

// The original's notification routes took tenant and user from the query string (and always
// failed); mark-read was meant to filter by the caller only. Only the caller's own notifications
// are listed and can be marked read, whatever ids or query parameters are sent.
func TestHoleOtherUsersNotifications(t *testing.T) {
	tenant, other := newTenant("hole-notes"), newTenant("hole-notes-b")
	owner := token(t, tenant, "olga", "olga@"+tenant+".example", auth.RoleBuilder)
	var v struct {
		ID int64 `json:"id"`
	}
	mustCreate(t, "POST", "/api/panels", owner, `{"name":"Notes"}`, &v)
	mustCreate(t, "POST", "/api/views", owner, fmt.Sprintf(`{"name":"Mine","panelId":%d,"visibleColumns":[]}`, v.ID), &v)
	view := v.ID
	// The same sub in another tenant is another person.
	owner2 := token(t, other, "olga2", "olga2@"+other+".example", auth.RoleBuilder)
	mustCreate(t, "POST", "/api/panels", owner2, `{"name":"Notes"}`, &v)
	mustCreate(t, "POST", "/api/views", owner2, fmt.Sprintf(`{"name":"Mine","panelId":%d,"visibleColumns":[]}`, v.ID), &v)
	view2 := v.ID

	nurse := token(t, tenant, "nurse", "nurse@"+tenant+".example", auth.RoleUser)
	doctor := token(t, tenant, "doctor", "doctor@"+tenant+".example", auth.RoleAdmin) // even an admin sees only its own
	nurseB := token(t, other, "nurse", "nurse@"+other+".example", auth.RoleUser)
	n1, n2 := holeNote(t, tenant, view, "nurse"), holeNote(t, tenant, view, "nurse")
	d1 := holeNote(t, tenant, view, "doctor")
	b1 := holeNote(t, other, view2, "nurse")
	unread := func(id int64) bool {
		return holeCount(t, `SELECT count(*) FROM view_notifications WHERE id = $1 AND NOT is_read AND read_at IS NULL`, id) == 1
	}
	ids := func(l holeNotes) map[int64]bool {
		out := map[int64]bool{}
		for _, n := range l.Notifications {
			out[n.ID] = true
		}
		return out
	}

	if l := holeListNotes(t, "doctor", doctor, ""); l.Total != 1 || l.UnreadCount != 1 || !ids(l)[d1] || len(l.Notifications) != 1 {
		t.Errorf("doctor's list: %+v, want only %d", l, d1)
	}
	if l := holeListNotes(t, "nurse", nurse, "?isRead=false"); l.Total != 2 || !ids(l)[n1] || !ids(l)[n2] || ids(l)[b1] {
		t.Errorf("nurse's list: %+v, want %d and %d only", l, n1, n2)
	}
	if l := holeListNotes(t, "nurse of tenant B", nurseB, ""); l.Total != 1 || !ids(l)[b1] {
		t.Errorf("tenant B's nurse's list: %+v, want only %d", l, b1)
	}
	// Asking for someone else through the original's query parameters is refused.
	for _, q := range []string{"?userId=nurse", "?tenantId=" + other, "?userId=doctor&tenantId=" + other} {
		resp, body := raw(t, "GET", "/api/notifications/views"+q, doctor, nil, nil)
		wantProblem(t, "doctor asking for "+q, resp, body, http.StatusForbidden)
	}

	if n := holeMarkRead(t, "doctor", doctor, n1, n2, b1); n != 0 {
		t.Errorf("doctor marked %d of others' notifications read", n)
	}
	if n := holeMarkRead(t, "tenant B's nurse", nurseB, n1, n2); n != 0 {
		t.Errorf("the same sub in tenant B marked %d of tenant A's notifications read", n)
	}
	for _, id := range []int64{n1, n2, b1} {
		if !unread(id) {
			t.Errorf("notification %d was marked read by someone else", id)
		}
	}
	// Mixed ids: only the caller's own count, and only they change.
	if n := holeMarkRead(t, "doctor", doctor, n1, d1, b1, 999999999999); n != 1 {
		t.Errorf("doctor marking one own and others' notifications: updated %d, want 1", n)
	}
	if unread(d1) || !unread(n1) || !unread(b1) {
		t.Errorf("after the doctor's mixed mark-read: own unread %t, nurse's unread %t, tenant B's unread %t",
			unread(d1), unread(n1), unread(b1))
	}
	if n := holeMarkRead(t, "nurse", nurse, n1, n2); n != 2 {
		t.Errorf("nurse marking its own: updated %d, want 2", n)
	}
	if !unread(b1) {
		t.Errorf("tenant B's notification was marked read by tenant A's nurse")
	}
	if l := holeListNotes(t, "tenant B's nurse", nurseB, "?isRead=false"); l.UnreadCount != 1 || !ids(l)[b1] {
		t.Errorf("tenant B's nurse after tenant A's nurse marked hers: %+v", l)
	}
}

// The original checked the owner of a view only for PUT /views/:id/sorts; anyone in the tenant
// could rename, re-column or delete another user's view. Now every mutation follows docs/permissions.md#not-found-or-forbidden:
// not visible → 404, visible (viewer on the view or its panel, or published) → 403.
func TestHoleEditingAnotherUsersView(t *testing.T) {
	w := holeWorld(t)
	a := w.A.slots[0]
	mutations := func(view int64) []struct{ method, path, body string } {
		vp := "/api/views/" + mxID(view)
		return []struct{ method, path, body string }{
			{"PUT", vp, `{"name":"hijacked","visibleColumns":[]}`},
			{"PUT", vp, fmt.Sprintf(`{"id":%d,"metadata":{"hijacked":true}}`, view)},
			{"PUT", vp + "/sorts", `{"sorts":[{"columnName":"Email","direction":"asc","order":1}]}`},
			{"PUT", vp + "/filters", `{"filters":[{"columnName":"Email","operator":"isNull"}]}`},
			{"POST", vp + "/publish", ""},
			{"POST", vp + "/unpublish", ""},
			{"DELETE", vp, ""},
		}
	}
	stranger := token(t, a.tenant, "stranger", "stranger@"+a.tenant+".example", auth.RoleBuilder)
	if resp, body := raw(t, "GET", "/api/panels", stranger, nil, nil); resp.StatusCode != http.StatusOK { // recorded as a member now, not mid-test
		t.Fatalf("stranger: %d %s", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		who  string
		tok  string
		view int64
		want int
	}{
		{"a builder without rows, private view V", stranger, a.V, http.StatusNotFound},
		{"a builder without rows, private view U", stranger, a.U, http.StatusNotFound},
		{"a builder without rows, published view W", stranger, a.W, http.StatusForbidden},
		{"a viewer of the view", w.A.tokens[mxViewViewer], a.V, http.StatusForbidden},
		{"an editor of view V, on view U of the same panel", w.A.tokens[mxViewEditor], a.U, http.StatusNotFound},
		{"an owner of view V, on view U of the same panel", w.A.tokens[mxViewOwner], a.U, http.StatusNotFound},
		{"a viewer of the panel", w.A.tokens[mxPanelViewer], a.U, http.StatusForbidden},
		{"an owner of panel P, on the published view of panel Q", w.A.tokens[mxPanelOwner], a.W, http.StatusForbidden},
		{"tenant B's admin", w.B.tokens[mxAdmin], a.V, http.StatusNotFound},
	} {
		before := w.snapshot(t)
		for _, m := range mutations(tc.view) {
			var body []byte
			var h map[string]string
			if m.body != "" {
				body, h = []byte(m.body), jsonCT
			}
			resp, got := raw(t, m.method, m.path, tc.tok, body, h)
			wantProblem(t, fmt.Sprintf("%s: %s %s", tc.who, m.method, m.path), resp, got, tc.want)
		}
		if after := w.snapshot(t); after != before {
			t.Errorf("%s: refused view edits changed rows:\n%s", tc.who, mxDiff(before, after))
		}
	}
	// Those allowed by the table still can: the view's editor and the panel's editor. Only who can
	// read the panel changes the columns a view names (its sorts here): the view's editor alone
	// would otherwise make the view sort, filter or show any column of a panel it cannot read.
	for _, tc := range []struct {
		who   string
		tok   string
		view  int64
		sorts int
	}{{"the view's editor", w.A.tokens[mxViewEditor], a.V, http.StatusForbidden}, {"the panel's editor", w.A.tokens[mxPanelEditor], a.U, http.StatusOK}} {
		resp, got := raw(t, "PUT", "/api/views/"+mxID(tc.view)+"/sorts", tc.tok,
			[]byte(`{"sorts":[{"columnName":"Email","direction":"asc","order":1}]}`), jsonCT)
		if resp.StatusCode != tc.sorts {
			t.Errorf("%s replacing sorts: %d, want %d: %s", tc.who, resp.StatusCode, tc.sorts, got)
		}
		resp, got = raw(t, "PUT", "/api/views/"+mxID(tc.view), tc.tok, []byte(`{"name":"Edited by `+tc.who+`"}`), jsonCT)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s renaming: %d %s", tc.who, resp.StatusCode, got)
		}
	}
}
