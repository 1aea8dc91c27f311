package formula

import (
	"testing"
	"time"
)

// The date functions of a column with a time zone, in America/New_York around its DST start
// (2026-03-08 02:00 EST becomes 03:00 EDT), against the same formulas without a zone, which
// answer as before. "now" is 8 March 23:30 EDT, 9 March in UTC; When is 01:30 EST on 8 March.
func TestDateFunctionsInAZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	env := &rowEnv{
		names:  []string{"When", "Day", "Empty"},
		values: []any{date("2026-03-08T06:30:00Z"), date("2026-03-08"), nil},
		now:    date("2026-03-09T03:30:00Z"),
	}
	tests := []struct {
		src       string
		utc, inNY any
	}{
		{`TODAY()`, date("2026-03-09"), date("2026-03-08")},
		{`NOW()`, date("2026-03-09T03:30:00Z"), date("2026-03-09T03:30:00Z")},
		{`HOUR([When])`, 6.0, 1.0},
		{`MINUTE([When])`, 30.0, 30.0},
		{`HOUR("2026-03-08T12:00:00")`, 12.0, 12.0},
		{`HOUR("2026-03-08T12:00:00Z")`, 12.0, 8.0},
		{`HOUR([Empty])`, nil, nil},
		{`DAY("2026-03-08T04:30:00Z")`, 8.0, 7.0},
		{`YEAR("2027-01-01T03:00:00Z")`, 2027.0, 2026.0},
		{`WEEKDAY(NOW())`, 1.0, 0.0},
		{`WEEKDAY([Day])`, 0.0, 0.0},
		{`WEEKNUM("2026-03-08T02:30:00Z")`, 11.0, 10.0},
		{`DATETIME_FORMAT([When], "YYYY-MM-DD HH:mm Z")`, "2026-03-08 06:30 +00:00", "2026-03-08 01:30 -05:00"},
		{`DATETIME_FORMAT([Day], "YYYY-MM-DD HH:mm ZZ")`, "2026-03-08 00:00 +0000", "2026-03-08 00:00 -0500"},
		{`DATETIME_FORMAT(DATEADD([When], 1, "days"), "YYYY-MM-DD HH:mm Z")`, "2026-03-09 06:30 +00:00", "2026-03-09 01:30 -04:00"},
		{`DATETIME_FORMAT(DATEADD([When], 24, "hours"), "YYYY-MM-DD HH:mm Z")`, "2026-03-09 06:30 +00:00", "2026-03-09 02:30 -04:00"},
		{`DATETIME_FORMAT(DATEADD([When], 1, "months"), "YYYY-MM-DD HH:mm Z")`, "2026-04-08 06:30 +00:00", "2026-04-08 01:30 -04:00"},
		{`DATEADD([Day], 1, "days")`, date("2026-03-09"), date("2026-03-09")},
		{`DATETIME_FORMAT([When], "X")`, "1772951400", "1772951400"},
		{`DATETIME_PARSE("2026-03-08 12:00", "YYYY-MM-DD HH:mm")`, date("2026-03-08T12:00:00Z"), date("2026-03-08T16:00:00Z")},
		{`DATETIME_PARSE("2026-03-08 12:00 +00:00", "YYYY-MM-DD HH:mm Z")`, date("2026-03-08T12:00:00Z"), date("2026-03-08T12:00:00Z")},
		{`DATETIME_PARSE("2026-03-08T01:30")`, date("2026-03-08T01:30:00Z"), date("2026-03-08T06:30:00Z")},
		{`DATETIME_PARSE("08/03/2026", "DD/MM/YYYY")`, date("2026-03-08"), date("2026-03-08")},
		{`DATETIME_DIFF("2026-03-09", "2026-03-08", "days")`, 1.0, 1.0},
		{`DATETIME_DIFF("2026-03-09", "2026-03-08", "hours")`, 24.0, 23.0},
		{`DATETIME_DIFF("2026-03-09T05:00:00Z", "2026-03-08T06:00:00Z", "days")`, 0.0, 1.0},
		{`WORKDAY("2026-03-07T03:00:00Z", 0)`, date("2026-03-07"), date("2026-03-06")},
		{`WORKDAY_DIFF("2026-03-07T03:00:00Z", "2026-03-09")`, 1.0, 2.0},
		{`IS_SAME("2026-03-08T04:30:00Z", "2026-03-07", "day")`, false, true},
		{`IS_BEFORE("2026-03-08T04:30:00Z", "2026-03-08")`, false, true},
		{`IS_AFTER("2026-03-08T04:30:00", "2026-03-08T05:00:00Z")`, false, true},
		{`DATEDIFF("2026-03-09", "2026-03-08")`, 1.0, 1.0},
		{`HOUR("junk")`, "error", "error"},
	}
	run := func(src string, loc *time.Location) (any, error) {
		e, err := Parse(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		p, err := CompileInZone(e, env.bind, Limits{}, loc)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return p.Run(env)
	}
	for _, tc := range tests {
		for _, z := range []struct {
			loc  *time.Location
			want any
		}{{nil, tc.utc}, {ny, tc.inNY}} {
			got, err := run(tc.src, z.loc)
			switch w := z.want.(type) {
			case string:
				if w == "error" {
					if err == nil {
						t.Errorf("%s in %v = %#v, want an error", tc.src, z.loc, got)
					}
					continue
				}
			case time.Time:
				if g, ok := got.(time.Time); !ok || err != nil || !g.Equal(w) {
					t.Errorf("%s in %v = %v, %v; want %v", tc.src, z.loc, got, err, w)
				}
				continue
			}
			if err != nil || got != z.want {
				t.Errorf("%s in %v = %#v, %v; want %#v", tc.src, z.loc, got, err, z.want)
			}
		}
	}
}
