// SeedScale bulk-loads one tenant with a realistic, deterministic data set (panels, their
// data sources and columns, views with sorts and filters, ACL rows, change history, notifications,
// sync history and members) through COPY, so that the list queries can be planned and measured at
// scale. The scale test (store/scale_test.go) and the scale benchmark (tools/bench/scale) share it.
//
// Every row is consistent with what the service itself would write: owner ACL rows for panels and
// views, stored formulas with resolved {id} references and matching dependencies, change rows whose
// change type, entity type and action agree, notifications of existing views and changes.
//
// Ids come from the tables' own sequences, reserved in one block per table before the COPY, so a
// seeded database keeps working with the service; nothing else may insert into the seeded tables
// while SeedScale runs.

package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ScaleSpec describes the tenant to load. Zero fields take defaults: 100,000 panels, 10 columns a
// panel, 10 changes a panel, a view every 10 panels, a notification every 10 changes, 50 users,
// a year of history up to now.
type ScaleSpec struct {
	Tenant          string
	Panels          int
	ColumnsPerPanel int // the last two of each panel are calculated columns (at least 3 per panel)
	Changes         int // change rows, including the history of a few deleted panels
	ViewEvery       int // one view on every ViewEvery-th panel (10 unless set; Big and Small: 2)
	Notifications   int
	Users           int           // panel owners u000, u001, ... (u000 is the tenant's admin)
	Span            time.Duration // the history covers Span up to End
	End             time.Time
	// Exclusive drops the loaded tables' secondary indexes and foreign keys for the load and
	// recreates them before the transaction commits (PostgreSQL's advice for bulk loads: about
	// five times faster here, mostly because GIN indexes are slow to grow row by row); recreating
	// a foreign key checks every row again. It locks those tables exclusively for the whole load,
	// so use it only on a database nothing else is using.
	Exclusive bool
}

// BigTenant is the scale of the performance issue: 100,000 panels, 1,000,000 columns, 1,000,000 changes.
func BigTenant(tenant string) ScaleSpec {
	return ScaleSpec{Tenant: tenant, Panels: 100_000, ColumnsPerPanel: 10, Changes: 1_000_000, ViewEvery: 2}
}

// SmallTenant has the shape of BigTenant a thousand times smaller: the reference the big
// tenant's lists are compared with.
func SmallTenant(tenant string) ScaleSpec {
	return ScaleSpec{Tenant: tenant, Panels: 100, ColumnsPerPanel: 10, Changes: 1_000, ViewEvery: 2}
}

func (s *ScaleSpec) defaults() {
	if s.Panels <= 0 {
		s.Panels = 100_000
	}
	if s.ColumnsPerPanel < 3 {
		s.ColumnsPerPanel = 10
	}
	if s.Changes <= 0 {
		s.Changes = 10 * s.Panels
	}
	if s.ViewEvery <= 0 {
		s.ViewEvery = 10
	}
	if s.Notifications <= 0 {
		s.Notifications = max(s.Changes/10, 10)
	}
	if s.Users <= 0 {
		s.Users = 50
	}
	if s.Span <= 0 {
		s.Span = 365 * 24 * time.Hour
	}
	if s.End.IsZero() {
		s.End = time.Now().UTC().Truncate(time.Millisecond)
	}
}

// Person is a principal of the seeded tenant.
type Person struct {
	UserID string
	Email  string
}

// ScaleTenant is what SeedScale loaded: counts, the people and a few ids worth querying.
type ScaleTenant struct {
	Spec ScaleSpec
	// Admin (u000) owns 1 panel in Users; callers give it the admin role.
	Admin Person
	// Member is a plain user who reads about 2% of the panels (1% through viewer rows, 0.1%
	// through editor rows, 0.1% shared with _all, 0.2% its own, 0.5% through published views) and
	// about 4% of the views (1% shared with it, 1% published, 0.2% its own, and the views of the
	// panels it reads).
	Member Person

	FirstPanelID, LastPanelID int64
	// SamplePanel is a panel in the middle of the tenant, owned by one of the u users, with a data
	// source, columns, a view, ACL rows, changes and syncs, which Member reads through a viewer ACL row.
	SamplePanel, SampleDataSource, SampleView int64
	// DeletedPanel is a panel id whose history remains after the panel was deleted.
	DeletedPanel int64

	Rows map[string]int64         // rows per table
	Took map[string]time.Duration // COPY time per table, plus "drop indexes", "rebuild indexes", "vacuum analyze"
}

// SeedScale loads spec's tenant into the database of conn in one transaction, then vacuums and
// analyzes the tables.
func SeedScale(ctx context.Context, conn *pgx.Conn, spec ScaleSpec) (*ScaleTenant, error) {
	spec.defaults()
	if strings.TrimSpace(spec.Tenant) == "" {
		return nil, fmt.Errorf("storetest: a tenant is required")
	}
	g := newGen(spec)
	if spec.Panels < 2 {
		return nil, fmt.Errorf("storetest: at least 2 panels are required")
	}
	if spec.Changes < spec.Panels+2*g.deleted {
		return nil, fmt.Errorf("storetest: %d changes cannot hold one panel_created per panel and the deleted panels' history", spec.Changes)
	}
	t := &ScaleTenant{Spec: spec, Rows: map[string]int64{}, Took: map[string]time.Duration{},
		Admin:  g.person(0),
		Member: g.member()}
	if err := g.load(ctx, conn, t); err != nil {
		return nil, err
	}
	start := time.Now()
	// VACUUM too, as autovacuum would soon: it sets the visibility map, without which PostgreSQL
	// prices index-only scans as if every row had to be read from the table.
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) "+strings.Join(loadedTables, ", ")); err != nil {
		return nil, err
	}
	t.Took["vacuum analyze"] = time.Since(start)

	sample := (spec.Panels/2)/100*100 + 1 // i%100 == 1: a member viewer row and a view
	if sample >= spec.Panels {
		sample = 1
	}
	t.FirstPanelID, t.LastPanelID = g.panel0, g.panel0+int64(spec.Panels)-1
	t.SamplePanel, t.SampleDataSource = g.panel0+int64(sample), g.ds0+int64(sample)
	t.SampleView = g.view0 + int64((sample-1)/spec.ViewEvery) // views are on the panels i%ViewEvery == 1
	t.DeletedPanel = g.panel0 + int64(spec.Panels)
	return t, nil
}

// load reserves the ids and copies every table in one transaction, recording counts and times in t.
func (g *gen) load(ctx context.Context, conn *pgx.Conn, t *ScaleTenant) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
		return err
	}
	if err := g.reserveIDs(ctx, tx); err != nil {
		return err
	}
	var rebuild []string
	if g.Exclusive {
		if _, err := tx.Exec(ctx, "SET LOCAL maintenance_work_mem = '256MB'"); err != nil {
			return err
		}
		start := time.Now()
		if rebuild, err = dropForLoad(ctx, tx); err != nil {
			return err
		}
		t.Took["drop indexes"] = time.Since(start)
	}
	for _, c := range g.copies() {
		if err := copyTable(ctx, tx, c, t); err != nil {
			return err
		}
	}
	if len(rebuild) > 0 {
		start := time.Now()
		for _, stmt := range rebuild {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("storetest: %s: %w", stmt, err)
			}
		}
		t.Took["rebuild indexes"] = time.Since(start)
	}
	return tx.Commit(ctx)
}

// reserveIDs takes each table's block of ids from its sequence.
func (g *gen) reserveIDs(ctx context.Context, tx pgx.Tx) error {
	for _, r := range []struct {
		table string
		n     int
		first *int64
	}{
		{"panels", g.Panels + g.deleted, &g.panel0},
		{"data_sources", g.Panels, &g.ds0},
		{"columns", g.Panels * g.ColumnsPerPanel, &g.col0},
		{"views", g.views, &g.view0},
		{"panel_changes", g.Changes, &g.change0},
	} {
		var err error
		if *r.first, err = reserve(ctx, tx, r.table, r.n); err != nil {
			return err
		}
	}
	return nil
}

// copyTable runs one table's COPY.
func copyTable(ctx context.Context, tx pgx.Tx, c copySpec, t *ScaleTenant) error {
	start := time.Now()
	cols := make([]string, len(c.columns))
	for i, col := range c.columns {
		cols[i] = pgx.Identifier{col}.Sanitize()
	}
	src := &textRows{spec: c}
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, src,
		"COPY "+pgx.Identifier{c.table}.Sanitize()+" ("+strings.Join(cols, ", ")+") FROM STDIN")
	if src.err != nil {
		err = src.err
	}
	if err != nil {
		return fmt.Errorf("storetest: copy %s: %w", c.table, err)
	}
	t.Rows[c.table] += tag.RowsAffected()
	t.Took[c.table] += time.Since(start)
	return nil
}

// loadedTables are the tables SeedScale writes.
var loadedTables = []string{"panels", "data_sources", "columns", "views", "view_sorts", "view_filters", "acls",
	"panel_changes", "view_notifications", "source_syncs", "members"}

// dropForLoad drops the foreign keys and the secondary indexes (neither primary keys nor unique
// constraints) of the loaded tables and returns the statements that recreate them, indexes first.
func dropForLoad(ctx context.Context, tx pgx.Tx) ([]string, error) {
	var drop, create []string
	for _, query := range []string{`SELECT pg_get_indexdef(i.oid), format('DROP INDEX %I.%I', n.nspname, i.relname)
		FROM pg_index x
		JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_class c ON c.oid = x.indrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relname = ANY($1) AND NOT x.indisunique
		ORDER BY c.relname, i.relname`,
		`SELECT format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid)),
			format('ALTER TABLE %I.%I DROP CONSTRAINT %I', n.nspname, c.relname, k.conname)
		FROM pg_constraint k
		JOIN pg_class c ON c.oid = k.conrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE k.contype = 'f' AND n.nspname = current_schema() AND c.relname = ANY($1)
		ORDER BY c.relname, k.conname`} {
		c, d, err := statementPairs(ctx, tx, query)
		if err != nil {
			return nil, err
		}
		create, drop = append(create, c...), append(drop, d...)
	}
	for _, stmt := range drop {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return nil, fmt.Errorf("storetest: %s: %w", stmt, err)
		}
	}
	return create, nil
}

// statementPairs reads a catalog query's (create, drop) statement pairs for the loaded tables.
func statementPairs(ctx context.Context, tx pgx.Tx, query string) (create, drop []string, err error) {
	rows, err := tx.Query(ctx, query, loadedTables)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var c, d string
		if err := rows.Scan(&c, &d); err != nil {
			return nil, nil, err
		}
		create, drop = append(create, c), append(drop, d)
	}
	return create, drop, rows.Err()
}

// reserve takes n consecutive ids from table's id sequence and returns the first.
func reserve(ctx context.Context, tx pgx.Tx, table string, n int) (int64, error) {
	if n == 0 {
		return 0, nil
	}
	var first int64
	if err := tx.QueryRow(ctx, "SELECT nextval(pg_get_serial_sequence($1, 'id'))", table).Scan(&first); err != nil {
		return 0, fmt.Errorf("storetest: reserve %s ids: %w", table, err)
	}
	if _, err := tx.Exec(ctx, "SELECT setval(pg_get_serial_sequence($1, 'id'), $2)", table, first+int64(n)-1); err != nil {
		return 0, fmt.Errorf("storetest: reserve %s ids: %w", table, err)
	}
	return first, nil
}

func emailDomain(tenant string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(tenant) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String() + ".example"
}

// gen derives every row from its index, so the data set is the same on every run.
type gen struct {
	ScaleSpec
	start                             time.Time
	views, deleted                    int
	panel0, ds0, col0, view0, change0 int64
	people                            []Person // u000, u001, ...
	memberP                           Person
	shapes                            []columnShape // by position k in a panel
	tenantText                        string        // the tenant in COPY's text format
}

// columnShape is what the columns at one position of every panel share.
type columnShape struct {
	name        string
	props, tags []byte
	base        string // the base column's text from column_type to source_field
}

func newGen(spec ScaleSpec) *gen {
	g := &gen{ScaleSpec: spec, start: spec.End.Add(-spec.Span)}
	g.views = (spec.Panels + spec.ViewEvery - 2) / spec.ViewEvery // panels i with i%ViewEvery == 1
	g.deleted = max(1, spec.Panels/1000)
	domain := emailDomain(spec.Tenant)
	for u := range spec.Users {
		id := fmt.Sprintf("u%03d", u)
		g.people = append(g.people, Person{UserID: id, Email: id + "@" + domain})
	}
	g.memberP = Person{UserID: "member", Email: "member@" + domain}
	g.tenantText = string(appendEscaped(nil, spec.Tenant))
	g.shapes = make([]columnShape, spec.ColumnsPerPanel)
	for k := range g.shapes {
		bc := baseColumns[k%len(baseColumns)]
		g.shapes[k].name = bc.name
		if k >= len(baseColumns) {
			g.shapes[k].name = fmt.Sprintf("%s %d", bc.name, k)
		}
		g.shapes[k].props = jsonb(map[string]any{"display": map[string]any{"order": k, "visible": true}})
		g.shapes[k].tags = jsonb([]string{bc.tag})
		g.shapes[k].base = "base\t" + g.shapes[k].name + "\t" + bc.typ + "\t" + bc.field + "\t"
	}
	return g
}

func (g *gen) person(u int) Person { return g.people[u] }

func (g *gen) member() Person { return g.memberP }

// The member's share of the panels, by panel index i.
func memberOwns(i int) bool     { return i%500 == 7 }
func memberViewer(i int) bool   { return i%100 == 1 }
func memberEditor(i int) bool   { return i%1000 == 3 }
func sharedWithAll(i int) bool  { return i%1000 == 5 }
func extraEditor(i int) bool    { return i%10 == 0 }
func viewPublished(v int) bool  { return v%100 == 5 }
func memberOwnsView(v int) bool { return v%500 == 10 }
func memberViewACL(v int) bool  { return v%100 == 3 }

func (g *gen) panelOwner(i int) Person {
	if memberOwns(i) {
		return g.member()
	}
	return g.person(i % g.Users)
}

func (g *gen) panelCreated(i int) time.Time { return g.changedAt(i) }

func (g *gen) changedAt(j int) time.Time {
	return g.start.Add(time.Duration(int64(g.Span) / int64(g.Changes) * int64(j)))
}

// viewPanel is the panel index of view v.
func (g *gen) viewPanel(v int) int { return v*g.ViewEvery + 1 }

func (g *gen) viewOwner(v int) Person {
	if memberOwnsView(v) {
		return g.member()
	}
	return g.panelOwner(g.viewPanel(v))
}

var baseColumns = []struct{ name, typ, field, tag string }{
	{"First Name", "text", "first_name", "demographics"},
	{"Last Name", "text", "last_name", "demographics"},
	{"Email Address", "text", "email", "contact"},
	{"Created Date", "date", "created_at", "demographics"},
	{"Age", "number", "age", "clinical"},
	{"Status", "select", "status", "clinical"},
	{"Score", "number", "score", "clinical"},
	{"Active", "boolean", "active", "clinical"},
}

func (g *gen) columnID(i, k int) int64 { return g.col0 + int64(i*g.ColumnsPerPanel+k) }

var changeKinds = []struct{ changeType, entityType, action, subject, verb string }{
	{"column_removed", "column", "delete", "A column", "removed"},
	{"column_added", "column", "create", "A column", "added"},
	{"column_modified", "column", "update", "A column", "modified"},
	{"source_synced", "datasource", "sync", "A data source", "synced"},
	{"panel_updated", "panel", "update", "Settings", "updated"},
	{"acl_changed", "acl", "update", "Permissions", "changed"},
	{"cohort_changed", "panel", "update", "The cohort rule", "changed"},
	{"source_changed", "datasource", "update", "A data source", "changed"},
}

func jsonb(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// textRows is an io.Reader of COPY's text format, encoding the rows of a copySpec. Encoding here
// rather than through pgx's binary COPY keeps the seed's own CPU small (it shares two cores with
// PostgreSQL, and runs under the race detector in `make test`).
type textRows struct {
	spec copySpec
	i    int // rows of spec.text written
	buf  []byte
	off  int
	done bool
	err  error
}

func (r *textRows) Read(p []byte) (int, error) {
	for len(r.buf)-r.off < len(p) && !r.done {
		if r.off > 0 { // keep the unread tail, reuse the rest
			r.buf = append(r.buf[:0], r.buf[r.off:]...)
			r.off = 0
		}
		if r.spec.text != nil {
			if r.i == r.spec.rows {
				r.done = true
				break
			}
			r.buf = append(r.spec.text(r.buf, r.i), '\n')
			r.i++
			continue
		}
		row, err := r.spec.next()
		if err != nil {
			r.err, r.done = err, true
			return 0, err
		}
		if row == nil {
			r.done = true
			break
		}
		for i, v := range row {
			if i > 0 {
				r.buf = append(r.buf, '\t')
			}
			r.buf = appendText(r.buf, v)
		}
		r.buf = append(r.buf, '\n')
	}
	if r.off == len(r.buf) {
		return 0, io.EOF
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// appendText appends v in COPY's text format: \N for NULL, backslash escapes in text.
func appendText(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, `\N`...)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case int32:
		return strconv.AppendInt(b, int64(v), 10)
	case bool:
		return strconv.AppendBool(b, v)
	case string:
		return appendEscaped(b, v)
	case *string:
		if v == nil {
			return append(b, `\N`...)
		}
		return appendEscaped(b, *v)
	case []byte: // jsonb
		if v == nil {
			return append(b, `\N`...)
		}
		return appendEscaped(b, string(v))
	case time.Time:
		return appendTime(b, v)
	case *time.Time:
		if v == nil {
			return append(b, `\N`...)
		}
		return appendTime(b, *v)
	case []int64:
		b = append(b, '{')
		for i, n := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, n, 10)
		}
		return append(b, '}')
	}
	panic(fmt.Sprintf("storetest: no text encoding for %T", v))
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, c)
		}
	}
	return b
}

// copySpec is one table's COPY: rows from next, or (for the two tables of a million rows, so the
// seed allocates nothing a row) rows row texts appended by text, tab-separated, without the newline.
type copySpec struct {
	table   string
	columns []string
	next    func() ([]any, error)
	rows    int
	text    func(b []byte, i int) []byte
}

func tab(b []byte) []byte { return append(b, '\t') }

// appendTime appends t as UTC with microseconds, "2006-01-02 15:04:05.000000Z" (a layout-free
// AppendFormat: this runs twice for each of a million rows).
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	b = appendDigits(b, y, 4)
	b = appendDigits(append(b, '-'), int(mo), 2)
	b = appendDigits(append(b, '-'), d, 2)
	b = appendDigits(append(b, ' '), h, 2)
	b = appendDigits(append(b, ':'), mi, 2)
	b = appendDigits(append(b, ':'), sec, 2)
	b = appendDigits(append(b, '.'), t.Nanosecond()/1000, 6)
	return append(b, 'Z')
}

func appendDigits(b []byte, v, width int) []byte {
	var d [8]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:width]...)
}

// counter returns a next function that yields row(0..n-1) and then stops.
func counter(n int, row func(int) []any) func() ([]any, error) {
	i := 0
	return func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		i++
		return row(i - 1), nil
	}
}

// expand yields, for each of n items, the rows that each(i, emit) emits.
func expand(n int, each func(i int, emit func(...any))) func() ([]any, error) {
	var pending [][]any
	i := 0
	emit := func(v ...any) { pending = append(pending, v) }
	return func() ([]any, error) {
		for len(pending) == 0 {
			if i >= n {
				return nil, nil
			}
			each(i, emit)
			i++
		}
		r := pending[0]
		pending = pending[1:]
		return r, nil
	}
}

// copies are the tables' COPYs, in an order that satisfies the foreign keys.
func (g *gen) copies() []copySpec {
	return []copySpec{g.panelsCopy(), g.dataSourcesCopy(), g.columnsCopy(), g.viewsCopy(), g.viewSortsCopy(),
		g.viewFiltersCopy(), g.aclsCopy(), g.changesCopy(), g.notificationsCopy(), g.syncsCopy(), g.membersCopy()}
}

func (g *gen) panelsCopy() copySpec {
	N := g.Panels
	cohort := []byte(`{"conditions": [], "logic": "AND"}`)
	panelName := func(i int) string { return "Panel " + strconv.Itoa(i) }
	return copySpec{table: "panels", columns: []string{"id", "tenant_id", "owner_user_id", "name", "description", "metadata", "cohort_rule", "created_at", "updated_at"},
		next: counter(N, func(i int) []any {
			var desc *string
			if i%2 == 0 {
				desc = ptr(fmt.Sprintf("Patients of clinic %d due for a follow-up", i%97))
			}
			at := g.panelCreated(i)
			return []any{g.panel0 + int64(i), g.Tenant, g.panelOwner(i).UserID, panelName(i), desc,
				[]byte(`{"n": ` + strconv.Itoa(i) + `, "color": "` + []string{"red", "green", "blue"}[i%3] + `"}`), cohort, at, at.Add(time.Hour)}
		})}
}

func (g *gen) dataSourcesCopy() copySpec {
	N := g.Panels
	empty := []byte(`{}`)
	return copySpec{table: "data_sources", columns: []string{"id", "tenant_id", "panel_id", "type", "config", "last_sync", "created_at", "updated_at"},
		next: counter(N, func(i int) []any {
			typ, config := "api", []byte(`{"endpoint": "/api/patients", "method": "GET", "keyField": "id"}`)
			switch i % 4 {
			case 1:
				typ, config = "file", []byte(`{"format": "csv", "keyField": "id"}`)
			case 2:
				typ, config = "custom", empty
			}
			at := g.panelCreated(i).Add(time.Minute)
			return []any{g.ds0 + int64(i), g.Tenant, g.panel0 + int64(i), typ, config, at.Add(time.Hour), at, at}
		})}
}

func (g *gen) columnsCopy() copySpec {
	N, C := g.Panels, g.ColumnsPerPanel
	return copySpec{table: "columns", columns: []string{"id", "tenant_id", "panel_id", "column_type", "name", "type", "source_field", "data_source_id", "formula",
		"dependencies", "properties", "metadata", "tags", "created_at", "updated_at"},
		rows: N * C, text: func(b []byte, j int) []byte {
			i, k := j/C, j%C
			at := g.panelCreated(i).Add(time.Duration(2+k) * time.Minute)
			b = tab(strconv.AppendInt(b, g.col0+int64(j), 10))
			b = append(b, g.tenantText...)
			b = tab(b)
			b = tab(strconv.AppendInt(b, g.panel0+int64(i), 10))
			switch k {
			case C - 2, C - 1: // CONCAT of the first two base columns; ROUND of two number columns
				x, y, name, typ, f0, f1, f2 := g.columnID(i, 0), g.columnID(i, 1), "Full Name", "text", "CONCAT({", `}, " ", {`, "})"
				if k == C-1 {
					x, y, name, typ, f0, f1, f2 = g.columnID(i, 4%(C-2)), g.columnID(i, 6%(C-2)), "Risk", "number", "ROUND({", "} * {", "} / 10, 1)"
				}
				b = append(b, "calculated\t"+name+"\t"+typ+"\t\\N\t\\N\t"+f0...)
				b = append(strconv.AppendInt(b, x, 10), f1...)
				b = tab(append(strconv.AppendInt(b, y, 10), f2...))
				b = append(b, '{')
				b = append(strconv.AppendInt(append(strconv.AppendInt(b, x, 10), ','), y, 10), "}\t"...)
				b = tab(append(b, g.shapes[k].props...))
				b = append(b, "{}\t[\"derived\"]\t"...)
			default:
				b = append(b, g.shapes[k].base...)
				b = tab(strconv.AppendInt(b, g.ds0+int64(i), 10))
				b = append(b, "\\N\t{}\t"...)
				b = tab(append(b, g.shapes[k].props...))
				b = append(b, "{}\t"...)
				b = tab(append(b, g.shapes[k].tags...))
			}
			b = tab(appendTime(b, at))
			return appendTime(b, at)
		}}
}

func (g *gen) viewsCopy() copySpec {
	return copySpec{table: "views", columns: []string{"id", "tenant_id", "panel_id", "owner_user_id", "name", "is_published", "published_at", "published_by", "visible_columns", "metadata", "created_at", "updated_at"},
		next: counter(g.views, func(v int) []any {
			i := g.viewPanel(v)
			at := g.panelCreated(i).Add(30 * time.Minute)
			owner := g.viewOwner(v)
			var pubAt *time.Time
			var pubBy *string
			if viewPublished(v) {
				pubAt, pubBy = ptr(at.Add(time.Hour)), ptr(owner.UserID)
			}
			visible := jsonb([]string{fmt.Sprint(g.columnID(i, 0)), fmt.Sprint(g.columnID(i, 1)), "Status"})
			// updated_at is spread over the whole span, so the most-recently-updated order
			// differs from the creation order.
			updated := g.changedAt((v * 7919) % g.Changes)
			if updated.Before(at) {
				updated = at
			}
			return []any{g.view0 + int64(v), g.Tenant, g.panel0 + int64(i), owner.UserID, fmt.Sprintf("View %d", v), viewPublished(v), pubAt, pubBy,
				visible, jsonb(map[string]any{"density": "compact"}), at, updated}
		})}
}

func (g *gen) viewSortsCopy() copySpec {
	return copySpec{table: "view_sorts", columns: []string{"view_id", "column_name", "direction", "sort_order"},
		next: counter(g.views, func(v int) []any { return []any{g.view0 + int64(v), "Last Name", "asc", int32(0)} })}
}

func (g *gen) viewFiltersCopy() copySpec {
	return copySpec{table: "view_filters", columns: []string{"view_id", "column_name", "operator", "value", "logical_operator", "position"},
		next: counter(g.views, func(v int) []any {
			return []any{g.view0 + int64(v), "Status", "eq", []byte(`"active"`), "and", int32(0)}
		})}
}

func (g *gen) aclsCopy() copySpec {
	N := g.Panels
	return copySpec{table: "acls", columns: []string{"tenant_id", "resource_type", "resource_id", "panel_id", "view_id", "user_email", "permission", "created_at", "updated_at"},
		next: expand(N+g.views, func(n int, emit func(...any)) {
			if n >= N { // a view's rows
				v := n - N
				id := g.view0 + int64(v)
				at := g.panelCreated(g.viewPanel(v)).Add(30 * time.Minute)
				emit(g.Tenant, "view", id, nil, id, g.viewOwner(v).Email, "owner", at, at)
				if memberViewACL(v) && g.viewOwner(v) != g.member() {
					emit(g.Tenant, "view", id, nil, id, g.member().Email, "viewer", at, at)
				}
				return
			}
			i := n
			id := g.panel0 + int64(i)
			at := g.panelCreated(i)
			owner := g.panelOwner(i)
			emit(g.Tenant, "panel", id, id, nil, owner.Email, "owner", at, at)
			if extraEditor(i) {
				if ed := g.person((i + 1) % g.Users); ed != owner {
					emit(g.Tenant, "panel", id, id, nil, ed.Email, "editor", at, at)
				}
			}
			if owner != g.member() {
				switch {
				case memberEditor(i):
					emit(g.Tenant, "panel", id, id, nil, g.member().Email, "editor", at, at)
				case memberViewer(i):
					emit(g.Tenant, "panel", id, id, nil, g.member().Email, "viewer", at, at)
				}
			}
			if sharedWithAll(i) {
				emit(g.Tenant, "panel", id, id, nil, "_all", "viewer", at, at)
			}
		})}
}

func (g *gen) notificationsCopy() copySpec {
	return copySpec{table: "view_notifications", columns: []string{"tenant_id", "view_id", "change_id", "user_id", "impact", "message", "is_read", "read_at", "created_at"},
		next: counter(g.Notifications, func(j int) []any {
			var who Person
			switch j % 5 {
			case 0:
				who = g.member()
			case 1:
				who = g.person(0)
			default:
				who = g.person(j % g.Users)
			}
			at := g.start.Add(time.Duration(int64(g.Span) / int64(g.Notifications) * int64(j)))
			read, readAt := j%3 != 0, (*time.Time)(nil)
			if read {
				readAt = ptr(at.Add(time.Hour))
			}
			v := j % g.views
			impact := []string{"breaking", "warning", "info"}[j%3]
			return []any{g.Tenant, g.view0 + int64(v), g.change0 + int64((j*7)%g.Changes), who.UserID, impact,
				fmt.Sprintf("Column \"Status\" used by view \"View %d\" was modified", v), read, readAt, at}
		})}
}

func (g *gen) syncsCopy() copySpec {
	N := g.Panels
	return copySpec{table: "source_syncs", columns: []string{"tenant_id", "panel_id", "data_source_id", "trigger", "status", "message", "records_processed", "records_deleted",
		"generation", "started_by", "started_at", "finished_at", "duration_ms"},
		next: expand(N, func(i int, emit func(...any)) {
			syncs := 1
			if memberViewer(i) {
				syncs = 5
			}
			for s := range syncs {
				at := g.panelCreated(i).Add(time.Duration(2+s) * time.Hour)
				emit(g.Tenant, g.panel0+int64(i), g.ds0+int64(i), "sync", "success", fmt.Sprintf("%d records synced", 1000+s),
					int64(1000+s), int64(0), int64(s+1), g.panelOwner(i).UserID, at, at.Add(1500*time.Millisecond), int64(1500))
			}
		})}
}

func (g *gen) membersCopy() copySpec {
	return copySpec{table: "members", columns: []string{"tenant_id", "user_id", "email", "name", "first_seen_at"},
		next: counter(g.Users+1, func(u int) []any {
			p := g.member()
			if u < g.Users {
				p = g.person(u)
			}
			return []any{g.Tenant, p.UserID, p.Email, strings.ToUpper(p.UserID[:1]) + p.UserID[1:], g.start.Add(time.Duration(u) * time.Minute)}
		})}
}

func (g *gen) changesCopy() copySpec {
	return copySpec{table: "panel_changes", columns: []string{"id", "tenant_id", "panel_id", "panel_name", "change_type", "entity_type", "entity_id", "action",
		"description", "changed_by", "changed_by_email", "changed_at", "old_values", "new_values", "affected_column"},
		rows: g.Changes, text: g.changeText}
}

// changeText is change row j: every panel's panel_created first, then the others round-robin over
// the panels, and at the end the created and deleted rows of the deleted panels.
func (g *gen) changeText(b []byte, j int) []byte {
	b = tab(strconv.AppendInt(b, g.change0+int64(j), 10))
	b = append(b, g.tenantText...)
	b = tab(b)
	at := g.changedAt(j)
	if tail := g.Changes - 2*g.deleted; j >= tail {
		return g.deletedPanelChange(b, j-tail, at)
	}
	i, r := j%g.Panels, j/g.Panels
	panel := g.panel0 + int64(i)
	by := g.panelOwner(i)
	b = tab(strconv.AppendInt(b, panel, 10))
	b = append(b, "Panel "...)
	b = tab(strconv.AppendInt(b, int64(i), 10))
	if r == 0 {
		b = append(b, "panel_created\tpanel\t"...)
		b = tab(strconv.AppendInt(b, panel, 10))
		b = append(strconv.AppendInt(append(b, "create\tPanel \"Panel "...), int64(i), 10), "\" created\t"...)
		b = append(b, by.UserID+"\t"+by.Email+"\t"...)
		b = tab(appendTime(b, at))
		b = strconv.AppendInt(append(b, `\N	{"name": "Panel `...), int64(i), 10)
		b = strconv.AppendInt(append(b, `", "description": null, "metadata": {"n": `...), int64(i), 10)
		return append(b, "}}\t\\N"...)
	}
	return g.panelChange(b, i, r, panel, by, at)
}

// deletedPanelChange is the n-th row of the deleted panels' history: created, then deleted.
func (g *gen) deletedPanelChange(b []byte, n int, at time.Time) []byte {
	d := n / 2
	panel := g.panel0 + int64(g.Panels+d)
	by := g.person(0)
	b = tab(strconv.AppendInt(b, panel, 10))
	b = tab(strconv.AppendInt(append(b, "Deleted panel "...), int64(d), 10))
	kind, action, old, new := "panel_created", "create", `\N`, fmt.Sprintf(`{"name": "Deleted panel %d"}`, d)
	if n%2 == 1 {
		kind, action, old, new = "panel_deleted", "delete", new, `\N`
	}
	b = append(b, kind+"\tpanel\t"...)
	b = tab(strconv.AppendInt(b, panel, 10))
	b = strconv.AppendInt(append(b, action+"\tPanel \"Deleted panel "...), int64(d), 10)
	b = append(b, "\" "+action+"d\t"...)
	b = append(b, by.UserID+"\t"+by.Email+"\t"...)
	b = tab(appendTime(b, at))
	return append(b, old+"\t"+new+"\t\\N"...)
}

// panelChange is the r-th change (r > 0) of panel i, of the kind changeKinds gives r, from the
// entity type onwards.
func (g *gen) panelChange(b []byte, i, r int, panel int64, by Person, at time.Time) []byte {
	C := g.ColumnsPerPanel
	kind := changeKinds[r%len(changeKinds)]
	b = append(b, kind.changeType+"\t"+kind.entityType+"\t"...)
	switch kind.entityType {
	case "column":
		b = tab(strconv.AppendInt(b, g.columnID(i, r%(C-2)), 10))
	case "datasource":
		b = tab(strconv.AppendInt(b, g.ds0+int64(i), 10))
	default:
		b = tab(strconv.AppendInt(b, panel, 10))
	}
	b = strconv.AppendInt(append(b, kind.action+"\t"+kind.subject+" of panel \"Panel "...), int64(i), 10)
	b = append(b, "\" "+kind.verb+"\t"...)
	b = append(b, by.UserID+"\t"+by.Email+"\t"...)
	b = tab(appendTime(b, at))
	switch kind.entityType {
	case "column":
		k := r % (C - 2)
		name := g.shapes[k].name
		return append(b, `{"name": "`+name+`", "type": "text"}	{"name": "`+name+`", "type": "`+baseColumns[k%len(baseColumns)].typ+`"}	`+name...)
	case "datasource":
		return append(strconv.AppendInt(append(b, `\N	{"recordsProcessed": `...), int64(1000+r), 10), "}\t\\N"...)
	case "acl":
		return append(b, `\N	{"userEmail": "`+g.person((i+r)%g.Users).Email+`", "permission": "viewer"}	\N`...)
	}
	b = strconv.AppendInt(append(b, `{"name": "Panel `...), int64(i), 10)
	b = strconv.AppendInt(append(b, `"}	{"name": "Panel `...), int64(i), 10)
	b = strconv.AppendInt(append(b, `", "metadata": {"rev": `...), int64(r), 10)
	return append(b, "}}\t\\N"...)
}
