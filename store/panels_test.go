package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

type stACLRow struct {
	ResourceType string `bun:"resource_type"`
	ResourceID   int64  `bun:"resource_id"`
	PanelID      *int64 `bun:"panel_id"`
	UserEmail    string `bun:"user_email"`
	Permission   string `bun:"permission"`
}

func stACLs(t *testing.T, tenant string, panelID int64) []stACLRow {
	t.Helper()
	var rows []stACLRow
	if err := testStore.db.NewRaw(`SELECT resource_type, resource_id, panel_id, user_email, permission FROM acls
		WHERE tenant_id = ? AND panel_id = ? ORDER BY id`, tenant, panelID).Scan(t.Context(), &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

func stChanges(t *testing.T, panelID int64) []Change {
	t.Helper()
	var rows []Change
	if err := testStore.db.NewSelect().Model(&rows).Where("panel_id = ?", panelID).OrderExpr("id").Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	return rows
}

func stGrant(t *testing.T, tenant string, panelID int64, principal, permission string) {
	t.Helper()
	if _, err := testStore.db.ExecContext(t.Context(), `INSERT INTO acls (tenant_id, resource_type, resource_id, panel_id, user_email, permission)
		VALUES (?, 'panel', ?, ?, ?, ?)`, tenant, panelID, panelID, principal, permission); err != nil {
		t.Fatalf("grant %s %s on %d: %v", principal, permission, panelID, err)
	}
}

func TestCreatePanelWritesOwnerACLAndChange(t *testing.T) {
	tenant := stTenant("create")
	for _, tc := range []struct {
		name, email, wantPrincipal string
	}{
		{"with email", "Alice.Smith@Clinic.example", "alice.smith@clinic.example"},
		{"sub only", "", "user-alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Actor{TenantID: tenant, UserID: "user-alice", Email: tc.email}
			p := &Panel{Name: "Diabetes " + tc.name}
			if err := testStore.CreatePanel(t.Context(), a, p); err != nil {
				t.Fatal(err)
			}
			if p.ID == 0 || p.TenantID != tenant || p.OwnerUserID != "user-alice" || p.Level != PermOwner {
				t.Errorf("created panel %+v", p)
			}
			if p.CohortRule.Logic != "AND" || p.CohortRule.Conditions == nil || len(p.CohortRule.Conditions) != 0 || p.Metadata == nil {
				t.Errorf("defaults not applied: cohort %+v metadata %v", p.CohortRule, p.Metadata)
			}
			if p.CreatedAt.IsZero() || p.UpdatedAt.IsZero() {
				t.Errorf("timestamps not returned: %+v", p)
			}
			acls := stACLs(t, tenant, p.ID)
			want := []stACLRow{{ResourceType: "panel", ResourceID: p.ID, PanelID: &p.ID, UserEmail: tc.wantPrincipal, Permission: "owner"}}
			if len(acls) != 1 || acls[0].ResourceType != want[0].ResourceType || acls[0].ResourceID != p.ID ||
				acls[0].PanelID == nil || *acls[0].PanelID != p.ID || acls[0].UserEmail != tc.wantPrincipal || acls[0].Permission != "owner" {
				t.Errorf("owner ACL rows %+v, want %+v", acls, want)
			}
			changes := stChanges(t, p.ID)
			if len(changes) != 1 {
				t.Fatalf("changes %+v, want one panel_created", changes)
			}
			c := changes[0]
			if c.ChangeType != ChangePanelCreated || c.EntityType != EntityPanel || c.EntityID != p.ID || c.Action != ActionCreate ||
				c.TenantID != tenant || c.PanelName != p.Name || c.ChangedBy != "user-alice" || c.NewValues["name"] != p.Name || c.OldValues != nil {
				t.Errorf("panel_created change %+v", c)
			}
			if (tc.email == "") != (c.ChangedByEmail == nil) {
				t.Errorf("changed_by_email %v for email %q", c.ChangedByEmail, tc.email)
			}
			// The owner reads it back with the owner level.
			got, err := testStore.PanelAccess(t.Context(), Actor{TenantID: tenant, UserID: "someone-else", Email: tc.wantPrincipal}, p.ID)
			if tc.email != "" && (err != nil || got.Level != PermOwner) {
				t.Errorf("owner by email: %v %+v", err, got)
			}
		})
	}
}

func TestCreatePanelIsOneTransaction(t *testing.T) {
	ctx := t.Context()
	// The change row fails: the panel and its owner ACL must not stay behind.
	failing := failChangeTenantPrefix + stTenant("create")
	err := testStore.CreatePanel(ctx, stActor(failing, "alice"), &Panel{Name: "Doomed"})
	if err == nil {
		t.Fatal("create panel succeeded although its change row failed")
	}
	if n := stCount(t, `SELECT count(*) FROM panels WHERE tenant_id = ?`, failing); n != 0 {
		t.Errorf("%d panels left behind by a failed create", n)
	}
	if n := stCount(t, `SELECT count(*) FROM acls WHERE tenant_id = ?`, failing); n != 0 {
		t.Errorf("%d ACL rows left behind by a failed create", n)
	}
	// The owner ACL fails (principal too long): no panel, no change row.
	tenant := stTenant("create")
	long := Actor{TenantID: tenant, UserID: "bob", Email: strings.Repeat("b", 330) + "@example.com"}
	if err := testStore.CreatePanel(ctx, long, &Panel{Name: "Doomed"}); err == nil {
		t.Fatal("create panel succeeded although its ACL row failed")
	}
	if n := stCount(t, `SELECT count(*) FROM panels WHERE tenant_id = ?`, tenant); n != 0 {
		t.Errorf("%d panels left behind by a failed create", n)
	}
	if n := stCount(t, `SELECT count(*) FROM panel_changes WHERE tenant_id = ?`, tenant); n != 0 {
		t.Errorf("%d change rows left behind by a failed create", n)
	}
}

func TestUpdatePanelRecordsChanges(t *testing.T) {
	ctx := t.Context()
	a := stActor(stTenant("update"), "alice")
	p := stPanel(t, a, "Before")

	name, desc := "After", "Patients due"
	got, err := testStore.UpdatePanel(ctx, a, p.ID, func(locked *Panel) error {
		if locked.Level != PermOwner || locked.Name != "Before" {
			return fmt.Errorf("check saw %+v", locked)
		}
		return nil
	}, PanelPatch{Name: &name, SetDescription: true, Description: &desc, Metadata: map[string]any{"color": "blue"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "After" || got.Description == nil || *got.Description != desc || got.Metadata["color"] != "blue" {
		t.Errorf("updated panel %+v", got)
	}
	if !got.UpdatedAt.After(p.CreatedAt) && !got.UpdatedAt.Equal(p.CreatedAt) {
		t.Errorf("updated_at %v before created_at %v", got.UpdatedAt, p.CreatedAt)
	}
	changes := stChanges(t, p.ID)
	last := changes[len(changes)-1]
	if last.ChangeType != ChangePanelUpdated || last.OldValues["name"] != "Before" || last.NewValues["name"] != "After" {
		t.Errorf("panel_updated change %+v", last)
	}
	if _, ok := last.NewValues["cohortRule"]; ok {
		t.Errorf("unchanged cohort rule recorded: %+v", last.NewValues)
	}

	// A cohort-only change is cohort_changed, not panel_updated.
	rule := CohortRule{Logic: "OR", Conditions: []CohortCondition{{Field: "age", Operator: "gte", Value: 65}}}
	cohortChanged, err := testStore.UpdatePanel(ctx, a, p.ID, stAllow, PanelPatch{CohortRule: &rule})
	if err != nil {
		t.Fatal(err)
	}
	// The same values again change nothing: updated_at stays, no history row.
	before := len(stChanges(t, p.ID))
	same, err := testStore.UpdatePanel(ctx, a, p.ID, stAllow, PanelPatch{Name: &name, CohortRule: &rule, Metadata: map[string]any{"color": "blue"}})
	if err != nil {
		t.Fatal(err)
	}
	if !same.UpdatedAt.Equal(cohortChanged.UpdatedAt) {
		t.Errorf("no-op update: updated_at %v -> %v", cohortChanged.UpdatedAt, same.UpdatedAt)
	}
	if types := stChangeTypes(t, p.ID); !slices.Equal(types, []string{ChangePanelCreated, ChangePanelUpdated, ChangeCohortChanged}) || len(types) != before {
		t.Errorf("change types %v", types)
	}
}

func TestFailingCheckChangesNothing(t *testing.T) {
	ctx := t.Context()
	a := stActor(stTenant("check"), "alice")
	p := stPanel(t, a, "Guarded")
	refuse := fmt.Errorf("updating a panel needs editor: %w", ErrForbidden)
	stale := ErrPrecondition

	for _, checkErr := range []error{refuse, stale} {
		name := "Changed"
		_, err := testStore.UpdatePanel(ctx, a, p.ID, func(*Panel) error { return checkErr }, PanelPatch{Name: &name, Metadata: map[string]any{"x": 1}})
		if !errors.Is(err, checkErr) {
			t.Errorf("update with a failing check: %v, want %v", err, checkErr)
		}
		if err := testStore.DeletePanel(ctx, a, p.ID, func(*Panel) error { return checkErr }); !errors.Is(err, checkErr) {
			t.Errorf("delete with a failing check: %v, want %v", err, checkErr)
		}
	}
	got, err := testStore.PanelAccess(ctx, a, p.ID)
	if err != nil {
		t.Fatalf("panel gone after refused delete: %v", err)
	}
	if got.Name != "Guarded" || !got.UpdatedAt.Equal(p.UpdatedAt) || len(got.Metadata) != 0 {
		t.Errorf("refused update changed the panel: %+v", got)
	}
	if types := stChangeTypes(t, p.ID); !slices.Equal(types, []string{ChangePanelCreated}) {
		t.Errorf("refused operations recorded changes: %v", types)
	}
	if n := len(stACLs(t, a.TenantID, p.ID)); n != 1 {
		t.Errorf("refused delete removed ACL rows: %d left", n)
	}
	// Another tenant's caller never reaches the check.
	called := false
	_, err = testStore.UpdatePanel(ctx, stActor(stTenant("other"), "alice"), p.ID, func(*Panel) error { called = true; return nil }, PanelPatch{})
	if !errors.Is(err, ErrNotFound) || called {
		t.Errorf("other tenant: %v (check called %v), want ErrNotFound", err, called)
	}
}

func TestDeletePanelCascadesButKeepsHistory(t *testing.T) {
	ctx := t.Context()
	a := stActor(stTenant("delete"), "alice")
	p := stPanel(t, a, "Doomed panel")
	keep := stPanel(t, a, "Bystander")
	for _, panel := range []*Panel{p, keep} {
		ds := stDataSource(t, a, panel.ID)
		base := stBase(t, a, panel.ID, ds.ID, "Age", "age")
		stCalc(t, a, panel.ID, "Age next year", "[Age] + 1")
		view := stView(t, panel, fmt.Sprintf(`["Age", "%d"]`, base.ID))
		stSort(t, view, "Age", 0)
		stFilter(t, view, fmt.Sprint(base.ID), 0)
		if _, err := testStore.db.ExecContext(ctx, `INSERT INTO acls (tenant_id, resource_type, resource_id, view_id, user_email, permission)
			VALUES (?, 'view', ?, ?, 'bob@x.example', 'viewer')`, a.TenantID, view, view); err != nil {
			t.Fatal(err)
		}
		if _, err := testStore.db.ExecContext(ctx, `INSERT INTO view_notifications (tenant_id, view_id, user_id, impact, message)
			VALUES (?, ?, 'bob', 'info', 'hello')`, a.TenantID, view); err != nil {
			t.Fatal(err)
		}
		stGrant(t, a.TenantID, panel.ID, "bob@x.example", "editor")
		stGrant(t, a.TenantID, panel.ID, allPrincipal, "viewer")
	}
	historyBefore := len(stChanges(t, p.ID))

	counts := func(id int64) map[string]int {
		return map[string]int{
			"data_sources":       stCount(t, `SELECT count(*) FROM data_sources WHERE panel_id = ?`, id),
			"columns":            stCount(t, `SELECT count(*) FROM columns WHERE panel_id = ?`, id),
			"views":              stCount(t, `SELECT count(*) FROM views WHERE panel_id = ?`, id),
			"view_sorts":         stCount(t, `SELECT count(*) FROM view_sorts s JOIN views v ON v.id = s.view_id WHERE v.panel_id = ?`, id),
			"view_filters":       stCount(t, `SELECT count(*) FROM view_filters f JOIN views v ON v.id = f.view_id WHERE v.panel_id = ?`, id),
			"view_notifications": stCount(t, `SELECT count(*) FROM view_notifications n JOIN views v ON v.id = n.view_id WHERE v.panel_id = ?`, id),
			"panel acls":         stCount(t, `SELECT count(*) FROM acls WHERE panel_id = ?`, id),
		}
	}
	for k, n := range counts(p.ID) {
		if n == 0 {
			t.Fatalf("fixture: no %s before the delete", k)
		}
	}
	var viewIDs []int64
	if err := testStore.db.NewRaw(`SELECT coalesce(array_agg(id), '{}') FROM views WHERE panel_id = ?`, p.ID).Scan(ctx, pgdialect.Array(&viewIDs)); err != nil {
		t.Fatal(err)
	}

	if err := testStore.DeletePanel(ctx, a, p.ID, func(locked *Panel) error {
		if locked.Level != PermOwner {
			return fmt.Errorf("check saw level %v", locked.Level)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.PanelAccess(ctx, a, p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted panel still readable: %v", err)
	}
	for k, n := range counts(p.ID) {
		if n != 0 {
			t.Errorf("%d %s left after deleting the panel", n, k)
		}
	}
	if n := stCount(t, `SELECT count(*) FROM acls WHERE view_id IN (?)`, bun.List(viewIDs)); n != 0 {
		t.Errorf("%d view ACL rows left after deleting the panel", n)
	}
	if n := stCount(t, `SELECT count(*) FROM view_notifications WHERE view_id IN (?)`, bun.List(viewIDs)); n != 0 {
		t.Errorf("%d notifications left after deleting the panel", n)
	}
	history := stChanges(t, p.ID)
	if len(history) != historyBefore+1 {
		t.Errorf("history has %d rows after delete, want %d (kept) + 1", len(history), historyBefore)
	}
	if last := history[len(history)-1]; last.ChangeType != ChangePanelDeleted || last.Action != ActionDelete || last.PanelName != "Doomed panel" || last.OldValues["name"] != "Doomed panel" {
		t.Errorf("panel_deleted change %+v", last)
	}
	for k, n := range counts(keep.ID) {
		if n == 0 {
			t.Errorf("deleting one panel removed the other panel's %s", k)
		}
	}
	if err := testStore.DeletePanel(ctx, a, p.ID, stAllow); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting again: %v, want ErrNotFound", err)
	}
}

func TestListPanelsKeysetPagination(t *testing.T) {
	ctx := t.Context()
	a := stActor(stTenant("pages"), "alice")
	const n = 23
	for i := range n {
		stPanel(t, a, fmt.Sprintf("Panel %02d", i))
	}
	// Ties on created_at must be broken by id: give a third of them the same instant.
	if _, err := testStore.db.ExecContext(ctx, `UPDATE panels SET created_at = '2026-01-02T03:04:05.123456Z' WHERE tenant_id = ? AND id % 3 = 0`, a.TenantID); err != nil {
		t.Fatal(err)
	}
	var want []int64
	if err := testStore.db.NewRaw(`SELECT array_agg(id ORDER BY created_at DESC, id DESC) FROM panels WHERE tenant_id = ?`, a.TenantID).
		Scan(ctx, pgdialect.Array(&want)); err != nil {
		t.Fatal(err)
	}
	if len(want) != n {
		t.Fatalf("fixture: %d panels", len(want))
	}
	for _, size := range []int{1, 4, 7, n, n + 5} {
		var got []int64
		seen := map[int64]bool{}
		var after *PanelCursor
		for pages := 0; ; pages++ {
			if pages > n+1 {
				t.Fatalf("page size %d: paging does not end", size)
			}
			page, err := testStore.ListPanels(ctx, a, after, size)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > size {
				t.Fatalf("page size %d: got %d panels", size, len(page))
			}
			for _, p := range page {
				if seen[p.ID] {
					t.Errorf("page size %d: panel %d listed twice", size, p.ID)
				}
				seen[p.ID] = true
				got = append(got, p.ID)
			}
			if len(page) < size {
				break
			}
			last := page[len(page)-1]
			after = &PanelCursor{CreatedAt: last.CreatedAt, ID: last.ID}
		}
		if !slices.Equal(got, want) {
			t.Errorf("page size %d: walked %v, want %v", size, got, want)
		}
	}
	// A cursor past the end is an empty page, not an error.
	page, err := testStore.ListPanels(ctx, a, &PanelCursor{CreatedAt: time.Unix(0, 0), ID: 1}, 10)
	if err != nil || len(page) != 0 {
		t.Errorf("cursor past the end: %d panels, %v", len(page), err)
	}
}

func TestListPanelsVisibility(t *testing.T) {
	ctx := t.Context()
	tenant, other := stTenant("vis"), stTenant("vis-other")
	alice, bob, carol := stActor(tenant, "alice"), stActor(tenant, "bob"), stActor(tenant, "carol")
	bob.Email = "bob@" + tenant + ".example"
	noEmail := Actor{TenantID: tenant, UserID: "dave"}
	admin := Actor{TenantID: tenant, UserID: "root", Admin: true}

	aliceOwn := stPanel(t, alice, "alice own")
	bobOwn := stPanel(t, bob, "bob own")
	byEmail := stPanel(t, alice, "shared with bob by email")
	stGrant(t, tenant, byEmail.ID, bob.Email, "viewer")
	bySub := stPanel(t, carol, "shared with bob by sub (legacy row)")
	stGrant(t, tenant, bySub.ID, "bob", "editor")
	byAll := stPanel(t, carol, "shared with everyone")
	stGrant(t, tenant, byAll.ID, allPrincipal, "viewer")
	toDave := stPanel(t, carol, "shared with dave's sub")
	stGrant(t, tenant, toDave.ID, "dave", "viewer")

	// The other tenant has a panel shared with everyone and with bob (same sub and email), and an
	// ACL row of this tenant that (wrongly) points at it: none of it may ever show here.
	otherBob := Actor{TenantID: other, UserID: "bob", Email: bob.Email}
	foreign := stPanel(t, otherBob, "foreign")
	stGrant(t, other, foreign.ID, allPrincipal, "viewer")
	if _, err := testStore.db.ExecContext(ctx, `INSERT INTO acls (tenant_id, resource_type, resource_id, panel_id, user_email, permission)
		VALUES (?, 'panel', ?, ?, ?, 'owner')`, tenant, foreign.ID, foreign.ID, bob.Email); err != nil {
		t.Fatal(err)
	}

	ids := func(a Actor) []int64 {
		t.Helper()
		list, err := testStore.ListPanels(ctx, a, nil, 1000)
		if err != nil {
			t.Fatal(err)
		}
		out := []int64{}
		for _, p := range list {
			if p.TenantID != a.TenantID {
				t.Errorf("%s sees panel %d of tenant %s", a.UserID, p.ID, p.TenantID)
			}
			out = append(out, p.ID)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(ps ...*Panel) []int64 {
		out := []int64{}
		for _, p := range ps {
			out = append(out, p.ID)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		who  string
		a    Actor
		want []int64
	}{
		{"alice", alice, sorted(aliceOwn, byEmail, byAll)},
		{"bob", bob, sorted(bobOwn, byEmail, bySub, byAll)},
		{"bob with an upper-case email", Actor{TenantID: tenant, UserID: "bob", Email: strings.ToUpper(bob.Email)}, sorted(bobOwn, byEmail, bySub, byAll)},
		{"carol", carol, sorted(bySub, byAll, toDave)},
		{"dave (no email)", noEmail, sorted(byAll, toDave)},
		{"admin", admin, sorted(aliceOwn, bobOwn, byEmail, bySub, byAll, toDave)},
		{"stranger", stActor(tenant, "erin"), sorted(byAll)},
		{"bob of the other tenant", otherBob, sorted(foreign)},
		{"admin of the other tenant", Actor{TenantID: other, UserID: "root", Admin: true}, sorted(foreign)},
		{"a third tenant", Actor{TenantID: stTenant("vis-third"), UserID: "bob", Email: bob.Email, Admin: true}, sorted()},
	} {
		if got := ids(tc.a); !slices.Equal(got, tc.want) {
			t.Errorf("%s sees %v, want %v", tc.who, got, tc.want)
		}
	}
	if _, err := testStore.PanelAccess(ctx, bob, foreign.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob reads the foreign panel through a cross-tenant ACL row: %v", err)
	}
}

func TestPanelAccessLevels(t *testing.T) {
	ctx := t.Context()
	tenant := stTenant("levels")
	owner := stActor(tenant, "olive")
	p := stPanel(t, owner, "Levels")
	viewer, editor, coOwner, mixed := stActor(tenant, "vera"), stActor(tenant, "ed"), stActor(tenant, "otto"), stActor(tenant, "max")
	stGrant(t, tenant, p.ID, viewer.Email, "viewer")
	stGrant(t, tenant, p.ID, editor.Email, "editor")
	stGrant(t, tenant, p.ID, "otto", "owner") // by sub
	stGrant(t, tenant, p.ID, mixed.Email, "viewer")
	stGrant(t, tenant, p.ID, "max", "editor")

	for _, tc := range []struct {
		who  string
		a    Actor
		want Permission
	}{
		{"creator", owner, PermOwner},
		{"viewer by email", viewer, PermViewer},
		{"viewer by upper-case email", Actor{TenantID: tenant, UserID: "vera", Email: strings.ToUpper(viewer.Email)}, PermViewer},
		{"editor by email", editor, PermEditor},
		{"owner by sub", coOwner, PermOwner},
		{"best of email and sub rows", mixed, PermEditor},
		{"admin", Actor{TenantID: tenant, UserID: "root", Admin: true}, PermOwner},
	} {
		got, err := testStore.PanelAccess(ctx, tc.a, p.ID)
		if err != nil || got.Level != tc.want {
			t.Errorf("%s: level %v (%v), want %v", tc.who, levelOf(got), err, tc.want)
		}
	}
	// _all raises everyone to at least its level; a better personal row still wins.
	stGrant(t, tenant, p.ID, allPrincipal, "editor")
	for _, tc := range []struct {
		who  string
		a    Actor
		want Permission
	}{
		{"stranger through _all", stActor(tenant, "sam"), PermEditor},
		{"viewer raised by _all", viewer, PermEditor},
		{"owner by sub over _all", coOwner, PermOwner},
	} {
		got, err := testStore.PanelAccess(ctx, tc.a, p.ID)
		if err != nil || got.Level != tc.want {
			t.Errorf("%s: level %v (%v), want %v", tc.who, levelOf(got), err, tc.want)
		}
	}
	for _, tc := range []struct {
		who string
		a   Actor
		id  int64
	}{
		{"no access", stActor(stTenant("levels-none"), "nobody"), p.ID},
		{"other tenant admin", Actor{TenantID: stTenant("levels-other"), UserID: "olive", Email: owner.Email, Admin: true}, p.ID},
		{"missing panel", owner, p.ID + 1000000},
	} {
		if got, err := testStore.PanelAccess(ctx, tc.a, tc.id); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %+v, %v, want ErrNotFound", tc.who, got, err)
		}
	}
	stranger := stActor(tenant, "zed")
	if _, err := testStore.db.ExecContext(ctx, `DELETE FROM acls WHERE panel_id = ? AND user_email = ?`, p.ID, allPrincipal); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.PanelAccess(ctx, stranger, p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("a tenant member without any row: %v, want ErrNotFound", err)
	}
	// The owner row names the creator's email: the sub alone is no ownership.
	if _, err := testStore.PanelAccess(ctx, Actor{TenantID: tenant, UserID: "olive"}, p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the creator's sub without its email: %v, want ErrNotFound", err)
	}
	if PermViewer.String() != "viewer" || parsePermission("editor") != PermEditor || parsePermission("boss") != PermNone {
		t.Error("permission names")
	}
}

func levelOf(p *Panel) any {
	if p == nil {
		return "none"
	}
	return p.Level
}

// Ownership is only what the ACL rows say: once another owner revokes the creator's owner row, the
// creator can neither change nor delete the panel, and the last-owner rule counts the rows left.
func TestCreatorOwnershipIsItsRow(t *testing.T) {
	ctx := t.Context()
	tenant := stTenant("creator-row")
	creator, other := stActor(tenant, "cora"), stActor(tenant, "oscar")
	p := stPanel(t, creator, "Revocable")
	if _, err := testStore.CreateACL(ctx, creator, "panel", p.ID, other.Email, "owner"); err != nil {
		t.Fatal(err)
	}
	if err := testStore.DeleteACL(ctx, other, "panel", p.ID, creator.Email); err != nil {
		t.Fatalf("revoking the creator's owner row: %v", err)
	}
	name := "Renamed by the former owner"
	if _, err := testStore.UpdatePanel(ctx, creator, p.ID, stAllow, PanelPatch{Name: &name}); !errors.Is(err, ErrNotFound) {
		t.Errorf("the creator updates after losing its row: %v, want ErrNotFound", err)
	}
	if err := testStore.DeletePanel(ctx, creator, p.ID, stAllow); !errors.Is(err, ErrNotFound) {
		t.Errorf("the creator deletes after losing its row: %v, want ErrNotFound", err)
	}
	// The other owner is now the last one: it cannot leave, whoever created the panel.
	var ce *ConflictError
	if err := testStore.DeleteACL(ctx, other, "panel", p.ID, other.Email); !errors.As(err, &ce) {
		t.Errorf("removing the last owner row: %v, want a conflict", err)
	}
	if got, err := testStore.PanelAccess(ctx, other, p.ID); err != nil || got.Level != PermOwner || got.Name != "Revocable" {
		t.Errorf("the remaining owner: %+v, %v", got, err)
	}
}
