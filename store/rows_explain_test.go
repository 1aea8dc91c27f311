package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/uptrace/bun"
)

// At 1,000,000 records in one source, the pushed-down first page (a nested AND/OR filter and a
// search on text columns, no sort in Go) walks source_records_ord_idx in the source's order and
// stops at the LIMIT: no sequential scan and no sort of the million rows. Slow: skipped under -short.
func TestRowsPushdownPlanAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 1,000,000 records")
	}
	ctx := t.Context()
	f := newOpsFixture(t)
	var gen int64
	if err := testStore.db.NewSelect().Table("source_records").ColumnExpr("max(generation)").
		Where("data_source_id = ?", f.primary.ID).Scan(ctx, &gen); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.db.ExecContext(ctx, `INSERT INTO source_records (data_source_id, generation, record_key, ord, doc)
		SELECT ?, ?, 'k' || i, 100 + i, jsonb_build_object('name', 'patient ' || i, 'note', CASE WHEN i % 7 = 0 THEN 'call back' ELSE 'ok' END,
			'count', i % 100, 'due', '2026-06-' || lpad((1 + i % 28)::text, 2, '0'))
		FROM generate_series(1, 1000000) AS i`, f.primary.ID, gen); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.db.ExecContext(ctx, "ANALYZE source_records"); err != nil {
		t.Fatal(err)
	}
	f.view.VisibleColumns = []string{"Name", "Note"}
	if _, err := testStore.UpdateView(ctx, f.a, f.view.ID, func(*View) error { return nil }, ViewPatch{VisibleColumns: f.view.VisibleColumns}); err != nil {
		t.Fatal(err)
	}
	f.setView(t, []ViewFilter{
		fleaf("Note", "contains", "back"),
		fgroup("or", "and", fleaf("Count", "gt", 90), fleaf("Name", "endsWith", "7")),
	}, nil)
	plan, err := testStore.PlanRows(ctx, f.a, RowsQuery{PanelID: f.panel.ID, ViewID: f.view.ID, Limit: 50, Now: opsNow, Search: "patient"})
	if err != nil {
		t.Fatal(err)
	}
	var explained string
	err = testStore.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		gens, err := plan.generations(ctx, tx)
		if err != nil {
			return err
		}
		q, args := plan.plan.FirstPageSQL(gens)
		var raw []byte
		if err := tx.QueryRowContext(ctx, "EXPLAIN (FORMAT JSON) "+q, args...).Scan(&raw); err != nil {
			return fmt.Errorf("%w: %s", err, q)
		}
		explained = string(raw)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc []struct {
		Plan json.RawMessage `json:"Plan"`
	}
	if err := json.Unmarshal([]byte(explained), &doc); err != nil || len(doc) != 1 {
		t.Fatalf("EXPLAIN: %v %s", err, explained)
	}
	if !strings.Contains(explained, `"Index Name": "source_records_ord_idx"`) || strings.Contains(explained, `"Seq Scan"`) ||
		strings.Contains(explained, `"Node Type": "Sort"`) {
		t.Errorf("the first page does not walk source_records_ord_idx under its LIMIT:\n%s", explained)
	}
	// The same shape answers (checked by hand: i % 7 = 0, and i % 100 > 90 or i ends in 7), both ways.
	got := f.keys(t, RowsQuery{ViewID: f.view.ID, Limit: 3, Now: opsNow, Search: "patient"})
	if strings.Join(got, ",") != "k7,k77,k91" {
		t.Errorf("first rows %v", got)
	}
}
