package server_test

// The original web UI (awell-health/panels apps/app/src/api, see docs/README.md#the-original-web-ui) must keep
// working with its base URL set to <server>/api. This test replays its REST calls for
// panels, data sources and columns byte for byte, with its habits, and checks every field the UI
// reads from each answer. It never uses the generated client: the requests are the UI's own bytes.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// uiStytchToken mints a Stytch B2B session JWT as the UI sends it: the tenant is the organization's
// slug, the role comes from the session's roles, and it is short-lived like Stytch's.
func uiStytchToken(t testing.TB, slug, sub, email string, roles ...string) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewBuilder().
		Subject(sub).
		Issuer("stytch.com/project-test-00000000-0000-0000-0000-000000000000").
		Audience([]string{"project-test-00000000-0000-0000-0000-000000000000"}).
		IssuedAt(now).
		NotBefore(now).
		Expiration(now.Add(5*time.Minute)).
		Claim("email", email).
		Claim("https://stytch.com/organization", map[string]any{
			"organization_id": "organization-test-" + slug,
			"slug":            slug,
		}).
		Claim("https://stytch.com/session", map[string]any{
			"id":                     "member-session-test-" + sub,
			"started_at":             now.UTC().Format(time.RFC3339),
			"last_accessed_at":       now.UTC().Format(time.RFC3339),
			"expires_at":             now.Add(time.Hour).UTC().Format(time.RFC3339),
			"attributes":             map[string]any{"ip_address": "", "user_agent": ""},
			"authentication_factors": []any{},
			"roles":                  roles,
		}).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(testSecret)))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// uiClient sends requests the way the UI's fetch calls do.
type uiClient struct {
	t     *testing.T
	token string
}

// getDefaultOptions: JSON content type (the UI also sends it on GETs and body-less POSTs).
func (u uiClient) json(method, path string, body []byte) (*http.Response, []byte) {
	u.t.Helper()
	if body == nil {
		body = []byte{} // fetch with a JSON content type and no body: Content-Length 0
	}
	return raw(u.t, method, "/api"+path, u.token, body, map[string]string{"Content-Type": "application/json"})
}

// getDefaultOptionsNoBody: no content type, no body.
func (u uiClient) noBody(method, path string) (*http.Response, []byte) {
	u.t.Helper()
	return raw(u.t, method, "/api"+path, u.token, nil, nil)
}

func uiObject(t *testing.T, what string, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: not a JSON object: %v: %s", what, err, body)
	}
	return m
}

func uiArray(t *testing.T, what string, body []byte) []any {
	t.Helper()
	var a []any
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("%s: not a bare JSON array: %v: %s", what, err, body)
	}
	return a
}

// uiJSONValue normalises a Go value to what encoding/json decodes it to, for comparisons.
func uiJSONValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// uiWantFields checks that each key is present in m with exactly the given value (nil: JSON null).
func uiWantFields(t *testing.T, what string, m map[string]any, want map[string]any) {
	t.Helper()
	for k, wv := range want {
		gv, ok := m[k]
		if !ok {
			t.Errorf("%s: field %q missing: %v", what, k, m)
			continue
		}
		if !reflect.DeepEqual(gv, uiJSONValue(t, wv)) {
			t.Errorf("%s: field %q = %#v, want %#v", what, k, gv, uiJSONValue(t, wv))
		}
	}
}

// uiWantTimestamps checks the fields are RFC 3339 UTC date-times (the UI does new Date(value)).
func uiWantTimestamps(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		s, ok := m[k].(string)
		if !ok {
			t.Errorf("%s: %s = %#v, want a date-time string", what, k, m[k])
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !strings.HasSuffix(s, "Z") {
			t.Errorf("%s: %s = %q, want an RFC 3339 UTC date-time (%v)", what, k, s, err)
			continue
		}
		if d := time.Since(ts); d < -time.Minute || d > time.Hour {
			t.Errorf("%s: %s = %q is not a recent time", what, k, s)
		}
	}
}

func uiWantStatus(t *testing.T, what string, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d: %s", what, resp.StatusCode, status, body)
	}
}

// uiWantProblem checks an error answer as the UI sees it: it shows `message`.
func uiWantProblem(t *testing.T, what string, resp *http.Response, body []byte, status int) map[string]any {
	t.Helper()
	uiWantStatus(t, what, resp, body, status)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
	m := uiObject(t, what, body)
	msg, _ := m["message"].(string)
	if msg == "" {
		t.Errorf("%s: error body without message: %s", what, body)
	}
	if m["detail"] != msg {
		t.Errorf("%s: message %q differs from detail %v", what, msg, m["detail"])
	}
	if m["status"] != float64(status) {
		t.Errorf("%s: problem status %v, want %d", what, m["status"], status)
	}
	return m
}

func uiID(t *testing.T, what string, m map[string]any) int64 {
	t.Helper()
	f, ok := m["id"].(float64)
	if !ok || f < 1 || f != float64(int64(f)) {
		t.Fatalf("%s: id %#v is not a positive integer", what, m["id"])
	}
	return int64(f)
}

func uiFindByID(t *testing.T, what string, items []any, id int64) map[string]any {
	t.Helper()
	for _, it := range items {
		if m, ok := it.(map[string]any); ok && m["id"] == float64(id) {
			return m
		}
	}
	t.Fatalf("%s: no item with id %d in %v", what, id, items)
	return nil
}

func uiColumnIDs(t *testing.T, items any) []int64 {
	t.Helper()
	list, ok := items.([]any)
	if !ok {
		t.Fatalf("column list %#v is not an array", items)
	}
	out := []int64{}
	for _, it := range list {
		out = append(out, uiID(t, "column", it.(map[string]any)))
	}
	return out
}

// uiColumns decodes the {baseColumns, calculatedColumns} answer of columns.list.
func uiColumns(t *testing.T, what string, resp *http.Response, body []byte) (base, calc []any) {
	t.Helper()
	uiWantStatus(t, what, resp, body, http.StatusOK)
	m := uiObject(t, what, body)
	b, ok1 := m["baseColumns"].([]any)
	c, ok2 := m["calculatedColumns"].([]any)
	if !ok1 || !ok2 {
		t.Fatalf("%s: want {baseColumns: [], calculatedColumns: []}, got %s", what, body)
	}
	for _, it := range b {
		if it.(map[string]any)["columnType"] != "base" {
			t.Errorf("%s: base column without columnType base: %v", what, it)
		}
	}
	for _, it := range c {
		if it.(map[string]any)["columnType"] != "calculated" {
			t.Errorf("%s: calculated column without columnType calculated: %v", what, it)
		}
	}
	return b, c
}

func TestWebUICompatibility(t *testing.T) {
	tenant := newTenant("webui")
	sub := "member-test-" + tenant
	email := "nurse@" + tenant + ".example"
	ui := uiClient{t: t, token: uiStytchToken(t, tenant, sub, email, "Panels Builder")}

	// ---- panelsAPI.create, then the data source the UI adds to every new panel ----
	resp, body := ui.json(http.MethodPost, "/panels", []byte(`{"name":"New Panel","description":"","metadata":{}}`))
	uiWantStatus(t, "panelsAPI.create", resp, body, http.StatusCreated)
	created := uiObject(t, "panelsAPI.create", body)
	panelID := uiID(t, "panelsAPI.create", created)
	uiWantFields(t, "panelsAPI.create", created, map[string]any{
		"name": "New Panel", "description": "", "tenantId": tenant, "userId": sub, "metadata": map[string]any{},
		"cohortRule": map[string]any{"conditions": []any{}, "logic": "AND"},
	})
	uiWantTimestamps(t, "panelsAPI.create", created, "createdAt", "updatedAt")
	if loc := resp.Header.Get("Location"); loc != fmt.Sprintf("/api/panels/%d", panelID) {
		t.Errorf("panelsAPI.create: Location %q", loc)
	}
	pp := fmt.Sprintf("/panels/%d", panelID)

	resp, body = ui.json(http.MethodPost, pp+"/datasources", []byte(`{"type":"api","config":{"endpoint":"/api/patients","method":"GET"}}`))
	uiWantStatus(t, "dataSources.create", resp, body, http.StatusCreated)
	ds := uiObject(t, "dataSources.create", body)
	dsID := uiID(t, "dataSources.create", ds)
	uiWantFields(t, "dataSources.create", ds, map[string]any{
		"type": "api", "config": map[string]any{"endpoint": "/api/patients", "method": "GET"}, "lastSync": nil,
	})

	// ---- panelsAPI.all and panelsAPI.get (both with a JSON content type on GET) ----
	resp, body = ui.json(http.MethodGet, "/panels", nil)
	uiWantStatus(t, "panelsAPI.all", resp, body, http.StatusOK)
	all := uiArray(t, "panelsAPI.all", body)
	if len(all) != 1 {
		t.Fatalf("panelsAPI.all: %d panels, want 1: %s", len(all), body)
	}
	if got := uiFindByID(t, "panelsAPI.all", all, panelID); !reflect.DeepEqual(got, created) {
		t.Errorf("panelsAPI.all: item %v differs from the created panel %v", got, created)
	}
	resp, body = ui.noBody(http.MethodGet, "/panels") // the newer UI sends GETs without a content type
	uiWantStatus(t, "panelsAPI.all (no content type)", resp, body, http.StatusOK)
	if n := len(uiArray(t, "panelsAPI.all", body)); n != 1 {
		t.Errorf("panelsAPI.all (no content type): %d panels", n)
	}

	resp, body = ui.json(http.MethodGet, pp, nil)
	uiWantStatus(t, "panelsAPI.get", resp, body, http.StatusOK)
	got := uiObject(t, "panelsAPI.get", body)
	if !reflect.DeepEqual(got, created) {
		t.Errorf("panelsAPI.get: %v differs from the created panel %v", got, created)
	}

	// ---- panelsAPI.update: JSON.stringify of the whole object it got back, edited ----
	edited := bytes.TrimSpace(body)
	edited = bytes.Replace(edited, []byte(`"name":"New Panel"`), []byte(`"name":"Diabetes follow-up"`), 1)
	edited = bytes.Replace(edited, []byte(`"metadata":{}`), []byte(`"metadata":{"viewType":"patient","filters":[{"column":"age","value":">65"}]}`), 1)
	for _, k := range []string{`"id":`, `"tenantId":`, `"userId":`, `"createdAt":`, `"updatedAt":`, `"cohortRule":`, `"name":"Diabetes follow-up"`, `"viewType"`} {
		if !bytes.Contains(edited, []byte(k)) {
			t.Fatalf("the UI's update body lacks %s: %s", k, edited)
		}
	}
	resp, body = ui.json(http.MethodPut, pp, edited)
	uiWantStatus(t, "panelsAPI.update", resp, body, http.StatusOK)
	updated := uiObject(t, "panelsAPI.update", body)
	uiWantFields(t, "panelsAPI.update", updated, map[string]any{
		"id": panelID, "name": "Diabetes follow-up", "description": "", "tenantId": tenant, "userId": sub,
		"cohortRule": created["cohortRule"], "createdAt": created["createdAt"],
		"metadata": map[string]any{"viewType": "patient", "filters": []any{map[string]any{"column": "age", "value": ">65"}}},
	})
	uiWantTimestamps(t, "panelsAPI.update", updated, "updatedAt")
	// Echoing the unchanged cohort rule back is not a cohort change.
	resp, body = ui.json(http.MethodGet, fmt.Sprintf("/changes/panels?panelId=%d", panelID), nil)
	uiWantStatus(t, "changes after panelsAPI.update", resp, body, http.StatusOK)
	var history struct {
		Changes []struct {
			ChangeType string `json:"changeType"`
		} `json:"changes"`
	}
	if err := json.Unmarshal(body, &history); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, c := range history.Changes {
		kinds[c.ChangeType]++
	}
	if kinds["panel_updated"] != 1 || kinds["cohort_changed"] != 0 {
		t.Errorf("after the UI's echoed update: change types %v, want one panel_updated and no cohort_changed", kinds)
	}
	// An editor who is not the creator saves the panel from the UI: the body echoes the creator's
	// userId, which is the stored creator, so it is ignored. A third person's userId is refused.
	editorEmail := "editor@" + tenant + ".example"
	resp, body = ui.json(http.MethodPost, fmt.Sprintf("/acls/panel/%d", panelID), []byte(`{"userEmail":"`+editorEmail+`","permission":"editor"}`))
	uiWantStatus(t, "acls.create editor", resp, body, http.StatusCreated)
	editor := uiClient{t: t, token: uiStytchToken(t, tenant, "member-editor-"+tenant, editorEmail, "Panels Builder")}
	resp, body = editor.json(http.MethodGet, pp, nil)
	uiWantStatus(t, "panelsAPI.get by an editor", resp, body, http.StatusOK)
	byEditor := bytes.Replace(bytes.TrimSpace(body), []byte(`"name":"Diabetes follow-up"`), []byte(`"name":"Diabetes follow-up (editor)"`), 1)
	if !bytes.Contains(byEditor, []byte(`"userId":"`+sub+`"`)) {
		t.Fatalf("the editor's update body does not echo the creator's userId: %s", byEditor)
	}
	resp, body = editor.json(http.MethodPut, pp, byEditor)
	uiWantStatus(t, "panelsAPI.update by an editor who is not the creator", resp, body, http.StatusOK)
	uiWantFields(t, "panelsAPI.update by an editor", uiObject(t, "panelsAPI.update by an editor", body),
		map[string]any{"name": "Diabetes follow-up (editor)", "userId": sub})
	resp, body = editor.json(http.MethodPut, pp, []byte(`{"name":"Hijacked","userId":"someone-else"}`))
	uiWantStatus(t, "panelsAPI.update with a third person's userId", resp, body, http.StatusForbidden)
	resp, body = editor.json(http.MethodPut, pp, bytes.Replace(byEditor, []byte(`"name":"Diabetes follow-up (editor)"`), []byte(`"name":"Diabetes follow-up"`), 1))
	uiWantStatus(t, "panelsAPI.update back by the editor", resp, body, http.StatusOK)
	// The same habit with the id as a numeric string, and a wrong id (400 the UI can show).
	resp, body = ui.json(http.MethodPut, pp, []byte(fmt.Sprintf(`{"id":"%d","name":"Diabetes follow-up","description":"Due for HbA1c"}`, panelID)))
	uiWantStatus(t, "panelsAPI.update (string id)", resp, body, http.StatusOK)
	uiWantFields(t, "panelsAPI.update (string id)", uiObject(t, "panelsAPI.update", body), map[string]any{
		"id": panelID, "description": "Due for HbA1c", "metadata": updated["metadata"],
	})
	resp, body = ui.json(http.MethodPut, pp, []byte(fmt.Sprintf(`{"id":%d,"name":"x"}`, panelID+1000000)))
	uiWantProblem(t, "panelsAPI.update (wrong id)", resp, body, http.StatusBadRequest)

	// ---- columns.createBase / createCalculated as the UI builds them ----
	resp, body = ui.json(http.MethodPost, pp+"/columns/base", []byte(fmt.Sprintf(
		`{"name":"Email Address","type":"text","sourceField":"telecom.where(system = 'email').value","dataSourceId":%d,"properties":{"display":{"visible":true,"order":1}},"metadata":{},"tags":["panels:patients"]}`, dsID)))
	uiWantStatus(t, "columns.createBase (email)", resp, body, http.StatusCreated)
	emailCol := uiObject(t, "columns.createBase", body)
	emailID := uiID(t, "columns.createBase", emailCol)
	uiWantFields(t, "columns.createBase (email)", emailCol, map[string]any{
		"name": "Email Address", "type": "text", "sourceField": "telecom.where(system = 'email').value",
		"tags": []string{"panels:patients"}, "properties": map[string]any{"display": map[string]any{"visible": true, "order": 1}},
		"metadata": map[string]any{}, "columnType": "base", "dataSourceId": dsID,
	})

	resp, body = ui.json(http.MethodPost, pp+"/columns/base", []byte(fmt.Sprintf(
		`{"name":"Full Name","type":"text","sourceField":"name.first().given.first() + ' ' + name.first().family","dataSourceId":%d,"properties":{"display":{"visible":true,"order":0}},"metadata":{"fhirResource":"Patient"},"tags":["panels:worklist"]}`, dsID)))
	uiWantStatus(t, "columns.createBase (name)", resp, body, http.StatusCreated)
	nameCol := uiObject(t, "columns.createBase", body)
	nameID := uiID(t, "columns.createBase", nameCol)
	uiWantFields(t, "columns.createBase (name)", nameCol, map[string]any{
		"name": "Full Name", "columnType": "base", "tags": []string{"panels:worklist"}, "metadata": map[string]any{"fhirResource": "Patient"},
	})

	resp, body = ui.json(http.MethodPost, pp+"/columns/calculated", []byte(
		`{"name":"Display Name","type":"text","formula":"CONCAT([Full Name], \" (\", [Email Address], \")\")","dependencies":["Full Name","Email Address"],"properties":{"display":{"visible":true,"order":2}},"metadata":{},"tags":["panels:patients"]}`))
	uiWantStatus(t, "columns.createCalculated", resp, body, http.StatusCreated)
	calcCol := uiObject(t, "columns.createCalculated", body)
	calcID := uiID(t, "columns.createCalculated", calcCol)
	uiWantFields(t, "columns.createCalculated", calcCol, map[string]any{
		"name": "Display Name", "type": "text", "formula": `CONCAT([Full Name], " (", [Email Address], ")")`,
		"dependencies": []string{"Full Name", "Email Address"}, "properties": map[string]any{"display": map[string]any{"visible": true, "order": 2}},
		"metadata": map[string]any{}, "tags": []string{"panels:patients"}, "columnType": "calculated",
	})
	if _, ok := calcCol["sourceField"]; ok {
		t.Errorf("calculated column carries sourceField: %v", calcCol)
	}

	// ---- columns.list, with and without the repeated ids/tags parameters ----
	resp, body = ui.json(http.MethodGet, pp+"/columns", nil)
	base, calc := uiColumns(t, "columns.list", resp, body)
	if ids := uiColumnIDs(t, base); !reflect.DeepEqual(ids, []int64{nameID, emailID}) {
		t.Errorf("columns.list: base columns %v, want %v (ordered by display.order)", ids, []int64{nameID, emailID})
	}
	if ids := uiColumnIDs(t, calc); !reflect.DeepEqual(ids, []int64{calcID}) {
		t.Errorf("columns.list: calculated columns %v, want [%d]", ids, calcID)
	}
	for _, want := range []map[string]any{emailCol, nameCol} {
		if got := uiFindByID(t, "columns.list", base, int64(want["id"].(float64))); !reflect.DeepEqual(got, want) {
			t.Errorf("columns.list: %v differs from the created column %v", got, want)
		}
	}
	if got := uiFindByID(t, "columns.list", calc, calcID); !reflect.DeepEqual(got, calcCol) {
		t.Errorf("columns.list: %v differs from the created column %v", got, calcCol)
	}

	for _, tc := range []struct {
		query      string
		base, calc []int64
	}{
		{fmt.Sprintf("?ids=%d&ids=%d", emailID, calcID), []int64{emailID}, []int64{calcID}},
		{fmt.Sprintf("?ids=%d", nameID), []int64{nameID}, []int64{}},
		{"?tags=panels%3Aworklist&tags=nothing", []int64{nameID}, []int64{}},
		{"?tags=panels%3Apatients", []int64{emailID}, []int64{calcID}},
		{"?tags=panels%3Apatients&tags=panels%3Aworklist", []int64{nameID, emailID}, []int64{calcID}},
		{fmt.Sprintf("?ids=%d&ids=%d&tags=panels%%3Apatients&tags=other", nameID, emailID), []int64{emailID}, []int64{}},
	} {
		resp, body = ui.json(http.MethodGet, pp+"/columns"+tc.query, nil)
		b, c := uiColumns(t, "columns.list"+tc.query, resp, body)
		if got := uiColumnIDs(t, b); !reflect.DeepEqual(got, tc.base) {
			t.Errorf("columns.list%s: base %v, want %v", tc.query, got, tc.base)
		}
		if got := uiColumnIDs(t, c); !reflect.DeepEqual(got, tc.calc) {
			t.Errorf("columns.list%s: calculated %v, want %v", tc.query, got, tc.calc)
		}
	}

	// ---- columns.update: ColumnInfo plus the column id as a string ----
	resp, body = ui.json(http.MethodPut, fmt.Sprintf("%s/columns/%d", pp, emailID), []byte(fmt.Sprintf(
		`{"name":"Patient Email","type":"text","sourceField":"telecom.where(system = 'email').value","properties":{"display":{"width":240}},"metadata":{"note":"primary"},"tags":["panels:patients","contact"],"id":"%d"}`, emailID)))
	uiWantStatus(t, "columns.update (base)", resp, body, http.StatusOK)
	emailCol = uiObject(t, "columns.update", body)
	uiWantFields(t, "columns.update (base)", emailCol, map[string]any{
		"id": emailID, "name": "Patient Email", "type": "text", "sourceField": "telecom.where(system = 'email').value",
		"tags": []string{"panels:patients", "contact"}, "metadata": map[string]any{"note": "primary"}, "columnType": "base",
		// properties merge like the original: display merges one level
		"properties":   map[string]any{"display": map[string]any{"visible": true, "order": 1, "width": 240}},
		"dataSourceId": dsID,
	})

	// The rename shows in the formula and dependencies of the calculated column that uses it.
	resp, body = ui.json(http.MethodGet, pp+"/columns", nil)
	_, calc = uiColumns(t, "columns.list after rename", resp, body)
	uiWantFields(t, "columns.list after rename", uiFindByID(t, "columns.list", calc, calcID), map[string]any{
		"formula": `CONCAT([Full Name], " (", [Patient Email], ")")`, "dependencies": []string{"Full Name", "Patient Email"},
	})

	resp, body = ui.json(http.MethodPut, fmt.Sprintf("%s/columns/%d", pp, calcID), []byte(fmt.Sprintf(
		`{"name":"Display Name","type":"text","formula":"CONCAT([Full Name], \" <\", [Patient Email], \">\")","dependencies":["Full Name","Patient Email"],"properties":{"display":{"order":3}},"metadata":{},"tags":[],"id":"%d"}`, calcID)))
	uiWantStatus(t, "columns.update (calculated)", resp, body, http.StatusOK)
	calcCol = uiObject(t, "columns.update", body)
	uiWantFields(t, "columns.update (calculated)", calcCol, map[string]any{
		"id": calcID, "name": "Display Name", "type": "text", "formula": `CONCAT([Full Name], " <", [Patient Email], ">")`,
		"dependencies": []string{"Full Name", "Patient Email"}, "tags": []string{}, "metadata": map[string]any{},
		"properties": map[string]any{"display": map[string]any{"visible": true, "order": 3}}, "columnType": "calculated",
	})

	// The UI may also send back the whole column it listed, read-only fields included.
	listedName := uiFindByID(t, "columns.list", uiListBase(t, ui, pp), nameID)
	listedName["name"] = "Patient Name"
	listedName["id"] = fmt.Sprint(nameID)
	echo, err := json.Marshal(listedName)
	if err != nil {
		t.Fatal(err)
	}
	resp, body = ui.json(http.MethodPut, fmt.Sprintf("%s/columns/%d", pp, nameID), echo)
	uiWantStatus(t, "columns.update (echoed column)", resp, body, http.StatusOK)
	uiWantFields(t, "columns.update (echoed column)", uiObject(t, "columns.update", body), map[string]any{
		"id": nameID, "name": "Patient Name", "columnType": "base", "sourceField": nameCol["sourceField"],
		"tags": nameCol["tags"], "metadata": nameCol["metadata"], "properties": nameCol["properties"],
	})

	resp, body = ui.json(http.MethodPut, fmt.Sprintf("%s/columns/%d", pp, nameID), []byte(fmt.Sprintf(`{"name":"x","id":"%d"}`, emailID)))
	uiWantProblem(t, "columns.update (another column's id)", resp, body, http.StatusBadRequest)

	// ---- dataSources.update / sync on the seed's paths ----
	resp, body = ui.json(http.MethodPut, fmt.Sprintf("/datasources/%d", dsID), []byte(fmt.Sprintf(
		`{"id":%d,"type":"api","config":{"endpoint":"/api/patients","method":"POST"}}`, dsID)))
	uiWantStatus(t, "dataSources.update", resp, body, http.StatusOK)
	ds = uiObject(t, "dataSources.update", body)
	uiWantFields(t, "dataSources.update", ds, map[string]any{
		"id": dsID, "type": "api", "config": map[string]any{"endpoint": "/api/patients", "method": "POST"}, "lastSync": nil,
	})

	// The UI's endpoint source cannot be fetched here (this service has no API_SOURCE_BASE_URL):
	// the sync answers 200 with syncStatus error and a message the UI can show, never a 5xx.
	resp, body = ui.json(http.MethodPost, fmt.Sprintf("/datasources/%d/sync", dsID), nil)
	uiWantStatus(t, "dataSources.sync", resp, body, http.StatusOK)
	uiWantFields(t, "dataSources.sync", uiObject(t, "dataSources.sync", body), map[string]any{
		"id": dsID, "type": "api", "config": map[string]any{"endpoint": "/api/patients", "method": "POST"}, "lastSync": nil,
		"syncStatus": "error", "recordsProcessed": 0,
	})

	// ---- dataSources.list ----
	resp, body = ui.json(http.MethodGet, pp+"/datasources", nil)
	uiWantStatus(t, "dataSources.list", resp, body, http.StatusOK)
	list := uiArray(t, "dataSources.list", body)
	if len(list) != 1 {
		t.Fatalf("dataSources.list: %d items, want 1: %s", len(list), body)
	}
	if got := uiFindByID(t, "dataSources.list", list, dsID); !reflect.DeepEqual(got, ds) {
		t.Errorf("dataSources.list: %v differs from the updated source %v", got, ds)
	}

	// ---- deletes: conflicts first (the UI shows `message`), then successes ----
	resp, body = ui.noBody(http.MethodDelete, fmt.Sprintf("/datasources/%d", dsID))
	if p := uiWantProblem(t, "dataSources.delete (used by columns)", resp, body, http.StatusConflict); p["dependents"] == nil {
		t.Errorf("dataSources.delete: 409 without dependents: %s", body)
	}
	resp, body = ui.noBody(http.MethodDelete, fmt.Sprintf("%s/columns/%d", pp, nameID))
	if p := uiWantProblem(t, "columns.delete (used by a formula)", resp, body, http.StatusConflict); p["dependents"] == nil {
		t.Errorf("columns.delete: 409 without dependents: %s", body)
	}

	resp, body = ui.json(http.MethodPost, pp+"/datasources", []byte(`{"type":"api","config":{"endpoint":"/api/patients","method":"GET"}}`))
	uiWantStatus(t, "dataSources.create (second)", resp, body, http.StatusCreated)
	ds2ID := uiID(t, "dataSources.create", uiObject(t, "dataSources.create", body))
	resp, body = ui.json(http.MethodPost, fmt.Sprintf("/datasources/%d/sync", ds2ID), nil)
	uiWantStatus(t, "dataSources.sync (second)", resp, body, http.StatusOK)
	resp, body = ui.noBody(http.MethodDelete, fmt.Sprintf("/datasources/%d", ds2ID))
	uiWantStatus(t, "dataSources.delete", resp, body, http.StatusNoContent)
	if len(body) != 0 {
		t.Errorf("dataSources.delete: 204 with a body: %q", body)
	}
	resp, body = ui.json(http.MethodPut, fmt.Sprintf("/datasources/%d", ds2ID), []byte(fmt.Sprintf(`{"id":%d,"type":"api","config":{"endpoint":"/x","method":"GET"}}`, ds2ID)))
	uiWantProblem(t, "dataSources.update (deleted)", resp, body, http.StatusNotFound)

	resp, body = ui.noBody(http.MethodDelete, fmt.Sprintf("%s/columns/%d", pp, calcID))
	uiWantStatus(t, "columns.delete (calculated)", resp, body, http.StatusNoContent)
	resp, body = ui.json(http.MethodDelete, fmt.Sprintf("%s/columns/%d", pp, nameID), nil) // JSON content type, empty body
	uiWantStatus(t, "columns.delete (base)", resp, body, http.StatusNoContent)
	resp, body = ui.json(http.MethodGet, pp+"/columns", nil)
	base, calc = uiColumns(t, "columns.list after deletes", resp, body)
	if got := uiColumnIDs(t, base); !reflect.DeepEqual(got, []int64{emailID}) || len(calc) != 0 {
		t.Errorf("columns.list after deletes: base %v calculated %v, want [%d] []", got, calc, emailID)
	}
	resp, body = ui.noBody(http.MethodDelete, fmt.Sprintf("%s/columns/%d", pp, nameID))
	if m := uiWantProblem(t, "columns.delete (again)", resp, body, http.StatusNotFound); m["message"] != "Column not found" {
		t.Errorf("columns.delete (again): message %v, want the original's \"Column not found\"", m["message"])
	}

	// ---- panelsAPI.delete: no body (and in a second panel, JSON content type with an empty body) ----
	resp, body = ui.json(http.MethodPost, "/panels", []byte(`{"name":"New Panel","description":"","metadata":{}}`))
	uiWantStatus(t, "panelsAPI.create (second)", resp, body, http.StatusCreated)
	second := uiID(t, "panelsAPI.create", uiObject(t, "panelsAPI.create", body))
	resp, body = ui.json(http.MethodGet, "/panels", nil)
	uiWantStatus(t, "panelsAPI.all (two)", resp, body, http.StatusOK)
	all = uiArray(t, "panelsAPI.all", body)
	if len(all) != 2 || all[0].(map[string]any)["id"] != float64(second) {
		t.Errorf("panelsAPI.all: want both panels, newest first: %s", body)
	}
	resp, body = ui.json(http.MethodDelete, fmt.Sprintf("/panels/%d", second), nil)
	uiWantStatus(t, "panelsAPI.delete (JSON content type)", resp, body, http.StatusNoContent)

	resp, body = ui.noBody(http.MethodDelete, pp)
	uiWantStatus(t, "panelsAPI.delete", resp, body, http.StatusNoContent)
	if len(body) != 0 {
		t.Errorf("panelsAPI.delete: 204 with a body: %q", body)
	}
	resp, body = ui.json(http.MethodGet, pp, nil)
	if m := uiWantProblem(t, "panelsAPI.get (deleted)", resp, body, http.StatusNotFound); m["message"] != "Panel not found" {
		t.Errorf("panelsAPI.get (deleted): message %v, want the original's \"Panel not found\"", m["message"])
	}
	resp, body = ui.json(http.MethodGet, pp+"/datasources", nil)
	uiWantProblem(t, "dataSources.list (deleted panel)", resp, body, http.StatusNotFound)
	resp, body = ui.json(http.MethodGet, pp+"/columns", nil)
	uiWantProblem(t, "columns.list (deleted panel)", resp, body, http.StatusNotFound)
	resp, body = ui.json(http.MethodGet, "/panels", nil)
	uiWantStatus(t, "panelsAPI.all (after deletes)", resp, body, http.StatusOK)
	if string(bytes.TrimSpace(body)) != "[]" {
		t.Errorf("panelsAPI.all after deletes: %s, want []", body)
	}
}

// TestWebUIStytchRoles: the UI's tokens carry the role in the Stytch session; a member without a
// builder role may not create panels, and an expired session (the UI caches them) is a 401 with message.
func TestWebUIStytchRoles(t *testing.T) {
	tenant := newTenant("webui-roles")
	member := uiClient{t: t, token: uiStytchToken(t, tenant, "member-plain", "plain@"+tenant+".example", "Panels User")}
	resp, body := member.json(http.MethodPost, "/panels", []byte(`{"name":"New Panel","description":"","metadata":{}}`))
	uiWantProblem(t, "panelsAPI.create (Panels User)", resp, body, http.StatusForbidden)
	resp, body = member.json(http.MethodGet, "/panels", nil)
	uiWantStatus(t, "panelsAPI.all (Panels User)", resp, body, http.StatusOK)
	if string(bytes.TrimSpace(body)) != "[]" {
		t.Errorf("panelsAPI.all (Panels User): %s, want []", body)
	}

	admin := uiClient{t: t, token: uiStytchToken(t, tenant, "member-admin", "admin@"+tenant+".example", "stytch_member", "Org Admin")}
	resp, body = admin.json(http.MethodPost, "/panels", []byte(`{"name":"New Panel","description":"","metadata":{}}`))
	uiWantStatus(t, "panelsAPI.create (Org Admin)", resp, body, http.StatusCreated)

	tok, err := jwt.NewBuilder().Subject("member-old").IssuedAt(time.Now().Add(-2*time.Hour)).
		Expiration(time.Now().Add(-time.Hour)).
		Claim("https://stytch.com/organization", map[string]any{"organization_id": "organization-x", "slug": tenant}).
		Claim("https://stytch.com/session", map[string]any{"roles": []string{"Panels Builder"}}).Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, []byte(testSecret)))
	if err != nil {
		t.Fatal(err)
	}
	expired := uiClient{t: t, token: string(signed)}
	resp, body = expired.json(http.MethodGet, "/panels", nil)
	uiWantProblem(t, "panelsAPI.all (expired session)", resp, body, http.StatusUnauthorized)
	if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Errorf("401 without a Bearer challenge: WWW-Authenticate %q", got)
	}
}

func uiListBase(t *testing.T, ui uiClient, pp string) []any {
	t.Helper()
	resp, body := ui.json(http.MethodGet, pp+"/columns", nil)
	base, _ := uiColumns(t, "columns.list", resp, body)
	return base
}
