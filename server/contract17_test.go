package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestAnyJSONValueFieldsTakeEveryType: the "any JSON value" fields (a filter's and a cohort
// condition's `value`) are an anyOf of typed branches, so that ajv-based tools can compile them;
// kin-openapi must still let through every JSON type clients send, null included, and the value
// must come back as sent.
func TestAnyJSONValueFieldsTakeEveryType(t *testing.T) {
	f := newNegFixture(t, newTenant("anyval"))
	for _, v := range []string{`null`, `"x"`, `36`, `1.5`, `true`, `[1,"a",null]`, `{"k":[1,null]}`, `[[1,[null]],{"k":null}]`} {
		body := fmt.Sprintf(`{"filters":[{"columnName":"Email","operator":"eq","value":%s}]}`, v)
		resp, b := raw(t, "PUT", fmt.Sprintf("/api/views/%d/filters", f.view), f.owner, []byte(body), jsonCT)
		// eq takes a single value, so null and objects are the handler's 422, past the validator.
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("filter value %s: status %d %s", v, resp.StatusCode, b)
		} else if resp.StatusCode == http.StatusOK && !strings.Contains(string(b), `"value":`+v) {
			t.Errorf("filter value %s: answer %s", v, b)
		}
		body = fmt.Sprintf(`{"cohortRule":{"logic":"AND","conditions":[{"field":"age","operator":"eq","value":%s}]}}`, v)
		resp, b = raw(t, "PUT", f.panelPath, f.owner, []byte(body), jsonCT)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"value":`+v) {
			t.Errorf("cohort condition value %s: status %d %s", v, resp.StatusCode, b)
		}
	}
}

// TestOrganizationMembersAssertions: listOrganizationMembers declares the tenantId and userId
// assertions the gate checks on it, so a wrong one is the documented 403 and a malformed one a 400.
func TestOrganizationMembersAssertions(t *testing.T) {
	tenant := newTenant("orgassert")
	f := newNegFixture(t, tenant)
	for _, c := range []struct {
		query  string
		status int
	}{
		{"", http.StatusOK},
		{"?tenantId=" + tenant, http.StatusOK},
		{"?tenantId=someone-else", http.StatusForbidden},
		{"?userId=someone-else", http.StatusForbidden},
		{"?tenantId=" + strings.Repeat("x", 5000), http.StatusBadRequest},
	} {
		resp, b := raw(t, "GET", "/api/organization/members"+c.query, f.owner, nil, nil)
		if resp.StatusCode != c.status {
			t.Errorf("GET /api/organization/members%.40s: status %d, want %d: %s", c.query, resp.StatusCode, c.status, b)
		}
	}
}

// TestTwoToThe63IsAValidationMessage: 2^63 is one past int64, yet as a float64 it equals the
// spec's maximum (9223372036854775807 rounds up to it), so kin-openapi lets it through and Go's
// decoder is what refuses it; in a path or in a body it must still be the usual field error.
func TestTwoToThe63IsAValidationMessage(t *testing.T) {
	f := newNegFixture(t, newTenant("two63"))
	const big = "9223372036854775808"
	for _, c := range []struct{ method, path, body, field string }{
		{"GET", "/api/panels/" + big, "", "path.panelId"},
		{"GET", "/api/views/" + big + "/filters", "", "path.viewId"},
		{"GET", f.panelPath + "/rows?viewId=" + big, "", "query.viewId"},
		{"POST", "/api/views", `{"name":"V","panelId":` + big + `,"visibleColumns":[]}`, "body.panelId"},
		{"POST", f.panelPath + "/columns/base", `{"name":"C","type":"text","sourceField":"x","properties":{},"dataSourceId":` + big + `}`, "body.dataSourceId"},
		{"PUT", fmt.Sprintf("/api/views/%d/sorts", f.view), `{"sorts":[{"columnName":"Email","direction":"asc","order":` + big + `}]}`, "body.sorts.0.order"},
	} {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		resp, b := raw(t, c.method, c.path, f.owner, body, jsonCT)
		p := wantProblem(t, c.method+" "+c.path+" "+c.body, resp, b, http.StatusBadRequest)
		if !strings.HasPrefix(p.Detail, "invalid request: "+c.field+": ") {
			t.Errorf("%s %s %s: detail %q, want invalid request: %s: ...", c.method, c.path, c.body, p.Detail, c.field)
		}
		for _, leak := range []string{"Unmarshal", "Go struct", "strconv", "offset="} {
			if strings.Contains(p.Detail, leak) {
				t.Errorf("%s %s: detail leaks the decoder's text: %q", c.method, c.path, p.Detail)
			}
		}
	}
}
