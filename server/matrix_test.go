package server_test

// The permission matrix of docs/permissions.md#the-permission-table. Two tenants, each with a creator, an admin, a builder, a
// user, people holding viewer/editor/owner on a panel, people holding viewer/editor/owner on a
// view, and a reader who sees only a published view; plus a caller without a token. Every
// operation of the spec is played by every caller against tenant A's resources, and the answer
// must be the one the permission table gives: not visible → 404, visible but not allowed → 403.
// Every call that was not an allowed mutation must leave both tenants' rows exactly as they were.

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/server/auth"
)

type mxKind int

const (
	mxCreator     mxKind = iota // created every resource of the fixture (a builder)
	mxAdmin                     // tenant admin, no ACL rows
	mxBuilder                   // builder, no ACL rows
	mxUser                      // user, no ACL rows
	mxPanelViewer               // viewer row on panel P (by email)
	mxPanelEditor               // editor row on panel P (by sub)
	mxPanelOwner                // owner row on panel P (by email; the token's email is mixed case)
	mxViewViewer                // viewer row on view V (by email)
	mxViewEditor                // editor row on view V (by sub)
	mxViewOwner                 // owner row on view V (by email; mixed case in the token)
	mxPublished                 // no rows and no email: reads only the published view W (a view reader of Q)
	mxKinds
)

var mxKindName = [mxKinds]string{"creator", "admin", "builder", "user", "panel-viewer", "panel-editor", "panel-owner",
	"view-viewer", "view-editor", "view-owner", "published-only"}

// mxPerson is a caller's identity: the token's sub and email, and the principal its ACL row names.
type mxPerson struct {
	sub, email, aclName string
	role                auth.Role
}

func mxPersonOf(k mxKind, tenant string) mxPerson {
	dom := "@" + tenant + ".example"
	switch k {
	case mxCreator:
		return mxPerson{"creator", "creator" + dom, "", auth.RoleBuilder}
	case mxAdmin:
		return mxPerson{"admin", "admin" + dom, "", auth.RoleAdmin}
	case mxBuilder:
		return mxPerson{"builder", "builder" + dom, "", auth.RoleBuilder}
	case mxUser:
		return mxPerson{"user", "user" + dom, "", auth.RoleUser}
	case mxPanelViewer:
		return mxPerson{"pviewer", "pviewer" + dom, "pviewer" + dom, auth.RoleUser}
	case mxPanelEditor:
		return mxPerson{"peditor", "peditor" + dom, "peditor", auth.RoleUser}
	case mxPanelOwner:
		return mxPerson{"powner", "POwner" + strings.ToUpper(dom), "powner" + dom, auth.RoleUser}
	case mxViewViewer:
		return mxPerson{"vviewer", "vviewer" + dom, "vviewer" + dom, auth.RoleUser}
	case mxViewEditor:
		return mxPerson{"veditor", "veditor" + dom, "veditor", auth.RoleUser}
	case mxViewOwner:
		return mxPerson{"vowner", "VOwner" + strings.ToUpper(dom), "vowner" + dom, auth.RoleUser}
	default:
		return mxPerson{"reader", "", "", auth.RoleUser}
	}
}

// mxTarget is the resource of tenant A an operation acts on.
type mxTarget int

const (
	tgNone mxTarget = iota
	tgP             // private panel: ACL rows for the panel callers
	tgQ             // panel of the published view W: readable by every member, nobody but its creator has rows
	tgV             // private view on P: ACL rows for the view callers
	tgU             // another private view on P, without rows for the view callers
	tgW             // the published view on Q
)

var mxTargetName = map[mxTarget]string{tgP: "P", tgQ: "Q", tgV: "V", tgU: "U", tgW: "W"}

// The levels of docs/permissions.md#permission-levels, as the matrix writes them: a view reader reads a panel only through a
// view it may read (published, or shared with it), or a view only because it is published.
const (
	lvNone = iota
	lvViewReader
	lvViewer
	lvEditor
	lvOwner
)

// mxLevel is the permission docs/permissions.md#permission-levels gives a caller of tenant A on a target. The creator's
// ownership is its owner rows; admins own everything of their tenant.
func mxLevel(k mxKind, tg mxTarget) int {
	if k == mxCreator || k == mxAdmin {
		return lvOwner
	}
	onPanel := map[mxKind]int{mxPanelViewer: lvViewer, mxPanelEditor: lvEditor, mxPanelOwner: lvOwner}[k]
	onView := map[mxKind]int{mxViewViewer: lvViewer, mxViewEditor: lvEditor, mxViewOwner: lvOwner}[k]
	switch tg {
	case tgP:
		if onPanel == lvNone && onView > lvNone {
			return lvViewReader // through V
		}
		return onPanel
	case tgU:
		return onPanel
	case tgV:
		return max(onPanel, onView)
	case tgQ, tgW:
		return lvViewReader // through the published W
	}
	return lvNone
}

// mxVisibleAt is the level below which an operation's target does not exist for the caller: what
// a view reader never sees (sources, syncs, history, rows without a view, ACL rows) is hidden
// until viewer; everything else is visible to a view reader and refused (403) until its level.
func mxVisibleAt(op, variant string) int {
	switch op {
	case "listDataSources", "getDataSource", "updateDataSource", "deleteDataSource", "updatePanelDataSource",
		"deletePanelDataSource", "syncDataSource", "syncPanelDataSource", "listDataSourceSyncs",
		"uploadDataSourceFile", "pushDataSourceRecords", "listPanelChanges",
		"listAcls", "createAcl", "shareAclPublic", "updateAcl", "deleteAcl",
		"getWebhook", "updateWebhook", "deleteWebhook", "listWebhookDeliveries", "redeliverWebhookDelivery":
		return lvViewer
	case "getPanelRows", "getPanelRowsCSV", "getPanelRowGroups":
		if variant == "" {
			return lvViewer
		}
	case "getColumn":
		if variant == "a column no view shows" {
			return lvViewer
		}
	}
	return lvViewReader
}

// mxKit is a panel with an API source, two spare custom sources, a file source, a base column
// and a calculated column on it.
type mxKit struct{ id, ds, spare1, spare2, file, base, calc, hook, delivery int64 }

// mxSlot is one copy of a tenant's fixture: the private panel P with views V and U, and the panel
// Q of the published view W, with their ACL rows. Copies share nothing, so an allowed mutation
// gets a copy of its own and leaves the others as they were.
type mxSlot struct {
	tenant  string
	P, Q    mxKit
	V, U, W int64
	note    int64    // a notification of someone who is not a caller
	changes [2]int64 // the panel_created changes of P and Q, in stream order
	second  mxTarget // the panel of changes[1]
	// wide is a tenant-wide webhook (the admin's), wideDelivery one of its deliveries.
	wide, wideDelivery int64
}

func (s *mxSlot) kit(tg mxTarget) mxKit {
	if tg == tgQ {
		return s.Q
	}
	return s.P
}

func (s *mxSlot) view(tg mxTarget) int64 {
	return map[mxTarget]int64{tgV: s.V, tgU: s.U, tgW: s.W}[tg]
}

// id is the panel or view a target names.
func (s *mxSlot) id(tg mxTarget) int64 {
	if tg == tgP || tg == tgQ {
		return s.kit(tg).id
	}
	return s.view(tg)
}

// resource is the ACL route of a target.
func (s *mxSlot) resource(tg mxTarget) string {
	if tg == tgP || tg == tgQ {
		return "/api/acls/panel/" + mxID(s.id(tg))
	}
	return "/api/acls/view/" + mxID(s.id(tg))
}

func (s *mxSlot) bystander() string { return "bystander@" + s.tenant + ".example" }
func (s *mxSlot) coowner() string   { return "coowner@" + s.tenant + ".example" }

// mxSide is one tenant: its people and copies of its fixture.
type mxSide struct {
	tenant  string
	persons [mxKinds]mxPerson
	tokens  [mxKinds]string
	slots   []*mxSlot
}

func mxID(n int64) string { return strconv.FormatInt(n, 10) }

// mxRow is an ACL row written with SQL.
type mxRow struct {
	typ, principal, permission string
	id                         int64
}

func mxInsertACLs(t testing.TB, tenant string, rows []mxRow) {
	t.Helper()
	var vals []string
	var args []any
	for _, r := range rows {
		var panelID, viewID sql.NullInt64
		if r.typ == "panel" {
			panelID = sql.NullInt64{Int64: r.id, Valid: true}
		} else {
			viewID = sql.NullInt64{Int64: r.id, Valid: true}
		}
		n := len(args)
		vals = append(vals, fmt.Sprintf("($%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7))
		args = append(args, tenant, r.typ, r.id, panelID, viewID, r.principal, r.permission)
	}
	_, err := secDB(t).ExecContext(t.Context(), `INSERT INTO acls (tenant_id, resource_type, resource_id, panel_id, view_id, user_email, permission)
		VALUES `+strings.Join(vals, ", "), args...)
	if err != nil {
		t.Fatalf("ACL rows of %s: %v", tenant, err)
	}
}

// mxSlotSQL writes one copy of the fixture in one statement, as the API would have left it (owner
// rows for the creator, stored formulas referencing column ids, a panel_created change per panel),
// so that a matrix of thousands of calls can afford a fresh copy for every allowed mutation. The
// allowed calls of the matrix then read and change these rows through the API.
//
// $1 tenant, $2 the creator's email; $3..$8 the principals of the panel viewer, editor and owner and
// of the view viewer, editor and owner; $9 the bystander, $10 the co-owner.
const mxSlotSQL = `
WITH p AS (INSERT INTO panels (tenant_id, owner_user_id, name) VALUES ($1, 'creator', 'Private panel') RETURNING id),
q AS (INSERT INTO panels (tenant_id, owner_user_id, name) VALUES ($1, 'creator', 'Shared panel') RETURNING id),
ds AS (INSERT INTO data_sources (tenant_id, panel_id, type, config)
	SELECT $1, k.id, x.type, x.config::jsonb
	FROM (SELECT 'P' AS which, id FROM p UNION ALL SELECT 'Q', id FROM q) AS k,
	     (VALUES (1, 'api', '{"endpoint": "/api/patients", "method": "GET"}'), (2, 'custom', '{"note": "spare one"}'),
	             (3, 'custom', '{"note": "spare two"}'), (4, 'file', '{"format": "csv", "keyField": "id"}')) AS x(n, type, config)
	ORDER BY k.which, x.n
	RETURNING id, panel_id, type, config),
pb AS (INSERT INTO columns (tenant_id, panel_id, column_type, name, type, source_field, data_source_id)
	SELECT $1, p.id, 'base', 'Email', 'text', 'email', ds.id FROM p JOIN ds ON ds.panel_id = p.id AND ds.type = 'api' RETURNING id),
qb AS (INSERT INTO columns (tenant_id, panel_id, column_type, name, type, source_field, data_source_id)
	SELECT $1, q.id, 'base', 'Email', 'text', 'email', ds.id FROM q JOIN ds ON ds.panel_id = q.id AND ds.type = 'api' RETURNING id),
pc AS (INSERT INTO columns (tenant_id, panel_id, column_type, name, type, formula, dependencies)
	SELECT $1, p.id, 'calculated', 'Shout', 'text', 'UPPER({' || pb.id || '})', ARRAY[pb.id] FROM p, pb RETURNING id),
qc AS (INSERT INTO columns (tenant_id, panel_id, column_type, name, type, formula, dependencies)
	SELECT $1, q.id, 'calculated', 'Shout', 'text', 'UPPER({' || qb.id || '})', ARRAY[qb.id] FROM q, qb RETURNING id),
v AS (INSERT INTO views (tenant_id, panel_id, owner_user_id, name, visible_columns)
	SELECT $1, p.id, 'creator', 'V', jsonb_build_array(pb.id::text) FROM p, pb RETURNING id),
u AS (INSERT INTO views (tenant_id, panel_id, owner_user_id, name, visible_columns)
	SELECT $1, p.id, 'creator', 'U', '["Email"]'::jsonb FROM p RETURNING id),
w AS (INSERT INTO views (tenant_id, panel_id, owner_user_id, name, visible_columns, is_published, published_at, published_by)
	SELECT $1, q.id, 'creator', 'W', jsonb_build_array(qb.id::text), true, now(), 'creator' FROM q, qb RETURNING id),
res AS (SELECT 'panel'::text AS typ, 'P'::text AS name, id FROM p UNION ALL SELECT 'panel', 'Q', id FROM q
	UNION ALL SELECT 'view', 'V', id FROM v UNION ALL SELECT 'view', 'U', id FROM u UNION ALL SELECT 'view', 'W', id FROM w),
grants AS (SELECT * FROM (VALUES
	('P', $2::text, 'owner'), ('Q', $2, 'owner'), ('V', $2, 'owner'), ('U', $2, 'owner'), ('W', $2, 'owner'),
	('P', $3, 'viewer'), ('P', $4, 'editor'), ('P', $5, 'owner'),
	('V', $6, 'viewer'), ('V', $7, 'editor'), ('V', $8, 'owner'),
	('P', $9, 'viewer'), ('Q', $9, 'viewer'), ('V', $9, 'viewer'), ('U', $9, 'viewer'), ('W', $9, 'viewer'),
	('P', $10, 'owner'), ('Q', $10, 'owner'), ('V', $10, 'owner'), ('U', $10, 'owner'), ('W', $10, 'owner')) AS g(name, who, perm)),
acl AS (INSERT INTO acls (tenant_id, resource_type, resource_id, panel_id, view_id, user_email, permission)
	SELECT $1, res.typ, res.id, CASE WHEN res.typ = 'panel' THEN res.id END, CASE WHEN res.typ = 'view' THEN res.id END, g.who, g.perm
	FROM grants AS g JOIN res ON res.name = g.name),
ch AS (INSERT INTO panel_changes (tenant_id, panel_id, panel_name, change_type, entity_type, entity_id, action, description, changed_by, changed_by_email)
	SELECT $1, id, n, 'panel_created', 'panel', id, 'create', 'Panel "' || n || '" created', 'creator', $2
	FROM (SELECT id, 'Private panel' AS n FROM p UNION ALL SELECT id, 'Shared panel' FROM q) AS x),
note AS (INSERT INTO view_notifications (tenant_id, view_id, user_id, impact, message)
	SELECT $1, id, 'bystander', 'info', 'matrix fixture' FROM w RETURNING id)
SELECT (SELECT id FROM p), (SELECT id FROM q), (SELECT id FROM v), (SELECT id FROM u), (SELECT id FROM w),
	(SELECT id FROM pb), (SELECT id FROM pc), (SELECT id FROM qb), (SELECT id FROM qc), (SELECT id FROM note),
	(SELECT array_agg(id ORDER BY id)::text FROM ds WHERE panel_id = (SELECT id FROM p)),
	(SELECT array_agg(id ORDER BY id)::text FROM ds WHERE panel_id = (SELECT id FROM q))`

func mxBuildSlot(t testing.TB, s *mxSide) *mxSlot {
	t.Helper()
	sl := &mxSlot{tenant: s.tenant}
	args := []any{s.tenant, strings.ToLower(s.persons[mxCreator].email)}
	for _, k := range []mxKind{mxPanelViewer, mxPanelEditor, mxPanelOwner, mxViewViewer, mxViewEditor, mxViewOwner} {
		args = append(args, s.persons[k].aclName)
	}
	args = append(args, sl.bystander(), sl.coowner())
	var pds, qds string
	err := secDB(t).QueryRowContext(t.Context(), mxSlotSQL, args...).Scan(&sl.P.id, &sl.Q.id, &sl.V, &sl.U, &sl.W,
		&sl.P.base, &sl.P.calc, &sl.Q.base, &sl.Q.calc, &sl.note, &pds, &qds)
	if err != nil {
		t.Fatalf("fixture of %s: %v", s.tenant, err)
	}
	for _, x := range []struct {
		ids string
		k   *mxKit
	}{{pds, &sl.P}, {qds, &sl.Q}} {
		// The sources were inserted in the order api, custom, custom, file.
		if _, err := fmt.Sscanf(x.ids, "{%d,%d,%d,%d}", &x.k.ds, &x.k.spare1, &x.k.spare2, &x.k.file); err != nil {
			t.Fatalf("data source ids %q: %v", x.ids, err)
		}
	}
	mxFixtureChanges(t, sl)
	waitFinal(t, sl.changes[1])
	// A webhook on each panel (the creator's), a tenant-wide one (the admin's), each with a delivery.
	hook := func(panel *int64, by string, admin bool) (id, delivery int64) {
		err := secDB(t).QueryRowContext(t.Context(), `WITH w AS (INSERT INTO webhooks (tenant_id, panel_id, url, events, secret, created_by, created_by_admin)
			VALUES ($1, $2, $3, '{*}', 'whsec_bWF0cml4', $4, $5) RETURNING id)
			INSERT INTO webhook_deliveries (tenant_id, webhook_id, change_id) SELECT $1, id, 1 FROM w RETURNING webhook_id, id`,
			s.tenant, panel, publicHook, by, admin).Scan(&id, &delivery)
		if err != nil {
			t.Fatalf("webhook fixture of %s: %v", s.tenant, err)
		}
		return id, delivery
	}
	sl.P.hook, sl.P.delivery = hook(&sl.P.id, s.persons[mxCreator].sub, false)
	sl.Q.hook, sl.Q.delivery = hook(&sl.Q.id, s.persons[mxCreator].sub, false)
	sl.wide, sl.wideDelivery = hook(nil, s.persons[mxAdmin].sub, true)
	return sl
}

// mxBuildSide makes a tenant's people (recorded as members, as their first request would have
// done, so that the snapshots only see what the operations change) and n copies of its fixture.
func mxBuildSide(t testing.TB, tenant string, n int) *mxSide {
	t.Helper()
	s := &mxSide{tenant: tenant}
	var vals []string
	var args []any
	for k := range mxKinds {
		s.persons[k] = mxPersonOf(k, tenant)
		p := s.persons[k]
		s.tokens[k] = token(t, tenant, p.sub, p.email, p.role)
		var email sql.NullString
		if p.email != "" {
			email = sql.NullString{String: strings.ToLower(p.email), Valid: true}
		}
		vals = append(vals, fmt.Sprintf("($%d, $%d, $%d)", len(args)+1, len(args)+2, len(args)+3))
		args = append(args, tenant, p.sub, email)
	}
	if _, err := secDB(t).ExecContext(t.Context(), "INSERT INTO members (tenant_id, user_id, email) VALUES "+strings.Join(vals, ", "), args...); err != nil {
		t.Fatalf("members of %s: %v", tenant, err)
	}
	for range n {
		s.slots = append(s.slots, mxBuildSlot(t, s))
	}
	return s
}

// mxWorld is the two tenants of one row of the matrix; the operations name tenant A's resources.
type mxWorld struct{ A, B *mxSide }

// newMxWorld builds tenant A with n copies of its fixture and tenant B with one, and rows of
// tenant B naming tenant A's ids, which would grant B's people everything if a permission check
// ever ignored the tenant.
func newMxWorld(t testing.TB, n int) *mxWorld {
	t.Helper()
	w := &mxWorld{A: mxBuildSide(t, newTenant("mx-a"), n), B: mxBuildSide(t, newTenant("mx-b"), 1)}
	var stray []mxRow
	for _, a := range w.A.slots {
		stray = append(stray,
			mxRow{"panel", "_all", "owner", a.P.id},
			mxRow{"panel", w.B.persons[mxPanelOwner].aclName, "owner", a.P.id},
			mxRow{"panel", "_all", "owner", a.Q.id},
			mxRow{"view", "_all", "owner", a.V},
			mxRow{"view", w.B.persons[mxViewOwner].aclName, "owner", a.V},
			mxRow{"view", "_all", "owner", a.W})
	}
	mxInsertACLs(t, w.B.tenant, stray)
	return w
}

var mxSnapshotSQL = func() string {
	var parts []string
	byTenant := func(table, order string) {
		parts = append(parts, fmt.Sprintf(`'%[1]s', (SELECT COALESCE(jsonb_agg(to_jsonb(x) ORDER BY %[2]s), '[]'::jsonb) FROM %[1]s AS x WHERE x.tenant_id IN ($1, $2))`, table, order))
	}
	for _, table := range []string{"panels", "data_sources", "columns", "views", "acls", "panel_changes", "view_notifications", "source_syncs",
		"webhooks", "webhook_deliveries"} {
		byTenant(table, "x.id")
	}
	byTenant("record_sets", "x.data_source_id")
	byTenant("idempotency_keys", "x.user_id, x.key")
	byTenant("members", "x.tenant_id, x.user_id")
	through := func(table, parent, fk, order string) {
		parts = append(parts, fmt.Sprintf(`'%[1]s', (SELECT COALESCE(jsonb_agg(to_jsonb(x) ORDER BY %[4]s), '[]'::jsonb) FROM %[1]s AS x JOIN %[2]s AS o ON o.id = x.%[3]s WHERE o.tenant_id IN ($1, $2))`, table, parent, fk, order))
	}
	through("view_sorts", "views", "view_id", "x.id")
	through("view_filters", "views", "view_id", "x.id")
	through("source_records", "data_sources", "data_source_id", "x.data_source_id, x.ord")
	return "SELECT jsonb_build_object(" + strings.Join(parts, ", ") + ")::text"
}()

// snapshot is every row of both tenants in every table, as text: equal snapshots mean nothing changed.
func (w *mxWorld) snapshot(t testing.TB) string {
	t.Helper()
	var s string
	if err := secDB(t).QueryRowContext(t.Context(), mxSnapshotSQL, w.A.tenant, w.B.tenant).Scan(&s); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return s
}

// mxDiff describes how two snapshots differ, row by row, so a failure shows only what changed.
func mxDiff(before, after string) string {
	var b, a map[string][]json.RawMessage
	if json.Unmarshal([]byte(before), &b) != nil || json.Unmarshal([]byte(after), &a) != nil {
		return "before " + before + "\nafter  " + after
	}
	var out []string
	for table, rowsB := range b {
		rowsA := a[table]
		inA := map[string]bool{}
		for _, r := range rowsA {
			inA[string(r)] = true
		}
		inB := map[string]bool{}
		for _, r := range rowsB {
			inB[string(r)] = true
			if !inA[string(r)] {
				out = append(out, table+" − "+string(r))
			}
		}
		for _, r := range rowsA {
			if !inB[string(r)] {
				out = append(out, table+" + "+string(r))
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// mxCaller is one column of the matrix.
type mxCaller struct {
	name string
	home bool // of tenant A, whose resources the operations name
	kind mxKind
	anon bool // no token at all
}

func (c mxCaller) side(w *mxWorld) *mxSide {
	if c.home {
		return w.A
	}
	return w.B
}

func (c mxCaller) person(w *mxWorld) mxPerson { return c.side(w).persons[c.kind] }

func (c mxCaller) token(w *mxWorld) string {
	if c.anon {
		return ""
	}
	return c.side(w).tokens[c.kind]
}

func mxCallers() []mxCaller {
	var out []mxCaller
	for _, home := range []bool{true, false} {
		for k := range mxKinds {
			name := "A/" + mxKindName[k]
			if !home {
				name = "B/" + mxKindName[k]
			}
			out = append(out, mxCaller{name: name, home: home, kind: k})
		}
	}
	return append(out, mxCaller{name: "anonymous", anon: true})
}

// mxCtx is one call of the matrix: a caller, the world, and the copy of tenant A's fixture the
// call acts on.
type mxCtx struct {
	w *mxWorld
	s *mxSlot
	c mxCaller
}

// mxReq is the request of a call; ctype defaults to JSON when there is a body.
type mxReq struct{ method, path, body, ctype string }

// mxOp is one row of the matrix: an operation (or a variant of it) on one target.
type mxOp struct {
	op        string // operationId
	variant   string
	target    mxTarget
	need      int  // level needed on the target (lvViewReader..lvOwner); 0: any member
	noUsers   bool // callers with the user role are refused (creating panels)
	adminOnly bool // only admins (someone else's ACL rows)
	// panelViewer: the view's panel must be readable too (changing the columns a view names)
	panelViewer bool
	public      bool // system route: no token needed, the same answer for everyone
	// tenantRow: the path names a row of tenant A that is on no panel (a tenant-wide webhook), so
	// that tenant B's callers do not find it
	tenantRow bool
	ok        int  // the status when allowed
	mutates   bool // an allowed call changes rows
	stream    bool // an event stream: read until its replay is over, then closed
	req       func(x mxCtx) mxReq
	check     func(t *testing.T, x mxCtx, body []byte)
}

func (o mxOp) name() string {
	n := o.op
	if o.variant != "" {
		n += " (" + o.variant + ")"
	}
	if o.target != tgNone {
		n += " on " + mxTargetName[o.target]
	}
	return n
}

// expect is the status docs/permissions.md#not-found-or-forbidden gives the caller.
func (o mxOp) expect(c mxCaller) int {
	switch {
	case o.public:
		return o.ok
	case c.anon:
		return http.StatusUnauthorized
	case o.target == tgNone:
		if o.tenantRow && !c.home {
			return http.StatusNotFound
		}
		if o.noUsers && mxPersonOf(c.kind, "").role == auth.RoleUser || o.adminOnly && c.kind != mxAdmin {
			return http.StatusForbidden
		}
		return o.ok
	}
	level := lvNone
	if c.home {
		level = mxLevel(c.kind, o.target)
	}
	switch {
	case level < mxVisibleAt(o.op, o.variant):
		return http.StatusNotFound
	case level < o.need:
		return http.StatusForbidden
	case o.panelViewer && mxLevel(c.kind, map[mxTarget]mxTarget{tgV: tgP, tgU: tgP, tgW: tgQ}[o.target]) < lvViewer:
		return http.StatusForbidden
	}
	return o.ok
}

// mxAt is a request whose path depends only on the copy of the fixture.
func mxAt(method string, path func(s *mxSlot) string, body string) func(mxCtx) mxReq {
	return func(x mxCtx) mxReq { return mxReq{method: method, path: path(x.s), body: body} }
}

func mxConst(s string) func(*mxSlot) string { return func(*mxSlot) string { return s } }

// mxOps is every row of the matrix.
func mxOps() []mxOp {
	var ops []mxOp
	add := func(o mxOp) { ops = append(ops, o) }

	// Operations without a target resource.
	add(mxOp{op: "listPanels", ok: 200, req: mxAt("GET", mxConst("/api/panels"), ""),
		check: mxCheckListed{key: "", idField: "id", targets: []mxTarget{tgP, tgQ}, min: lvViewer}.check})
	add(mxOp{op: "createPanel", noUsers: true, ok: 201, mutates: true, req: mxAt("POST", mxConst("/api/panels"), `{"name":"Matrix panel"}`)})
	add(mxOp{op: "listViews", ok: 200, req: mxAt("GET", mxConst("/api/views"), ""),
		check: mxCheckListed{key: "views", idField: "id", targets: []mxTarget{tgV, tgU, tgW}, min: lvViewReader}.check})
	add(mxOp{op: "listViews", variant: "panelId of P", ok: 200,
		req:   mxAt("GET", func(s *mxSlot) string { return "/api/views?panelId=" + mxID(s.P.id) }, ""),
		check: mxCheckListed{key: "views", idField: "id", targets: []mxTarget{tgV, tgU}, aOnly: true, min: lvViewReader}.check})
	add(mxOp{op: "listPanelChanges", ok: 200, req: mxAt("GET", mxConst("/api/changes/panels?limit=500"), ""),
		check: mxCheckListed{key: "changes", idField: "panelId", targets: []mxTarget{tgP, tgQ}, min: lvViewer}.check})
	add(mxOp{op: "listUserAcls", variant: "own rows", ok: 200, check: mxCheckOwnACLs,
		req: func(x mxCtx) mxReq {
			p := x.c.person(x.w)
			name := p.email
			if name == "" {
				name = p.sub
			}
			return mxReq{method: "GET", path: "/api/acls/user/" + name}
		}})
	add(mxOp{op: "listUserAcls", variant: "someone else's rows", adminOnly: true, ok: 200, check: mxCheckOthersACLs,
		req: mxAt("GET", func(s *mxSlot) string { return "/api/acls/user/" + s.bystander() }, "")})
	add(mxOp{op: "listOrganizationMembers", ok: 200, req: mxAt("GET", mxConst("/api/organization/members"), ""), check: mxCheckMembers})
	// The stream resumed from the first change of the fixture replays the second one (the other
	// panel's panel_created) to those who may read that panel's history, and nothing else; callers
	// of tenant B get a reset, since tenant A's event ids are not theirs.
	add(mxOp{op: "streamEvents", ok: 200, stream: true, check: mxCheckStream,
		req: func(x mxCtx) mxReq {
			return mxReq{method: "GET", path: "/api/events?lastEventId=" + mxID(x.s.changes[0])}
		}})
	add(mxOp{op: "listViewNotifications", ok: 200, req: mxAt("GET", mxConst("/api/notifications/views"), ""), check: mxCheckNoNotifications})
	add(mxOp{op: "markViewNotificationsRead", variant: "someone else's notification", ok: 200,
		req: func(x mxCtx) mxReq {
			return mxReq{method: "PUT", path: "/api/notifications/views/mark-read", body: fmt.Sprintf(`{"notificationIds":[%d]}`, x.s.note)}
		},
		check: func(t *testing.T, x mxCtx, body []byte) {
			var r struct{ Updated int }
			if err := json.Unmarshal(body, &r); err != nil || r.Updated != 0 {
				t.Errorf("%s marked someone else's notification read: %s", x.c.name, body)
			}
		}})

	// Webhooks: tenant-wide ones are the admin role's; a panel's need editor on it (below).
	add(mxOp{op: "listWebhooks", ok: 200, req: mxAt("GET", mxConst("/api/webhooks"), "")})
	add(mxOp{op: "createWebhook", variant: "tenant-wide", adminOnly: true, ok: 201, mutates: true,
		req: mxAt("POST", mxConst("/api/webhooks"), `{"url":"`+publicHook+`","events":["*"]}`)})
	wideOp := func(op, method, suffix, body string, ok int) {
		add(mxOp{op: op, variant: "tenant-wide", adminOnly: true, tenantRow: true, ok: ok, mutates: method != "GET",
			req: mxAt(method, func(s *mxSlot) string {
				return "/api/webhooks/" + mxID(s.wide) + strings.ReplaceAll(suffix, "{d}", mxID(s.wideDelivery))
			}, body)})
	}
	wideOp("getWebhook", "GET", "", "", 200)
	wideOp("updateWebhook", "PUT", "", `{"description":"matrix"}`, 200)
	wideOp("deleteWebhook", "DELETE", "", "", 204)
	wideOp("listWebhookDeliveries", "GET", "/deliveries", "", 200)
	wideOp("redeliverWebhookDelivery", "POST", "/deliveries/{d}/redeliver", "", 202)

	// System routes answer everyone alike, token or not (without METRICS_TOKEN, as here, /metrics too).
	for op, path := range map[string]string{"getHealth": "/health", "getReadiness": "/healthz", "getLiveness": "/liveness",
		"getDocs": "/docs", "getDocsAsset": "/docs/assets/docs.js", "getOpenAPIYAML": "/openapi.yaml", "getOpenAPIJSON": "/openapi.json",
		"getMetrics": "/metrics"} {
		add(mxOp{op: op, public: true, ok: 200, req: mxAt("GET", mxConst(path), "")})
	}

	// Panels and everything in them, on the private panel and on the published view's panel.
	for _, tg := range []mxTarget{tgP, tgQ} {
		pp := func(s *mxSlot) string { return "/api/panels/" + mxID(s.kit(tg).id) }
		dsp := func(pick func(k mxKit) int64, suffix string) func(s *mxSlot) string {
			return func(s *mxSlot) string { return "/api/datasources/" + mxID(pick(s.kit(tg))) + suffix }
		}
		under := func(suffix func(k mxKit) string) func(s *mxSlot) string {
			return func(s *mxSlot) string { return pp(s) + suffix(s.kit(tg)) }
		}
		fixed := func(suffix string) func(k mxKit) string { return func(mxKit) string { return suffix } }
		ds := func(k mxKit) int64 { return k.ds }
		spare1 := func(k mxKit) int64 { return k.spare1 }
		op := func(op, method string, path func(s *mxSlot) string, body string, need, ok int) {
			add(mxOp{op: op, target: tg, need: need, ok: ok, mutates: method != "GET", req: mxAt(method, path, body)})
		}
		add(mxOp{op: "getPanel", target: tg, need: lvViewReader, ok: 200, req: mxAt("GET", pp, ""), check: mxCheckPanel(tg)})
		op("updatePanel", "PUT", pp, `{"name":"Renamed by the matrix"}`, lvEditor, 200)
		op("deletePanel", "DELETE", pp, "", lvOwner, 204)
		add(mxOp{op: "createWebhook", target: tg, need: lvEditor, ok: 201, mutates: true,
			req: func(x mxCtx) mxReq {
				return mxReq{method: "POST", path: "/api/webhooks", body: fmt.Sprintf(`{"url":"%s","events":["*"],"panelId":%d}`, publicHook, x.s.kit(tg).id)}
			}})
		hookPath := func(suffix string) func(s *mxSlot) string {
			return func(s *mxSlot) string {
				k := s.kit(tg)
				return "/api/webhooks/" + mxID(k.hook) + strings.ReplaceAll(suffix, "{d}", mxID(k.delivery))
			}
		}
		op("getWebhook", "GET", hookPath(""), "", lvEditor, 200)
		op("updateWebhook", "PUT", hookPath(""), `{"description":"matrix"}`, lvEditor, 200)
		op("deleteWebhook", "DELETE", hookPath(""), "", lvEditor, 204)
		op("listWebhookDeliveries", "GET", hookPath("/deliveries"), "", lvEditor, 200)
		op("redeliverWebhookDelivery", "POST", hookPath("/deliveries/{d}/redeliver"), "", lvEditor, 202)
		op("listDataSources", "GET", under(fixed("/datasources")), "", lvViewer, 200)
		op("createDataSource", "POST", under(fixed("/datasources")), `{"type":"custom","config":{"x":1}}`, lvEditor, 201)
		op("getDataSource", "GET", dsp(ds, ""), "", lvViewer, 200)
		op("updateDataSource", "PUT", dsp(ds, ""), `{"config":{"endpoint":"/api/other","method":"GET"}}`, lvEditor, 200)
		op("updatePanelDataSource", "PUT", under(func(k mxKit) string { return "/datasources/" + mxID(k.ds) }),
			`{"config":{"endpoint":"/api/third","method":"POST"}}`, lvEditor, 200)
		op("deleteDataSource", "DELETE", dsp(spare1, ""), "", lvEditor, 204)
		op("deletePanelDataSource", "DELETE", under(func(k mxKit) string { return "/datasources/" + mxID(k.spare2) }), "", lvEditor, 204)
		op("syncDataSource", "POST", dsp(spare1, "/sync"), "", lvEditor, 200)
		op("syncPanelDataSource", "POST", under(func(k mxKit) string { return "/datasources/" + mxID(k.spare1) + "/sync" }), "", lvEditor, 200)
		op("listDataSourceSyncs", "GET", dsp(ds, "/syncs"), "", lvViewer, 200)
		add(mxOp{op: "uploadDataSourceFile", target: tg, need: lvEditor, ok: 200, mutates: true,
			req: func(x mxCtx) mxReq {
				return mxReq{method: "POST", path: "/api/datasources/" + mxID(x.s.kit(tg).file) + "/upload", body: "id,name\np1,Ada Lovelace\n", ctype: "text/csv"}
			}})
		add(mxOp{op: "pushDataSourceRecords", target: tg, need: lvEditor, ok: 200, mutates: true,
			req: func(x mxCtx) mxReq {
				return mxReq{method: "POST", path: "/api/datasources/" + mxID(x.s.kit(tg).spare1) + "/records",
					body: `{"op":"upsert","key":"p1","record":{"name":"Ada Lovelace"}}` + "\n", ctype: "application/x-ndjson"}
			}})
		op("getPanelRows", "GET", under(fixed("/rows")), "", lvViewer, 200)
		op("getPanelRowsCSV", "GET", under(fixed("/rows.csv")), "", lvViewer, 200)
		op("getPanelRowGroups", "GET", under(fixed("/rows/groups?by=Email")), "", lvViewer, 200)
		add(mxOp{op: "listColumns", target: tg, need: lvViewReader, ok: 200, req: mxAt("GET", under(fixed("/columns")), ""), check: mxCheckColumns(tg)})
		add(mxOp{op: "createBaseColumn", target: tg, need: lvEditor, ok: 201, mutates: true,
			req: func(x mxCtx) mxReq {
				k := x.s.kit(tg)
				return mxReq{method: "POST", path: pp(x.s) + "/columns/base",
					body: `{"name":"Phone","type":"text","sourceField":"phone","dataSourceId":` + mxID(k.ds) + `,"properties":{}}`}
			}})
		op("createCalculatedColumn", "POST", under(fixed("/columns/calculated")), `{"name":"Whisper","type":"text","formula":"LOWER([Email])","properties":{}}`, lvEditor, 201)
		// The base column is the one the views show: a view reader reads its definition, not the other's.
		op("getColumn", "GET", under(func(k mxKit) string { return "/columns/" + mxID(k.base) }), "", lvViewReader, 200)
		add(mxOp{op: "getColumn", variant: "a column no view shows", target: tg, need: lvViewer, ok: 200,
			req: mxAt("GET", under(func(k mxKit) string { return "/columns/" + mxID(k.calc) }), "")})
		op("updateColumn", "PUT", under(func(k mxKit) string { return "/columns/" + mxID(k.base) }), `{"name":"E-mail"}`, lvEditor, 200)
		op("deleteColumn", "DELETE", under(func(k mxKit) string { return "/columns/" + mxID(k.calc) }), "", lvEditor, 204)
		// Views are personal worklists: viewer on the panel is enough to make one (but reading it
		// through a view is not).
		add(mxOp{op: "createView", target: tg, need: lvViewer, ok: 201, mutates: true,
			req: func(x mxCtx) mxReq {
				k := x.s.kit(tg)
				return mxReq{method: "POST", path: "/api/views", body: fmt.Sprintf(`{"name":"Mine","panelId":%d,"visibleColumns":["%d"]}`, k.id, k.base)}
			}})
		op("listPanelChanges", "GET", func(s *mxSlot) string { return "/api/changes/panels?panelId=" + mxID(s.kit(tg).id) }, "", lvViewer, 200)
	}

	// Views, on the private view with rows for the view callers, on another private view of the
	// same panel, and on the published view.
	for _, tg := range []mxTarget{tgV, tgU, tgW} {
		vp := func(suffix string) func(s *mxSlot) string {
			return func(s *mxSlot) string { return "/api/views/" + mxID(s.view(tg)) + suffix }
		}
		op := func(op, method string, path func(s *mxSlot) string, body string, need, ok int) {
			add(mxOp{op: op, target: tg, need: need, ok: ok, mutates: method != "GET", req: mxAt(method, path, body)})
		}
		op("getView", "GET", vp(""), "", lvViewReader, 200)
		op("updateView", "PUT", vp(""), `{"name":"Renamed by the matrix"}`, lvEditor, 200)
		op("deleteView", "DELETE", vp(""), "", lvEditor, 204)
		op("getViewSorts", "GET", vp("/sorts"), "", lvViewReader, 200)
		add(mxOp{op: "replaceViewSorts", target: tg, need: lvEditor, panelViewer: true, ok: 200, mutates: true,
			req: mxAt("PUT", vp("/sorts"), `{"sorts":[{"columnName":"Email","direction":"desc","order":1}]}`)})
		op("getViewFilters", "GET", vp("/filters"), "", lvViewReader, 200)
		add(mxOp{op: "replaceViewFilters", target: tg, need: lvEditor, panelViewer: true, ok: 200, mutates: true,
			req: mxAt("PUT", vp("/filters"), `{"filters":[{"columnName":"Email","operator":"isNotNull"}]}`)})
		add(mxOp{op: "updateView", variant: "visible columns", target: tg, need: lvEditor, panelViewer: true, ok: 200, mutates: true,
			req: mxAt("PUT", vp(""), `{"visibleColumns":["Email"]}`)})
		op("publishView", "POST", vp("/publish"), "", lvEditor, 200)
		op("unpublishView", "POST", vp("/unpublish"), "", lvEditor, 200)
	}
	// A panel's rows through a view need only the view: its view callers read V's rows (and only
	// its visible column) without any permission on P.
	for _, tg := range []mxTarget{tgV, tgU, tgW} {
		panelOf := map[mxTarget]mxTarget{tgV: tgP, tgU: tgP, tgW: tgQ}[tg]
		add(mxOp{op: "getPanelRows", variant: "with viewId of " + mxTargetName[tg], target: tg, need: lvViewReader, ok: 200,
			check: mxCheckViewRows,
			req: mxAt("GET", func(s *mxSlot) string {
				return "/api/panels/" + mxID(s.kit(panelOf).id) + "/rows?viewId=" + mxID(s.view(tg))
			}, "")})
		add(mxOp{op: "getPanelRowsCSV", variant: "with viewId of " + mxTargetName[tg], target: tg, need: lvViewReader, ok: 200,
			check: mxCheckViewCSV,
			req: mxAt("GET", func(s *mxSlot) string {
				return "/api/panels/" + mxID(s.kit(panelOf).id) + "/rows.csv?viewId=" + mxID(s.view(tg))
			}, "")})
		add(mxOp{op: "getPanelRowGroups", variant: "with viewId of " + mxTargetName[tg], target: tg, need: lvViewReader, ok: 200,
			check: mxCheckViewGroups,
			req: mxAt("GET", func(s *mxSlot) string {
				return "/api/panels/" + mxID(s.kit(panelOf).id) + "/rows/groups?by=Email&viewId=" + mxID(s.view(tg))
			}, "")})
	}

	// ACL rows of every target: readers list them, editors grant and revoke viewer/editor and share
	// with _all, owners manage owners.
	for _, tg := range []mxTarget{tgP, tgQ, tgV, tgU, tgW} {
		res := func(suffix func(s *mxSlot) string) func(s *mxSlot) string {
			return func(s *mxSlot) string { return s.resource(tg) + suffix(s) }
		}
		op := func(op, variant, method string, path func(s *mxSlot) string, body func(s *mxSlot) string, need, ok int) {
			add(mxOp{op: op, variant: variant, target: tg, need: need, ok: ok, mutates: method != "GET",
				req: func(x mxCtx) mxReq {
					r := mxReq{method: method, path: path(x.s)}
					if body != nil {
						r.body = body(x.s)
					}
					return r
				}})
		}
		grant := func(who, perm string) func(s *mxSlot) string {
			return func(s *mxSlot) string {
				if who == "" {
					who = "grantee@" + s.tenant + ".example"
				}
				return `{"userEmail":"` + who + `","permission":"` + perm + `"}`
			}
		}
		bystander := func(s *mxSlot) string { return "/" + s.bystander() }
		op("listAcls", "", "GET", res(mxConst("")), nil, lvViewer, 200)
		op("createAcl", "grant viewer", "POST", res(mxConst("")), grant("", "viewer"), lvEditor, 201)
		op("createAcl", "grant owner", "POST", res(mxConst("")), grant("", "owner"), lvOwner, 201)
		op("createAcl", "_all through the ordinary create", "POST", res(mxConst("")), grant("_all", "viewer"), lvEditor, 201)
		op("shareAclPublic", "", "POST", res(mxConst("/share-public")), mxConst(`{"permission":"editor"}`), lvEditor, 201)
		op("updateAcl", "viewer to editor, unencoded email", "PUT", res(bystander), mxConst(`{"permission":"editor"}`), lvEditor, 200)
		op("updateAcl", "viewer to owner", "PUT", res(bystander), mxConst(`{"permission":"owner"}`), lvOwner, 200)
		op("deleteAcl", "revoke viewer", "DELETE", res(bystander), nil, lvEditor, 204)
		op("deleteAcl", "revoke an owner, encoded email", "DELETE",
			res(func(s *mxSlot) string { return "/" + strings.ReplaceAll(s.coowner(), "@", "%40") }), nil, lvOwner, 204)
	}
	return ops
}

// mxCheckListed checks which of the fixture's resources a list shows: exactly those of the
// caller's own tenant it can read. key is the envelope's field ("" for a bare array); aOnly limits
// the check to tenant A (a list filtered by A's panel).
type mxCheckListed struct {
	key, idField string
	targets      []mxTarget
	aOnly        bool
	min          int // the level at which the list shows a target
}

func (l mxCheckListed) check(t *testing.T, x mxCtx, body []byte) {
	t.Helper()
	c, w := x.c, x.w
	var items []map[string]any
	if l.key == "" {
		if err := json.Unmarshal(body, &items); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	} else {
		var env map[string]json.RawMessage
		if err := json.Unmarshal(body, &env); err != nil || json.Unmarshal(env[l.key], &items) != nil {
			t.Fatalf("%s: not a {%s} list: %s", c.name, l.key, body)
		}
	}
	listed := map[int64]bool{}
	for _, it := range items {
		if f, ok := it[l.idField].(float64); ok {
			listed[int64(f)] = true
		}
		if tn, ok := it["tenantId"].(string); ok && tn != c.side(w).tenant {
			t.Errorf("%s: lists an item of tenant %s", c.name, tn)
		}
	}
	sides := []*mxSide{w.A, w.B}
	if l.aOnly {
		sides = sides[:1]
	}
	for _, s := range sides {
		for _, tg := range l.targets {
			want := s == c.side(w) && mxLevel(c.kind, tg) >= l.min
			if got := listed[s.slots[0].id(tg)]; got != want {
				t.Errorf("%s: %s of tenant %s listed: %t, want %t", c.name, mxTargetName[tg], s.tenant, got, want)
			}
		}
	}
}

type mxACL struct {
	TenantID     string `json:"tenantId"`
	ResourceType string `json:"resourceType"`
	ResourceID   int64  `json:"resourceId"`
	UserEmail    string `json:"userEmail"`
}

func mxACLs(t *testing.T, body []byte) []mxACL {
	t.Helper()
	var l struct{ Acls []mxACL }
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("not an {acls} list: %s", body)
	}
	return l.Acls
}

// mxCheckOwnACLs: only rows naming the caller (email or sub) or _all, of its own tenant, including
// its own grant.
func mxCheckOwnACLs(t *testing.T, x mxCtx, body []byte) {
	t.Helper()
	p, s := x.c.person(x.w), x.c.side(x.w)
	mine := []string{p.sub, strings.ToLower(p.email), "_all"}
	var sawGrant bool
	for _, a := range mxACLs(t, body) {
		if a.TenantID != s.tenant || !slices.Contains(mine, a.UserEmail) {
			t.Errorf("%s: own ACL list holds %+v", x.c.name, a)
		}
		sawGrant = sawGrant || p.aclName != "" && a.UserEmail == p.aclName
	}
	if p.aclName != "" && !sawGrant {
		t.Errorf("%s: own ACL list lacks its row naming %q: %s", x.c.name, p.aclName, body)
	}
}

// mxCheckPanel: a view reader gets the panel's name and description, marked viewOnly, with its
// cohort rule and metadata withheld; everyone else gets the whole panel.
func mxCheckPanel(tg mxTarget) func(t *testing.T, x mxCtx, body []byte) {
	return func(t *testing.T, x mxCtx, body []byte) {
		t.Helper()
		var p gen.Panel
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("%s: %s", x.c.name, body)
		}
		reader := mxLevel(x.c.kind, tg) == lvViewReader
		if got := p.ViewOnly != nil && *p.ViewOnly; got != reader || p.Name == "" {
			t.Errorf("%s: panel %s viewOnly %t, want %t: %s", x.c.name, mxTargetName[tg], got, reader, body)
		}
		if reader && (len(p.CohortRule.Conditions) != 0 || len(p.Metadata) != 0) {
			t.Errorf("%s: a view reader sees the cohort rule or metadata: %s", x.c.name, body)
		}
	}
}

// mxCheckColumns: a view reader lists only the column the views show (the base column), the
// others every column.
func mxCheckColumns(tg mxTarget) func(t *testing.T, x mxCtx, body []byte) {
	return func(t *testing.T, x mxCtx, body []byte) {
		t.Helper()
		var l gen.ColumnList
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatalf("%s: %s", x.c.name, body)
		}
		k := x.s.kit(tg)
		var got []int64
		for _, c := range append(l.BaseColumns, l.CalculatedColumns...) {
			got = append(got, c.Id)
		}
		want := []int64{k.base, k.calc}
		if mxLevel(x.c.kind, tg) == lvViewReader {
			want = want[:1]
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: columns of %s %v, want %v: %s", x.c.name, mxTargetName[tg], got, want, body)
		}
	}
}

// mxCheckViewRows: rows through a view answer its visible column (Email) and nothing else.
func mxCheckViewRows(t *testing.T, x mxCtx, body []byte) {
	t.Helper()
	var r gen.PanelRows
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%s: %s", x.c.name, body)
	}
	if len(r.Columns) != 1 || r.Columns[0].Name != "Email" {
		t.Errorf("%s: rows through a view answer columns %+v, want only Email", x.c.name, r.Columns)
	}
}

// mxCheckViewGroups: the counts through a view are of its rows (by its visible column).
func mxCheckViewGroups(t *testing.T, x mxCtx, body []byte) {
	t.Helper()
	var r gen.RowGroups
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%s: %s", x.c.name, body)
	}
	var n int64
	for _, g := range r.Groups {
		n += g.Count
	}
	if n != r.Total || r.TotalCapped {
		t.Errorf("%s: group counts %s", x.c.name, body)
	}
}

// mxCheckViewCSV: the export through a view names its visible column only.
func mxCheckViewCSV(t *testing.T, x mxCtx, body []byte) {
	t.Helper()
	header, _, _ := strings.Cut(string(body), "\n")
	if strings.TrimSpace(header) != "Email" {
		t.Errorf("%s: the CSV export through a view has the columns %q, want only Email", x.c.name, header)
	}
}

// mxCheckOthersACLs: an admin sees the bystander's rows of its own tenant only.
func mxCheckOthersACLs(t *testing.T, x mxCtx, body []byte) {
	t.Helper()
	n := 0
	for _, a := range mxACLs(t, body) {
		if a.TenantID != x.c.side(x.w).tenant {
			t.Errorf("%s: ACL row of another tenant: %+v", x.c.name, a)
		}
		if a.UserEmail == x.s.bystander() {
			n++
		}
	}
	if want := map[bool]int{true: 5 * len(x.w.A.slots), false: 0}[x.c.home]; n != want {
		t.Errorf("%s: %d rows of %s, want %d: %s", x.c.name, n, x.s.bystander(), want, body)
	}
}

// mxCheckMembers: the caller's own tenant's members, never the other's.
func mxCheckMembers(t *testing.T, x mxCtx, body []byte) {
	t.Helper()
	var l struct {
		Members []struct {
			MemberID string `json:"member_id"`
			Email    string `json:"email_address"`
		}
	}
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("%s: %s", x.c.name, body)
	}
	other := x.w.B
	if !x.c.home {
		other = x.w.A
	}
	var self bool
	for _, m := range l.Members {
		if strings.Contains(m.Email, other.tenant) {
			t.Errorf("%s: member of the other tenant: %+v", x.c.name, m)
		}
		self = self || m.MemberID == x.c.person(x.w).sub
	}
	if len(l.Members) != int(mxKinds) || !self {
		t.Errorf("%s: want the %d members of its tenant, itself included: %s", x.c.name, mxKinds, body)
	}
}

func mxCheckNoNotifications(t *testing.T, x mxCtx, body []byte) {
	t.Helper()
	var l struct {
		Notifications []json.RawMessage
		Total         int
	}
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("%s: %s", x.c.name, body)
	}
	// Nobody but the bystander has a notification.
	if len(l.Notifications) != 0 || l.Total != 0 {
		t.Errorf("%s: sees notifications: %s", x.c.name, body)
	}
}

// mxTally counts what the matrix checked.
type mxTally struct {
	calls, refused, unchanged atomic.Int64
	byStatus                  sync.Map // int → *atomic.Int64
}

func (m *mxTally) status(s int) {
	v, _ := m.byStatus.LoadOrStore(s, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func TestPermissionMatrix(t *testing.T) {
	ops, callers := mxOps(), mxCallers()
	var tally mxTally
	opIDs := map[string]bool{}
	for _, o := range ops {
		opIDs[o.op] = true
	}
	t.Cleanup(func() {
		var statuses []string
		tally.byStatus.Range(func(k, v any) bool {
			statuses = append(statuses, fmt.Sprintf("%d×%d", k, v.(*atomic.Int64).Load()))
			return true
		})
		sort.Strings(statuses)
		t.Logf("permission matrix: %d operations × %d callers; %d rows (operations with their variants and targets) × %d callers = %d calls; "+
			"%d refused calls (401/403/404) checked to change nothing, %d calls in all; statuses %s",
			len(opIDs), len(callers), len(ops), len(callers), tally.calls.Load(), tally.refused.Load(), tally.unchanged.Load(),
			strings.Join(statuses, " "))
	})

	// Rows run concurrently, each in a world of its own tenants: the calls are I/O-bound.
	work := make(chan mxOp)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				t.Run(o.name(), func(t *testing.T) { mxRun(t, o, callers, &tally) })
			}
		}()
	}
	for _, o := range ops {
		work <- o
	}
	close(work)
	wg.Wait()
}

// mxRun plays one row for every caller. Every call that must not change anything (refusals, and
// every call of a read-only operation) runs on the first copy of the fixture, between two
// snapshots of both tenants; each allowed mutation then runs on a copy of its own.
func mxRun(t *testing.T, o mxOp, callers []mxCaller, tally *mxTally) {
	var still, mutating []mxCaller
	for _, c := range callers {
		if o.mutates && o.expect(c) < 400 {
			mutating = append(mutating, c)
		} else {
			still = append(still, c)
		}
	}
	w := newMxWorld(t, 1+len(mutating))
	call := func(c mxCaller, s *mxSlot) int {
		t.Helper()
		x := mxCtx{w: w, s: s, c: c}
		r := o.req(x)
		var headers map[string]string
		var payload []byte
		if r.body != "" {
			payload, headers = []byte(r.body), jsonCT
			if r.ctype != "" {
				headers = map[string]string{"Content-Type": r.ctype}
			}
		}
		var resp *http.Response
		var got []byte
		if o.stream {
			resp, got = mxStream(t, r.path, c.token(w))
		} else {
			resp, got = raw(t, r.method, r.path, c.token(w), payload, headers)
		}
		tally.calls.Add(1)
		tally.status(resp.StatusCode)
		want := o.expect(c)
		what := fmt.Sprintf("%s as %s: %s %s", o.name(), c.name, r.method, r.path)
		switch {
		case want >= 400:
			wantProblem(t, what, resp, got, want)
		case resp.StatusCode != want:
			t.Errorf("%s: status %d, want %d: %s", what, resp.StatusCode, want, got)
		case o.check != nil:
			o.check(t, x, got)
		}
		return want
	}

	before := w.snapshot(t)
	refused := 0
	for _, c := range still {
		if call(c, w.A.slots[0]) >= 400 {
			refused++
		}
	}
	if after := w.snapshot(t); after != before {
		t.Errorf("%s: calls that must change nothing (%d callers) changed rows:\n%s", o.name(), len(still), mxDiff(before, after))
	} else {
		tally.refused.Add(int64(refused))
		tally.unchanged.Add(int64(len(still)))
	}
	for i, c := range mutating {
		call(c, w.A.slots[1+i])
	}
}

// TestPermissionMatrixCoversTheSpec fails when an operation of the spec has no row in the matrix,
// or a row names an operation the spec does not have.
func TestPermissionMatrixCoversTheSpec(t *testing.T) {
	doc, err := gen.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int{}
	for _, o := range mxOps() {
		rows[o.op]++
	}
	// The loaded spec may carry operationIds with an upper-case first letter.
	lower := func(s string) string { return strings.ToLower(s[:1]) + s[1:] }
	spec := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
				continue
			}
			id := lower(op.OperationID)
			spec[id] = true
			if rows[id] == 0 {
				t.Errorf("%s %s (%s) has no row in the permission matrix", method, path, id)
			}
		}
	}
	for op := range rows {
		if !spec[op] {
			t.Errorf("the matrix has rows for %s, which the spec does not define", op)
		}
	}
	if len(spec) == 0 {
		t.Fatal("the spec has no operations")
	}
}

// mxFixtureChanges finds the fixture's two panel_created changes, in stream order (one
// transaction wrote both), and the panel of the second.
func mxFixtureChanges(t testing.TB, s *mxSlot) {
	t.Helper()
	var panel int64
	if err := secDB(t).QueryRowContext(t.Context(), `SELECT min(id), max(id), (array_agg(panel_id ORDER BY id DESC))[1]
		FROM panel_changes WHERE tenant_id = $1 AND panel_id IN ($2, $3)`,
		s.tenant, s.P.id, s.Q.id).Scan(&s.changes[0], &s.changes[1], &panel); err != nil {
		t.Fatal(err)
	}
	s.second = tgP
	if panel == s.Q.id {
		s.second = tgQ
	}
}

// mxStream opens the stream at path and reads it until its replay is over (": live"), or reads
// the whole refusal.
func mxStream(t *testing.T, path, tok string) (*http.Response, []byte) {
	t.Helper()
	if tok == "" || !strings.Contains(path, "lastEventId=") {
		return raw(t, http.MethodGet, path, tok, nil, nil)
	}
	s := openStream(t, env.url, tok, strings.TrimPrefix(path, "/api/events"), nil)
	s.untilLive()
	s.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resp, s.body.Bytes()
}

func mxCheckStream(t *testing.T, x mxCtx, body []byte) {
	t.Helper()
	var got []string
	for _, frame := range strings.Split(string(body), "\n\n") {
		var id, event string
		for _, line := range strings.Split(frame, "\n") {
			if v, ok := strings.CutPrefix(line, "id: "); ok {
				id = v
			}
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				event = v
			}
		}
		if event != "" {
			got = append(got, event+" "+id)
		}
	}
	var want []string
	switch {
	case !x.c.home:
		want = []string{"reset "}
	default:
		if mxLevel(x.c.kind, x.s.second) >= lvViewer {
			want = []string{"panel_created " + mxID(x.s.changes[1])}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: replayed %q, want %q", x.c.name, got, want)
	}
}
