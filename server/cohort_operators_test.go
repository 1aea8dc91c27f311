package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// The view filters' operators in cohort groups over HTTP: a panel is created and updated with
// them, reads back the rule as sent (a condition sent without a value reads back with value null),
// and its rows follow it. A new operator at the top level, a value that does not fit its operator,
// an unknown operator and a fourth level are refused with problem+json and change nothing.
func TestCohortGroupOperatorsHTTP(t *testing.T) {
	f := rwSetup(t)
	var got struct {
		ID         int64           `json:"id"`
		CohortRule json.RawMessage `json:"cohortRule"`
	}
	readRule := func(id int64) json.RawMessage {
		t.Helper()
		resp, b := flowDo(t, f.c, "GET", fmt.Sprintf("/api/panels/%d", id), nil, "")
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &got) != nil {
			t.Fatalf("get panel %d: %d %s", id, resp.StatusCode, b)
		}
		return got.CohortRule
	}

	// Create: Email is empty, or Name contains "ada" or "GRACE" (ignoring case).
	sent := `{"logic":"AND","conditions":[],"groups":[{"conjunction":"or","conditions":[` +
		`{"field":"Email","operator":"isEmpty"},{"field":"Name","operator":"containsAny","value":["ada","GRACE"]}]}]}`
	saved := strings.Replace(sent, `"operator":"isEmpty"}`, `"operator":"isEmpty","value":null}`, 1)
	resp, b := flowDo(t, f.c, "POST", "/api/panels", strings.NewReader(`{"name":"Cohort ops","cohortRule":`+sent+`}`), "application/json")
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &got) != nil || !sameJSON(got.CohortRule, saved) {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	if rule := readRule(got.ID); !sameJSON(rule, saved) {
		t.Errorf("created rule read back %s, want %s", rule, saved)
	}

	// Update the fixture's panel (which has the rows): Status = active AND (Email is empty OR Name
	// contains any of ada, GRACE), with a path condition (email) and a nested group.
	put := func(body string) (*http.Response, []byte) {
		return flowDo(t, f.c, "PUT", fmt.Sprintf("/api/panels/%d", f.panel.Id), strings.NewReader(body), "application/json")
	}
	if resp, b := put(`{"cohortRule":` + sent + `}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("update: %d %s", resp.StatusCode, b)
	}
	page, _ := f.page(t, "")
	if keys := rwKeys(page); !slices.Equal(keys, []string{"r1", "r3", "r4"}) {
		t.Errorf("rows %v, want r1, r3, r4", keys)
	}
	grouped := `{"logic":"AND","conditions":[{"field":"Status","operator":"eq","value":"active"}],"groups":[{"conjunction":"or",` +
		`"conditions":[{"field":"email","operator":"notContains","value":"EXAMPLE"}],` +
		`"groups":[{"conjunction":"and","conditions":[{"field":"Name","operator":"startsWith","value":"ADA"},{"field":"Age","operator":"between","value":[30,40]}]}]}]}`
	if resp, b := put(`{"cohortRule":` + grouped + `}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("update: %d %s", resp.StatusCode, b)
	}
	if rule := readRule(f.panel.Id); !sameJSON(rule, grouped) {
		t.Errorf("rule read back %s, want %s", rule, grouped)
	}
	page, _ = f.page(t, "")
	if keys := rwKeys(page); !slices.Equal(keys, []string{"r1", "r4"}) {
		t.Errorf("grouped rows %v, want r1, r4", keys)
	}

	group := func(conds string) string {
		return `{"cohortRule":{"logic":"AND","conditions":[],"groups":[{"conjunction":"and","conditions":[` + conds + `]}]}}`
	}
	for name, bad := range map[string]struct {
		body   string
		status int
		field  string
	}{
		"a new operator at the top level": {`{"cohortRule":{"logic":"AND","conditions":[{"field":"Email","operator":"isEmpty","value":null}]}}`,
			http.StatusBadRequest, "body.cohortRule.conditions.0.operator"},
		"isEmpty with a value":     {group(`{"field":"Email","operator":"isEmpty","value":"x"}`), http.StatusUnprocessableEntity, "cohortRule.groups[0].conditions[0].value"},
		"containsAny without list": {group(`{"field":"Name","operator":"containsAny","value":"ada"}`), http.StatusUnprocessableEntity, "cohortRule.groups[0].conditions[0].value"},
		"isWithin an exact date":   {group(`{"field":"Name","operator":"isWithin","value":"2026-01-01"}`), http.StatusUnprocessableEntity, "cohortRule.groups[0].conditions[0].value"},
		"before a non-date":        {group(`{"field":"email","operator":"before","value":"soon"}`), http.StatusUnprocessableEntity, "cohortRule.groups[0].conditions[0].value"},
		"between one value":        {group(`{"field":"Age","operator":"between","value":[1]}`), http.StatusUnprocessableEntity, "cohortRule.groups[0].conditions[0].value"},
		"an unknown operator":      {group(`{"field":"Age","operator":"like","value":"x"}`), http.StatusBadRequest, "operator"},
		"four levels": {`{"cohortRule":{"logic":"AND","conditions":[],"groups":[{"conjunction":"and","conditions":[],"groups":[{"conjunction":"or","conditions":[],` +
			`"groups":[{"conjunction":"and","conditions":[],"groups":[{"conjunction":"or","conditions":[{"field":"Email","operator":"isEmpty"}]}]}]}]}]}}`,
			http.StatusUnprocessableEntity, "cohortRule.groups[0].groups[0].groups[0].groups[0]"},
	} {
		for _, call := range []struct {
			method, path string
			body         string
		}{
			{"PUT", fmt.Sprintf("/api/panels/%d", f.panel.Id), bad.body},
			{"POST", "/api/panels", `{"name":"refused",` + strings.TrimPrefix(bad.body, "{")},
		} {
			resp, b := flowDo(t, f.c, call.method, call.path, strings.NewReader(call.body), "application/json")
			if resp.StatusCode != bad.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") ||
				!strings.Contains(string(b), bad.field) {
				t.Errorf("%s (%s): %d %s, want %d naming %s", name, call.method, resp.StatusCode, b, bad.status, bad.field)
			}
		}
	}
	if rule := readRule(f.panel.Id); !sameJSON(rule, grouped) {
		t.Errorf("refused rules changed the panel: %s", rule)
	}
	resp, b = flowDo(t, f.c, "GET", "/api/panels", nil, "")
	if resp.StatusCode != http.StatusOK || strings.Contains(string(b), `"refused"`) {
		t.Errorf("a refused rule created a panel: %d %s", resp.StatusCode, b)
	}
	page, _ = f.page(t, "")
	if keys := rwKeys(page); !slices.Equal(keys, []string{"r1", "r4"}) {
		t.Errorf("rows after refusals %v, want r1, r4", keys)
	}
}
