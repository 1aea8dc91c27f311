package server_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/panels/panels/server/auth"
)

// What an operation needs on the panel (docs/permissions.md#the-permission-table).
const (
	needViewer = iota // read
	needEditor        // change the panel or something in it
	needOwner         // delete the panel
)

type secOp struct {
	name, method, path, body string
	need                     int
	ok                       int // the status when allowed
}

// ops are every implemented operation on the fixture's panel, in an order in which each succeeds
// for a caller allowed to do everything (deletes last, the panel's own delete at the very end).
func (f secFixture) ops() []secOp {
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	ds, base, calc := id(f.ds), id(f.base), id(f.calc)
	return []secOp{
		{"get panel", "GET", f.panelPath, "", needViewer, 200},
		{"list data sources", "GET", f.panelPath + "/datasources", "", needViewer, 200},
		{"get data source", "GET", f.dsPath, "", needViewer, 200},
		{"list columns", "GET", f.panelPath + "/columns", "", needViewer, 200},
		{"get base column", "GET", f.colURL + base, "", needViewer, 200},
		{"get calculated column", "GET", f.colURL + calc, "", needViewer, 200},
		{"list changes of the panel", "GET", "/api/changes/panels?panelId=" + id(f.panel), "", needViewer, 200},

		{"update panel", "PUT", f.panelPath, `{"name":"Renamed","cohortRule":{"logic":"OR","conditions":[]}}`, needEditor, 200},
		{"create data source", "POST", f.panelPath + "/datasources", `{"type":"custom","config":{"x":1}}`, needEditor, 201},
		{"update data source", "PUT", f.dsPath, `{"config":{"endpoint":"/api/other","method":"GET"}}`, needEditor, 200},
		{"update data source (panel path)", "PUT", f.panelPath + "/datasources/" + ds, `{"config":{"endpoint":"/api/third","method":"POST"}}`, needEditor, 200},
		{"create base column", "POST", f.panelPath + "/columns/base", `{"name":"Phone","type":"text","sourceField":"phone","dataSourceId":` + ds + `,"properties":{}}`, needEditor, 201},
		{"create calculated column", "POST", f.panelPath + "/columns/calculated", `{"name":"Whisper","type":"text","formula":"LOWER([Email])","properties":{}}`, needEditor, 201},
		{"update column", "PUT", f.colURL + base, `{"name":"E-mail","tags":["contact"]}`, needEditor, 200},

		{"delete calculated column", "DELETE", f.colURL + calc, "", needEditor, 204},
		{"delete data source", "DELETE", "/api/datasources/" + id(f.spare1), "", needEditor, 204},
		{"delete data source (panel path)", "DELETE", f.panelPath + "/datasources/" + id(f.spare2), "", needEditor, 204},
		{"delete used data source with force", "DELETE", f.dsPath + "?force=true", "", needEditor, 204},
		{"delete base column with force", "DELETE", f.colURL + base + "?force=true", "", needEditor, 204},
		{"delete panel", "DELETE", f.panelPath, "", needOwner, 204},
	}
}

func secDo(t testing.TB, tok string, op secOp) (*http.Response, []byte) {
	t.Helper()
	if op.body == "" {
		return raw(t, op.method, op.path, tok, nil, nil)
	}
	return raw(t, op.method, op.path, tok, []byte(op.body), jsonCT)
}

// listedPanels is the ids GET /api/panels shows the caller.
func listedPanels(t testing.TB, tok string) map[int64]bool {
	t.Helper()
	resp, body := raw(t, "GET", "/api/panels", tok, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("list panels: %d %s", resp.StatusCode, body)
	}
	var list []struct {
		ID       int64  `json:"id"`
		TenantID string `json:"tenantId"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	out := map[int64]bool{}
	for _, p := range list {
		out[p.ID] = true
	}
	return out
}

// changedPanels is the panel ids of the changes GET /api/changes/panels shows the caller.
func changedPanels(t testing.TB, tok string) map[int64]bool {
	t.Helper()
	resp, body := raw(t, "GET", "/api/changes/panels?limit=500", tok, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("list changes: %d %s", resp.StatusCode, body)
	}
	var page struct {
		Changes []struct {
			PanelID int64 `json:"panelId"`
		} `json:"changes"`
		Total int `json:"total"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	out := map[int64]bool{}
	for _, c := range page.Changes {
		out[c.PanelID] = true
	}
	return out
}

func TestIsolationAcrossTenants(t *testing.T) {
	a := newSecFixture(t, newTenant("iso-a"))
	tenantB := newTenant("iso-b")
	b := newSecFixture(t, tenantB)
	// Even rows that would grant access if tenants were mixed up: A shares its panel with everyone
	// of A, and a stray row of tenant B names A's panel.
	secGrant(t, a.tenant, a.panel, "_all", "owner")
	secGrant(t, tenantB, a.panel, "_all", "owner")
	secGrant(t, tenantB, a.panel, "admin@"+tenantB+".example", "owner")
	before := secSnapshot(t, a.tenant)

	adminB := token(t, tenantB, "admin-b", "admin@"+tenantB+".example", auth.RoleAdmin)
	for _, op := range a.ops() {
		resp, body := secDo(t, adminB, op)
		p := wantProblem(t, "tenant B admin: "+op.name, resp, body, http.StatusNotFound)
		if strings.Contains(p.Detail, strconv.FormatInt(a.panel, 10)) || strings.Contains(p.Detail, a.tenant) {
			t.Errorf("%s: 404 names the resource: %q", op.name, p.Detail)
		}
	}
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	// A's ids under B's own panel.
	for _, op := range []secOp{
		{name: "B's panel, A's data source: update", method: "PUT", path: b.panelPath + "/datasources/" + id(a.ds), body: `{"config":{"endpoint":"/x","method":"GET"}}`},
		{name: "B's panel, A's data source: delete", method: "DELETE", path: b.panelPath + "/datasources/" + id(a.ds) + "?force=true"},
		{name: "B's panel, A's column: get", method: "GET", path: b.colURL + id(a.base)},
		{name: "B's panel, A's column: update", method: "PUT", path: b.colURL + id(a.base), body: `{"name":"stolen"}`},
		{name: "B's panel, A's column: delete", method: "DELETE", path: b.colURL + id(a.calc) + "?force=true"},
	} {
		resp, body := secDo(t, adminB, op)
		wantProblem(t, op.name, resp, body, http.StatusNotFound)
	}
	resp, body := secDo(t, adminB, secOp{method: "POST", path: b.panelPath + "/columns/base",
		body: `{"name":"Stolen","type":"text","sourceField":"email","dataSourceId":` + id(a.ds) + `,"properties":{}}`})
	wantProblem(t, "B's base column on A's data source", resp, body, http.StatusUnprocessableEntity)
	resp, body = secDo(t, adminB, secOp{method: "PUT", path: b.colURL + id(b.base), body: `{"dataSourceId":` + id(a.ds) + `}`})
	wantProblem(t, "B's column moved to A's data source", resp, body, http.StatusUnprocessableEntity)
	resp, body = secDo(t, adminB, secOp{method: "GET", path: b.panelPath + "/columns?ids=" + id(a.base) + "&ids=" + id(b.base)})
	if resp.StatusCode != 200 || strings.Count(string(body), `"id":`) != 1 {
		t.Errorf("B's column list filtered by A's column id: %d %s", resp.StatusCode, body)
	}

	if after := secSnapshot(t, a.tenant); after != before {
		t.Errorf("tenant B changed tenant A's rows:\nbefore %s\nafter  %s", before, after)
	}

	for _, tok := range []string{adminB, token(t, tenantB, "user-b", "admin@"+tenantB+".example", auth.RoleUser)} {
		panels := listedPanels(t, tok)
		if panels[a.panel] {
			t.Errorf("GET /api/panels of tenant B lists A's panel %d", a.panel)
		}
		if changes := changedPanels(t, tok); changes[a.panel] {
			t.Errorf("GET /api/changes/panels of tenant B lists changes of A's panel %d", a.panel)
		}
	}
	if !listedPanels(t, adminB)[b.panel] || !changedPanels(t, adminB)[b.panel] {
		t.Errorf("tenant B's admin does not see its own panel and changes")
	}
	// And A still sees its own.
	if !listedPanels(t, a.owner)[a.panel] || !changedPanels(t, a.owner)[a.panel] {
		t.Errorf("tenant A's owner does not see its panel and changes")
	}

	// Once A's panel is deleted, A's admins still read its history; B's admin still gets 404.
	adminA := token(t, a.tenant, "admin-a", "", auth.RoleAdmin)
	if resp, body := raw(t, "DELETE", a.panelPath, adminA, nil, nil); resp.StatusCode != 204 {
		t.Fatalf("delete A's panel: %d %s", resp.StatusCode, body)
	}
	history := "/api/changes/panels?panelId=" + id(a.panel)
	resp, body = raw(t, "GET", history, adminA, nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"panel_deleted"`) {
		t.Errorf("A's admin reading a deleted panel's history: %d %s", resp.StatusCode, body)
	}
	resp, body = raw(t, "GET", history, a.owner, nil, nil)
	wantProblem(t, "A's non-admin creator reading a deleted panel's history", resp, body, http.StatusNotFound)
	resp, body = raw(t, "GET", history, adminB, nil, nil)
	wantProblem(t, "B's admin reading A's deleted panel's history", resp, body, http.StatusNotFound)
	resp, body = raw(t, "GET", "/api/changes/panels?panelId=999999999", adminA, nil, nil)
	wantProblem(t, "admin reading the history of a panel that never existed", resp, body, http.StatusNotFound)
}

func TestPermissionsWithinTenant(t *testing.T) {
	tenant := newTenant("perm")
	tok := func(sub, email string, role auth.Role) string { return token(t, tenant, sub, email, role) }

	// run plays every operation on a fresh fixture as the caller with the given level, after the
	// grants, and checks each answer: allowed → its success status, visible but not allowed → 403
	// changing nothing, not visible → 404 changing nothing.
	run := func(t *testing.T, caller string, level int, grants ...[2]string) {
		f := newSecFixture(t, tenant)
		for _, g := range grants {
			secGrant(t, tenant, f.panel, g[0], g[1])
		}
		visible := level >= 0
		if got := listedPanels(t, caller)[f.panel]; got != visible {
			t.Errorf("GET /api/panels lists the panel: %t, want %t", got, visible)
		}
		if got := changedPanels(t, caller)[f.panel]; got != visible {
			t.Errorf("GET /api/changes/panels shows the panel's changes: %t, want %t", got, visible)
		}
		for _, op := range f.ops() {
			before := secSnapshot(t, tenant)
			resp, body := secDo(t, caller, op)
			switch {
			case !visible:
				wantProblem(t, op.name, resp, body, http.StatusNotFound)
			case level >= op.need:
				if resp.StatusCode != op.ok {
					t.Errorf("%s: %d, want %d: %s", op.name, resp.StatusCode, op.ok, body)
				}
				continue
			default:
				wantProblem(t, op.name, resp, body, http.StatusForbidden)
			}
			if after := secSnapshot(t, tenant); after != before {
				t.Errorf("%s: refused, but rows changed:\nbefore %s\nafter  %s", op.name, before, after)
			}
		}
	}

	t.Run("no ACL", func(t *testing.T) {
		run(t, tok("nobody", "nobody@x.example", auth.RoleBuilder), -1)
	})
	t.Run("ACL of someone else", func(t *testing.T) {
		run(t, tok("nobody", "nobody@x.example", auth.RoleBuilder), -1, [2]string{"somebody@x.example", "owner"}, [2]string{"somebody", "owner"})
	})
	t.Run("viewer by email", func(t *testing.T) {
		run(t, tok("vera", "vera@x.example", auth.RoleBuilder), needViewer, [2]string{"vera@x.example", "viewer"})
	})
	t.Run("viewer by email, mixed case in the token", func(t *testing.T) {
		run(t, tok("vera", "Vera@X.Example", auth.RoleUser), needViewer, [2]string{"vera@x.example", "viewer"})
	})
	t.Run("viewer by sub", func(t *testing.T) {
		run(t, tok("sub-victor", "victor@x.example", auth.RoleUser), needViewer, [2]string{"sub-victor", "viewer"})
	})
	t.Run("viewer by sub, token without email", func(t *testing.T) {
		run(t, tok("sub-victor", "", auth.RoleUser), needViewer, [2]string{"sub-victor", "viewer"})
	})
	t.Run("viewer through _all", func(t *testing.T) {
		run(t, tok("anyone", "anyone@x.example", auth.RoleUser), needViewer, [2]string{"_all", "viewer"})
	})
	t.Run("editor", func(t *testing.T) {
		run(t, tok("eddie", "eddie@x.example", auth.RoleUser), needEditor, [2]string{"eddie@x.example", "editor"})
	})
	t.Run("editor by lower-cased email, highest row wins", func(t *testing.T) {
		run(t, tok("bob", "Bob@X.example", auth.RoleUser), needEditor,
			[2]string{"bob@x.example", "editor"}, [2]string{"_all", "viewer"}, [2]string{"bob", "viewer"})
	})
	t.Run("editor through _all", func(t *testing.T) {
		run(t, tok("anyone", "anyone@x.example", auth.RoleUser), needEditor, [2]string{"_all", "editor"})
	})
	t.Run("owner row", func(t *testing.T) {
		run(t, tok("olivia", "olivia@x.example", auth.RoleUser), needOwner, [2]string{"olivia@x.example", "owner"})
	})
	t.Run("owner row by sub", func(t *testing.T) {
		run(t, tok("sub-oscar", "", auth.RoleUser), needOwner, [2]string{"sub-oscar", "owner"})
	})
	t.Run("admin without ACL", func(t *testing.T) {
		run(t, tok("ada", "ada@x.example", auth.RoleAdmin), needOwner)
	})
	t.Run("creator", func(t *testing.T) {
		f := newSecFixture(t, tenant)
		for _, op := range f.ops() {
			if resp, body := secDo(t, f.owner, op); resp.StatusCode != op.ok {
				t.Errorf("creator: %s: %d, want %d: %s", op.name, resp.StatusCode, op.ok, body)
			}
		}
	})
	t.Run("no email match across tenants of the same address", func(t *testing.T) {
		f := newSecFixture(t, tenant)
		secGrant(t, tenant, f.panel, "zed@x.example", "owner")
		other := token(t, newTenant("perm-other"), "zed", "zed@x.example", auth.RoleAdmin)
		resp, body := raw(t, "GET", f.panelPath, other, nil, nil)
		wantProblem(t, "same email, other tenant", resp, body, http.StatusNotFound)
	})
}
