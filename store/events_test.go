package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/uptrace/bun"
)

func changeIDs(cs []Change) []int64 {
	ids := make([]int64, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

// evOutbox is an admin of a new tenant, one panel of it and the id of the panel's own change.
func evOutbox(t *testing.T, prefix string) (Actor, *Panel, int64) {
	t.Helper()
	admin := stActor(stTenant(prefix), "admin")
	admin.Admin = true
	p := stPanel(t, admin, "Outbox")
	return admin, p, evLastID(t, testStore.db, admin.TenantID)
}

// evLastID is the tenant's newest change id as db (a transaction, or the store's pool) sees it.
func evLastID(t *testing.T, db bun.IDB, tenant string) int64 {
	t.Helper()
	var id int64
	if err := db.NewRaw("SELECT max(id) FROM panel_changes WHERE tenant_id = ?", tenant).Scan(t.Context(), &id); err != nil {
		t.Fatal(err)
	}
	return id
}

// evAt is the stream position of the event id, as a resuming reader finds it.
func evAt(t *testing.T, a Actor, id int64) EventPosition {
	t.Helper()
	pos, _, err := testStore.EventPositionOf(t.Context(), a, id)
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

// eventsEventually polls until ChangesAfter returns want: any transaction running on the cluster
// (other tests, other databases) holds every newer row back until it ends.
func eventsEventually(t *testing.T, a Actor, f EventFilter, want []int64) []Change {
	t.Helper()
	var got []int64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		cs, err := testStore.ChangesAfter(t.Context(), a, f)
		if err != nil {
			t.Fatal(err)
		}
		if got = changeIDs(cs); slices.Equal(got, want) {
			return cs
		}
	}
	t.Fatalf("events after %+v: %v, want %v", f.After, got, want)
	return nil
}

// The hole of commit order: a transaction that drew a lower event id and commits after one that
// drew a higher id. The reader must not move past the higher id while the lower one may still
// commit, and then gets both, in id order.
func TestChangesAfterWaitsForTransactionsHoldingLowerIDs(t *testing.T) {
	ctx := t.Context()
	admin, p, after := evOutbox(t, "evhole")
	tenant := admin.TenantID
	eventsEventually(t, admin, EventFilter{Limit: 100}, []int64{after}) // the panel's own change

	slow, err := testStore.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = slow.Rollback() }()
	early := &Change{ChangeType: ChangePanelUpdated, EntityType: EntityPanel, EntityID: p.ID, Action: ActionUpdate, Description: "held open"}
	if _, err := recordChange(ctx, slow, admin, p, *early); err != nil {
		t.Fatal(err)
	}
	earlyID := evLastID(t, slow, tenant)

	if _, err := testStore.UpdatePanel(ctx, admin, p.ID, stAllow, PanelPatch{Name: new("Outbox, renamed")}); err != nil {
		t.Fatal(err)
	}
	lateID := evLastID(t, testStore.db, tenant)
	if lateID <= earlyID {
		t.Fatalf("the committed change %d should hold the higher id (the open one has %d)", lateID, earlyID)
	}
	for range 5 { // it stays held back for as long as the earlier transaction is open
		got, err := testStore.ChangesAfter(ctx, admin, EventFilter{After: evAt(t, admin, after), Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Fatalf("published %v while a transaction holding id %d is still open", changeIDs(got), earlyID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := slow.Commit(); err != nil {
		t.Fatal(err)
	}
	eventsEventually(t, admin, EventFilter{After: evAt(t, admin, after), Limit: 100}, []int64{earlyID, lateID})
	eventsEventually(t, admin, EventFilter{After: evAt(t, admin, earlyID), Limit: 100}, []int64{lateID})
}

// The other hole: an older transaction draws its id after a younger one did, and commits first.
// Its row is published while the younger one is still open; the younger one's lower id must still
// reach a reader already past the older row (the stream is ordered by transaction, then id).
func TestChangesAfterNeverSkipsAYoungerTransactionsLowerID(t *testing.T) {
	ctx := t.Context()
	admin, p, base := evOutbox(t, "evyoung")
	older, err := testStore.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = older.Rollback() }()
	younger, err := testStore.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = younger.Rollback() }()
	// The older transaction writes first (its transaction id is the lower one)...
	if _, err := older.NewRaw("SELECT pg_current_xact_id()").Exec(ctx); err != nil {
		t.Fatal(err)
	}
	change := Change{ChangeType: ChangePanelUpdated, EntityType: EntityPanel, EntityID: p.ID, Action: ActionUpdate}
	change.Description = "younger, lower id"
	low, err := recordChange(ctx, younger, admin, p, change) // ...the younger one draws the lower event id,
	if err != nil {
		t.Fatal(err)
	}
	change.Description = "older, higher id"
	high, err := recordChange(ctx, older, admin, p, change) // ...and the older one the higher
	if err != nil {
		t.Fatal(err)
	}
	if err := older.Commit(); err != nil {
		t.Fatal(err)
	}
	read := eventsEventually(t, admin, EventFilter{After: evAt(t, admin, base), Limit: 100}, []int64{high.ID})
	if err := younger.Commit(); err != nil {
		t.Fatal(err)
	}
	// The reader carries the position of the last event it read.
	eventsEventually(t, admin, EventFilter{After: read[len(read)-1].Position(), Limit: 100}, []int64{low.ID})
	if _, _, err := testStore.EventPositionOf(ctx, admin, 999999999999); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("a position naming no event: %v, want ErrUnknownEvent", err)
	}
	other := stActor(stTenant("evyoung-other"), "admin")
	if _, _, err := testStore.EventPositionOf(ctx, other, high.ID); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("another tenant's event id as a position: %v, want ErrUnknownEvent", err)
	}
}

// The stream's change events follow who may read a panel's history, and never cross tenants.
func TestChangesAfterFollowsHistoryAccess(t *testing.T) {
	ctx := t.Context()
	tenantA, tenantB := stTenant("evaccess-a"), stTenant("evaccess-b")
	alice, bob := stActor(tenantA, "alice"), stActor(tenantA, "bob")
	mallory := stActor(tenantB, "alice") // the same user id in another tenant
	mallory.Admin = true
	mine := stPanel(t, alice, "Alice's")
	shared := stPanel(t, alice, "Shared with Bob")
	ntACL(t, tenantA, "panel", shared.ID, bob.Email, "viewer")
	if _, err := testStore.UpdatePanel(ctx, alice, mine.ID, stAllow, PanelPatch{Name: new("Alice renamed")}); err != nil {
		t.Fatal(err)
	}
	var all []int64
	if err := testStore.db.NewRaw("SELECT id FROM panel_changes WHERE tenant_id = ? ORDER BY id", tenantA).Scan(ctx, &all); err != nil {
		t.Fatal(err)
	}
	var sharedIDs []int64
	if err := testStore.db.NewRaw("SELECT id FROM panel_changes WHERE tenant_id = ? AND panel_id = ? ORDER BY id", tenantA, shared.ID).Scan(ctx, &sharedIDs); err != nil {
		t.Fatal(err)
	}
	eventsEventually(t, alice, EventFilter{Limit: 1000}, all)
	eventsEventually(t, bob, EventFilter{Limit: 1000}, sharedIDs)
	eventsEventually(t, alice, EventFilter{PanelIDs: []int64{shared.ID}, Limit: 1000}, sharedIDs)
	eventsEventually(t, alice, EventFilter{Types: []string{ChangePanelUpdated}, Limit: 1000}, all[len(all)-1:])
	eventsEventually(t, mallory, EventFilter{PanelIDs: []int64{mine.ID, shared.ID}, Limit: 1000}, nil)
}

// Notifications take their event ids from the changes' sequence: one order for both kinds, each
// after the change that caused it.
func TestNotificationsShareTheChangesOrder(t *testing.T) {
	ctx := t.Context()
	f := newNtFixture(t, "evnotes")
	ntMember(t, f.tenant, "bob", "bob@"+f.tenant+".example")
	f.view(t, "bob", "Uses Email", true, fmt.Sprintf(`["%s"]`, f.idEmail))
	if err := testStore.DeleteColumn(ctx, f.alice, f.p.ID, f.email.ID, false, stAllowCol); err != nil {
		t.Fatal(err)
	}
	var notes []Notification
	for deadline := time.Now().Add(20 * time.Second); len(notes) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		if notes, err = testStore.NotificationsAfter(ctx, f.bob, EventFilter{Limit: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if len(notes) != 1 || notes[0].ChangeID == nil || notes[0].EventID <= *notes[0].ChangeID {
		t.Fatalf("bob's notification events: %+v", notes)
	}
	if later, err := testStore.NotificationsAfter(ctx, f.bob, EventFilter{After: notes[0].Position(), Limit: 100}); err != nil || len(later) != 0 {
		t.Fatalf("after the last one: %+v %v", later, err)
	}
	if others, err := testStore.NotificationsAfter(ctx, f.alice, EventFilter{Limit: 100}); err != nil || len(others) != 0 {
		t.Fatalf("alice (the actor) gets none: %+v %v", others, err)
	}
}
