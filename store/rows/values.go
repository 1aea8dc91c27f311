package rows

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/panels/panels/store/formula"
)

// Typed cell values. Every cell of a column holds one kind, chosen by the column's type:
//
//	text, select                 string
//	number                       float64
//	boolean                      bool
//	date, datetime               time.Time (dates at midnight UTC)
//	multi_select                 []string
//	user, file, custom           jsonValue (the JSON value as stored)
//
// A value that does not fit its column's type is a cell error: the cell is null and the error
// is counted for the column. The SQL the engine pushes down types values the same way (see
// sql.go), so a condition gives the same answer in SQL and here.

// jsonValue is a value of a column of free type: its JSON text (as PostgreSQL renders it) and the
// decoded value.
type jsonValue struct {
	text string
	v    any
}

// sqlTyped reports whether the engine can type a column's values in SQL: conditions and sorts
// on such base columns run in the database.
func sqlTyped(typ string) bool {
	switch typ {
	case "text", "select", "number", "boolean":
		return true
	}
	return false
}

// typeFromJSON types a stored JSON value (nil: absent) for a column of type typ.
func typeFromJSON(raw []byte, typ string) (any, error) { return typeFromJSONIn(raw, typ, nil) }

// typeFromJSONIn is typeFromJSON for a column whose dates read in loc (nil: no time zone).
func typeFromJSONIn(raw []byte, typ string, loc *time.Location) (any, error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	switch typ {
	case "text", "select":
		return textFromJSON(raw)
	case "number":
		return numberFromJSON(raw)
	case "boolean":
		return booleanFromJSON(raw)
	case "date", "datetime":
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return nil, fmt.Errorf("%s is not a date", clipText(string(raw)))
		}
		if s == "" {
			return nil, nil
		}
		return toTimeIn(s, typ, loc)
	case "multi_select":
		return listFromJSON(raw)
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return jsonValue{text: string(raw), v: v}, nil
}

// textFromJSON reads a string as itself and numbers, booleans, objects and arrays as their JSON text.
func textFromJSON(raw []byte) (any, error) {
	if raw[0] != '"' {
		return string(raw), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return s, nil
}

// numberFromJSON reads a JSON number, or a string holding one (an empty string is null).
func numberFromJSON(raw []byte) (any, error) {
	switch {
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		if f, ok := formula.ParseNumber(s); ok {
			return f, nil
		}
		if s == "" {
			return nil, nil
		}
		return nil, fmt.Errorf("%q is not a number", clipText(s))
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return nil, fmt.Errorf("%s is out of range", clipText(string(raw)))
		}
		return f, nil
	}
	return nil, fmt.Errorf("%s is not a number", clipText(string(raw)))
}

// booleanFromJSON reads true and false, as JSON or as strings in any case.
func booleanFromJSON(raw []byte) (any, error) {
	switch string(raw) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			switch strings.ToLower(s) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		}
	}
	return nil, fmt.Errorf("%s is not true or false", clipText(string(raw)))
}

// listFromJSON reads an array as its elements' texts (nulls dropped) and any other value as a
// list of its text.
func listFromJSON(raw []byte) (any, error) {
	if raw[0] != '[' {
		v, err := typeFromJSON(raw, "text")
		if err != nil || v == nil {
			return nil, err
		}
		return []string{v.(string)}, nil
	}
	var list []any
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		b, _ := json.Marshal(e)
		v, err := typeFromJSON(b, "text")
		if err != nil {
			return nil, err
		}
		if v != nil {
			out = append(out, v.(string))
		}
	}
	return out, nil
}

// toTimeIn types a date or date-time for a column of type typ whose time zone is loc. Without a
// zone a date is the date as written (a date-time's own date, whatever its offset) and a
// zone-less text is UTC, as before time zones. With one, a date-only or zone-less text is a
// wall-clock time in loc, and a date column holds the date in loc of the instant.
func toTimeIn(v any, typ string, loc *time.Location) (any, error) {
	t, err := formula.ToTimeIn(v, loc)
	if err != nil {
		return nil, err
	}
	if x, isTime := v.(time.Time); isTime && loc != nil && x.Equal(time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC)) {
		// A formula's date (a time at midnight UTC, such as TODAY() in the zone): that day.
		t = time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, loc)
	}
	if typ == "date" {
		if loc != nil {
			t = t.In(loc)
		}
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
	}
	return t.UTC(), nil
}

// typeFromFormulaIn types a calculated column's result for its column type, whose dates read in
// loc (nil: no zone).
func typeFromFormulaIn(v any, typ string, loc *time.Location) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "text", "select":
		return formula.Text(v), nil
	case "number":
		switch x := v.(type) {
		case float64:
			return x, nil
		case string:
			if f, ok := formula.ParseNumber(x); ok {
				return f, nil
			}
		}
		return nil, fmt.Errorf("the result %q is not a number", clipText(formula.Text(v)))
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(x) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		}
		return nil, fmt.Errorf("the result %q is not true or false", clipText(formula.Text(v)))
	case "date", "datetime":
		return toTimeIn(v, typ, loc)
	case "multi_select":
		return []string{formula.Text(v)}, nil
	}
	if t, ok := v.(time.Time); ok {
		s := formula.FormatTime(t)
		b, _ := json.Marshal(s)
		return jsonValue{text: string(b), v: s}, nil
	}
	b, _ := json.Marshal(v)
	return jsonValue{text: string(b), v: v}, nil
}

// forFormula is what a formula sees of a typed cell.
func forFormula(v any) any {
	switch x := v.(type) {
	case []string:
		return strings.Join(x, ", ")
	case jsonValue:
		switch y := x.v.(type) {
		case string:
			return y
		case json.Number:
			f, _ := y.Float64()
			return f
		case bool:
			return y
		case nil:
			return nil
		}
		return x.text
	}
	return v
}

// toOutput is the JSON value of a typed cell in a rows answer.
func toOutput(v any, typ string) any {
	switch x := v.(type) {
	case time.Time:
		if typ == "date" {
			return x.Format(time.DateOnly)
		}
		return x.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	case jsonValue:
		return x.v
	}
	return v
}

// cellText renders a typed cell for CSV and for text operators on non-text columns.
func cellText(v any, typ string) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []string:
		return strings.Join(x, ", ")
	case jsonValue:
		if s, ok := x.v.(string); ok {
			return s
		}
		return x.text
	case time.Time:
		return toOutput(x, typ).(string)
	}
	return formula.Text(v)
}

// operand is a condition's value converted to the kind of the column it is compared with.
// ok is false when the value cannot be converted: no cell equals it.
type operand struct {
	v  any
	ok bool
}

// coerce converts a filter or cohort value to the comparison kind of typ.
func coerce(value any, typ string) operand { return coerceIn(value, typ, nil) }

// coerceIn is coerce for a column whose dates read in loc (nil: no time zone).
func coerceIn(value any, typ string, loc *time.Location) operand {
	if n, isNum := value.(json.Number); isNum {
		if f, err := n.Float64(); err == nil && typ == "number" {
			return operand{f, true}
		}
		value = n.String()
		if typ == "number" {
			return operand{}
		}
	}
	switch typ {
	case "number":
		switch x := value.(type) {
		case float64:
			return operand{x, true}
		case int:
			return operand{float64(x), true}
		case int64:
			return operand{float64(x), true}
		case string:
			if f, ok := formula.ParseNumber(x); ok {
				return operand{f, true}
			}
		}
		return operand{}
	case "boolean":
		switch x := value.(type) {
		case bool:
			return operand{x, true}
		case string:
			switch strings.ToLower(x) {
			case "true":
				return operand{true, true}
			case "false":
				return operand{false, true}
			}
		}
		return operand{}
	case "date", "datetime":
		t, err := toTimeIn(value, typ, loc)
		if err != nil {
			return operand{}
		}
		return operand{t, true}
	}
	switch x := value.(type) {
	case string:
		return operand{x, true}
	case nil:
		return operand{}
	}
	return operand{formula.Text(value), true}
}

// compareCells orders two non-null cells of one kind. Texts compare byte-wise (as PostgreSQL's
// "C" collation does), false sorts before true.
func compareCells(a, b any, typ string) int {
	switch x := a.(type) {
	case float64:
		y, _ := b.(float64)
		return cmp.Compare(x, y)
	case string:
		y, _ := b.(string)
		return strings.Compare(x, y)
	case bool:
		y, _ := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case time.Time:
		y, _ := b.(time.Time)
		return x.Compare(y)
	}
	return strings.Compare(cellText(a, typ), cellText(b, typ))
}

// matches applies one condition to a typed cell (Go side of the filter semantics).
func (c *condition) matches(cell any) bool {
	switch c.op {
	case "isEmpty":
		return blank(cell)
	case "isNotEmpty":
		return !blank(cell)
	case "notContains":
		return !c.positive(cell)
	case "search":
		return cell != nil && strings.Contains(strings.ToLower(cellText(cell, c.typ)), strings.ToLower(c.operands[0].v.(string)))
	case "containsAny", "containsAll":
		return c.containsSome(cell)
	case "isWithin", "before", "after", "onOrBefore", "onOrAfter":
		t, isTime := cell.(time.Time)
		return isTime && c.dateOK && matchesDate(c.op, t, c.start, c.end)
	case "isNull":
		if l, ok := cell.([]string); ok {
			return len(l) == 0
		}
		return cell == nil
	case "isNotNull":
		if l, ok := cell.([]string); ok {
			return len(l) > 0
		}
		return cell != nil
	case "ne", "notIn":
		return !c.positive(cell)
	}
	return c.positive(cell)
}

// positive evaluates eq, in and the ordering and text operators; ne and notIn negate eq and in.
func (c *condition) positive(cell any) bool {
	if cell == nil {
		return false
	}
	if list, ok := cell.([]string); ok {
		return slices.ContainsFunc(list, func(s string) bool { return c.positive(s) })
	}
	switch c.op {
	case "contains", "startsWith", "endsWith", "notContains":
		if !c.operands[0].ok {
			return false
		}
		text := strings.ToLower(cellText(cell, c.typ))
		needle := strings.ToLower(c.operands[0].v.(string))
		switch c.op {
		case "contains", "notContains":
			return strings.Contains(text, needle)
		case "startsWith":
			return strings.HasPrefix(text, needle)
		}
		return strings.HasSuffix(text, needle)
	case "eq", "ne", "in", "notIn":
		for _, o := range c.operands {
			if o.ok && kindMatches(cell, o.v) && compareCells(cell, o.v, c.typ) == 0 {
				return true
			}
		}
		return false
	case "between":
		lo, hi := c.operands[0], c.operands[1]
		return lo.ok && hi.ok && kindMatches(cell, lo.v) && kindMatches(cell, hi.v) &&
			compareCells(cell, lo.v, c.typ) >= 0 && compareCells(cell, hi.v, c.typ) <= 0
	}
	o := c.operands[0]
	if !o.ok || !kindMatches(cell, o.v) {
		return false
	}
	cmp := compareCells(cell, o.v, c.typ)
	switch c.op {
	case "gt":
		return cmp > 0
	case "gte":
		return cmp >= 0
	case "lt":
		return cmp < 0
	case "lte":
		return cmp <= 0
	}
	return false
}

// containsSome is containsAny and containsAll, case-insensitive: on a text, each value is a
// substring; on a list, each value is one of its items.
func (c *condition) containsSome(cell any) bool {
	if blank(cell) || len(c.operands) == 0 {
		return false
	}
	list, isList := cell.([]string)
	text := strings.ToLower(cellText(cell, c.typ))
	for _, o := range c.operands {
		needle := strings.ToLower(o.v.(string))
		var found bool
		if isList {
			found = slices.ContainsFunc(list, func(s string) bool { return strings.ToLower(s) == needle })
		} else {
			found = strings.Contains(text, needle)
		}
		if found == (c.op == "containsAny") {
			return found
		}
	}
	return c.op == "containsAll"
}

// kindMatches reports whether a cell and an operand are of one kind (texts compare with the
// text rendering of free-typed cells).
func kindMatches(cell, op any) bool {
	switch cell.(type) {
	case float64:
		_, ok := op.(float64)
		return ok
	case bool:
		_, ok := op.(bool)
		return ok
	case time.Time:
		_, ok := op.(time.Time)
		return ok
	case string, jsonValue:
		_, ok := op.(string)
		return ok
	}
	return false
}

func clipText(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// errDetached and errNotAPath are the cell errors of base columns that cannot be read.
var (
	errDetached = errors.New("the column's data source was deleted")
	errNotAPath = errors.New("the source field is not a dotted path")
)

// Relative date modes of isWithin, before, after, onOrBefore and onOrAfter. The NumberOfDays modes
// take a number of days.
var dateModes = map[string]bool{
	"today": true, "tomorrow": true, "yesterday": true, "pastWeek": true, "pastMonth": true, "pastYear": true,
	"nextWeek": true, "nextMonth": true, "nextYear": true, "pastNumberOfDays": true, "nextNumberOfDays": true,
}

// MaxRelativeDays bounds the number of days of pastNumberOfDays and nextNumberOfDays.
const MaxRelativeDays = 36600

// DateOperator reports whether op compares dates with a DateSpec value.
func DateOperator(op string) bool {
	switch op {
	case "isWithin", "before", "after", "onOrBefore", "onOrAfter":
		return true
	}
	return false
}

// DateSpec is the value of a date operator: a relative Mode (with Days), or an exact date or
// date-time (Exact, as given).
type DateSpec struct {
	Mode  string
	Days  int
	Exact string
}

// ParseDateSpec reads a date operator's value: a mode name, {"mode": m, "numberOfDays": n}, or
// (not for isWithin) an exact date or date-time text.
func ParseDateSpec(op string, value any) (DateSpec, error) {
	var spec DateSpec
	switch v := value.(type) {
	case string:
		if dateModes[v] {
			spec.Mode = v
			break
		}
		if op == "isWithin" {
			return spec, fmt.Errorf("isWithin needs a mode (today, pastWeek, pastNumberOfDays, ...), not %q", clipText(v))
		}
		if _, err := formula.ToTime(v); err != nil {
			return spec, fmt.Errorf("%s needs a date, a date-time or a relative mode, not %q", op, clipText(v))
		}
		spec.Exact = v
		return spec, nil
	case map[string]any:
		for k := range v {
			if k != "mode" && k != "numberOfDays" {
				return spec, fmt.Errorf("%s: unknown key %q (mode and numberOfDays only)", op, clipText(k))
			}
		}
		m, _ := v["mode"].(string)
		if !dateModes[m] {
			return spec, fmt.Errorf("%s needs a known mode", op)
		}
		spec.Mode = m
		if n, ok := v["numberOfDays"]; ok {
			if m != "pastNumberOfDays" && m != "nextNumberOfDays" {
				return spec, fmt.Errorf("%s: only pastNumberOfDays and nextNumberOfDays take numberOfDays", op)
			}
			o := coerce(n, "number")
			f, isNum := o.v.(float64)
			if _, isText := n.(string); isText || !o.ok || !isNum || f != float64(int(f)) || f < 0 || f > MaxRelativeDays {
				return spec, fmt.Errorf("%s: numberOfDays must be a whole number from 0 to %d", op, MaxRelativeDays)
			}
			spec.Days = int(f)
		}
	default:
		return spec, fmt.Errorf("%s needs a date or a relative mode", op)
	}
	if (spec.Mode == "pastNumberOfDays" || spec.Mode == "nextNumberOfDays") && value.(map[string]any)["numberOfDays"] == nil {
		return spec, fmt.Errorf("%s: %s needs numberOfDays", op, spec.Mode)
	}
	return spec, nil
}

// spanIn is the range [start, end) a DateSpec names at now for a column of type typ whose time
// zone is loc (nil: UTC). The day boundaries are midnights
// in loc, so a day across a DST change lasts 23 or 25 hours; on a date column (whose cells are
// dates, held as midnight UTC) only "today" depends on the zone.
func (d DateSpec) spanIn(now time.Time, typ string, loc *time.Location) (start, end time.Time, ok bool) {
	if d.Exact != "" {
		o := coerceIn(d.Exact, typ, loc)
		t, isTime := o.v.(time.Time)
		if !o.ok || !isTime {
			return start, end, false
		}
		// A date-only value (or any value on a date column) is the whole day; a date-time is an instant.
		if typ == "date" || len(d.Exact) == len(time.DateOnly) {
			if typ != "date" && loc != nil {
				return t, t.In(loc).AddDate(0, 0, 1).UTC(), true
			}
			return t, t.AddDate(0, 0, 1), true
		}
		return t, t.Add(time.Nanosecond), true
	}
	now = now.UTC()
	dayLoc := time.UTC
	if loc != nil {
		now = now.In(loc)
		if typ != "date" {
			dayLoc = loc
		}
	}
	d0 := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, dayLoc)
	day := func(n int) time.Time { return d0.AddDate(0, 0, n) }
	switch d.Mode {
	case "today":
		return d0, day(1), true
	case "tomorrow":
		return day(1), day(2), true
	case "yesterday":
		return day(-1), d0, true
	case "pastWeek":
		return day(-7), day(1), true
	case "pastMonth":
		return d0.AddDate(0, -1, 0), day(1), true
	case "pastYear":
		return d0.AddDate(-1, 0, 0), day(1), true
	case "nextWeek":
		return d0, day(8), true
	case "nextMonth":
		return d0, d0.AddDate(0, 1, 1), true
	case "nextYear":
		return d0, d0.AddDate(1, 0, 1), true
	case "pastNumberOfDays":
		return day(-d.Days), day(1), true
	case "nextNumberOfDays":
		return d0, day(d.Days + 1), true
	}
	return start, end, false
}

// matchesDate applies a date operator on its range [start, end): isWithin is inside it, before
// ends before it, after starts after it, onOrBefore before its end, onOrAfter from its start.
func matchesDate(op string, t, start, end time.Time) bool {
	switch op {
	case "isWithin":
		return !t.Before(start) && t.Before(end)
	case "before":
		return t.Before(start)
	case "after":
		return !t.Before(end)
	case "onOrBefore":
		return t.Before(end)
	case "onOrAfter":
		return !t.Before(start)
	}
	return false
}

// blank is a cell isEmpty matches: null, an empty text or an empty list.
func blank(cell any) bool {
	switch x := cell.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []string:
		return len(x) == 0
	case jsonValue:
		s, isText := x.v.(string)
		return x.v == nil || isText && s == ""
	}
	return false
}
