package rows

import (
	"sync"
	"time"
	// The tz database is compiled in: a column's time zone means the same on every machine, and
	// a name accepted when the column was saved (store.checkTimeZone) loads here.
	_ "time/tzdata"
)

// Date conditions in SQL. A date cell is typed in Go by formula.ToTime, which accepts several
// layouts and some leniency of Go's time.Parse (one-digit hours, a comma before the fraction,
// offsets, surrounding spaces). Copying that parser into SQL exactly is fragile, and a cast
// (::date, ::timestamptz) raises an error on junk such as 2026-02-30, which would turn a user's
// data into a 500. So the SQL is a superset that Go checks again:
//
//   - a value in one of two canonical forms, matched by a strict regular expression that only
//     admits real calendar dates and times (YYYY-MM-DD, and YYYY-MM-DDTHH:MM:SS[.fraction]Z), is
//     decided exactly in SQL by comparing texts (COLLATE "C") with bounds computed here: no cast,
//     so no row can raise an error;
//   - a null, missing, non-text or empty value gets the answer Go gives a null cell (a constant
//     computed here);
//   - any other text (an offset, a zone-less time, spaces, junk) passes the SQL, and Go decides.
//
// Go then evaluates the condition again on the rows the database returns (condition.recheck), so
// the answer is the Go answer for every stored value; the SQL only keeps the rows that cannot
// match from leaving the database, which is what lets a page stop at its LIMIT. Measured on
// 1,000,000 records (TestRowsTimingsAtScale, docs/data-flow.md): the regular expressions run
// only on the rows the cheaper conditions keep, and cost less than the casts the hand-written SQL
// uses. An IMMUTABLE SQL function returning NULL on junk would need the same exact parser in SQL
// (or an exception block per row, too slow at this scale), and gives nothing more.

// Canonical forms the SQL decides. Years 0000-9999, months and days of the calendar (29 February
// in leap years only), hours 00-23, minutes and seconds 00-59, at most 9 fraction digits:
// formula.ToTime reads every such text as exactly these fields (TestRowsDateJunkBothPaths).
const (
	sqlDatePart = `(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))` +
		`|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[048]|[2468][048]|[13579][26])00)-02-29)`
	sqlDateOnly  = `^` + sqlDatePart + `$`
	sqlUTCMoment = `^` + sqlDatePart + `T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?Z$`
	// momentKey is the layout of an instant's comparison key: fixed width, so that texts
	// order as instants.
	momentKey = "2006-01-02T15:04:05.000000000"
)

func isDateType(typ string) bool { return typ == "date" || typ == "datetime" }

var zones sync.Map // IANA name -> *time.Location (nil when unknown)

// zoneOf loads a column's time zone once per process; "" and unknown names (refused when the
// column is saved, but possible on an older machine's tz database) are no zone.
func zoneOf(name string) *time.Location {
	if name == "" {
		return nil
	}
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil
	}
	zones.Store(name, loc)
	return loc
}

// pushDate pushes a condition on a base date or datetime column down as a rechecked superset.
func (pl *Plan) pushDate(c *condition) {
	if c.col < 0 || !isDateType(c.typ) || pl.q.GoOnly {
		return
	}
	ci := &pl.cols[c.col]
	if ci.calc || ci.src < 0 || ci.path == nil {
		return
	}
	if _, _, ok := c.dateRanges(); !ok {
		return
	}
	c.pushed, c.recheck = true, true
}

// moment is a bound of a range of cells: a time, or unbounded (inf).
type moment struct {
	t   time.Time
	inf bool
}

// cellRange is the cells [lo, hi) (lo.inf: from the beginning, hi.inf: to the end).
type cellRange struct{ lo, hi moment }

// dateRanges is the condition on a (non-null) date cell as ranges of cells: it holds when the
// cell is in one of them, or, with negate, in none. ok is false for operators with no SQL form.
func (c *condition) dateRanges() (ranges []cellRange, negate bool, ok bool) {
	inf := moment{inf: true}
	at := func(t time.Time) moment { return moment{t: t} }
	// next is the first cell after t: cells of a date column are whole days, a datetime's are
	// nanoseconds.
	next := func(t time.Time) time.Time {
		if c.typ == "date" {
			return t.AddDate(0, 0, 1)
		}
		return t.Add(time.Nanosecond)
	}
	operand := func(i int) (time.Time, bool) {
		if i >= len(c.operands) || !c.operands[i].ok {
			return time.Time{}, false
		}
		t, isTime := c.operands[i].v.(time.Time)
		return t, isTime
	}
	switch c.op {
	case "isNull", "isEmpty":
		return nil, false, true
	case "isNotNull", "isNotEmpty":
		return nil, true, true
	case "isWithin", "before", "after", "onOrBefore", "onOrAfter":
		if !c.dateOK {
			return nil, false, true
		}
		r := map[string]cellRange{
			"isWithin": {at(c.start), at(c.end)}, "before": {inf, at(c.start)}, "after": {at(c.end), inf},
			"onOrBefore": {inf, at(c.end)}, "onOrAfter": {at(c.start), inf},
		}[c.op]
		return []cellRange{r}, false, true
	case "eq", "ne", "in", "notIn":
		for i := range c.operands {
			if t, ok := operand(i); ok {
				ranges = append(ranges, cellRange{at(t), at(next(t))})
			}
		}
		return ranges, c.op == "ne" || c.op == "notIn", true
	case "between":
		lo, okLo := operand(0)
		hi, okHi := operand(1)
		if okLo && okHi && len(c.operands) == 2 {
			ranges = []cellRange{{at(lo), at(next(hi))}}
		}
		return ranges, false, true
	case "gt", "gte", "lt", "lte":
		t, isTime := operand(0)
		if !isTime {
			return nil, false, true
		}
		r := map[string]cellRange{"gt": {at(next(t)), inf}, "gte": {at(t), inf}, "lt": {inf, at(t)}, "lte": {inf, at(next(t))}}[c.op]
		return []cellRange{r}, false, true
	}
	return nil, false, false
}

// dateSQL is a pushed condition on a date column: exact on the canonical forms, the null answer
// on null, missing, non-text and empty values, and TRUE (left to Go) on any other text.
func (pl *Plan) dateSQL(c *condition) sqlFrag {
	src, path := 0, c.path // a cohort condition on a path of the primary source's records
	if c.col >= 0 {
		src, path = pl.cols[c.col].src, pl.cols[c.col].path
	}
	j, t := jsonAt(src, path), textAt(src, path)
	ranges, negate, _ := c.dateRanges()
	// Date-only texts compare as themselves with date bounds; an instant's text compares by its
	// fixed-width key with instant bounds. On a date column with a zone, an instant's date in that
	// zone is left to Go.
	dKey := func(m moment) (string, int) { return dateKey(m, c.typ, c.loc) }
	dateOnly := rangesSQL(t.wrap(`%s COLLATE "C"`), ranges, negate, dKey)
	var utc sqlFrag
	switch {
	case c.typ == "datetime":
		// "...:SS" then the fraction padded to 9 digits: ".5Z" and "Z" become ".500000000", ".000000000".
		key := joinFrags([]sqlFrag{frag("(left("), t, frag(", 19) || rpad(coalesce(nullif(rtrim(substr("), t, frag(`, 20), 'Z'), ''), '.'), 10, '0')) COLLATE "C"`)}, "")
		utc = rangesSQL(key, ranges, negate, instantKey)
	case c.loc == nil:
		// A date column without a zone holds an instant's date as written: its first ten characters.
		utc = rangesSQL(t.wrap(`left(%s, 10) COLLATE "C"`), ranges, negate, dKey)
	default:
		utc = frag("TRUE")
	}
	null := frag("FALSE")
	if c.matches(nil) {
		null = frag("TRUE")
	}
	return joinFrags([]sqlFrag{
		frag("(CASE WHEN "), t, frag(" ~ ? THEN ", sqlDateOnly), dateOnly,
		frag(" WHEN "), t, frag(" ~ ? THEN ", sqlUTCMoment), utc,
		frag(" WHEN jsonb_typeof("), j, frag(") = 'string' AND "), t, frag(" <> '' THEN TRUE ELSE "), null, frag(" END)"),
	}, "")
}

// rangesSQL is "key is in one of ranges" (negated with negate) where key(m) gives a bound's text,
// or says that the bound lies below (-1) or above (+1) every canonical value.
func rangesSQL(e sqlFrag, ranges []cellRange, negate bool, key func(m moment) (string, int)) sqlFrag {
	var parts []sqlFrag
	for _, r := range ranges {
		var conds []sqlFrag
		empty := false
		if !r.lo.inf {
			switch k, where := key(r.lo); where {
			case 0:
				conds = append(conds, e.wrap(`%s >= ? COLLATE "C"`, k))
			case 1:
				empty = true
			}
		}
		if !r.hi.inf {
			switch k, where := key(r.hi); where {
			case 0:
				conds = append(conds, e.wrap(`%s < ? COLLATE "C"`, k))
			case -1:
				empty = true
			}
		}
		if empty {
			continue
		}
		if len(conds) == 0 {
			parts = []sqlFrag{frag("TRUE")}
			break
		}
		parts = append(parts, joinFrags(conds, " AND ").wrap("(%s)"))
	}
	out := frag("FALSE")
	if len(parts) > 0 {
		out = joinFrags(parts, " OR ").wrap("(%s)")
	}
	if negate {
		return out.wrap("(NOT %s)")
	}
	return out
}

// dateKey is the first date-only text whose cell is at or after m. The cell of "YYYY-MM-DD" is
// typed as Go types it (toTimeIn: midnight UTC on a date column, midnight in the zone on a
// datetime column), so the bound is exact across DST changes. Outside years 0000-9999 it says
// where m lies instead (-1 below every such text, +1 above).
func dateKey(m moment, typ string, loc *time.Location) (string, int) {
	base := m.t.UTC()
	if loc != nil && typ != "date" { // a date column's bounds are dates, held as midnight UTC
		base = m.t.In(loc)
	}
	switch {
	case base.Year() < 0:
		return "", -1
	case base.Year() > 9999:
		return "", 1
	}
	d := time.Date(base.Year(), base.Month(), base.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -2)
	for range 6 {
		if d.Year() >= 0 && d.Year() <= 9999 {
			s := d.Format(time.DateOnly)
			if cell, err := toTimeIn(s, typ, loc); err == nil && !cell.(time.Time).Before(m.t) {
				return s, 0
			}
		}
		d = d.AddDate(0, 0, 1)
	}
	return "", 1 // past 9999-12-31's cell
}

// instantKey is m's comparison key (momentKey, UTC), or where m lies outside years 0000-9999.
func instantKey(m moment) (string, int) {
	u := m.t.UTC()
	switch {
	case u.Year() < 0:
		return "", -1
	case u.Year() > 9999:
		return "", 1
	}
	return u.Format(momentKey), 0
}

// markRechecks makes every leaf of a pushed OR that holds a rechecked leaf rechecked too: Go
// evaluates such an OR whole, since one superset branch would otherwise make it always true.
func markRechecks(n *condNode) {
	if n == nil || n.leaf != nil {
		return
	}
	if !n.or {
		for _, k := range n.kids {
			markRechecks(k)
		}
		return
	}
	leaves := (&conditionSet{root: n}).leaves()
	any := false
	for _, c := range leaves {
		any = any || (c.pushed && c.recheck)
	}
	if any {
		for _, c := range leaves {
			if c.pushed {
				c.recheck = true
			}
		}
	}
}

// goToo reports whether Go has conditions of the set to evaluate (unpushed or rechecked).
func (cs *conditionSet) goToo() bool {
	if cs.root == nil {
		return false
	}
	if !cs.all {
		return true
	}
	for _, c := range cs.leaves() {
		if c.recheck {
			return true
		}
	}
	return false
}

// onlyRechecks reports whether every condition Go evaluates is a rechecked one, which the
// database has already narrowed to (nearly always) matching rows.
func (cs *conditionSet) onlyRechecks() bool {
	for _, c := range cs.leaves() {
		if !c.pushed {
			return false
		}
	}
	return true
}
