package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/uptrace/bun"
)

// dateJunk is one stored value of the date-junk fixture, written into four columns at once:
// D (date), T (datetime), DZ and TZ (the same in America/New_York). kind says what the SQL
// decides exactly: "D" a canonical date, "Z" a canonical UTC instant, "null" a null-like value
// (null, missing, empty, not a text), "" a text left to Go.
type dateJunk struct {
	json string // the JSON value; "" for a missing field
	kind string
}

var dateJunkValues = []dateJunk{
	{`"2026-06-15"`, "D"}, {`"2026-06-16"`, "D"}, {`"2026-06-14"`, "D"}, {`"2026-06-22"`, "D"}, {`"2026-07-15"`, "D"},
	{`"2025-06-15"`, "D"}, {`"2024-02-29"`, "D"}, {`"2000-02-29"`, "D"}, {`"0000-01-01"`, "D"}, {`"9999-12-31"`, "D"},
	{`"2026-03-08"`, "D"}, {`"2026-11-01"`, "D"},
	{`"2026-06-15T10:00:00Z"`, "Z"}, {`"2026-06-15T03:59:59Z"`, "Z"}, {`"2026-06-15T04:00:00Z"`, "Z"},
	{`"2026-06-16T03:59:59.999999999Z"`, "Z"}, {`"2026-06-14T23:59:59.5Z"`, "Z"}, {`"2026-06-15T00:00:00.000Z"`, "Z"},
	{`"2026-03-08T06:30:00Z"`, "Z"}, {`"2026-11-01T05:30:00Z"`, "Z"}, {`"9999-12-31T23:59:59.999999999Z"`, "Z"},
	// Junk and the forms Go reads that the SQL leaves to it.
	{`"2026-02-30"`, ""}, {`"1900-02-29"`, ""}, {`"2026-13-01"`, ""}, {`"2026-6-15"`, ""}, {`"+2026-06-15"`, ""},
	{`"2026-06-15T23:30:00-05:00"`, ""}, {`"2026-06-15T01:30:00+02:00"`, ""}, {`"2026-06-15T10:00:00"`, ""},
	{`"2026-06-15 10:00:00"`, ""}, {`"2026-06-15T10:00"`, ""}, {`" 2026-06-15 "`, ""}, {`"2026-06-15\n"`, ""},
	{`"2026-06-15T1:00:00Z"`, ""}, {`"2026-06-15T10:00:00,5Z"`, ""}, {`"2026-06-15t10:00:00z"`, ""},
	{`"2026-06-15T24:00:00Z"`, ""}, {`"2026-06-15T10:00:60Z"`, ""}, {`"2026-06-15T10:00:00.1234567891Z"`, ""},
	{`"junk"`, ""}, {`" "`, ""}, {`"２０２６-06-15"`, ""},
	{`""`, "null"}, {`null`, "null"}, {``, "null"}, {`20260615`, "null"}, {`true`, "null"}, {`{"a": 1}`, "null"},
	{`["2026-06-15"]`, "null"},
}

// newDateFixture stores one record per JSON value (key j00, j01, ...; "" leaves the fields out)
// under the four columns D, T, DZ and TZ.
func newDateFixture(t *testing.T, tenant string, values []string) *rowsFixture {
	t.Helper()
	var lines []string
	for i, v := range values {
		line := fmt.Sprintf(`{"id":"j%02d"`, i)
		if v != "" {
			line += fmt.Sprintf(`,"d":%s,"t":%s,"dz":%s,"tz":%s`, v, v, v, v)
		}
		lines = append(lines, line+"}")
	}
	return newOneSourceFixture(t, tenant, "Dates", lines,
		fixtureColumn{"D", "date", "d", ""}, fixtureColumn{"T", "datetime", "t", ""},
		fixtureColumn{"DZ", "date", "dz", "America/New_York"}, fixtureColumn{"TZ", "datetime", "tz", "America/New_York"})
}

// sqlKeys is what the pushed SQL alone keeps (no Go recheck): the first page's statement.
func (f *rowsFixture) sqlKeys(t *testing.T, q RowsQuery) []string {
	t.Helper()
	q.PanelID, q.Limit = f.panel.ID, 10000
	plan, err := testStore.PlanRows(t.Context(), f.a, q)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	err = testStore.db.RunInTx(t.Context(), nil, func(ctx context.Context, tx bun.Tx) error {
		gens, err := plan.generations(ctx, tx)
		if err != nil {
			return err
		}
		sql, args := plan.plan.FirstPageSQL(gens)
		rs, err := tx.QueryContext(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("%w: %s", err, sql)
		}
		defer rs.Close()
		cols, _ := rs.Columns()
		for rs.Next() {
			dest := make([]any, len(cols))
			var key string
			dest[0] = &key
			for i := 1; i < len(dest); i++ {
				dest[i] = new(any)
			}
			if err := rs.Scan(dest...); err != nil {
				return err
			}
			keys = append(keys, key)
		}
		return rs.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// Every date operator on every junk value, in SQL and in Go (f.keys requires both answers to
// agree, and the SQL never raises an error), at a noon and at a time when New York's date is not
// UTC's. The SQL alone (before Go's recheck) must keep every row Go keeps, and decide the
// canonical and null-like values exactly: only other texts may pass it for Go to refuse.
func TestRowsDateJunkBothPaths(t *testing.T) {
	var values []string
	for _, v := range dateJunkValues {
		values = append(values, v.json)
	}
	f := newDateFixture(t, "datejunk", values)
	mode := func(m string, days ...int) any {
		if len(days) == 0 {
			return m
		}
		return map[string]any{"mode": m, "numberOfDays": float64(days[0])}
	}
	type op struct {
		op string
		v  any
	}
	ops := []op{
		{"isNull", nil}, {"isNotNull", nil}, {"isEmpty", nil}, {"isNotEmpty", nil},
		{"eq", "2026-06-15"}, {"ne", "2026-06-15"}, {"eq", "2026-06-15T10:00:00Z"}, {"ne", "2026-06-15T10:00:00Z"},
		{"eq", "junk"}, {"ne", "junk"}, {"gt", "2026-06-15"}, {"gte", "2026-06-15"}, {"lt", "2026-06-15"}, {"lte", "2026-06-15"},
		{"gt", "2026-06-15T03:59:59Z"}, {"lte", "2026-06-16T03:59:59.999999999Z"},
		{"between", []any{"2026-06-14", "2026-06-16"}}, {"between", []any{"2026-06-16", "2026-06-14"}},
		{"in", []any{"2026-06-14", "2026-06-22T00:00:00Z", "nope"}}, {"notIn", []any{"2026-06-14", "2000-02-29"}},
		{"before", "2026-06-15"}, {"after", "2026-06-15"}, {"onOrBefore", "2026-06-15"}, {"onOrAfter", "2026-06-15"},
		{"before", "2026-06-15T10:00:00Z"}, {"after", "2026-06-15T10:00:00Z"}, {"onOrBefore", "2026-06-15T04:00:00Z"},
		{"onOrAfter", "2026-06-15T04:00:00Z"}, {"before", "9999-12-31"}, {"after", "9999-12-31"}, {"onOrAfter", "0000-01-01"},
		{"before", "today"}, {"after", "today"}, {"onOrBefore", mode("pastNumberOfDays", 3)}, {"onOrAfter", mode("nextNumberOfDays", 7)},
	}
	for _, m := range []string{"today", "tomorrow", "yesterday", "pastWeek", "pastMonth", "pastYear", "nextWeek", "nextMonth", "nextYear"} {
		ops = append(ops, op{"isWithin", m})
	}
	ops = append(ops, op{"isWithin", mode("pastNumberOfDays", 0)}, op{"isWithin", mode("pastNumberOfDays", 400)},
		op{"isWithin", mode("nextNumberOfDays", 7)}, op{"isWithin", mode("nextNumberOfDays", 36600)})
	nows := []time.Time{opsNow, time.Date(2026, 6, 16, 2, 0, 0, 0, time.UTC)}
	kindOf := map[string]string{}
	for i, v := range dateJunkValues {
		kindOf[fmt.Sprintf("j%02d", i)] = v.kind
	}
	matched := 0
	for _, col := range []string{"D", "T", "DZ", "TZ"} {
		for _, o := range ops {
			for _, now := range nows {
				v, _ := json.Marshal(o.v)
				t.Run(fmt.Sprintf("%s %s %s at %s", col, o.op, v, now.Format("01-02T15")), func(t *testing.T) {
					f.setView(t, []ViewFilter{fleaf(col, o.op, o.v)}, nil)
					q := RowsQuery{ViewID: f.view.ID, Now: now}
					got := f.keys(t, q)
					matched += len(got)
					inSQL := f.sqlKeys(t, q)
					for _, k := range got {
						if !slices.Contains(inSQL, k) {
							t.Errorf("%s (%s) matches in Go but the SQL drops it", k, kindOf[k])
						}
					}
					for _, k := range inSQL {
						kind := kindOf[k]
						exact := kind == "D" || kind == "null" || (kind == "Z" && col != "DZ")
						if exact && !slices.Contains(got, k) {
							t.Errorf("%s (%s) passes the SQL but not Go", k, kind)
						}
					}
				})
			}
		}
	}
	if matched == 0 {
		t.Fatal("no case matched any row")
	}
	// Trees: a date leaf inside an OR makes Go evaluate the whole OR again (its other leaves'
	// SQL alone would let every row through the superset branch).
	trees := [][]ViewFilter{
		{fgroup("or", "and", fleaf("D", "before", "2026-06-15"), fleaf("T", "after", "2026-06-15"))},
		{fgroup("or", "and", fleaf("DZ", "isWithin", "today"), fleaf("TZ", "isNull", nil)), fleaf("D", "isNotEmpty", nil)},
		{fleaf("T", "onOrAfter", "2000-01-01"), fgroup("or", "and", fleaf("D", "eq", "junk"), fleaf("TZ", "isWithin", "pastYear"))},
	}
	for i, tree := range trees {
		f.setView(t, tree, nil)
		q := RowsQuery{ViewID: f.view.ID, Now: opsNow}
		got := f.keys(t, q)
		if len(got) == 0 || len(got) == len(dateJunkValues) {
			t.Errorf("tree %d keeps %d rows: it tests nothing", i, len(got))
		}
		inSQL := f.sqlKeys(t, q)
		for _, k := range got {
			if !slices.Contains(inSQL, k) {
				t.Errorf("tree %d: %s matches in Go but the SQL drops it", i, k)
			}
		}
		// Pages, with rows the recheck drops between them, join up to the whole answer.
		for _, limit := range []int{1, 2, 5} {
			if paged := f.paged(t, q, limit); !slices.Equal(paged, got) {
				t.Errorf("tree %d: pages of %d %v, whole %v", i, limit, paged, got)
			}
		}
	}
}

// Relative dates in a zone, across New York's DST start (2026-03-08, a 23-hour day) and end
// (2026-11-01, 25 hours): a day runs from midnight to midnight in the zone, a date-only or
// zone-less value is a wall-clock time there, and a date column holds the zone's date of an
// instant. The columns without a zone answer as before (UTC days, an instant's written date).
func TestRowsDateFiltersInAZone(t *testing.T) {
	values := []string{
		`"2026-03-08T04:59:59Z"`,      // j00: 7 March 23:59:59 EST
		`"2026-03-08T05:00:00Z"`,      // j01: 8 March 00:00 EST
		`"2026-03-09T03:59:59Z"`,      // j02: 8 March 23:59:59 EDT
		`"2026-03-09T04:00:00Z"`,      // j03: 9 March 00:00 EDT
		`"2026-03-08"`,                // j04
		`"2026-03-08T23:30:00"`,       // j05: zone-less
		`"2026-03-08T23:30:00-05:00"`, // j06: 9 March 04:30 UTC, 00:30 EDT
		`"2026-11-01T04:00:00Z"`,      // j07: 1 November 00:00 EDT
		`"2026-11-02T04:59:59Z"`,      // j08: 1 November 23:59:59 EST
		`"2026-11-02T05:00:00Z"`,      // j09: 2 November 00:00 EST
		`"2026-11-01"`,                // j10
		`"2026-03-09"`,                // j11
	}
	f := newDateFixture(t, "datezone", values)
	march8 := time.Date(2026, 3, 8, 17, 0, 0, 0, time.UTC)    // noon in New York, DST since 02:00
	march8late := time.Date(2026, 3, 9, 2, 0, 0, 0, time.UTC) // 8 March 22:00 in New York, 9 March in UTC
	nov1 := time.Date(2026, 11, 1, 16, 0, 0, 0, time.UTC)
	tests := []struct {
		name, col string
		op        string
		v         any
		now       time.Time
		want      []string
	}{
		{"a 23-hour day in the zone", "TZ", "isWithin", "today", march8, []string{"j01", "j02", "j04", "j05"}},
		{"the same instants by UTC days", "T", "isWithin", "today", march8, []string{"j00", "j01", "j04", "j05"}},
		{"tomorrow in the zone", "TZ", "isWithin", "tomorrow", march8, []string{"j03", "j06", "j11"}},
		{"a 25-hour day in the zone", "TZ", "isWithin", "today", nov1, []string{"j07", "j08", "j10"}},
		{"yesterday in the zone, after the 25-hour day", "TZ", "isWithin", "yesterday", nov1.AddDate(0, 0, 1), []string{"j07", "j08", "j10"}},
		{"before today in the zone", "TZ", "before", "today", march8, []string{"j00"}},
		{"onOrAfter tomorrow in the zone", "TZ", "onOrAfter", "tomorrow", march8, []string{"j03", "j06", "j07", "j08", "j09", "j10", "j11"}},
		{"pastNumberOfDays 0 is today in the zone", "TZ", "isWithin", map[string]any{"mode": "pastNumberOfDays", "numberOfDays": 0.0}, march8, []string{"j01", "j02", "j04", "j05"}},
		{"on an exact date in the zone", "TZ", "onOrBefore", "2026-03-08", march8, []string{"j00", "j01", "j02", "j04", "j05"}},
		{"the zone's today on a date column, late in the evening", "DZ", "isWithin", "today", march8late, []string{"j01", "j02", "j04", "j05"}},
		{"UTC's today on a date column without a zone", "D", "isWithin", "today", march8late, []string{"j02", "j03", "j11"}},
		{"a date column without a zone keeps an offset's written date", "D", "eq", "2026-03-08", march8, []string{"j00", "j01", "j04", "j05", "j06"}},
		{"a date column with a zone reads an offset in the zone", "DZ", "eq", "2026-03-09", march8, []string{"j03", "j06", "j11"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.setView(t, []ViewFilter{fleaf(tc.col, tc.op, tc.v)}, nil)
			if got := f.keys(t, RowsQuery{ViewID: f.view.ID, Now: tc.now}); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
		})
	}
}

// A calculated column's properties.timeZone reaches its formula: the same formulas with and
// without a zone, through the rows engine.
func TestRowsCalculatedColumnInAZone(t *testing.T) {
	f := newDateFixture(t, "calczone", []string{`"2026-03-08T04:30:00Z"`, `"2026-03-08"`})
	for _, c := range []struct{ name, typ, formula, zone string }{
		{"Hour", "number", "HOUR([T])", ""}, {"HourNY", "number", "HOUR([T])", "America/New_York"},
		{"Day", "date", "DATEADD([T], 0, 'days')", ""}, {"DayNY", "date", "DATEADD([T], 0, 'days')", "America/New_York"},
		{"Text", "text", "DATETIME_FORMAT([T], 'YYYY-MM-DD HH:mm Z')", ""},
		{"TextNY", "text", "DATETIME_FORMAT([T], 'YYYY-MM-DD HH:mm Z')", "America/New_York"},
		{"TodayNY", "date", "TODAY()", "America/New_York"},
	} {
		col := &Column{Name: c.name, Type: c.typ, Properties: map[string]any{}}
		if c.zone != "" {
			col.Properties["timeZone"] = c.zone
		}
		if _, err := testStore.CreateColumn(t.Context(), f.a, f.panel.ID, col, &FormulaInput{Source: c.formula}); err != nil {
			t.Fatal(err)
		}
	}
	f.view.VisibleColumns = []string{"Hour", "HourNY", "Day", "DayNY", "Text", "TextNY", "TodayNY"}
	if _, err := testStore.UpdateView(t.Context(), f.a, f.view.ID, func(*View) error { return nil }, ViewPatch{VisibleColumns: f.view.VisibleColumns}); err != nil {
		t.Fatal(err)
	}
	f.setView(t, nil, nil)
	got, _, _ := f.rows(t, RowsQuery{ViewID: f.view.ID, Now: time.Date(2026, 3, 9, 2, 0, 0, 0, time.UTC)})
	want := [][]any{
		{4.0, 23.0, "2026-03-08", "2026-03-07", "2026-03-08 04:30 +00:00", "2026-03-07 23:30 -05:00", "2026-03-08"},
		{0.0, 0.0, "2026-03-08", "2026-03-08", "2026-03-08 00:00 +00:00", "2026-03-08 00:00 -05:00", "2026-03-08"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows", len(got))
	}
	for i, r := range got {
		if fmt.Sprint(r.Values) != fmt.Sprint(want[i]) {
			t.Errorf("row %s: %v, want %v", r.Key, r.Values, want[i])
		}
	}
}

// A zone saved before zones were read (an opaque property then) and unknown now does not block an
// unrelated update, reads as no zone in the engine, and is refused when a patch sends it.
func TestColumnOldUnknownTimeZone(t *testing.T) {
	f := newDateFixture(t, "oldzone", []string{`"2026-06-15T23:30:00-05:00"`})
	col := f.cols["D"]
	if _, err := testStore.db.ExecContext(t.Context(), `UPDATE columns SET properties = '{"timeZone": "Mars/Olympus"}' WHERE id = ?`, col.ID); err != nil {
		t.Fatal(err)
	}
	allow := func(*Column, map[int64]string) error { return nil }
	if _, _, err := testStore.UpdateColumn(t.Context(), f.a, f.panel.ID, col.ID, allow, ColumnPatch{Properties: map[string]any{"display": map[string]any{"order": 1.0}}}); err != nil {
		t.Fatalf("an unrelated update: %v", err)
	}
	// As without a zone: the offset's written date, 15 June.
	f.setView(t, []ViewFilter{fleaf("D", "eq", "2026-06-15")}, nil)
	if got := f.keys(t, RowsQuery{ViewID: f.view.ID, Now: opsNow}); !slices.Equal(got, []string{"j00"}) {
		t.Errorf("rows %v", got)
	}
	_, _, err := testStore.UpdateColumn(t.Context(), f.a, f.panel.ID, col.ID, allow, ColumnPatch{Properties: map[string]any{"timeZone": "Mars/Olympus"}})
	var ie *InvalidError
	if !errors.As(err, &ie) || len(ie.Problems) != 1 || ie.Problems[0].Field != "properties.timeZone" {
		t.Errorf("sending the unknown zone: %v", err)
	}
}
