package store

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/panels/panels/store/formula"
)

// The rows engine turns a panel into its worklist: every record of the panel's primary data
// source (the one with the lowest id) is a row; the other sources' records join it by key. Base
// columns read their source field (a dotted path) from their source's document, calculated
// columns evaluate their formula, the cohort rule and a view's filters select rows and its sorts
// order them. Conditions and sorts on base columns of SQL-typed columns run in PostgreSQL; the
// rest runs here on the rows the database returns.

// ErrCursorStale is a rows cursor that can no longer be honoured: a sync replaced the records it
// was issued on, or the panel or view changed shape since.
var ErrCursorStale = errors.New("the rows changed since the cursor was issued")

// RowsQuery asks for rows of a panel.
type RowsQuery struct {
	PanelID int64
	ViewID  int64 // 0: no view (every column, no filters or sorts)
	Limit   int   // 0: every row (exports)
	After   *RowCursor
	Now     time.Time
	// GoOnly evaluates every condition and sort in Go, so tests can hold both paths to one answer.
	GoOnly bool
	// Limits bound the text a formula computes (zero: the defaults); a longer value is an error
	// cell (formula.TooLongError).
	Limits formula.Limits
	// MaxBytes bounds a page (Limit > 0): once the rows sent hold this many bytes of values (as
	// estimated by rowSize, close to their JSON size), the page ends early with HasMore and a
	// cursor. A page always holds at least one row, so a page is at most MaxBytes plus one row,
	// and one row at most its columns times Limits.MaxText plus its base values. 0: no bound.
	MaxBytes int
}

// RowCursor is the position after the last row of a page.
type RowCursor struct {
	Shape       string      `json:"h"`
	Generations []int64     `json:"g"`
	Keys        []CursorKey `json:"k,omitempty"`
	Ord         int64       `json:"o"`
}

// CursorKey is one sort key of the last row: its kind ("" null; "q" as PostgreSQL rendered it;
// "n", "s", "b", "t" a number, text, boolean or time computed here) and value.
type CursorKey struct {
	Kind  string `json:"t,omitempty"`
	Value string `json:"v,omitempty"`
}

// RowsColumn is a column of the answer.
type RowsColumn struct {
	ID         int64
	Name       string
	Type       string
	ColumnType string
}

// RowsResult closes a run: whether more rows follow, where, and the cell errors per column.
type RowsResult struct {
	HasMore bool
	Next    *RowCursor
	Errors  []int // per answer column: cells of the returned rows that could not be computed
}

// RowsPlan is a compiled rows query.
type RowsPlan struct {
	store   *Store
	q       RowsQuery
	sources []DataSource
	cols    []colInfo
	out     []int // answer columns (indexes into cols)
	proj    []int // projected base columns, in SELECT order (indexes into cols)
	// Conditions: cohort rule and view filters, each an OR of AND groups; pushed parts are SQL.
	cohort, filters *conditionSet
	sorts           []*sortKey
	sqlSort         bool // every sort key runs in SQL (keyset pagination in SQL)
	joins           []int
	shape           string
	rowsGen         []int64 // per source, the generation of its current rows (read by Run)
}

type colInfo struct {
	col    *Column
	calc   bool
	src    int      // index into sources; -1 when detached or unknown
	path   []string // nil: not a dotted path
	prog   *formula.Program
	errC   error // compile error of a calculated column, or why a base column cannot be read
	projAt int   // index into the projection; -1 when not projected
}

type condition struct {
	col      int      // index into cols; -1 for a path into the primary source
	path     []string // path conditions
	projAt   int      // path conditions evaluated here: index of their value in a fetched row
	typ      string
	op       string
	operands []operand
	pushed   bool
}

type conditionSet struct {
	groups [][]*condition
	// all is true when the whole set runs in SQL; otherwise the conditions with pushed set run in
	// SQL (only possible when the set is a single AND group) and the rest here.
	all bool
}

type sortKey struct {
	col  int
	typ  string
	desc bool
	sql  bool
}

// dottedPath is a source field the engine can read: names separated by dots, each made of
// letters, digits, spaces, _ - $ @ : # (CSV headers carry spaces). Anything else (the web UI
// stores FHIRPath expressions such as name.where(use='official').given) is not a path.
var dottedPath = regexp.MustCompile(`^[\p{L}\p{N}_$@:#-]+( +[\p{L}\p{N}_$@:#-]+)*(\.[\p{L}\p{N}_$@:#-]+( +[\p{L}\p{N}_$@:#-]+)*)*$`)

func parsePath(s string) []string {
	if !dottedPath.MatchString(s) {
		return nil
	}
	return strings.Split(s, ".")
}

// PlanRows checks that the actor may read the panel (and the view), then compiles the query.
func (s *Store) PlanRows(ctx context.Context, a Actor, q RowsQuery) (*RowsPlan, error) {
	op := Operation("getPanelRows")
	if q.ViewID != 0 {
		op = OpGetPanelRowsOfView
	}
	p, err := panelAccess(ctx, s.db, a, op, q.PanelID, false)
	if err != nil {
		return nil, err
	}
	var view *View
	if q.ViewID != 0 {
		if view, err = viewAccess(ctx, s.db, a, op, q.ViewID, false); err != nil {
			return nil, err
		}
		if view.PanelID != p.ID {
			return nil, invalid("viewId", fmt.Sprintf("view %d belongs to another panel", view.ID))
		}
		if err := loadViewDetails(ctx, s.db, []*View{view}); err != nil {
			return nil, err
		}
	}
	cols, err := columnsOf(ctx, s.db, p.TenantID, p.ID)
	if err != nil {
		return nil, err
	}
	var sources []DataSource
	if err := s.db.NewSelect().Model(&sources).Where("ds.panel_id = ?", p.ID).Where("ds.tenant_id = ?", a.TenantID).
		OrderExpr("ds.id").Scan(ctx); err != nil {
		return nil, mapErr(err)
	}
	if q.Now.IsZero() {
		q.Now = time.Now()
	}
	plan := &RowsPlan{store: s, q: q, sources: sources}
	plan.compileColumns(cols)
	plan.chooseOutput(view, p.Level >= PermViewer)
	plan.cohort = plan.compileCohort(p.CohortRule)
	plan.filters = plan.compileFilters(view)
	plan.compileSorts(view)
	plan.project()
	plan.shape = plan.fingerprint(p, view)
	return plan, nil
}

func (pl *RowsPlan) compileColumns(cols []Column) {
	srcIdx := map[int64]int{}
	for i, ds := range pl.sources {
		srcIdx[ds.ID] = i
	}
	byID := map[int64]int{}
	pl.cols = make([]colInfo, len(cols))
	for i := range cols {
		c := &cols[i]
		byID[c.ID] = i
		ci := colInfo{col: c, calc: c.ColumnType == ColumnCalculated, src: -1, projAt: -1}
		if !ci.calc {
			if c.DataSourceID == nil {
				ci.errC = errDetached
			} else if idx, ok := srcIdx[*c.DataSourceID]; ok {
				ci.src = idx
			} else {
				ci.errC = errDetached
			}
			if c.SourceField != nil {
				ci.path = parsePath(*c.SourceField)
			}
			if ci.path == nil && ci.errC == nil {
				ci.errC = errNotAPath
			}
		}
		pl.cols[i] = ci
	}
	for i := range pl.cols {
		ci := &pl.cols[i]
		if !ci.calc || ci.col.Formula == nil {
			continue
		}
		e, err := formula.Parse(*ci.col.Formula)
		if err == nil {
			ci.prog, err = formula.CompileWithLimits(e, func(r *formula.Ref) (int, error) {
				if idx, ok := byID[r.ID]; ok && r.ID > 0 {
					return idx, nil
				}
				return 0, fmt.Errorf("the formula refers to column {%d}, which no longer exists", r.ID)
			}, pl.q.Limits)
		}
		if err != nil {
			ci.errC = fmt.Errorf("the formula cannot be evaluated: %w", err)
		}
	}
}

// chooseOutput picks the answer columns: the view's visible columns in its order (references
// that no longer resolve are skipped), or every column when there is no view or it lists none
// and the caller may read the whole panel. A view reader (wholePanel false) gets the view's
// visible columns and nothing else: no column at all when the view lists none.
func (pl *RowsPlan) chooseOutput(view *View, wholePanel bool) {
	if view != nil && (len(view.VisibleColumns) > 0 || !wholePanel) {
		all := pl.columns()
		seen := map[int]bool{}
		for _, ref := range view.VisibleColumns {
			if idx := pl.resolve(all, ref); idx >= 0 && !seen[idx] {
				seen[idx] = true
				pl.out = append(pl.out, idx)
			}
		}
		return
	}
	for i := range pl.cols {
		pl.out = append(pl.out, i)
	}
}

func (pl *RowsPlan) columns() []Column {
	out := make([]Column, len(pl.cols))
	for i, c := range pl.cols {
		out[i] = *c.col
	}
	return out
}

// resolve finds a column reference (id as a decimal string, or a unique name); -1 when none.
func (pl *RowsPlan) resolve(all []Column, ref string) int {
	c, err := ResolveColumnRef(all, ref)
	if err != nil {
		return -1
	}
	return slices.IndexFunc(pl.cols, func(ci colInfo) bool { return ci.col.ID == c.ID })
}

// pushable reports whether conditions and sorts on column i can run in SQL.
func (pl *RowsPlan) pushable(i int) bool {
	ci := &pl.cols[i]
	return !pl.q.GoOnly && !ci.calc && ci.src >= 0 && ci.path != nil && sqlTyped(ci.col.Type)
}

// compileCohort turns the cohort rule into conditions. A condition's field is a column reference;
// otherwise it is a dotted path into the primary source's records, compared with the value's own
// JSON type (a number, a text or a boolean).
func (pl *RowsPlan) compileCohort(rule CohortRule) *conditionSet {
	all := pl.columns()
	var conds []*condition
	for _, rc := range rule.Conditions {
		c := &condition{col: -1, op: rc.Operator}
		if idx := pl.resolve(all, rc.Field); idx >= 0 {
			c.col, c.typ = idx, pl.cols[idx].col.Type
			c.pushed = pl.pushable(idx)
			c.operands = []operand{coerce(rc.Value, c.typ)}
		} else {
			c.path = parsePath(rc.Field)
			switch rc.Value.(type) {
			case nil:
				c.typ = "text"
				if c.op == "eq" {
					c.op = "isNull"
				} else {
					c.operands = []operand{{}} // ordering against null: never true
				}
			case bool:
				c.typ = "boolean"
			case json.Number, float64, int, int64:
				c.typ = "number"
			default:
				c.typ = "text"
			}
			if c.operands == nil && c.op != "isNull" {
				c.operands = []operand{coerce(rc.Value, c.typ)}
			}
			c.pushed = !pl.q.GoOnly && c.path != nil && len(pl.sources) > 0
		}
		conds = append(conds, c)
	}
	if rule.Logic == "OR" {
		groups := make([][]*condition, len(conds))
		for i, c := range conds {
			groups[i] = []*condition{c}
		}
		return newConditionSet(groups)
	}
	if len(conds) == 0 {
		return newConditionSet(nil)
	}
	return newConditionSet([][]*condition{conds})
}

// compileFilters turns a view's filters into conditions: each filter joins the previous ones with
// its logicalOperator, AND binding tighter than OR (a AND b OR c is (a AND b) OR c). Filters on
// columns that no longer resolve are skipped.
func (pl *RowsPlan) compileFilters(view *View) *conditionSet {
	if view == nil {
		return newConditionSet(nil)
	}
	all := pl.columns()
	var groups [][]*condition
	for _, f := range view.Filters {
		idx := pl.resolve(all, f.ColumnName)
		if idx < 0 {
			continue
		}
		typ := pl.cols[idx].col.Type
		c := &condition{col: idx, typ: typ, op: f.Operator, pushed: pl.pushable(idx)}
		switch f.Operator {
		case "in", "notIn", "between":
			list, _ := f.Value.([]any)
			for _, v := range list {
				c.operands = append(c.operands, coerce(v, typ))
			}
			if f.Operator == "between" && len(c.operands) != 2 {
				c.operands = []operand{{}, {}}
			}
		case "contains", "startsWith", "endsWith":
			s, ok := f.Value.(string)
			c.operands = []operand{{s, ok}}
			// Text operators read numbers, booleans and dates as text: only text columns run in SQL.
			c.pushed = c.pushed && (typ == "text" || typ == "select")
		case "isNull", "isNotNull":
		default:
			c.operands = []operand{coerce(f.Value, typ)}
		}
		if len(groups) == 0 || f.LogicalOperator == "or" {
			groups = append(groups, []*condition{c})
		} else {
			groups[len(groups)-1] = append(groups[len(groups)-1], c)
		}
	}
	return newConditionSet(groups)
}

func newConditionSet(groups [][]*condition) *conditionSet {
	cs := &conditionSet{groups: groups, all: true}
	for _, g := range groups {
		for _, c := range g {
			cs.all = cs.all && c.pushed
		}
	}
	if !cs.all && len(groups) > 1 {
		// An OR across groups cannot be split between SQL and Go: all of it runs here.
		for _, g := range groups {
			for _, c := range g {
				c.pushed = false
			}
		}
	}
	return cs
}

func (pl *RowsPlan) compileSorts(view *View) {
	pl.sqlSort = !pl.q.GoOnly
	if view == nil {
		return
	}
	all := pl.columns()
	seen := map[int]bool{}
	for _, s := range view.Sorts {
		idx := pl.resolve(all, s.ColumnName)
		if idx < 0 || seen[idx] {
			continue
		}
		seen[idx] = true
		k := &sortKey{col: idx, typ: pl.cols[idx].col.Type, desc: s.Direction == "desc", sql: pl.pushable(idx)}
		pl.sqlSort = pl.sqlSort && k.sql
		pl.sorts = append(pl.sorts, k)
	}
}

// project decides which base columns the query returns: those of the answer, of the conditions
// and sorts that run here, and those the needed calculated columns read, transitively.
func (pl *RowsPlan) project() {
	need := map[int]bool{}
	var visit func(i int)
	visit = func(i int) {
		if need[i] {
			return
		}
		need[i] = true
		ci := &pl.cols[i]
		if ci.calc && ci.col.Formula != nil {
			for _, dep := range ci.col.Dependencies {
				if j := slices.IndexFunc(pl.cols, func(c colInfo) bool { return c.col.ID == dep }); j >= 0 {
					visit(j)
				}
			}
		}
	}
	for _, i := range pl.out {
		visit(i)
	}
	for _, cs := range []*conditionSet{pl.cohort, pl.filters} {
		for _, g := range cs.groups {
			for _, c := range g {
				if !c.pushed && c.col >= 0 {
					visit(c.col)
				}
			}
		}
	}
	if !pl.sqlSort {
		for _, k := range pl.sorts {
			visit(k.col)
		}
	}
	joined := map[int]bool{}
	for i := range pl.cols {
		ci := &pl.cols[i]
		if need[i] && !ci.calc && ci.src >= 0 && ci.path != nil {
			ci.projAt = len(pl.proj)
			pl.proj = append(pl.proj, i)
			joined[ci.src] = true
		}
	}
	for _, cs := range []*conditionSet{pl.cohort, pl.filters} {
		for _, g := range cs.groups {
			for _, c := range g {
				if c.pushed && c.col >= 0 {
					joined[pl.cols[c.col].src] = true
				}
			}
		}
	}
	if pl.sqlSort {
		for _, k := range pl.sorts {
			joined[pl.cols[k.col].src] = true
		}
	}
	for i, c := range pl.pathProj() {
		c.projAt = len(pl.proj) + i
	}
	for src := range joined {
		if src > 0 {
			pl.joins = append(pl.joins, src)
		}
	}
	sort.Ints(pl.joins)
}

// fingerprint identifies everything a cursor's position depends on.
func (pl *RowsPlan) fingerprint(p *Panel, view *View) string {
	type colShape struct {
		ID                         int64
		Type, Kind, Field, Formula string
		Source                     *int64
	}
	shape := struct {
		View    int64
		Sorts   []ViewSort
		Filters []ViewFilter
		Cohort  CohortRule
		Cols    []colShape
		Sources []int64
		Out     []int
		GoOnly  bool
	}{Cohort: p.CohortRule, Out: pl.out, GoOnly: pl.q.GoOnly}
	if view != nil {
		shape.View, shape.Sorts, shape.Filters = view.ID, view.Sorts, view.Filters
	}
	for _, ci := range pl.cols {
		cs := colShape{ID: ci.col.ID, Type: ci.col.Type, Kind: ci.col.ColumnType, Source: ci.col.DataSourceID}
		if ci.col.SourceField != nil {
			cs.Field = *ci.col.SourceField
		}
		if ci.col.Formula != nil {
			cs.Formula = *ci.col.Formula
		}
		shape.Cols = append(shape.Cols, cs)
	}
	for _, ds := range pl.sources {
		shape.Sources = append(shape.Sources, ds.ID)
	}
	b, _ := json.Marshal(shape)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// Columns describes the answer's columns, in order.
func (pl *RowsPlan) Columns() []RowsColumn {
	out := make([]RowsColumn, len(pl.out))
	for i, idx := range pl.out {
		c := pl.cols[idx].col
		out[i] = RowsColumn{ID: c.ID, Name: c.Name, Type: c.Type, ColumnType: c.ColumnType}
	}
	return out
}

// Row is one row of the answer: the primary record's key and the typed values of the answer's
// columns (nil for a null or failed cell), with why each failed cell failed.
type Row struct {
	Key    string
	Values []any
	Errors []CellError
}

// CellError is a cell of a row that could not be computed.
type CellError struct {
	Column  int // index into the answer's columns
	Message string
}

// fetched is one row as the database returned it.
type fetched struct {
	key  string
	ord  int64
	proj []sql.NullString
	keys []*string // SQL sort keys (sqlSort only)
}

// Run evaluates the plan in one read-only, repeatable-read transaction (every statement sees the
// same records) and hands each answer row to emit, in order.
func (pl *RowsPlan) Run(ctx context.Context, emit func(Row) error) (RowsResult, error) {
	var res RowsResult
	err := mapErr(pl.store.db.RunInTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
		func(ctx context.Context, tx bun.Tx) error {
			if _, err := tx.ExecContext(ctx, "SET LOCAL statement_timeout = '60s'"); err != nil {
				return err
			}
			gens, err := pl.generations(ctx, tx)
			if err != nil {
				return err
			}
			if pl.q.After != nil && (pl.q.After.Shape != pl.shape || !slices.Equal(pl.q.After.Generations, gens)) {
				return ErrCursorStale
			}
			if err := pl.checkCursor(pl.q.After); err != nil {
				return err
			}
			res, err = pl.run(ctx, tx, gens, emit)
			return err
		}))
	return res, err
}

// generations reads each source's record set: the generation a cursor pins, and the generation
// of the rows to read (rowsGen).
func (pl *RowsPlan) generations(ctx context.Context, tx bun.Tx) ([]int64, error) {
	gens := make([]int64, len(pl.sources))
	pl.rowsGen = make([]int64, len(pl.sources))
	if len(pl.sources) == 0 {
		return gens, nil
	}
	ids := make([]int64, len(pl.sources))
	for i, ds := range pl.sources {
		ids[i] = ds.ID
	}
	var sets []recordSet
	if err := tx.NewSelect().Model(&sets).Where("rs.tenant_id = ?", pl.sources[0].TenantID).Where("rs.data_source_id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, err
	}
	for _, s := range sets {
		i := slices.Index(ids, s.DataSourceID)
		gens[i], pl.rowsGen[i] = s.Generation, s.RowsGeneration
	}
	return gens, nil
}

// evaluator computes the typed cells of one row, calculated columns on demand (memoised, so a
// chain of calculated columns evaluates each link once).
type evaluator struct {
	pl    *RowsPlan
	row   *fetched
	vals  []any
	errs  []error
	state []uint8 // 0 not computed, 1 computing (a cycle if seen again), 2 done
}

func (pl *RowsPlan) newEvaluator() *evaluator {
	n := len(pl.cols)
	return &evaluator{pl: pl, vals: make([]any, n), errs: make([]error, n), state: make([]uint8, n)}
}

func (ev *evaluator) reset(row *fetched) {
	ev.row = row
	clear(ev.state)
}

// cell returns the typed value of column i (nil with an error when it cannot be computed).
func (ev *evaluator) cell(i int) (any, error) {
	switch ev.state[i] {
	case 2:
		return ev.vals[i], ev.errs[i]
	case 1:
		return nil, errors.New("the formula depends on itself")
	}
	ev.state[i] = 1
	v, err := ev.compute(i)
	if err != nil {
		v = nil
	}
	ev.vals[i], ev.errs[i], ev.state[i] = v, err, 2
	return v, err
}

func (ev *evaluator) compute(i int) (any, error) {
	ci := &ev.pl.cols[i]
	if ci.errC != nil {
		return nil, ci.errC
	}
	if ci.calc {
		if ci.prog == nil {
			return nil, errors.New("the column has no formula")
		}
		v, err := ci.prog.Run(ev)
		if err != nil {
			return nil, err
		}
		return typeFromFormula(v, ci.col.Type)
	}
	if ci.projAt < 0 {
		return nil, fmt.Errorf("column %d was not read", ci.col.ID)
	}
	ns := ev.row.proj[ci.projAt]
	if !ns.Valid {
		return nil, nil
	}
	return typeFromJSON([]byte(ns.String), ci.col.Type)
}

// Value and Now make the evaluator a formula.Env: a referenced cell that failed reads as null
// (its error is counted once, on its own column), except a value over the text limit, which
// fails the reading formula too: read as null it would hide the overflow behind a shorter,
// wrong value. The error does not name the column it started from, which the reader of this
// cell may not be allowed to see.
func (ev *evaluator) Value(slot int) (any, error) {
	v, err := ev.cell(slot) // nil when the cell failed
	if tl := (*formula.TooLongError)(nil); errors.As(err, &tl) {
		return nil, &formula.TooLongError{Limit: tl.Limit}
	}
	return forFormula(v), nil
}

func (ev *evaluator) Now() time.Time { return ev.pl.q.Now }

// pathCell types a cohort path condition's value from its projection.
func (ev *evaluator) pathCell(c *condition) any {
	ns := ev.row.proj[c.projAt]
	if !ns.Valid {
		return nil
	}
	v, err := typeFromJSON([]byte(ns.String), c.typ)
	if err != nil {
		return nil
	}
	return v
}

// pathProj lists the path conditions evaluated here; their values follow the projected columns.
func (pl *RowsPlan) pathProj() []*condition {
	var out []*condition
	for _, g := range pl.cohort.groups {
		for _, c := range g {
			if !c.pushed && c.col < 0 && c.path != nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// keep applies the conditions that run here.
func (ev *evaluator) keep() bool {
	for _, cs := range []*conditionSet{ev.pl.cohort, ev.pl.filters} {
		if cs.all || len(cs.groups) == 0 {
			continue
		}
		matched := false
		for _, g := range cs.groups {
			ok := true
			for _, c := range g {
				if c.pushed {
					continue
				}
				var cell any
				switch {
				case c.col >= 0:
					cell, _ = ev.cell(c.col)
				case c.path != nil:
					cell = ev.pathCell(c)
				default:
					ok = false // neither a column nor a path: matches nothing
				}
				if ok && !c.matches(cell) {
					ok = false
				}
				if !ok {
					break
				}
			}
			if ok {
				matched = true
				break
			}
		}
		if !matched {
			return false
		}
	}
	return true
}

// pageBudget is what a page has used of RowsQuery.MaxBytes.
type pageBudget struct {
	max, used, sent int
}

// emitRow hands the answer's cells of the current row to emit and counts cell errors. When the
// page already holds rows and this one would take it past its byte budget, the row is not sent
// and full is true: the page ends before it.
func (ev *evaluator) emitRow(emit func(Row) error, errCount []int, budget *pageBudget) (full bool, err error) {
	row := Row{Key: ev.row.key, Values: make([]any, len(ev.pl.out))}
	size := len(row.Key) + 16
	for i, idx := range ev.pl.out {
		v, err := ev.cell(idx)
		if err != nil {
			msg := err.Error()
			row.Errors = append(row.Errors, CellError{Column: i, Message: msg})
			size += len(msg) + 32
		}
		size += cellSize(v) + 24 // the value and its key, the column id
		row.Values[i] = toOutput(v, ev.pl.cols[idx].col.Type)
	}
	if budget != nil {
		if budget.max > 0 && budget.sent > 0 && budget.used+size > budget.max {
			return true, nil
		}
		budget.used += size
		budget.sent++
	}
	for _, e := range row.Errors {
		errCount[e.Column]++
	}
	return false, emit(row)
}

// cellSize estimates the JSON size of a typed cell without encoding it: a text counts the
// escapes of the bytes JSON (with HTML escaping) writes as \u00XX.
func cellSize(v any) int {
	switch x := v.(type) {
	case nil:
		return 4
	case string:
		return jsonTextSize(x)
	case []string:
		n := 2
		for _, s := range x {
			n += jsonTextSize(s) + 1
		}
		return n
	case jsonValue:
		return len(x.text)
	}
	return 32 // numbers, booleans, dates
}

func jsonTextSize(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			n += 5
		}
	}
	return n
}

func (pl *RowsPlan) run(ctx context.Context, tx bun.Tx, gens []int64, emit func(Row) error) (RowsResult, error) {
	res := RowsResult{Errors: make([]int, len(pl.out))}
	if len(pl.sources) == 0 {
		return res, nil
	}
	if pl.sqlSort {
		return pl.runSQLSorted(ctx, tx, gens, emit, res)
	}
	return pl.runGoSorted(ctx, tx, gens, emit, res)
}

// query builds the rows SELECT: primary records joined to the other sources by key, the pushed
// conditions, and in SQL-sorted mode the order and the keyset position.
func (pl *RowsPlan) query(after *RowCursor, limit int) sqlFrag {
	sel := []sqlFrag{frag("s0.record_key, s0.ord")}
	for _, i := range pl.proj {
		ci := &pl.cols[i]
		sel = append(sel, jsonAt(ci.src, ci.path).wrap("(%s)::text"))
	}
	for _, c := range pl.pathProj() {
		sel = append(sel, jsonAt(0, c.path).wrap("(%s)::text"))
	}
	var sortExprs []sqlFrag
	if pl.sqlSort {
		for _, k := range pl.sorts {
			ci := &pl.cols[k.col]
			e := typedAt(ci.src, ci.path, k.typ)
			sortExprs = append(sortExprs, e)
			sel = append(sel, e.wrap("(%s)::text"))
		}
	}
	parts := []sqlFrag{frag("SELECT "), joinFrags(sel, ", "), frag(" FROM source_records AS s0")}
	for _, src := range pl.joins {
		a := sourceAlias(src)
		parts = append(parts, frag(" LEFT JOIN source_records AS "+a+" ON "+a+".data_source_id = ? AND "+a+".generation = ? AND "+a+".record_key = s0.record_key",
			pl.sources[src].ID, pl.rowsGen[src]))
	}
	where := []sqlFrag{frag("s0.data_source_id = ? AND s0.generation = ?", pl.sources[0].ID, pl.rowsGen[0])}
	for _, cs := range []*conditionSet{pl.cohort, pl.filters} {
		if w, ok := pl.pushedSQL(cs); ok {
			where = append(where, w)
		}
	}
	if after != nil {
		if pl.sqlSort {
			vals := make([]*string, len(after.Keys))
			for i, k := range after.Keys {
				if k.Kind != "" {
					v := k.Value
					vals[i] = &v
				}
			}
			where = append(where, keysetSQL(pl.sorts, sortExprs, vals, after.Ord))
		}
	}
	parts = append(parts, frag(" WHERE "), joinFrags(where, " AND "))
	if pl.sqlSort {
		order := make([]sqlFrag, 0, len(pl.sorts)+1)
		for i, k := range pl.sorts {
			order = append(order, sortSQL(k, sortExprs[i]))
		}
		order = append(order, frag("s0.ord ASC"))
		parts = append(parts, frag(" ORDER BY "), joinFrags(order, ", "))
	}
	if limit > 0 {
		parts = append(parts, frag(" LIMIT ?", limit))
	}
	return joinFrags(parts, "")
}

// pushedSQL is the SQL part of a condition set, if any.
func (pl *RowsPlan) pushedSQL(cs *conditionSet) (sqlFrag, bool) {
	var groups [][]sqlFrag
	for _, g := range cs.groups {
		var and []sqlFrag
		for _, c := range g {
			if !c.pushed {
				continue
			}
			var e sqlFrag
			if c.col >= 0 {
				ci := &pl.cols[c.col]
				e = typedAt(ci.src, ci.path, c.typ)
			} else {
				e = typedAt(0, c.path, c.typ)
			}
			and = append(and, conditionSQL(c, e))
		}
		if len(and) > 0 {
			groups = append(groups, and)
		}
	}
	if len(groups) == 0 {
		return sqlFrag{}, false
	}
	return groupsSQL(groups), true
}

func (pl *RowsPlan) scan(ctx context.Context, tx bun.Tx, q sqlFrag) ([]fetched, error) {
	var out []fetched
	err := pl.scanEach(ctx, tx, q, func(f *fetched) error {
		out = append(out, *f)
		return nil
	})
	return out, err
}

// scanEach hands each row of q to fn as it arrives.
func (pl *RowsPlan) scanEach(ctx context.Context, tx bun.Tx, q sqlFrag, fn func(*fetched) error) error {
	rows, err := tx.QueryContext(ctx, q.sql, q.args...)
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	nProj := len(pl.proj) + len(pl.pathProj())
	nKeys := 0
	if pl.sqlSort {
		nKeys = len(pl.sorts)
	}
	for rows.Next() {
		f := fetched{proj: make([]sql.NullString, nProj)}
		keys := make([]sql.NullString, nKeys)
		dest := make([]any, 0, 2+nProj+nKeys)
		dest = append(dest, &f.key, &f.ord)
		for i := range f.proj {
			dest = append(dest, &f.proj[i])
		}
		for i := range keys {
			dest = append(dest, &keys[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		f.keys = make([]*string, nKeys)
		for i, k := range keys {
			if k.Valid {
				s := k.String
				f.keys[i] = &s
			}
		}
		if err := fn(&f); err != nil {
			return err
		}
	}
	return rows.Err()
}

// runSQLSorted pages in the database's order, in batches; rows failing the conditions that run
// here are skipped until the page is full.
func (pl *RowsPlan) runSQLSorted(ctx context.Context, tx bun.Tx, gens []int64, emit func(Row) error, res RowsResult) (RowsResult, error) {
	goConds := !pl.cohort.all || !pl.filters.all
	ev := pl.newEvaluator()
	if pl.q.Limit == 0 { // an export: one query, each row handed on as it arrives
		return res, pl.scanEach(ctx, tx, pl.query(nil, 0), func(f *fetched) error {
			ev.reset(f)
			if goConds && !ev.keep() {
				return nil
			}
			_, err := ev.emitRow(emit, res.Errors, nil)
			return err
		})
	}
	// One row more than the page tells whether another page follows; rows that the conditions
	// run here may drop call for larger batches.
	batch := pl.q.Limit + 1
	if goConds {
		batch = max(4*batch, 500)
	}
	pos := pl.q.After
	var last *fetched
	sent := 0
	budget := &pageBudget{max: pl.q.MaxBytes}
	for {
		rows, err := pl.scan(ctx, tx, pl.query(pos, batch))
		if err != nil {
			return res, err
		}
		for i := range rows {
			f := &rows[i]
			ev.reset(f)
			if goConds && !ev.keep() {
				continue
			}
			if sent == pl.q.Limit {
				res.HasMore = true
				res.Next = pl.cursorAfterSQL(last, gens)
				return res, nil
			}
			full, err := ev.emitRow(emit, res.Errors, budget)
			if err != nil {
				return res, err
			}
			if full {
				res.HasMore = true
				res.Next = pl.cursorAfterSQL(last, gens)
				return res, nil
			}
			sent++
			last = f
		}
		if len(rows) < batch {
			return res, nil
		}
		tail := rows[len(rows)-1]
		pos = pl.cursorAfterSQL(&tail, gens)
	}
}

func (pl *RowsPlan) cursorAfterSQL(f *fetched, gens []int64) *RowCursor {
	c := &RowCursor{Shape: pl.shape, Generations: gens, Ord: f.ord}
	for _, k := range f.keys {
		if k == nil {
			c.Keys = append(c.Keys, CursorKey{})
		} else {
			c.Keys = append(c.Keys, CursorKey{Kind: "q", Value: *k})
		}
	}
	return c
}

// sorted is a row of the Go-sorted mode with its sort keys.
type sorted struct {
	f    *fetched
	keys []any
}

// runGoSorted reads the rows the pushed conditions keep as they arrive, applies the rest and
// the sort keys here, and keeps only the page after the cursor: the Limit+1 first rows in a
// bounded heap (one more row tells whether another page follows), so a page holds at most that
// many rows whatever the panel's size. An export (Limit 0) sorts every row.
func (pl *RowsPlan) runGoSorted(ctx context.Context, tx bun.Tx, gens []int64, emit func(Row) error, res RowsResult) (RowsResult, error) {
	var afterKeys []any
	if pl.q.After != nil {
		var err error
		if afterKeys, err = pl.decodeGoKeys(pl.q.After.Keys); err != nil {
			return res, err
		}
	}
	ev := pl.newEvaluator()
	goConds := !pl.cohort.all || !pl.filters.all
	top := &sortedHeap{pl: pl}
	err := pl.scanEach(ctx, tx, pl.query(nil, 0), func(f *fetched) error {
		ev.reset(f)
		if goConds && !ev.keep() {
			return nil
		}
		keys := make([]any, len(pl.sorts))
		for j, k := range pl.sorts {
			keys[j], _ = ev.cell(k.col)
		}
		if pl.q.After != nil && pl.compareSorted(keys, f.ord, afterKeys, pl.q.After.Ord) <= 0 {
			return nil // on an earlier page
		}
		r := sorted{f: f, keys: keys}
		switch {
		case pl.q.Limit == 0:
			top.rows = append(top.rows, r)
		case len(top.rows) <= pl.q.Limit:
			heap.Push(top, r)
		case pl.compareSorted(keys, f.ord, top.rows[0].keys, top.rows[0].f.ord) < 0:
			top.rows[0] = r // replaces the last of the kept rows
			heap.Fix(top, 0)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	kept := top.rows
	sort.Slice(kept, func(i, j int) bool { // keys and then position: a total order
		return pl.compareSorted(kept[i].keys, kept[i].f.ord, kept[j].keys, kept[j].f.ord) < 0
	})
	end := len(kept)
	if pl.q.Limit > 0 && pl.q.Limit < end {
		end = pl.q.Limit
		res.HasMore = true
	}
	budget := &pageBudget{max: pl.q.MaxBytes}
	if pl.q.Limit == 0 {
		budget = nil // an export: every row
	}
	for i, r := range kept[:end] {
		ev.reset(r.f)
		full, err := ev.emitRow(emit, res.Errors, budget)
		if err != nil {
			return res, err
		}
		if full {
			end = i
			res.HasMore = true
			break
		}
	}
	if res.HasMore {
		lastRow := kept[end-1]
		res.Next = &RowCursor{Shape: pl.shape, Generations: gens, Ord: lastRow.f.ord, Keys: encodeGoKeys(lastRow.keys)}
	}
	return res, nil
}

// sortedHeap is a max-heap of rows in the page order: its root is the last row kept.
type sortedHeap struct {
	pl   *RowsPlan
	rows []sorted
}

func (h *sortedHeap) Len() int { return len(h.rows) }
func (h *sortedHeap) Less(i, j int) bool {
	return h.pl.compareSorted(h.rows[i].keys, h.rows[i].f.ord, h.rows[j].keys, h.rows[j].f.ord) > 0
}
func (h *sortedHeap) Swap(i, j int) { h.rows[i], h.rows[j] = h.rows[j], h.rows[i] }
func (h *sortedHeap) Push(x any)    { h.rows = append(h.rows, x.(sorted)) }
func (h *sortedHeap) Pop() any {
	r := h.rows[len(h.rows)-1]
	h.rows = h.rows[:len(h.rows)-1]
	return r
}

// compareSorted orders rows by the sort keys (nulls last in both directions), then by position.
func (pl *RowsPlan) compareSorted(a []any, aOrd int64, b []any, bOrd int64) int {
	for i, k := range pl.sorts {
		x, y := a[i], b[i]
		switch {
		case x == nil && y == nil:
			continue
		case x == nil:
			return 1
		case y == nil:
			return -1
		}
		cmp := compareCells(x, y, k.typ)
		if k.desc {
			cmp = -cmp
		}
		if cmp != 0 {
			return cmp
		}
	}
	switch {
	case aOrd < bOrd:
		return -1
	case aOrd > bOrd:
		return 1
	}
	return 0
}

func encodeGoKeys(keys []any) []CursorKey {
	out := make([]CursorKey, len(keys))
	for i, k := range keys {
		switch v := k.(type) {
		case nil:
		case float64:
			out[i] = CursorKey{Kind: "n", Value: strconv.FormatFloat(v, 'g', -1, 64)}
		case bool:
			out[i] = CursorKey{Kind: "b", Value: strconv.FormatBool(v)}
		case time.Time:
			out[i] = CursorKey{Kind: "t", Value: v.UTC().Format(time.RFC3339Nano)}
		case string:
			out[i] = CursorKey{Kind: "s", Value: v}
		default:
			out[i] = CursorKey{Kind: "s", Value: cellText(v, "")}
		}
	}
	return out
}

func (pl *RowsPlan) decodeGoKeys(keys []CursorKey) ([]any, error) {
	if len(keys) != len(pl.sorts) {
		return nil, ErrCursorStale
	}
	out := make([]any, len(keys))
	for i, k := range keys {
		var err error
		switch k.Kind {
		case "":
		case "n":
			out[i], err = strconv.ParseFloat(k.Value, 64)
		case "b":
			out[i], err = strconv.ParseBool(k.Value)
		case "t":
			out[i], err = time.Parse(time.RFC3339Nano, k.Value)
		case "s":
			out[i] = k.Value
			if pl.sorts[i].typ == "multi_select" {
				out[i] = []string{k.Value}
			}
		default:
			err = ErrCursorStale
		}
		if err != nil {
			return nil, ErrCursorStale
		}
	}
	return out, nil
}
