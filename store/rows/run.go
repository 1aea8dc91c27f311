package rows

import (
	"cmp"
	"container/heap"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"github.com/panels/panels/store/formula"
)

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

// Run evaluates the plan against the records db reads (bun formats the queries' ? arguments)
// and hands each answer row to emit, in order. gens holds the record set db sees of each source
// of Input.Sources, in that order. A run may take several statements, which must all see the
// same records: db should be a repeatable-read transaction.
func (pl *Plan) Run(ctx context.Context, db bun.IDB, gens []Generation, emit func(Row) error) (Result, error) {
	sets := make([]int64, len(gens))
	pl.rowsGen = make([]int64, len(gens))
	for i, g := range gens {
		sets[i], pl.rowsGen[i] = g.Set, g.Rows
	}
	if a := pl.q.After; a != nil && (a.Shape != pl.shape || !slices.Equal(a.Generations, sets)) {
		return Result{}, ErrCursorStale
	}
	if err := pl.checkCursor(pl.q.After); err != nil {
		return Result{}, err
	}
	return pl.run(ctx, db, sets, emit)
}

// evaluator computes the typed cells of one row, calculated columns on demand (memoised, so a
// chain of calculated columns evaluates each link once).
type evaluator struct {
	pl    *Plan
	row   *fetched
	vals  []any
	errs  []error
	state []uint8 // 0 not computed, 1 computing (a cycle if seen again), 2 done
}

func (pl *Plan) newEvaluator() *evaluator {
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
		return typeFromFormulaIn(v, ci.col.Type, ci.loc)
	}
	if ci.projAt < 0 {
		return nil, fmt.Errorf("column %d was not read", ci.col.ID)
	}
	ns := ev.row.proj[ci.projAt]
	if !ns.Valid {
		return nil, nil
	}
	return typeFromJSONIn([]byte(ns.String), ci.col.Type, ci.loc)
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
func (pl *Plan) pathProj() []*condition {
	var out []*condition
	for _, c := range pl.cohort.leaves() {
		if (!c.pushed || c.recheck) && c.col < 0 && c.path != nil {
			out = append(out, c)
		}
	}
	return out
}

// keep applies the conditions that run here.
func (ev *evaluator) keep() bool {
	for _, cs := range ev.pl.conditionSets() {
		if !cs.goToo() {
			continue
		}
		if !ev.holds(cs.root) {
			return false
		}
	}
	return true
}

// holds evaluates a condition tree on the current row; pushed leaves already held in SQL.
func (ev *evaluator) holds(n *condNode) bool {
	if c := n.leaf; c != nil {
		if c.pushed && !c.recheck {
			return true
		}
		var cell any
		switch {
		case c.col >= 0:
			cell, _ = ev.cell(c.col)
		case c.path != nil:
			cell = ev.pathCell(c)
		default:
			return false // neither a column nor a path: matches nothing
		}
		return c.matches(cell)
	}
	for _, k := range n.kids {
		if ev.holds(k) == n.or {
			return n.or
		}
	}
	return !n.or
}

// pageBudget is what a page has used of Query.MaxBytes.
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

func (pl *Plan) run(ctx context.Context, db bun.IDB, gens []int64, emit func(Row) error) (Result, error) {
	res := Result{Errors: make([]int, len(pl.out))}
	if len(pl.sources) == 0 {
		return res, nil
	}
	if pl.sqlSort {
		return pl.runSQLSorted(ctx, db, gens, emit, res)
	}
	return pl.runGoSorted(ctx, db, gens, emit, res)
}

// query builds the rows SELECT: primary records joined to the other sources by key, the pushed
// conditions, and in SQL-sorted mode the order and the keyset position.
func (pl *Plan) query(after *Cursor, limit int) sqlFrag {
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
			e := pl.colSQL(k.col, k.typ)
			sortExprs = append(sortExprs, e)
			sel = append(sel, e.wrap("(%s)::text"))
		}
	}
	parts := append([]sqlFrag{frag("SELECT "), joinFrags(sel, ", ")}, pl.fromSQL()...)
	where := pl.whereSQL()
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

// fromSQL is the FROM clause: the primary records and the joined sources.
func (pl *Plan) fromSQL() []sqlFrag {
	parts := []sqlFrag{frag(" FROM source_records AS s0")}
	for _, src := range pl.joins {
		a := sourceAlias(src)
		parts = append(parts, frag(" LEFT JOIN source_records AS "+a+" ON "+a+".data_source_id = ? AND "+a+".generation = ? AND "+a+".record_key = s0.record_key",
			pl.sources[src], pl.rowsGen[src]))
	}
	return append(parts, pl.calcLateral()...)
}

// whereSQL is the primary source's current generation and the pushed conditions.
func (pl *Plan) whereSQL() []sqlFrag {
	where := []sqlFrag{frag("s0.data_source_id = ? AND s0.generation = ?", pl.sources[0], pl.rowsGen[0])}
	for _, cs := range pl.conditionSets() {
		if w, ok := pl.pushedSQL(cs); ok {
			where = append(where, w)
		}
	}
	if f, ok := pl.searchPrefilter(); ok {
		where = append(where, f)
	}
	return where
}

// pushedSQL is the SQL part of a condition set, if any.
func (pl *Plan) pushedSQL(cs *conditionSet) (sqlFrag, bool) {
	if cs.root == nil {
		return sqlFrag{}, false
	}
	return pl.nodeSQL(cs.root)
}

// nodeSQL is the pushed part of a condition tree: the pushed conjuncts of an AND, and an OR only
// when all of it is pushed (newConditionTree guarantees an OR is all or nothing).
func (pl *Plan) nodeSQL(n *condNode) (sqlFrag, bool) {
	if c := n.leaf; c != nil {
		if !c.pushed {
			return sqlFrag{}, false
		}
		if c.recheck && isDateType(c.typ) {
			return pl.dateSQL(c), true
		}
		var e sqlFrag
		if c.col >= 0 {
			e = pl.colSQL(c.col, c.typ)
		} else {
			e = typedAt(0, c.path, c.typ)
		}
		return conditionSQL(c, e), true
	}
	var parts []sqlFrag
	for _, k := range n.kids {
		f, ok := pl.nodeSQL(k)
		if !ok {
			if n.or {
				return sqlFrag{}, false
			}
			continue
		}
		parts = append(parts, f)
	}
	if len(parts) == 0 {
		return sqlFrag{}, false
	}
	sep := " AND "
	if n.or {
		sep = " OR "
	}
	return joinFrags(parts, sep).wrap("(%s)"), true
}

func (pl *Plan) scan(ctx context.Context, db bun.IDB, q sqlFrag) ([]fetched, error) {
	var out []fetched
	err := pl.scanEach(ctx, db, q, func(f *fetched) error {
		out = append(out, *f)
		return nil
	})
	return out, err
}

// scanEach hands each row of q to fn as it arrives.
func (pl *Plan) scanEach(ctx context.Context, db bun.IDB, q sqlFrag, fn func(*fetched) error) error {
	rows, err := db.QueryContext(ctx, q.sql, q.args...)
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
func (pl *Plan) runSQLSorted(ctx context.Context, db bun.IDB, gens []int64, emit func(Row) error, res Result) (Result, error) {
	goConds := pl.cohort.goToo() || pl.filters.goToo() || pl.search.goToo()
	ev := pl.newEvaluator()
	if pl.q.Limit == 0 { // an export: one query, each row handed on as it arrives
		return res, pl.scanEach(ctx, db, pl.query(nil, 0), func(f *fetched) error {
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
	wide := max(4*batch, 500)
	// Rechecked conditions (date pushdown) drop rows only when the data holds non-canonical
	// dates: start with a page's worth and widen once a batch loses rows.
	if goConds && !(pl.cohort.onlyRechecks() && pl.filters.onlyRechecks() && pl.search.onlyRechecks()) {
		batch = wide
	}
	pos := pl.q.After
	var last *fetched
	sent, dropped := 0, false
	budget := &pageBudget{max: pl.q.MaxBytes}
	for {
		rows, err := pl.scan(ctx, db, pl.query(pos, batch))
		if err != nil {
			return res, err
		}
		for i := range rows {
			f := &rows[i]
			ev.reset(f)
			if goConds && !ev.keep() {
				dropped = true
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
		if dropped {
			batch = wide
		}
		tail := rows[len(rows)-1]
		pos = pl.cursorAfterSQL(&tail, gens)
	}
}

func (pl *Plan) cursorAfterSQL(f *fetched, gens []int64) *Cursor {
	c := &Cursor{Shape: pl.shape, Generations: gens, Ord: f.ord}
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
func (pl *Plan) runGoSorted(ctx context.Context, db bun.IDB, gens []int64, emit func(Row) error, res Result) (Result, error) {
	var afterKeys []any
	if pl.q.After != nil {
		var err error
		if afterKeys, err = pl.decodeGoKeys(pl.q.After.Keys); err != nil {
			return res, err
		}
	}
	ev := pl.newEvaluator()
	goConds := pl.cohort.goToo() || pl.filters.goToo() || pl.search.goToo()
	top := &sortedHeap{pl: pl}
	err := pl.scanEach(ctx, db, pl.query(nil, 0), func(f *fetched) error {
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
		res.Next = &Cursor{Shape: pl.shape, Generations: gens, Ord: lastRow.f.ord, Keys: encodeGoKeys(lastRow.keys)}
	}
	return res, nil
}

// sortedHeap is a max-heap of rows in the page order: its root is the last row kept.
type sortedHeap struct {
	pl   *Plan
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
func (pl *Plan) compareSorted(a []any, aOrd int64, b []any, bOrd int64) int {
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

func (pl *Plan) decodeGoKeys(keys []CursorKey) ([]any, error) {
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

// MaxGroups bounds the groups Groups lists.
const MaxGroups = 1000

// GroupCount is one value of the group column and how many rows hold it.
type GroupCount struct {
	Value any // as in a rows answer; nil for empty cells
	Count int64
}

// GroupCounts is Groups' answer: the largest groups first (ties by value, empty last), Total the
// rows counted across every group, and More whether groups beyond the listed ones exist.
type GroupCounts struct {
	Groups []GroupCount
	Total  int64
	More   bool
}

// ErrNoGroupColumn is a GroupBy that names no column of the panel.
var ErrNoGroupColumn = errors.New("the group column does not exist")

// Groups counts the selected rows by the value of the GroupBy column: one GROUP BY in PostgreSQL
// when the column and every condition are pushed down, else by scanning the rows here (memory
// grows with the number of distinct values, not of rows).
func (pl *Plan) Groups(ctx context.Context, db bun.IDB, gens []Generation) (GroupCounts, error) {
	var out GroupCounts
	if pl.groupBy < 0 {
		return out, ErrNoGroupColumn
	}
	pl.rowsGen = make([]int64, len(gens))
	for i, g := range gens {
		pl.rowsGen[i] = g.Rows
	}
	if len(pl.sources) == 0 {
		return out, nil
	}
	typ := pl.cols[pl.groupBy].col.Type
	if pl.groupSQL {
		return pl.groupsSQL(ctx, db, typ)
	}
	type acc struct {
		cell  any
		count int64
	}
	counts := map[string]*acc{}
	ev := pl.newEvaluator()
	err := pl.scanEach(ctx, db, pl.query(nil, 0), func(f *fetched) error {
		ev.reset(f)
		if !ev.keep() {
			return nil
		}
		cell, err := ev.cell(pl.groupBy)
		if err != nil {
			cell = nil
		}
		if blank(cell) {
			cell = nil
		}
		k, _ := json.Marshal(toOutput(cell, typ))
		a := counts[string(k)]
		if a == nil {
			a = &acc{cell: cell}
			counts[string(k)] = a
		}
		a.count++
		out.Total++
		return nil
	})
	if err != nil {
		return out, err
	}
	all := make([]*acc, 0, len(counts))
	for _, a := range counts {
		all = append(all, a)
	}
	slices.SortFunc(all, func(x, y *acc) int {
		if c := cmp.Compare(y.count, x.count); c != 0 {
			return c
		}
		switch {
		case x.cell == nil && y.cell == nil:
			return 0
		case x.cell == nil:
			return 1
		case y.cell == nil:
			return -1
		}
		if c := compareCells(x.cell, y.cell, typ); c != 0 {
			return c
		}
		// -0 and 0 compare equal but are two groups: -0 first, as in groupsSQL.
		xf, _ := x.cell.(float64)
		yf, _ := y.cell.(float64)
		switch xs, ys := math.Signbit(xf), math.Signbit(yf); {
		case xs && !ys:
			return -1
		case ys && !xs:
			return 1
		}
		return 0
	})
	if len(all) > MaxGroups {
		out.More, all = true, all[:MaxGroups]
	}
	out.Groups = make([]GroupCount, len(all))
	for i, a := range all {
		out.Groups[i] = GroupCount{Value: toOutput(a.cell, typ), Count: a.count}
	}
	return out, nil
}

// groupsSQL is Groups as one statement: the window sums give the total and the number of groups
// before the LIMIT cuts the list.
func (pl *Plan) groupsSQL(ctx context.Context, db bun.IDB, typ string) (GroupCounts, error) {
	var out GroupCounts
	e := pl.colSQL(pl.groupBy, typ)
	order := frag("g")
	switch typ {
	case "text", "select":
		// isEmpty's blank: an empty text groups with the nulls, as in Go.
		e = e.wrap("NULLIF(%s, '')")
	case "number":
		// By float8's text, which is one per double: Go groups -0 and 0 apart, float8's = does not
		// (and orders them by that text, "-0" first).
		e, order = e.wrap("(%s)::text"), frag(`g::float8 ASC NULLS LAST, g COLLATE "C"`)
	}
	k := &sortKey{typ: typ}
	parts := append([]sqlFrag{frag("SELECT g::text, n, sum(n) OVER (), count(*) OVER () FROM (SELECT "), e, frag(" AS g, count(*) AS n")}, pl.fromSQL()...)
	parts = append(parts, frag(" WHERE "), joinFrags(pl.whereSQL(), " AND "), frag(" GROUP BY 1) AS grouped ORDER BY n DESC, "),
		sortSQL(k, order), frag(" LIMIT ?", MaxGroups))
	q := joinFrags(parts, "")
	rows, err := db.QueryContext(ctx, q.sql, q.args...)
	if err != nil {
		return out, err
	}
	defer func() { _ = rows.Close() }()
	var groups int64
	for rows.Next() {
		var g sql.NullString
		var n, total int64
		if err := rows.Scan(&g, &n, &total, &groups); err != nil {
			return out, err
		}
		out.Total = total
		var v any
		if g.Valid {
			switch typ {
			case "number":
				f, err := strconv.ParseFloat(g.String, 64)
				if err != nil {
					return out, err
				}
				v = f
			case "boolean":
				v = g.String == "true"
			default:
				v = g.String
			}
		}
		out.Groups = append(out.Groups, GroupCount{Value: v, Count: n})
	}
	out.More = groups > int64(len(out.Groups))
	return out, rows.Err()
}

// FirstPageSQL is the statement Run sends for a first page (Limit > 0, every sort in SQL) with
// its arguments, for gens; tests EXPLAIN it.
func (pl *Plan) FirstPageSQL(gens []Generation) (string, []any) {
	pl.rowsGen = make([]int64, len(gens))
	for i, g := range gens {
		pl.rowsGen[i] = g.Rows
	}
	q := pl.query(nil, pl.q.Limit+1)
	return q.sql, q.args
}
