package store

// Flat at scale: one tenant with 100,000 panels, 1,000,000 columns and 1,000,000 change rows
// (storetest.SeedScale, bulk-loaded with COPY into a database of its own), and a small tenant of the
// same shape. Every store list function behind a list endpoint runs for both tenants, as an admin
// and as plain users, on first pages, cursor pages, offset pages and with each filter the API
// offers, while a Bun query hook captures the statements it runs. The test then asks PostgreSQL
// for the plan of every captured SELECT (EXPLAIN, FORMAT JSON; the statements are not run again)
// and fails when a plan reads a large table (one of 10,000 rows or more after the seed)
// sequentially, or when a list call runs more statements than its budget, or another number of
// statements on the big tenant than on the small one (the count must not grow with the data).
// It asserts no timing: `make bench` measures latency (tools/bench/scale).
//
// Small tables may be read sequentially: members (51 rows a tenant) always is, and PostgreSQL is
// right to, as reading its few pages costs less than any index descent.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"

	"github.com/panels/panels/store/sqlaudit"
	"github.com/panels/panels/store/storetest"
)

// scaleLargeTable is the row count from which a table counts as large.
const scaleLargeTable = 10_000

// captureHook records the statements run through the store while it is on.
type captureHook struct {
	mu    sync.Mutex
	on    bool
	stmts []string
}

func (h *captureHook) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (h *captureHook) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.on {
		h.stmts = append(h.stmts, e.Query)
	}
}

// capture runs fn and returns the statements it ran.
func (h *captureHook) capture(fn func() error) ([]string, error) {
	h.mu.Lock()
	h.on, h.stmts = true, nil
	h.mu.Unlock()
	err := fn()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.on = false
	return h.stmts, err
}

// planNode is the part of EXPLAIN (FORMAT JSON) this test reads.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	Plans        []planNode `json:"Plans"`
}

// walk visits every node of the plan, subplans and init plans included.
func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// String is the plan as one line: node types, with the relation or index they read.
func (n planNode) String() string {
	var parts []string
	n.walk(func(p planNode) {
		s := p.NodeType
		switch {
		case p.IndexName != "":
			s += " " + p.IndexName
		case p.RelationName != "":
			s += " " + p.RelationName
		}
		parts = append(parts, s)
	})
	return strings.Join(parts, " > ")
}

type scaleCase struct {
	name string
	max  int                                                       // statement budget of one call
	prep func(ctx context.Context, t *storetest.ScaleTenant) error // not captured: finds a cursor
	run  func(ctx context.Context, t *storetest.ScaleTenant) error
	// seqOK are large tables this call may read sequentially, each with its reason where the
	// case is declared.
	seqOK []string
}

func TestListPlansAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 100,000 panels, 1,000,000 columns and 1,000,000 changes: not in -short")
	}
	began := time.Now()
	ctx := t.Context()
	dsn, drop, err := storetest.CreateDatabase("panels_store_scale")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	mig, err := NewMigrator(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := mig.Up(); err != nil {
		t.Fatal(err)
	}
	if err := mig.Close(); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	seedStart := time.Now()
	bigSpec := storetest.BigTenant("scale-big")
	bigSpec.Exclusive = true // a database of its own: rebuilding indexes after the COPY is about five times faster
	big, err := storetest.SeedScale(ctx, conn, bigSpec)
	if err != nil {
		t.Fatal(err)
	}
	small, err := storetest.SeedScale(ctx, conn, storetest.SmallTenant("scale-small"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded in %s: %s", time.Since(seedStart).Round(time.Millisecond), seedSummary(big))

	large := map[string]int64{}
	rows, err := conn.Query(ctx, `SELECT relname, reltuples::bigint FROM pg_class
		WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace AND reltuples >= $1`, scaleLargeTable)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		large[name] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"panels", "data_sources", "columns", "views", "acls", "panel_changes", "view_notifications", "source_syncs"} {
		if _, ok := large[want]; !ok {
			t.Fatalf("table %s should be large after the seed; large tables: %v", want, large)
		}
	}

	st, err := Open(dsn, Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	hook := &captureHook{}
	st.db = st.db.WithQueryHook(hook).WithQueryHook(sqlaudit.Hook) // before any query: Bun's hook list is not synchronized

	cases := scaleCases(st)
	type outcome struct {
		stmts []string
	}
	results := map[string]map[string]outcome{} // case → tenant → outcome
	for _, ten := range []*storetest.ScaleTenant{big, small} {
		for _, c := range cases {
			if c.prep != nil {
				if err := c.prep(ctx, ten); err != nil {
					t.Fatalf("%s on %s: %v", c.name, ten.Spec.Tenant, err)
				}
			}
			stmts, err := hook.capture(func() error { return c.run(ctx, ten) })
			if err != nil {
				t.Fatalf("%s on %s: %v", c.name, ten.Spec.Tenant, err)
			}
			if results[c.name] == nil {
				results[c.name] = map[string]outcome{}
			}
			results[c.name][ten.Spec.Tenant] = outcome{stmts: stmts}
		}
	}

	explained, seqScans := 0, 0
	for _, c := range cases {
		b, s := results[c.name][big.Spec.Tenant].stmts, results[c.name][small.Spec.Tenant].stmts
		// The budget is a constant of the call: the big tenant's full pages (100 or 1,000 items)
		// must not need more statements than it allows, nor more than the small tenant's pages
		// need, plus the statements an empty page skips (a page without views reads no sorts).
		if len(b) == 0 || len(b) > c.max || len(s) > c.max {
			t.Errorf("%s: %d statements on the big tenant, %d on the small one, want 1..%d", c.name, len(b), len(s), c.max)
		}
		t.Logf("%s: %d statements (small tenant: %d)", c.name, len(b), len(s))
		for i, q := range b {
			if !strings.HasPrefix(strings.TrimSpace(strings.ToUpper(q)), "SELECT") && !strings.HasPrefix(strings.TrimSpace(strings.ToUpper(q)), "WITH") {
				continue
			}
			plan, err := explain(ctx, conn, q)
			if err != nil {
				t.Fatalf("%s: explain statement %d: %v\n%s", c.name, i+1, err, q)
			}
			explained++
			t.Logf("  %d. %s", i+1, plan)
			plan.walk(func(n planNode) {
				if n.NodeType == "Seq Scan" && !slices.Contains(c.seqOK, n.RelationName) {
					if rows, ok := large[n.RelationName]; ok {
						seqScans++
						t.Errorf("%s: statement %d reads %s (%d rows) sequentially: %s\n%s", c.name, i+1, n.RelationName, rows, plan, q)
					}
				}
			})
		}
	}
	t.Logf("%d list calls a tenant, %d plans explained, %d sequential scans of a large table; whole test %s",
		len(cases), explained, seqScans, time.Since(began).Round(time.Millisecond))
}

func seedSummary(t *storetest.ScaleTenant) string {
	names := make([]string, 0, len(t.Rows))
	for n := range t.Rows {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %d (%s)", n, t.Rows[n], t.Took[n].Round(time.Millisecond)))
	}
	for _, n := range []string{"drop indexes", "rebuild indexes", "vacuum analyze"} {
		if d, ok := t.Took[n]; ok {
			parts = append(parts, fmt.Sprintf("%s %s", n, d.Round(time.Millisecond)))
		}
	}
	return strings.Join(parts, ", ")
}

// explain returns the plan PostgreSQL chooses for q, without running it.
func explain(ctx context.Context, conn *pgx.Conn, q string) (planNode, error) {
	var raw []byte
	if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+q, pgx.QueryExecModeSimpleProtocol).Scan(&raw); err != nil {
		return planNode{}, err
	}
	var out []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out) != 1 {
		return planNode{}, fmt.Errorf("unexpected EXPLAIN output %s: %v", raw, err)
	}
	return out[0].Plan, nil
}

// scaleCases are the list calls of the list endpoints, with the statement budget of each.
// Arguments follow the handlers: the bare-array lists (panels, data sources) ask the store for
// limit+1 items, the envelope lists pass limit and fetch limit+1 themselves.
func scaleCases(st *Store) []scaleCase {
	admin := func(t *storetest.ScaleTenant) Actor {
		return Actor{TenantID: t.Spec.Tenant, UserID: t.Admin.UserID, Email: t.Admin.Email, Admin: true}
	}
	member := func(t *storetest.ScaleTenant) Actor {
		return Actor{TenantID: t.Spec.Tenant, UserID: t.Member.UserID, Email: t.Member.Email}
	}
	// u001 is a plain user who owns one panel in fifty (2,000 on the big tenant).
	owner := func(t *storetest.ScaleTenant) Actor {
		return Actor{TenantID: t.Spec.Tenant, UserID: "u001", Email: strings.Replace(t.Admin.Email, "u000", "u001", 1)}
	}
	actors := []struct {
		name  string
		actor func(*storetest.ScaleTenant) Actor
	}{{"admin", admin}, {"member", member}, {"owner of 2%", owner}}

	var cases []scaleCase
	add := func(name string, max int, prep func(context.Context, *storetest.ScaleTenant) error, run func(context.Context, *storetest.ScaleTenant) error) {
		cases = append(cases, scaleCase{name: name, max: max, prep: prep, run: run})
	}
	yes, no := true, false
	since := func(t *storetest.ScaleTenant) *time.Time { s := t.Spec.End.Add(-30 * 24 * time.Hour); return &s }

	for _, who := range actors {
		actor := who.actor
		add("ListPanels "+who.name+": first page of 100", 1, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListPanels(ctx, actor(t), nil, 101)
			return err
		})
		add("ListPanels "+who.name+": no limit (the UI's 1,000)", 1, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListPanels(ctx, actor(t), nil, 1001)
			return err
		})
		var after *PanelCursor
		add("ListPanels "+who.name+": a later page (cursor in the middle)", 1, func(ctx context.Context, t *storetest.ScaleTenant) error {
			var ats []time.Time
			var ids []int64
			if err := visiblePanels(st.db.NewSelect().TableExpr("panels AS panel"), actor(t)).ColumnExpr("panel.created_at, panel.id").
				OrderExpr("panel.created_at DESC, panel.id DESC").Scan(ctx, &ats, &ids); err != nil {
				return err
			}
			after = &PanelCursor{CreatedAt: ats[len(ats)/2], ID: ids[len(ids)/2]}
			return nil
		}, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListPanels(ctx, actor(t), after, 101)
			return err
		})

		add("ListViews "+who.name+": first page", 4, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListViews(ctx, actor(t), ViewListFilter{Limit: 100})
			return err
		})
		add("ListViews "+who.name+": no limit (the UI's 1,000)", 4, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListViews(ctx, actor(t), ViewListFilter{Limit: 1000})
			return err
		})
		// The sorts and filters of 1,000 views are 2% of the 50,000 rows of view_sorts and
		// view_filters (one each a view): PostgreSQL (random_page_cost 4) prices 1,000 index
		// descents above one pass over either table's few hundred pages, and sorts the 1,000 rows
		// after. The pass is bounded by the table, not by the tenant's lists, and the planner
		// switches to the index (as for every smaller page) once the table is some fifty times
		// the page; a page of 100 views already uses it.
		cases[len(cases)-1].seqOK = []string{"view_sorts", "view_filters"}
		add("ListViews "+who.name+": published=true", 4, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListViews(ctx, actor(t), ViewListFilter{Limit: 100, Published: &yes})
			return err
		})
		add("ListViews "+who.name+": published=false, offset 50", 4, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListViews(ctx, actor(t), ViewListFilter{Limit: 50, Offset: 50, Published: &no})
			return err
		})
		var viewAfter *ViewCursor
		add("ListViews "+who.name+": second page (cursor)", 4, func(ctx context.Context, t *storetest.ScaleTenant) error {
			page, err := st.ListViews(ctx, actor(t), ViewListFilter{Limit: 10})
			if err == nil && len(page.Views) > 0 {
				last := page.Views[len(page.Views)-1]
				viewAfter = &ViewCursor{UpdatedAt: last.UpdatedAt, ID: last.ID}
			}
			return err
		}, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListViews(ctx, actor(t), ViewListFilter{Limit: 10, After: viewAfter})
			return err
		})
		add("ListViews "+who.name+": panelId", 4, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListViews(ctx, actor(t), ViewListFilter{Limit: 100, PanelID: t.SamplePanel})
			return err
		})

		add("ListChanges "+who.name+": first page", 2, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListChanges(ctx, actor(t), ChangeFilter{Limit: 100})
			return err
		})
		var changeAfter *ChangeCursor
		add("ListChanges "+who.name+": second page (cursor)", 2, func(ctx context.Context, t *storetest.ScaleTenant) error {
			page, err := st.ListChanges(ctx, actor(t), ChangeFilter{Limit: 100})
			if err == nil && len(page.Changes) > 0 {
				last := page.Changes[len(page.Changes)-1]
				changeAfter = &ChangeCursor{ChangedAt: last.ChangedAt, ID: last.ID}
			}
			return err
		}, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListChanges(ctx, actor(t), ChangeFilter{Limit: 100, After: changeAfter})
			return err
		})
		add("ListChanges "+who.name+": offset 500", 2, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListChanges(ctx, actor(t), ChangeFilter{Limit: 100, Offset: 500})
			return err
		})
		add("ListChanges "+who.name+": changeType=column_modified", 2, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListChanges(ctx, actor(t), ChangeFilter{Limit: 100, ChangeType: ChangeColumnChanged})
			return err
		})
		add("ListChanges "+who.name+": since 30 days", 2, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListChanges(ctx, actor(t), ChangeFilter{Limit: 100, Since: since(t)})
			return err
		})
		add("ListChanges "+who.name+": panelId", 3, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListChanges(ctx, actor(t), ChangeFilter{Limit: 100, PanelID: t.SamplePanel})
			return err
		})
		add("ListChanges "+who.name+": panelId, changeType, since", 3, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListChanges(ctx, actor(t), ChangeFilter{Limit: 100, PanelID: t.SamplePanel, ChangeType: ChangeColumnChanged, Since: since(t)})
			return err
		})

		add("ListNotifications "+who.name+": first page", 3, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListNotifications(ctx, actor(t), NotificationFilter{Limit: 100})
			return err
		})
		var noteAfter *NotificationCursor
		add("ListNotifications "+who.name+": second page (cursor)", 3, func(ctx context.Context, t *storetest.ScaleTenant) error {
			page, err := st.ListNotifications(ctx, actor(t), NotificationFilter{Limit: 100})
			if err == nil && len(page.Notifications) > 0 {
				last := page.Notifications[len(page.Notifications)-1]
				noteAfter = &NotificationCursor{CreatedAt: last.CreatedAt, ID: last.ID}
			}
			return err
		}, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListNotifications(ctx, actor(t), NotificationFilter{Limit: 100, After: noteAfter})
			return err
		})
		add("ListNotifications "+who.name+": isRead=false, type=breaking, since 30 days, offset 20", 3, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListNotifications(ctx, actor(t), NotificationFilter{Limit: 100, Offset: 20, IsRead: &no, Impact: "breaking", Since: since(t)})
			return err
		})

		add("ListUserACLs "+who.name+": own rows", 1, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListUserACLs(ctx, actor(t), actor(t).Email, nil)
			return err
		})
		add("ListUserACLs "+who.name+": own rows, resourceType=view", 1, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			typ := "view"
			_, err := st.ListUserACLs(ctx, actor(t), actor(t).Email, &typ)
			return err
		})
	}

	// The lists of one panel, view or data source: the member reads the sample panel through a
	// viewer row, the admin through the role.
	for _, who := range actors[:2] {
		actor := who.actor
		add("ListDataSources "+who.name, 2, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListDataSources(ctx, actor(t), t.SamplePanel, 0, 101)
			return err
		})
		add("ListDataSources "+who.name+": after a cursor", 2, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListDataSources(ctx, actor(t), t.SamplePanel, t.SampleDataSource-1, 101)
			return err
		})
		add("ListColumns "+who.name, 2, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListColumns(ctx, actor(t), t.SamplePanel, nil, nil)
			return err
		})
		add("ListColumns "+who.name+": tags and ids", 2, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListColumns(ctx, actor(t), t.SamplePanel, []int64{1, 2, 3}, []string{"clinical"})
			return err
		})
		add("ListACLs "+who.name+": panel", 3, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListACLs(ctx, actor(t), "panel", t.SamplePanel)
			return err
		})
		add("ListSyncs "+who.name, 4, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListSyncs(ctx, actor(t), t.SampleDataSource, SyncFilter{Limit: 100})
			return err
		})
		add("ListSyncs "+who.name+": after a cursor", 4, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
			_, err := st.ListSyncs(ctx, actor(t), t.SampleDataSource, SyncFilter{Limit: 2, AfterID: 1 << 40})
			return err
		})
	}
	add("ListACLs admin: view", 3, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
		_, err := st.ListACLs(ctx, admin(t), "view", t.SampleView)
		return err
	})
	add("ListUserACLs admin: someone else's rows", 1, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
		_, err := st.ListUserACLs(ctx, admin(t), t.Member.Email, nil)
		return err
	})
	add("ListChanges admin: a deleted panel's history", 4, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
		_, err := st.ListChanges(ctx, admin(t), ChangeFilter{Limit: 100, PanelID: t.DeletedPanel})
		return err
	})
	add("ListMembers", 1, nil, func(ctx context.Context, t *storetest.ScaleTenant) error {
		_, err := st.ListMembers(ctx, t.Spec.Tenant)
		return err
	})
	return cases
}
