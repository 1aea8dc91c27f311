package store

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func stStoredFormula(t *testing.T, id int64) (string, []int64) {
	t.Helper()
	var c Column
	if err := testStore.db.NewSelect().Model(&c).Where("col.id = ?", id).Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c.Formula == nil {
		return "", c.Dependencies
	}
	return *c.Formula, c.Dependencies
}

func stColumnExists(t *testing.T, id int64) bool {
	t.Helper()
	return stCount(t, `SELECT count(*) FROM columns WHERE id = ?`, id) == 1
}

func idRef(id int64) string { return "{" + strconv.FormatInt(id, 10) + "}" }

func TestCreateColumnResolvesFormulaReferences(t *testing.T) {
	ctx := t.Context()
	a := stActor(stTenant("formula"), "alice")
	p := stPanel(t, a, "Formulas")
	ds := stDataSource(t, a, p.ID)
	first := stBase(t, a, p.ID, ds.ID, "First Name", "first_name")
	last := stBase(t, a, p.ID, ds.ID, "Last Name", "last_name")
	email := stBase(t, a, p.ID, ds.ID, "Email Address", "email")
	created := stBase(t, a, p.ID, ds.ID, "Created Date", "created_at")

	// Bare identifiers resolve to a source field when no column has that name.
	full := &Column{Name: "Full Name", Type: "text"}
	names, err := testStore.CreateColumn(ctx, a, p.ID, full, &FormulaInput{
		Source: "CONCAT(first_name, ' ', last_name)", Dependencies: []string{"first_name", "Last Name"}, HasDependencies: true})
	if err != nil {
		t.Fatal(err)
	}
	wantStored := fmt.Sprintf(`CONCAT(%s, " ", %s)`, idRef(first.ID), idRef(last.ID))
	if full.ColumnType != ColumnCalculated || full.Formula == nil || *full.Formula != wantStored || !slices.Equal(full.Dependencies, []int64{first.ID, last.ID}) {
		t.Errorf("full name: type %s formula %v deps %v, want %s %v", full.ColumnType, deref(full.Formula), full.Dependencies, wantStored, []int64{first.ID, last.ID})
	}
	if f, deps := stStoredFormula(t, full.ID); f != wantStored || !slices.Equal(deps, []int64{first.ID, last.ID}) {
		t.Errorf("stored: %q %v", f, deps)
	}
	if names[full.ID] != "Full Name" || names[first.ID] != "First Name" || len(names) != 5 {
		t.Errorf("names %v", names)
	}

	// Bracketed names, calculated columns referencing calculated columns, multi-line formulas.
	display := stCalc(t, a, p.ID, "Display Name", "CONCAT([Full Name], \" (\",\n  [Email Address], \")\")")
	wantStored = fmt.Sprintf(`CONCAT(%s, " (", %s, ")")`, idRef(full.ID), idRef(email.ID))
	if f, deps := stStoredFormula(t, display.ID); f != wantStored || !slices.Equal(deps, []int64{full.ID, email.ID}) {
		t.Errorf("display name stored %q %v, want %q", f, deps, wantStored)
	}
	age := stCalc(t, a, p.ID, "Age In Days", "DATEDIFF(NOW(), [Created Date])")
	if _, deps := stStoredFormula(t, age.ID); !slices.Equal(deps, []int64{created.ID}) {
		t.Errorf("age deps %v", deps)
	}

	// What a change row and a listing show is the formula by current names.
	set, err := testStore.ListColumns(ctx, a, p.ID, []int64{display.ID}, nil)
	if err != nil || len(set.Columns) != 1 {
		t.Fatalf("list: %v %+v", err, set)
	}
	history := stChanges(t, p.ID)
	if last := history[len(history)-1]; last.ChangeType != ChangeColumnAdded || last.AffectedColumn == nil || *last.AffectedColumn != "Age In Days" ||
		last.NewValues["formula"] != "DATEDIFF(NOW(), [Created Date])" {
		t.Errorf("column_added change %+v", last)
	}

	// Rejections are 422s naming the culprit, and leave nothing behind.
	before := stCount(t, `SELECT count(*) FROM columns WHERE panel_id = ?`, p.ID)
	changesBefore := len(stChanges(t, p.ID))
	for _, tc := range []struct {
		name, src string
		deps      []string
		field     string
		mention   string
	}{
		{"unknown reference", "[Nope] & [Full Name]", nil, "formula", "Nope"},
		{"bad arity", "LEN([Full Name], 2)", nil, "formula", "LEN"},
		{"syntax", "CONCAT([Full Name]", nil, "formula", ""},
		{"dependencies missing one", "CONCAT([Full Name], [Email Address])", []string{"Full Name"}, "dependencies", "Email Address"},
		{"dependencies naming another column", "[Full Name]", []string{"Full Name", "Last Name"}, "dependencies", "Last Name"},
	} {
		c := &Column{Name: "Broken", Type: "text"}
		_, err := testStore.CreateColumn(ctx, a, p.ID, c, &FormulaInput{Source: tc.src, Dependencies: tc.deps, HasDependencies: tc.deps != nil})
		var ie *InvalidError
		if !errors.As(err, &ie) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want an InvalidError", tc.name, err)
			continue
		}
		if len(ie.Problems) == 0 || ie.Problems[0].Field != tc.field || !strings.Contains(ie.Error()+fmt.Sprint(ie.Problems), tc.mention) {
			t.Errorf("%s: problems %+v, want field %s mentioning %q", tc.name, ie.Problems, tc.field, tc.mention)
		}
	}
	// A base column must read a source of its own panel.
	otherPanel := stPanel(t, a, "Other")
	foreignDS := stDataSource(t, a, otherPanel.ID)
	sf, fid := "x", foreignDS.ID
	_, err = testStore.CreateColumn(ctx, a, p.ID, &Column{Name: "X", Type: "text", SourceField: &sf, DataSourceID: &fid}, nil)
	var ie *InvalidError
	if !errors.As(err, &ie) || ie.Problems[0].Field != "dataSourceId" {
		t.Errorf("data source of another panel: %v, want 422 on dataSourceId", err)
	}
	if n := stCount(t, `SELECT count(*) FROM columns WHERE panel_id = ?`, p.ID); n != before {
		t.Errorf("rejected creates left %d columns", n-before)
	}
	if n := len(stChanges(t, p.ID)); n != changesBefore {
		t.Errorf("rejected creates recorded %d changes", n-changesBefore)
	}
	// A viewer is refused and inserts nothing either.
	viewer := stActor(a.TenantID, "vic")
	if _, err := testStore.CreateACL(ctx, a, "panel", p.ID, viewer.Email, "viewer"); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.CreateColumn(ctx, viewer, p.ID, &Column{Name: "Y", Type: "text"}, &FormulaInput{Source: "1"}); !errors.Is(err, ErrForbidden) {
		t.Errorf("refused create: %v", err)
	}
	if n := stCount(t, `SELECT count(*) FROM columns WHERE panel_id = ?`, p.ID); n != before {
		t.Errorf("refused create left a column")
	}
}

func TestUpdateColumnRenameRewritesViewReferences(t *testing.T) {
	ctx := t.Context()
	a := stActor(stTenant("rename"), "alice")
	p := stPanel(t, a, "Renames")
	ds := stDataSource(t, a, p.ID)
	status := stBase(t, a, p.ID, ds.ID, "Status", "status")
	other := stBase(t, a, p.ID, ds.ID, "Other", "other")
	label := stCalc(t, a, p.ID, "Label", `IF([Status] = "active", "Active", "Inactive")`)
	storedBefore, _ := stStoredFormula(t, label.ID)

	view := stView(t, p, fmt.Sprintf(`["Status", "%d", "Other", "Statuses"]`, status.ID))
	stSort(t, view, "Status", 0)
	stSort(t, view, "Other", 1)
	stFilter(t, view, "Status", 0)
	stFilter(t, view, fmt.Sprint(status.ID), 1)
	// A view of another panel naming a column "Status" is not touched.
	elsewhere := stPanel(t, a, "Elsewhere")
	otherView := stView(t, elsewhere, `["Status"]`)
	var touchedBefore time.Time
	if err := testStore.db.NewRaw(`SELECT updated_at FROM views WHERE id = ?`, view).Scan(ctx, &touchedBefore); err != nil {
		t.Fatal(err)
	}

	name := "Account Status"
	col, names, err := testStore.UpdateColumn(ctx, a, p.ID, status.ID, stAllowCol, ColumnPatch{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	if col.Name != name || names[status.ID] != name {
		t.Errorf("renamed column %+v names %v", col, names)
	}
	visible, sorts, filters := stViewRefs(t, view)
	if want := []string{"Account Status", fmt.Sprint(status.ID), "Other", "Statuses"}; !slices.Equal(visible, want) {
		t.Errorf("visible columns %v, want %v", visible, want)
	}
	if want := []string{"Account Status", "Other"}; !slices.Equal(sorts, want) {
		t.Errorf("sorts %v, want %v", sorts, want)
	}
	if want := []string{"Account Status", fmt.Sprint(status.ID)}; !slices.Equal(filters, want) {
		t.Errorf("filters %v, want %v", filters, want)
	}
	var touchedAfter time.Time
	if err := testStore.db.NewRaw(`SELECT updated_at FROM views WHERE id = ?`, view).Scan(ctx, &touchedAfter); err != nil {
		t.Fatal(err)
	}
	if !touchedAfter.After(touchedBefore) {
		t.Errorf("view updated_at %v -> %v, want it moved", touchedBefore, touchedAfter)
	}
	if v, _, _ := stViewRefs(t, otherView); !slices.Equal(v, []string{"Status"}) {
		t.Errorf("a view of another panel was rewritten: %v", v)
	}
	// The formula keeps its stored ids and renders with the new name.
	if stored, _ := stStoredFormula(t, label.ID); stored != storedBefore {
		t.Errorf("stored formula changed on rename: %q -> %q", storedBefore, stored)
	}
	set, err := testStore.ListColumns(ctx, a, p.ID, []int64{label.ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if vals := columnValues(&set.Columns[0], set.Names); vals["formula"] != `IF([Account Status] = "active", "Active", "Inactive")` {
		t.Errorf("rendered formula %v", vals["formula"])
	}
	if types := stChangeTypes(t, p.ID); types[len(types)-1] != ChangeColumnChanged {
		t.Errorf("rename not recorded: %v", types)
	}

	// While another column carries the old name, name references stay (they still resolve).
	dup := "Other"
	if _, _, err := testStore.UpdateColumn(ctx, a, p.ID, label.ID, stAllowCol, ColumnPatch{Name: &dup}); err != nil {
		t.Fatal(err)
	}
	renamed := "Label"
	if _, _, err := testStore.UpdateColumn(ctx, a, p.ID, label.ID, stAllowCol, ColumnPatch{Name: &renamed}); err != nil {
		t.Fatal(err)
	}
	if visible, sorts, _ := stViewRefs(t, view); !slices.Contains(visible, "Other") || !slices.Contains(sorts, "Other") {
		t.Errorf("renaming a column away from a shared name rewrote the other column's references: %v %v", visible, sorts)
	}
	_ = other

	// A failing check and a no-op change nothing.
	changes := len(stChanges(t, p.ID))
	again := "Account Status"
	if _, _, err := testStore.UpdateColumn(ctx, a, p.ID, status.ID, stAllowCol, ColumnPatch{Name: &again}); err != nil {
		t.Fatal(err)
	}
	x := "X"
	if _, _, err := testStore.UpdateColumn(ctx, a, p.ID, status.ID, func(*Column, map[int64]string) error { return ErrPrecondition }, ColumnPatch{Name: &x}); !errors.Is(err, ErrPrecondition) {
		t.Errorf("refused update: %v", err)
	}
	if n := len(stChanges(t, p.ID)); n != changes {
		t.Errorf("no-op or refused updates recorded %d changes", n-changes)
	}
	if visible, _, _ := stViewRefs(t, view); !slices.Contains(visible, "Account Status") {
		t.Errorf("refused rename touched the view: %v", visible)
	}
}

func TestDeleteColumnForceRemovesDependentsAndViewReferences(t *testing.T) {
	ctx := t.Context()
	a := stActor(stTenant("delcol"), "alice")
	p := stPanel(t, a, "Deletes")
	ds := stDataSource(t, a, p.ID)
	score := stBase(t, a, p.ID, ds.ID, "Score", "score")
	keep := stBase(t, a, p.ID, ds.ID, "Keep", "keep")
	double := stCalc(t, a, p.ID, "Double", "[Score] * 2")
	plusOne := stCalc(t, a, p.ID, "Double Plus One", "[Double] + 1") // transitive
	unrelated := stCalc(t, a, p.ID, "Keep Twice", "[Keep] & [Keep]")
	id := func(c *Column) string { return fmt.Sprint(c.ID) }

	view := stView(t, p, fmt.Sprintf(`["Score", "%s", "%s", "Double Plus One", "Keep", "%s", "Keep Twice"]`, id(score), id(double), id(keep)))
	stSort(t, view, "Double", 0)
	stSort(t, view, id(score), 1)
	stSort(t, view, "Keep", 2)
	stFilter(t, view, "Double Plus One", 0)
	stFilter(t, view, id(plusOne), 1)
	stFilter(t, view, id(keep), 2)
	stFilter(t, view, "Score", 3)

	// Without force: 409 listing the dependents, nearest first; nothing changes.
	changes := len(stChanges(t, p.ID))
	err := testStore.DeleteColumn(ctx, a, p.ID, score.ID, false, stAllowCol)
	var ce *ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, ErrConflict) {
		t.Fatalf("delete with dependents: %v, want a ConflictError", err)
	}
	want := []Dependent{{ID: double.ID, Name: "Double", Kind: "column"}, {ID: plusOne.ID, Name: "Double Plus One", Kind: "column"}}
	if !slices.Equal(ce.Dependents, want) {
		t.Errorf("dependents %+v, want %+v", ce.Dependents, want)
	}
	for _, c := range []*Column{score, double, plusOne} {
		if !stColumnExists(t, c.ID) {
			t.Errorf("refused delete removed column %q", c.Name)
		}
	}
	if n := len(stChanges(t, p.ID)); n != changes {
		t.Errorf("refused delete recorded %d changes", n-changes)
	}
	if visible, _, _ := stViewRefs(t, view); len(visible) != 7 {
		t.Errorf("refused delete touched the view: %v", visible)
	}

	// With force: the column and its dependents go, with every reference to them.
	if err := testStore.DeleteColumn(ctx, a, p.ID, score.ID, true, stAllowCol); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Column{score, double, plusOne} {
		if stColumnExists(t, c.ID) {
			t.Errorf("column %q survived a forced delete", c.Name)
		}
	}
	for _, c := range []*Column{keep, unrelated} {
		if !stColumnExists(t, c.ID) {
			t.Errorf("unrelated column %q deleted", c.Name)
		}
	}
	visible, sorts, filters := stViewRefs(t, view)
	if want := []string{"Keep", id(keep), "Keep Twice"}; !slices.Equal(visible, want) {
		t.Errorf("visible columns %v, want %v", visible, want)
	}
	if want := []string{"Keep"}; !slices.Equal(sorts, want) {
		t.Errorf("sorts %v, want %v", sorts, want)
	}
	if want := []string{id(keep)}; !slices.Equal(filters, want) {
		t.Errorf("filters %v, want %v", filters, want)
	}
	removed := map[string]bool{}
	for _, c := range stChanges(t, p.ID)[changes:] {
		if c.ChangeType != ChangeColumnRemoved || c.Action != ActionDelete || c.AffectedColumn == nil {
			t.Errorf("unexpected change %+v", c)
			continue
		}
		removed[*c.AffectedColumn] = true
	}
	if len(removed) != 3 || !removed["Score"] || !removed["Double"] || !removed["Double Plus One"] {
		t.Errorf("column_removed recorded for %v", removed)
	}
	if err := testStore.DeleteColumn(ctx, a, p.ID, score.ID, true, stAllowCol); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting again: %v, want ErrNotFound", err)
	}
	// A column of another panel is not found through this panel.
	q := stPanel(t, a, "Elsewhere")
	if err := testStore.DeleteColumn(ctx, a, q.ID, keep.ID, true, stAllowCol); !errors.Is(err, ErrNotFound) {
		t.Errorf("column through another panel: %v, want ErrNotFound", err)
	}
}

// When the deleted column and a dependent deleted with it share a name, no surviving column carries
// that name any more: its name references must go too.
func TestDeleteColumnForceRemovesSharedNameOfDoomedColumns(t *testing.T) {
	ctx := t.Context()
	a := stActor(stTenant("delshared"), "alice")
	p := stPanel(t, a, "Shared names")
	ds := stDataSource(t, a, p.ID)
	raw := stBase(t, a, p.ID, ds.ID, "Score", "score")
	stCalc(t, a, p.ID, "Score", "{"+fmt.Sprint(raw.ID)+"} * 10") // same name, depends on the base column
	survivor := stBase(t, a, p.ID, ds.ID, "Name", "name")
	view := stView(t, p, `["Score", "Name"]`)
	stSort(t, view, "Score", 0)
	if err := testStore.DeleteColumn(ctx, a, p.ID, raw.ID, true, stAllowCol); err != nil {
		t.Fatal(err)
	}
	if n := stCount(t, `SELECT count(*) FROM columns WHERE panel_id = ? AND name = 'Score'`, p.ID); n != 0 {
		t.Fatalf("%d columns named Score left", n)
	}
	visible, sorts, _ := stViewRefs(t, view)
	if !slices.Equal(visible, []string{survivor.Name}) || len(sorts) != 0 {
		t.Errorf("dangling references to deleted columns: visible %v sorts %v", visible, sorts)
	}
}

func TestDeleteDataSourceForceDetaches(t *testing.T) {
	ctx := t.Context()
	a := stActor(stTenant("delds"), "alice")
	p := stPanel(t, a, "Sources")
	ds := stDataSource(t, a, p.ID)
	spare := stDataSource(t, a, p.ID)
	x := stBase(t, a, p.ID, ds.ID, "X", "x")
	y := stBase(t, a, p.ID, ds.ID, "Y", "y")
	z := stBase(t, a, p.ID, spare.ID, "Z", "z")
	calc := stCalc(t, a, p.ID, "X and Y", "[X] & [Y]")

	changes := len(stChanges(t, p.ID))
	err := testStore.DeleteDataSource(ctx, a, ds.ID, 0, false, stAllowDS)
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("delete of a used source: %v, want a ConflictError", err)
	}
	if want := []Dependent{{ID: x.ID, Name: "X", Kind: "column"}, {ID: y.ID, Name: "Y", Kind: "column"}}; !slices.Equal(ce.Dependents, want) {
		t.Errorf("dependents %+v, want %+v", ce.Dependents, want)
	}
	if n := stCount(t, `SELECT count(*) FROM data_sources WHERE id = ?`, ds.ID); n != 1 || len(stChanges(t, p.ID)) != changes {
		t.Error("refused delete changed something")
	}
	// The nested path checks the panel: another panel's id is not found.
	q := stPanel(t, a, "Other")
	if err := testStore.DeleteDataSource(ctx, a, ds.ID, q.ID, true, stAllowDS); !errors.Is(err, ErrNotFound) {
		t.Errorf("source through another panel: %v, want ErrNotFound", err)
	}
	// Another tenant does not see it at all.
	if err := testStore.DeleteDataSource(ctx, stActor(stTenant("delds-other"), "alice"), ds.ID, 0, true, stAllowDS); !errors.Is(err, ErrNotFound) {
		t.Errorf("source of another tenant: %v, want ErrNotFound", err)
	}
	// A failing check leaves it.
	if err := testStore.DeleteDataSource(ctx, a, ds.ID, p.ID, true, func(*DataSource) error { return ErrForbidden }); !errors.Is(err, ErrForbidden) {
		t.Errorf("refused delete: %v", err)
	}

	if err := testStore.DeleteDataSource(ctx, a, ds.ID, p.ID, true, stAllowDS); err != nil {
		t.Fatal(err)
	}
	if n := stCount(t, `SELECT count(*) FROM data_sources WHERE id = ?`, ds.ID); n != 0 {
		t.Error("source survived a forced delete")
	}
	set, err := testStore.ListColumns(ctx, a, p.ID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]Column{}
	for _, c := range set.Columns {
		byID[c.ID] = c
	}
	for _, c := range []*Column{x, y} {
		got, ok := byID[c.ID]
		if !ok || got.DataSourceID != nil {
			t.Errorf("column %s after forced delete: present %v, %+v", c.Name, ok, got)
		}
	}
	if got := byID[z.ID]; got.DataSourceID == nil || *got.DataSourceID != spare.ID {
		t.Errorf("column of another source detached: %+v", got)
	}
	if _, ok := byID[calc.ID]; !ok {
		t.Error("calculated column over detached columns deleted")
	}
	types := stChangeTypes(t, p.ID)[changes:]
	if !slices.Equal(types, []string{ChangeColumnChanged, ChangeColumnChanged, ChangeSourceRemoved}) {
		t.Errorf("changes %v, want two column_modified then source_removed", types)
	}
	for _, c := range stChanges(t, p.ID)[changes : changes+2] {
		if c.NewValues == nil || c.NewValues["dataSourceId"] != nil || c.OldValues["dataSourceId"] == nil {
			t.Errorf("detach change %+v", c)
		}
	}
	// A detached column can be re-attached.
	sid := spare.ID
	col, _, err := testStore.UpdateColumn(ctx, a, p.ID, x.ID, stAllowCol, ColumnPatch{SetDataSource: true, DataSourceID: &sid})
	if err != nil || col.DataSourceID == nil || *col.DataSourceID != spare.ID {
		t.Errorf("re-attach: %v %+v", err, col)
	}
}

func TestListChangesCountsAndCaps(t *testing.T) {
	ctx := t.Context()
	tenant := stTenant("changes")
	alice, bob := stActor(tenant, "alice"), stActor(tenant, "bob")
	admin := Actor{TenantID: tenant, UserID: "root", Admin: true}
	p := stPanel(t, alice, "Busy")
	hidden := stPanel(t, bob, "Bob's")

	// 10,050 history rows for the busy panel, a few for bob's panel.
	if _, err := testStore.db.ExecContext(ctx, `INSERT INTO panel_changes (tenant_id, panel_id, panel_name, change_type, entity_type, entity_id, action, description, changed_by, changed_at)
		SELECT ?, ?, 'Busy', CASE WHEN g % 2 = 0 THEN 'panel_updated' ELSE 'column_added' END, 'panel', ?, 'update', 'bulk', 'alice',
			now() - g * interval '1 second'
		FROM generate_series(1, 10050) AS g`, tenant, p.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	page, err := testStore.ListChanges(ctx, alice, ChangeFilter{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != totalCap || !page.TotalCapped || !page.HasMore || len(page.Changes) != 50 {
		t.Errorf("capped page: total %d capped %v hasMore %v len %d", page.Total, page.TotalCapped, page.HasMore, len(page.Changes))
	}
	for i := 1; i < len(page.Changes); i++ {
		prev, cur := page.Changes[i-1], page.Changes[i]
		if cur.ChangedAt.After(prev.ChangedAt) || (cur.ChangedAt.Equal(prev.ChangedAt) && cur.ID > prev.ID) {
			t.Fatalf("not newest first at %d", i)
		}
	}
	for _, c := range page.Changes {
		if c.PanelID == hidden.ID {
			t.Errorf("alice sees bob's panel history")
		}
	}

	// Exact counts below the cap, with filters.
	page, err = testStore.ListChanges(ctx, bob, ChangeFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 1 || page.TotalCapped || page.HasMore || len(page.Changes) != 1 || page.Changes[0].ChangeType != ChangePanelCreated {
		t.Errorf("bob: %+v", page)
	}
	page, err = testStore.ListChanges(ctx, alice, ChangeFilter{PanelID: p.ID, ChangeType: ChangePanelCreated, Limit: 10})
	if err != nil || page.Total != 1 || page.TotalCapped || page.HasMore {
		t.Errorf("filtered by type: %v %+v", err, page)
	}
	since := time.Now().Add(-10 * time.Second)
	page, err = testStore.ListChanges(ctx, alice, ChangeFilter{PanelID: p.ID, Since: &since, Limit: 100})
	if err != nil || page.Total < 9 || page.Total > 12 || page.TotalCapped {
		t.Errorf("since 10s: %v total %d", err, page.Total)
	}
	// hasMore comes from limit+1; offsets and cursors continue the same order.
	page, err = testStore.ListChanges(ctx, bob, ChangeFilter{Limit: 1})
	if err != nil || page.HasMore || len(page.Changes) != 1 {
		t.Errorf("limit equal to the count: hasMore %v len %d", page.HasMore, len(page.Changes))
	}
	first, err := testStore.ListChanges(ctx, alice, ChangeFilter{PanelID: p.ID, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	byOffset, err := testStore.ListChanges(ctx, alice, ChangeFilter{PanelID: p.ID, Limit: 3, Offset: 3})
	if err != nil {
		t.Fatal(err)
	}
	last := first.Changes[2]
	byCursor, err := testStore.ListChanges(ctx, alice, ChangeFilter{PanelID: p.ID, Limit: 3, After: &ChangeCursor{ChangedAt: last.ChangedAt, ID: last.ID}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if byOffset.Changes[i].ID != byCursor.Changes[i].ID || byOffset.Changes[i].ID == first.Changes[i].ID {
			t.Errorf("offset and cursor pages differ at %d: %d vs %d", i, byOffset.Changes[i].ID, byCursor.Changes[i].ID)
		}
	}

	// A panel the caller cannot read is not found; admins see deleted panels' history, others do not.
	if _, err := testStore.ListChanges(ctx, alice, ChangeFilter{PanelID: hidden.ID, Limit: 10}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unreadable panel: %v, want ErrNotFound", err)
	}
	if err := testStore.DeletePanel(ctx, bob, hidden.ID, stAllow); err != nil {
		t.Fatal(err)
	}
	page, err = testStore.ListChanges(ctx, admin, ChangeFilter{PanelID: hidden.ID, Limit: 10})
	if err != nil || page.Total != 2 || page.Changes[0].ChangeType != ChangePanelDeleted {
		t.Errorf("admin on a deleted panel: %v %+v", err, page)
	}
	page, err = testStore.ListChanges(ctx, bob, ChangeFilter{Limit: 10})
	if err != nil || page.Total != 0 {
		t.Errorf("bob after deleting his panel: %v total %d", err, page.Total)
	}
	page, err = testStore.ListChanges(ctx, Actor{TenantID: stTenant("changes-other"), UserID: "root", Admin: true}, ChangeFilter{Limit: 10})
	if err != nil || page.Total != 0 {
		t.Errorf("another tenant's admin: %v total %d", err, page.Total)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// A view saved while a column is being renamed must not keep the old name: the rename rewrites
// only the views committed before it, so saving a view waits for the rename's panel lock.
func TestCreateViewDuringColumnRename(t *testing.T) {
	ctx := t.Context()
	a := stActor(stTenant("rename-race"), "alice")
	p := stPanel(t, a, "Race")
	ds := stDataSource(t, a, p.ID)
	status := stBase(t, a, p.ID, ds.ID, "Status", "status")

	locked, release := make(chan struct{}), make(chan struct{})
	renamed := make(chan error, 1)
	go func() {
		name := "State"
		hold := func(*Column, map[int64]string) error {
			close(locked) // the rename holds the panel row from here to its commit
			<-release
			return nil
		}
		_, _, err := testStore.UpdateColumn(ctx, a, p.ID, status.ID, hold, ColumnPatch{Name: &name})
		renamed <- err
	}()
	<-locked
	created := make(chan error, 1)
	go func() {
		created <- testStore.CreateView(ctx, a, &View{PanelID: p.ID, Name: "During", VisibleColumns: []string{"Status"}})
	}()
	// Give the view a moment to reach the lock (without it, it would commit here); a slow machine
	// only makes this test weaker, never wrong.
	time.Sleep(200 * time.Millisecond)
	close(release)
	if err := <-renamed; err != nil {
		t.Fatal(err)
	}
	if err := <-created; !errors.As(err, new(*InvalidError)) {
		t.Fatalf("a view naming the column renamed meanwhile: %v, want an InvalidError", err)
	}
}
