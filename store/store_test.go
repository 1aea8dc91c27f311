package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/panels/panels/migrations"
	"github.com/panels/panels/store/sqlaudit"
	"github.com/panels/panels/store/storetest"
)

// testStore is the store every test of this package uses: a fresh, migrated database.
var testStore *Store

// failChangeTenantPrefix: a trigger of the test database makes every change row of tenants with
// this prefix fail, so tests can prove that a mutation and its change row are one transaction.
const failChangeTenantPrefix = "failchange-"

func TestMain(m *testing.M) {
	// sqlaudit checks every statement the store ran for a tenant_id predicate (README "Tenant scoping").
	os.Exit(sqlaudit.Finish(runStoreTests(m), os.Stderr))
}

func runStoreTests(m *testing.M) int {
	dsn, drop, err := storetest.CreateDatabase("panels_store_test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer drop()
	mig, err := NewMigrator(dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := mig.Up(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := mig.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st, err := Open(dsn, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer st.Close()
	if _, err := st.db.ExecContext(context.Background(), `
		CREATE FUNCTION test_fail_change() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.tenant_id LIKE '`+failChangeTenantPrefix+`%' THEN
				RAISE EXCEPTION 'change rows of this tenant fail (test trigger)';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER test_fail_change BEFORE INSERT ON panel_changes
			FOR EACH ROW EXECUTE FUNCTION test_fail_change();`); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st.db = st.db.WithQueryHook(sqlaudit.Hook)
	testStore = st
	return m.Run()
}

var storeTenantSeq struct {
	sync.Mutex
	n int
}

// stTenant returns a tenant name no other test uses.
func stTenant(prefix string) string {
	storeTenantSeq.Lock()
	defer storeTenantSeq.Unlock()
	storeTenantSeq.n++
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e6, storeTenantSeq.n)
}

// stActor is a non-admin caller with an email.
func stActor(tenant, user string) Actor {
	return Actor{TenantID: tenant, UserID: user, Email: user + "@" + tenant + ".example"}
}

func stAllow(*Panel) error { return nil }

func stAllowCol(*Column, map[int64]string) error { return nil }

func stAllowDS(*DataSource) error { return nil }

func stPanel(t *testing.T, a Actor, name string) *Panel {
	t.Helper()
	p := &Panel{Name: name}
	if err := testStore.CreatePanel(t.Context(), a, p); err != nil {
		t.Fatalf("create panel %q: %v", name, err)
	}
	return p
}

func stDataSource(t *testing.T, a Actor, panelID int64) *DataSource {
	t.Helper()
	ds := &DataSource{Type: "api", Config: map[string]any{"endpoint": "/api/patients", "method": "GET"}}
	if err := testStore.CreateDataSource(t.Context(), a, panelID, ds); err != nil {
		t.Fatalf("create data source: %v", err)
	}
	return ds
}

func stBase(t *testing.T, a Actor, panelID, dsID int64, name, sourceField string) *Column {
	t.Helper()
	sf, id := sourceField, dsID
	c := &Column{Name: name, Type: "text", SourceField: &sf, DataSourceID: &id}
	if _, err := testStore.CreateColumn(t.Context(), a, panelID, c, nil); err != nil {
		t.Fatalf("create base column %q: %v", name, err)
	}
	return c
}

func stCalc(t *testing.T, a Actor, panelID int64, name, src string) *Column {
	t.Helper()
	c := &Column{Name: name, Type: "text"}
	if _, err := testStore.CreateColumn(t.Context(), a, panelID, c, &FormulaInput{Source: src}); err != nil {
		t.Fatalf("create calculated column %q = %s: %v", name, src, err)
	}
	return c
}

// stCount runs a count(*) query.
func stCount(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := testStore.db.NewRaw(query, args...).Scan(t.Context(), &n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// stView inserts a view of the panel directly (the views API is not implemented yet).
func stView(t *testing.T, p *Panel, visible string) int64 {
	t.Helper()
	var id int64
	if err := testStore.db.NewRaw(`INSERT INTO views (tenant_id, panel_id, owner_user_id, name, visible_columns)
		VALUES (?, ?, ?, 'A view', ?::jsonb) RETURNING id`, p.TenantID, p.ID, p.OwnerUserID, visible).Scan(t.Context(), &id); err != nil {
		t.Fatalf("insert view: %v", err)
	}
	return id
}

func stSort(t *testing.T, viewID int64, column string, order int) {
	t.Helper()
	if _, err := testStore.db.ExecContext(t.Context(), `INSERT INTO view_sorts (view_id, column_name, direction, sort_order)
		VALUES (?, ?, 'asc', ?)`, viewID, column, order); err != nil {
		t.Fatalf("insert sort: %v", err)
	}
}

func stFilter(t *testing.T, viewID int64, column string, pos int) {
	t.Helper()
	if _, err := testStore.db.ExecContext(t.Context(), `INSERT INTO view_filters (view_id, column_name, operator, value, position)
		VALUES (?, ?, 'eq', '"x"'::jsonb, ?)`, viewID, column, pos); err != nil {
		t.Fatalf("insert filter: %v", err)
	}
}

func stViewRefs(t *testing.T, viewID int64) (visible []string, sorts []string, filters []string) {
	t.Helper()
	ctx := t.Context()
	if err := testStore.db.NewRaw(`SELECT coalesce(array_agg(e ORDER BY n), '{}') FROM views, jsonb_array_elements_text(visible_columns) WITH ORDINALITY AS t(e, n) WHERE id = ?`, viewID).Scan(ctx, pgdialect.Array(&visible)); err != nil {
		t.Fatal(err)
	}
	if err := testStore.db.NewRaw(`SELECT coalesce(array_agg(column_name ORDER BY sort_order, id), '{}') FROM view_sorts WHERE view_id = ?`, viewID).Scan(ctx, pgdialect.Array(&sorts)); err != nil {
		t.Fatal(err)
	}
	if err := testStore.db.NewRaw(`SELECT coalesce(array_agg(column_name ORDER BY position, id), '{}') FROM view_filters WHERE view_id = ?`, viewID).Scan(ctx, pgdialect.Array(&filters)); err != nil {
		t.Fatal(err)
	}
	return visible, sorts, filters
}

// changeRows returns the change types recorded for a panel, oldest first.
func stChangeTypes(t *testing.T, panelID int64) []string {
	t.Helper()
	var types []string
	if err := testStore.db.NewRaw(`SELECT coalesce(array_agg(change_type ORDER BY id), '{}') FROM panel_changes WHERE panel_id = ?`, panelID).
		Scan(t.Context(), pgdialect.Array(&types)); err != nil {
		t.Fatal(err)
	}
	return types
}

func TestMigrationsUpDownUp(t *testing.T) {
	dsn, drop, err := storetest.CreateDatabase("panels_store_migrate")
	if err != nil {
		t.Fatal(err)
	}
	defer drop()
	m, err := NewMigrator(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	st, err := Open(dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tableExists := func(name string) bool {
		t.Helper()
		var ok bool
		if err := st.db.NewRaw(`SELECT to_regclass(?) IS NOT NULL`, name).Scan(t.Context(), &ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	allTables := []string{"panels", "data_sources", "columns", "views", "view_sorts", "view_filters", "acls", "panel_changes", "view_notifications", "members"}
	wantTables := func(step string, exist bool) {
		t.Helper()
		for _, tbl := range allTables {
			if got := tableExists(tbl); got != exist {
				t.Errorf("%s: table %s exists = %v, want %v", step, tbl, got, exist)
			}
		}
	}
	want := func(step string, wantState SchemaState, wantVersion uint) {
		t.Helper()
		v, dirty, latest, err := m.Version()
		if err != nil {
			t.Fatalf("%s: version: %v", step, err)
		}
		if latest == 0 {
			t.Fatalf("%s: latest embedded version is 0", step)
		}
		if wantVersion == ^uint(0) {
			wantVersion = latest
		}
		if v != wantVersion || dirty {
			t.Errorf("%s: version %d dirty %v, want %d clean (latest %d)", step, v, dirty, wantVersion, latest)
		}
		state, err := m.State()
		if err != nil || state != wantState {
			t.Errorf("%s: state %q (%v), want %q", step, state, err, wantState)
		}
	}
	const latest = ^uint(0)

	want("fresh database", SchemaBehind, 0)
	wantTables("fresh database", false)
	if err := m.Up(); err != nil {
		t.Fatalf("up: %v", err)
	}
	want("after up", SchemaCurrent, latest)
	wantTables("after up", true)
	if err := m.Up(); err != nil {
		t.Fatalf("up again (no change) must not fail: %v", err)
	}
	_, _, top, _ := m.Version()
	if err := m.Down(); err != nil {
		t.Fatalf("down: %v", err)
	}
	want("after down", SchemaBehind, previousVersion(t, top))
	if top == 1 {
		wantTables("after down to version 0", false)
	}
	if err := m.Up(); err != nil {
		t.Fatalf("up after down: %v", err)
	}
	want("after up again", SchemaCurrent, latest)
	wantTables("after up again", true)

	// The schema works after the round trip.
	a := stActor(stTenant("mig"), "alice")
	if err := st.CreatePanel(t.Context(), a, &Panel{Name: "After round trip"}); err != nil {
		t.Fatalf("create panel after up/down/up: %v", err)
	}

	// A dirty or newer schema is reported as such.
	if _, err := st.db.ExecContext(t.Context(), `UPDATE schema_migrations SET dirty = true`); err != nil {
		t.Fatal(err)
	}
	if state, err := m.State(); err != nil || state != SchemaDirty {
		t.Errorf("dirty schema: state %q (%v), want dirty", state, err)
	}
	if _, err := st.db.ExecContext(t.Context(), `UPDATE schema_migrations SET dirty = false, version = version + 1000`); err != nil {
		t.Fatal(err)
	}
	if state, err := m.State(); err != nil || state != SchemaNewer {
		t.Errorf("newer schema: state %q (%v), want newer", state, err)
	}
}

func TestMapErrVocabulary(t *testing.T) {
	ctx := t.Context()
	a := stActor(stTenant("maperr"), "alice")
	if _, err := testStore.PanelAccess(ctx, a, 1<<60); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing panel: %v, want ErrNotFound", err)
	}
	p := stPanel(t, a, "Dup")
	// A duplicate ACL grant is a conflict, a dangling reference is invalid.
	_, err := testStore.db.ExecContext(ctx, `INSERT INTO acls (tenant_id, resource_type, resource_id, panel_id, user_email, permission)
		VALUES (?, 'panel', ?, ?, ?, 'viewer')`, a.TenantID, p.ID, p.ID, a.ownerPrincipal())
	if err := mapErr(err); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate acl: %v, want ErrConflict", err)
	}
	_, err = testStore.db.ExecContext(ctx, `INSERT INTO data_sources (tenant_id, panel_id, type) VALUES (?, ?, 'api')`, a.TenantID, 1<<60)
	if err := mapErr(err); !errors.Is(err, ErrInvalid) {
		t.Errorf("dangling panel id: %v, want ErrInvalid", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := testStore.Ping(cctx); err == nil {
		t.Error("ping with a cancelled context succeeded")
	}
}

// The readiness probe's schema check reads through the pool and follows the schema as it moves.
func TestStoreSchemaState(t *testing.T) {
	if got, err := testStore.SchemaState(t.Context()); err != nil || got != SchemaCurrent {
		t.Fatalf("migrated database: %q, %v", got, err)
	}
	if _, err := testStore.db.ExecContext(t.Context(), `UPDATE schema_migrations SET version = version + 1000`); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_, _ = testStore.db.ExecContext(t.Context(), `UPDATE schema_migrations SET version = version - 1000, dirty = false`)
	}()
	if got, err := testStore.SchemaState(t.Context()); err != nil || got != SchemaNewer {
		t.Fatalf("newer schema: %q, %v", got, err)
	}
	if _, err := testStore.db.ExecContext(t.Context(), `UPDATE schema_migrations SET dirty = true`); err != nil {
		t.Fatal(err)
	}
	if got, err := testStore.SchemaState(t.Context()); err != nil || got != SchemaDirty {
		t.Fatalf("dirty schema: %q, %v", got, err)
	}
}

// previousVersion is the embedded migration version just below top: versions need not be
// consecutive (a branch may add a later one while another holds the number before it).
func previousVersion(t *testing.T, top uint) uint {
	t.Helper()
	entries, err := migrations.FS.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var prev uint
	for _, e := range entries {
		var v uint
		if _, err := fmt.Sscanf(e.Name(), "%d_", &v); err == nil && v < top && v > prev {
			prev = v
		}
	}
	return prev
}
