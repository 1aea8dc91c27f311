package rows

import (
	"errors"
	"strings"
	"testing"
)

// TestRowsCursorChecks: a rows position that cannot be one of the plan's never reaches SQL or
// the Go comparison: an empty key array must not panic, a non-numeric key must not reach SQL.
func TestRowsCursorChecks(t *testing.T) {
	sqlPlan := &Plan{sqlSort: true, sorts: []*sortKey{{typ: "number"}, {typ: "boolean"}, {typ: "text"}}}
	goPlan := &Plan{sorts: []*sortKey{{typ: "number"}}}
	pos := func(keys ...CursorKey) *Cursor {
		return &Cursor{Shape: "0123456789abcdef01234567", Generations: []int64{1, 2}, Keys: keys, Ord: 3}
	}
	q := func(v string) CursorKey { return CursorKey{Kind: "q", Value: v} }
	for _, tc := range []struct {
		name string
		plan *Plan
		c    *Cursor
		ok   bool
	}{
		{"no cursor", sqlPlan, nil, true},
		{"a genuine SQL position", sqlPlan, pos(q("-12.50"), q("true"), q("any text")), true},
		{"nulls", sqlPlan, pos(CursorKey{}, CursorKey{}, CursorKey{}), true},
		{"no keys", sqlPlan, pos(), false},
		{"too few keys", sqlPlan, pos(q("1"), q("true")), false},
		{"too many keys", sqlPlan, pos(q("1"), q("true"), q("x"), q("y")), false},
		{"a word for a number", sqlPlan, pos(q("abc"), q("true"), q("x")), false},
		{"an exponent", sqlPlan, pos(q("1e999999"), q("true"), q("x")), false},
		{"NaN", sqlPlan, pos(q("NaN"), q("true"), q("x")), false},
		{"a long fraction (float8 input takes any length)", sqlPlan, pos(q("1."+strings.Repeat("0", 16384)), q("true"), q("x")), true},
		{"float8's exponent form", sqlPlan, pos(q("-1.5e+300"), q("true"), q("x")), true},
		{"negative zero", sqlPlan, pos(q("-0"), q("true"), q("x")), true},
		{"the smallest double", sqlPlan, pos(q("5e-324"), q("true"), q("x")), true},
		{"a number float8 input refuses as too small", sqlPlan, pos(q("1e-400"), q("true"), q("x")), false},
		{"a number float8 input refuses as too large", sqlPlan, pos(q("1.8e+308"), q("true"), q("x")), false},
		{"Infinity", sqlPlan, pos(q("Infinity"), q("true"), q("x")), false},
		{"an exponent without its sign", sqlPlan, pos(q("1e5"), q("true"), q("x")), false},
		{"a word for a boolean", sqlPlan, pos(q("1"), q("yes"), q("x")), false},
		{"a NUL in a text", sqlPlan, pos(q("1"), q("true"), q("a\x00b")), false},
		{"invalid UTF-8", sqlPlan, pos(q("1"), q("true"), q("\xff")), false},
		{"a Go kind in SQL order", sqlPlan, pos(CursorKey{Kind: "n", Value: "1"}, q("true"), q("x")), false},
		{"a null with a value", sqlPlan, pos(CursorKey{Value: "1"}, q("true"), q("x")), false},
		{"an unknown kind", sqlPlan, pos(CursorKey{Kind: "z", Value: "1"}, q("true"), q("x")), false},
		{"a Go number", goPlan, pos(CursorKey{Kind: "n", Value: "1.5"}), true},
		{"a Go time", goPlan, pos(CursorKey{Kind: "t", Value: "2026-12-02T10:00:00Z"}), true},
		{"an SQL kind in Go order", goPlan, pos(q("1")), false},
		{"an infinite Go number", goPlan, pos(CursorKey{Kind: "n", Value: "1e999999"}), false},
		{"a Go NaN", goPlan, pos(CursorKey{Kind: "n", Value: "NaN"}), false},
		{"a Go time out of range", goPlan, pos(CursorKey{Kind: "t", Value: "0000-01-01T00:00:00Z"}), false},
		{"a bad Go boolean", goPlan, pos(CursorKey{Kind: "b", Value: "maybe"}), false},
		{"no shape", goPlan, &Cursor{Keys: []CursorKey{{}}}, false},
		{"a negative position", goPlan, &Cursor{Shape: "x", Keys: []CursorKey{{}}, Ord: -1}, false},
		{"a negative generation", goPlan, &Cursor{Shape: "x", Keys: []CursorKey{{}}, Generations: []int64{-1}}, false},
	} {
		err := tc.plan.checkCursor(tc.c)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrCursorInvalid)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
