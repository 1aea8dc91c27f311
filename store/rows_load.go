package store

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"

	"github.com/uptrace/bun"
)

// rowsDefs is what a rows request reads before it touches records: the panel and the view with
// the actor's levels on them, the panel's columns and sources, the view's sorts and filters.
type rowsDefs struct {
	panel   *Panel
	view    *View // nil without a viewId
	cols    []Column
	sources []int64 // ascending: the primary source is the lowest id
}

// rowsDefsRow is one row of loadRowsDefs' statement. The lists are zipped by position: row n
// holds the n-th column, source, sort and filter (each flagged, since a shorter list leaves
// NULLs), and every row the panel and the view. Every value is scanned by Bun into the model's
// own field, exactly as the separate queries scanned them.
type rowsDefsRow struct {
	Panel     Panel      `bun:"embed:p__"`
	HasView   bool       `bun:"has_view"`
	View      View       `bun:"embed:v__"`
	HasCol    bool       `bun:"has_col"`
	Col       Column     `bun:"embed:c__"`
	SourceID  *int64     `bun:"source_id"`
	HasSort   bool       `bun:"has_sort"`
	Sort      ViewSort   `bun:"embed:s__"`
	HasFilter bool       `bun:"has_filter"`
	Filter    ViewFilter `bun:"embed:f__"`
}

// loadRowsDefs reads the definitions of a rows request in one statement (one round trip instead
// of three, six with a view), then makes panelAccess's and viewAccess's decisions, in their
// order and with their errors, from the same access SQL (panelAccessQuery, viewAccessQuery).
// The lists are read whatever the decision and dropped on a refusal: no row leaves this
// function unless the actor may read it. viewID 0: no view.
func loadRowsDefs(ctx context.Context, db bun.IDB, a Actor, op Operation, panelID, viewID int64) (*rowsDefs, error) {
	counts := []string{"1", "(SELECT count(*) FROM c)", "(SELECT count(*) FROM s)"}
	cols := append(modelColumnsAs(db, (*Panel)(nil), "p", "p__", "level"),
		"c.id IS NOT NULL AS has_col")
	cols = append(cols, modelColumnsAs(db, (*Column)(nil), "c", "c__")...)
	cols = append(cols, "s.id AS source_id")
	q := db.NewSelect().
		With("p", panelAccessQuery(db, a, panelID)).
		With("c", db.NewSelect().Model((*Column)(nil)).ColumnExpr("col.*").
			ColumnExpr("row_number() OVER (ORDER BY "+columnOrder+") AS n").
			Where("col.tenant_id = ?", a.TenantID).Where("col.panel_id = ?", panelID)).
		With("s", db.NewSelect().Model((*DataSource)(nil)).Column("id").
			ColumnExpr("row_number() OVER (ORDER BY ds.id) AS n").
			Where("ds.panel_id = ?", panelID).Where("ds.tenant_id = ?", a.TenantID)).
		TableExpr("p")
	if viewID != 0 {
		// Sorts and filters are reached through the view as viewAccess selects it (scoped to
		// the tenant): they have no tenant_id of their own.
		q = q.With("v", viewAccessQuery(db, a, viewID)).
			With("vs", db.NewSelect().Model((*ViewSort)(nil)).ColumnExpr("vs.*").
				ColumnExpr("row_number() OVER (ORDER BY "+viewSortOrder+") AS n").
				Where("vs.view_id = (SELECT v.id FROM v)")).
			With("vf", db.NewSelect().Model((*ViewFilter)(nil)).ColumnExpr("vf.*").
				ColumnExpr("row_number() OVER (ORDER BY "+viewFilterOrder+") AS n").
				Where("vf.view_id = (SELECT v.id FROM v)")).
			Join("LEFT JOIN v ON true")
		counts = append(counts, "(SELECT count(*) FROM vs)", "(SELECT count(*) FROM vf)")
		cols = append(cols, "v.id IS NOT NULL AS has_view")
		cols = append(cols, modelColumnsAs(db, (*View)(nil), "v", "v__", "level", "panel_level")...)
		cols = append(cols, "vs.id IS NOT NULL AS has_sort")
		cols = append(cols, modelColumnsAs(db, (*ViewSort)(nil), "vs", "s__")...)
		cols = append(cols, "vf.id IS NOT NULL AS has_filter")
		cols = append(cols, modelColumnsAs(db, (*ViewFilter)(nil), "vf", "f__")...)
	}
	q = q.Join("CROSS JOIN LATERAL generate_series(1, GREATEST(" + strings.Join(counts, ", ") + ")) AS g(n)").
		Join("LEFT JOIN c ON c.n = g.n").Join("LEFT JOIN s ON s.n = g.n")
	if viewID != 0 {
		q = q.Join("LEFT JOIN vs ON vs.n = g.n").Join("LEFT JOIN vf ON vf.n = g.n")
	}
	for _, c := range cols {
		q = q.ColumnExpr(c)
	}
	var rs []rowsDefsRow
	if err := q.OrderExpr("g.n").Scan(ctx, &rs); err != nil {
		return nil, fmt.Errorf("panel %d: %w", panelID, mapErrOf(KindPanel, err))
	}
	if len(rs) == 0 { // no panel: p is empty, and so is the answer
		return nil, fmt.Errorf("panel %d: %w", panelID, mapErrOf(KindPanel, sql.ErrNoRows))
	}
	d := &rowsDefs{panel: &rs[0].Panel, cols: []Column{}}
	if err := authorize(op, d.panel.Level, KindPanel); err != nil {
		return nil, fmt.Errorf("panel %d: %w", panelID, err)
	}
	if viewID != 0 {
		if !rs[0].HasView {
			return nil, fmt.Errorf("view %d: %w", viewID, mapErrOf(KindView, sql.ErrNoRows))
		}
		d.view = &rs[0].View
		if err := authorize(op, d.view.Level, KindView); err != nil {
			return nil, fmt.Errorf("view %d: %w", viewID, err)
		}
	}
	var sorts []ViewSort
	var filters []ViewFilter
	for i := range rs {
		r := &rs[i]
		if r.HasCol {
			d.cols = append(d.cols, r.Col)
		}
		if r.SourceID != nil {
			d.sources = append(d.sources, *r.SourceID)
		}
		if r.HasSort {
			sorts = append(sorts, r.Sort)
		}
		if r.HasFilter {
			filters = append(filters, r.Filter)
		}
	}
	if d.view != nil {
		attachViewDetails([]*View{d.view}, sorts, filters)
	}
	return d, nil
}

// modelColumnsAs selects the table columns of model (a nil pointer to a model struct), and the
// computed columns extra, from alias as prefix+name: the names rowsDefsRow's embedded fields
// scan.
func modelColumnsAs(db bun.IDB, model any, alias, prefix string, extra ...string) []string {
	t := db.Dialect().Tables().Get(reflect.TypeOf(model).Elem())
	names := make([]string, 0, len(t.Fields)+len(extra))
	for _, f := range t.Fields {
		names = append(names, f.Name)
	}
	out := make([]string, 0, len(names))
	for _, n := range append(names, extra...) {
		out = append(out, alias+`."`+n+`" AS "`+prefix+n+`"`)
	}
	return out
}
