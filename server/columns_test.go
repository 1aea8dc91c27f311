package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/oapi-codegen/nullable"

	client "github.com/panels/panels/clients/go"
	"github.com/panels/panels/server/auth"
)

func fxNullInt(v int64) nullable.Nullable[int64] { return nullable.NewNullableWithValue(v) }

// fxBase creates a text base column.
func fxBase(t testing.TB, c *caller, panelID, dsID int64, name, sourceField string, props map[string]any, tags ...string) client.Column {
	t.Helper()
	if props == nil {
		props = map[string]any{}
	}
	body := client.BaseColumnCreate{Name: name, Type: client.ColumnTypeText, SourceField: sourceField, DataSourceId: dsID, Properties: props}
	if tags != nil {
		body.Tags = &tags
	}
	r, err := c.api.CreateBaseColumnWithResponse(t.Context(), panelID, nil, body)
	if err != nil || r.StatusCode() != http.StatusCreated {
		t.Fatalf("create base column %q: %v %d %s", name, err, fxStatus(r.HTTPResponse), r.Body)
	}
	return *r.JSON201
}

// fxCalc creates a text calculated column.
func fxCalc(t testing.TB, c *caller, panelID int64, name, formula string, props map[string]any, tags ...string) client.Column {
	t.Helper()
	if props == nil {
		props = map[string]any{}
	}
	body := client.CalculatedColumnCreate{Name: name, Type: client.ColumnTypeText, Formula: formula, Properties: props}
	if tags != nil {
		body.Tags = &tags
	}
	r, err := c.api.CreateCalculatedColumnWithResponse(t.Context(), panelID, nil, body)
	if err != nil || r.StatusCode() != http.StatusCreated {
		t.Fatalf("create calculated column %q: %v %d %s", name, err, fxStatus(r.HTTPResponse), r.Body)
	}
	return *r.JSON201
}

func fxGetColumn(t testing.TB, c *caller, panelID, id int64) (int, *client.Column) {
	t.Helper()
	r, err := c.api.GetColumnWithResponse(t.Context(), panelID, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r.StatusCode(), r.JSON200
}

func fxColPath(panelID, id int64) string {
	return fmt.Sprintf("/api/panels/%d/columns/%d", panelID, id)
}

func fxColumnIDs(cols []client.Column) []int64 {
	out := make([]int64, len(cols))
	for i, c := range cols {
		out[i] = c.Id
	}
	return out
}

func fxOrder(n int) map[string]any { return map[string]any{"display": map[string]any{"order": n}} }

func TestColumnLifecycle(t *testing.T) {
	c := newCaller(t, newTenant("collife"), "alice", auth.RoleBuilder)
	ctx := t.Context()
	p := fxPanel(t, c, "Columns")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())

	fhir := "telecom.where(system='email').value"
	tags := []string{"contact", "pii"}
	cr, err := c.api.CreateBaseColumnWithResponse(ctx, p.Id, nil, client.BaseColumnCreate{Name: "Email Address", Type: client.ColumnTypeText,
		SourceField: fhir, DataSourceId: ds.Id, Properties: map[string]any{"required": true, "display": map[string]any{"visible": true, "order": 1}},
		Metadata: &client.Metadata{"origin": "ui"}, Tags: &tags})
	if err != nil || cr.StatusCode() != http.StatusCreated {
		t.Fatalf("create base: %v %d %s", err, cr.StatusCode(), cr.Body)
	}
	base := *cr.JSON201
	if base.ColumnType != client.ColumnColumnTypeBase || base.Name != "Email Address" || base.Type != client.ColumnTypeText || base.PanelId != p.Id ||
		base.SourceField == nil || *base.SourceField != fhir || base.Formula != nil || base.Dependencies != nil ||
		!reflect.DeepEqual(base.Tags, tags) || base.Metadata["origin"] != "ui" || base.Properties["required"] != true {
		t.Errorf("base column %s", cr.Body)
	}
	if v, err := base.DataSourceId.Get(); err != nil || v != ds.Id {
		t.Errorf("base dataSourceId %v", base.DataSourceId)
	}
	if loc := cr.HTTPResponse.Header.Get("Location"); loc != fxColPath(p.Id, base.Id) {
		t.Errorf("Location %q", loc)
	}
	if cr.HTTPResponse.Header.Get("ETag") == "" {
		t.Error("201 without ETag")
	}

	cc, err := c.api.CreateCalculatedColumnWithResponse(ctx, p.Id, nil, client.CalculatedColumnCreate{Name: "Shout", Type: client.ColumnTypeText,
		Formula: "UPPER([Email Address])", Properties: map[string]any{}})
	if err != nil || cc.StatusCode() != http.StatusCreated {
		t.Fatalf("create calculated: %v %d %s", err, cc.StatusCode(), cc.Body)
	}
	calc := *cc.JSON201
	if calc.ColumnType != client.ColumnColumnTypeCalculated || calc.Formula == nil || *calc.Formula != "UPPER([Email Address])" ||
		!slices.Equal(calc.Dependencies, []string{"Email Address"}) || calc.SourceField != nil || calc.DataSourceId.IsSpecified() ||
		calc.Tags == nil || len(calc.Tags) != 0 || calc.Metadata == nil || len(calc.Metadata) != 0 {
		t.Errorf("calculated column %s", cc.Body)
	}
	if strings.Contains(string(cc.Body), `"dataSourceId"`) || strings.Contains(string(cc.Body), `"sourceField"`) {
		t.Errorf("calculated column carries base fields: %s", cc.Body)
	}
	if strings.Contains(string(cc.Body), "null") {
		t.Errorf("calculated column has null objects: %s", cc.Body)
	}

	// One id space: ids never repeat across kinds and keep increasing.
	base2 := fxBase(t, c, p.Id, ds.Id, "MRN", "identifier[0].value", nil)
	if !(base.Id < calc.Id && calc.Id < base2.Id) {
		t.Errorf("ids base %d, calculated %d, base %d: not one id space", base.Id, calc.Id, base2.Id)
	}
	for _, col := range []client.Column{base, calc, base2} {
		st, got := fxGetColumn(t, c, p.Id, col.Id)
		if st != http.StatusOK || !reflect.DeepEqual(fxNormal(got), fxNormal(col)) {
			t.Errorf("GET %d: %d %+v, want %+v", col.Id, st, got, col)
		}
	}

	// Update both kinds.
	up, err := c.api.UpdateColumnWithResponse(ctx, p.Id, base.Id, nil, client.ColumnUpdate{Name: ptr("Email"), SourceField: ptr("email"), Type: ptr(client.ColumnTypeUser)})
	if err != nil || up.StatusCode() != http.StatusOK {
		t.Fatalf("update base: %v %d %s", err, up.StatusCode(), up.Body)
	}
	if up.JSON200.Name != "Email" || *up.JSON200.SourceField != "email" || up.JSON200.Type != client.ColumnTypeUser || up.HTTPResponse.Header.Get("ETag") == "" {
		t.Errorf("updated base %s", up.Body)
	}
	up, err = c.api.UpdateColumnWithResponse(ctx, p.Id, calc.Id, nil, client.ColumnUpdate{Formula: ptr(`LOWER([Email]) & "!"`)})
	if err != nil || up.StatusCode() != http.StatusOK || *up.JSON200.Formula != `LOWER([Email]) & "!"` || !slices.Equal(up.JSON200.Dependencies, []string{"Email"}) {
		t.Fatalf("update calculated: %v %d %s", err, up.StatusCode(), up.Body)
	}
	// Detach a base column explicitly.
	up, err = c.api.UpdateColumnWithResponse(ctx, p.Id, base2.Id, nil, client.ColumnUpdate{DataSourceId: nullable.NewNullNullable[int64]()})
	if err != nil || up.StatusCode() != http.StatusOK || !up.JSON200.DataSourceId.IsNull() {
		t.Fatalf("detach: %v %d %s", err, up.StatusCode(), up.Body)
	}

	// A column of one panel is not found under another.
	other := fxPanel(t, c, "Other")
	if st, _ := fxGetColumn(t, c, other.Id, base.Id); st != http.StatusNotFound {
		t.Errorf("GET through another panel: %d", st)
	}
	if r, _ := c.api.UpdateColumnWithResponse(ctx, other.Id, base.Id, nil, client.ColumnUpdate{Name: ptr("x")}); r.StatusCode() != http.StatusNotFound {
		t.Errorf("PUT through another panel: %d", r.StatusCode())
	}
	if r, _ := c.api.DeleteColumnWithResponse(ctx, other.Id, base.Id, nil); r.StatusCode() != http.StatusNotFound {
		t.Errorf("DELETE through another panel: %d", r.StatusCode())
	}

	// Delete: the calculated one first (the base one has it as a dependent).
	for _, id := range []int64{calc.Id, base.Id, base2.Id} {
		if r, err := c.api.DeleteColumnWithResponse(ctx, p.Id, id, nil); err != nil || r.StatusCode() != http.StatusNoContent {
			t.Fatalf("delete %d: %v %d %s", id, err, r.StatusCode(), r.Body)
		}
		if st, _ := fxGetColumn(t, c, p.Id, id); st != http.StatusNotFound {
			t.Errorf("GET after delete: %d", st)
		}
		if r, _ := c.api.DeleteColumnWithResponse(ctx, p.Id, id, nil); r.StatusCode() != http.StatusNotFound {
			t.Errorf("second delete: %d", r.StatusCode())
		}
	}
	l, _ := c.api.ListColumnsWithResponse(ctx, p.Id, nil)
	if l.StatusCode() != http.StatusOK || len(l.JSON200.BaseColumns) != 0 || len(l.JSON200.CalculatedColumns) != 0 {
		t.Errorf("list after deletes: %s", l.Body)
	}

	changes := fxChanges(t, c, p.Id)
	for ct, n := range map[client.ChangeType]int{client.ColumnAdded: 3, client.ColumnModified: 3, client.ColumnRemoved: 3} {
		if got := len(fxChangesOf(changes, ct)); got != n {
			t.Errorf("%s rows: %d, want %d", ct, got, n)
		}
	}
}

func TestColumnListOrderAndFilters(t *testing.T) {
	c := newCaller(t, newTenant("collist"), "alice", auth.RoleBuilder)
	p := fxPanel(t, c, "Ordering")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	a := fxBase(t, c, p.Id, ds.Id, "a", "a", fxOrder(3), "x")
	b := fxBase(t, c, p.Id, ds.Id, "b", "b", fxOrder(1), "y")
	cc := fxBase(t, c, p.Id, ds.Id, "c", "c", nil, "x", "y")
	d := fxBase(t, c, p.Id, ds.Id, "d", "d", fxOrder(1))
	e := fxBase(t, c, p.Id, ds.Id, "e", "e", map[string]any{"display": map[string]any{"order": 0, "visible": false}}, "z")
	f := fxCalc(t, c, p.Id, "f", "[a] & [b]", fxOrder(20), "x")
	g := fxCalc(t, c, p.Id, "g", "[c]", map[string]any{"required": true})
	h := fxCalc(t, c, p.Id, "h", "[d]", fxOrder(10), "y")
	// Another panel's columns never show up.
	q := fxPanel(t, c, "Elsewhere")
	qds := fxDataSource(t, c, q.Id, client.DataSourceTypeCustom, map[string]any{})
	fxBase(t, c, q.Id, qds.Id, "a", "a", fxOrder(0), "x")

	ids := func(cols ...client.Column) []int64 { return fxColumnIDs(cols) }
	for _, tc := range []struct {
		query      string
		base, calc []int64
	}{
		{"", ids(e, b, d, a, cc), ids(h, f, g)},
		{fmt.Sprintf("?ids=%d", b.Id), ids(b), ids()},
		{fmt.Sprintf("?ids=%d&ids=%d", a.Id, e.Id), ids(e, a), ids()},
		{fmt.Sprintf("?ids=%d&ids=%d&ids=%d", g.Id, cc.Id, f.Id), ids(cc), ids(f, g)},
		{"?ids=999999999", ids(), ids()},
		{"?tags=x", ids(a, cc), ids(f)},
		{"?tags=y", ids(b, cc), ids(h)},
		{"?tags=x&tags=y", ids(b, a, cc), ids(h, f)},
		{"?tags=x&tags=z", ids(e, a, cc), ids(f)},
		{"?tags=nope", ids(), ids()},
		{fmt.Sprintf("?tags=x&ids=%d&ids=%d", a.Id, b.Id), ids(a), ids()},
	} {
		t.Run(tc.query, func(t *testing.T) {
			resp, body := raw(t, http.MethodGet, fmt.Sprintf("/api/panels/%d/columns%s", p.Id, tc.query), c.token, nil, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			var list client.ColumnList
			if err := json.Unmarshal(body, &list); err != nil {
				t.Fatal(err)
			}
			if list.BaseColumns == nil || list.CalculatedColumns == nil {
				t.Errorf("null list in %s", body)
			}
			if got := fxColumnIDs(list.BaseColumns); !slices.Equal(got, tc.base) {
				t.Errorf("baseColumns %v, want %v", got, tc.base)
			}
			if got := fxColumnIDs(list.CalculatedColumns); !slices.Equal(got, tc.calc) {
				t.Errorf("calculatedColumns %v, want %v", got, tc.calc)
			}
			for _, col := range list.BaseColumns {
				if col.ColumnType != client.ColumnColumnTypeBase {
					t.Errorf("base list holds %s column %d", col.ColumnType, col.Id)
				}
			}
			for _, col := range list.CalculatedColumns {
				if col.ColumnType != client.ColumnColumnTypeCalculated {
					t.Errorf("calculated list holds %s column %d", col.ColumnType, col.Id)
				}
			}
		})
	}
	// The generated client sends repeated parameters the same way.
	r, err := c.api.ListColumnsWithResponse(t.Context(), p.Id, &client.ListColumnsParams{Tags: []string{"x", "y"}})
	if err != nil || r.StatusCode() != http.StatusOK || !slices.Equal(fxColumnIDs(r.JSON200.BaseColumns), ids(b, a, cc)) {
		t.Errorf("client tags filter: %v %s", err, r.Body)
	}
	// Moving a column in the display fxOrder moves it in the list.
	if r, _ := c.api.UpdateColumnWithResponse(t.Context(), p.Id, cc.Id, nil, client.ColumnUpdate{Properties: ptr(client.ColumnProperties(fxOrder(2)))}); r.StatusCode() != http.StatusOK {
		t.Fatalf("reorder: %d %s", r.StatusCode(), r.Body)
	}
	l, _ := c.api.ListColumnsWithResponse(t.Context(), p.Id, nil)
	if got := fxColumnIDs(l.JSON200.BaseColumns); !slices.Equal(got, ids(e, b, d, cc, a)) {
		t.Errorf("after reorder %v", got)
	}
	// Malformed filters are 400.
	for _, bad := range []string{"?ids=abc", "?ids=0", "?ids=1,2"} {
		resp, body := raw(t, http.MethodGet, fmt.Sprintf("/api/panels/%d/columns%s", p.Id, bad), c.token, nil, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, resp.StatusCode, body)
		}
	}
}

func TestColumnFormulaExamples(t *testing.T) {
	c := newCaller(t, newTenant("colformula"), "alice", auth.RoleBuilder)
	p := fxPanel(t, c, "Formulas")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	fxBase(t, c, p.Id, ds.Id, "Full Name", "full_name", nil)
	fxBase(t, c, p.Id, ds.Id, "Email Address", "email", nil)
	fxBase(t, c, p.Id, ds.Id, "Created Date", "created_at", nil)
	fxBase(t, c, p.Id, ds.Id, "Account Status", "status", nil)
	fxBase(t, c, p.Id, ds.Id, "First", "first_name", nil)
	fxBase(t, c, p.Id, ds.Id, "Last", "last_name", nil)
	fxBase(t, c, p.Id, ds.Id, "Age", "age", nil)

	for i, tc := range []struct {
		formula  string
		deps     []string // sent; nil: not sent
		rendered string
		want     []string
	}{
		{`CONCAT([Full Name], " (", [Email Address], ")")`, nil, `CONCAT([Full Name], " (", [Email Address], ")")`, []string{"Full Name", "Email Address"}},
		{`DATEDIFF(NOW(), [Created Date])`, nil, `DATEDIFF(NOW(), [Created Date])`, []string{"Created Date"}},
		{`IF([Account Status] = "active", "Active", IF([Account Status] = "pending", "Pending", "Inactive"))`, nil,
			`IF([Account Status] = "active", "Active", IF([Account Status] = "pending", "Pending", "Inactive"))`, []string{"Account Status"}},
		{`CONCAT(first_name, ' ', last_name)`, nil, `CONCAT([First], " ", [Last])`, []string{"First", "Last"}},
		{`CONCAT(first_name, ' ', last_name)`, []string{"first_name", "last_name"}, `CONCAT([First], " ", [Last])`, []string{"First", "Last"}},
		{`CONCAT([Full Name], [Email Address])`, []string{"Email Address", "full_name"}, `CONCAT([Full Name], [Email Address])`, []string{"Full Name", "Email Address"}},
		{"IF(\n  [Age] >= 65,\n  'senior',\n  'adult'\n)", nil, `IF([Age] >= 65, "senior", "adult")`, []string{"Age"}},
		{`upper([full name]) & "!"`, nil, `UPPER([Full Name]) & "!"`, []string{"Full Name"}},
		{`ROUND(DATEDIFF(TODAY(), [Created Date]) / 365.25, 1)`, nil, `ROUND(DATEDIFF(TODAY(), [Created Date]) / 365.25, 1)`, []string{"Created Date"}},
		{`COALESCE([Email Address], "none")`, nil, `COALESCE([Email Address], "none")`, []string{"Email Address"}},
		{`AND(TRUE, NOT(FALSE))`, nil, `AND(TRUE, NOT(FALSE))`, []string{}},
	} {
		name := fmt.Sprintf("calc %d", i)
		r, err := c.api.CreateCalculatedColumnWithResponse(t.Context(), p.Id, nil, client.CalculatedColumnCreate{Name: name, Type: client.ColumnTypeText,
			Formula: tc.formula, Dependencies: tc.deps, Properties: map[string]any{}})
		if err != nil || r.StatusCode() != http.StatusCreated {
			t.Errorf("%s: %v %d %s", tc.formula, err, r.StatusCode(), r.Body)
			continue
		}
		if *r.JSON201.Formula != tc.rendered {
			t.Errorf("%s: rendered %q, want %q", tc.formula, *r.JSON201.Formula, tc.rendered)
		}
		// An empty list is omitted by the generated types (omitempty), so nil and [] both mean none.
		if !slices.Equal(r.JSON201.Dependencies, tc.want) {
			t.Errorf("%s: dependencies %v, want %v", tc.formula, r.JSON201.Dependencies, tc.want)
		}
	}
}

// fxAssertUnprocessable expects a 422 whose errors[] all name field and whose reasons mention every culprit.
func fxAssertUnprocessable(t testing.TB, what string, status int, body []byte, field string, culprits ...string) {
	t.Helper()
	if status != http.StatusUnprocessableEntity {
		t.Errorf("%s: %d, want 422: %s", what, status, body)
		return
	}
	prob := fxProblem(t, body)
	if len(prob.Errors) == 0 {
		t.Errorf("%s: 422 without errors[]: %s", what, body)
		return
	}
	var reasons []string
	for _, e := range prob.Errors {
		if strings.TrimPrefix(e.Field, "body.") != field {
			t.Errorf("%s: errors[].field %q, want %q", what, e.Field, field)
		}
		reasons = append(reasons, e.Reason)
	}
	all := strings.Join(reasons, " | ")
	for _, c := range culprits {
		if !strings.Contains(all, c) {
			t.Errorf("%s: errors %q do not mention %q", what, all, c)
		}
	}
}

func TestColumnFormulaErrors(t *testing.T) {
	c := newCaller(t, newTenant("colferr"), "alice", auth.RoleBuilder)
	ctx := t.Context()
	p := fxPanel(t, c, "Formula errors")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	fxBase(t, c, p.Id, ds.Id, "Full Name", "full_name", nil)
	fxBase(t, c, p.Id, ds.Id, "Dup", "dup_a", nil)
	fxBase(t, c, p.Id, ds.Id, "Dup", "dup_b", nil)
	fxBase(t, c, p.Id, ds.Id, "Phone", "shared_field", nil)
	fxBase(t, c, p.Id, ds.Id, "Mobile", "shared_field", nil)
	existing := fxCalc(t, c, p.Id, "Existing", `UPPER([Full Name])`, nil)

	cases := []struct {
		name     string
		formula  string
		culprits []string
	}{
		{"unknown bracketed", `CONCAT([Nope], [Full Name])`, []string{"Nope", "unknown column"}},
		{"unknown bare", `nope_field + 1`, []string{"nope_field", "unknown column"}},
		{"unknown id", `{999999999} & "x"`, []string{"999999999", "unknown column"}},
		{"ambiguous name", `UPPER([Dup])`, []string{"Dup", "ambiguous"}},
		{"ambiguous source field", `shared_field & "x"`, []string{"shared_field", "ambiguous"}},
		{"arity too many", `LEN("a", "b")`, []string{"LEN", "expects 1 argument, got 2"}},
		{"arity too few", `DATEDIFF(NOW())`, []string{"DATEDIFF", "got 1"}},
		{"arity none", `NOW(1)`, []string{"NOW", "got 1"}},
		{"unknown function", `FOO([Full Name])`, []string{"FOO", "unknown function"}},
		{"syntax unclosed call", `CONCAT([Full Name]`, []string{"line 1"}},
		{"syntax dangling operator", `1 +`, []string{"line 1"}},
		{"syntax unterminated string", `"abc`, []string{"line 1"}},
		{"syntax chained comparison", `1 = 2 = 3`, []string{"line 1"}},
		{"syntax multi-line", "IF(\n  [Full Name] = ,\n  1, 2)", []string{"line 2"}},
		{"several problems", `FOO([Nope]) & LEN()`, []string{"FOO", "unknown function", "Nope", "unknown column", "LEN"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.api.CreateCalculatedColumnWithResponse(ctx, p.Id, nil, client.CalculatedColumnCreate{Name: tc.name, Type: client.ColumnTypeText,
				Formula: tc.formula, Properties: map[string]any{}})
			if err != nil {
				t.Fatal(err)
			}
			fxAssertUnprocessable(t, "create "+tc.formula, r.StatusCode(), r.Body, "formula", tc.culprits...)
			u, err := c.api.UpdateColumnWithResponse(ctx, p.Id, existing.Id, nil, client.ColumnUpdate{Formula: &tc.formula})
			if err != nil {
				t.Fatal(err)
			}
			fxAssertUnprocessable(t, "update "+tc.formula, u.StatusCode(), u.Body, "formula", tc.culprits...)
		})
	}
	// Nothing was created or changed.
	l, _ := c.api.ListColumnsWithResponse(ctx, p.Id, nil)
	if len(l.JSON200.CalculatedColumns) != 1 || *l.JSON200.CalculatedColumns[0].Formula != `UPPER([Full Name])` {
		t.Errorf("calculated columns after refused requests: %s", l.Body)
	}
	if n := len(fxChangesOf(fxChanges(t, c, p.Id), client.ColumnModified)); n != 0 {
		t.Errorf("refused updates recorded %d column_modified rows", n)
	}
	// An ambiguous name is fine when the column is referenced by id.
	var dupID int64
	for _, col := range l.JSON200.BaseColumns {
		if col.Name == "Dup" {
			dupID = col.Id
			break
		}
	}
	r, _ := c.api.CreateCalculatedColumnWithResponse(ctx, p.Id, nil, client.CalculatedColumnCreate{Name: "By id", Type: client.ColumnTypeText,
		Formula: fmt.Sprintf("UPPER({%d})", dupID), Properties: map[string]any{}})
	if r.StatusCode() != http.StatusCreated {
		t.Fatalf("reference by id: %d %s", r.StatusCode(), r.Body)
	}
	// Its name is shared, so it renders as the id, which resolves back to the same column.
	if *r.JSON201.Formula != fmt.Sprintf("UPPER({%d})", dupID) || !slices.Equal(r.JSON201.Dependencies, []string{"Dup"}) {
		t.Errorf("formula %q deps %v", *r.JSON201.Formula, r.JSON201.Dependencies)
	}
}

func TestColumnCycles(t *testing.T) {
	c := newCaller(t, newTenant("colcycle"), "alice", auth.RoleBuilder)
	ctx := t.Context()
	p := fxPanel(t, c, "Cycles")
	b := fxCalc(t, c, p.Id, "B", `"b"`, nil)
	a := fxCalc(t, c, p.Id, "A", `[B] & "a"`, nil)
	cc := fxCalc(t, c, p.Id, "C", `[A] & "c"`, nil)

	for _, tc := range []struct {
		id       int64
		formula  string
		culprits []string
	}{
		{b.Id, `[A] & "b"`, []string{"[A]", "cycle", "B -> A -> B"}},
		{b.Id, `[C]`, []string{"[C]", "cycle", "B -> C -> A -> B"}},
		{a.Id, `[A] & "x"`, []string{"[A]", "refers to itself"}},
		{a.Id, fmt.Sprintf(`{%d}`, a.Id), []string{"refers to itself"}},
		{a.Id, `[C]`, []string{"cycle", "A -> C -> A"}},
	} {
		r, err := c.api.UpdateColumnWithResponse(ctx, p.Id, tc.id, nil, client.ColumnUpdate{Formula: ptr(tc.formula)})
		if err != nil {
			t.Fatal(err)
		}
		fxAssertUnprocessable(t, tc.formula, r.StatusCode(), r.Body, "formula", tc.culprits...)
	}
	for id, want := range map[int64]string{b.Id: `"b"`, a.Id: `[B] & "a"`, cc.Id: `[A] & "c"`} {
		if _, got := fxGetColumn(t, c, p.Id, id); *got.Formula != want {
			t.Errorf("column %d formula %q after refused cycles, want %q", id, *got.Formula, want)
		}
	}
	// Breaking the chain first makes the former cycle legal.
	if r, _ := c.api.UpdateColumnWithResponse(ctx, p.Id, a.Id, nil, client.ColumnUpdate{Formula: ptr(`"a"`)}); r.StatusCode() != http.StatusOK {
		t.Fatalf("unlink A: %d %s", r.StatusCode(), r.Body)
	}
	if r, _ := c.api.UpdateColumnWithResponse(ctx, p.Id, b.Id, nil, client.ColumnUpdate{Formula: ptr(`[A] & "b"`)}); r.StatusCode() != http.StatusOK || !slices.Equal(r.JSON200.Dependencies, []string{"A"}) {
		t.Errorf("B depends on A: %d %s", r.StatusCode(), r.Body)
	}
}

func TestColumnRenameRerendersDependents(t *testing.T) {
	c := newCaller(t, newTenant("colrename"), "alice", auth.RoleBuilder)
	ctx := t.Context()
	p := fxPanel(t, c, "Rename")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	full := fxBase(t, c, p.Id, ds.Id, "Full Name", "full_name", nil)
	x := fxCalc(t, c, p.Id, "Loud", `CONCAT(UPPER([Full Name]), "!")`, nil)
	y := fxCalc(t, c, p.Id, "Quiz", `[Loud] & "?" & [Full Name]`, nil)

	if r, _ := c.api.UpdateColumnWithResponse(ctx, p.Id, full.Id, nil, client.ColumnUpdate{Name: ptr("Patient Name")}); r.StatusCode() != http.StatusOK {
		t.Fatalf("rename: %d %s", r.StatusCode(), r.Body)
	}
	check := func(id int64, formula string, deps []string) {
		t.Helper()
		st, got := fxGetColumn(t, c, p.Id, id)
		if st != http.StatusOK || *got.Formula != formula || !slices.Equal(got.Dependencies, deps) {
			t.Errorf("column %d: formula %q deps %v, want %q %v", id, *got.Formula, got.Dependencies, formula, deps)
		}
	}
	check(x.Id, `CONCAT(UPPER([Patient Name]), "!")`, []string{"Patient Name"})
	check(y.Id, `[Loud] & "?" & [Patient Name]`, []string{"Loud", "Patient Name"})

	if r, _ := c.api.UpdateColumnWithResponse(ctx, p.Id, x.Id, nil, client.ColumnUpdate{Name: ptr("Shout [v2]")}); r.StatusCode() != http.StatusOK {
		t.Fatalf("rename calculated: %d %s", r.StatusCode(), r.Body)
	}
	// A name with "]" cannot be written in brackets, so the reference renders by id.
	check(y.Id, fmt.Sprintf(`{%d} & "?" & [Patient Name]`, x.Id), []string{"Shout [v2]", "Patient Name"})
	if r, _ := c.api.UpdateColumnWithResponse(ctx, p.Id, x.Id, nil, client.ColumnUpdate{Name: ptr("Shout")}); r.StatusCode() != http.StatusOK {
		t.Fatalf("rename calculated: %d %s", r.StatusCode(), r.Body)
	}
	check(y.Id, `[Shout] & "?" & [Patient Name]`, []string{"Shout", "Patient Name"})

	// The list renders the same way.
	l, _ := c.api.ListColumnsWithResponse(ctx, p.Id, nil)
	for _, col := range l.JSON200.CalculatedColumns {
		if col.Id == y.Id && *col.Formula != `[Shout] & "?" & [Patient Name]` {
			t.Errorf("list renders %q", *col.Formula)
		}
	}
	// The old name no longer resolves; the new one does.
	r, _ := c.api.CreateCalculatedColumnWithResponse(ctx, p.Id, nil, client.CalculatedColumnCreate{Name: "Old", Type: client.ColumnTypeText, Formula: `[Full Name]`, Properties: map[string]any{}})
	fxAssertUnprocessable(t, "old name", r.StatusCode(), r.Body, "formula", "Full Name", "unknown column")
	// A formula edit of the dependent keeps working with the new names, and dependencies by new name match.
	u, _ := c.api.UpdateColumnWithResponse(ctx, p.Id, y.Id, nil, client.ColumnUpdate{Formula: ptr(`[Shout] & [Patient Name]`), Dependencies: []string{"Patient Name", "Shout"}})
	if u.StatusCode() != http.StatusOK || *u.JSON200.Formula != `[Shout] & [Patient Name]` {
		t.Errorf("edit after rename: %d %s", u.StatusCode(), u.Body)
	}
	// The rename is in the history with old and new names.
	mod := fxChangesOf(fxChanges(t, c, p.Id), client.ColumnModified)
	found := false
	for _, ch := range mod {
		if ch.EntityId == full.Id {
			found = true
			if fxValues(ch.OldValues)["name"] != "Full Name" || fxValues(ch.NewValues)["name"] != "Patient Name" {
				t.Errorf("rename change %v -> %v", fxValues(ch.OldValues), fxValues(ch.NewValues))
			}
			if ac, _ := ch.AffectedColumn.Get(); ac != "Patient Name" {
				t.Errorf("rename affectedColumn %q", ac)
			}
		}
	}
	if !found {
		t.Error("rename not recorded")
	}
}

func TestColumnDependencies(t *testing.T) {
	c := newCaller(t, newTenant("coldeps"), "alice", auth.RoleBuilder)
	ctx := t.Context()
	p := fxPanel(t, c, "Dependencies")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	fxBase(t, c, p.Id, ds.Id, "Full Name", "full_name", nil)
	fxBase(t, c, p.Id, ds.Id, "Email Address", "email", nil)
	fxBase(t, c, p.Id, ds.Id, "Account Status", "status", nil)
	const formula = `CONCAT([Full Name], " <", [Email Address], ">")`

	for _, tc := range []struct {
		deps     []string
		culprits []string
	}{
		{[]string{"Full Name"}, []string{"Email Address", "missing from dependencies"}},
		{[]string{"Full Name", "Email Address", "Account Status"}, []string{"Account Status", "not referenced"}},
		{[]string{"Full Name", "Email Address", "Nope"}, []string{"Nope", "unknown column"}},
		{[]string{}, []string{"Full Name", "Email Address", "missing"}},
	} {
		// Raw, so that an empty list is sent as [] rather than omitted.
		resp, body := fxJSON(t, http.MethodPost, fmt.Sprintf("/api/panels/%d/columns/calculated", p.Id), c.token,
			map[string]any{"name": "X", "type": "text", "formula": formula, "dependencies": tc.deps, "properties": map[string]any{}}, nil)
		fxAssertUnprocessable(t, fmt.Sprintf("dependencies %v", tc.deps), resp.StatusCode, body, "dependencies", tc.culprits...)
	}
	// Matching lists, by name, source field, in any fxOrder and with repeats, are accepted.
	for _, deps := range [][]string{{"Full Name", "Email Address"}, {"email", "full_name"}, {"Email Address", "Full Name", "Full Name"}} {
		r, _ := c.api.CreateCalculatedColumnWithResponse(ctx, p.Id, nil, client.CalculatedColumnCreate{Name: "Y", Type: client.ColumnTypeText, Formula: formula, Dependencies: deps, Properties: map[string]any{}})
		if r.StatusCode() != http.StatusCreated || !slices.Equal(r.JSON201.Dependencies, []string{"Full Name", "Email Address"}) {
			t.Errorf("dependencies %v: %d %s", deps, r.StatusCode(), r.Body)
		}
	}
	calc := fxCalc(t, c, p.Id, "Z", formula, nil)
	// On update, dependencies alone are checked against the stored formula, and with a new formula against it.
	u, _ := c.api.UpdateColumnWithResponse(ctx, p.Id, calc.Id, nil, client.ColumnUpdate{Dependencies: []string{"Account Status"}})
	fxAssertUnprocessable(t, "update dependencies", u.StatusCode(), u.Body, "dependencies", "Account Status", "Full Name", "Email Address")
	u, _ = c.api.UpdateColumnWithResponse(ctx, p.Id, calc.Id, nil, client.ColumnUpdate{Dependencies: []string{"Email Address", "Full Name"}})
	if u.StatusCode() != http.StatusOK {
		t.Errorf("update matching dependencies: %d %s", u.StatusCode(), u.Body)
	}
	u, _ = c.api.UpdateColumnWithResponse(ctx, p.Id, calc.Id, nil, client.ColumnUpdate{Formula: ptr(`[Account Status]`), Dependencies: []string{"Full Name"}})
	fxAssertUnprocessable(t, "update formula+dependencies", u.StatusCode(), u.Body, "dependencies", "Full Name", "Account Status")
	u, _ = c.api.UpdateColumnWithResponse(ctx, p.Id, calc.Id, nil, client.ColumnUpdate{Formula: ptr(`[Account Status]`), Dependencies: []string{"status"}})
	if u.StatusCode() != http.StatusOK || !slices.Equal(u.JSON200.Dependencies, []string{"Account Status"}) {
		t.Errorf("update formula with matching dependencies: %d %s", u.StatusCode(), u.Body)
	}
}

func TestColumnKindRules(t *testing.T) {
	tenant := newTenant("colkind")
	c := newCaller(t, tenant, "alice", auth.RoleBuilder)
	ctx := t.Context()
	p := fxPanel(t, c, "Kinds")
	q := fxPanel(t, c, "Another")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	foreign := fxDataSource(t, c, q.Id, client.DataSourceTypeApi, fxUISource())
	eve := newCaller(t, newTenant("colkind-other"), "eve", auth.RoleAdmin)
	ep := fxPanel(t, eve, "Eve's")
	eds := fxDataSource(t, eve, ep.Id, client.DataSourceTypeCustom, map[string]any{})

	// A base column needs a data source of its own panel: 422 otherwise.
	for _, dsID := range []int64{foreign.Id, eds.Id, 999999999} {
		r, _ := c.api.CreateBaseColumnWithResponse(ctx, p.Id, nil, client.BaseColumnCreate{Name: "Bad", Type: client.ColumnTypeText, SourceField: "x", DataSourceId: dsID, Properties: map[string]any{}})
		fxAssertUnprocessable(t, fmt.Sprintf("create with data source %d", dsID), r.StatusCode(), r.Body, "dataSourceId", strconv.FormatInt(dsID, 10))
	}
	base := fxBase(t, c, p.Id, ds.Id, "Base", "base_field", nil)
	calc := fxCalc(t, c, p.Id, "Calc", `[Base] & "!"`, nil)
	for _, dsID := range []int64{foreign.Id, eds.Id} {
		r, _ := c.api.UpdateColumnWithResponse(ctx, p.Id, base.Id, nil, client.ColumnUpdate{DataSourceId: fxNullInt(dsID)})
		fxAssertUnprocessable(t, fmt.Sprintf("update to data source %d", dsID), r.StatusCode(), r.Body, "dataSourceId", strconv.FormatInt(dsID, 10))
	}
	for _, tc := range []struct {
		id    int64
		body  client.ColumnUpdate
		field string
	}{
		{calc.Id, client.ColumnUpdate{SourceField: ptr("x")}, "sourceField"},
		{calc.Id, client.ColumnUpdate{DataSourceId: fxNullInt(ds.Id)}, "sourceField"},
		{calc.Id, client.ColumnUpdate{DataSourceId: nullable.NewNullNullable[int64]()}, "sourceField"},
		{base.Id, client.ColumnUpdate{Formula: ptr(`"x"`)}, "formula"},
		{base.Id, client.ColumnUpdate{Dependencies: []string{"Calc"}}, "formula"},
	} {
		r, _ := c.api.UpdateColumnWithResponse(ctx, p.Id, tc.id, nil, tc.body)
		if r.StatusCode() != http.StatusUnprocessableEntity {
			t.Errorf("%+v on column %d: %d, want 422: %s", tc.body, tc.id, r.StatusCode(), r.Body)
			continue
		}
		if f := fxFields(fxProblem(t, r.Body)); len(f) != 1 || strings.TrimPrefix(f[0], "body.") != tc.field {
			t.Errorf("%+v: fields %v, want %s", tc.body, f, tc.field)
		}
	}
	for id, want := range map[int64]client.Column{base.Id: base, calc.Id: calc} {
		if _, got := fxGetColumn(t, c, p.Id, id); !reflect.DeepEqual(fxNormal(got), fxNormal(want)) {
			t.Errorf("column %d changed by refused updates: %+v", id, got)
		}
	}
	// Missing required fields are 400.
	resp, body := fxJSON(t, http.MethodPost, fmt.Sprintf("/api/panels/%d/columns/base", p.Id), c.token, map[string]any{"name": "x"}, nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("base without fields: %d %s", resp.StatusCode, body)
	} else {
		fields := fxFields(fxProblem(t, body))
		for _, f := range []string{"body.type", "body.sourceField", "body.dataSourceId", "body.properties"} {
			if !slices.Contains(fields, f) {
				t.Errorf("missing-field 400 does not name %s: %v", f, fields)
			}
		}
	}
}

func TestColumnPropertiesMergeMetadataReplace(t *testing.T) {
	c := newCaller(t, newTenant("colprops"), "alice", auth.RoleBuilder)
	ctx := t.Context()
	p := fxPanel(t, c, "Props")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	r, _ := c.api.CreateBaseColumnWithResponse(ctx, p.Id, nil, client.BaseColumnCreate{Name: "Col", Type: client.ColumnTypeText, SourceField: "f", DataSourceId: ds.Id,
		Properties: map[string]any{"required": true, "validation": map[string]any{"min": 1, "max": 5}, "display": map[string]any{"visible": true, "order": 1, "width": 120}},
		Metadata:   &client.Metadata{"a": 1, "b": map[string]any{"c": 2}}})
	if r.StatusCode() != http.StatusCreated {
		t.Fatalf("create: %d %s", r.StatusCode(), r.Body)
	}
	col := r.JSON201

	u, _ := c.api.UpdateColumnWithResponse(ctx, p.Id, col.Id, nil, client.ColumnUpdate{
		Properties: ptr(client.ColumnProperties{"unique": true, "validation": map[string]any{"pattern": "^a"}, "display": map[string]any{"order": 5, "format": "upper"}}),
		Metadata:   &client.Metadata{"z": true}})
	if u.StatusCode() != http.StatusOK {
		t.Fatalf("update: %d %s", u.StatusCode(), u.Body)
	}
	wantProps := map[string]any{"required": true, "unique": true, "validation": map[string]any{"pattern": "^a"},
		"display": map[string]any{"visible": true, "order": 5, "width": 120, "format": "upper"}}
	if !reflect.DeepEqual(fxNormal(u.JSON200.Properties), fxNormal(wantProps)) {
		t.Errorf("properties %v, want %v", u.JSON200.Properties, wantProps)
	}
	if !reflect.DeepEqual(fxNormal(u.JSON200.Metadata), fxNormal(map[string]any{"z": true})) {
		t.Errorf("metadata %v, want replaced by {z: true}", u.JSON200.Metadata)
	}
	_, got := fxGetColumn(t, c, p.Id, col.Id)
	if !reflect.DeepEqual(fxNormal(got.Properties), fxNormal(wantProps)) || !reflect.DeepEqual(fxNormal(got.Metadata), fxNormal(map[string]any{"z": true})) {
		t.Errorf("stored %v %v", got.Properties, got.Metadata)
	}
	// Properties absent: unchanged; metadata {}: emptied; tags replaced.
	u, _ = c.api.UpdateColumnWithResponse(ctx, p.Id, col.Id, nil, client.ColumnUpdate{Metadata: &client.Metadata{}, Tags: &[]string{"t1"}})
	if u.StatusCode() != http.StatusOK || len(u.JSON200.Metadata) != 0 || !reflect.DeepEqual(fxNormal(u.JSON200.Properties), fxNormal(wantProps)) || !slices.Equal(u.JSON200.Tags, []string{"t1"}) {
		t.Errorf("second update: %d %s", u.StatusCode(), u.Body)
	}
	mod := fxChangesOf(fxChanges(t, c, p.Id), client.ColumnModified)
	if len(mod) != 2 {
		t.Fatalf("column_modified rows %d, want 2", len(mod))
	}
	if nv := fxValues(mod[1].NewValues); !reflect.DeepEqual(fxNormal(nv["properties"]), fxNormal(wantProps)) || !reflect.DeepEqual(fxNormal(nv["metadata"]), fxNormal(map[string]any{"z": true})) {
		t.Errorf("first column_modified newValues %v", nv)
	}
	// An update that changes nothing records nothing.
	u, _ = c.api.UpdateColumnWithResponse(ctx, p.Id, col.Id, nil, client.ColumnUpdate{Name: ptr("Col"), Properties: ptr(client.ColumnProperties{"display": map[string]any{"order": 5}})})
	if u.StatusCode() != http.StatusOK {
		t.Errorf("no-op update: %d %s", u.StatusCode(), u.Body)
	}
	if n := len(fxChangesOf(fxChanges(t, c, p.Id), client.ColumnModified)); n != 2 {
		t.Errorf("no-op update recorded a change (%d rows)", n)
	}
}

func TestColumnDeleteWithDependents(t *testing.T) {
	c := newCaller(t, newTenant("coldel"), "alice", auth.RoleBuilder)
	ctx := t.Context()
	p := fxPanel(t, c, "Delete")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	x := fxBase(t, c, p.Id, ds.Id, "X", "x", nil)
	u := fxBase(t, c, p.Id, ds.Id, "U", "u", nil)
	y := fxCalc(t, c, p.Id, "Y", `[X] & "y"`, nil)
	w := fxCalc(t, c, p.Id, "W", `[X] & [Y]`, nil)
	z := fxCalc(t, c, p.Id, "Z", `[Y] & [U]`, nil)
	v := fxCalc(t, c, p.Id, "V", `[U]`, nil)

	deps := func(body []byte) []int64 {
		var out []int64
		for _, d := range fxProblem(t, body).Dependents {
			if d.Kind != client.DependentKindColumn {
				t.Errorf("dependent kind %q", d.Kind)
			}
			out = append(out, d.Id)
		}
		slices.Sort(out)
		return out
	}
	r, _ := c.api.DeleteColumnWithResponse(ctx, p.Id, x.Id, nil)
	if r.StatusCode() != http.StatusConflict {
		t.Fatalf("delete X: %d, want 409: %s", r.StatusCode(), r.Body)
	}
	if got, want := deps(r.Body), []int64{y.Id, w.Id, z.Id}; !slices.Equal(got, want) {
		t.Errorf("X dependents %v, want %v (transitive)", got, want)
	}
	for _, d := range fxProblem(t, r.Body).Dependents {
		if names := map[int64]string{y.Id: "Y", w.Id: "W", z.Id: "Z"}; d.Name != names[d.Id] {
			t.Errorf("dependent %d named %q", d.Id, d.Name)
		}
	}
	r, _ = c.api.DeleteColumnWithResponse(ctx, p.Id, y.Id, &client.DeleteColumnParams{Force: ptr(false)})
	if r.StatusCode() != http.StatusConflict || !slices.Equal(deps(r.Body), []int64{w.Id, z.Id}) {
		t.Errorf("delete Y: %d %s", r.StatusCode(), r.Body)
	}
	if n := len(fxChangesOf(fxChanges(t, c, p.Id), client.ColumnRemoved)); n != 0 {
		t.Fatalf("refused deletes recorded %d column_removed rows", n)
	}

	r, _ = c.api.DeleteColumnWithResponse(ctx, p.Id, x.Id, &client.DeleteColumnParams{Force: ptr(true)})
	if r.StatusCode() != http.StatusNoContent {
		t.Fatalf("force delete X: %d %s", r.StatusCode(), r.Body)
	}
	for _, col := range []client.Column{x, y, w, z} {
		if st, _ := fxGetColumn(t, c, p.Id, col.Id); st != http.StatusNotFound {
			t.Errorf("%s after force delete: %d", col.Name, st)
		}
	}
	for _, col := range []client.Column{u, v} {
		if st, _ := fxGetColumn(t, c, p.Id, col.Id); st != http.StatusOK {
			t.Errorf("unrelated %s after force delete: %d", col.Name, st)
		}
	}
	removed := fxChangesOf(fxChanges(t, c, p.Id), client.ColumnRemoved)
	got := map[int64]string{}
	for _, ch := range removed {
		ac, _ := ch.AffectedColumn.Get()
		got[ch.EntityId] = ac
		if ch.EntityType != client.EntityTypeColumn || ch.Action != client.Delete || fxValues(ch.OldValues)["name"] != ac || !ch.NewValues.IsNull() {
			t.Errorf("column_removed %+v", ch)
		}
	}
	if want := map[int64]string{x.Id: "X", y.Id: "Y", w.Id: "W", z.Id: "Z"}; !reflect.DeepEqual(got, want) {
		t.Errorf("column_removed rows %v, want %v", got, want)
	}
	// A column without dependents goes without force.
	if r, _ := c.api.DeleteColumnWithResponse(ctx, p.Id, v.Id, nil); r.StatusCode() != http.StatusNoContent {
		t.Errorf("delete V: %d %s", r.StatusCode(), r.Body)
	}
}

func TestColumnCap(t *testing.T) {
	c := newCaller(t, newTenant("colcap"), "alice", auth.RoleBuilder)
	ctx := t.Context()
	p := fxPanel(t, c, "Wide")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	if _, err := fxDB(t).ExecContext(ctx, `INSERT INTO columns (tenant_id, panel_id, column_type, name, type)
		SELECT $1, $2, 'base', 'c' || g, 'text' FROM generate_series(1, 999) AS g`, c.tenant, p.Id); err != nil {
		t.Fatal(err)
	}
	last := fxBase(t, c, p.Id, ds.Id, "The thousandth", "f", nil)
	r, _ := c.api.CreateBaseColumnWithResponse(ctx, p.Id, nil, client.BaseColumnCreate{Name: "One too many", Type: client.ColumnTypeText, SourceField: "g", DataSourceId: ds.Id, Properties: map[string]any{}})
	if r.StatusCode() != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "1000") {
		t.Errorf("base column 1001: %d, want 422: %s", r.StatusCode(), r.Body)
	}
	cr, _ := c.api.CreateCalculatedColumnWithResponse(ctx, p.Id, nil, client.CalculatedColumnCreate{Name: "Calc too many", Type: client.ColumnTypeText, Formula: `"x"`, Properties: map[string]any{}})
	if cr.StatusCode() != http.StatusUnprocessableEntity {
		t.Errorf("calculated column 1001: %d, want 422: %s", cr.StatusCode(), cr.Body)
	}
	l, _ := c.api.ListColumnsWithResponse(ctx, p.Id, nil)
	if l.StatusCode() != http.StatusOK || len(l.JSON200.BaseColumns) != 1000 || len(l.JSON200.CalculatedColumns) != 0 {
		t.Errorf("list: %d, %d base columns", l.StatusCode(), len(l.JSON200.BaseColumns))
	}
	// Room again after a delete.
	if d, _ := c.api.DeleteColumnWithResponse(ctx, p.Id, last.Id, nil); d.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete: %d", d.StatusCode())
	}
	fxCalc(t, c, p.Id, "Fits again", `"x"`, nil)
}

func TestColumnConditionalRequests(t *testing.T) {
	c := newCaller(t, newTenant("coletag"), "alice", auth.RoleBuilder)
	ctx := t.Context()
	p := fxPanel(t, c, "Column ETags")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	col := fxBase(t, c, p.Id, ds.Id, "Col", "f", map[string]any{"display": map[string]any{"order": 2, "width": 12.5}, "required": false})
	calc := fxCalc(t, c, p.Id, "Dep", `[Col]`, nil)

	// The 201's ETag is the representation's: GET agrees and If-Match accepts it.
	cr, _ := c.api.CreateCalculatedColumnWithResponse(ctx, p.Id, nil, client.CalculatedColumnCreate{Name: "Fresh", Type: client.ColumnTypeNumber,
		Formula: `LEN([Col]) * 2`, Properties: map[string]any{"display": map[string]any{"order": 7, "width": 80}}, Metadata: &client.Metadata{"k": []any{1, "a"}}, Tags: &[]string{"t"}})
	createdTag := cr.HTTPResponse.Header.Get("ETag")
	if g, _ := c.api.GetColumnWithResponse(ctx, p.Id, cr.JSON201.Id, nil); g.HTTPResponse.Header.Get("ETag") != createdTag {
		t.Errorf("201 ETag %q, GET ETag %q", createdTag, g.HTTPResponse.Header.Get("ETag"))
	}
	if u, _ := c.api.UpdateColumnWithResponse(ctx, p.Id, cr.JSON201.Id, &client.UpdateColumnParams{IfMatch: &createdTag}, client.ColumnUpdate{Name: ptr("Fresher")}); u.StatusCode() != http.StatusOK {
		t.Errorf("If-Match with the 201's ETag: %d %s", u.StatusCode(), u.Body)
	}

	g, _ := c.api.GetColumnWithResponse(ctx, p.Id, col.Id, nil)
	etag := g.HTTPResponse.Header.Get("ETag")
	if nm, _ := c.api.GetColumnWithResponse(ctx, p.Id, col.Id, &client.GetColumnParams{IfNoneMatch: &etag}); nm.StatusCode() != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", nm.StatusCode())
	}
	u, _ := c.api.UpdateColumnWithResponse(ctx, p.Id, col.Id, &client.UpdateColumnParams{IfMatch: &etag}, client.ColumnUpdate{Tags: &[]string{"a"}})
	if u.StatusCode() != http.StatusOK {
		t.Fatalf("If-Match current: %d %s", u.StatusCode(), u.Body)
	}
	newTag := u.HTTPResponse.Header.Get("ETag")
	if g2, _ := c.api.GetColumnWithResponse(ctx, p.Id, col.Id, nil); g2.HTTPResponse.Header.Get("ETag") != newTag || newTag == etag {
		t.Errorf("PUT ETag %q, GET ETag %q, old %q", newTag, g2.HTTPResponse.Header.Get("ETag"), etag)
	}
	u, _ = c.api.UpdateColumnWithResponse(ctx, p.Id, col.Id, &client.UpdateColumnParams{IfMatch: &etag}, client.ColumnUpdate{Name: ptr("lost")})
	if u.StatusCode() != http.StatusPreconditionFailed {
		t.Errorf("stale If-Match PUT: %d, want 412: %s", u.StatusCode(), u.Body)
	}
	if d, _ := c.api.DeleteColumnWithResponse(ctx, p.Id, col.Id, &client.DeleteColumnParams{IfMatch: &etag, Force: ptr(true)}); d.StatusCode() != http.StatusPreconditionFailed {
		t.Errorf("stale If-Match DELETE: %d, want 412", d.StatusCode())
	}
	// Renaming a column changes its dependents' representation, hence their ETags.
	cg, _ := c.api.GetColumnWithResponse(ctx, p.Id, calc.Id, nil)
	calcTag := cg.HTTPResponse.Header.Get("ETag")
	if u, _ := c.api.UpdateColumnWithResponse(ctx, p.Id, col.Id, &client.UpdateColumnParams{IfMatch: &newTag}, client.ColumnUpdate{Name: ptr("Renamed")}); u.StatusCode() != http.StatusOK {
		t.Fatalf("rename: %d %s", u.StatusCode(), u.Body)
	}
	if u, _ := c.api.UpdateColumnWithResponse(ctx, p.Id, calc.Id, &client.UpdateColumnParams{IfMatch: &calcTag}, client.ColumnUpdate{Name: ptr("x")}); u.StatusCode() != http.StatusPreconditionFailed {
		t.Errorf("dependent's old ETag after a rename: %d, want 412", u.StatusCode())
	}
	_, got := fxGetColumn(t, c, p.Id, col.Id)
	if got.Name != "Renamed" || !slices.Equal(got.Tags, []string{"a"}) {
		t.Errorf("column %+v", got)
	}
	if n := len(fxChangesOf(fxChanges(t, c, p.Id), client.ColumnModified)); n != 3 {
		t.Errorf("column_modified rows %d, want 3", n)
	}

	// Echoed ids in the body.
	id := strconv.FormatInt(col.Id, 10)
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"id": ` + id + `, "name": "N1"}`, http.StatusOK},
		{`{"id": "` + id + `", "name": "N2", "columnType": "base", "panelId": 1, "createdAt": "x", "updatedAt": "y"}`, http.StatusOK},
		{`{"id": ` + strconv.FormatInt(calc.Id, 10) + `, "name": "Bad"}`, http.StatusBadRequest},
		{`{"id": "` + strconv.FormatInt(calc.Id, 10) + `", "name": "Bad"}`, http.StatusBadRequest},
	} {
		resp, body := raw(t, http.MethodPut, fxColPath(p.Id, col.Id), c.token, []byte(tc.body), map[string]string{"Content-Type": "application/json"})
		if resp.StatusCode != tc.want {
			t.Errorf("PUT %s: %d, want %d: %s", tc.body, resp.StatusCode, tc.want, body)
		} else if tc.want == http.StatusBadRequest && !slices.Contains(fxFields(fxProblem(t, body)), "body.id") {
			t.Errorf("PUT %s: errors do not name body.id: %s", tc.body, body)
		}
	}
	if _, got := fxGetColumn(t, c, p.Id, col.Id); got.Name != "N2" {
		t.Errorf("name %q after echoed-id updates, want N2", got.Name)
	}
}

func TestColumnAccess(t *testing.T) {
	tenant := newTenant("colacc")
	c := newCaller(t, tenant, "alice", auth.RoleBuilder)
	ctx := t.Context()
	p := fxPanel(t, c, "Private")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	col := fxBase(t, c, p.Id, ds.Id, "Col", "f", nil)
	bob := newCaller(t, tenant, "bob", auth.RoleBuilder)
	eve := newCaller(t, newTenant("colacc-other"), "eve", auth.RoleAdmin)

	calls := func(who *caller) map[string]int {
		out := map[string]int{}
		l, _ := who.api.ListColumnsWithResponse(ctx, p.Id, nil)
		out["list"] = l.StatusCode()
		g, _ := who.api.GetColumnWithResponse(ctx, p.Id, col.Id, nil)
		out["get"] = g.StatusCode()
		b, _ := who.api.CreateBaseColumnWithResponse(ctx, p.Id, nil, client.BaseColumnCreate{Name: "x", Type: client.ColumnTypeText, SourceField: "x", DataSourceId: ds.Id, Properties: map[string]any{}})
		out["create base"] = b.StatusCode()
		k, _ := who.api.CreateCalculatedColumnWithResponse(ctx, p.Id, nil, client.CalculatedColumnCreate{Name: "y", Type: client.ColumnTypeText, Formula: `"y"`, Properties: map[string]any{}})
		out["create calculated"] = k.StatusCode()
		u, _ := who.api.UpdateColumnWithResponse(ctx, p.Id, col.Id, nil, client.ColumnUpdate{Name: ptr("z")})
		out["update"] = u.StatusCode()
		d, _ := who.api.DeleteColumnWithResponse(ctx, p.Id, col.Id, nil)
		out["delete"] = d.StatusCode()
		return out
	}
	all := func(st int) map[string]int {
		return map[string]int{"list": st, "get": st, "create base": st, "create calculated": st, "update": st, "delete": st}
	}
	if got := calls(eve); !reflect.DeepEqual(got, all(http.StatusNotFound)) {
		t.Errorf("other tenant: %v", got)
	}
	if got := calls(bob); !reflect.DeepEqual(got, all(http.StatusNotFound)) {
		t.Errorf("no access: %v", got)
	}
	fxGrant(t, tenant, p.Id, "bob", "viewer") // by sub
	want := all(http.StatusForbidden)
	want["list"], want["get"] = http.StatusOK, http.StatusOK
	if got := calls(bob); !reflect.DeepEqual(got, want) {
		t.Errorf("viewer: %v, want %v", got, want)
	}
	if _, got := fxGetColumn(t, c, p.Id, col.Id); got.Name != "Col" {
		t.Errorf("column changed by refused calls: %+v", got)
	}
	if n := len(fxChanges(t, c, p.Id)); n != 3 {
		t.Errorf("%d changes, want 3 (panel, source, column)", n)
	}
}
