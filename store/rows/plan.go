// Package rows is the rows engine, which turns a panel into its worklist. Every record of the
// panel's primary data source (the first of Input.Sources) is a row; the other sources' records
// join it by key. Base columns read their source field (a dotted path) from their source's
// document, calculated columns evaluate their formula, the cohort rule and a view's filters
// select rows and its sorts order them. Conditions and sorts on base columns of SQL-typed columns
// run in PostgreSQL; the rest runs here on the rows the database returns.
//
// The engine decides nothing about who may read what and loads nothing itself: the caller checks
// access, reads the panel's definitions and opens the transaction, then hands the engine plain
// values.
package rows

import (
	"crypto/sha256"
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

	"github.com/panels/panels/store/formula"
)

// ErrCursorStale is a rows cursor that can no longer be honoured: a sync replaced the records it
// was issued on, or the panel or view changed shape since.
var ErrCursorStale = errors.New("the rows changed since the cursor was issued")

// calculated is Column.ColumnType of a calculated column (any other is a base column).
const calculated = "calculated"

// Column is a column of the panel as the engine reads it.
type Column struct {
	ID           int64
	Name         string
	Type         string
	ColumnType   string  // "base" or "calculated"
	SourceID     *int64  // base columns: the data source (nil: detached)
	SourceField  *string // base columns: a dotted path into the source's documents
	Formula      *string // calculated columns: the stored form, references as {id}
	Dependencies []int64 // calculated columns: the columns the formula reads
	// TimeZone is properties.timeZone, an IANA name ("": none, which reads dates as UTC, as
	// before zones existed): relative date filters count days in it, a date-only or zone-less
	// value is a wall-clock time in it, and a calculated column's date functions run in it.
	TimeZone string
}

// Condition is one comparison of a cohort rule: Field is a column reference or a dotted path
// into the primary source's records.
type Condition struct {
	Field    string
	Operator string
	Value    any
}

// Cohort is the panel's cohort rule, or one of its nested groups: every condition and group (or
// any, when Or is set) must hold.
type Cohort struct {
	Or         bool
	Conditions []Condition
	Groups     []Cohort `json:",omitempty"`
}

// View is the view a query reads through: its visible columns, filters and sorts name columns by
// reference (an id as a decimal string, or a unique name).
type View struct {
	ID             int64
	VisibleColumns []string
	Filters        []Filter // in order
	Sorts          []Sort   // in order
}

// Filter is one filter of a view; Or joins it to the previous filters with OR instead of AND.
// A filter with Group set is a nested group: its own filters joined by the group's conjunction
// (their Or fields are ignored), and Column, Operator and Value are unused.
type Filter struct {
	Column   string
	Operator string
	Value    any
	Or       bool
	Group    *Group `json:",omitempty"`
}

// Group is a nested filter group: every filter holds (Or false) or any does (Or true).
type Group struct {
	Or      bool
	Filters []Filter
}

// Sort is one sort key of a view.
type Sort struct {
	Column string
	Desc   bool
}

// Query is how much of the answer to compute and from where.
type Query struct {
	Limit int // 0: every row (exports)
	After *Cursor
	Now   time.Time
	// GoOnly evaluates every condition and sort in Go, so tests can hold both paths to one answer.
	GoOnly bool
	// Search keeps the rows where one of the answer's columns contains it (ignoring case).
	Search string
	// SearchIndex says that source_records has the trigram index (docs/search-index.md) and that the
	// database lowers text one character at a time, so a pushed search may add its whole-document
	// prefilter (searchPrefilter).
	SearchIndex bool
	// Limits bound the text a formula computes (zero: the defaults); a longer value is an error
	// cell (formula.TooLongError).
	Limits formula.Limits
	// MaxBytes bounds a page (Limit > 0): once the rows sent hold this many bytes of values (as
	// estimated by emitRow, close to their JSON size), the page ends early with HasMore and a
	// cursor. A page always holds at least one row, so a page is at most MaxBytes plus one row,
	// and one row at most its columns times Limits.MaxText plus its base values. 0: no bound.
	MaxBytes int
}

// Input is everything the engine needs of a panel.
type Input struct {
	Columns []Column
	Sources []int64 // the panel's data sources, the primary first
	Cohort  Cohort
	View    *View // nil: no view (every column, no filters or sorts)
	// WholePanel is whether the caller may read the whole panel, not only the view.
	WholePanel bool
	// GroupBy is the column reference Groups counts rows by ("": none).
	GroupBy string
	Query   Query
}

// Cursor is the position after the last row of a page.
type Cursor struct {
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

// Result closes a run: whether more rows follow, where, and the cell errors per column.
type Result struct {
	HasMore bool
	Next    *Cursor
	Errors  []int // per answer column: cells of the returned rows that could not be computed
}

// Generation is a source's record set as the transaction sees it: Set, the generation a cursor
// pins, and Rows, the generation of the records to read.
type Generation struct {
	Set, Rows int64
}

// Plan is a compiled rows query.
type Plan struct {
	q       Query
	sources []int64
	cols    []colInfo
	out     []int // answer columns (indexes into cols)
	proj    []int // projected base columns, in SELECT order (indexes into cols)
	// Conditions: cohort rule, view filters and search, each a tree; pushed parts are SQL.
	cohort, filters, search *conditionSet
	sorts                   []*sortKey
	groupBy                 int  // Groups' column (index into cols); -1: none
	groupSQL                bool // Groups runs as one GROUP BY in PostgreSQL
	sqlSort                 bool // every sort key runs in SQL (keyset pagination in SQL)
	joins                   []int
	calcCols, calcBase      []int // calculated columns read in SQL, and the base columns they read (calcLateral)
	shape                   string
	rowsGen                 []int64 // per source, the generation of its current rows (set by Run)
}

type colInfo struct {
	col    *Column
	calc   bool
	src    int      // index into sources; -1 when detached or unknown
	path   []string // nil: not a dotted path
	prog   *formula.Program
	errC   error          // compile error of a calculated column, or why a base column cannot be read
	projAt int            // index into the projection; -1 when not projected
	loc    *time.Location // Column.TimeZone; nil: none (or not a zone this machine knows)
	// A calculated column whose formula runs in SQL (calcsql.go): its steps, columns of the calc
	// LATERAL subquery over the typed base values calcBase (indexes into cols) and the columns
	// of the calculated columns calcDeps.
	calcSteps []calcStep // nil: the formula runs in Go
	calcLevel int        // the level of its value, calc.k<index>
	calcBase  []int      // base columns it reads
	calcDeps  []int      // calculated columns it reads
}

type condition struct {
	col      int      // index into cols; -1 for a path into the primary source
	path     []string // path conditions
	projAt   int      // path conditions evaluated here: index of their value in a fetched row
	typ      string
	op       string
	operands []operand
	pushed   bool
	// recheck: the leaf's SQL is a superset that Go evaluates again (dates: see datesql.go).
	recheck bool
	loc     *time.Location // the column's time zone (dates); nil: none
	// Date operators: the range [start, end) their value names at the query's now (dateOK false:
	// the value names no range, nothing matches).
	start, end time.Time
	dateOK     bool
}

// condNode is a node of a condition tree: a leaf condition, or an AND (or OR) of its children.
type condNode struct {
	leaf *condition
	or   bool
	kids []*condNode
}

type conditionSet struct {
	root *condNode // nil: no condition
	// all is true when the whole set runs in SQL; otherwise the pushed leaves run in SQL (only
	// leaves reached from the root through AND nodes stay pushed) and the rest here.
	all bool
}

// leaves lists the set's conditions, depth first.
func (cs *conditionSet) leaves() []*condition {
	var out []*condition
	var walk func(n *condNode)
	walk = func(n *condNode) {
		if n == nil {
			return
		}
		if n.leaf != nil {
			out = append(out, n.leaf)
		}
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(cs.root)
	return out
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

// Compile plans a query over the panel described by in.
func Compile(in Input) *Plan {
	q := in.Query
	if q.Now.IsZero() {
		q.Now = time.Now()
	}
	plan := &Plan{q: q, sources: in.Sources}
	plan.compileColumns(in.Columns)
	plan.chooseOutput(in.View, in.WholePanel)
	plan.cohort = plan.compileCohort(in.Cohort)
	plan.filters = plan.compileFilters(in.View)
	plan.search = plan.compileSearch(q.Search)
	plan.compileSorts(in.View)
	plan.groupBy = -1
	if in.GroupBy != "" {
		// Only a column of the answer: a view reader must not count by a column the view hides.
		if idx := plan.resolve(plan.columns(), in.GroupBy); slices.Contains(plan.out, idx) {
			plan.groupBy = idx
		}
		plan.groupSQL = plan.groupBy >= 0 && plan.pushable(plan.groupBy) && !plan.cohort.goToo() && !plan.filters.goToo() && !plan.search.goToo()
	}
	plan.project()
	plan.shape = plan.fingerprint(in.Cohort, in.View)
	return plan
}

func (pl *Plan) compileColumns(cols []Column) {
	srcIdx := map[int64]int{}
	for i, id := range pl.sources {
		srcIdx[id] = i
	}
	byID := map[int64]int{}
	asts := map[int]formula.Expr{}
	pl.cols = make([]colInfo, len(cols))
	for i := range cols {
		c := &cols[i]
		byID[c.ID] = i
		ci := colInfo{col: c, calc: c.ColumnType == calculated, src: -1, projAt: -1, loc: zoneOf(c.TimeZone)}
		if !ci.calc {
			if c.SourceID == nil {
				ci.errC = errDetached
			} else if idx, ok := srcIdx[*c.SourceID]; ok {
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
			asts[i] = e
			ci.prog, err = formula.CompileInZone(e, func(r *formula.Ref) (int, error) {
				if idx, ok := byID[r.ID]; ok && r.ID > 0 {
					return idx, nil
				}
				return 0, fmt.Errorf("the formula refers to column {%d}, which no longer exists", r.ID)
			}, pl.q.Limits, ci.loc)
		}
		if err != nil {
			ci.errC = fmt.Errorf("the formula cannot be evaluated: %w", err)
		}
	}
	if !pl.q.GoOnly {
		pl.translateCalcs(asts, byID)
	}
}

// chooseOutput picks the answer columns: the view's visible columns in its order (references
// that no longer resolve are skipped), or every column when there is no view or it lists none
// and the caller may read the whole panel. A view reader (wholePanel false) gets the view's
// visible columns and nothing else: no column at all when the view lists none.
func (pl *Plan) chooseOutput(view *View, wholePanel bool) {
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

func (pl *Plan) columns() []Column {
	out := make([]Column, len(pl.cols))
	for i, c := range pl.cols {
		out[i] = *c.col
	}
	return out
}

// resolveRef finds the column a reference names: a column id as a decimal string wins over a
// name; otherwise the one column of that name (nil when none, or when the name is ambiguous).
func resolveRef(cols []Column, ref string) *Column {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		if i := slices.IndexFunc(cols, func(c Column) bool { return c.ID == id }); i >= 0 {
			return &cols[i]
		}
	}
	var found *Column
	for i := range cols {
		if cols[i].Name == ref {
			if found != nil {
				return nil
			}
			found = &cols[i]
		}
	}
	return found
}

// resolve finds a column reference (id as a decimal string, or a unique name); -1 when none.
func (pl *Plan) resolve(all []Column, ref string) int {
	c := resolveRef(all, ref)
	if c == nil {
		return -1
	}
	return slices.IndexFunc(pl.cols, func(ci colInfo) bool { return ci.col.ID == c.ID })
}

// pushable reports whether conditions and sorts on column i can run in SQL.
func (pl *Plan) pushable(i int) bool {
	if pl.cols[i].calc {
		return !pl.q.GoOnly && pl.cols[i].calcSteps != nil
	}
	return pl.basePushable(i)
}

// basePushable reports whether base column i can be read in SQL.
func (pl *Plan) basePushable(i int) bool {
	ci := &pl.cols[i]
	return !pl.q.GoOnly && !ci.calc && ci.src >= 0 && ci.path != nil && sqlTyped(ci.col.Type)
}

// colSQL is pushable column i's value in SQL, typed as typ.
func (pl *Plan) colSQL(i int, typ string) sqlFrag {
	ci := &pl.cols[i]
	if ci.calc {
		return frag(calcRef(i))
	}
	return typedAt(ci.src, ci.path, typ)
}

// compileCohort turns the cohort rule into conditions. A condition's field is a column reference;
// otherwise it is a dotted path into the primary source's records, compared with the value's own
// JSON type (a number, a text or a boolean).
func (pl *Plan) compileCohort(rule Cohort) *conditionSet {
	return newConditionTree(pl.compileCohortNode(pl.columns(), rule))
}

func (pl *Plan) compileCohortNode(all []Column, rule Cohort) *condNode {
	n := &condNode{or: rule.Or}
	for _, rc := range rule.Conditions {
		n.kids = append(n.kids, &condNode{leaf: pl.compileCohortCondition(all, rc)})
	}
	for _, g := range rule.Groups {
		n.kids = append(n.kids, pl.compileCohortNode(all, g))
	}
	return simplify(n)
}

// compileCohortCondition compiles a cohort condition as the view filter it is: on a column, the
// filter of the same operator and value; on a path, the filter on a base column of the primary
// source at that path, typed by cohortPathType. Either way one evaluator (compileFilter, matches,
// conditionSQL) decides, and the SQL and Go answers agree as they do for filters.
func (pl *Plan) compileCohortCondition(all []Column, rc Condition) *condition {
	f := Filter{Column: rc.Field, Operator: rc.Operator, Value: rc.Value}
	if pl.resolve(all, rc.Field) >= 0 {
		return pl.compileFilter(all, f).leaf
	}
	if f.Operator == "eq" && f.Value == nil {
		f.Operator = "isNull" // the released cohort meaning of eq null
	}
	path := parsePath(rc.Field)
	at := &Plan{q: pl.q, sources: pl.sources, cols: []colInfo{{col: &Column{Name: rc.Field, Type: cohortPathType(f.Operator, f.Value), ColumnType: "base"},
		src: -1, path: path, projAt: -1}}}
	if len(pl.sources) > 0 {
		at.cols[0].src = 0
	}
	c := at.compileFilter(at.columns(), f).leaf
	c.col, c.path = -1, path
	return c
}

// cohortPathType is how a path condition types the value at its path: as its own value's JSON
// type for comparisons (a number, a boolean, else a text), as its list's first value for in,
// notIn and between, as a date-time for the date operators, and as a text otherwise.
func cohortPathType(op string, value any) string {
	if DateOperator(op) {
		return "datetime"
	}
	switch op {
	case "in", "notIn", "between":
		list, _ := value.([]any)
		if i := slices.IndexFunc(list, func(v any) bool { return v != nil }); i >= 0 {
			value = list[i]
		}
	case "eq", "ne", "gt", "gte", "lt", "lte":
	default:
		return "text"
	}
	switch value.(type) {
	case bool:
		return "boolean"
	case json.Number, float64, int, int64:
		return "number"
	}
	return "text"
}

// compileFilters turns a view's filters into conditions: each filter joins the previous ones with
// AND or (Filter.Or) OR, AND binding tighter than OR (a AND b OR c is (a AND b) OR c); a nested
// group is one term of that list. Filters on columns that no longer resolve, and groups left
// empty, are skipped.
func (pl *Plan) compileFilters(view *View) *conditionSet {
	if view == nil {
		return newConditionTree(nil)
	}
	return newConditionTree(pl.compileFilterList(pl.columns(), view.Filters))
}

func (pl *Plan) compileFilterList(all []Column, filters []Filter) *condNode {
	var groups [][]*condNode
	for _, f := range filters {
		n := pl.compileFilter(all, f)
		if n == nil {
			continue
		}
		if len(groups) == 0 || f.Or {
			groups = append(groups, []*condNode{n})
		} else {
			groups[len(groups)-1] = append(groups[len(groups)-1], n)
		}
	}
	or := &condNode{or: true}
	for _, g := range groups {
		or.kids = append(or.kids, simplify(&condNode{kids: g}))
	}
	return simplify(or)
}

func (pl *Plan) compileFilter(all []Column, f Filter) *condNode {
	if f.Group != nil {
		n := &condNode{or: f.Group.Or}
		for _, k := range f.Group.Filters {
			if kn := pl.compileFilter(all, k); kn != nil {
				n.kids = append(n.kids, kn)
			}
		}
		return simplify(n)
	}
	idx := pl.resolve(all, f.Column)
	if idx < 0 {
		return nil
	}
	typ, loc := pl.cols[idx].col.Type, pl.cols[idx].loc
	c := &condition{col: idx, typ: typ, op: f.Operator, pushed: pl.pushable(idx), loc: loc}
	switch f.Operator {
	case "in", "notIn", "between":
		list, _ := f.Value.([]any)
		for _, v := range list {
			c.operands = append(c.operands, coerceIn(v, typ, loc))
		}
		if f.Operator == "between" && len(c.operands) != 2 {
			c.operands = []operand{{}, {}}
		}
	case "contains", "startsWith", "endsWith", "notContains":
		s, ok := f.Value.(string)
		c.operands = []operand{{s, ok}}
		// Text operators read numbers, booleans and dates as text: only text columns run in SQL.
		c.pushed = c.pushed && (typ == "text" || typ == "select")
	case "containsAny", "containsAll":
		list, _ := f.Value.([]any)
		for _, v := range list {
			if s, ok := v.(string); ok {
				c.operands = append(c.operands, operand{s, true})
			}
		}
		c.pushed = c.pushed && (typ == "text" || typ == "select")
	case "isWithin", "before", "after", "onOrBefore", "onOrAfter":
		// Only date columns run these in SQL (pushDate); on other types they match nothing.
		c.pushed = false
		if spec, err := ParseDateSpec(f.Operator, f.Value); err == nil {
			c.start, c.end, c.dateOK = spec.spanIn(pl.q.Now, typ, loc)
		}
	case "isNull", "isNotNull", "isEmpty", "isNotEmpty":
	default:
		c.operands = []operand{coerceIn(f.Value, typ, loc)}
	}
	pl.pushDate(c)
	return &condNode{leaf: c}
}

// simplify drops an empty node, replaces a node of one child by the child and lifts the children
// of a child of the same conjunction, so that (a AND (b AND c)) pushes down like a AND b AND c.
func simplify(n *condNode) *condNode {
	if n == nil || n.leaf != nil {
		return n
	}
	var kids []*condNode
	for _, k := range n.kids {
		switch {
		case k == nil:
		case k.leaf == nil && k.or == n.or:
			kids = append(kids, k.kids...)
		default:
			kids = append(kids, k)
		}
	}
	switch len(kids) {
	case 0:
		return nil
	case 1:
		return kids[0]
	}
	n.kids = kids
	return n
}

// newConditionTree decides which conditions run in SQL: a leaf stays pushed when every node
// above it is an AND, or when the OR above it has every leaf pushed; an OR that mixes SQL and Go
// conditions cannot be split between the two and runs here entirely.
func newConditionTree(root *condNode) *conditionSet {
	cs := &conditionSet{root: root, all: allPushed(root)}
	if !cs.all {
		var split func(n *condNode)
		split = func(n *condNode) {
			switch {
			case n.leaf != nil:
			case !n.or:
				for _, k := range n.kids {
					split(k)
				}
			case !allPushed(n):
				for _, c := range (&conditionSet{root: n}).leaves() {
					c.pushed = false
				}
			}
		}
		split(root)
	}
	markRechecks(root)
	return cs
}

func allPushed(n *condNode) bool {
	for _, c := range (&conditionSet{root: n}).leaves() {
		if !c.pushed {
			return false
		}
	}
	return true
}

// conditionSets are the sets every row must satisfy.
func (pl *Plan) conditionSets() []*conditionSet {
	return []*conditionSet{pl.cohort, pl.filters, pl.search}
}

// compileSearch is an OR, over the answer's columns, of "contains the search" (as the contains
// operator: case-insensitive, on the cell's text). It runs in SQL when every answer column is a
// pushed-down text or select column, else entirely in Go.
func (pl *Plan) compileSearch(search string) *conditionSet {
	if search == "" {
		return newConditionTree(nil)
	}
	or := &condNode{or: true}
	for _, idx := range pl.out {
		typ := pl.cols[idx].col.Type
		c := &condition{col: idx, typ: typ, op: "search", operands: []operand{{search, true}},
			pushed: pl.pushable(idx) && (typ == "text" || typ == "select")}
		or.kids = append(or.kids, &condNode{leaf: c})
	}
	if len(or.kids) == 0 {
		// No column to search in: no row matches.
		return newConditionTree(&condNode{leaf: &condition{col: -1, op: "search"}})
	}
	return newConditionTree(simplify(or))
}

func (pl *Plan) compileSorts(view *View) {
	pl.sqlSort = !pl.q.GoOnly
	if view == nil {
		return
	}
	all := pl.columns()
	seen := map[int]bool{}
	for _, s := range view.Sorts {
		idx := pl.resolve(all, s.Column)
		if idx < 0 || seen[idx] {
			continue
		}
		seen[idx] = true
		k := &sortKey{col: idx, typ: pl.cols[idx].col.Type, desc: s.Desc, sql: pl.pushable(idx)}
		pl.sqlSort = pl.sqlSort && k.sql
		pl.sorts = append(pl.sorts, k)
	}
}

// project decides which base columns the query returns: those of the answer, of the conditions
// and sorts that run here, and those the needed calculated columns read, transitively.
func (pl *Plan) project() {
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
	for _, cs := range pl.conditionSets() {
		for _, c := range cs.leaves() {
			if (!c.pushed || c.recheck) && c.col >= 0 {
				visit(c.col)
			}
		}
	}
	if !pl.sqlSort {
		for _, k := range pl.sorts {
			visit(k.col)
		}
	}
	if pl.groupBy >= 0 && !pl.groupSQL {
		visit(pl.groupBy)
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
	read := func(i int) {
		if pl.cols[i].calc {
			pl.useCalc(i, joined)
		} else {
			joined[pl.cols[i].src] = true
		}
	}
	for _, cs := range pl.conditionSets() {
		for _, c := range cs.leaves() {
			if c.pushed && c.col >= 0 {
				read(c.col)
			}
		}
	}
	if pl.sqlSort {
		for _, k := range pl.sorts {
			read(k.col)
		}
	}
	if pl.groupSQL {
		read(pl.groupBy)
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
func (pl *Plan) fingerprint(cohort Cohort, view *View) string {
	type colShape struct {
		ID                         int64
		Type, Kind, Field, Formula string
		Source                     *int64
		Zone                       string `json:",omitempty"` // omitted: cursors of zone-less panels stay valid
	}
	shape := struct {
		View    int64
		Sorts   []Sort
		Filters []Filter
		Cohort  Cohort
		Cols    []colShape
		Sources []int64
		Out     []int
		GoOnly  bool
		Search  string `json:",omitempty"`
		// A sort on a calculated column that runs in SQL: its cursors hold SQL keys where the
		// same view's cursors held Go keys before calcsql.go; those are stale, not invalid.
		CalcSQLSort bool `json:",omitempty"`
	}{Cohort: cohort, Sources: pl.sources, Out: pl.out, GoOnly: pl.q.GoOnly, Search: pl.q.Search}
	for _, k := range pl.sorts {
		shape.CalcSQLSort = shape.CalcSQLSort || pl.sqlSort && pl.cols[k.col].calc
	}
	if view != nil {
		shape.View, shape.Sorts, shape.Filters = view.ID, view.Sorts, view.Filters
	}
	for _, ci := range pl.cols {
		cs := colShape{ID: ci.col.ID, Type: ci.col.Type, Kind: ci.col.ColumnType, Source: ci.col.SourceID, Zone: ci.col.TimeZone}
		if ci.col.SourceField != nil {
			cs.Field = *ci.col.SourceField
		}
		if ci.col.Formula != nil {
			cs.Formula = *ci.col.Formula
		}
		shape.Cols = append(shape.Cols, cs)
	}
	b, _ := json.Marshal(shape)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// Columns describes the answer's columns, in order.
func (pl *Plan) Columns() []Column {
	out := make([]Column, len(pl.out))
	for i, idx := range pl.out {
		out[i] = *pl.cols[idx].col
	}
	return out
}
