package server_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/oapi-codegen/nullable"

	client "github.com/panels/panels/clients/go"
	"github.com/panels/panels/server/auth"
)

// viewFixture is a panel with a data source and two base columns, owned by a builder.
type viewFixture struct {
	owner        *caller
	panelID      int64
	emailID      int64
	nameColumnID int64
}

func newViewFixture(t *testing.T) viewFixture {
	t.Helper()
	c := newCaller(t, newTenant("views"), "vera", auth.RoleBuilder)
	ctx := t.Context()
	p, _ := c.api.CreatePanelWithResponse(ctx, nil, client.PanelCreate{Name: "Worklist"})
	ds, _ := c.api.CreateDataSourceWithResponse(ctx, p.JSON201.Id, nil, client.DataSourceCreate{Type: client.DataSourceTypeApi,
		Config: client.DataSourceConfig{"endpoint": "/api/patients", "method": "GET"}})
	mk := func(name, field string) int64 {
		r, err := c.api.CreateBaseColumnWithResponse(ctx, p.JSON201.Id, nil, client.BaseColumnCreate{Name: name, Type: client.ColumnTypeText,
			SourceField: field, DataSourceId: ds.JSON201.Id, Properties: client.ColumnProperties{}})
		if err != nil || r.StatusCode() != http.StatusCreated {
			t.Fatalf("column: %v %s", err, r.Body)
		}
		return r.JSON201.Id
	}
	return viewFixture{owner: c, panelID: p.JSON201.Id, emailID: mk("Email", "email"), nameColumnID: mk("Name", "name")}
}

func TestViewLifecycle(t *testing.T) {
	f := newViewFixture(t)
	c, ctx := f.owner, t.Context()
	emailRef := strconv.FormatInt(f.emailID, 10)

	created, err := c.api.CreateViewWithResponse(ctx, nil, client.ViewCreate{Name: "Mine", PanelId: f.panelID, VisibleColumns: []string{emailRef, "Name"}})
	if err != nil || created.StatusCode() != http.StatusCreated {
		t.Fatalf("create: %v %d %s", err, created.StatusCode(), created.Body)
	}
	v := created.JSON201
	if v.OwnerUserId != "vera" || v.IsPublished || len(v.VisibleColumns) != 2 || v.Metadata == nil || len(v.Sort) != 0 {
		t.Fatalf("unexpected view %+v", v)
	}

	bad, _ := c.api.CreateViewWithResponse(ctx, nil, client.ViewCreate{Name: "Bad", PanelId: f.panelID, VisibleColumns: []string{"Nope", "999999"}})
	if bad.StatusCode() != http.StatusUnprocessableEntity || len(bad.ApplicationproblemJSON422.Errors) != 2 {
		t.Fatalf("unknown references: %d %s", bad.StatusCode(), bad.Body)
	}

	sorts, err := c.api.ReplaceViewSortsWithResponse(ctx, v.Id, client.ViewSortsReplace{Sorts: []client.ViewSortInput{
		{ColumnName: "Name", Direction: client.Desc, Order: 2}, {ColumnName: emailRef, Direction: client.Asc, Order: 1}}})
	if err != nil || sorts.StatusCode() != http.StatusOK || len(sorts.JSON200.Sorts) != 2 || sorts.JSON200.Sorts[0].Order != 1 {
		t.Fatalf("sorts: %v %d %s", err, sorts.StatusCode(), sorts.Body)
	}
	filters, err := c.api.ReplaceViewFiltersWithResponse(ctx, v.Id, client.ViewFiltersReplace{Filters: filterItems(
		client.ViewFilterInput{ColumnName: "Name", Operator: client.FilterOperatorIn, Value: nullable.NewNullableWithValue[any]([]any{"a", "b"})},
		client.ViewFilterInput{ColumnName: emailRef, Operator: client.FilterOperatorIsNotNull})})
	if err != nil || filters.StatusCode() != http.StatusOK || len(filters.JSON200.Filters) != 2 {
		t.Fatalf("filters: %v %d %s", err, filters.StatusCode(), filters.Body)
	}
	badFilter, _ := c.api.ReplaceViewFiltersWithResponse(ctx, v.Id, client.ViewFiltersReplace{Filters: filterItems(
		client.ViewFilterInput{ColumnName: "Name", Operator: client.FilterOperatorBetween, Value: nullable.NewNullableWithValue[any]([]any{1})})})
	if badFilter.StatusCode() != http.StatusUnprocessableEntity {
		t.Errorf("between with one value: %d", badFilter.StatusCode())
	}

	got, _ := c.api.GetViewWithResponse(ctx, v.Id, nil)
	if got.StatusCode() != http.StatusOK || len(got.JSON200.Sort) != 2 || got.JSON200.Sort[0].ColumnName != emailRef || len(got.JSON200.Filters) != 2 {
		t.Fatalf("get: %d %s", got.StatusCode(), got.Body)
	}

	pub, _ := c.api.PublishViewWithResponse(ctx, v.Id)
	if pub.StatusCode() != http.StatusOK || !pub.JSON200.IsPublished || pub.JSON200.PublishedBy.MustGet() != "vera" || !pub.JSON200.PublishedAt.IsSpecified() {
		t.Fatalf("publish: %d %s", pub.StatusCode(), pub.Body)
	}

	// Another member of the tenant reads the published view, its panel and columns, read-only.
	other := newCaller(t, f.owner.tenant, "otto", auth.RoleUser)
	if r, _ := other.api.GetViewWithResponse(ctx, v.Id, nil); r.StatusCode() != http.StatusOK {
		t.Errorf("published view for a member: %d", r.StatusCode())
	}
	if r, _ := other.api.ListColumnsWithResponse(ctx, f.panelID, nil); r.StatusCode() != http.StatusOK {
		t.Errorf("columns through a published view: %d", r.StatusCode())
	}
	if r, _ := other.api.UpdateViewWithResponse(ctx, v.Id, nil, client.ViewUpdate{Name: ptr("hijack")}); r.StatusCode() != http.StatusForbidden {
		t.Errorf("member editing a published view: %d", r.StatusCode())
	}
	if r, _ := other.api.UpdatePanelWithResponse(ctx, f.panelID, nil, client.PanelUpdate{Name: ptr("hijack")}); r.StatusCode() != http.StatusForbidden {
		t.Errorf("member editing the panel of a published view: %d", r.StatusCode())
	}
	list, _ := other.api.ListViewsWithResponse(ctx, &client.ListViewsParams{Published: ptr(true)})
	if list.StatusCode() != http.StatusOK || list.JSON200.Total != 1 {
		t.Errorf("published list for a member: %d %s", list.StatusCode(), list.Body)
	}

	unpub, _ := c.api.UnpublishViewWithResponse(ctx, v.Id)
	if unpub.StatusCode() != http.StatusOK || unpub.JSON200.IsPublished || unpub.JSON200.PublishedBy.IsSpecified() && !unpub.JSON200.PublishedBy.IsNull() {
		t.Fatalf("unpublish: %d %s", unpub.StatusCode(), unpub.Body)
	}
	if r, _ := other.api.GetViewWithResponse(ctx, v.Id, nil); r.StatusCode() != http.StatusNotFound {
		t.Errorf("unpublished view for a member: %d", r.StatusCode())
	}

	// Renaming a column rewrites name references; deleting one removes references of both forms.
	if r, _ := c.api.UpdateColumnWithResponse(ctx, f.panelID, f.nameColumnID, nil, client.ColumnUpdate{Name: ptr("Full Name")}); r.StatusCode() != http.StatusOK {
		t.Fatalf("rename: %d", r.StatusCode())
	}
	got, _ = c.api.GetViewWithResponse(ctx, v.Id, nil)
	if got.JSON200.VisibleColumns[1] != "Full Name" || got.JSON200.Sort[1].ColumnName != "Full Name" || got.JSON200.Filters[0].ColumnName != "Full Name" {
		t.Errorf("rename not propagated: %s", got.Body)
	}
	if r, _ := c.api.DeleteColumnWithResponse(ctx, f.panelID, f.emailID, nil); r.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete column: %d", r.StatusCode())
	}
	got, _ = c.api.GetViewWithResponse(ctx, v.Id, nil)
	if len(got.JSON200.VisibleColumns) != 1 || len(got.JSON200.Sort) != 1 || len(got.JSON200.Filters) != 1 {
		t.Errorf("references of a deleted column remain: %s", got.Body)
	}

	upd, _ := c.api.UpdateViewWithResponse(ctx, v.Id, nil, client.ViewUpdate{Name: ptr("Renamed"), Metadata: &client.Metadata{"density": "compact"}})
	if upd.StatusCode() != http.StatusOK || upd.JSON200.Name != "Renamed" || upd.JSON200.Metadata["density"] != "compact" {
		t.Fatalf("update: %d %s", upd.StatusCode(), upd.Body)
	}

	changes, _ := c.api.ListPanelChangesWithResponse(ctx, &client.ListPanelChangesParams{PanelId: &f.panelID})
	seen := map[client.ChangeType]bool{}
	for _, ch := range changes.JSON200.Changes {
		seen[ch.ChangeType] = true
	}
	for _, want := range []client.ChangeType{client.ViewCreated, client.ViewChanged, client.ViewPublished, client.ViewUnpublished} {
		if !seen[want] {
			t.Errorf("%s not recorded", want)
		}
	}

	if r, _ := c.api.DeleteViewWithResponse(ctx, v.Id, nil); r.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete: %d", r.StatusCode())
	}
	if r, _ := c.api.GetViewWithResponse(ctx, v.Id, nil); r.StatusCode() != http.StatusNotFound {
		t.Errorf("after delete: %d", r.StatusCode())
	}
}
