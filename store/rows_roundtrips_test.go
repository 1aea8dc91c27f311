package store

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/uptrace/bun"

	"github.com/panels/panels/store/rows"
)

// The fixed cost of a rows request is mostly round trips, not PostgreSQL's work: these tests hold
// the statements the store adds around the rows engine's own to a fixed number, so that the
// saving cannot silently regress.

// rowsOverheadPlan and rowsOverheadRun are the most statements PlanRows, and Run or Groups apart
// from the engine's statements (those that read source_records), may run: the access checks and
// every definition in one statement; BEGIN, the statement timeout with the record sets, COMMIT.
const rowsOverheadPlan, rowsOverheadRun = 1, 3

// stmtLog records the statements run with a context it marked, so that other tests running in
// parallel on the shared database handle do not count.
type stmtLog struct {
	mu    sync.Mutex
	stmts []string
}

type stmtLogKey struct{}

type stmtLogHook struct{}

func (stmtLogHook) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	if l, ok := ctx.Value(stmtLogKey{}).(*stmtLog); ok {
		l.mu.Lock()
		l.stmts = append(l.stmts, strings.Join(strings.Fields(e.Query), " "))
		l.mu.Unlock()
	}
	return ctx
}

func (stmtLogHook) AfterQuery(context.Context, *bun.QueryEvent) {}

// counted runs fn with a context whose statements it returns.
func counted(ctx context.Context, fn func(ctx context.Context) error) ([]string, error) {
	l := &stmtLog{}
	err := fn(context.WithValue(ctx, stmtLogKey{}, l))
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stmts, err
}

// engineStatements splits stmts into the rows engine's (they read the records) and the rest.
func engineStatements(stmts []string) (engine, rest []string) {
	for _, s := range stmts {
		if strings.Contains(s, "source_records") {
			engine = append(engine, s)
		} else {
			rest = append(rest, s)
		}
	}
	return engine, rest
}

func TestRowsRoundTrips(t *testing.T) {
	f := newRowsFixture(t)
	f.setCohort(t, "AND", CohortCondition{Field: "Age", Operator: "gte", Value: 30})
	f.setView(t, []ViewFilter{{ColumnName: "Status", Operator: "ne", Value: "inactive", LogicalOperator: "and"}, {ColumnName: "Name", Operator: "isNotNull", LogicalOperator: "and"}},
		[]ViewSort{{ColumnName: "Age", Direction: "desc"}, {ColumnName: "Name", Direction: "asc"}})
	// A store of its own, so the hook sees only this test's statements and its search-index
	// check is warm (it runs once per store and interval, not per request).
	st := &Store{db: testStore.db.WithQueryHook(stmtLogHook{})}
	st.searchIndexReady(t.Context())

	for _, c := range []struct {
		name string
		q    RowsQuery
	}{
		{"panel", RowsQuery{Limit: 50}},
		{"panel export", RowsQuery{Export: true}},
		{"view", RowsQuery{ViewID: f.view.ID, Limit: 50}},
		{"view search", RowsQuery{ViewID: f.view.ID, Limit: 2, Search: "a"}},
		{"groups", RowsQuery{ViewID: f.view.ID, GroupBy: "Status"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := c.q
			q.PanelID = f.panel.ID
			want, _, _ := f.rows(t, q) // through testStore, as every other rows test
			var plan *RowsPlan
			planStmts, err := counted(t.Context(), func(ctx context.Context) (err error) {
				plan, err = st.PlanRows(ctx, f.a, q)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			var got []Row
			runStmts, err := counted(t.Context(), func(ctx context.Context) error {
				if q.GroupBy != "" {
					_, err := plan.Groups(ctx)
					return err
				}
				_, err := plan.Run(ctx, func(r Row) error { got = append(got, r); return nil })
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if q.GroupBy == "" && (len(got) == 0 || !slices.Equal(keysOf(got), keysOf(want))) {
				t.Fatalf("rows %v, want %v, not none", keysOf(got), keysOf(want))
			}
			engine, overhead := engineStatements(runStmts)
			t.Logf("PlanRows: %d statements, Run: %d (%d of the engine)", len(planStmts), len(runStmts), len(engine))
			if len(planStmts) > rowsOverheadPlan {
				t.Errorf("PlanRows runs %d statements, more than %d:\n  %s", len(planStmts), rowsOverheadPlan, strings.Join(planStmts, "\n  "))
			}
			if len(overhead) > rowsOverheadRun {
				t.Errorf("Run runs %d statements besides the engine's, more than %d:\n  %s", len(overhead), rowsOverheadRun, strings.Join(overhead, "\n  "))
			}
			if len(engine) == 0 {
				t.Errorf("no statement of the engine was seen: the split by source_records no longer finds them:\n  %s", strings.Join(runStmts, "\n  "))
			}
		})
	}
}

// separateRowsDefs is how PlanRows read the definitions before loadRowsDefs: one query each,
// with panelAccess's and viewAccess's decisions. loadRowsDefs must answer as it does.
func separateRowsDefs(ctx context.Context, db bun.IDB, a Actor, op Operation, panelID, viewID int64) (*rowsDefs, error) {
	p, err := panelAccess(ctx, db, a, op, panelID, false)
	if err != nil {
		return nil, err
	}
	d := &rowsDefs{panel: p}
	if viewID != 0 {
		if d.view, err = viewAccess(ctx, db, a, op, viewID, false); err != nil {
			return nil, err
		}
		if err := loadViewDetails(ctx, db, []*View{d.view}); err != nil {
			return nil, err
		}
	}
	if d.cols, err = columnsOf(ctx, db, p.TenantID, p.ID); err != nil {
		return nil, err
	}
	err = db.NewSelect().Model((*DataSource)(nil)).Column("id").Where("ds.panel_id = ?", p.ID).
		Where("ds.tenant_id = ?", a.TenantID).OrderExpr("ds.id").Scan(ctx, &d.sources)
	return d, err
}

// Every caller the permission rules tell apart, on the panel with and without its views, a view
// of another panel, and ids that do not exist: loadRowsDefs' one statement gives the same
// decision, the same error and the same definitions as the separate queries.
func TestRowsDefsMatchTheSeparateQueries(t *testing.T) {
	ctx := t.Context()
	f := newRowsFixture(t)
	owner := f.a
	or := "or"
	f.setView(t, []ViewFilter{
		{ColumnName: "Status", Operator: "ne", Value: "inactive", LogicalOperator: "and"},
		{Operator: FilterGroup, Conjunction: &or, LogicalOperator: "and", Children: []ViewFilter{
			{ColumnName: "Age", Operator: "gt", Value: 40, LogicalOperator: "and"},
			{ColumnName: "City", Operator: "isNull", LogicalOperator: "or"},
		}},
	}, []ViewSort{{ColumnName: "Age", Direction: "desc"}, {ColumnName: "Name", Direction: "asc"}})
	// A display order moves a column ahead of those without one: the columns' order is not the ids'.
	if _, err := testStore.db.ExecContext(ctx, `UPDATE columns SET properties = '{"display":{"order":0}}'::jsonb
		WHERE tenant_id = ? AND id = ?`, owner.TenantID, f.cols["Visits"].ID); err != nil {
		t.Fatal(err)
	}
	published := &View{Name: "Published", PanelID: f.panel.ID, VisibleColumns: []string{"Name"}}
	if err := testStore.CreateView(ctx, owner, published); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.SetPublished(ctx, owner, published.ID, func(*View) error { return nil }, true); err != nil {
		t.Fatal(err)
	}
	other := stPanel(t, owner, "Other")
	otherView := &View{Name: "Of the other panel", PanelID: other.ID}
	if err := testStore.CreateView(ctx, owner, otherView); err != nil {
		t.Fatal(err)
	}
	viewer, editor := stActor(owner.TenantID, "viewer"), stActor(owner.TenantID, "editor")
	viewReader, stranger := stActor(owner.TenantID, "viewreader"), stActor(owner.TenantID, "stranger")
	for _, g := range []struct {
		typ        string
		id         int64
		who, level string
	}{
		{"panel", f.panel.ID, viewer.Email, "viewer"},
		{"panel", f.panel.ID, editor.Email, "editor"},
		{"view", f.view.ID, viewReader.Email, "viewer"},
	} {
		if _, err := testStore.CreateACL(ctx, owner, g.typ, g.id, g.who, g.level); err != nil {
			t.Fatal(err)
		}
	}
	admin := Actor{TenantID: owner.TenantID, UserID: "admin", Admin: true}
	elsewhere := owner
	elsewhere.TenantID = stTenant("elsewhere")

	actors := map[string]Actor{"owner": owner, "viewer": viewer, "editor": editor, "view reader": viewReader,
		"stranger": stranger, "admin": admin, "other tenant": elsewhere}
	ops := [][2]Operation{
		{"getPanelRows", opGetPanelRowsOfView},
		{"getPanelRowsCSV", opGetPanelRowsCSVOfView},
		{"getPanelRowGroups", opGetPanelRowGroupsOfView},
	}
	targets := []struct {
		name          string
		panel, view   int64
		wantAllowedBy string // an actor that must be let through, so the comparison is not only of refusals
	}{
		{"panel", f.panel.ID, 0, "owner"},
		{"view", f.panel.ID, f.view.ID, "view reader"},
		{"published view", f.panel.ID, published.ID, "stranger"},
		{"view of another panel", f.panel.ID, otherView.ID, "owner"},
		{"no such panel", 1 << 40, 0, ""},
		{"no such view", f.panel.ID, 1 << 40, ""},
	}
	for _, tg := range targets {
		for name, a := range actors {
			for _, pair := range ops {
				op := pair[0]
				if tg.view != 0 {
					op = pair[1]
				}
				want, wantErr := separateRowsDefs(ctx, testStore.db, a, op, tg.panel, tg.view)
				got, gotErr := loadRowsDefs(ctx, testStore.db, a, op, tg.panel, tg.view)
				if (wantErr == nil) != (gotErr == nil) || wantErr != nil && wantErr.Error() != gotErr.Error() {
					t.Errorf("%s, %s, %s: error %v, want %v", tg.name, name, op, gotErr, wantErr)
					continue
				}
				if name == tg.wantAllowedBy && wantErr != nil {
					t.Errorf("%s, %s, %s: refused (%v); the comparison needs it allowed", tg.name, name, op, wantErr)
				}
				if wantErr != nil {
					continue
				}
				if !reflect.DeepEqual(got.panel, want.panel) {
					t.Errorf("%s, %s, %s: panel\n%+v\nwant\n%+v", tg.name, name, op, got.panel, want.panel)
				}
				if !reflect.DeepEqual(got.view, want.view) {
					t.Errorf("%s, %s, %s: view\n%+v\nwant\n%+v", tg.name, name, op, got.view, want.view)
				}
				if !reflect.DeepEqual(got.cols, want.cols) {
					t.Errorf("%s, %s, %s: columns\n%+v\nwant\n%+v", tg.name, name, op, got.cols, want.cols)
				}
				if !slices.Equal(got.sources, want.sources) || len(got.sources) != 2 {
					t.Errorf("%s, %s, %s: sources %v, want %v (two)", tg.name, name, op, got.sources, want.sources)
				}
			}
		}
	}
}

// The statement timeout folded into the record-set read still holds for the statements after
// it: with sources, without, and with a source that has no record set yet.
func TestRowsRunRaisesTheStatementTimeout(t *testing.T) {
	f := newRowsFixture(t)
	empty := stPanel(t, f.a, "No sources")
	// A source never synced has no record set: the join still yields the row set_config is in.
	unsynced := stPanel(t, f.a, "Never synced")
	stDataSource(t, f.a, unsynced.ID)
	for _, panelID := range []int64{f.panel.ID, empty.ID, unsynced.ID} {
		plan, err := testStore.PlanRows(t.Context(), f.a, RowsQuery{PanelID: panelID, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var timeout string
		var gens []rows.Generation
		err = testStore.db.RunInTx(t.Context(), &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
			func(ctx context.Context, tx bun.Tx) error {
				if err := tx.QueryRowContext(ctx, "SHOW statement_timeout").Scan(&timeout); err != nil {
					return err
				}
				if timeout == "1min" {
					return errors.New("the timeout is raised before generations runs: the test proves nothing")
				}
				if gens, err = plan.generations(ctx, tx); err != nil {
					return err
				}
				return tx.QueryRowContext(ctx, "SHOW statement_timeout").Scan(&timeout)
			})
		if err != nil {
			t.Fatal(err)
		}
		if timeout != "1min" {
			t.Errorf("panel %d: statement_timeout %q after generations, want 1min", panelID, timeout)
		}
		if panelID == f.panel.ID && (len(gens) != 2 || gens[0].Set == 0 || gens[1].Set == 0) {
			t.Errorf("record sets %+v, want both sources' (synced)", gens)
		}
		if panelID == unsynced.ID && !slices.Equal(gens, []rows.Generation{{}}) {
			t.Errorf("record sets %+v of a source never synced, want one zero", gens)
		}
		if panelID == empty.ID && len(gens) != 0 {
			t.Errorf("record sets %+v of a panel without sources", gens)
		}
	}
}
