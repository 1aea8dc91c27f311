package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/panels/panels/store/rows"
)

// TestRowsOverheadTimings compares a rows request read as before loadRowsDefs (a query per
// definition, then BEGIN, SET LOCAL, the record sets, the engine, COMMIT) with PlanRows and Run,
// on a small panel, request by request alternately in one run, and logs the medians. It asserts
// only that both answer the same rows; it runs when PANELS_ROWS_OVERHEAD is set:
//
//	PANELS_ROWS_OVERHEAD=1 go test ./store -run TestRowsOverheadTimings -count=1 -v
func TestRowsOverheadTimings(t *testing.T) {
	if os.Getenv("PANELS_ROWS_OVERHEAD") == "" {
		t.Skip("set PANELS_ROWS_OVERHEAD to measure")
	}
	const records, n = 3000, 400
	ctx := t.Context()
	a := stActor(stTenant("overhead"), "owner")
	p := stPanel(t, a, "Overhead")
	ds := &DataSource{Type: "file", Config: map[string]any{"format": "ndjson", "keyField": "id"}}
	if err := testStore.CreateDataSource(ctx, a, p.ID, ds); err != nil {
		t.Fatal(err)
	}
	lines := make([]string, records)
	statuses := []string{"active", "pending", "inactive"}
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"id":"r%05d","name":"Person %d","status":%q,"age":%d}`, i, i, statuses[i%3], i%90)
	}
	if res := syncNDJSON(t, a, ds, "id", lines); res.Record.Status != SyncSuccess {
		t.Fatalf("sync: %+v", res.Record)
	}
	for _, c := range [][3]string{{"Name", "text", "name"}, {"Status", "select", "status"}, {"Age", "number", "age"}} {
		sf, id := c[2], ds.ID
		if _, err := testStore.CreateColumn(ctx, a, p.ID, &Column{Name: c[0], Type: c[1], SourceField: &sf, DataSourceID: &id}, nil); err != nil {
			t.Fatal(err)
		}
	}
	stCalc(t, a, p.ID, "Label", `CONCAT([Name], " ", [Status])`)
	view := &View{Name: "Active", PanelID: p.ID}
	if err := testStore.CreateView(ctx, a, view); err != nil {
		t.Fatal(err)
	}
	allow := func(*View) error { return nil }
	if _, err := testStore.ReplaceFilters(ctx, a, view.ID, allow, []ViewFilter{{ColumnName: "Status", Operator: "eq", Value: "active", LogicalOperator: "and"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.ReplaceSorts(ctx, a, view.ID, allow, []ViewSort{{ColumnName: "Name", Direction: "asc"}}); err != nil {
		t.Fatal(err)
	}

	// The test package's hooks (the tenant-scoping audit) would charge each statement: a store
	// of its own on the same pool has none.
	st := &Store{db: bun.NewDB(testStore.db.DB, newDialect())}
	before := func(q RowsQuery) ([]string, error) {
		d, err := separateRowsDefs(ctx, st.db, a, rowsOperation(q), q.PanelID, q.ViewID)
		if err != nil {
			return nil, err
		}
		pl, err := st.compileRows(ctx, a, q, d)
		if err != nil {
			return nil, err
		}
		var keys []string
		err = pl.db.RunInTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, func(ctx context.Context, tx bun.Tx) error {
			if _, err := tx.ExecContext(ctx, "SET LOCAL statement_timeout = '60s'"); err != nil {
				return err
			}
			var sets []recordSet
			if err := tx.NewSelect().Model(&sets).Where("rs.tenant_id = ?", pl.tenantID).
				Where("rs.data_source_id IN (?)", bun.List(pl.sources)).Scan(ctx); err != nil {
				return err
			}
			gens := make([]rows.Generation, len(pl.sources))
			for _, s := range sets {
				gens[slices.Index(pl.sources, s.DataSourceID)] = rows.Generation{Set: s.Generation, Rows: s.RowsGeneration}
			}
			_, err := pl.plan.Run(ctx, tx, gens, func(r Row) error { keys = append(keys, r.Key); return nil })
			return err
		})
		return keys, err
	}
	after := func(q RowsQuery) ([]string, error) {
		pl, err := st.PlanRows(ctx, a, q)
		if err != nil {
			return nil, err
		}
		var keys []string
		_, err = pl.Run(ctx, func(r Row) error { keys = append(keys, r.Key); return nil })
		return keys, err
	}
	now := time.Now()
	for _, c := range []struct {
		name string
		q    RowsQuery
	}{
		{"first page of 1, no view", RowsQuery{PanelID: p.ID, Limit: 1, Now: now}},
		{"first page of 50, no view", RowsQuery{PanelID: p.ID, Limit: 50, Now: now}},
		{"first page of 50, view with a filter and a sort", RowsQuery{PanelID: p.ID, ViewID: view.ID, Limit: 50, Now: now}},
		{"first page of 50, view, search", RowsQuery{PanelID: p.ID, ViewID: view.ID, Limit: 50, Now: now, Search: "person 12"}},
	} {
		sides := []func(RowsQuery) ([]string, error){before, after}
		var took [2][]time.Duration
		var answers [2][]string
		for i := range n + 20 {
			for k := range 2 {
				side := (i + k) % 2 // alternate which side goes first
				start := time.Now()
				keys, err := sides[side](c.q)
				d := time.Since(start)
				if err != nil {
					t.Fatal(err)
				}
				if i >= 20 { // warm-up: connections, plans, the search-index check
					took[side] = append(took[side], d)
				}
				answers[side] = keys
			}
		}
		if len(answers[0]) == 0 || !slices.Equal(answers[0], answers[1]) {
			t.Fatalf("%s: the two reads answer differently (or nothing): %d and %d rows", c.name, len(answers[0]), len(answers[1]))
		}
		mb, ma := median(took[0]), median(took[1])
		t.Logf("%-50s before %7.3f ms  after %7.3f ms  after/before %.2f  (%d rows, median of %d each)",
			c.name, ms(mb), ms(ma), float64(ma)/float64(mb), len(answers[0]), n)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
