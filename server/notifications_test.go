package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	client "github.com/panels/panels/clients/go"
	"github.com/panels/panels/server/auth"
)

// ntFix is a panel of alice (a builder) with a data source and the columns Email, Age and Status;
// bob, carol and dave are known members, bob reads the panel.
type ntFix struct {
	tenant                  string
	alice, bob, carol, dave *caller
	panelID, dsID           int64
	email, age, status      client.Column
}

func newNtFix(t *testing.T, prefix string) *ntFix {
	t.Helper()
	f := &ntFix{tenant: newTenant(prefix)}
	f.alice = newCaller(t, f.tenant, "alice", auth.RoleBuilder)
	f.bob = newCaller(t, f.tenant, "bob", auth.RoleUser)
	f.carol = newCaller(t, f.tenant, "carol", auth.RoleUser)
	f.dave = newCaller(t, f.tenant, "dave", auth.RoleUser)
	p := fxPanel(t, f.alice, "Diabetes")
	f.panelID = p.Id
	f.dsID = fxDataSource(t, f.alice, p.Id, client.DataSourceTypeApi, fxUISource()).Id
	f.email = fxBase(t, f.alice, p.Id, f.dsID, "Email", "email", nil)
	f.age = fxBase(t, f.alice, p.Id, f.dsID, "Age", "age", nil)
	f.status = fxBase(t, f.alice, p.Id, f.dsID, "Status", "status", nil)
	fxGrant(t, f.tenant, p.Id, f.bob.email, "viewer")
	for _, c := range []*caller{f.alice, f.bob, f.carol, f.dave} {
		ntMemberSQL(t, f.tenant, c.user, c.email)
	}
	return f
}

// ntMemberSQL records a member (the service may already have recorded it on its first request).
func ntMemberSQL(t testing.TB, tenant, sub, email string) {
	t.Helper()
	if _, err := fxDB(t).ExecContext(t.Context(), `INSERT INTO members (tenant_id, user_id, email) VALUES ($1, $2, NULLIF($3, ''))
		ON CONFLICT (tenant_id, user_id) DO NOTHING`, tenant, sub, email); err != nil {
		t.Fatal(err)
	}
}

// ntViewACL writes an ACL row on a view directly.
func ntViewACL(t testing.TB, tenant string, viewID int64, principal, permission string) {
	t.Helper()
	if _, err := fxDB(t).ExecContext(t.Context(), `INSERT INTO acls (tenant_id, resource_type, resource_id, view_id, user_email, permission)
		VALUES ($1, 'view', $2, $2, $3, $4)`, tenant, viewID, principal, permission); err != nil {
		t.Fatal(err)
	}
}

func ntRef(c client.Column) string { return strconv.FormatInt(c.Id, 10) }

// ntView creates a view through the API (its owner row included) and optionally publishes it.
func ntView(t testing.TB, c *caller, panelID int64, name string, publish bool, visible ...string) int64 {
	t.Helper()
	if visible == nil {
		visible = []string{}
	}
	r, err := c.api.CreateViewWithResponse(t.Context(), nil, client.ViewCreate{Name: name, PanelId: panelID, VisibleColumns: visible})
	if err != nil || r.StatusCode() != http.StatusCreated {
		t.Fatalf("create view %q: %v %d %s", name, err, fxStatus(r.HTTPResponse), r.Body)
	}
	if publish {
		pr, err := c.api.PublishViewWithResponse(t.Context(), r.JSON201.Id)
		if err != nil || pr.StatusCode() != http.StatusOK {
			t.Fatalf("publish view %q: %v %d %s", name, err, fxStatus(pr.HTTPResponse), pr.Body)
		}
	}
	return r.JSON201.Id
}

// ntList fetches GET /api/notifications/views with the exact query.
func ntList(t testing.TB, c *caller, query string) client.NotificationList {
	t.Helper()
	resp, body := raw(t, http.MethodGet, "/api/notifications/views"+query, c.token, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list notifications %q: %d %s", query, resp.StatusCode, body)
	}
	var out client.NotificationList
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// ntSummary renders notifications as sorted "view name:impact" strings.
func ntSummary(ns []client.ViewNotification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.View.Name + ":" + string(n.Impact)
	}
	slices.Sort(out)
	return out
}

func ntExpect(t testing.TB, what string, got []client.ViewNotification, want ...string) {
	t.Helper()
	slices.Sort(want)
	if s := ntSummary(got); !slices.Equal(s, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, s, want)
	}
}

func ntMarkRead(t testing.TB, c *caller, ids ...int64) int {
	t.Helper()
	if ids == nil {
		ids = []int64{}
	}
	resp, body := fxJSON(t, http.MethodPut, "/api/notifications/views/mark-read", c.token, map[string]any{"notificationIds": ids}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mark read: %d %s", resp.StatusCode, body)
	}
	var out client.MarkReadResult
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out.Updated
}

func ntDBCount(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := fxDB(t).QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNotificationsOfEachChangeKind(t *testing.T) {
	f := newNtFix(t, "notif")
	ctx := t.Context()
	published := ntView(t, f.bob, f.panelID, "Bob's list", true, ntRef(f.email), "Age")
	shared := ntView(t, f.bob, f.panelID, "Shared with carol", false, ntRef(f.status))
	ntViewACL(t, f.tenant, shared, f.carol.email, "viewer")
	if r, err := f.bob.api.ReplaceViewSortsWithResponse(ctx, shared, client.ViewSortsReplace{Sorts: []client.ViewSortInput{
		{ColumnName: "Age", Direction: client.Asc, Order: 1}}}); err != nil || r.StatusCode() != http.StatusOK {
		t.Fatalf("sorts: %v %s", err, r.Body)
	}
	ntView(t, f.bob, f.panelID, "Private", false, ntRef(f.email), ntRef(f.age), ntRef(f.status))
	ntView(t, f.bob, f.panelID, "Other columns", true, ntRef(f.status))

	// 1. A column the views use is modified: warning for the published and the shared view.
	resp, body := fxJSON(t, http.MethodPut, fxColPath(f.panelID, f.age.Id), f.alice.token, map[string]any{"name": "Age (years)"}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rename: %d %s", resp.StatusCode, body)
	}
	bob := ntList(t, f.bob, "")
	ntExpect(t, "bob after a rename", bob.Notifications, "Bob's list:warning", "Shared with carol:warning")
	ntExpect(t, "carol after a rename", ntList(t, f.carol, "").Notifications, "Bob's list:warning", "Shared with carol:warning")
	ntExpect(t, "dave after a rename", ntList(t, f.dave, "").Notifications, "Bob's list:warning")
	ntExpect(t, "alice (the actor)", ntList(t, f.alice, "").Notifications)

	n := bob.Notifications[0]
	if n.UserId != "bob" || n.TenantId != f.tenant || n.IsRead || !n.ReadAt.IsNull() || n.View.PanelId != f.panelID || n.ViewId != n.View.Id {
		t.Errorf("notification fields: %+v", n)
	}
	if n.View.Id == published {
		if pb, err := n.View.PublishedBy.Get(); err != nil || pb != "bob" {
			t.Errorf("publishedBy of the published view: %v %v", pb, err)
		}
	}
	if !strings.Contains(n.Message, `Column "Age (years)" of panel "Diabetes" was modified (name)`) {
		t.Errorf("message %q", n.Message)
	}
	changes := fxChangesOf(fxChanges(t, f.alice, f.panelID), client.ColumnModified)
	if id, err := n.ChangeId.Get(); err != nil || len(changes) != 1 || id != changes[0].Id {
		t.Errorf("changeId %v (%v), want the column_modified change %+v", id, err, changes)
	}

	// 2. A shown column is removed: breaking, for the published view only (the shared view does not use it).
	resp, body = raw(t, http.MethodDelete, fxColPath(f.panelID, f.email.Id), f.alice.token, nil, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete column: %d %s", resp.StatusCode, body)
	}
	breaking := ntList(t, f.bob, "?notificationType=breaking")
	ntExpect(t, "bob's breaking", breaking.Notifications, "Bob's list:breaking")
	if len(breaking.Notifications) == 1 {
		want := `Column "Email" was removed from panel "Diabetes"; view "Bob's list" can no longer render as saved`
		if breaking.Notifications[0].Message != want {
			t.Errorf("message %q, want %q", breaking.Notifications[0].Message, want)
		}
	}
	ntExpect(t, "carol's breaking", ntList(t, f.carol, "?notificationType=breaking").Notifications, "Bob's list:breaking")

	// 3. The cohort rule: info for both.
	resp, body = fxJSON(t, http.MethodPut, "/api/panels/"+strconv.FormatInt(f.panelID, 10), f.alice.token,
		map[string]any{"cohortRule": map[string]any{"logic": "AND", "conditions": []any{map[string]any{"field": "age", "operator": "gte", "value": 65}}}}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cohort: %d %s", resp.StatusCode, body)
	}
	// 4. A data source's configuration: info for both.
	resp, body = fxJSON(t, http.MethodPut, fxDSPath(f.dsID), f.alice.token,
		map[string]any{"config": map[string]any{"endpoint": "/api/people", "method": "GET"}}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("source: %d %s", resp.StatusCode, body)
	}
	info := ntList(t, f.bob, "?notificationType=info")
	ntExpect(t, "bob's info", info.Notifications, "Bob's list:info", "Bob's list:info", "Shared with carol:info", "Shared with carol:info",
		"Other columns:info", "Other columns:info") // every published or shared view of the panel
	var cohort, source int
	for _, n := range info.Notifications {
		switch {
		case strings.Contains(n.Message, "cohort rule"):
			cohort++
		case strings.Contains(n.Message, fmt.Sprintf("Data source %d (api)", f.dsID)):
			source++
		}
	}
	if cohort != 3 || source != 3 {
		t.Errorf("info messages: %d cohort, %d source", cohort, source)
	}

	all := ntList(t, f.bob, "")
	if all.Total != 9 || all.UnreadCount != 9 || all.HasMore || all.TotalCapped || all.NextCursor != nil {
		t.Errorf("bob's totals: total %d unread %d hasMore %v", all.Total, all.UnreadCount, all.HasMore)
	}
	for i := 1; i < len(all.Notifications); i++ {
		a, b := all.Notifications[i-1], all.Notifications[i]
		if a.CreatedAt.Before(b.CreatedAt.Time) || (a.CreatedAt.Equal(b.CreatedAt.Time) && a.Id < b.Id) {
			t.Errorf("not newest first at %d", i)
		}
	}
	ntExpect(t, "alice still has none", ntList(t, f.alice, "").Notifications)
}

func TestNotificationRecipients(t *testing.T) {
	f := newNtFix(t, "notifwho")
	erin := newCaller(t, f.tenant, "erin", auth.RoleUser) // panel ACL by email, never recorded as a member
	frank := newCaller(t, f.tenant, "frank", auth.RoleUser)
	gina := newCaller(t, f.tenant, "gina", auth.RoleUser)
	ntMemberSQL(t, f.tenant, "gina", gina.email) // a known member: her sub and email are one person
	fxGrant(t, f.tenant, f.panelID, erin.email, "viewer")
	fxGrant(t, f.tenant, f.panelID, "frank", "viewer") // panel ACL by sub
	fxGrant(t, f.tenant, f.panelID, f.carol.email, "editor")

	shared := ntView(t, f.bob, f.panelID, "Shared", false, ntRef(f.status))
	ntViewACL(t, f.tenant, shared, "gina", "viewer")          // view ACL by sub
	ntViewACL(t, f.tenant, shared, gina.email, "editor")      // and by email: one person
	ntViewACL(t, f.tenant, shared, "FRANK@NOWHERE", "viewer") // someone unknown: stored as written
	everyone := ntView(t, f.bob, f.panelID, "Shared with everyone", false, ntRef(f.status))
	ntViewACL(t, f.tenant, everyone, "_all", "viewer")
	ntView(t, f.bob, f.panelID, "Bob's own only", false, ntRef(f.status)) // only its owner row: not shared

	// carol (a panel editor) removes Status.
	resp, body := raw(t, http.MethodDelete, fxColPath(f.panelID, f.status.Id), f.carol.token, nil, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete column: %d %s", resp.StatusCode, body)
	}
	rows, err := fxDB(t).QueryContext(t.Context(), `SELECT v.name, n.user_id FROM view_notifications n JOIN views v ON v.id = n.view_id
		WHERE n.tenant_id = $1`, f.tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var v, u string
		if err := rows.Scan(&v, &u); err != nil {
			t.Fatal(err)
		}
		got = append(got, v+":"+u)
	}
	// Members recorded by the service itself (everyone who made a request) are members too.
	var members []string
	mrows, err := fxDB(t).QueryContext(t.Context(), `SELECT user_id FROM members WHERE tenant_id = $1 ORDER BY 1`, f.tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer mrows.Close()
	for mrows.Next() {
		var u string
		if err := mrows.Scan(&u); err != nil {
			t.Fatal(err)
		}
		members = append(members, u)
	}
	erinID := erin.email
	if slices.Contains(members, "erin") {
		erinID = "erin" // the service recorded her: her email maps to her sub
	}
	want := []string{
		// owner, view ACL (gina once), panel ACL (alice through her owner row, bob, erin, frank), not carol
		"Shared:alice", "Shared:bob", "Shared:frank", "Shared:FRANK@NOWHERE", "Shared:gina", "Shared:" + erinID,
	}
	for _, m := range append(members, "alice", "bob", "frank", erinID) {
		if m != "carol" {
			want = append(want, "Shared with everyone:"+m)
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("recipients:\n got  %q\n want %q", got, want)
	}
	// Each person reads their own, through sub or email.
	ntExpect(t, "gina", ntList(t, gina, "").Notifications, "Shared:breaking", "Shared with everyone:breaking")
	ntExpect(t, "erin", ntList(t, erin, "").Notifications, "Shared:breaking", "Shared with everyone:breaking")
	ntExpect(t, "frank", ntList(t, frank, "").Notifications, "Shared:breaking", "Shared with everyone:breaking")
	ntExpect(t, "carol (the actor)", ntList(t, f.carol, "").Notifications)
}

func TestNotificationsNeedAPublishedOrSharedViewUsingTheColumn(t *testing.T) {
	f := newNtFix(t, "notifnone")
	ntView(t, f.bob, f.panelID, "Private", false, ntRef(f.email), "Age")
	ntView(t, f.bob, f.panelID, "Published, other column", true, ntRef(f.status))
	resp, body := raw(t, http.MethodDelete, fxColPath(f.panelID, f.email.Id), f.alice.token, nil, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	resp, body = fxJSON(t, http.MethodPut, fxColPath(f.panelID, f.age.Id), f.alice.token, map[string]any{"type": "number"}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("update: %d %s", resp.StatusCode, body)
	}
	if n := ntDBCount(t, `SELECT count(*) FROM view_notifications WHERE tenant_id = $1`, f.tenant); n != 0 {
		t.Errorf("%d notifications, want none", n)
	}
}

func TestNotificationsOnlyForCompletedChanges(t *testing.T) {
	f := newNtFix(t, "notiffail")
	ntView(t, f.bob, f.panelID, "Published", true, ntRef(f.email), ntRef(f.age))
	fxCalc(t, f.alice, f.panelID, "Label", `CONCAT([Email], "!")`, nil)
	// A precondition that fails, and a conflict: nothing changes, nobody hears of it.
	resp, _ := raw(t, http.MethodDelete, fxColPath(f.panelID, f.age.Id), f.alice.token, nil, map[string]string{"If-Match": `"stale"`})
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: %d", resp.StatusCode)
	}
	resp, _ = raw(t, http.MethodDelete, fxColPath(f.panelID, f.email.Id), f.alice.token, nil, nil)
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("delete with a dependent: %d", resp.StatusCode)
	}
	resp, _ = fxJSON(t, http.MethodPut, fxDSPath(f.dsID), f.alice.token, map[string]any{"config": map[string]any{"method": "DELETE"}}, nil)
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("invalid source config: %d", resp.StatusCode)
	}
	if n := ntDBCount(t, `SELECT count(*) FROM view_notifications WHERE tenant_id = $1`, f.tenant); n != 0 {
		t.Errorf("%d notifications after refused changes", n)
	}
	// With force, the column and its dependent go: one notification per removed column the view uses.
	resp, body := raw(t, http.MethodDelete, fxColPath(f.panelID, f.email.Id)+"?force=true", f.alice.token, nil, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("forced delete: %d %s", resp.StatusCode, body)
	}
	ntExpect(t, "bob", ntList(t, f.bob, "").Notifications, "Published:breaking")
}

func TestNotificationListFiltersPagingAndMarkRead(t *testing.T) {
	f := newNtFix(t, "notifpage")
	ntView(t, f.bob, f.panelID, "Published", true, ntRef(f.email), ntRef(f.age), ntRef(f.status))
	put := func(path string, body map[string]any) {
		t.Helper()
		if resp, b := fxJSON(t, http.MethodPut, path, f.alice.token, body, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", path, resp.StatusCode, b)
		}
	}
	put(fxColPath(f.panelID, f.age.Id), map[string]any{"type": "number"})
	put(fxColPath(f.panelID, f.status.Id), map[string]any{"name": "State"})
	time.Sleep(20 * time.Millisecond)
	mid := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	put(fxColPath(f.panelID, f.email.Id), map[string]any{"name": "Mail"})
	if resp, b := raw(t, http.MethodDelete, fxColPath(f.panelID, f.age.Id), f.alice.token, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	all := ntList(t, f.bob, "")
	if all.Total != 4 || all.UnreadCount != 4 || len(all.Notifications) != 4 {
		t.Fatalf("bob's list: %+v", all)
	}

	// since
	since := ntList(t, f.bob, "?since="+url.QueryEscape(mid.Format(time.RFC3339Nano)))
	if since.Total != 2 || since.Notifications[0].Id != all.Notifications[0].Id || since.UnreadCount != 4 {
		t.Errorf("since: total %d unread %d", since.Total, since.UnreadCount)
	}
	// paging by offset and by cursor
	p1 := ntList(t, f.bob, "?limit=3")
	if len(p1.Notifications) != 3 || !p1.HasMore || p1.Total != 4 || p1.NextCursor == nil {
		t.Fatalf("first page: %+v", p1)
	}
	p2 := ntList(t, f.bob, "?limit=3&cursor="+url.QueryEscape(*p1.NextCursor))
	if len(p2.Notifications) != 1 || p2.HasMore || p2.Notifications[0].Id != all.Notifications[3].Id || p2.NextCursor != nil {
		t.Errorf("cursor page: %+v", p2)
	}
	if p := ntList(t, f.bob, "?limit=2&offset=2"); len(p.Notifications) != 2 || p.Notifications[0].Id != all.Notifications[2].Id || p.HasMore {
		t.Errorf("offset page: %+v", p)
	}
	// A cursor of another filter, list or caller is refused.
	if resp, _ := raw(t, http.MethodGet, "/api/notifications/views?isRead=false&cursor="+url.QueryEscape(*p1.NextCursor), f.bob.token, nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("cursor with other filters: %d", resp.StatusCode)
	}
	if resp, _ := raw(t, http.MethodGet, "/api/notifications/views?cursor="+url.QueryEscape(*p1.NextCursor), f.carol.token, nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bob's cursor used by carol: %d", resp.StatusCode)
	}
	if resp, _ := raw(t, http.MethodGet, "/api/changes/panels?cursor="+url.QueryEscape(*p1.NextCursor), f.bob.token, nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("notification cursor on the changes list: %d", resp.StatusCode)
	}

	// mark-read: own ids only; carol's ids count 0 and stay unread.
	carols := ntList(t, f.carol, "")
	if carols.Total != 4 {
		t.Fatalf("carol's list: %+v", carols)
	}
	ids := []int64{all.Notifications[0].Id, all.Notifications[1].Id, carols.Notifications[0].Id, carols.Notifications[1].Id, 1 << 60}
	if n := ntMarkRead(t, f.bob, ids...); n != 2 {
		t.Errorf("bob marked %d, want 2", n)
	}
	if n := ntMarkRead(t, f.bob, ids...); n != 0 {
		t.Errorf("marking again: %d, want 0", n)
	}
	if n := ntMarkRead(t, f.bob); n != 0 {
		t.Errorf("no ids: %d", n)
	}
	if n := ntDBCount(t, `SELECT count(*) FROM view_notifications WHERE id = ANY($1) AND (is_read OR read_at IS NOT NULL)`,
		[]int64{carols.Notifications[0].Id, carols.Notifications[1].Id}); n != 0 {
		t.Errorf("bob changed %d of carol's notifications", n)
	}
	if c := ntList(t, f.carol, ""); c.UnreadCount != 4 {
		t.Errorf("carol's unread: %d", c.UnreadCount)
	}
	read := ntList(t, f.bob, "?isRead=true")
	if read.Total != 2 || read.UnreadCount != 2 || !read.Notifications[0].IsRead || read.Notifications[0].ReadAt.IsNull() {
		t.Errorf("isRead=true: %+v", read)
	}
	unread := ntList(t, f.bob, "?isRead=false")
	if unread.Total != 2 || unread.Notifications[0].Id != all.Notifications[2].Id || unread.Notifications[0].IsRead {
		t.Errorf("isRead=false: %+v", unread)
	}
	if w := ntList(t, f.bob, "?isRead=false&notificationType=breaking"); w.Total != 0 || w.UnreadCount != 2 {
		t.Errorf("isRead=false&notificationType=breaking: %+v", w)
	}
	if w := ntList(t, f.bob, "?isRead=true&notificationType=breaking"); w.Total != 1 || w.Notifications[0].Impact != client.Breaking {
		t.Errorf("isRead=true&notificationType=breaking: %+v", w)
	}

	// Another tenant's "bob" sees none of them and cannot mark them.
	other := newCaller(t, newTenant("notifother"), "bob", auth.RoleAdmin)
	if l := ntList(t, other, ""); l.Total != 0 || l.UnreadCount != 0 || len(l.Notifications) != 0 {
		t.Errorf("another tenant's bob: %+v", l)
	}
	if n := ntMarkRead(t, other, all.Notifications[2].Id); n != 0 {
		t.Errorf("another tenant's bob marked %d", n)
	}
	if n := ntDBCount(t, `SELECT count(*) FROM view_notifications WHERE id = $1 AND NOT is_read`, all.Notifications[2].Id); n != 1 {
		t.Errorf("another tenant changed bob's notification")
	}
	// An admin of the same tenant still sees only their own.
	admin := newCaller(t, f.tenant, "root", auth.RoleAdmin)
	if l := ntList(t, admin, ""); l.Total != 0 {
		t.Errorf("an admin sees others' notifications: %+v", l)
	}
}

func TestNotificationBadInput(t *testing.T) {
	c := newCaller(t, newTenant("notifbad"), "bob", auth.RoleUser)
	for _, q := range []string{"?isRead=maybe", "?notificationType=urgent", "?since=yesterday", "?limit=0", "?limit=501", "?offset=-1", "?cursor=nope"} {
		resp, body := raw(t, http.MethodGet, "/api/notifications/views"+q, c.token, nil, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %d %s", q, resp.StatusCode, body)
		}
	}
	if resp, _ := raw(t, http.MethodGet, "/api/notifications/views", "", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	if resp, _ := raw(t, http.MethodGet, "/api/notifications/views?tenantId=other", c.token, nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("another tenantId: %d", resp.StatusCode)
	}
	for _, b := range []string{``, `{}`, `{"notificationIds": "1"}`, `{"notificationIds": [0]}`, `{"notificationIds": [1], "extra": 1}`} {
		resp, body := raw(t, http.MethodPut, "/api/notifications/views/mark-read", c.token, []byte(b), map[string]string{"Content-Type": "application/json"})
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("mark-read %q: %d %s", b, resp.StatusCode, body)
		}
	}
	if resp, _ := raw(t, http.MethodPut, "/api/notifications/views/mark-read", c.token, []byte(`{"notificationIds": [1]}`), map[string]string{"Content-Type": "text/plain"}); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("mark-read as text/plain: %d", resp.StatusCode)
	}
	if resp, _ := fxJSON(t, http.MethodPut, "/api/notifications/views/mark-read", c.token, map[string]any{"notificationIds": []int64{1}, "userId": "someone"}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("mark-read for another userId: %d", resp.StatusCode)
	}
}
