package formula

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Dates are UTC unless the calculated column's properties name a time zone (properties.timeZone,
// an IANA name): then the date functions read and write wall-clock times in that zone
// (docs/formulas.md).

// ToTimeIn is ToTime with a date-only or zone-less date-time text read as a wall-clock time in
// loc (nil: UTC, as ToTime). A text with Z or an offset names its instant whatever loc is.
func ToTimeIn(v any, loc *time.Location) (time.Time, error) {
	s, isText := v.(string)
	if loc == nil || !isText {
		return ToTime(v)
	}
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return ToTime(v) // the same error
}

var (
	minDate = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDate = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)
)

func inRange(t time.Time) (any, error) {
	if t.Before(minDate) || t.After(maxDate) {
		return nil, evalErr("the date is out of range (years 1 to 9999)")
	}
	return t, nil
}

// unit is a normalised date unit; units maps Airtable's spellings and short forms to it.
type unit string

var units = map[string]unit{}

func init() {
	for u, spellings := range map[unit][]string{
		"ms": {"milliseconds", "millisecond", "ms"}, "s": {"seconds", "second", "s"},
		"m": {"minutes", "minute", "m"}, "h": {"hours", "hour", "h"}, "d": {"days", "day", "d"},
		"w": {"weeks", "week", "w"}, "M": {"months", "month", "M"}, "Q": {"quarters", "quarter", "Q"},
		"y": {"years", "year", "y"},
	} {
		for _, s := range spellings {
			units[s] = u
		}
	}
}

func parseUnit(s string) (unit, bool) {
	if u, ok := units[s]; ok { // "M" (months) and "m" (minutes) differ only in case
		return u, true
	}
	u, ok := units[strings.ToLower(s)]
	if ok && len(s) > 1 {
		return u, true
	}
	return "", false
}

var fixedUnits = map[unit]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": day, "w": 7 * day}

// unitCall compiles DATEADD, DATETIME_DIFF and IS_SAME, whose unit is read once when it is a
// literal (and refused at create time when it is not a unit).
func (c *compiler) unitCall(e *Call, args []evalFn) evalFn {
	at := 2
	var fixed unit
	if len(e.Args) > at {
		if s, ok := constString(e.Args[at]); ok {
			u, ok := parseUnit(s)
			if !ok {
				return c.fail(&Error{Problems: []Problem{{Ref: e.Name, Reason: "argument 3 (unit): not a date unit"}}})
			}
			fixed = u
		}
	} else if e.Name == "DATETIME_DIFF" {
		fixed = "s" // Airtable's default unit
	}
	name := e.Name
	return c.eager(args, func(v []any) (any, error) {
		u := fixed
		if u == "" && len(v) > at {
			if v[at] == nil && name != "IS_SAME" {
				return nil, nil
			}
			if v[at] != nil {
				var ok bool
				if u, ok = parseUnit(Text(v[at])); !ok {
					return nil, evalErr("%s: not a date unit", name)
				}
			}
		}
		if v[0] == nil || v[1] == nil {
			if name == "IS_SAME" {
				return false, nil
			}
			return nil, nil
		}
		a, err := ToTime(v[0])
		if err != nil {
			return nil, err
		}
		switch name {
		case "DATEADD":
			n, err := toNumber(v[1])
			if err != nil {
				return nil, err
			}
			return dateAdd(a, n, u)
		}
		b, err := ToTime(v[1])
		if err != nil {
			return nil, err
		}
		if name == "DATETIME_DIFF" {
			return dateDiff(a, b, u), nil
		}
		if u == "" {
			return a.Equal(b), nil
		}
		return truncUnit(a, u).Equal(truncUnit(b, u)), nil
	})
}

func dateAdd(t time.Time, n float64, u unit) (any, error) {
	if d, ok := fixedUnits[u]; ok {
		ms := n * float64(d/time.Millisecond)
		if math.Abs(ms) > 4e14 { // more than 12,000 years
			return nil, evalErr("the date is out of range (years 1 to 9999)")
		}
		// A time.Duration holds 292 years: whole days go through AddDate, the rest is a Duration.
		days := math.Trunc(ms / float64(day/time.Millisecond))
		rest := time.Duration(math.Round(ms-days*float64(day/time.Millisecond))) * time.Millisecond
		return inRange(t.AddDate(0, 0, int(days)).Add(rest))
	}
	months := n
	switch u {
	case "Q":
		months *= 3
	case "y":
		months *= 12
	}
	if math.Abs(months) > 120000 {
		return nil, evalErr("the date is out of range (years 1 to 9999)")
	}
	return inRange(addMonths(t, int(months)))
}

// addMonths moves t by n calendar months, keeping the day unless the month is shorter (31 January
// plus one month is 28 February, as in moment.js, not 3 March as time.AddDate gives).
func addMonths(t time.Time, n int) time.Time {
	first := time.Date(t.Year(), t.Month(), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC).AddDate(0, n, 0)
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(t.Day(), last)-1)
}

// dateDiff is a - b in whole units, truncated toward zero; months, quarters and years count
// calendar months, as moment.js (which Airtable uses) does.
func dateDiff(a, b time.Time, u unit) float64 {
	if d, ok := fixedUnits[u]; ok {
		// In milliseconds since 1970, which int64 holds for any year, unlike a.Sub's Duration.
		return math.Trunc(float64(a.UnixMilli()-b.UnixMilli()) / float64(d/time.Millisecond))
	}
	sign := 1.0
	if a.Before(b) {
		a, b, sign = b, a, -1
	}
	m := (a.Year()-b.Year())*12 + int(a.Month()-b.Month())
	if m > 0 && addMonths(b, m).After(a) {
		m--
	}
	switch u {
	case "Q":
		m /= 3
	case "y":
		m /= 12
	}
	return sign * float64(m)
}

func truncUnit(t time.Time, u unit) time.Time {
	t = t.UTC()
	switch u {
	case "y":
		return time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	case "Q":
		return time.Date(t.Year(), (t.Month()-1)/3*3+1, 1, 0, 0, 0, 0, time.UTC)
	case "M":
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	case "w":
		d := truncDay(t)
		return d.AddDate(0, 0, -int(d.Weekday()))
	}
	return t.Truncate(fixedUnits[u])
}

// dateArg reads a date argument; ok false means it was empty.
func dateArg(v any) (time.Time, bool, error) {
	if v == nil {
		return time.Time{}, false, nil
	}
	t, err := ToTime(v)
	return t.UTC(), err == nil, err
}

// startDay reads WEEKDAY's and WEEKNUM's optional first day of the week ("Sunday", the default,
// or "Monday").
func startDay(v []any) (time.Weekday, error) {
	if len(v) < 2 || v[1] == nil {
		return time.Sunday, nil
	}
	switch strings.ToLower(Text(v[1])) {
	case "sunday":
		return time.Sunday, nil
	case "monday":
		return time.Monday, nil
	}
	return 0, evalErr("the first day of the week must be \"Sunday\" or \"Monday\"")
}

var dateBuiltins = map[string]func([]any) (any, error){
	"HOUR":   datePart(func(t time.Time) int { return t.UTC().Hour() }),
	"MINUTE": datePart(func(t time.Time) int { return t.UTC().Minute() }),
	"SECOND": datePart(func(t time.Time) int { return t.UTC().Second() }),
	"WEEKDAY": func(v []any) (any, error) {
		t, ok, err := dateArg(v[0])
		if !ok {
			return nil, err
		}
		s, err := startDay(v)
		if err != nil {
			return nil, err
		}
		return float64((int(t.Weekday()) - int(s) + 7) % 7), nil
	},
	"WEEKNUM": func(v []any) (any, error) {
		t, ok, err := dateArg(v[0])
		if !ok {
			return nil, err
		}
		s, err := startDay(v)
		if err != nil {
			return nil, err
		}
		jan1 := time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		offset := (int(jan1.Weekday()) - int(s) + 7) % 7
		return float64((t.YearDay()-1+offset)/7 + 1), nil
	},
	"IS_BEFORE": compareDates(func(c int) bool { return c < 0 }),
	"IS_AFTER":  compareDates(func(c int) bool { return c > 0 }),
	"WORKDAY":   workday,
	"WORKDAY_DIFF": func(v []any) (any, error) {
		a, okA, err := dateArg(v[0])
		if err != nil {
			return nil, err
		}
		b, okB, err := dateArg(v[1])
		if !okA || !okB {
			return nil, err
		}
		hol, err := holidays(v)
		if err != nil {
			return nil, err
		}
		a, b = truncDay(a), truncDay(b)
		sign := 1.0
		if b.Before(a) {
			a, b, sign = b, a, -1
		}
		n := workdaysBetween(a, b)
		for h := range hol {
			if !h.Before(a) && !h.After(b) && isWorkday(h) {
				n--
			}
		}
		return sign * float64(n), nil
	},
}

func compareDates(ok func(int) bool) func([]any) (any, error) {
	return func(v []any) (any, error) {
		a, okA, err := dateArg(v[0])
		if err != nil {
			return nil, err
		}
		b, okB, err := dateArg(v[1])
		if err != nil {
			return nil, err
		}
		if !okA || !okB {
			return false, nil
		}
		return ok(a.Compare(b)), nil
	}
}

func isWorkday(t time.Time) bool { return t.Weekday() != time.Saturday && t.Weekday() != time.Sunday }

// workdaysBetween counts the weekdays from a to b, both included (a <= b, midnights), in
// constant time.
func workdaysBetween(a, b time.Time) int64 {
	days := (b.Unix()-a.Unix())/86400 + 1
	weeks, rest := days/7, days%7
	n := weeks * 5
	for i, wd := int64(0), a.Weekday(); i < rest; i, wd = i+1, (wd+1)%7 {
		if wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	return n
}

// maxHolidays bounds WORKDAY's holiday list, which is a comma-separated text of dates.
const maxHolidays = 1000

func holidays(v []any) (map[time.Time]bool, error) {
	out := map[time.Time]bool{}
	if len(v) < 3 || v[2] == nil {
		return out, nil
	}
	for i, s := range strings.Split(Text(v[2]), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if i >= maxHolidays {
			return nil, evalErr("at most %d holidays", maxHolidays)
		}
		t, err := ToTime(s)
		if err != nil {
			return nil, evalErr("a holiday is not a date")
		}
		out[truncDay(t.UTC())] = true
	}
	return out, nil
}

// workday is WORKDAY(start, n[, holidays]): the date n working days (Monday to Friday, not a
// holiday) after start (before it when n is negative), in time independent of n.
func workday(v []any) (any, error) {
	t, ok, err := dateArg(v[0])
	if !ok || v[1] == nil {
		return nil, err
	}
	n, err := wholeNumber(v[1], "the number of working days")
	if err != nil {
		return nil, err
	}
	if n > 3_000_000 || n < -3_000_000 {
		return nil, evalErr("the date is out of range (years 1 to 9999)")
	}
	hol, err := holidays(v)
	if err != nil {
		return nil, err
	}
	step := 1
	if n < 0 {
		step, n = -1, -n
	}
	d := truncDay(t)
	if n == 0 {
		return inRange(d)
	}
	// From a weekend, counting starts as from the nearest working day behind: from Saturday the
	// first working day forward is Monday, as from Friday.
	for !isWorkday(d) {
		d = d.AddDate(0, 0, -step)
	}
	t = d
	// Whole weeks first, then day by day for the rest and for each holiday skipped.
	weeks := n / 5
	d = d.AddDate(0, 0, int(weeks)*7*step)
	left := n - weeks*5
	skipped := 0
	for h := range hol {
		if isWorkday(h) && ((step > 0 && h.After(truncDay(t)) && !h.After(d)) || (step < 0 && h.Before(truncDay(t)) && !h.Before(d))) {
			skipped++
		}
	}
	left += int64(skipped)
	for left > 0 {
		d = d.AddDate(0, 0, step)
		if isWorkday(d) && !hol[d] {
			left--
		}
	}
	return inRange(d)
}

// Formats: Airtable's moment.js tokens. Anything else is copied; [text] is literal.
var formatTokens = []string{"YYYY", "MMMM", "dddd", "MMM", "ddd", "SSS", "YY", "MM", "Do", "DD", "HH", "hh", "mm", "ss", "ZZ", "M", "D", "H", "h", "A", "a", "Z", "X", "x"}

type fmtPart struct {
	tok, lit string
}

func parseFormat(f string) []fmtPart {
	var parts []fmtPart
	for len(f) > 0 {
		if f[0] == '[' {
			if end := strings.IndexByte(f, ']'); end > 0 {
				parts = append(parts, fmtPart{lit: f[1:end]})
				f = f[end+1:]
				continue
			}
		}
		matched := false
		for _, tok := range formatTokens {
			if strings.HasPrefix(f, tok) {
				parts = append(parts, fmtPart{tok: tok})
				f = f[len(tok):]
				matched = true
				break
			}
		}
		if !matched {
			parts = append(parts, fmtPart{lit: f[:1]})
			f = f[1:]
		}
	}
	return parts
}

// defaultDateFormat is DATETIME_FORMAT's format when none is given (ISO 8601, as Airtable).
const defaultDateFormat = "YYYY-MM-DDTHH:mm:ss.SSS[Z]"

func ordinal(n int) string {
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return strconv.Itoa(n) + suffix
}

func formatDate(t time.Time, parts []fmtPart) string { return formatDateIn(t.UTC(), parts) }

// formatDateIn writes t's wall clock in its own location (Z and ZZ give its offset).
func formatDateIn(t time.Time, parts []fmtPart) string {
	var b strings.Builder
	pad := func(n, w int) { s := strconv.Itoa(n); b.WriteString(strings.Repeat("0", max(0, w-len(s))) + s) }
	h12 := t.Hour() % 12
	if h12 == 0 {
		h12 = 12
	}
	for _, p := range parts {
		switch p.tok {
		case "":
			b.WriteString(p.lit)
		case "YYYY":
			pad(t.Year(), 4)
		case "YY":
			pad(t.Year()%100, 2)
		case "MMMM":
			b.WriteString(t.Month().String())
		case "MMM":
			b.WriteString(t.Month().String()[:3])
		case "MM":
			pad(int(t.Month()), 2)
		case "M":
			pad(int(t.Month()), 1)
		case "Do":
			b.WriteString(ordinal(t.Day()))
		case "DD":
			pad(t.Day(), 2)
		case "D":
			pad(t.Day(), 1)
		case "dddd":
			b.WriteString(t.Weekday().String())
		case "ddd":
			b.WriteString(t.Weekday().String()[:3])
		case "HH":
			pad(t.Hour(), 2)
		case "H":
			pad(t.Hour(), 1)
		case "hh":
			pad(h12, 2)
		case "h":
			pad(h12, 1)
		case "mm":
			pad(t.Minute(), 2)
		case "ss":
			pad(t.Second(), 2)
		case "SSS":
			pad(t.Nanosecond()/1e6, 3)
		case "A", "a":
			ampm := "AM"
			if t.Hour() >= 12 {
				ampm = "PM"
			}
			if p.tok == "a" {
				ampm = strings.ToLower(ampm)
			}
			b.WriteString(ampm)
		case "Z", "ZZ":
			_, off := t.Zone()
			sign := "+"
			if off < 0 {
				sign, off = "-", -off
			}
			b.WriteString(sign)
			pad(off/3600, 2)
			if p.tok == "Z" {
				b.WriteString(":")
			}
			pad(off/60%60, 2)
		case "X":
			b.WriteString(strconv.FormatInt(t.Unix(), 10))
		case "x":
			b.WriteString(strconv.FormatInt(t.UnixMilli(), 10))
		}
	}
	return b.String()
}

var monthNames = []string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}
var dayNames = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// parseDate reads s with the format parts; what the format does not give is January, the 1st,
// midnight, UTC.
func parseDate(s string, parts []fmtPart) (time.Time, error) {
	bad := evalErr("the text does not match the date format")
	year, month, dayN, hour, minute, sec, ms := 1970, 1, 1, 0, 0, 0, 0
	pm, hasAMPM := false, false
	offset := 0
	var unix *time.Time
	num := func(minD, maxD int) (int, bool) {
		i := 0
		for i < len(s) && i < maxD && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i < minD {
			return 0, false
		}
		n, _ := strconv.Atoi(s[:i])
		s = s[i:]
		return n, true
	}
	name := func(list []string, short bool) (int, bool) {
		low := strings.ToLower(s)
		for i, n := range list {
			if short {
				n = n[:3]
			}
			if strings.HasPrefix(low, n) {
				s = s[len(n):]
				return i, true
			}
		}
		return 0, false
	}
	var ok bool
	for _, p := range parts {
		switch p.tok {
		case "":
			if !strings.HasPrefix(s, p.lit) {
				return time.Time{}, bad
			}
			s = s[len(p.lit):]
			continue
		case "YYYY":
			year, ok = num(4, 4)
		case "YY":
			year, ok = num(2, 2)
			year += 2000
			if year > 2068 { // moment's pivot
				year -= 100
			}
		case "MMMM", "MMM":
			month, ok = name(monthNames, p.tok == "MMM")
			month++
		case "MM", "M":
			month, ok = num(len(p.tok), 2)
		case "Do":
			if dayN, ok = num(1, 2); ok {
				_, _ = name([]string{"st", "nd", "rd", "th"}, false)
			}
		case "DD", "D":
			dayN, ok = num(len(p.tok), 2)
		case "dddd", "ddd":
			_, ok = name(dayNames, p.tok == "ddd")
		case "HH", "H", "hh", "h":
			hour, ok = num(len(p.tok)%3, 2)
		case "mm":
			minute, ok = num(2, 2)
		case "ss":
			sec, ok = num(2, 2)
		case "SSS":
			ms, ok = num(3, 3)
		case "A", "a":
			low := strings.ToLower(s)
			hasAMPM, ok = true, strings.HasPrefix(low, "am") || strings.HasPrefix(low, "pm")
			if ok {
				pm = strings.HasPrefix(low, "pm")
				s = s[2:]
			}
		case "Z", "ZZ":
			if strings.HasPrefix(s, "Z") {
				s, ok = s[1:], true
				break
			}
			if len(s) == 0 || (s[0] != '+' && s[0] != '-') {
				return time.Time{}, bad
			}
			sign := 1
			if s[0] == '-' {
				sign = -1
			}
			s = s[1:]
			var hh, mm int
			if hh, ok = num(2, 2); ok {
				s = strings.TrimPrefix(s, ":")
				mm, ok = num(2, 2)
			}
			offset = sign * (hh*3600 + mm*60)
		case "X", "x":
			neg := strings.HasPrefix(s, "-")
			s = strings.TrimPrefix(s, "-")
			var n int
			if n, ok = num(1, 15); ok {
				if neg {
					n = -n
				}
				var t time.Time
				if p.tok == "X" {
					t = time.Unix(int64(n), 0).UTC()
				} else {
					t = time.UnixMilli(int64(n)).UTC()
				}
				unix = &t
			}
		}
		if !ok {
			return time.Time{}, bad
		}
	}
	if strings.TrimSpace(s) != "" {
		return time.Time{}, bad
	}
	if unix != nil {
		return *unix, nil
	}
	if hasAMPM {
		if hour < 1 || hour > 12 {
			return time.Time{}, bad
		}
		hour %= 12
		if pm {
			hour += 12
		}
	}
	t := time.Date(year, time.Month(month), dayN, hour, minute, sec, ms*1e6, time.UTC)
	if t.Day() != dayN || int(t.Month()) != month || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, bad // 31 February, 25 o'clock
	}
	return t.Add(-time.Duration(offset) * time.Second), nil
}

// formatCall compiles DATETIME_FORMAT and DATETIME_PARSE; a literal format is read once.
func (c *compiler) formatCall(e *Call, args []evalFn) evalFn {
	var fixed []fmtPart
	if len(e.Args) == 2 {
		if s, ok := constString(e.Args[1]); ok {
			fixed = parseFormat(s)
		}
	} else if e.Name == "DATETIME_FORMAT" {
		fixed = parseFormat(defaultDateFormat)
	}
	limit, name := c.maxText, e.Name
	return c.eager(args, func(v []any) (any, error) {
		if v[0] == nil {
			return nil, nil
		}
		parts := fixed
		if parts == nil && len(v) == 2 && v[1] != nil {
			f := Text(v[1])
			if len(f) > maxPattern {
				return nil, evalErr("%s: the format is longer than 1024 bytes", name)
			}
			parts = parseFormat(f)
		}
		if name == "DATETIME_PARSE" {
			if parts == nil {
				t, err := ToTime(v[0])
				if err != nil {
					return nil, err
				}
				return t.UTC(), nil
			}
			t, err := parseDate(strings.TrimSpace(Text(v[0])), parts)
			if err != nil {
				return nil, err
			}
			return inRange(t)
		}
		t, err := ToTime(v[0])
		if err != nil {
			return nil, err
		}
		if parts == nil {
			parts = parseFormat(defaultDateFormat)
		}
		out := formatDate(t, parts)
		if len(out) > limit {
			return nil, &TooLongError{Limit: limit}
		}
		return out, nil
	})
}

// Date functions in a time zone (CompileInZone). A date is a time at midnight UTC (FormatTime
// writes it as YYYY-MM-DD); any other time is an instant. In a zone the functions work on wall
// clocks there: an instant reads as its wall clock in the zone, a date, a date-only text and a
// zone-less text as that wall clock itself. They run the UTC implementation on the wall clock
// (held as UTC), and a date-time they compute (DATEADD, WORKDAY, DATETIME_PARSE without an
// offset) is that wall clock in the zone; a wall-clock midnight stays a date. So DATEADD by days
// keeps the time of day across a DST change, WEEKDAY and WORKDAY count the zone's days, and
// DATETIME_FORMAT's Z is the zone's offset. Units shorter than a day (DATETIME_DIFF in hours,
// DATEADD in minutes) measure elapsed time, as moment.js does.

// wall is t's wall clock in loc, held as UTC; a date stays itself.
func wall(t time.Time, loc *time.Location) time.Time {
	if u := t.UTC(); u.Equal(truncDay(u)) {
		return u
	}
	w := t.In(loc)
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), time.UTC)
}

// unwall is the instant of a wall clock (held as UTC) in loc; a midnight stays a date.
func unwall(w time.Time, loc *time.Location) time.Time {
	if w.Equal(truncDay(w)) {
		return w
	}
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc).UTC()
}

// wallArg reads a date argument as its wall clock in loc; anything that is not a date is left
// for the function to refuse as it does in UTC.
func wallArg(fn evalFn, loc *time.Location) evalFn {
	return func(env Env) (any, error) {
		v, err := fn(env)
		if err != nil || v == nil {
			return v, err
		}
		switch x := v.(type) {
		case time.Time:
			return wall(x, loc), nil
		case string:
			if t, err := ToTimeIn(x, loc); err == nil {
				return wall(t, loc), nil
			}
		}
		return v, nil
	}
}

// instantArg reads a date argument as an instant: a date is its midnight in loc, a zone-less
// text a wall clock there.
func instantArg(fn evalFn, loc *time.Location) evalFn {
	w := wallArg(fn, loc)
	return func(env Env) (any, error) {
		v, err := w(env)
		if t, isTime := v.(time.Time); isTime && err == nil {
			return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc).UTC(), nil
		}
		return v, err
	}
}

// zonedDates lists, per function, the arguments that are dates.
var zonedDates = map[string][]int{
	"HOUR": {0}, "MINUTE": {0}, "SECOND": {0}, "YEAR": {0}, "MONTH": {0}, "DAY": {0}, "WEEKDAY": {0}, "WEEKNUM": {0},
	"DATEADD": {0}, "IS_SAME": {0, 1}, "IS_BEFORE": {0, 1}, "IS_AFTER": {0, 1}, "WORKDAY": {0}, "WORKDAY_DIFF": {0, 1},
	"DATEDIFF": {0, 1}, "DATETIME_FORMAT": {0},
}

// zoned compiles a date function of a zoned column; nil for the functions a zone does not change.
func (c *compiler) zoned(e *Call, args []evalFn) evalFn {
	loc := c.loc
	switch e.Name {
	case "TODAY":
		return func(env Env) (any, error) {
			n := env.Now().In(loc)
			return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC), nil
		}
	case "NOW":
		return nil // an instant, whatever the zone
	case "DATETIME_DIFF":
		return c.zonedDiff(e, args)
	case "DATETIME_PARSE":
		inner := c.plainCall(e, args)
		var fixed []fmtPart
		if len(e.Args) == 2 {
			if s, ok := constString(e.Args[1]); ok {
				fixed = parseFormat(s)
			}
		}
		return func(env Env) (any, error) {
			if len(args) == 1 {
				v, err := args[0](env)
				if err != nil || v == nil {
					return v, err
				}
				t, err := ToTimeIn(v, loc)
				if err != nil {
					return nil, err
				}
				return unwall(wall(t, loc), loc), nil
			}
			v, err := inner(env)
			t, isTime := v.(time.Time)
			if err != nil || !isTime {
				return v, err
			}
			parts := fixed
			if parts == nil {
				f, _ := args[1](env)
				parts = parseFormat(Text(f))
			}
			for _, p := range parts {
				switch p.tok {
				case "Z", "ZZ", "X", "x":
					return t, nil // the text named its instant
				}
			}
			return inRange(unwall(t, loc))
		}
	}
	pos, ok := zonedDates[e.Name]
	if !ok {
		return nil
	}
	wrapped := slices.Clone(args)
	for _, i := range pos {
		if i < len(wrapped) {
			wrapped[i] = wallArg(args[i], loc)
		}
	}
	inner := c.plainCall(e, wrapped)
	switch e.Name {
	case "DATEADD":
		if u, ok := c.constUnit(e); ok && u != "d" && u != "w" && fixedUnits[u] != 0 {
			// Elapsed time: the instant, not its wall clock, moves.
			inst := slices.Clone(args)
			inst[0] = instantArg(args[0], loc)
			return c.plainCall(e, inst)
		}
		fallthrough
	case "WORKDAY":
		return func(env Env) (any, error) {
			v, err := inner(env)
			if t, isTime := v.(time.Time); isTime && err == nil {
				return inRange(unwall(t, loc))
			}
			return v, err
		}
	case "DATETIME_FORMAT":
		return c.zonedFormat(e, args)
	}
	return inner
}

// constUnit is a literal unit argument (the third) of DATEADD, DATETIME_DIFF and IS_SAME.
func (c *compiler) constUnit(e *Call) (unit, bool) {
	if len(e.Args) < 3 {
		return "", false
	}
	s, ok := constString(e.Args[2])
	if !ok {
		return "", false
	}
	return parseUnit(s)
}

// plainCall compiles a call as it compiles without a zone.
func (c *compiler) plainCall(e *Call, args []evalFn) evalFn {
	if fn := lazyCall(e.Name, args); fn != nil {
		return fn
	}
	if fn := c.extended(e, args); fn != nil {
		return fn
	}
	return c.eager(args, c.boundText(e.Name, builtins[e.Name]))
}

// zonedDiff is DATETIME_DIFF in a zone: days, weeks, months, quarters and years count wall-clock
// time (a 23-hour day is a day), shorter units elapsed time.
func (c *compiler) zonedDiff(e *Call, args []evalFn) evalFn {
	loc := c.loc
	walledArgs, instArgs := slices.Clone(args), slices.Clone(args)
	for i := range 2 {
		walledArgs[i], instArgs[i] = wallArg(args[i], loc), instantArg(args[i], loc)
	}
	walled, elapsed := c.plainCall(e, walledArgs), c.plainCall(e, instArgs)
	if u, ok := c.constUnit(e); ok {
		if fixedUnits[u] != 0 && u != "d" && u != "w" {
			return elapsed
		}
		return walled
	}
	if len(args) < 3 {
		return elapsed // seconds, Airtable's default unit
	}
	return func(env Env) (any, error) {
		uv, err := args[2](env)
		if err != nil {
			return nil, err
		}
		if u, ok := parseUnit(Text(uv)); ok && fixedUnits[u] != 0 && u != "d" && u != "w" {
			return elapsed(env)
		}
		return walled(env)
	}
}

// zonedFormat is DATETIME_FORMAT in a zone: the wall clock there, Z its offset, X and x the instant.
func (c *compiler) zonedFormat(e *Call, args []evalFn) evalFn {
	loc := c.loc
	var fixed []fmtPart
	if len(e.Args) == 2 {
		if s, ok := constString(e.Args[1]); ok {
			fixed = parseFormat(s)
		}
	} else {
		fixed = parseFormat(defaultDateFormat)
	}
	limit := c.maxText
	return c.eager(args, func(v []any) (any, error) {
		if v[0] == nil {
			return nil, nil
		}
		parts := fixed
		if parts == nil {
			if len(v) < 2 || v[1] == nil {
				parts = parseFormat(defaultDateFormat)
			} else {
				f := Text(v[1])
				if len(f) > maxPattern {
					return nil, evalErr("DATETIME_FORMAT: the format is longer than 1024 bytes")
				}
				parts = parseFormat(f)
			}
		}
		t, err := ToTimeIn(v[0], loc)
		if err != nil {
			return nil, err
		}
		if u := t.UTC(); u.Equal(truncDay(u)) { // a date: that day's midnight in the zone
			t = time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, loc)
		}
		out := formatDateIn(t.In(loc), parts)
		if len(out) > limit {
			return nil, &TooLongError{Limit: limit}
		}
		return out, nil
	})
}
