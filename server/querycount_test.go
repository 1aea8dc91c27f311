package server_test

// Bounded queries: every operation of the spec runs a small, fixed number of SQL statements,
// whatever the number of items it reads or writes (no query per row of a list).
//
// A bun query hook, installed on the server's *bun.DB before its first query (harness_test.go
// passes it in server.Config.QueryHooks), attributes each statement to the request whose context
// it runs in (the X-Request-Id this test sends, which the server keeps in the request's context),
// so the figures hold even when other tests call the service concurrently.
//
// What is counted: every statement that passes through Bun with the request's context, BEGIN,
// COMMIT, ROLLBACK and savepoints included (Bun v1.3 reports a transaction's BEGIN and COMMIT to
// its hooks, RunInTx's too). What is not: the COPY of the records an upload (or a sync that
// fetches records) writes, which pgx's CopyFrom sends on the raw connection (one statement
// whatever the number of records), and the release of the advisory lock every sync, upload and
// push holds (store.SyncRun.Close runs it on a detached context): those operations run one or
// two statements more than their figures. The first request of a user also records the member
// (one statement, once per user and process); the figures are measured after a warm-up request of
// the same caller, so that statement is not in them.

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/uptrace/bun"

	"github.com/panels/panels/server/pipeline"
)

// qcMaxStatements is the most statements one operation may run: the honest maximum of the
// operations as they are, 14 (pushDataSourceRecords: the access check, the sync lock, a
// transaction that writes the records, counts them, moves the record set, stamps the source and
// records the sync and the change), plus a little headroom. Reads run at most 5 (getPanelRows,
// with or without a view). Raise it only with a reason.
const qcMaxStatements = 16

// qcCaps are per-operation caps other than qcMaxStatements, each with its reason (none needed).
var qcCaps = map[string]int{}

// The sizes of the small and the large fixture: every list the operations read holds this many
// more items (panels, data sources, syncs, columns, views, sorts, filters, ACL rows, changes,
// notifications, members, records).
const qcSmall, qcLarge = 2, 25

// qcLists are the operations that answer a list: the large fixture must make their answer
// longer, which shows that the growth reached the list whose statements are counted.
var qcLists = map[string]bool{
	"listPanels": true, "listDataSources": true, "listDataSourceSyncs": true, "getPanelRows": true, "listColumns": true,
	"listViews": true, "getViewSorts": true, "getViewFilters": true, "listUserAcls": true, "listAcls": true,
	"listOrganizationMembers": true, "listPanelChanges": true, "listViewNotifications": true,
}

// statementCounter is the bun.QueryHook: for each tracked request id, the statements run in the
// request's context.
type statementCounter struct {
	byRequest sync.Map // request id → *requestStatements
	seq       atomic.Int64
}

type requestStatements struct {
	mu    sync.Mutex
	stmts []string
}

var statements = &statementCounter{}

func (c *statementCounter) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	id := pipeline.RequestID(ctx)
	if id == "" {
		return ctx
	}
	if v, ok := c.byRequest.Load(id); ok {
		rs := v.(*requestStatements)
		q := strings.Join(strings.Fields(e.Query), " ")
		if len(q) > 120 {
			q = q[:120] + "…"
		}
		rs.mu.Lock()
		rs.stmts = append(rs.stmts, q)
		rs.mu.Unlock()
	}
	return ctx
}

func (c *statementCounter) AfterQuery(context.Context, *bun.QueryEvent) {}

// track starts counting the statements of a new request id, which the request must send.
func (c *statementCounter) track() string {
	id := "qc-" + strconv.FormatInt(c.seq.Add(1), 10)
	c.byRequest.Store(id, &requestStatements{})
	return id
}

// done stops counting id and returns its statements.
func (c *statementCounter) done(id string) []string {
	v, ok := c.byRequest.LoadAndDelete(id)
	if !ok {
		return nil
	}
	rs := v.(*requestStatements)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.stmts
}

// qcGrowSQL adds k items to every list of a matrix fixture copy, in one statement, and returns
// the ids of the creator's new notifications.
//
// $1 tenant, $2 the creator's email, $3 panel P, $4 view V, $5 view U, $6 P's API source, $7 P's
// base column, $8 k.
const qcGrowSQL = `
WITH g AS (SELECT n FROM generate_series(1, $8::int) AS n),
np AS (INSERT INTO panels (tenant_id, owner_user_id, name) SELECT $1, 'creator', 'Extra panel ' || n FROM g RETURNING id),
npa AS (INSERT INTO acls (tenant_id, resource_type, resource_id, panel_id, user_email, permission)
	SELECT $1, 'panel', id, id, $2, 'owner' FROM np),
nds AS (INSERT INTO data_sources (tenant_id, panel_id, type, config) SELECT $1, $3, 'custom', jsonb_build_object('note', 'extra ' || n) FROM g),
nsy AS (INSERT INTO source_syncs (tenant_id, panel_id, data_source_id, trigger, status, message, records_processed, generation,
		started_by, started_at, finished_at, duration_ms)
	SELECT $1, $3, $6, 'sync', 'success', 'extra sync ' || n, $8, 1, 'creator', now(), now(), 1 FROM g),
nb AS (INSERT INTO columns (tenant_id, panel_id, column_type, name, type, source_field, data_source_id)
	SELECT $1, $3, 'base', 'Field ' || n, 'text', 'f' || n, $6 FROM g),
nc AS (INSERT INTO columns (tenant_id, panel_id, column_type, name, type, formula, dependencies)
	SELECT $1, $3, 'calculated', 'Lower ' || n, 'text', 'LOWER({' || $7::bigint || '})', ARRAY[$7::bigint] FROM g),
nv AS (INSERT INTO views (tenant_id, panel_id, owner_user_id, name, visible_columns)
	SELECT $1, $3, 'creator', 'Extra view ' || n, jsonb_build_array($7::bigint::text) FROM g RETURNING id),
nva AS (INSERT INTO acls (tenant_id, resource_type, resource_id, view_id, user_email, permission)
	SELECT $1, 'view', id, id, $2, 'owner' FROM nv),
pacl AS (INSERT INTO acls (tenant_id, resource_type, resource_id, panel_id, user_email, permission)
	SELECT $1, 'panel', $3, $3, 'reader' || n || '@extra.example', 'viewer' FROM g),
vacl AS (INSERT INTO acls (tenant_id, resource_type, resource_id, view_id, user_email, permission)
	SELECT $1, 'view', v.id, v.id, 'reader' || n || '@extra.example', 'viewer' FROM g, (VALUES ($4::bigint), ($5::bigint)) AS v(id)),
ns AS (INSERT INTO view_sorts (view_id, column_name, direction, sort_order)
	SELECT v.id, 'Email', 'asc', n FROM g, (VALUES ($4::bigint), ($5::bigint)) AS v(id)),
nf AS (INSERT INTO view_filters (view_id, column_name, operator, position)
	SELECT v.id, 'Email', 'isNotNull', n FROM g, (VALUES ($4::bigint), ($5::bigint)) AS v(id)),
nch AS (INSERT INTO panel_changes (tenant_id, panel_id, panel_name, change_type, entity_type, entity_id, action, description, changed_by, changed_by_email)
	SELECT $1, $3, 'Private panel', 'panel_updated', 'panel', $3, 'update', 'Extra change ' || n, 'creator', $2 FROM g),
nn AS (INSERT INTO view_notifications (tenant_id, view_id, user_id, impact, message)
	SELECT $1, $4, 'creator', 'info', 'extra notification ' || n FROM g RETURNING id),
nm AS (INSERT INTO members (tenant_id, user_id, email) SELECT $1, 'extra' || n, 'extra' || n || '@extra.example' FROM g),
rs AS (INSERT INTO record_sets (data_source_id, tenant_id, generation, rows_generation, record_count, next_ord)
	VALUES ($6, $1, 1, 1, $8, $8 + 1)),
rr AS (INSERT INTO source_records (data_source_id, generation, record_key, ord, doc)
	SELECT $6, 1, 'p' || n, n, jsonb_build_object('email', 'p' || n || '@extra.example', 'phone', '555-' || n) FROM g)
SELECT COALESCE(string_agg(id::text, ',' ORDER BY id), '') FROM nn`

func qcGrow(t testing.TB, s *mxSide, sl *mxSlot, k int) []string {
	t.Helper()
	var ids string
	err := secDB(t).QueryRowContext(t.Context(), qcGrowSQL, s.tenant, strings.ToLower(s.persons[mxCreator].email),
		sl.P.id, sl.V, sl.U, sl.P.ds, sl.P.base, k).Scan(&ids)
	if err != nil {
		t.Fatalf("grow the fixture of %s by %d: %v", s.tenant, k, err)
	}
	return strings.Split(ids, ",")
}

// qcOps are the rows of the permission matrix the creator (who may do everything) plays here:
// those on the private panel P and its view V, those without a target, and the rows through a
// view of P (U), for every operation of the spec.
func qcOps() []mxOp {
	var out []mxOp
	for _, o := range mxOps() {
		if o.adminOnly || !(o.target == tgNone || o.target == tgP || o.target == tgV || o.op == "getPanelRows" && o.target == tgU) {
			continue
		}
		out = append(out, o)
	}
	return out
}

// qcBody is the request body of the operations that write several items at once, with k items
// ("" keeps the matrix's body): the count must not grow with them either.
func qcBody(op string, k int, notes []string) string {
	var items []string
	for n := 1; n <= k; n++ {
		switch op {
		case "markViewNotificationsRead": // the creator's notifications of the fixture
			items = notes
		case "replaceViewSorts":
			items = append(items, fmt.Sprintf(`{"columnName":"Field %d","direction":"desc","order":%d}`, n, n))
		case "replaceViewFilters":
			items = append(items, fmt.Sprintf(`{"columnName":"Field %d","operator":"isNotNull"}`, n))
		case "pushDataSourceRecords":
			items = append(items, fmt.Sprintf(`{"op":"upsert","key":"p%d","record":{"name":"Person %d"}}`, n, n)+"\n")
		case "uploadDataSourceFile":
			items = append(items, fmt.Sprintf("p%d,Person %d\n", n, n))
		default:
			return ""
		}
	}
	switch op {
	case "markViewNotificationsRead":
		return `{"notificationIds":[` + strings.Join(items, ",") + `]}`
	case "replaceViewSorts":
		return `{"sorts":[` + strings.Join(items, ",") + `]}`
	case "replaceViewFilters":
		return `{"filters":[` + strings.Join(items, ",") + `]}`
	case "uploadDataSourceFile":
		return "id,name\n" + strings.Join(items, "")
	}
	return strings.Join(items, "")
}

// qcName names a row of the table; the operations whose body qcBody sizes say so.
func qcName(o mxOp) string {
	switch {
	case o.op == "markViewNotificationsRead":
		return o.op + " (the caller's own, all in one call)"
	case qcBody(o.op, 1, nil) != "":
		return o.name() + " (as many items in the body)"
	}
	return o.name()
}

// qcMeasurement is one call of an operation on one size of fixture.
type qcMeasurement struct {
	stmts []string
	body  int
}

type qcResult struct {
	name, op     string
	small, large qcMeasurement
}

// qcMeasure plays o as tenant A's creator on a fresh fixture grown by k items and returns the
// statements of the call.
func qcMeasure(t *testing.T, o mxOp, k int) qcMeasurement {
	t.Helper()
	w := &mxWorld{A: mxBuildSide(t, newTenant("qc"), 1)}
	sl := w.A.slots[0]
	notes := qcGrow(t, w.A, sl, k)
	c := mxCaller{name: "A/creator", home: true, kind: mxCreator}
	r := o.req(mxCtx{w: w, s: sl, c: c})
	if b := qcBody(o.op, k, notes); b != "" {
		r.body = b
	}
	tok := c.token(w)
	// The first request of a user records the member: warm it up outside the count.
	if resp, body := raw(t, "GET", "/api/notifications/views?limit=1", tok, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("warm-up: %d %s", resp.StatusCode, body)
	}
	id := statements.track()
	headers := map[string]string{"X-Request-Id": id}
	var payload []byte
	if r.body != "" {
		payload = []byte(r.body)
		headers["Content-Type"] = "application/json"
		if r.ctype != "" {
			headers["Content-Type"] = r.ctype
		}
	}
	resp, body := raw(t, r.method, r.path, tok, payload, headers)
	stmts := statements.done(id)
	if got := resp.Header.Get("X-Request-Id"); got != id {
		t.Fatalf("%s %s: X-Request-Id %q, want %q (the count would miss its statements)", r.method, r.path, got, id)
	}
	if resp.StatusCode != o.expect(c) {
		t.Fatalf("%s %s with %d items: status %d, want %d: %s", r.method, r.path, k, resp.StatusCode, o.expect(c), body)
	}
	return qcMeasurement{stmts: stmts, body: len(body)}
}

func TestQueryCount(t *testing.T) {
	ops := qcOps()
	results := make([]qcResult, len(ops))
	t.Cleanup(func() {
		var b strings.Builder
		fmt.Fprintf(&b, "SQL statements per call (cap %d; lists measured with %d and %d items):\n", qcMaxStatements, qcSmall, qcLarge)
		fmt.Fprintf(&b, "  %-62s %6s %6s\n", "operation (matrix row)", "small", "large")
		most, mostName := 0, ""
		for _, r := range results {
			if r.name == "" {
				continue
			}
			fmt.Fprintf(&b, "  %-62s %6d %6d\n", r.name, len(r.small.stmts), len(r.large.stmts))
			if n := max(len(r.small.stmts), len(r.large.stmts)); n > most {
				most, mostName = n, r.name
			}
		}
		fmt.Fprintf(&b, "  most: %d (%s)", most, mostName)
		t.Log(b.String())
	})

	// Rows run concurrently, each on fixtures of its own tenants; the hook tells the calls apart
	// by their request ids.
	work := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				o := ops[i]
				t.Run(o.name(), func(t *testing.T) {
					r := qcResult{name: qcName(o), op: o.op}
					r.small = qcMeasure(t, o, qcSmall)
					r.large = qcMeasure(t, o, qcLarge)
					results[i] = r
					qcCheck(t, r)
				})
			}
		}()
	}
	for i := range ops {
		work <- i
	}
	close(work)
	wg.Wait()
}

func qcCheck(t *testing.T, r qcResult) {
	t.Helper()
	limit := qcMaxStatements
	if c, ok := qcCaps[r.op]; ok {
		limit = c
	}
	for _, m := range []struct {
		size int
		qcMeasurement
	}{{qcSmall, r.small}, {qcLarge, r.large}} {
		if len(m.stmts) > limit {
			t.Errorf("%s with %d items runs %d statements, more than %d:\n  %s", r.name, m.size, len(m.stmts), limit,
				strings.Join(m.stmts, "\n  "))
		}
	}
	if len(r.large.stmts) > len(r.small.stmts) {
		t.Errorf("%s runs %d statements with %d items but %d with %d: a query per item?\n  small:\n  %s\n  large:\n  %s",
			r.name, len(r.large.stmts), qcLarge, len(r.small.stmts), qcSmall,
			strings.Join(r.small.stmts, "\n  "), strings.Join(r.large.stmts, "\n  "))
	}
	if qcLists[r.op] && r.large.body <= r.small.body {
		t.Errorf("%s: the answer with %d items (%d bytes) is not longer than with %d (%d bytes): the fixture does not reach this list",
			r.name, qcLarge, r.large.body, qcSmall, r.small.body)
	}
}

// TestQueryCountCoversTheSpec fails when an operation of the spec is not measured.
func TestQueryCountCoversTheSpec(t *testing.T) {
	measured := map[string]bool{}
	for _, o := range qcOps() {
		measured[o.op] = true
	}
	n := 0
	for path, item := range env.doc.Paths.Map() {
		for method, op := range item.Operations() {
			id := strings.ToLower(op.OperationID[:1]) + op.OperationID[1:]
			n++
			if !measured[id] {
				t.Errorf("%s %s (%s): no statement count", method, path, id)
			}
		}
	}
	if n == 0 {
		t.Fatal("the spec has no operations")
	}
	for op := range qcCaps {
		if !measured[op] {
			t.Errorf("qcCaps names %s, which is not measured", op)
		}
	}
}
