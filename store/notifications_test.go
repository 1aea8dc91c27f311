package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// ntView inserts a view of p owned by owner. When ownerRow is not "", the view's owner ACL row is
// written in the same statement (so with the view's created_at), the way CreateView writes it.
func ntView(t *testing.T, p *Panel, owner, name string, published bool, visible, ownerRow string) int64 {
	t.Helper()
	var id int64
	err := testStore.db.NewRaw(`WITH v AS (
			INSERT INTO views (tenant_id, panel_id, owner_user_id, name, is_published, published_at, published_by, visible_columns)
			VALUES (?, ?, ?, ?, ?, CASE WHEN ? THEN now() END, CASE WHEN ? THEN ? END, ?::jsonb) RETURNING id, tenant_id),
		o AS (INSERT INTO acls (tenant_id, resource_type, resource_id, view_id, user_email, permission, creator)
			SELECT v.tenant_id, 'view', v.id, v.id, ?, 'owner', true FROM v WHERE ? <> '')
		SELECT id FROM v`,
		p.TenantID, p.ID, owner, name, published, published, published, owner, visible, ownerRow, ownerRow).Scan(t.Context(), &id)
	if err != nil {
		t.Fatalf("insert view %q: %v", name, err)
	}
	return id
}

// ntACL grants principal a permission on a panel or a view by SQL.
func ntACL(t *testing.T, tenant, resourceType string, id int64, principal, permission string) {
	t.Helper()
	col := "panel_id"
	if resourceType == "view" {
		col = "view_id"
	}
	if _, err := testStore.db.ExecContext(t.Context(), `INSERT INTO acls (tenant_id, resource_type, resource_id, `+col+`, user_email, permission)
		VALUES (?, ?, ?, ?, ?, ?)`, tenant, resourceType, id, id, principal, permission); err != nil {
		t.Fatalf("grant %s on %s %d: %v", principal, resourceType, id, err)
	}
}

// ntMember records a known member of the tenant.
func ntMember(t *testing.T, tenant, sub, email string) {
	t.Helper()
	if _, err := testStore.db.ExecContext(t.Context(), `INSERT INTO members (tenant_id, user_id, email) VALUES (?, ?, NULLIF(?, ''))`,
		tenant, sub, email); err != nil {
		t.Fatalf("member %s: %v", sub, err)
	}
}

// ntNotes returns every notification of the tenant, oldest first.
func ntNotes(t *testing.T, tenant string) []Notification {
	t.Helper()
	var out []Notification
	if err := testStore.db.NewSelect().Model(&out).Where("vn.tenant_id = ?", tenant).OrderExpr("vn.id").Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	return out
}

// ntWho renders notifications as sorted "view:user:impact" strings for comparison.
func ntWho(notes []Notification, names map[int64]string) []string {
	out := make([]string, 0, len(notes))
	for _, n := range notes {
		out = append(out, fmt.Sprintf("%s:%s:%s", names[n.ViewID], n.UserID, n.Impact))
	}
	slices.Sort(out)
	return out
}

func ntWant(t *testing.T, step string, got, want []string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", step, got, want)
	}
}

// ntFixture is a panel of alice with a data source, columns Email and Age, and members.
type ntFixture struct {
	tenant       string
	alice, bob   Actor
	p            *Panel
	ds           *DataSource
	email, age   *Column
	names        map[int64]string
	idEmail, idA string
}

func newNtFixture(t *testing.T, prefix string) *ntFixture {
	t.Helper()
	f := &ntFixture{tenant: stTenant(prefix)}
	f.alice, f.bob = stActor(f.tenant, "alice"), stActor(f.tenant, "bob")
	f.p = stPanel(t, f.alice, "Diabetes")
	f.ds = stDataSource(t, f.alice, f.p.ID)
	f.email = stBase(t, f.alice, f.p.ID, f.ds.ID, "Email", "email")
	f.age = stBase(t, f.alice, f.p.ID, f.ds.ID, "Age", "age")
	f.idEmail, f.idA = fmt.Sprint(f.email.ID), fmt.Sprint(f.age.ID)
	f.names = map[int64]string{}
	return f
}

func (f *ntFixture) view(t *testing.T, owner, name string, published bool, visible string) int64 {
	t.Helper()
	id := ntView(t, f.p, owner, name, published, visible, "")
	f.names[id] = name
	return id
}

func TestNotifyColumnRemovedIsBreakingForViewsUsingIt(t *testing.T) {
	ctx := t.Context()
	f := newNtFixture(t, "ntremove")
	for _, m := range []string{"alice", "bob", "carol", "dave"} {
		ntMember(t, f.tenant, m, m+"@"+f.tenant+".example")
	}
	f.view(t, "bob", "Shows by id", true, fmt.Sprintf(`["%s", "%s"]`, f.idEmail, f.idA))
	sorts := f.view(t, "bob", "Sorts by name", false, fmt.Sprintf(`["%s"]`, f.idA))
	stSort(t, sorts, "Email", 0)
	ntACL(t, f.tenant, "view", sorts, "carol@"+f.tenant+".example", "viewer")
	filters := f.view(t, "dave", "Filters", false, `[]`)
	stFilter(t, filters, f.idEmail, 0)
	ntACL(t, f.tenant, "view", filters, allPrincipal, "viewer")
	unused := f.view(t, "bob", "Does not use it", true, fmt.Sprintf(`["%s"]`, f.idA))
	private := f.view(t, "bob", "Private", false, fmt.Sprintf(`["%s", "Email"]`, f.idEmail))

	if err := testStore.DeleteColumn(ctx, f.alice, f.p.ID, f.email.ID, false, stAllowCol); err != nil {
		t.Fatal(err)
	}
	notes := ntNotes(t, f.tenant)
	ntWant(t, "removal", ntWho(notes, f.names), []string{
		// published: owner and every member but the actor
		"Shows by id:bob:breaking", "Shows by id:carol:breaking", "Shows by id:dave:breaking",
		// shared with carol by email (a member): owner and carol, as subs
		"Sorts by name:bob:breaking", "Sorts by name:carol:breaking",
		// shared with _all: every member but the actor
		"Filters:bob:breaking", "Filters:carol:breaking", "Filters:dave:breaking",
	})
	var changeID int64
	if err := testStore.db.NewRaw(`SELECT id FROM panel_changes WHERE panel_id = ? AND change_type = 'column_removed'`, f.p.ID).Scan(ctx, &changeID); err != nil {
		t.Fatal(err)
	}
	for _, n := range notes {
		if n.ChangeID == nil || *n.ChangeID != changeID {
			t.Errorf("notification %d: change_id %v, want %d", n.ID, n.ChangeID, changeID)
		}
		if n.IsRead || n.ReadAt != nil {
			t.Errorf("notification %d is born read", n.ID)
		}
		if n.ViewID == unused || n.ViewID == private {
			t.Errorf("view %q got a notification", f.names[n.ViewID])
		}
	}
	want := `Column "Email" was removed from panel "Diabetes"; view "Sorts by name" can no longer render as saved`
	if i := slices.IndexFunc(notes, func(n Notification) bool { return n.ViewID == sorts }); i < 0 || notes[i].Message != want {
		t.Errorf("message: %+v, want %q", notes, want)
	}
	// The references went after the views were found.
	if vis, s, _ := stViewRefs(t, sorts); len(s) != 0 || !slices.Equal(vis, []string{f.idA}) {
		t.Errorf("sorts view refs after removal: %v %v", vis, s)
	}
	if _, _, fl := stViewRefs(t, filters); len(fl) != 0 {
		t.Errorf("filters view refs after removal: %v", fl)
	}
}

func TestNotifyForceDeletedDependentsNotifyEach(t *testing.T) {
	ctx := t.Context()
	f := newNtFixture(t, "ntdependents")
	label := stCalc(t, f.alice, f.p.ID, "Label", `CONCAT([Email], "!")`)
	v := f.view(t, "bob", "Uses the dependent", true, fmt.Sprintf(`["%d"]`, label.ID))
	if err := testStore.DeleteColumn(ctx, f.alice, f.p.ID, f.email.ID, true, stAllowCol); err != nil {
		t.Fatal(err)
	}
	notes := ntNotes(t, f.tenant)
	ntWant(t, "dependent removal", ntWho(notes, f.names), []string{"Uses the dependent:bob:breaking"})
	if len(notes) == 1 && (notes[0].ViewID != v || !strings.Contains(notes[0].Message, `Column "Label" was removed`)) {
		t.Errorf("notification %+v", notes[0])
	}
	var changeID int64
	if err := testStore.db.NewRaw(`SELECT id FROM panel_changes WHERE panel_id = ? AND change_type = 'column_removed' AND entity_id = ?`,
		f.p.ID, label.ID).Scan(ctx, &changeID); err != nil {
		t.Fatal(err)
	}
	if len(notes) == 1 && (notes[0].ChangeID == nil || *notes[0].ChangeID != changeID) {
		t.Errorf("change id %v, want the dependent's change %d", notes[0].ChangeID, changeID)
	}
}

func TestNotifyColumnModifiedIsWarning(t *testing.T) {
	ctx := t.Context()
	f := newNtFixture(t, "ntmodify")
	f.view(t, "bob", "By name", true, `["Email"]`)
	f.view(t, "bob", "By id", true, fmt.Sprintf(`["%s"]`, f.idEmail))
	f.view(t, "bob", "Other column", true, fmt.Sprintf(`["%s"]`, f.idA))
	f.view(t, "bob", "Private", false, `["Email"]`)

	newName := "E-mail"
	if _, _, err := testStore.UpdateColumn(ctx, f.alice, f.p.ID, f.email.ID, stAllowCol, ColumnPatch{Name: &newName}); err != nil {
		t.Fatal(err)
	}
	notes := ntNotes(t, f.tenant)
	ntWant(t, "rename", ntWho(notes, f.names), []string{"By name:bob:warning", "By id:bob:warning"})
	for _, n := range notes {
		if want := fmt.Sprintf(`Column "E-mail" of panel "Diabetes" was modified (name); view %q uses it`, f.names[n.ViewID]); n.Message != want {
			t.Errorf("message %q, want %q", n.Message, want)
		}
	}
	// The rename rewrote the name reference, so a later change still reaches that view.
	typ := "number"
	if _, _, err := testStore.UpdateColumn(ctx, f.alice, f.p.ID, f.email.ID, stAllowCol, ColumnPatch{Type: &typ}); err != nil {
		t.Fatal(err)
	}
	if got := len(ntNotes(t, f.tenant)); got != 4 {
		t.Errorf("after a type change: %d notifications, want 4", got)
	}
	// A patch that changes nothing records nothing and notifies nobody.
	if _, _, err := testStore.UpdateColumn(ctx, f.alice, f.p.ID, f.email.ID, stAllowCol, ColumnPatch{Type: &typ}); err != nil {
		t.Fatal(err)
	}
	if got := len(ntNotes(t, f.tenant)); got != 4 {
		t.Errorf("after a no-op: %d notifications, want 4", got)
	}
}

func TestNotifyCohortAndDataSourceChangesAreInfo(t *testing.T) {
	ctx := t.Context()
	f := newNtFixture(t, "ntinfo")
	f.view(t, "bob", "Published", true, `[]`)
	shared := f.view(t, "bob", "Shared", false, `[]`)
	ntACL(t, f.tenant, "view", shared, "carol", "viewer")
	f.view(t, "bob", "Private", false, fmt.Sprintf(`["%s"]`, f.idEmail))
	f.view(t, "alice", "Actor's own", false, `[]`) // owned by the actor and unshared

	// A panel change that is not the cohort rule notifies nobody.
	other := "Renamed"
	if _, err := testStore.UpdatePanel(ctx, f.alice, f.p.ID, stAllow, PanelPatch{Name: &other}); err != nil {
		t.Fatal(err)
	}
	if n := ntNotes(t, f.tenant); len(n) != 0 {
		t.Fatalf("panel rename notified: %+v", n)
	}
	rule := CohortRule{Logic: "AND", Conditions: []CohortCondition{{Field: "Age", Operator: "gt", Value: 40}}}
	if _, err := testStore.UpdatePanel(ctx, f.alice, f.p.ID, stAllow, PanelPatch{CohortRule: &rule}); err != nil {
		t.Fatal(err)
	}
	notes := ntNotes(t, f.tenant)
	ntWant(t, "cohort", ntWho(notes, f.names), []string{"Published:bob:info", "Shared:bob:info", "Shared:carol:info"})
	if len(notes) > 0 && !strings.Contains(notes[0].Message, `cohort rule of panel "Renamed" changed`) {
		t.Errorf("message %q", notes[0].Message)
	}

	// A data source's configuration.
	if _, err := testStore.UpdateDataSource(ctx, f.alice, f.ds.ID, 0, stAllowDS,
		DataSourcePatch{Config: map[string]any{"endpoint": "/api/other", "method": "GET"}},
		func(string, map[string]any) error { return nil }); err != nil {
		t.Fatal(err)
	}
	notes = ntNotes(t, f.tenant)[3:]
	ntWant(t, "source changed", ntWho(notes, f.names), []string{"Published:bob:info", "Shared:bob:info", "Shared:carol:info"})
	if len(notes) > 0 && !strings.Contains(notes[0].Message, fmt.Sprintf("Data source %d (api) of panel", f.ds.ID)) {
		t.Errorf("message %q", notes[0].Message)
	}

	// Its removal (force: the detached columns are modified too, which warns views using them).
	if err := testStore.DeleteDataSource(ctx, f.alice, f.ds.ID, 0, true, stAllowDS); err != nil {
		t.Fatal(err)
	}
	notes = ntNotes(t, f.tenant)[6:]
	ntWant(t, "source removed", ntWho(notes, f.names), []string{"Published:bob:info", "Shared:bob:info", "Shared:carol:info"})
	if len(notes) > 0 && !strings.Contains(notes[0].Message, "was removed from panel") {
		t.Errorf("message %q", notes[0].Message)
	}
}

func TestNotifyDetachedColumnsWarnViewsUsingThem(t *testing.T) {
	ctx := t.Context()
	f := newNtFixture(t, "ntdetach")
	f.view(t, "bob", "Uses Email", true, `["Email"]`)
	if err := testStore.DeleteDataSource(ctx, f.alice, f.ds.ID, 0, true, stAllowDS); err != nil {
		t.Fatal(err)
	}
	ntWant(t, "detach", ntWho(ntNotes(t, f.tenant), f.names), []string{"Uses Email:bob:warning", "Uses Email:bob:info"})
}

func TestNotifyRecipients(t *testing.T) {
	ctx := t.Context()
	f := newNtFixture(t, "ntrecip")
	carol := stActor(f.tenant, "carol")
	// Panel rows: erin by email (no member record: stored as written), frank by sub.
	ntACL(t, f.tenant, "panel", f.p.ID, "erin@"+f.tenant+".example", "viewer")
	ntACL(t, f.tenant, "panel", f.p.ID, "frank", "editor")
	ntACL(t, f.tenant, "panel", f.p.ID, carol.Email, "editor")
	// A view shared by sub with gina; owner bob.
	v := f.view(t, "bob", "Shared", false, `["Email"]`)
	ntACL(t, f.tenant, "view", v, "gina", "viewer")
	// A view shared only with its owner (by sub and by email) is not shared.
	own := f.view(t, "bob", "Only mine", false, `["Email"]`)
	ntACL(t, f.tenant, "view", own, "bob", "owner")
	ntMember(t, f.tenant, "bob", f.bob.Email)
	ntACL(t, f.tenant, "view", own, f.bob.Email, "editor")

	// carol (a panel editor named by email) acts: she is never notified; alice is found through
	// the owner row CreatePanel wrote (its email), so she gets one notification under her sub.
	if err := testStore.DeleteColumn(ctx, carol, f.p.ID, f.email.ID, false, stAllowCol); err != nil {
		t.Fatal(err)
	}
	ntWant(t, "recipients", ntWho(ntNotes(t, f.tenant), f.names), []string{
		"Shared:bob:breaking", "Shared:gina:breaking", "Shared:frank:breaking", "Shared:alice:breaking",
		"Shared:erin@" + f.tenant + ".example:breaking",
	})
}

func TestNotifyPanelAllReachesEveryMember(t *testing.T) {
	ctx := t.Context()
	f := newNtFixture(t, "ntpanelall")
	ntMember(t, f.tenant, "zed", "")
	ntMember(t, f.tenant, "yan", "YAN@"+f.tenant+".example")
	ntACL(t, f.tenant, "panel", f.p.ID, allPrincipal, "viewer")
	v := f.view(t, "bob", "Shared", false, `[]`)
	ntACL(t, f.tenant, "view", v, "yan@"+f.tenant+".example", "viewer") // the member's email, other case
	f.view(t, "bob", "Private", false, `[]`)
	rule := CohortRule{Logic: "OR", Conditions: []CohortCondition{}}
	if _, err := testStore.UpdatePanel(ctx, f.alice, f.p.ID, stAllow, PanelPatch{CohortRule: &rule}); err != nil {
		t.Fatal(err)
	}
	ntWant(t, "panel _all", ntWho(ntNotes(t, f.tenant), f.names), []string{"Shared:bob:info", "Shared:yan:info", "Shared:zed:info"})
}

func TestNotifyDedupesAPersonNamedBySubAndEmail(t *testing.T) {
	ctx := t.Context()
	f := newNtFixture(t, "ntdedupe")
	hank := stActor(f.tenant, "hank")
	ntMember(t, f.tenant, "hank", strings.ToUpper(hank.Email))
	// bob's view, written with its owner row (his email, no member record) like CreateView does.
	v := ntView(t, f.p, "bob", "Dupes", false, `["Email"]`, f.bob.Email)
	f.names[v] = "Dupes"
	ntACL(t, f.tenant, "view", v, "hank", "viewer")
	ntACL(t, f.tenant, "view", v, hank.Email, "editor")
	ntACL(t, f.tenant, "panel", f.p.ID, hank.Email, "viewer")
	ntACL(t, f.tenant, "panel", f.p.ID, f.bob.Email, "viewer")
	// A view with only its owner row is not shared.
	lone := ntView(t, f.p, "bob", "Lone", false, `["Email"]`, f.bob.Email)
	f.names[lone] = "Lone"

	newName := "Mail"
	if _, _, err := testStore.UpdateColumn(ctx, f.alice, f.p.ID, f.email.ID, stAllowCol, ColumnPatch{Name: &newName}); err != nil {
		t.Fatal(err)
	}
	ntWant(t, "dedupe", ntWho(ntNotes(t, f.tenant), f.names), []string{"Dupes:bob:warning", "Dupes:hank:warning"})
}

// TestNotifyOnlyTheCreatorRowNamesTheOwner: a row granted in the transaction that created the
// view shares its created_at, yet it names someone else, who is a recipient of their own and
// makes the view shared.
func TestNotifyOnlyTheCreatorRowNamesTheOwner(t *testing.T) {
	ctx := t.Context()
	f := newNtFixture(t, "ntcreator")
	carol := "carol@" + f.tenant + ".example"
	var v int64
	if err := testStore.db.NewRaw(`WITH v AS (
			INSERT INTO views (tenant_id, panel_id, owner_user_id, name, visible_columns)
			VALUES (?, ?, 'bob', 'Granted at once', '["Email"]'::jsonb) RETURNING id, tenant_id),
		o AS (INSERT INTO acls (tenant_id, resource_type, resource_id, view_id, user_email, permission, creator)
			SELECT v.tenant_id, 'view', v.id, v.id, ?, 'owner', true FROM v),
		g AS (INSERT INTO acls (tenant_id, resource_type, resource_id, view_id, user_email, permission)
			SELECT v.tenant_id, 'view', v.id, v.id, ?, 'viewer' FROM v)
		SELECT id FROM v`, f.tenant, f.p.ID, f.bob.Email, carol).Scan(ctx, &v); err != nil {
		t.Fatal(err)
	}
	f.names[v] = "Granted at once"
	newName := "Mail"
	if _, _, err := testStore.UpdateColumn(ctx, f.alice, f.p.ID, f.email.ID, stAllowCol, ColumnPatch{Name: &newName}); err != nil {
		t.Fatal(err)
	}
	ntWant(t, "creator", ntWho(ntNotes(t, f.tenant), f.names), []string{"Granted at once:bob:warning", "Granted at once:" + carol + ":warning"})
}

func TestNotifyNeverTheActor(t *testing.T) {
	ctx := t.Context()
	f := newNtFixture(t, "ntactor")
	ntMember(t, f.tenant, "alice", strings.ToUpper(f.alice.Email))
	v := f.view(t, "alice", "Mine, published", true, `["Email"]`)
	ntACL(t, f.tenant, "view", v, strings.ToUpper(f.alice.Email), "owner")
	ntACL(t, f.tenant, "view", v, "alice", "owner")
	if err := testStore.DeleteColumn(ctx, f.alice, f.p.ID, f.email.ID, false, stAllowCol); err != nil {
		t.Fatal(err)
	}
	if n := ntNotes(t, f.tenant); len(n) != 0 {
		t.Errorf("the actor was notified: %+v", n)
	}
}

func TestNotifyIsPartOfTheMutationsTransaction(t *testing.T) {
	ctx := t.Context()
	f := newNtFixture(t, "failnotify")
	// A later step of DeleteColumn (deleting the column rows) fails for this tenant only.
	if _, err := testStore.db.ExecContext(ctx, `
		CREATE OR REPLACE FUNCTION test_fail_column_delete() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF OLD.tenant_id LIKE 'failnotify-%' THEN
				RAISE EXCEPTION 'column deletes of this tenant fail (test trigger)';
			END IF;
			RETURN OLD;
		END $$;
		DROP TRIGGER IF EXISTS test_fail_column_delete ON columns;
		CREATE TRIGGER test_fail_column_delete BEFORE DELETE ON columns
			FOR EACH ROW EXECUTE FUNCTION test_fail_column_delete();`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = testStore.db.ExecContext(t.Context(), `DROP TRIGGER IF EXISTS test_fail_column_delete ON columns`)
	})
	v := f.view(t, "bob", "Published", true, fmt.Sprintf(`["%s"]`, f.idEmail))
	if err := testStore.DeleteColumn(ctx, f.alice, f.p.ID, f.email.ID, false, stAllowCol); err == nil {
		t.Fatal("delete succeeded despite the failing trigger")
	}
	if n := ntNotes(t, f.tenant); len(n) != 0 {
		t.Errorf("a failed delete left notifications: %+v", n)
	}
	if vis, _, _ := stViewRefs(t, v); !slices.Equal(vis, []string{f.idEmail}) {
		t.Errorf("a failed delete stripped references: %v", vis)
	}
	// A refused change (its check fails) notifies nobody either.
	refuse := func(*Column, map[int64]string) error { return ErrForbidden }
	if err := testStore.DeleteColumn(ctx, f.alice, f.p.ID, f.age.ID, false, refuse); !errors.Is(err, ErrForbidden) {
		t.Fatalf("refused delete: %v", err)
	}
	bad := errors.New("invalid config")
	if _, err := testStore.UpdateDataSource(ctx, f.alice, f.ds.ID, 0, stAllowDS,
		DataSourcePatch{Config: map[string]any{"endpoint": "/x", "method": "GET"}},
		func(string, map[string]any) error { return bad }); !errors.Is(err, bad) {
		t.Fatalf("invalid update: %v", err)
	}
	if n := ntNotes(t, f.tenant); len(n) != 0 {
		t.Errorf("refused changes left notifications: %+v", n)
	}
}

func TestListAndMarkNotifications(t *testing.T) {
	ctx := t.Context()
	f := newNtFixture(t, "ntlist")
	carol := stActor(f.tenant, "carol")
	v := f.view(t, "bob", "Published", true, fmt.Sprintf(`["%s", "%s"]`, f.idEmail, f.idA))
	ntACL(t, f.tenant, "view", v, carol.Email, "viewer") // carol by email, no member: stored under her email
	rule := CohortRule{Logic: "OR", Conditions: []CohortCondition{}}
	if _, err := testStore.UpdatePanel(ctx, f.alice, f.p.ID, stAllow, PanelPatch{CohortRule: &rule}); err != nil {
		t.Fatal(err)
	}
	typ := "number"
	if _, _, err := testStore.UpdateColumn(ctx, f.alice, f.p.ID, f.age.ID, stAllowCol, ColumnPatch{Type: &typ}); err != nil {
		t.Fatal(err)
	}
	if err := testStore.DeleteColumn(ctx, f.alice, f.p.ID, f.email.ID, false, stAllowCol); err != nil {
		t.Fatal(err)
	}
	// Another tenant's notification for a "bob" never shows.
	g := newNtFixture(t, "ntlistother")
	g.view(t, "bob", "Elsewhere", true, `[]`)
	if _, err := testStore.UpdatePanel(ctx, g.alice, g.p.ID, stAllow, PanelPatch{CohortRule: &rule}); err != nil {
		t.Fatal(err)
	}

	page, err := testStore.ListNotifications(ctx, f.bob, NotificationFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var impacts []string
	for _, n := range page.Notifications {
		impacts = append(impacts, n.Impact)
		if n.UserID != "bob" || n.ViewName != "Published" || n.ViewPanelID != f.p.ID || n.ViewPublishedBy == nil || *n.ViewPublishedBy != "bob" {
			t.Errorf("notification %+v", n)
		}
	}
	if !slices.Equal(impacts, []string{"breaking", "warning", "info"}) || page.Total != 3 || page.UnreadCount != 3 || page.HasMore || page.TotalCapped {
		t.Fatalf("bob's page: impacts %v total %d unread %d more %v", impacts, page.Total, page.UnreadCount, page.HasMore)
	}
	// carol's are stored under her email and found by it.
	cp, err := testStore.ListNotifications(ctx, carol, NotificationFilter{Limit: 100})
	if err != nil || cp.Total != 3 || cp.Notifications[0].UserID != carol.Email {
		t.Fatalf("carol's page: %+v %v", cp, err)
	}

	// Filters and paging.
	wf, _ := testStore.ListNotifications(ctx, f.bob, NotificationFilter{Limit: 100, Impact: ImpactWarning})
	if wf.Total != 1 || len(wf.Notifications) != 1 || wf.Notifications[0].Impact != ImpactWarning || wf.UnreadCount != 3 {
		t.Errorf("impact filter: %+v", wf)
	}
	p1, _ := testStore.ListNotifications(ctx, f.bob, NotificationFilter{Limit: 2})
	if len(p1.Notifications) != 2 || !p1.HasMore || p1.Total != 3 {
		t.Fatalf("first page: %+v", p1)
	}
	last := p1.Notifications[1]
	p2, _ := testStore.ListNotifications(ctx, f.bob, NotificationFilter{Limit: 2, After: &NotificationCursor{CreatedAt: last.CreatedAt, ID: last.ID}})
	if len(p2.Notifications) != 1 || p2.HasMore || p2.Notifications[0].ID != page.Notifications[2].ID {
		t.Errorf("cursor page: %+v", p2)
	}
	p3, _ := testStore.ListNotifications(ctx, f.bob, NotificationFilter{Limit: 2, Offset: 2})
	if len(p3.Notifications) != 1 || p3.Notifications[0].ID != page.Notifications[2].ID {
		t.Errorf("offset page: %+v", p3)
	}
	future := time.Now().Add(time.Hour)
	if sp, _ := testStore.ListNotifications(ctx, f.bob, NotificationFilter{Limit: 10, Since: &future}); sp.Total != 0 || len(sp.Notifications) != 0 {
		t.Errorf("since the future: %+v", sp)
	}
	past := time.Now().Add(-time.Hour)
	if sp, _ := testStore.ListNotifications(ctx, f.bob, NotificationFilter{Limit: 10, Since: &past}); sp.Total != 3 {
		t.Errorf("since an hour ago: %+v", sp)
	}

	// Mark read: own ids only.
	ids := []int64{page.Notifications[0].ID, page.Notifications[1].ID, cp.Notifications[0].ID, 1 << 60}
	n, err := testStore.MarkNotificationsRead(ctx, f.bob, ids)
	if err != nil || n != 2 {
		t.Fatalf("mark read: %d %v, want 2", n, err)
	}
	if n, _ := testStore.MarkNotificationsRead(ctx, f.bob, ids); n != 0 {
		t.Errorf("marking again: %d, want 0", n)
	}
	if n, _ := testStore.MarkNotificationsRead(ctx, f.bob, nil); n != 0 {
		t.Errorf("no ids: %d", n)
	}
	// Another tenant's bob cannot touch them either way.
	if n, _ := testStore.MarkNotificationsRead(ctx, g.bob, []int64{page.Notifications[2].ID}); n != 0 {
		t.Errorf("another tenant's bob marked %d", n)
	}
	cp2, _ := testStore.ListNotifications(ctx, carol, NotificationFilter{Limit: 100})
	if cp2.UnreadCount != 3 {
		t.Errorf("carol's unread after bob marked her id: %d, want 3", cp2.UnreadCount)
	}
	read := true
	rp, _ := testStore.ListNotifications(ctx, f.bob, NotificationFilter{Limit: 100, IsRead: &read})
	if rp.Total != 2 || rp.UnreadCount != 1 || rp.Notifications[0].ReadAt == nil || !rp.Notifications[0].IsRead {
		t.Errorf("read filter: %+v", rp)
	}
	unread := false
	if up, _ := testStore.ListNotifications(ctx, f.bob, NotificationFilter{Limit: 100, IsRead: &unread}); up.Total != 1 || up.Notifications[0].ID != page.Notifications[2].ID {
		t.Errorf("unread filter: %+v", up)
	}
	if op, _ := testStore.ListNotifications(ctx, g.bob, NotificationFilter{Limit: 100}); op.Total != 1 || op.Notifications[0].ViewName != "Elsewhere" {
		t.Errorf("another tenant's bob: %+v", op)
	}
}
