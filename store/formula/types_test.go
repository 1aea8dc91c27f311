package formula

import (
	"errors"
	"reflect"
	"testing"
)

// Arity and statically wrong argument types of the new functions are refused by Resolve, naming
// the function and the argument; column references are typed per row and never refused here.
func TestResolveArgumentTypes(t *testing.T) {
	tests := []struct {
		src  string
		want []Problem
	}{
		{`LEFT([Full Name])`, []Problem{{"LEFT", "LEFT expects 2 arguments, got 1"}}},
		{`DATEADD([Created Date], 1)`, []Problem{{"DATEADD", "DATEADD expects 3 arguments, got 2"}}},
		{`BLANK(1)`, []Problem{{"BLANK", "BLANK expects no arguments, got 1"}}},
		{`LEFT([Full Name], "two")`, []Problem{{"LEFT", "argument 2: expects a number, got text that is not a number"}}},
		{`REPT("x", TRUE)`, []Problem{{"REPT", "argument 2: expects a number, got TRUE/FALSE"}}},
		{`SQRT(NOW())`, []Problem{{"SQRT", "argument 1: expects a number, got a date"}}},
		{`DATEADD([Created Date], 1, "fortnights")`, []Problem{{"DATEADD", `argument 3: "fortnights" is not a date unit (milliseconds, seconds, minutes, hours, days, weeks, months, quarters, years)`}}},
		{`DATEADD("soon", 1, "days")`, []Problem{{"DATEADD", "argument 1: expects a date, got text that is not a date"}}},
		{`HOUR(LEN([Full Name]))`, []Problem{{"HOUR", "argument 1: expects a date, got a number"}}},
		{`DATETIME_DIFF(1, TODAY(), 5)`, []Problem{{"DATETIME_DIFF", "argument 1: expects a date, got a number"}, {"DATETIME_DIFF", "argument 3: expects a date unit, got a number"}}},
		{`REGEX_MATCH([Full Name], "(")`, []Problem{{"REGEX_MATCH", "argument 2: invalid regular expression: missing closing )"}}},
		{`REGEX_REPLACE([Full Name], 1 = 1, "x")`, []Problem{{"REGEX_REPLACE", "argument 2: expects a regular expression, got TRUE/FALSE"}}},
		{`SUM(1, "a", 2)`, []Problem{{"SUM", "argument 2: expects a number, got text that is not a number"}}},
		{`WORKDAY(TODAY(), "x") & LEFT(TRUE, 1)`, []Problem{{"WORKDAY", "argument 2: expects a number, got text that is not a number"}, {"LEFT", "argument 1: expects text, got TRUE/FALSE"}}},
	}
	for _, tc := range tests {
		_, err := Resolve(tc.src, panel, 0)
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("%s: %v, want a *Error", tc.src, err)
			continue
		}
		if !reflect.DeepEqual(fe.Problems, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.src, fe.Problems, tc.want)
		}
	}
	for _, src := range []string{
		`LEFT([Full Name], [Priority])`, `DATEADD([Created Date], [Priority], [Account Status])`, `REGEX_MATCH([Full Name], [Email Address])`,
		`DATEADD("2026-01-01", "3", "M")`, `WORKDAY_DIFF(TODAY(), DATEADD(TODAY(), 7, "d"), "2026-12-25")`, `SUM([Priority], 1 + 2)`,
		`DATETIME_FORMAT([Created Date] + 1, "YYYY")`, `IS_SAME(NOW(), [Created Date], "day")`, `ROUND("abc")`, `YEAR(1)`,
	} {
		if _, err := Resolve(src, panel, 0); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}
