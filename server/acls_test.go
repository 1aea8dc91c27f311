package server_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	client "github.com/panels/panels/clients/go"
	"github.com/panels/panels/server/auth"
)

// aclPath is an ACL route of a resource; principal, when given, is appended exactly as passed.
func aclPath(typ string, id int64, principal ...string) string {
	p := "/api/acls/" + typ + "/" + strconv.FormatInt(id, 10)
	for _, s := range principal {
		p += "/" + s
	}
	return p
}

// aclDo sends one ACL request with a JSON body (nil: none) and decodes a {acl} answer when there is one.
func aclDo(t testing.TB, method, path, tok string, body any) (int, client.Acl, []byte) {
	t.Helper()
	resp, data := fxJSON(t, method, path, tok, body, nil)
	var out struct {
		Acl client.Acl `json:"acl"`
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode, out.Acl, data
}

func aclGrant(t testing.TB, tok, typ string, id int64, principal, permission string) (int, client.Acl, []byte) {
	t.Helper()
	return aclDo(t, http.MethodPost, aclPath(typ, id), tok, map[string]any{"userEmail": principal, "permission": permission})
}

// aclMust fails the test unless the request answered want.
func aclMust(t testing.TB, what string, want int) func(int, client.Acl, []byte) client.Acl {
	t.Helper()
	return func(status int, acl client.Acl, body []byte) client.Acl {
		t.Helper()
		if status != want {
			t.Fatalf("%s: status %d, want %d: %s", what, status, want, body)
		}
		return acl
	}
}

// aclProblem checks a problem answer of an ACL request sent with raw bytes.
func aclProblem(t testing.TB, what, method, path, tok string, body any, status int) secProblem {
	t.Helper()
	resp, data := fxJSON(t, method, path, tok, body, nil)
	return wantProblem(t, what, resp, data, status)
}

func aclList(t testing.TB, tok, typ string, id int64) []client.Acl {
	t.Helper()
	resp, data := raw(t, http.MethodGet, aclPath(typ, id), tok, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list ACLs of %s %d: %d %s", typ, id, resp.StatusCode, data)
	}
	var out client.AclList
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out.Acls
}

// aclRows is principal → permission of a list.
func aclRows(acls []client.Acl) map[string]string {
	out := map[string]string{}
	for _, a := range acls {
		out[a.UserEmail] = string(a.Permission)
	}
	return out
}

func aclIDsAscending(t testing.TB, what string, acls []client.Acl) {
	t.Helper()
	if !slices.IsSortedFunc(acls, func(a, b client.Acl) int { return int(a.Id - b.Id) }) {
		t.Errorf("%s: rows are not ordered by id: %+v", what, acls)
	}
	seen := map[int64]bool{}
	for _, a := range acls {
		if seen[a.Id] {
			t.Errorf("%s: row %d listed twice", what, a.Id)
		}
		seen[a.Id] = true
	}
}

func aclView(t testing.TB, tok string, panelID int64, name string) int64 {
	t.Helper()
	var v struct {
		ID int64 `json:"id"`
	}
	mustCreate(t, http.MethodPost, "/api/views", tok, fmt.Sprintf(`{"name":%q,"panelId":%d,"visibleColumns":[]}`, name, panelID), &v)
	return v.ID
}

// TestACLPermissionRules walks the ACL rules of docs/permissions.md#acl-rows on a panel: viewers list, editors manage viewer and
// editor rows and `_all`, only owners manage owner rows, and the last owner stays.
func TestACLPermissionRules(t *testing.T) {
	tenant := newTenant("acl")
	owner := newCaller(t, tenant, "owner", auth.RoleBuilder)
	editor := newCaller(t, tenant, "editor", auth.RoleUser)
	viewer := newCaller(t, tenant, "viewer", auth.RoleUser)
	stranger := newCaller(t, tenant, "stranger", auth.RoleUser)
	admin := newCaller(t, tenant, "admin", auth.RoleAdmin)
	p := fxPanel(t, owner, "Shared panel").Id

	rows := aclList(t, owner.token, "panel", p)
	if len(rows) != 1 || rows[0].UserEmail != owner.email || rows[0].Permission != client.Owner ||
		rows[0].ResourceType != client.ResourceTypePanel || rows[0].ResourceId != p || rows[0].TenantId != tenant {
		t.Fatalf("a new panel's rows: %+v", rows)
	}

	// The creator grants; emails are stored lower-cased.
	got := aclMust(t, "grant editor", 201)(aclGrant(t, owner.token, "panel", p, strings.ToUpper(editor.email), "editor"))
	if got.UserEmail != editor.email || got.Permission != client.Editor || got.Id == 0 || got.ResourceId != p {
		t.Errorf("granted row: %+v", got)
	}
	aclMust(t, "grant viewer", 201)(aclGrant(t, owner.token, "panel", p, viewer.email, "viewer"))

	// Not visible: 404, whatever the operation.
	aclProblem(t, "stranger lists", "GET", aclPath("panel", p), stranger.token, nil, 404)
	aclProblem(t, "stranger grants", "POST", aclPath("panel", p), stranger.token, map[string]any{"userEmail": stranger.email, "permission": "owner"}, 404)
	aclProblem(t, "stranger shares", "POST", aclPath("panel", p, "share-public"), stranger.token, map[string]any{"permission": "viewer"}, 404)
	aclProblem(t, "stranger changes", "PUT", aclPath("panel", p, viewer.email), stranger.token, map[string]any{"permission": "owner"}, 404)
	aclProblem(t, "stranger revokes", "DELETE", aclPath("panel", p, viewer.email), stranger.token, nil, 404)

	// A viewer lists (the UI reads its own permission from there) but changes nothing.
	rows = aclList(t, viewer.token, "panel", p)
	if want := map[string]string{owner.email: "owner", editor.email: "editor", viewer.email: "viewer"}; fmt.Sprint(aclRows(rows)) != fmt.Sprint(want) {
		t.Errorf("rows seen by the viewer: %v, want %v", aclRows(rows), want)
	}
	aclIDsAscending(t, "panel rows", rows)
	before := secSnapshot(t, tenant)
	aclProblem(t, "viewer grants viewer", "POST", aclPath("panel", p), viewer.token, map[string]any{"userEmail": "x@" + tenant + ".example", "permission": "viewer"}, 403)
	aclProblem(t, "viewer shares", "POST", aclPath("panel", p, "share-public"), viewer.token, map[string]any{"permission": "viewer"}, 403)
	aclProblem(t, "viewer changes", "PUT", aclPath("panel", p, editor.email), viewer.token, map[string]any{"permission": "viewer"}, 403)
	aclProblem(t, "viewer changes a missing row", "PUT", aclPath("panel", p, "nobody@"+tenant+".example"), viewer.token, map[string]any{"permission": "viewer"}, 403)
	aclProblem(t, "viewer revokes", "DELETE", aclPath("panel", p, viewer.email), viewer.token, nil, 403)
	if after := secSnapshot(t, tenant); after != before {
		t.Errorf("a viewer's refused requests changed data:\nbefore %s\nafter  %s", before, after)
	}

	// An editor manages viewer and editor rows and `_all`, never owner rows.
	n1, n2 := "new1@"+tenant+".example", "new2@"+tenant+".example"
	aclMust(t, "editor grants viewer", 201)(aclGrant(t, editor.token, "panel", p, n1, "viewer"))
	aclMust(t, "editor grants editor", 201)(aclGrant(t, editor.token, "panel", p, n2, "editor"))
	all := aclMust(t, "editor grants _all through the ordinary create", 201)(aclGrant(t, editor.token, "panel", p, "_all", "viewer"))
	if all.UserEmail != "_all" {
		t.Errorf("_all row: %+v", all)
	}
	if got := aclMust(t, "editor promotes viewer to editor", 200)(aclDo(t, "PUT", aclPath("panel", p, n1), editor.token, map[string]any{"permission": "editor"})); got.Permission != client.Editor || got.UserEmail != n1 {
		t.Errorf("promoted row: %+v", got)
	}
	if code, _, _ := aclDo(t, "DELETE", aclPath("panel", p, n2), editor.token, nil); code != 204 {
		t.Errorf("editor revokes editor: %d", code)
	}
	if code, _, _ := aclDo(t, "DELETE", aclPath("panel", p, "_all"), editor.token, nil); code != 204 {
		t.Errorf("editor revokes _all: %d", code)
	}
	before = secSnapshot(t, tenant)
	aclProblem(t, "editor grants owner", "POST", aclPath("panel", p), editor.token, map[string]any{"userEmail": "boss@" + tenant + ".example", "permission": "owner"}, 403)
	aclProblem(t, "editor promotes to owner", "PUT", aclPath("panel", p, n1), editor.token, map[string]any{"permission": "owner"}, 403)
	aclProblem(t, "editor demotes the owner", "PUT", aclPath("panel", p, owner.email), editor.token, map[string]any{"permission": "viewer"}, 403)
	aclProblem(t, "editor revokes the owner", "DELETE", aclPath("panel", p, owner.email), editor.token, nil, 403)
	aclProblem(t, "editor shares as owner", "POST", aclPath("panel", p, "share-public"), editor.token, map[string]any{"permission": "owner"}, 403)

	// Conflicts and absent rows.
	aclProblem(t, "duplicate grant", "POST", aclPath("panel", p), editor.token, map[string]any{"userEmail": viewer.email, "permission": "editor"}, 409)
	aclProblem(t, "duplicate grant, other case", "POST", aclPath("panel", p), editor.token, map[string]any{"userEmail": strings.ToUpper(viewer.email), "permission": "viewer"}, 409)
	if pr := aclProblem(t, "change a missing row", "PUT", aclPath("panel", p, "nobody@"+tenant+".example"), editor.token, map[string]any{"permission": "viewer"}, 404); pr.Detail != "ACL entry not found" {
		t.Errorf("missing row detail: %q", pr.Detail)
	}
	aclProblem(t, "revoke a missing row", "DELETE", aclPath("panel", p, "nobody@"+tenant+".example"), editor.token, nil, 404)
	aclProblem(t, "owner demotes the last owner", "PUT", aclPath("panel", p, owner.email), owner.token, map[string]any{"permission": "editor"}, 409)
	aclProblem(t, "owner revokes the last owner", "DELETE", aclPath("panel", p, owner.email), owner.token, nil, 409)
	aclProblem(t, "admin revokes the last owner", "DELETE", aclPath("panel", p, owner.email), admin.token, nil, 409)
	if after := secSnapshot(t, tenant); after != before {
		t.Errorf("refused requests changed data:\nbefore %s\nafter  %s", before, after)
	}

	// Owners manage owners; with two owner rows one can go, the last one cannot.
	aclMust(t, "owner promotes the editor", 200)(aclDo(t, "PUT", aclPath("panel", p, editor.email), owner.token, map[string]any{"permission": "owner"}))
	aclMust(t, "new owner demotes the creator's row", 200)(aclDo(t, "PUT", aclPath("panel", p, owner.email), editor.token, map[string]any{"permission": "editor"}))
	aclProblem(t, "last owner row revokes itself", "DELETE", aclPath("panel", p, editor.email), editor.token, nil, 409)
	aclMust(t, "owner grants owner", 201)(aclGrant(t, editor.token, "panel", p, "second-owner@"+tenant+".example", "owner"))
	if code, _, body := aclDo(t, "DELETE", aclPath("panel", p, "second-owner@"+tenant+".example"), editor.token, nil); code != 204 {
		t.Errorf("owner revokes another owner: %d %s", code, body)
	}
	aclMust(t, "admin without rows grants owner", 201)(aclGrant(t, admin.token, "panel", p, "third-owner@"+tenant+".example", "owner"))

	// A sub is kept as given and matches the caller by sub.
	subRow := aclMust(t, "grant by sub", 201)(aclGrant(t, owner.token, "panel", p, "Sub-User-7", "viewer"))
	if subRow.UserEmail != "Sub-User-7" {
		t.Errorf("a sub must be kept as given: %q", subRow.UserEmail)
	}
	bySub := token(t, tenant, "Sub-User-7", "", auth.RoleUser)
	if resp, body := raw(t, "GET", "/api/panels/"+strconv.FormatInt(p, 10), bySub, nil, nil); resp.StatusCode != 200 {
		t.Errorf("a caller named by sub reads the panel: %d %s", resp.StatusCode, body)
	}
	if got := aclMust(t, "change the sub row", 200)(aclDo(t, "PUT", aclPath("panel", p, "Sub-User-7"), owner.token, map[string]any{"permission": "editor"})); got.Permission != client.Editor {
		t.Errorf("sub row: %+v", got)
	}
	aclProblem(t, "a sub differs by case", "PUT", aclPath("panel", p, "sub-user-7"), owner.token, map[string]any{"permission": "viewer"}, 404)

	// Wrong shapes are 400 before anything else.
	aclProblem(t, "unknown resource type", "GET", "/api/acls/table/"+strconv.FormatInt(p, 10), owner.token, nil, 400)
	aclProblem(t, "unknown permission", "POST", aclPath("panel", p), owner.token, map[string]any{"userEmail": "a@b.example", "permission": "admin"}, 400)
	aclProblem(t, "empty principal", "POST", aclPath("panel", p), owner.token, map[string]any{"userEmail": "", "permission": "viewer"}, 400)
	aclProblem(t, "tenant assertion", "POST", aclPath("panel", p), owner.token, map[string]any{"userEmail": "a@b.example", "permission": "viewer", "tenantId": "other"}, 403)
}

// TestACLPathPrincipals: the UI sends emails in paths without encoding; clients encode them; both,
// in any case, name the same row. `_all` works in paths too.
func TestACLPathPrincipals(t *testing.T) {
	tenant := newTenant("aclpath")
	owner := newCaller(t, tenant, "owner", auth.RoleBuilder)
	p := fxPanel(t, owner, "Paths").Id
	email := "first.last+tag@" + tenant + ".example"
	aclMust(t, "grant", 201)(aclGrant(t, owner.token, "panel", p, email, "viewer"))

	for i, path := range []string{
		aclPath("panel", p, email),                                 // as the web UI sends it
		aclPath("panel", p, url.PathEscape(email)),                 // encoded, '@' kept
		aclPath("panel", p, strings.ReplaceAll(email, "@", "%40")), // fully encoded '@'
		aclPath("panel", p, strings.ToUpper(email)),                // another case
		aclPath("panel", p, strings.ReplaceAll(strings.ToUpper(email), "@", "%40")),
	} {
		perm := []string{"editor", "viewer"}[i%2]
		got := aclMust(t, "PUT "+path, 200)(aclDo(t, "PUT", path, owner.token, map[string]any{"permission": perm}))
		if got.UserEmail != email || string(got.Permission) != perm {
			t.Errorf("PUT %s: %+v", path, got)
		}
	}

	// The generated client encodes the path parameter.
	r, err := owner.api.UpdateAclWithResponse(t.Context(), client.ResourceTypePanel, p, strings.ToUpper(email), client.AclUpdate{Permission: client.Editor})
	if err != nil || r.StatusCode() != 200 || r.JSON200.Acl.UserEmail != email {
		t.Fatalf("client update: %v %d %s", err, r.StatusCode(), r.Body)
	}
	d, err := owner.api.DeleteAclWithResponse(t.Context(), client.ResourceTypePanel, p, email)
	if err != nil || d.StatusCode() != 204 {
		t.Fatalf("client delete: %v %d %s", err, d.StatusCode(), d.Body)
	}
	aclProblem(t, "deleted row", "DELETE", aclPath("panel", p, email), owner.token, nil, 404)

	// `_all`, created by the ordinary create, changed and revoked by path.
	aclMust(t, "grant _all", 201)(aclGrant(t, owner.token, "panel", p, "_all", "viewer"))
	aclMust(t, "change _all", 200)(aclDo(t, "PUT", aclPath("panel", p, "_all"), owner.token, map[string]any{"permission": "editor"}))
	if code, _, body := aclDo(t, "DELETE", aclPath("panel", p, "_all"), owner.token, nil); code != 204 {
		t.Errorf("revoke _all: %d %s", code, body)
	}
	// The UI's DELETE habit: a JSON content type and an empty body.
	aclMust(t, "grant again", 201)(aclGrant(t, owner.token, "panel", p, email, "viewer"))
	resp, body := raw(t, "DELETE", aclPath("panel", p, email), owner.token, []byte{}, jsonCT)
	if resp.StatusCode != 204 {
		t.Errorf("DELETE with a JSON content type and no body: %d %s", resp.StatusCode, body)
	}
}

// TestACLSharePublic: share-public creates (201) or updates (200) the `_all` row, under the same
// permission rules, and makes the resource visible to the whole tenant.
func TestACLSharePublic(t *testing.T) {
	tenant := newTenant("aclpub")
	owner := newCaller(t, tenant, "owner", auth.RoleBuilder)
	editor := newCaller(t, tenant, "editor", auth.RoleUser)
	member := newCaller(t, tenant, "member", auth.RoleUser)
	p := fxPanel(t, owner, "Public").Id
	aclMust(t, "grant editor", 201)(aclGrant(t, owner.token, "panel", p, editor.email, "editor"))
	share := func(tok, perm string) (int, client.Acl, []byte) {
		return aclDo(t, "POST", aclPath("panel", p, "share-public"), tok, map[string]any{"permission": perm})
	}

	aclProblem(t, "member before sharing", "GET", aclPath("panel", p), member.token, nil, 404)
	created := aclMust(t, "first share", 201)(share(editor.token, "viewer"))
	if created.UserEmail != "_all" || created.Permission != client.Viewer {
		t.Errorf("created: %+v", created)
	}
	if rows := aclList(t, member.token, "panel", p); aclRows(rows)["_all"] != "viewer" {
		t.Errorf("a member sees the shared panel's rows: %v", aclRows(rows))
	}
	updated := aclMust(t, "second share", 200)(share(editor.token, "editor"))
	if updated.Id != created.Id || updated.Permission != client.Editor {
		t.Errorf("updated: %+v (created %+v)", updated, created)
	}
	aclMust(t, "same permission again", 200)(share(editor.token, "editor"))
	aclProblem(t, "editor shares as owner", "POST", aclPath("panel", p, "share-public"), editor.token, map[string]any{"permission": "owner"}, 403)
	aclMust(t, "owner shares as owner", 200)(share(owner.token, "owner"))
	// An owner `_all` row makes every member an owner, the editor included.
	aclMust(t, "the editor, owner through _all, demotes it", 200)(share(editor.token, "viewer"))
	aclProblem(t, "editor shares as owner again", "POST", aclPath("panel", p, "share-public"), editor.token, map[string]any{"permission": "owner"}, 403)

	changes := fxChangesOf(fxChanges(t, owner, p), client.AclChanged)
	var shares int
	for _, ch := range changes {
		if ch.EntityId == created.Id {
			shares++
		}
	}
	if shares != 4 { // create, viewer→editor, editor→owner, owner→viewer; the no-op records nothing
		t.Errorf("acl_changed rows of the _all row: %d, want 4", shares)
	}
	// Missing body: 400.
	resp, body := raw(t, "POST", aclPath("panel", p, "share-public"), owner.token, nil, nil)
	if resp.StatusCode != 400 && resp.StatusCode != 415 {
		t.Errorf("share-public without a body: %d %s", resp.StatusCode, body)
	}
}

// TestACLCap: a resource has at most 1,000 rows; the 1,001st is 422 and writes nothing.
func TestACLCap(t *testing.T) {
	tenant := newTenant("aclcap")
	owner := newCaller(t, tenant, "owner", auth.RoleBuilder)
	p := fxPanel(t, owner, "Crowded").Id
	if _, err := fxDB(t).ExecContext(t.Context(), `INSERT INTO acls (tenant_id, resource_type, resource_id, panel_id, user_email, permission)
		SELECT $1, 'panel', $2, $2, 'bulk' || g || '@cap.example', 'viewer' FROM generate_series(1, 999) AS g`, tenant, p); err != nil {
		t.Fatal(err)
	}
	before := secSnapshot(t, tenant)
	pr := aclProblem(t, "the 1,001st row", "POST", aclPath("panel", p), owner.token, map[string]any{"userEmail": "one-more@cap.example", "permission": "viewer"}, 422)
	if !slices.Contains(pr.fields(), "userEmail") {
		t.Errorf("422 fields: %v", pr.fields())
	}
	aclProblem(t, "a new _all row", "POST", aclPath("panel", p, "share-public"), owner.token, map[string]any{"permission": "viewer"}, 422)
	if after := secSnapshot(t, tenant); after != before {
		t.Error("refused grants changed data")
	}
	aclMust(t, "changing an existing row still works", 200)(aclDo(t, "PUT", aclPath("panel", p, "bulk7@cap.example"), owner.token, map[string]any{"permission": "editor"}))
	if rows := aclList(t, owner.token, "panel", p); len(rows) != 1000 {
		t.Errorf("rows: %d, want 1000", len(rows))
	} else {
		aclIDsAscending(t, "1,000 rows", rows)
	}
	if code, _, _ := aclDo(t, "DELETE", aclPath("panel", p, "bulk1@cap.example"), owner.token, nil); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	aclMust(t, "room again", 201)(aclGrant(t, owner.token, "panel", p, "one-more@cap.example", "viewer"))
}

// TestACLOtherTenantsResource closes the original's hole: an ACL route naming another tenant's
// panel or view is 404 and writes nothing, even for an admin.
func TestACLOtherTenantsResource(t *testing.T) {
	home, away := newTenant("aclhome"), newTenant("aclaway")
	victim := newCaller(t, home, "victim", auth.RoleBuilder)
	p := fxPanel(t, victim, "Private").Id
	v := aclView(t, victim.token, p, "Private view")
	aclMust(t, "victim grants", 201)(aclGrant(t, victim.token, "panel", p, "friend@"+home+".example", "viewer"))

	beforeHome, beforeAway, counts := secSnapshot(t, home), secSnapshot(t, away), secCounts(t)
	for _, role := range []auth.Role{auth.RoleUser, auth.RoleAdmin} {
		attacker := newCaller(t, away, "attacker-"+string(role), role)
		for _, res := range []struct {
			typ string
			id  int64
		}{{"panel", p}, {"view", v}, {"panel", p + 1000000}, {"view", v + 1000000}} {
			what := fmt.Sprintf("%s on %s %d", role, res.typ, res.id)
			aclProblem(t, what+": list", "GET", aclPath(res.typ, res.id), attacker.token, nil, 404)
			aclProblem(t, what+": grant", "POST", aclPath(res.typ, res.id), attacker.token, map[string]any{"userEmail": attacker.email, "permission": "owner"}, 404)
			aclProblem(t, what+": share", "POST", aclPath(res.typ, res.id, "share-public"), attacker.token, map[string]any{"permission": "editor"}, 404)
			aclProblem(t, what+": change", "PUT", aclPath(res.typ, res.id, victim.email), attacker.token, map[string]any{"permission": "viewer"}, 404)
			aclProblem(t, what+": revoke", "DELETE", aclPath(res.typ, res.id, "friend@"+home+".example"), attacker.token, nil, 404)
		}
		r, err := attacker.api.ListUserAclsWithResponse(t.Context(), attacker.email, nil)
		if err != nil || r.StatusCode() != 200 {
			t.Fatalf("attacker's own rows: %v %d", err, r.StatusCode())
		}
		if len(r.JSON200.Acls) != 0 {
			t.Errorf("the attacker's own rows include foreign ones: %+v", r.JSON200.Acls)
		}
	}
	if secSnapshot(t, home) != beforeHome || secSnapshot(t, away) != beforeAway {
		t.Error("requests on another tenant's resources changed data")
	}
	if after := secCounts(t); fmt.Sprint(after["acls"], after["panel_changes"]) != fmt.Sprint(counts["acls"], counts["panel_changes"]) {
		t.Errorf("row counts changed: %v → %v", counts, after)
	}
}

// TestACLViewResource: a view's rows, granted by someone who edits its panel, recorded on the
// panel's history, and gone with the view.
func TestACLViewResource(t *testing.T) {
	tenant := newTenant("aclview")
	owner := newCaller(t, tenant, "owner", auth.RoleBuilder)
	panelEditor := newCaller(t, tenant, "paneleditor", auth.RoleUser)
	viewViewer := newCaller(t, tenant, "viewviewer", auth.RoleUser)
	p := fxPanel(t, owner, "With views").Id
	v := aclView(t, owner.token, p, "Worklist")
	rows := aclList(t, owner.token, "view", v)
	if len(rows) != 1 || rows[0].UserEmail != owner.email || rows[0].Permission != client.Owner || rows[0].ResourceType != client.ResourceTypeView {
		t.Fatalf("a new view's rows: %+v", rows)
	}
	aclMust(t, "grant editor on the panel", 201)(aclGrant(t, owner.token, "panel", p, panelEditor.email, "editor"))
	g := aclMust(t, "panel editor grants on the view", 201)(aclGrant(t, panelEditor.token, "view", v, viewViewer.email, "viewer"))
	if g.ResourceType != client.ResourceTypeView || g.ResourceId != v {
		t.Errorf("view row: %+v", g)
	}
	aclProblem(t, "panel editor grants owner on the view", "POST", aclPath("view", v), panelEditor.token, map[string]any{"userEmail": "x@y.example", "permission": "owner"}, 403)
	if got := aclList(t, viewViewer.token, "view", v); len(got) != 2 {
		t.Errorf("the view's viewer lists %d rows", len(got))
	}
	// A view row does not open the panel.
	aclProblem(t, "view viewer lists the panel's rows", "GET", aclPath("panel", p), viewViewer.token, nil, 404)

	var panelID, resID sql.NullInt64
	if err := fxDB(t).QueryRowContext(t.Context(), `SELECT panel_id, view_id FROM acls WHERE id = $1`, g.Id).Scan(&panelID, &resID); err != nil {
		t.Fatal(err)
	}
	if panelID.Valid || !resID.Valid || resID.Int64 != v {
		t.Errorf("view row points at panel %v view %v", panelID, resID)
	}
	ch := fxChangesOf(fxChanges(t, owner, p), client.AclChanged)
	if len(ch) != 2 || ch[0].EntityId != g.Id || ch[0].EntityType != client.EntityTypeAcl {
		t.Errorf("acl_changed rows on the panel: %+v", ch)
	}

	resp, body := raw(t, "DELETE", "/api/views/"+strconv.FormatInt(v, 10), owner.token, nil, nil)
	if resp.StatusCode != 204 {
		t.Fatalf("delete view: %d %s", resp.StatusCode, body)
	}
	var left int
	if err := fxDB(t).QueryRowContext(t.Context(), `SELECT count(*) FROM acls WHERE resource_type = 'view' AND resource_id = $1`, v).Scan(&left); err != nil || left != 0 {
		t.Errorf("rows of a deleted view: %d (%v)", left, err)
	}
	aclProblem(t, "rows of a deleted view", "GET", aclPath("view", v), owner.token, nil, 404)
}

// TestACLRowsGoWithTheirPanel: deleting a panel removes its ACL rows (and its views'); its
// acl_changed history stays.
func TestACLRowsGoWithTheirPanel(t *testing.T) {
	tenant := newTenant("acldel")
	owner := newCaller(t, tenant, "owner", auth.RoleBuilder)
	admin := newCaller(t, tenant, "admin", auth.RoleAdmin)
	p := fxPanel(t, owner, "Doomed").Id
	v := aclView(t, owner.token, p, "Doomed view")
	aclMust(t, "grant", 201)(aclGrant(t, owner.token, "panel", p, "someone@"+tenant+".example", "editor"))
	aclMust(t, "grant on view", 201)(aclGrant(t, owner.token, "view", v, "someone@"+tenant+".example", "viewer"))
	aclMust(t, "share", 201)(aclDo(t, "POST", aclPath("panel", p, "share-public"), owner.token, map[string]any{"permission": "viewer"}))

	resp, body := raw(t, "DELETE", "/api/panels/"+strconv.FormatInt(p, 10), owner.token, nil, nil)
	if resp.StatusCode != 204 {
		t.Fatalf("delete panel: %d %s", resp.StatusCode, body)
	}
	var left int
	if err := fxDB(t).QueryRowContext(t.Context(), `SELECT count(*) FROM acls WHERE tenant_id = $1`, tenant).Scan(&left); err != nil || left != 0 {
		t.Errorf("ACL rows left after the panel's deletion: %d (%v)", left, err)
	}
	aclProblem(t, "rows of a deleted panel", "GET", aclPath("panel", p), admin.token, nil, 404)
	r, err := admin.api.ListUserAclsWithResponse(t.Context(), "someone@"+tenant+".example", nil)
	if err != nil || r.StatusCode() != 200 || len(r.JSON200.Acls) != 0 {
		t.Errorf("someone's rows after the deletion: %v %d %s", err, r.StatusCode(), r.Body)
	}
	if ch := fxChangesOf(fxChanges(t, admin, p), client.AclChanged); len(ch) != 3 {
		t.Errorf("acl_changed history of the deleted panel: %d rows, want 3", len(ch))
	}
}

// TestACLChangesRecorded: every ACL mutation writes one acl_changed row naming the row, principal
// and permission; refused ones write none.
func TestACLChangesRecorded(t *testing.T) {
	tenant := newTenant("aclchg")
	owner := newCaller(t, tenant, "owner", auth.RoleBuilder)
	p := fxPanel(t, owner, "Audited").Id
	who := "audited@" + tenant + ".example"
	row := aclMust(t, "grant", 201)(aclGrant(t, owner.token, "panel", p, who, "viewer"))
	aclMust(t, "change", 200)(aclDo(t, "PUT", aclPath("panel", p, who), owner.token, map[string]any{"permission": "editor"}))
	aclMust(t, "no-op change", 200)(aclDo(t, "PUT", aclPath("panel", p, who), owner.token, map[string]any{"permission": "editor"}))
	aclProblem(t, "duplicate", "POST", aclPath("panel", p), owner.token, map[string]any{"userEmail": who, "permission": "viewer"}, 409)
	aclProblem(t, "last owner", "DELETE", aclPath("panel", p, owner.email), owner.token, nil, 409)
	if code, _, _ := aclDo(t, "DELETE", aclPath("panel", p, who), owner.token, nil); code != 204 {
		t.Fatalf("revoke: %d", code)
	}

	ch := fxChangesOf(fxChanges(t, owner, p), client.AclChanged) // newest first
	if len(ch) != 3 {
		t.Fatalf("acl_changed rows: %d, want 3: %+v", len(ch), ch)
	}
	values := func(perm string) map[string]any {
		return map[string]any{"userEmail": who, "permission": perm, "resourceType": "panel", "resourceId": float64(p)}
	}
	for i, want := range []struct {
		action   client.ChangeAction
		old, new map[string]any
	}{
		{client.ChangeAction("delete"), values("editor"), nil},
		{client.ChangeAction("update"), values("viewer"), values("editor")},
		{client.ChangeAction("create"), nil, values("viewer")},
	} {
		c := ch[i]
		if c.Action != want.action || c.EntityType != client.EntityTypeAcl || c.EntityId != row.Id || c.ChangedBy != owner.user {
			t.Errorf("change %d: %+v", i, c)
		}
		if !strings.Contains(c.Description, who) {
			t.Errorf("change %d description %q does not name the principal", i, c.Description)
		}
		if perm := map[int]string{0: "editor", 1: "editor", 2: "viewer"}[i]; !strings.Contains(c.Description, perm) {
			t.Errorf("change %d description %q does not name the permission %s", i, c.Description, perm)
		}
		if got := fxNormal(fxValues(c.OldValues)); fmt.Sprint(got) != fmt.Sprint(fxNormal(want.old)) {
			t.Errorf("change %d oldValues %v, want %v", i, got, want.old)
		}
		if got := fxNormal(fxValues(c.NewValues)); fmt.Sprint(got) != fmt.Sprint(fxNormal(want.new)) {
			t.Errorf("change %d newValues %v, want %v", i, got, want.new)
		}
	}
}

// TestACLListUser: the caller's own rows (by email or sub) plus the tenant's `_all` rows; someone
// else's only for admins.
func TestACLListUser(t *testing.T) {
	tenant := newTenant("acluser")
	owner := newCaller(t, tenant, "owner", auth.RoleBuilder)
	alice := newCaller(t, tenant, "alice", auth.RoleUser)
	bob := newCaller(t, tenant, "bob", auth.RoleUser)
	admin := newCaller(t, tenant, "admin", auth.RoleAdmin)
	p1, p2, p3 := fxPanel(t, owner, "One").Id, fxPanel(t, owner, "Two").Id, fxPanel(t, owner, "Three").Id
	v := aclView(t, owner.token, p1, "A view")
	a1 := aclMust(t, "alice on p1", 201)(aclGrant(t, owner.token, "panel", p1, alice.email, "viewer"))
	a2 := aclMust(t, "alice by sub on p2", 201)(aclGrant(t, owner.token, "panel", p2, alice.user, "editor"))
	all3 := aclMust(t, "_all on p3", 201)(aclGrant(t, owner.token, "panel", p3, "_all", "viewer"))
	av := aclMust(t, "alice on the view", 201)(aclGrant(t, owner.token, "view", v, alice.email, "editor"))
	aclMust(t, "bob on p1", 201)(aclGrant(t, owner.token, "panel", p1, bob.email, "viewer"))
	// Another tenant's `_all` rows never show.
	other := newCaller(t, newTenant("acluser-other"), "other", auth.RoleBuilder)
	aclMust(t, "foreign _all", 201)(aclGrant(t, other.token, "panel", fxPanel(t, other, "Foreign").Id, "_all", "viewer"))

	ids := func(acls []client.Acl) []int64 {
		out := []int64{}
		for _, a := range acls {
			out = append(out, a.Id)
		}
		return out
	}
	list := func(c *caller, who string, typ *client.ResourceType) []client.Acl {
		t.Helper()
		r, err := c.api.ListUserAclsWithResponse(t.Context(), who, &client.ListUserAclsParams{ResourceType: typ})
		if err != nil || r.StatusCode() != 200 {
			t.Fatalf("list rows of %s as %s: %v %d %s", who, c.user, err, r.StatusCode(), r.Body)
		}
		aclIDsAscending(t, "rows of "+who, r.JSON200.Acls)
		return r.JSON200.Acls
	}
	want := []int64{a1.Id, a2.Id, all3.Id, av.Id}
	if got := ids(list(alice, alice.email, nil)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alice by email: %v, want %v", got, want)
	}
	if got := ids(list(alice, strings.ToUpper(alice.email), nil)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alice by upper-case email: %v, want %v", got, want)
	}
	if got := ids(list(alice, alice.user, nil)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alice by sub: %v, want %v", got, want)
	}
	if got := ids(list(alice, alice.email, ptr(client.ResourceTypeView))); fmt.Sprint(got) != fmt.Sprint([]int64{av.Id}) {
		t.Errorf("alice's view rows: %v", got)
	}
	if got := ids(list(alice, alice.email, ptr(client.ResourceTypePanel))); fmt.Sprint(got) != fmt.Sprint([]int64{a1.Id, a2.Id, all3.Id}) {
		t.Errorf("alice's panel rows: %v", got)
	}
	// The UI's path: the email unencoded.
	resp, body := raw(t, "GET", "/api/acls/user/"+alice.email+"?resourceType=panel", alice.token, nil, jsonCT)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"_all"`) {
		t.Errorf("unencoded own email: %d %s", resp.StatusCode, body)
	}

	// Someone else's: 403 for a user, the rows naming that principal (and `_all`) for an admin.
	resp, body = raw(t, "GET", "/api/acls/user/"+url.PathEscape(alice.email), bob.token, nil, nil)
	wantProblem(t, "bob asks about alice", resp, body, 403)
	resp, body = raw(t, "GET", "/api/acls/user/_all", bob.token, nil, nil)
	wantProblem(t, "bob asks about _all", resp, body, 403)
	if got := ids(list(admin, alice.email, nil)); fmt.Sprint(got) != fmt.Sprint([]int64{a1.Id, all3.Id, av.Id}) {
		t.Errorf("admin asks about alice's email: %v", got)
	}
	if got := ids(list(admin, "_all", nil)); fmt.Sprint(got) != fmt.Sprint([]int64{all3.Id}) {
		t.Errorf("admin asks about _all: %v", got)
	}
	aclProblem(t, "bad resourceType", "GET", "/api/acls/user/"+alice.email+"?resourceType=table", alice.token, nil, 400)
}
