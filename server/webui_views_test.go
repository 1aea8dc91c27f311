package server_test

// The rest of the original web UI's REST client (docs/README.md#the-original-web-ui): viewsAPI, aclAPI and
// organizationAPI, replayed with the UI's own bytes and habits, and its start-up calls for every
// kind of member. See webui_test.go for panels, data sources and columns.

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// uiEncodeURIComponent is JavaScript's encodeURIComponent: everything but A-Z a-z 0-9 - _ . ! ~ * ' ( )
// is percent-encoded (so '@' becomes %40 and '+' becomes %2B).
func uiEncodeURIComponent(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("-_.!~*'()", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// uiStartUp replays what the UI does when it opens: all panels, all views, then each panel's
// columns. Every call must succeed; it returns the panel and view ids it saw.
func uiStartUp(t *testing.T, who string, ui uiClient) (panels, views []int64) {
	t.Helper()
	resp, body := ui.json(http.MethodGet, "/panels", nil)
	uiWantStatus(t, who+": panelsAPI.all", resp, body, http.StatusOK)
	for _, it := range uiArray(t, who+": panelsAPI.all", body) {
		panels = append(panels, uiID(t, who+": panelsAPI.all", it.(map[string]any)))
	}
	resp, body = ui.json(http.MethodGet, "/views", nil)
	uiWantStatus(t, who+": viewsAPI.all", resp, body, http.StatusOK)
	all := uiObject(t, who+": viewsAPI.all", body)
	list, ok := all["views"].([]any)
	if !ok {
		t.Fatalf("%s: viewsAPI.all: no views array: %s", who, body)
	}
	if all["total"] != float64(len(list)) {
		t.Errorf("%s: viewsAPI.all: total %v for %d views (the UI never pages)", who, all["total"], len(list))
	}
	for _, it := range list {
		v := it.(map[string]any)
		views = append(views, uiID(t, who+": viewsAPI.all", v))
		for _, k := range []string{"name", "panelId", "visibleColumns", "metadata", "sort", "isPublished"} {
			if _, ok := v[k]; !ok {
				t.Errorf("%s: viewsAPI.all: a view without %s: %v", who, k, v)
			}
		}
	}
	for _, id := range panels {
		resp, body = ui.json(http.MethodGet, fmt.Sprintf("/panels/%d/columns", id), nil)
		uiColumns(t, fmt.Sprintf("%s: columns.list of panel %d", who, id), resp, body)
	}
	return panels, views
}

func uiAcl(t *testing.T, what string, body []byte) map[string]any {
	t.Helper()
	m := uiObject(t, what, body)
	acl, ok := m["acl"].(map[string]any)
	if !ok {
		t.Fatalf("%s: want {acl}, got %s", what, body)
	}
	uiID(t, what, acl)
	uiWantTimestamps(t, what, acl, "createdAt", "updatedAt")
	return acl
}

func uiAcls(t *testing.T, what string, resp *http.Response, body []byte) []map[string]any {
	t.Helper()
	uiWantStatus(t, what, resp, body, http.StatusOK)
	m := uiObject(t, what, body)
	list, ok := m["acls"].([]any)
	if !ok {
		t.Fatalf("%s: want {acls}, got %s", what, body)
	}
	out := make([]map[string]any, len(list))
	for i, it := range list {
		out[i] = it.(map[string]any)
	}
	return out
}

// uiPermissionOf is how the UI finds a principal's permission in an ACL list.
func uiPermissionOf(acls []map[string]any, principal string) any {
	for _, a := range acls {
		if a["userEmail"] == principal {
			return a["permission"]
		}
	}
	return nil
}

func TestWebUIViewsACLsAndMembers(t *testing.T) {
	tenant := newTenant("webui-views")
	ownerSub, ownerEmail := "member-owner-"+tenant, "owner@"+tenant+".example"
	owner := uiClient{t: t, token: uiStytchToken(t, tenant, ownerSub, ownerEmail, "Panels Builder")}
	// A colleague whose email needs encoding in a query-like path segment.
	colleagueSub, colleagueEmail := "member-colleague-"+tenant, "nurse+panels@"+tenant+".example"
	colleague := uiClient{t: t, token: uiStytchToken(t, tenant, colleagueSub, colleagueEmail, "Panels User")}
	stranger := uiClient{t: t, token: uiStytchToken(t, tenant, "member-stranger-"+tenant, "stranger@"+tenant+".example", "Panels User")}

	// ---- start-up of a member who has nothing yet ----
	if panels, views := uiStartUp(t, "new member", stranger); len(panels) != 0 || len(views) != 0 {
		t.Errorf("new member sees panels %v and views %v", panels, views)
	}

	// ---- the panel the views are of, made like the UI makes it ----
	resp, body := owner.json(http.MethodPost, "/panels", []byte(`{"name":"New Panel","description":"","metadata":{}}`))
	uiWantStatus(t, "panelsAPI.create", resp, body, http.StatusCreated)
	panelID := uiID(t, "panelsAPI.create", uiObject(t, "panelsAPI.create", body))
	pp := fmt.Sprintf("/panels/%d", panelID)
	resp, body = owner.json(http.MethodPost, pp+"/datasources", []byte(`{"type":"api","config":{"endpoint":"/api/patients","method":"GET"}}`))
	uiWantStatus(t, "dataSources.create", resp, body, http.StatusCreated)
	dsID := uiID(t, "dataSources.create", uiObject(t, "dataSources.create", body))
	col := func(name, field string, order int) int64 {
		resp, body := owner.json(http.MethodPost, pp+"/columns/base", []byte(fmt.Sprintf(
			`{"name":%q,"type":"text","sourceField":%q,"dataSourceId":%d,"properties":{"display":{"visible":true,"order":%d}},"metadata":{},"tags":["panels:patients"]}`,
			name, field, dsID, order)))
		uiWantStatus(t, "columns.createBase", resp, body, http.StatusCreated)
		return uiID(t, "columns.createBase", uiObject(t, "columns.createBase", body))
	}
	nameID, emailID := col("Full Name", "name.first().family", 0), col("Email Address", "telecom.where(system = 'email').value", 1)
	// A second, empty panel: start-up lists columns of every panel, empty ones too.
	resp, body = owner.json(http.MethodPost, "/panels", []byte(`{"name":"New Panel","description":"","metadata":{}}`))
	uiWantStatus(t, "panelsAPI.create (second)", resp, body, http.StatusCreated)
	emptyPanelID := uiID(t, "panelsAPI.create", uiObject(t, "panelsAPI.create", body))

	// ---- viewsAPI.create: panelId as a number, column ids as strings, metadata passed through ----
	viewBody := fmt.Sprintf(`{"name":"My worklist","panelId":%d,"visibleColumns":["%d","%d"],"metadata":{"viewType":"patient","density":"compact"}}`,
		panelID, nameID, emailID)
	resp, body = owner.json(http.MethodPost, "/views", []byte(viewBody))
	uiWantStatus(t, "viewsAPI.create", resp, body, http.StatusCreated)
	view := uiObject(t, "viewsAPI.create", body)
	viewID := uiID(t, "viewsAPI.create", view)
	uiWantFields(t, "viewsAPI.create", view, map[string]any{
		"name": "My worklist", "panelId": panelID, "visibleColumns": []string{fmt.Sprint(nameID), fmt.Sprint(emailID)},
		"metadata": map[string]any{"viewType": "patient", "density": "compact"}, "ownerUserId": ownerSub, "tenantId": tenant,
		"isPublished": false, "publishedAt": nil, "publishedBy": nil, "sort": []any{}, "filters": []any{},
	})
	uiWantTimestamps(t, "viewsAPI.create", view, "createdAt", "updatedAt")
	if loc := resp.Header.Get("Location"); loc != fmt.Sprintf("/api/views/%d", viewID) {
		t.Errorf("viewsAPI.create: Location %q", loc)
	}
	vp := fmt.Sprintf("/views/%d", viewID)

	// The UI passes view.metadata through, and it may be undefined: JSON.stringify drops the key.
	resp, body = owner.json(http.MethodPost, "/views", []byte(fmt.Sprintf(`{"name":"Scratch","panelId":%d,"visibleColumns":[]}`, panelID)))
	uiWantStatus(t, "viewsAPI.create (metadata undefined)", resp, body, http.StatusCreated)
	scratch := uiObject(t, "viewsAPI.create", body)
	scratchID := uiID(t, "viewsAPI.create", scratch)
	uiWantFields(t, "viewsAPI.create (metadata undefined)", scratch, map[string]any{"metadata": map[string]any{}, "visibleColumns": []string{}})

	// ---- viewsAPI.all and viewsAPI.get ----
	resp, body = owner.json(http.MethodGet, "/views", nil)
	uiWantStatus(t, "viewsAPI.all", resp, body, http.StatusOK)
	all := uiObject(t, "viewsAPI.all", body)
	items, _ := all["views"].([]any)
	if all["total"] != float64(2) || len(items) != 2 {
		t.Fatalf("viewsAPI.all: want both views and total 2: %s", body)
	}
	if got := uiFindByID(t, "viewsAPI.all", items, viewID); !reflect.DeepEqual(got, view) {
		t.Errorf("viewsAPI.all: %v differs from the created view %v", got, view)
	}
	resp, body = owner.json(http.MethodGet, vp, nil)
	uiWantStatus(t, "viewsAPI.get", resp, body, http.StatusOK)
	if got := uiObject(t, "viewsAPI.get", body); !reflect.DeepEqual(got, view) {
		t.Errorf("viewsAPI.get: %v differs from the created view %v", got, view)
	}

	// ---- viewsAPI.update: the body carries the view's own id, as a number or a string ----
	resp, body = owner.json(http.MethodPut, vp, []byte(fmt.Sprintf(
		`{"id":%d,"name":"Due this week","visibleColumns":["%d"],"metadata":{"viewType":"patient","density":"comfortable"}}`, viewID, emailID)))
	uiWantStatus(t, "viewsAPI.update", resp, body, http.StatusOK)
	updated := uiObject(t, "viewsAPI.update", body)
	uiWantFields(t, "viewsAPI.update", updated, map[string]any{
		"id": viewID, "name": "Due this week", "visibleColumns": []string{fmt.Sprint(emailID)}, "panelId": panelID,
		"metadata": map[string]any{"viewType": "patient", "density": "comfortable"}, "createdAt": view["createdAt"], "ownerUserId": ownerSub,
	})
	uiWantTimestamps(t, "viewsAPI.update", updated, "updatedAt")
	resp, body = owner.json(http.MethodPut, vp, []byte(fmt.Sprintf(`{"id":"%d","visibleColumns":["%d","Full Name"]}`, viewID, emailID)))
	uiWantStatus(t, "viewsAPI.update (string id)", resp, body, http.StatusOK)
	uiWantFields(t, "viewsAPI.update (string id)", uiObject(t, "viewsAPI.update", body), map[string]any{
		"name": "Due this week", "visibleColumns": []string{fmt.Sprint(emailID), "Full Name"}, "metadata": updated["metadata"],
	})
	resp, body = owner.json(http.MethodPut, vp, []byte(fmt.Sprintf(`{"id":%d,"name":"x"}`, scratchID)))
	uiWantProblem(t, "viewsAPI.update (another view's id)", resp, body, http.StatusBadRequest)
	resp, body = owner.json(http.MethodPut, vp, []byte(`{"visibleColumns":["No Such Column"]}`))
	uiWantProblem(t, "viewsAPI.update (unknown column)", resp, body, http.StatusUnprocessableEntity)

	// ---- viewsAPI.sorts.update and sorts.get (a GET with a JSON content type) ----
	resp, body = owner.json(http.MethodPut, vp+"/sorts", []byte(fmt.Sprintf(
		`{"sorts":[{"columnName":"Full Name","direction":"desc","order":1},{"columnName":"%d","direction":"asc","order":0}]}`, emailID)))
	uiWantStatus(t, "viewsAPI.sorts.update", resp, body, http.StatusOK)
	sorts, ok := uiObject(t, "viewsAPI.sorts.update", body)["sorts"].([]any)
	if !ok || len(sorts) != 2 {
		t.Fatalf("viewsAPI.sorts.update: want {sorts} with two items: %s", body)
	}
	wantSorts := []map[string]any{
		{"columnName": fmt.Sprint(emailID), "direction": "asc", "order": 0},
		{"columnName": "Full Name", "direction": "desc", "order": 1},
	}
	checkSorts := func(what string, sorts []any) {
		t.Helper()
		if len(sorts) != len(wantSorts) {
			t.Fatalf("%s: %d sorts, want %d: %v", what, len(sorts), len(wantSorts), sorts)
		}
		for i, s := range sorts {
			m := s.(map[string]any)
			uiID(t, what, m)
			uiWantFields(t, fmt.Sprintf("%s[%d]", what, i), m, wantSorts[i])
		}
	}
	checkSorts("viewsAPI.sorts.update", sorts)
	resp, body = owner.json(http.MethodGet, vp+"/sorts", nil)
	uiWantStatus(t, "viewsAPI.sorts.get", resp, body, http.StatusOK)
	got, _ := uiObject(t, "viewsAPI.sorts.get", body)["sorts"].([]any)
	checkSorts("viewsAPI.sorts.get", got)
	if !reflect.DeepEqual(got, sorts) {
		t.Errorf("viewsAPI.sorts.get %v differs from what sorts.update answered %v", got, sorts)
	}
	resp, body = owner.json(http.MethodGet, vp, nil)
	uiWantStatus(t, "viewsAPI.get (with sorts)", resp, body, http.StatusOK)
	withSorts, _ := uiObject(t, "viewsAPI.get", body)["sort"].([]any)
	checkSorts("viewsAPI.get sort", withSorts)
	resp, body = owner.json(http.MethodPut, vp+"/sorts", []byte(`{"sorts":[{"columnName":"Full Name","direction":"DESC","order":1}]}`))
	uiWantProblem(t, "viewsAPI.sorts.update (upper-case direction)", resp, body, http.StatusBadRequest)

	// ---- aclAPI.list: the owner's row of the view, written when it was created ----
	resp, body = owner.json(http.MethodGet, "/acls/view/"+fmt.Sprint(viewID), nil)
	acls := uiAcls(t, "aclAPI.list (view)", resp, body)
	if len(acls) != 1 {
		t.Fatalf("aclAPI.list (view): want the owner's row only: %v", acls)
	}
	uiWantFields(t, "aclAPI.list (view)", acls[0], map[string]any{
		"resourceType": "view", "resourceId": viewID, "userEmail": ownerEmail, "permission": "owner", "tenantId": tenant,
	})

	// ---- aclAPI.create: a colleague on the panel (mixed-case email), _all through the ordinary create ----
	resp, body = owner.json(http.MethodPost, fmt.Sprintf("/acls/panel/%d", panelID),
		[]byte(`{"userEmail":"Nurse+Panels@`+strings.ToUpper(tenant)+`.example","permission":"editor"}`))
	uiWantStatus(t, "aclAPI.create (colleague)", resp, body, http.StatusCreated)
	uiWantFields(t, "aclAPI.create (colleague)", uiAcl(t, "aclAPI.create", body), map[string]any{
		"resourceType": "panel", "resourceId": panelID, "userEmail": colleagueEmail, "permission": "editor", "tenantId": tenant,
	})
	resp, body = owner.json(http.MethodPost, fmt.Sprintf("/acls/panel/%d", panelID), []byte(`{"userEmail":"`+colleagueEmail+`","permission":"viewer"}`))
	uiWantProblem(t, "aclAPI.create (duplicate)", resp, body, http.StatusConflict)
	resp, body = owner.json(http.MethodPost, fmt.Sprintf("/acls/panel/%d", panelID), []byte(`{"userEmail":"_all","permission":"viewer"}`))
	uiWantStatus(t, "aclAPI.create (_all)", resp, body, http.StatusCreated)
	uiWantFields(t, "aclAPI.create (_all)", uiAcl(t, "aclAPI.create", body), map[string]any{
		"resourceType": "panel", "resourceId": panelID, "userEmail": "_all", "permission": "viewer",
	})
	resp, body = owner.json(http.MethodPost, "/acls/view/"+fmt.Sprint(viewID), []byte(`{"userEmail":"_all","permission":"viewer"}`))
	uiWantStatus(t, "aclAPI.create (_all on the view)", resp, body, http.StatusCreated)

	// ---- aclAPI.listByUser(encodeURIComponent(email)), with and without the type ----
	byUser := func(who string, ui uiClient, email, query string) []map[string]any {
		t.Helper()
		resp, body := ui.json(http.MethodGet, "/acls/user/"+uiEncodeURIComponent(email)+query, nil)
		return uiAcls(t, who+": aclAPI.listByUser"+query, resp, body)
	}
	mine := byUser("colleague", colleague, colleagueEmail, "")
	if len(mine) != 3 || uiPermissionOf(mine, colleagueEmail) != "editor" || uiPermissionOf(mine, "_all") != "viewer" {
		t.Errorf("colleague: aclAPI.listByUser: want its editor row and both _all rows: %v", mine)
	}
	if l := byUser("colleague", colleague, colleagueEmail, "?resourceType=view"); len(l) != 1 || l[0]["userEmail"] != "_all" || l[0]["resourceId"] != float64(viewID) {
		t.Errorf("colleague: aclAPI.listByUser?resourceType=view: want the view's _all row only: %v", l)
	}
	if l := byUser("owner", owner, ownerEmail, "?resourceType=panel"); uiPermissionOf(l, ownerEmail) != "owner" || len(l) != 3 {
		t.Errorf("owner: aclAPI.listByUser?resourceType=panel: want its two owner rows and the _all row: %v", l)
	}

	// ---- the colleague's and a stranger's start-up: the shared panel, its views, its columns ----
	for _, m := range []struct {
		who string
		ui  uiClient
	}{{"colleague", colleague}, {"stranger (through _all)", stranger}} {
		panels, views := uiStartUp(t, m.who, m.ui)
		if !reflect.DeepEqual(panels, []int64{panelID}) {
			t.Errorf("%s: start-up panels %v, want [%d]", m.who, panels, panelID)
		}
		if len(views) != 2 {
			t.Errorf("%s: start-up views %v, want both views of the shared panel", m.who, views)
		}
		// The UI reads the ACLs of what it shows to find its own permission.
		resp, body := m.ui.json(http.MethodGet, fmt.Sprintf("/acls/panel/%d", panelID), nil)
		acls := uiAcls(t, m.who+": aclAPI.list (panel)", resp, body)
		if uiPermissionOf(acls, colleagueEmail) != "editor" || uiPermissionOf(acls, ownerEmail) != "owner" || uiPermissionOf(acls, "_all") != "viewer" {
			t.Errorf("%s: aclAPI.list (panel): %v", m.who, acls)
		}
	}
	if panels, _ := uiStartUp(t, "owner", owner); len(panels) != 2 || panels[0] != emptyPanelID {
		t.Errorf("owner: start-up panels %v, want [%d %d]", panels, emptyPanelID, panelID)
	}

	// ---- aclAPI.update and aclAPI.delete: the email in the path is not encoded ----
	resp, body = owner.json(http.MethodPut, fmt.Sprintf("/acls/panel/%d/%s", panelID, colleagueEmail), []byte(`{"permission":"viewer"}`))
	uiWantStatus(t, "aclAPI.update", resp, body, http.StatusOK)
	uiWantFields(t, "aclAPI.update", uiAcl(t, "aclAPI.update", body), map[string]any{
		"resourceType": "panel", "resourceId": panelID, "userEmail": colleagueEmail, "permission": "viewer",
	})
	// A viewer now: the colleague can no longer change the view it reads through the panel.
	resp, body = colleague.json(http.MethodPut, vp, []byte(fmt.Sprintf(`{"id":%d,"name":"mine now"}`, viewID)))
	uiWantProblem(t, "colleague (viewer): viewsAPI.update", resp, body, http.StatusForbidden)
	resp, body = owner.json(http.MethodPut, fmt.Sprintf("/acls/panel/%d/_all", panelID), []byte(`{"permission":"editor"}`))
	uiWantStatus(t, "aclAPI.update (_all)", resp, body, http.StatusOK)
	uiWantFields(t, "aclAPI.update (_all)", uiAcl(t, "aclAPI.update", body), map[string]any{"userEmail": "_all", "permission": "editor"})
	resp, body = owner.json(http.MethodPut, fmt.Sprintf("/acls/panel/%d/%s", panelID, ownerEmail), []byte(`{"permission":"viewer"}`))
	uiWantProblem(t, "aclAPI.update (the last owner)", resp, body, http.StatusConflict)

	resp, body = owner.noBody(http.MethodDelete, fmt.Sprintf("/acls/panel/%d/%s", panelID, colleagueEmail))
	uiWantStatus(t, "aclAPI.delete", resp, body, http.StatusNoContent)
	if len(body) != 0 {
		t.Errorf("aclAPI.delete: 204 with a body: %q", body)
	}
	resp, body = owner.noBody(http.MethodDelete, fmt.Sprintf("/acls/panel/%d/%s", panelID, colleagueEmail))
	uiWantProblem(t, "aclAPI.delete (again)", resp, body, http.StatusNotFound)
	resp, body = owner.noBody(http.MethodDelete, fmt.Sprintf("/acls/panel/%d/_all", panelID))
	uiWantStatus(t, "aclAPI.delete (_all)", resp, body, http.StatusNoContent)
	resp, body = owner.json(http.MethodGet, fmt.Sprintf("/acls/panel/%d", panelID), nil)
	acls = uiAcls(t, "aclAPI.list after deletes", resp, body)
	if len(acls) != 1 || uiPermissionOf(acls, ownerEmail) != "owner" {
		t.Errorf("aclAPI.list after deletes: want the owner's row only: %v", acls)
	}
	// Without the panel rows, the colleague still sees the view shared with _all, but not the panel.
	if panels, views := uiStartUp(t, "colleague after revocation", colleague); len(panels) != 0 || !reflect.DeepEqual(views, []int64{viewID}) {
		t.Errorf("colleague after revocation: panels %v views %v, want none and [%d]", panels, views, viewID)
	}

	// ---- organizationAPI.getMembers: checks response.ok, reads member_id, name, email_address ----
	resp, body = colleague.json(http.MethodGet, "/organization/members", nil)
	uiWantStatus(t, "organizationAPI.getMembers", resp, body, http.StatusOK)
	members, ok := uiObject(t, "organizationAPI.getMembers", body)["members"].([]any)
	if !ok {
		t.Fatalf("organizationAPI.getMembers: want {members}: %s", body)
	}
	byID := map[string]map[string]any{}
	for _, it := range members {
		m := it.(map[string]any)
		id, _ := m["member_id"].(string)
		if _, ok := m["email_address"].(string); !ok || id == "" {
			t.Errorf("organizationAPI.getMembers: member without member_id or email_address: %v", m)
		}
		if n, ok := m["name"]; !ok || (n != nil && reflect.TypeOf(n).Kind() != reflect.String) {
			t.Errorf("organizationAPI.getMembers: name must be a string or null: %v", m)
		}
		byID[id] = m
	}
	for sub, email := range map[string]string{ownerSub: ownerEmail, colleagueSub: colleagueEmail} {
		if m := byID[sub]; m == nil || m["email_address"] != email {
			t.Errorf("organizationAPI.getMembers: %s (%s) missing or wrong: %v", sub, email, byID[sub])
		}
	}
	if len(byID) != 3 {
		t.Errorf("organizationAPI.getMembers: %d members, want the 3 who used the service: %s", len(byID), body)
	}

	// ---- viewsAPI.delete: no body; the view, its sorts and its ACL rows are gone ----
	resp, body = owner.noBody(http.MethodDelete, vp)
	uiWantStatus(t, "viewsAPI.delete", resp, body, http.StatusNoContent)
	if len(body) != 0 {
		t.Errorf("viewsAPI.delete: 204 with a body: %q", body)
	}
	resp, body = owner.json(http.MethodGet, vp, nil)
	uiWantProblem(t, "viewsAPI.get (deleted)", resp, body, http.StatusNotFound)
	resp, body = owner.json(http.MethodGet, vp+"/sorts", nil)
	uiWantProblem(t, "viewsAPI.sorts.get (deleted)", resp, body, http.StatusNotFound)
	resp, body = owner.json(http.MethodGet, "/acls/view/"+fmt.Sprint(viewID), nil)
	uiWantProblem(t, "aclAPI.list (deleted view)", resp, body, http.StatusNotFound)
	if l := byUser("colleague", colleague, colleagueEmail, ""); len(l) != 0 {
		t.Errorf("colleague: aclAPI.listByUser after the view's deletion: %v, want none", l)
	}
	resp, body = owner.json(http.MethodDelete, "/views/"+fmt.Sprint(scratchID), nil) // JSON content type, empty body
	uiWantStatus(t, "viewsAPI.delete (JSON content type)", resp, body, http.StatusNoContent)
	if _, views := uiStartUp(t, "owner at the end", owner); len(views) != 0 {
		t.Errorf("owner: views after deletes: %v", views)
	}
}
