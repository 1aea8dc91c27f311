package store

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"

	"github.com/panels/panels/migrations"
	"github.com/panels/panels/store/ingest"
	"github.com/panels/panels/store/rows"
	"github.com/panels/panels/store/storetest"
)

// The search's trigram prefilter (store/rows/sql.go searchPrefilter) narrows and
// never decides: on records whose values jsonb renders with escapes (quotes, backslashes,
// control characters), non-ASCII text, LIKE's metacharacters, numbers, booleans, nested objects
// and arrays in text columns, and keys that hold the needle, the answers with the prefilter,
// without it and in Go only are the same.
var trgmRecords = []string{
	`{"id":"t1","name":"Say \"hello\" world","note":"back\\slash path","kind":"A","info":{"sub":"Ärger über Öl"},"blob":{"k":"v \"q\"","n":[1,2]}}`,
	`{"id":"t2","name":"100% pure_water","note":"line1\nline2 tab\there","kind":"ΟΔΟΣ ΣΟΦΙΑ","info":{"sub":"naïve café"},"blob":12345.678}`,
	`{"id":"t3","name":"emoji 🎉 party","note":"日本語テキスト","kind":"b","info":{"sub":{"deeper":"x"}},"blob":true}`,
	`{"id":"t4","name":"ALLCAPS Ünïcödé","note":null,"blob":["arr","ay\"x"],"info":null}`,
	`{"id":"t5","name":"plain","note":"keys hold the needle","kind":"name"}`,
	`{"id":"t6","name":"tab\tsep","note":"quote\" inside","blob":1e3,"info":{"sub":"name"}}`,
	`{"id":"t7","name":"pure water 100","note":"ok","blob":false}`,
}

type trgmFixture struct {
	*rowsFixture
	other *DataSource
}

func newTrgmFixture(t *testing.T) *trgmFixture {
	t.Helper()
	a := stActor(stTenant("trgm"), "owner")
	f := &trgmFixture{rowsFixture: &rowsFixture{a: a, panel: stPanel(t, a, "Trgm"), cols: map[string]*Column{}}}
	mk := func(key string, lines []string) *DataSource {
		ds := &DataSource{Type: "file", Config: map[string]any{"format": "ndjson", "keyField": key}}
		if err := testStore.CreateDataSource(t.Context(), a, f.panel.ID, ds); err != nil {
			t.Fatal(err)
		}
		if res := syncNDJSON(t, a, ds, key, lines); res.Record.Status != SyncSuccess {
			t.Fatalf("sync: %+v", res.Record)
		}
		return ds
	}
	f.primary = mk("id", trgmRecords)
	f.other = mk("id", []string{`{"id":"t3","extra":"joined hello"}`})
	for _, c := range []struct {
		name, typ, field string
		ds               *DataSource
	}{
		{"Name", "text", "name", f.primary}, {"Note", "text", "note", f.primary}, {"Kind", "select", "kind", f.primary},
		{"Deep", "text", "info.sub", f.primary}, {"Blob", "text", "blob", f.primary}, {"Extra", "text", "extra", f.other},
		{"Num", "number", "blob", f.primary},
	} {
		sf, id := c.field, c.ds.ID
		col := &Column{Name: c.name, Type: c.typ, SourceField: &sf, DataSourceID: &id}
		if _, err := testStore.CreateColumn(t.Context(), a, f.panel.ID, col, nil); err != nil {
			t.Fatal(err)
		}
		f.cols[c.name], f.colNames = col, append(f.colNames, c.name)
	}
	f.view = &View{Name: "Trgm", PanelID: f.panel.ID}
	if err := testStore.CreateView(t.Context(), a, f.view); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *trgmFixture) visible(t *testing.T, cols ...string) {
	t.Helper()
	f.view.VisibleColumns = cols
	if _, err := testStore.UpdateView(t.Context(), f.a, f.view.ID, func(*View) error { return nil }, ViewPatch{VisibleColumns: cols}); err != nil {
		t.Fatal(err)
	}
}

// firstPageSQL is the statement the plan sends for its first page.
func firstPageSQL(t *testing.T, plan *RowsPlan) (string, []any) {
	t.Helper()
	var q string
	var args []any
	err := testStore.db.RunInTx(t.Context(), nil, func(ctx context.Context, tx bun.Tx) error {
		gens, err := plan.generations(ctx, tx)
		q, args = plan.plan.FirstPageSQL(gens)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return q, args
}

// searchBothWays answers q with and without the prefilter (each also in Go only, through
// f.keys) and with group counts by Kind; it fails when they differ and returns the keys and
// whether the prefilter was in the statement.
func (f *trgmFixture) searchBothWays(t *testing.T, search string) ([]string, bool) {
	t.Helper()
	q := RowsQuery{ViewID: f.view.ID, Limit: 50, Search: search}
	with := f.keys(t, q)
	q.noSearchIndex = true
	without := f.keys(t, q)
	if !slices.Equal(with, without) {
		t.Errorf("search %q: with the prefilter %v, without %v", search, with, without)
	}
	// Group counts: with the prefilter, without it, and in Go (an empty answer is nil from SQL and
	// empty from Go, which the API answers alike).
	var groups [3]rows.GroupCounts
	for i, q := range []RowsQuery{{}, {noSearchIndex: true}, {GoOnly: true}} {
		q.PanelID, q.ViewID, q.GroupBy, q.Search = f.panel.ID, f.view.ID, "Name", search
		plan, err := testStore.PlanRows(t.Context(), f.a, q)
		if err != nil {
			t.Fatal(err)
		}
		if groups[i], err = plan.Groups(t.Context()); err != nil {
			t.Fatal(err)
		}
		if len(groups[i].Groups) == 0 {
			groups[i].Groups = nil
		}
	}
	if !reflect.DeepEqual(groups[0], groups[1]) || !reflect.DeepEqual(groups[0], groups[2]) {
		t.Errorf("search %q: group counts with the prefilter %+v, without %+v, in Go %+v", search, groups[0], groups[1], groups[2])
	}
	plan, err := testStore.PlanRows(t.Context(), f.a, RowsQuery{PanelID: f.panel.ID, ViewID: f.view.ID, Limit: 50, Search: search})
	if err != nil {
		t.Fatal(err)
	}
	stmt, _ := firstPageSQL(t, plan)
	return with, strings.Contains(stmt, "lower(s0.doc::text) LIKE")
}

// withTrgmIndex builds the trigram index over the given sources only (a partial index, so that
// the records other tests of the package leave behind are not indexed; the store would not use a
// partial index by itself) and has testStore use it until the test ends.
func withTrgmIndex(t *testing.T, sources ...int64) {
	t.Helper()
	ctx := t.Context()
	var ext bool
	if err := testStore.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')`).Scan(&ext); err != nil {
		t.Fatal(err)
	}
	if !ext {
		t.Skip("pg_trgm is not installed here: TestSearchIndexMigrationWithoutPrivilege covers that case")
	}
	ids := make([]string, len(sources))
	for i, id := range sources {
		ids[i] = fmt.Sprint(id)
	}
	ddl := strings.Replace(SearchIndexDDL, " CONCURRENTLY IF NOT EXISTS", "", 1) + " WHERE data_source_id IN (" + strings.Join(ids, ", ") + ")"
	if _, err := testStore.db.ExecContext(ctx, ddl); err != nil {
		t.Fatal(err)
	}
	testStore.trgm.mu.Lock()
	testStore.trgm.ok, testStore.trgm.checked = true, time.Now()
	testStore.trgm.mu.Unlock()
	t.Cleanup(func() {
		_, _ = testStore.db.ExecContext(context.Background(), `DROP INDEX IF EXISTS source_records_doc_trgm_idx`)
		testStore.trgm.mu.Lock()
		testStore.trgm.checked = time.Time{}
		testStore.trgm.mu.Unlock()
	})
}

func TestSearchPrefilterSameAnswers(t *testing.T) {
	f := newTrgmFixture(t)
	withTrgmIndex(t, f.primary.ID, f.other.ID)
	f.setView(t, nil, nil)
	f.visible(t, "Name", "Note", "Kind", "Deep", "Blob")
	tests := []struct {
		search    string
		want      []string
		prefilter bool
	}{
		{"hello", []string{"t1"}, true},
		{`"hello"`, []string{"t1"}, false},   // a quote: doc::text holds \"
		{`k\slash`, []string{"t1"}, false},   // a backslash: doc::text holds \\
		{"lash pa", []string{"t1"}, true},    // next to an escaped character
		{"100%", []string{"t2"}, true},       // % is literal
		{"e_w", []string{"t2"}, true},        // _ is literal: "pure water" does not match
		{"ÄRGER", []string{"t1"}, true},      // non-ASCII, lowered
		{"über öl", []string{"t1"}, true},    //
		{"ΟΔΟΣ σοφ", []string{"t2"}, true},   // Σ lowers to σ, as Go lowers it
		{"🎉 P", []string{"t3"}, true},        // 4-byte UTF-8
		{"日本語", []string{"t3"}, true},        //
		{"CAFÉ", []string{"t2"}, true},       //
		{"ünïcödé", []string{"t4"}, true},    //
		{"[1, 2]", []string{"t1"}, true},     // a nested value's text, as #>> renders it
		{"v \\\"q", []string{"t1"}, false},   // inside a nested value: escapes and all
		{"deeper", []string{"t3"}, true},     // an object in a text column
		{"345.67", []string{"t2"}, true},     // a number in a text column
		{"1000", []string{"t6"}, true},       // 1e3 as jsonb renders it
		{"true", []string{"t3"}, true},       // a boolean in a text column
		{"fals", []string{"t7"}, true},       //
		{"name", []string{"t5", "t6"}, true}, // every record's key holds it; the values decide
		{"ine2 tab", []string{"t2"}, true},   // beside a newline and a tab
		{"line1\nline2", []string{"t2"}, false},
		{"tab\tsep", []string{"t6"}, false},
		{"ab\tsep", []string{"t6"}, false},
		{`"x`, []string{"t3", "t4"}, false}, // the quotes of nested values
		{`ay"x`, nil, false},                // a nested value's text keeps its escapes
		{`ay\"x`, []string{"t4"}, false},
		{"arr", []string{"t4"}, true},
		{"nothing like it", nil, true},
		{"pu", []string{"t2", "t7"}, false}, // too short for a trigram
		{"%", []string{"t2"}, false},
	}
	for _, tc := range tests {
		got, pre := f.searchBothWays(t, tc.search)
		if !slices.Equal(got, tc.want) {
			t.Errorf("search %q: rows %v, want %v", tc.search, got, tc.want)
		}
		if pre != tc.prefilter {
			t.Errorf("search %q: prefilter in the statement %v, want %v", tc.search, pre, tc.prefilter)
		}
	}

	// Searched columns the prefilter cannot stand for: a column of a joined source (its text is in
	// another document) and a number column (searched in Go).
	f.visible(t, "Name", "Extra")
	if got, pre := f.searchBothWays(t, "hello"); !slices.Equal(got, []string{"t1", "t3"}) || pre {
		t.Errorf("with a joined column: rows %v, prefilter %v; want [t1 t3] without the prefilter", got, pre)
	}
	f.visible(t, "Name", "Num")
	if got, pre := f.searchBothWays(t, "1000"); !slices.Equal(got, []string{"t6"}) || pre {
		t.Errorf("with a number column: rows %v, prefilter %v; want [t6] without the prefilter", got, pre)
	}
	// With the view's filters and a sort in SQL, and on a later page.
	f.visible(t, "Name", "Note")
	f.setView(t, []ViewFilter{fleaf("Note", "isNotEmpty", nil)}, []ViewSort{{ColumnName: "Name", Direction: "desc"}})
	if got, pre := f.searchBothWays(t, "pure"); !slices.Equal(got, []string{"t7", "t2"}) || !pre {
		t.Errorf("with filters and a sort: rows %v, prefilter %v; want [t7 t2] with it", got, pre)
	}
	if got := f.keys(t, RowsQuery{ViewID: f.view.ID, Limit: 1, Search: "pure"}); !slices.Equal(got, []string{"t7"}) {
		t.Errorf("first page of one: %v", got)
	}
	plan, err := testStore.PlanRows(t.Context(), f.a, RowsQuery{PanelID: f.panel.ID, ViewID: f.view.ID, Limit: 1, Search: "pure"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := plan.Run(t.Context(), func(Row) error { return nil })
	if err != nil || res.Next == nil {
		t.Fatalf("first page: %v %+v", err, res)
	}
	// The cursor does not depend on the prefilter: the second page is the same with and without it.
	for _, no := range []bool{false, true} {
		plan, err := testStore.PlanRows(t.Context(), f.a, RowsQuery{PanelID: f.panel.ID, ViewID: f.view.ID, Limit: 1, Search: "pure",
			After: res.Next, noSearchIndex: no})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		if _, err := plan.Run(t.Context(), func(r Row) error { got = append(got, r.Key); return nil }); err != nil || !slices.Equal(got, []string{"t2"}) {
			t.Errorf("second page (without the prefilter: %v): %v %v", no, got, err)
		}
	}
}

// Where 0013 cannot install pg_trgm (here: a role without CREATE on its database runs every
// migration), the migration succeeds without it; where pg_trgm is not available at all
// (simulated by asking for an extension no server has), the same. Where it is, 0013 installs it,
// the service's role can then build the index with SearchIndexDDL, and the store notices the
// index (a partial one does not count).
func TestSearchIndexMigrationWithoutPrivilege(t *testing.T) {
	dsn, drop, err := storetest.CreateDatabase("panels_store_notrgm")
	if err != nil {
		t.Fatal(err)
	}
	defer drop()
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	role := fmt.Sprintf("panels_notrgm_%d", time.Now().UnixNano()%1e9)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN; GRANT CREATE ON SCHEMA public TO "+pgx.Identifier{role}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		drop()
		_, _ = admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize())
	}()
	var hasCreate bool
	if err := admin.QueryRow(ctx, "SELECT has_database_privilege($1, current_database(), 'CREATE')", role).Scan(&hasCreate); err != nil || hasCreate {
		t.Fatalf("the role may create in the database (%v): the test would not test anything", err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role) // trust authentication, as the test server has
	roleDSN := u.String()
	m, err := NewMigrator(roleDSN)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Up(); err != nil {
		t.Fatalf("migrations as a role that may not create extensions: %v", err)
	}
	v, dirty, latest, err := m.Version()
	_ = m.Close()
	if err != nil || dirty || v != latest || v < 13 {
		t.Fatalf("version %d dirty %v latest %d: %v", v, dirty, latest, err)
	}
	installed := func() bool {
		t.Helper()
		var ext bool
		if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')`).Scan(&ext); err != nil {
			t.Fatal(err)
		}
		return ext
	}
	if installed() {
		t.Fatal("pg_trgm installed by a role without CREATE on the database")
	}
	st, err := Open(roleDSN, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.searchIndexReady(ctx) {
		t.Error("the store sees a search index where there is none")
	}

	// The same logic where the server has no pg_trgm at all: run 0013 asking for an extension
	// that does not exist, as the superuser.
	up, err := migrations.FS.ReadFile("0013_search_trgm.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	absent := strings.ReplaceAll(string(up), "'pg_trgm'", "'pg_trgm_not_on_this_server'")
	if absent == string(up) {
		t.Fatal("0013 no longer names pg_trgm: update this test")
	}
	if _, err := admin.Exec(ctx, absent); err != nil {
		t.Fatalf("0013 where pg_trgm is unavailable: %v", err)
	}
	if installed() {
		t.Fatal("pg_trgm installed where it is unavailable")
	}
	// Where the superuser runs it, the unchanged 0013 installs pg_trgm; then the service's role
	// (the tables' owner) builds the index, which the store sees once its cache expires.
	if _, err := admin.Exec(ctx, string(up)); err != nil {
		t.Fatal(err)
	}
	if !installed() {
		t.Fatal("0013 did not install pg_trgm")
	}
	roleConn, err := pgx.Connect(ctx, roleDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer roleConn.Close(context.Background())
	for _, c := range []struct {
		ddl  string
		want bool
	}{
		{strings.Replace(SearchIndexDDL, " CONCURRENTLY IF NOT EXISTS", "", 1) + " WHERE data_source_id = 1", false},
		{SearchIndexDDL, true},
	} {
		if _, err := roleConn.Exec(ctx, `DROP INDEX IF EXISTS source_records_doc_trgm_idx`); err != nil {
			t.Fatal(err)
		}
		if _, err := roleConn.Exec(ctx, c.ddl); err != nil {
			t.Fatalf("%s: %v", c.ddl, err)
		}
		st.trgm.checked = time.Time{}
		if got := st.searchIndexReady(ctx); got != c.want {
			t.Errorf("after %s the store uses the index: %v, want %v", c.ddl, got, c.want)
		}
	}
}

// The write cost of the trigram index: syncs of 100,000 records into one source with and without
// it, alternating, in a database of its own. Logged, not asserted (run with -v). Slow: skipped
// under -short.
func TestSearchIndexIngestCost(t *testing.T) {
	if testing.Short() {
		t.Skip("syncs 100,000 records several times")
	}
	dsn, drop, err := storetest.CreateDatabase("panels_store_trgmcost")
	if err != nil {
		t.Fatal(err)
	}
	defer drop()
	m, err := NewMigrator(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	_ = m.Close()
	st, err := Open(dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	if _, err := st.db.ExecContext(ctx, SearchIndexDDL); err != nil {
		t.Skipf("no trigram index (is pg_trgm installed?): %v", err)
	}
	def := SearchIndexDDL
	a := stActor(stTenant("trgmcost"), "owner")
	p := &Panel{Name: "Cost"}
	if err := st.CreatePanel(ctx, a, p); err != nil {
		t.Fatal(err)
	}
	ds := &DataSource{Type: "file", Config: map[string]any{"format": "ndjson", "keyField": "id"}}
	if err := st.CreateDataSource(ctx, a, p.ID, ds); err != nil {
		t.Fatal(err)
	}
	const n = 100000
	var b strings.Builder
	for i := range n {
		rec, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("r%d", i), "name": fmt.Sprintf("patient %d", i),
			"note": []string{"call back", "ok", "needs review", "Überweisung fehlt"}[i%4], "count": i % 100,
			"due": fmt.Sprintf("2026-06-%02d", 1+i%28), "addr": map[string]any{"city": []string{"London", "Leeds", "York"}[i%3], "zip": fmt.Sprint(10000 + i%9000)}})
		b.Write(rec)
		b.WriteByte('\n')
	}
	data := b.String()
	t.Logf("%d records, %.1f MB of NDJSON", n, float64(len(data))/1e6)
	sync := func() time.Duration {
		run, err := st.BeginSync(ctx, a, "syncDataSource", ds.ID, 0, TriggerUpload, 0, stAllowDS)
		if err != nil {
			t.Fatal(err)
		}
		defer run.Close()
		start := time.Now()
		res, err := run.Replace(ctx, ingest.NDJSON(strings.NewReader(data), ingest.Options{KeyField: "id"}))
		if err != nil || res.Record.Status != SyncSuccess {
			t.Fatalf("sync: %v %+v", err, res.Record)
		}
		return time.Since(start)
	}
	exec := func(q string) {
		if _, err := st.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	sync() // warm-up: the first generation
	var with, without []time.Duration
	for range 3 {
		// The old generation's dead rows go before each measured sync, with or without the index.
		exec("VACUUM source_records")
		with = append(with, sync())
		exec("DROP INDEX source_records_doc_trgm_idx")
		exec("VACUUM source_records")
		without = append(without, sync())
		exec(def)
	}
	med := func(d []time.Duration) time.Duration { s := slices.Clone(d); slices.Sort(s); return s[len(s)/2] }
	var size int64
	if err := st.db.QueryRowContext(ctx, `SELECT pg_relation_size('source_records_doc_trgm_idx')`).Scan(&size); err != nil {
		t.Fatal(err)
	}
	t.Logf("sync of %d records: with the trigram index %v (median of %v), without %v (median of %v), ratio %.2f; "+
		"index after the last rebuild %.1f MB for %d records", n, med(with).Round(time.Millisecond), with, med(without).Round(time.Millisecond),
		without, float64(med(with))/float64(med(without)), float64(size)/1e6, n)
}

// At 1,000,000 records in one source, a selective search (one record in a million) reads the
// trigram index instead of walking the source's records, and answers as without the prefilter.
// Slow: skipped under -short.
func TestSearchIndexPlanAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 1,000,000 records")
	}
	ctx := t.Context()
	f := newOpsFixture(t)
	withTrgmIndex(t, f.primary.ID)
	var gen int64
	if err := testStore.db.NewSelect().Table("source_records").ColumnExpr("max(generation)").
		Where("data_source_id = ?", f.primary.ID).Scan(ctx, &gen); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := testStore.db.ExecContext(ctx, `INSERT INTO source_records (data_source_id, generation, record_key, ord, doc)
		SELECT ?, ?, 'k' || i, 100 + i, jsonb_build_object('name', 'patient ' || i, 'note', CASE WHEN i % 7 = 0 THEN 'call back' ELSE 'ok' END,
			'count', i % 100, 'due', '2026-06-' || lpad((1 + i % 28)::text, 2, '0'))
		FROM generate_series(1, 1000000) AS i`, f.primary.ID, gen); err != nil {
		t.Fatal(err)
	}
	t.Logf("1,000,000 records inserted with the trigram index over their source in %v", time.Since(start).Round(time.Millisecond))
	if _, err := testStore.db.ExecContext(ctx, "VACUUM ANALYZE source_records"); err != nil {
		t.Fatal(err)
	}
	f.view.VisibleColumns = []string{"Name", "Note"}
	if _, err := testStore.UpdateView(ctx, f.a, f.view.ID, func(*View) error { return nil }, ViewPatch{VisibleColumns: f.view.VisibleColumns}); err != nil {
		t.Fatal(err)
	}
	f.setView(t, nil, []ViewSort{{ColumnName: "Name", Direction: "asc"}})
	explain := func(search string, no bool) string {
		plan, err := testStore.PlanRows(ctx, f.a, RowsQuery{PanelID: f.panel.ID, ViewID: f.view.ID, Limit: 50, Now: opsNow, Search: search, noSearchIndex: no})
		if err != nil {
			t.Fatal(err)
		}
		q, args := firstPageSQL(t, plan)
		var raw []byte
		if err := testStore.db.QueryRowContext(ctx, "EXPLAIN (FORMAT JSON) "+q, args...).Scan(&raw); err != nil {
			t.Fatalf("%v: %s", err, q)
		}
		return string(raw)
	}
	const idx = `"Index Name": "source_records_doc_trgm_idx"`
	if plan := explain("nt 99999", false); !strings.Contains(plan, idx) || strings.Contains(plan, `"Seq Scan"`) {
		t.Errorf("a selective search does not read the trigram index:\n%s", plan)
	}
	if plan := explain("nt 99999", true); strings.Contains(plan, idx) {
		t.Errorf("without the prefilter the plan names the trigram index:\n%s", plan)
	}
	timed := func(no bool) ([]string, time.Duration) {
		start := time.Now()
		plan, err := testStore.PlanRows(ctx, f.a, RowsQuery{PanelID: f.panel.ID, ViewID: f.view.ID, Limit: 50, Now: opsNow, Search: "nt 99999", noSearchIndex: no})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		if _, err := plan.Run(ctx, func(r Row) error { keys = append(keys, r.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		return keys, time.Since(start)
	}
	with, dWith := timed(false)
	without, dWithout := timed(true)
	// patient 99999 and patient 999990 to 999999, in name order.
	want := []string{"k99999", "k999990", "k999991", "k999992", "k999993", "k999994", "k999995", "k999996", "k999997", "k999998", "k999999"}
	if !slices.Equal(with, want) || !slices.Equal(without, want) {
		t.Errorf("rows with the prefilter %v, without %v; want %v", with, without, want)
	}
	t.Logf("search \"nt 99999\" at 1,000,000 records: with the prefilter %v, without %v", dWith.Round(time.Microsecond), dWithout.Round(time.Microsecond))
}
