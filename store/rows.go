package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/panels/panels/store/formula"
	"github.com/panels/panels/store/rows"
)

// The rows engine (store/rows) computes a panel's worklist from plain definitions; the store
// decides who may read which columns, loads the definitions and runs the engine's statements in
// one transaction.

// ErrCursorStale and ErrCursorInvalid are the engine's cursor errors, answered as the store's.
var (
	ErrCursorStale   = rows.ErrCursorStale
	ErrCursorInvalid = rows.ErrCursorInvalid
)

// RowCursor is the position after the last row of a page.
type RowCursor = rows.Cursor

// Row is one row of the answer.
type Row = rows.Row

// RowsQuery asks for rows of a panel.
type RowsQuery struct {
	PanelID int64
	ViewID  int64 // 0: no view (every column, no filters or sorts)
	Limit   int   // 0: every row (exports)
	Export  bool  // getPanelRowsCSV: the same rows, answered as a CSV export
	After   *RowCursor
	Now     time.Time
	// GoOnly evaluates every condition and sort in Go, so tests can hold both paths to one answer.
	GoOnly bool
	// Limits bound the text a formula computes (zero: the defaults).
	Limits formula.Limits
	// MaxBytes bounds the values of a page (Limit > 0); see rows.Query.
	MaxBytes int
	// Search keeps the rows where one of the answer's columns contains it, ignoring case.
	Search string
	// GroupBy is the column reference RowsPlan.Groups counts by (getPanelRowGroups).
	GroupBy string
	// noSearchIndex leaves out the search's trigram prefilter, so tests can hold the answers
	// with and without it to one another.
	noSearchIndex bool
}

// RowsPlan is a compiled rows query, ready to run against the database.
type RowsPlan struct {
	db       *bun.DB
	tenantID string
	sources  []int64
	plan     *rows.Plan
}

// PlanRows checks that the actor may read the panel (and the view), then compiles the query.
func (s *Store) PlanRows(ctx context.Context, a Actor, q RowsQuery) (*RowsPlan, error) {
	d, err := loadRowsDefs(ctx, s.db, a, rowsOperation(q), q.PanelID, q.ViewID)
	if err != nil {
		return nil, err
	}
	return s.compileRows(ctx, a, q, d)
}

// rowsOperation is the permission table's entry the query is decided by.
func rowsOperation(q RowsQuery) Operation {
	op, opOfView := Operation("getPanelRows"), opGetPanelRowsOfView
	switch {
	case q.GroupBy != "":
		op, opOfView = "getPanelRowGroups", opGetPanelRowGroupsOfView
	case q.Export:
		op, opOfView = "getPanelRowsCSV", opGetPanelRowsCSVOfView
	}
	if q.ViewID != 0 {
		return opOfView
	}
	return op
}

// compileRows compiles the query over definitions the actor may read.
func (s *Store) compileRows(ctx context.Context, a Actor, q RowsQuery, d *rowsDefs) (*RowsPlan, error) {
	p, view, sources := d.panel, d.view, d.sources
	if view != nil && view.PanelID != p.ID {
		return nil, invalid("viewId", fmt.Sprintf("view %d belongs to another panel", view.ID))
	}
	in := rows.Input{
		Columns: engineColumns(d.cols),
		// The primary source is the one with the lowest id.
		Sources: sources,
		Cohort:  engineCohort(p.CohortRule),
		View:    engineView(view),
		// A view reader gets the view's visible columns and nothing else.
		WholePanel: p.Level >= PermViewer,
		GroupBy:    q.GroupBy,
		Query: rows.Query{Limit: q.Limit, After: q.After, Now: q.Now, GoOnly: q.GoOnly, Limits: q.Limits,
			MaxBytes: q.MaxBytes, Search: q.Search,
			SearchIndex: q.Search != "" && !q.noSearchIndex && s.searchIndexReady(ctx)},
	}
	return &RowsPlan{db: s.db, tenantID: a.TenantID, sources: sources, plan: rows.Compile(in)}, nil
}

func engineColumns(cols []Column) []rows.Column {
	out := make([]rows.Column, len(cols))
	for i, c := range cols {
		out[i] = rows.Column{ID: c.ID, Name: c.Name, Type: c.Type, ColumnType: c.ColumnType, SourceID: c.DataSourceID,
			SourceField: c.SourceField, Formula: c.Formula, Dependencies: c.Dependencies}
		out[i].TimeZone, _ = c.Properties["timeZone"].(string)
	}
	return out
}

func engineCohort(rule CohortRule) rows.Cohort {
	out := rows.Cohort{Or: rule.Logic == "OR", Conditions: engineConditions(rule.Conditions), Groups: engineCohortGroups(rule.Groups)}
	return out
}

func engineConditions(cs []CohortCondition) []rows.Condition {
	out := make([]rows.Condition, len(cs))
	for i, c := range cs {
		out[i] = rows.Condition{Field: c.Field, Operator: c.Operator, Value: c.Value}
	}
	return out
}

func engineCohortGroups(gs []CohortGroup) []rows.Cohort {
	var out []rows.Cohort
	for _, g := range gs {
		out = append(out, rows.Cohort{Or: g.Conjunction == "or", Conditions: engineConditions(g.Conditions), Groups: engineCohortGroups(g.Groups)})
	}
	return out
}

func engineFilters(filters []ViewFilter) []rows.Filter {
	var out []rows.Filter
	for _, f := range filters {
		rf := rows.Filter{Column: f.ColumnName, Operator: f.Operator, Value: f.Value, Or: f.LogicalOperator == "or"}
		if f.Operator == FilterGroup {
			rf = rows.Filter{Or: rf.Or, Group: &rows.Group{Or: f.Conjunction != nil && *f.Conjunction == "or", Filters: engineFilters(f.Children)}}
		}
		out = append(out, rf)
	}
	return out
}

func engineView(v *View) *rows.View {
	if v == nil {
		return nil
	}
	out := &rows.View{ID: v.ID, VisibleColumns: v.VisibleColumns}
	out.Filters = engineFilters(v.Filters)
	for _, s := range v.Sorts {
		out.Sorts = append(out.Sorts, rows.Sort{Column: s.ColumnName, Desc: s.Direction == "desc"})
	}
	return out
}

// Groups counts the plan's rows by its GroupBy column, in one read-only, repeatable-read
// transaction; a GroupBy that names no column of the answer's panel is invalid.
func (pl *RowsPlan) Groups(ctx context.Context) (rows.GroupCounts, error) {
	var res rows.GroupCounts
	err := mapErr(pl.db.RunInTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
		func(ctx context.Context, tx bun.Tx) error {
			gens, err := pl.generations(ctx, tx)
			if err != nil {
				return err
			}
			res, err = pl.plan.Groups(ctx, tx, gens)
			return err
		}))
	if errors.Is(err, rows.ErrNoGroupColumn) {
		return res, invalid("by", "no column of the answer has this reference")
	}
	return res, err
}

// Columns describes the answer's columns, in order.
func (pl *RowsPlan) Columns() []rows.Column { return pl.plan.Columns() }

// Run evaluates the plan in one read-only, repeatable-read transaction (every statement sees the
// same records) and hands each answer row to emit, in order.
func (pl *RowsPlan) Run(ctx context.Context, emit func(Row) error) (rows.Result, error) {
	var res rows.Result
	err := mapErr(pl.db.RunInTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
		func(ctx context.Context, tx bun.Tx) error {
			gens, err := pl.generations(ctx, tx)
			if err != nil {
				return err
			}
			res, err = pl.plan.Run(ctx, tx, gens, emit)
			return err
		}))
	return res, err
}

// generations reads each source's record set as the transaction sees it and, in the same round
// trip, raises the transaction's statement timeout (the rows of a large panel may take longer
// than the connection's): it applies from the next statement on, the engine's.
func (pl *RowsPlan) generations(ctx context.Context, tx bun.Tx) ([]rows.Generation, error) {
	const timeout = "SELECT set_config('statement_timeout', '60s', true)"
	gens := make([]rows.Generation, len(pl.sources))
	if len(pl.sources) == 0 {
		_, err := tx.ExecContext(ctx, timeout)
		return gens, err
	}
	// The LEFT JOIN from the one-row subquery runs set_config even when no source has records yet.
	// Prepared: every page and poll of the panel repeats the text.
	var sets []struct {
		DataSourceID   *int64 `bun:"data_source_id"`
		Generation     int64  `bun:"generation"`
		RowsGeneration int64  `bun:"rows_generation"`
	}
	if err := tx.NewRaw(`SELECT rs.data_source_id, rs.generation, rs.rows_generation
		FROM (`+timeout+`) AS timeout
		LEFT JOIN record_sets AS rs ON rs.tenant_id = ? AND rs.data_source_id IN (?)`,
		pl.tenantID, bun.List(pl.sources)).Conn(preparedConn{tx.Tx}).Scan(ctx, &sets); err != nil {
		return nil, err
	}
	for _, s := range sets {
		if s.DataSourceID == nil {
			continue
		}
		i := slices.Index(pl.sources, *s.DataSourceID)
		gens[i] = rows.Generation{Set: s.Generation, Rows: s.RowsGeneration}
	}
	return gens, nil
}
