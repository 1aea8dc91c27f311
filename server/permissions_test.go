package server_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/store"
)

// TestPermissionTableCoversTheSpec fails when an operation of the spec has no entry in the store's
// permission table, or the table names an operation the spec does not have.
func TestPermissionTableCoversTheSpec(t *testing.T) {
	doc, err := gen.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	spec := map[string]string{} // operationId → description
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			id := strings.ToLower(op.OperationID[:1]) + op.OperationID[1:]
			spec[id] = op.Description
			if _, ok := store.Permissions[store.Operation(id)]; !ok {
				t.Errorf("%s %s (%s) has no entry in the permission table", method, path, id)
			}
		}
	}
	for op := range store.Permissions {
		base, variant, _ := strings.Cut(string(op), "?")
		desc, ok := spec[base]
		if !ok {
			t.Errorf("the permission table names %s, which the spec does not define", op)
		}
		if variant != "" && !strings.Contains(desc, "`"+variant+"`") {
			t.Errorf("the table's variant %s names a parameter its operation's description does not mention", op)
		}
	}
}

// The reproduction of the published-view leak: an admin builds a panel with SSN and Diagnosis
// and publishes a view showing only Diagnosis. A member without any row reads that view and its
// Diagnosis column, the panel's name, and nothing else: not SSN (in rows, CSV, columns or a
// formula's value), not the sources, syncs, history or ACL rows.
func TestPublishedViewShowsOnlyItsColumns(t *testing.T) {
	tenant := newTenant("leak")
	admin := token(t, tenant, "admin", "admin@"+tenant+".example", auth.RoleAdmin)
	member := token(t, tenant, "member", "member@"+tenant+".example", auth.RoleUser)
	call := func(tok, method, path, body string, want int) map[string]any {
		t.Helper()
		var payload []byte
		var headers map[string]string
		if body != "" {
			payload, headers = []byte(body), jsonCT
			if strings.HasPrefix(body, "id,") {
				headers = map[string]string{"Content-Type": "text/csv"}
			}
		}
		resp, got := raw(t, method, path, tok, payload, headers)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, got)
		}
		out := map[string]any{}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && len(got) > 0 && got[0] == '{' {
			if err := json.Unmarshal(got, &out); err != nil {
				t.Fatal(err)
			}
		}
		out["_raw"] = string(got)
		return out
	}
	id := func(m map[string]any) int64 { return int64(m["id"].(float64)) }

	p := id(call(admin, "POST", "/api/panels", `{"name":"HIV clinic","description":"Follow-up list",
		"cohortRule":{"conditions":[{"field":"ssn","operator":"eq","value":"123-45-6789"},{"field":"diagnosis","operator":"eq","value":"HIV"}],"logic":"OR"},"metadata":{"secret":"x"}}`, 201))
	pp := fmt.Sprintf("/api/panels/%d", p)
	ds := id(call(admin, "POST", pp+"/datasources", `{"type":"file","config":{"format":"csv","keyField":"id"}}`, 201))
	call(admin, "POST", fmt.Sprintf("/api/datasources/%d/upload", ds), "id,ssn,diagnosis\np1,123-45-6789,HIV\np2,987-65-4321,HIV\n", 200)
	ssn := id(call(admin, "POST", pp+"/columns/base", fmt.Sprintf(`{"name":"SSN","type":"text","sourceField":"ssn","dataSourceId":%d,"properties":{}}`, ds), 201))
	diag := id(call(admin, "POST", pp+"/columns/base", fmt.Sprintf(`{"name":"Diagnosis","type":"text","sourceField":"diagnosis","dataSourceId":%d,"properties":{}}`, ds), 201))
	label := id(call(admin, "POST", pp+"/columns/calculated", `{"name":"Label","type":"text","formula":"[SSN] & ' ' & [Diagnosis]","properties":{}}`, 201))
	// A shown calculated column fails on every row, reading SSN: its error must not quote SSN.
	bad := id(call(admin, "POST", pp+"/columns/calculated", `{"name":"Bad","type":"number","formula":"[SSN] + 1","properties":{}}`, 201))
	v := id(call(admin, "POST", "/api/views", fmt.Sprintf(`{"name":"Diagnoses","panelId":%d,"visibleColumns":["%d","%d"]}`, p, diag, bad), 201))
	// The view sorts and filters on SSN, which it does not show: that still works, unseen.
	call(admin, "PUT", fmt.Sprintf("/api/views/%d/filters", v), `{"filters":[{"columnName":"SSN","operator":"isNotNull"}]}`, 200)
	call(admin, "PUT", fmt.Sprintf("/api/views/%d/sorts", v), `{"sorts":[{"columnName":"SSN","direction":"asc","order":0}]}`, 200)
	call(admin, "POST", fmt.Sprintf("/api/views/%d/publish", v), "", 200)

	// What the member may read.
	call(member, "GET", fmt.Sprintf("/api/views/%d", v), "", 200)
	panel := call(member, "GET", pp, "", 200)
	if panel["name"] != "HIV clinic" || panel["viewOnly"] != true || strings.Contains(panel["_raw"].(string), "123-45-6789") ||
		strings.Contains(panel["_raw"].(string), "secret") {
		t.Errorf("the panel as a view reader sees it: %s", panel["_raw"])
	}
	// A page of one row: its cursor holds the sort key (an SSN) sealed, not readable.
	resp, first := raw(t, "GET", fmt.Sprintf("%s/rows?viewId=%d&limit=1", pp, v), member, nil, nil)
	var page struct {
		NextCursor string           `json:"nextCursor"`
		Rows       []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(first, &page); err != nil || resp.StatusCode != 200 || page.NextCursor == "" || len(page.Rows) != 1 {
		t.Fatalf("first page through the view: %d %s", resp.StatusCode, first)
	}
	for _, part := range strings.Split(page.NextCursor, ".") {
		if b, err := base64.RawURLEncoding.DecodeString(part); err == nil && (strings.Contains(string(b), "123-45-6789") || strings.Contains(string(b), "123")) {
			t.Errorf("the rows cursor shows the hidden sort key: %s", b)
		}
	}
	for _, pageURL := range []string{fmt.Sprintf("%s/rows?viewId=%d", pp, v),
		fmt.Sprintf("%s/rows?viewId=%d&limit=1&cursor=%s", pp, v, page.NextCursor)} {
		rows := call(member, "GET", pageURL, "", 200)
		if raw := rows["_raw"].(string); strings.Contains(raw, "123-45-6789") || strings.Contains(raw, "987-65-4321") || !strings.Contains(raw, "HIV") ||
			strings.Contains(raw, `"SSN"`) || strings.Contains(raw, `"Label"`) || !strings.Contains(raw, "is not a number") {
			t.Errorf("rows through the view: %s", raw)
		}
	}
	csv := call(member, "GET", fmt.Sprintf("%s/rows?viewId=%d&format=csv", pp, v), "", 200)["_raw"].(string)
	if csv != "Diagnosis,Bad\nHIV,\nHIV,\n" {
		t.Errorf("CSV through the view: %q, want only the Diagnosis and Bad columns", csv)
	}
	cols := call(member, "GET", pp+"/columns", "", 200)
	if raw := cols["_raw"].(string); !strings.Contains(raw, `"Diagnosis"`) || strings.Contains(raw, `"SSN"`) || strings.Contains(raw, "Label") {
		t.Errorf("columns as a view reader: %s", raw)
	}
	call(member, "GET", fmt.Sprintf("%s/columns/%d", pp, diag), "", 200)

	// What stays hidden: 404, as if it did not exist.
	for _, path := range []string{
		pp + "/rows",
		pp + "/rows?format=csv",
		fmt.Sprintf("%s/columns/%d", pp, ssn),
		fmt.Sprintf("%s/columns/%d", pp, label),
		pp + "/datasources",
		fmt.Sprintf("/api/datasources/%d", ds),
		fmt.Sprintf("/api/datasources/%d/syncs", ds),
		fmt.Sprintf("/api/changes/panels?panelId=%d", p),
		fmt.Sprintf("/api/acls/panel/%d", p),
		fmt.Sprintf("/api/acls/view/%d", v),
	} {
		call(member, "GET", path, "", 404)
	}
	// Nor does the history without a panel, or the panel list, name the panel.
	if raw := call(member, "GET", "/api/changes/panels", "", 200)["_raw"].(string); strings.Contains(raw, "123-45-6789") || strings.Contains(raw, "HIV clinic") {
		t.Errorf("the member's change history: %s", raw)
	}
	if _, got := raw(t, "GET", "/api/panels", member, nil, nil); strings.Contains(string(got), "HIV clinic") {
		t.Errorf("the member's panel list: %s", got)
	}
	// Changing the panel is refused; the view too.
	call(member, "PUT", pp, `{"name":"Mine now"}`, 403)
	call(member, "POST", "/api/views", fmt.Sprintf(`{"name":"Copy","panelId":%d,"visibleColumns":["%d"]}`, p, ssn), 403)
	call(member, "PUT", fmt.Sprintf("/api/views/%d", v), `{"visibleColumns":["SSN"]}`, 403)
	// Editor on the view alone renames it, but cannot make it show, sort or filter on another column.
	call(admin, "POST", fmt.Sprintf("/api/acls/view/%d", v), `{"userEmail":"member@`+tenant+`.example","permission":"editor"}`, 201)
	call(member, "PUT", fmt.Sprintf("/api/views/%d", v), `{"name":"Diagnoses (renamed)"}`, 200)
	call(member, "PUT", fmt.Sprintf("/api/views/%d", v), fmt.Sprintf(`{"visibleColumns":["%d","SSN"]}`, diag), 403)
	call(member, "PUT", fmt.Sprintf("/api/views/%d/filters", v), `{"filters":[{"columnName":"SSN","operator":"eq","value":"123-45-6789"}]}`, 403)
	call(member, "PUT", fmt.Sprintf("/api/views/%d/sorts", v), `{"sorts":[{"columnName":"SSN","direction":"desc","order":0}]}`, 403)
	if raw := call(member, "GET", fmt.Sprintf("%s/rows?viewId=%d", pp, v), "", 200)["_raw"].(string); strings.Contains(raw, "123-45-6789") {
		t.Errorf("rows after the view editor's attempts: %s", raw)
	}
}
