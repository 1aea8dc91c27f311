package formula

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// legacyFunctions are the functions that predate issue 15; their behaviour is pinned by
// TestEvalValues and TestEvalErrors too.
var legacyFunctions = map[string]bool{"IF": true, "AND": true, "OR": true, "NOT": true, "CONCAT": true, "LEN": true,
	"UPPER": true, "LOWER": true, "TRIM": true, "ROUND": true, "ABS": true, "MIN": true, "MAX": true, "COALESCE": true,
	"NOW": true, "TODAY": true, "DATEDIFF": true, "YEAR": true, "MONTH": true, "DAY": true}

type funcCase struct {
	src  string
	want any    // the value, when err is ""
	err  string // a substring of the error, or "" for a value
}

func v(src string, want any) funcCase { return funcCase{src: src, want: want} }
func fail(src, err string) funcCase   { return funcCase{src: src, err: err} }
func tm(s string) time.Time           { return date(s) }

var funcNow = time.Date(2026, 11, 26, 15, 30, 45, 123e6, time.UTC)

func funcEnv() *rowEnv {
	return &rowEnv{
		names:  []string{"Empty", "Text", "Num", "Neg", "When", "Day", "Flag", "NumText", "Nul", "Broken"},
		values: []any{nil, "Hello World", 42.5, -7.0, funcNow, tm("2026-11-27"), true, "12", "a\x00b", nil},
		errs:   map[int]error{9: &evalError{Msg: "upstream failed"}},
		now:    funcNow,
	}
}

// funcCases has at least 3 cases for every function of Functions (TestEveryFunctionHasCases),
// with blanks and wrong types among them.
var funcCases = map[string][]funcCase{
	"IF":       {v(`IF([Flag], "y", "n")`, "y"), v(`IF([Empty], 1, 2)`, 2.0), fail(`IF([Text], 1)`, "not TRUE or FALSE")},
	"AND":      {v(`AND(TRUE, [Flag])`, true), v(`AND([Empty])`, false), fail(`AND([Text])`, "not TRUE or FALSE")},
	"OR":       {v(`OR(FALSE, [Flag])`, true), v(`OR([Empty], FALSE)`, false), fail(`OR([Text])`, "not TRUE or FALSE")},
	"NOT":      {v(`NOT(TRUE)`, false), v(`NOT([Empty])`, true), fail(`NOT([Text])`, "not TRUE or FALSE")},
	"CONCAT":   {v(`CONCAT("a", 1, TRUE)`, "a1true"), v(`CONCAT([Empty], "x")`, "x"), v(`CONCAT([Day])`, "2026-11-27")},
	"LEN":      {v(`LEN("héllo")`, 5.0), v(`LEN([Empty])`, 0.0), v(`LEN([Num])`, 4.0)},
	"UPPER":    {v(`UPPER("abc")`, "ABC"), v(`UPPER([Empty])`, nil), v(`UPPER([Num])`, "42.5")},
	"LOWER":    {v(`LOWER("ÀB")`, "àb"), v(`LOWER([Empty])`, nil), v(`LOWER([Flag])`, "true")},
	"TRIM":     {v(`TRIM("  x ")`, "x"), v(`TRIM([Empty])`, nil), v(`TRIM([Num])`, "42.5")},
	"ROUND":    {v(`ROUND(2.5)`, 3.0), v(`ROUND([Empty])`, nil), fail(`ROUND([Text])`, "not a number")},
	"ABS":      {v(`ABS(-4)`, 4.0), v(`ABS([Empty])`, nil), fail(`ABS([Text])`, "not a number")},
	"MIN":      {v(`MIN(3, [Empty], 1)`, 1.0), v(`MIN([Empty])`, nil), fail(`MIN([Text])`, "not a number")},
	"MAX":      {v(`MAX(3, [Empty], 1)`, 3.0), v(`MAX([Empty])`, nil), fail(`MAX([Text])`, "not a number")},
	"COALESCE": {v(`COALESCE([Empty], 2)`, 2.0), v(`COALESCE([Empty])`, nil), fail(`COALESCE([Empty], 1 / 0)`, "division by zero")},
	"NOW":      {v(`NOW()`, funcNow), v(`NOW() = [When]`, true), v(`YEAR(NOW())`, 2026.0)},
	"TODAY":    {v(`TODAY()`, tm("2026-11-26")), v(`TODAY() < [When]`, true), v(`DATEDIFF([Day], TODAY())`, 1.0)},
	"DATEDIFF": {v(`DATEDIFF("2026-01-11", "2026-01-01")`, 10.0), v(`DATEDIFF([Empty], [Day])`, nil), fail(`DATEDIFF([Text], [Day])`, "not a date")},
	"YEAR":     {v(`YEAR([Day])`, 2026.0), v(`YEAR([Empty])`, nil), fail(`YEAR([Text])`, "not a date")},
	"MONTH":    {v(`MONTH([Day])`, 11.0), v(`MONTH([Empty])`, nil), fail(`MONTH([Text])`, "not a date")},
	"DAY":      {v(`DAY([Day])`, 27.0), v(`DAY([Empty])`, nil), fail(`DAY([Text])`, "not a date")},

	"CONCATENATE": {v(`CONCATENATE("a", [Num])`, "a42.5"), v(`CONCATENATE([Empty])`, ""), v(`CONCATENATE([Flag], "!")`, "true!")},
	"LEFT":        {v(`LEFT([Text], 5)`, "Hello"), v(`LEFT("héllo", 2)`, "hé"), v(`LEFT("ab", 10)`, "ab"), v(`LEFT([Empty], 2)`, nil), fail(`LEFT([Text], -1)`, "negative"), fail(`LEFT([Text], [Text])`, "not a number")},
	"RIGHT":       {v(`RIGHT([Text], 5)`, "World"), v(`RIGHT([Empty], 1)`, nil), v(`RIGHT([Num], [Empty])`, ""), fail(`RIGHT([Text], [Text])`, "not a number")},
	"MID":         {v(`MID([Text], 7, 3)`, "Wor"), v(`MID("abc", 3, 10)`, "c"), v(`MID([Empty], 1, 1)`, nil), fail(`MID([Text], 0, 1)`, "MID start")},
	"FIND":        {v(`FIND("o", [Text])`, 5.0), v(`FIND("o", [Text], 6)`, 8.0), v(`FIND("O", [Text])`, 0.0), v(`FIND([Empty], [Text])`, 0.0), v(`FIND("o", [Empty])`, 0.0), v(`FIND("l", "héllo")`, 3.0), fail(`FIND("o", [Text], [Text])`, "not a number")},
	"SEARCH":      {v(`SEARCH("WORLD", [Text])`, 7.0), v(`SEARCH("z", [Text])`, nil), v(`SEARCH("o", [Empty])`, nil), fail(`SEARCH("o", [Text], 0)`, "start position")},
	"SUBSTITUTE":  {v(`SUBSTITUTE([Text], "o", "0")`, "Hell0 W0rld"), v(`SUBSTITUTE([Text], "o", "0", 2)`, "Hello W0rld"), v(`SUBSTITUTE([Text], "o", "0", 3)`, "Hello World"), v(`SUBSTITUTE([Empty], "a", "b")`, nil), fail(`SUBSTITUTE([Text], "o", "0", 0)`, "index")},
	"REPLACE":     {v(`REPLACE([Text], 1, 5, "Bye")`, "Bye World"), v(`REPLACE("abc", 10, 1, "x")`, "abcx"), v(`REPLACE([Empty], 1, 1, "x")`, nil), fail(`REPLACE([Text], 0, 1, "x")`, "REPLACE start")},
	"REPT":        {v(`REPT("ab", 3)`, "ababab"), v(`REPT("x", 0)`, ""), v(`REPT([Empty], 3)`, nil), fail(`REPT("x", -1)`, "negative"), fail(`REPT("x", [Text])`, "not a number")},
	"T":           {v(`T([Text])`, "Hello World"), v(`T([Num])`, nil), v(`T([Empty])`, nil), v(`T([Flag])`, nil)},
	"VALUE":       {v(`VALUE("$1,200.50")`, 1200.5), v(`VALUE("50%")`, 0.5), v(`VALUE([NumText])`, 12.0), v(`VALUE([Empty])`, nil), fail(`VALUE([Text])`, "not a number")},
	"REGEX_MATCH": {v(`REGEX_MATCH([Text], "^H.*d$")`, true), v(`REGEX_MATCH([Text], "^h")`, false), v(`REGEX_MATCH([Empty], "x")`, false), v(`REGEX_MATCH([Text], [Text])`, true), fail(`REGEX_MATCH([Text], [Empty])`, "pattern is empty")},
	"REGEX_EXTRACT": {v(`REGEX_EXTRACT([Text], "W\\w+")`, "World"), v(`REGEX_EXTRACT([Text], "\\d+")`, nil), v(`REGEX_EXTRACT([Empty], "x")`, nil),
		fail(`REGEX_EXTRACT([Text], "(" & [Empty])`, "invalid regular expression")},
	"REGEX_REPLACE": {v(`REGEX_REPLACE([Text], "o", "0")`, "Hell0 W0rld"), v(`REGEX_REPLACE([Text], "(\\w+) (\\w+)", "$2 $1")`, "World Hello"), v(`REGEX_REPLACE([Empty], "o", "0")`, nil),
		fail(`REGEX_REPLACE([Text], [Empty], "x")`, "pattern is empty")},

	"SWITCH": {v(`SWITCH([Num], 1, "one", 42.5, "answer", "other")`, "answer"), v(`SWITCH([Text], "x", 1, 0)`, 0.0), v(`SWITCH([Empty], BLANK(), "blank", "no")`, "blank"),
		v(`SWITCH("a", "b", 1)`, nil), fail(`SWITCH([Text], 1 / 0, 1)`, "division by zero")},
	"XOR":     {v(`XOR(TRUE, FALSE)`, true), v(`XOR(TRUE, [Flag])`, false), v(`XOR([Empty])`, false), fail(`XOR([Text])`, "not TRUE or FALSE")},
	"BLANK":   {v(`BLANK()`, nil), v(`BLANK() = [Empty]`, true), v(`IF(TRUE, BLANK(), 1)`, nil)},
	"ERROR":   {fail(`ERROR()`, "ERROR()"), v(`ISERROR(ERROR())`, true), v(`IF(FALSE, ERROR(), 1)`, 1.0), fail(`ERROR() & "x"`, "ERROR()")},
	"ISERROR": {v(`ISERROR(1 / 0)`, true), v(`ISERROR([Num])`, false), v(`ISERROR([Empty])`, false), v(`ISERROR(VALUE([Text]))`, true), v(`ISERROR([Broken])`, true)},

	"ROUNDUP":   {v(`ROUNDUP(1.21, 1)`, 1.3), v(`ROUNDUP(-1.21, 1)`, -1.3), v(`ROUNDUP(1.2, 1)`, 1.2), v(`ROUNDUP([Empty], 1)`, nil), fail(`ROUNDUP([Text], 1)`, "not a number")},
	"ROUNDDOWN": {v(`ROUNDDOWN(1.29, 1)`, 1.2), v(`ROUNDDOWN(-1.29, 1)`, -1.2), v(`ROUNDDOWN(1234, -2)`, 1200.0), v(`ROUNDDOWN([Empty], 1)`, nil), fail(`ROUNDDOWN(1, 99)`, "precision")},
	"CEILING":   {v(`CEILING(4.1)`, 5.0), v(`CEILING(7, 5)`, 10.0), v(`CEILING([Empty])`, nil), fail(`CEILING([Text])`, "not a number")},
	"FLOOR":     {v(`FLOOR(4.9)`, 4.0), v(`FLOOR(7, 5)`, 5.0), v(`FLOOR(-4.1)`, -5.0), v(`FLOOR([Empty])`, nil), fail(`FLOOR([Text])`, "not a number")},
	"INT":       {v(`INT(4.9)`, 4.0), v(`INT(-4.1)`, -5.0), v(`INT([Empty])`, nil), fail(`INT([Text])`, "not a number")},
	"MOD":       {v(`MOD(7, 3)`, 1.0), v(`MOD(-7, 3)`, 2.0), v(`MOD([Empty], 2)`, nil), fail(`MOD(7, 0)`, "division by zero")},
	"POWER":     {v(`POWER(2, 10)`, 1024.0), v(`POWER([Empty], 2)`, nil), fail(`POWER(10, 400)`, "out of range"), fail(`POWER([Text], 2)`, "not a number")},
	"SQRT":      {v(`SQRT(16)`, 4.0), v(`SQRT([Empty])`, nil), fail(`SQRT(-1)`, "negative"), fail(`SQRT([Text])`, "not a number")},
	"EXP":       {v(`EXP(0)`, 1.0), v(`EXP([Empty])`, nil), fail(`EXP(1000)`, "out of range")},
	"LOG":       {v(`LOG(1000)`, 3.0), v(`LOG(8, 2)`, 3.0), v(`LOG([Empty])`, nil), fail(`LOG(0)`, "positive")},
	"SUM":       {v(`SUM(1, 2, [Empty], "3")`, 6.0), v(`SUM([Empty])`, 0.0), fail(`SUM([Text])`, "not a number")},
	"AVERAGE":   {v(`AVERAGE(1, 2, [Empty])`, 1.5), v(`AVERAGE([Empty])`, nil), fail(`AVERAGE([Text], 1)`, "not a number")},
	"COUNT":     {v(`COUNT(1, [Text], [Empty], [Num])`, 2.0), v(`COUNT([Empty])`, 0.0), v(`COUNT("1")`, 0.0)},
	"COUNTA":    {v(`COUNTA(1, [Text], [Empty], "")`, 2.0), v(`COUNTA([Empty])`, 0.0), v(`COUNTA([Flag], [Day])`, 2.0)},
	"COUNTALL":  {v(`COUNTALL(1, [Empty])`, 2.0), v(`COUNTALL([Empty])`, 1.0), v(`COUNTALL([Text], [Num], [Flag])`, 3.0)},
	"EVEN":      {v(`EVEN(1.5)`, 2.0), v(`EVEN(3)`, 4.0), v(`EVEN(-1)`, -2.0), v(`EVEN(0)`, 0.0), v(`EVEN([Empty])`, nil), fail(`EVEN([Text])`, "not a number")},
	"ODD":       {v(`ODD(1.5)`, 3.0), v(`ODD(2)`, 3.0), v(`ODD(0)`, 1.0), v(`ODD(-2)`, -3.0), v(`ODD([Empty])`, nil), fail(`ODD([Text])`, "not a number")},

	"HOUR":    {v(`HOUR([When])`, 15.0), v(`HOUR([Day])`, 0.0), v(`HOUR([Empty])`, nil), fail(`HOUR([Text])`, "not a date")},
	"MINUTE":  {v(`MINUTE([When])`, 30.0), v(`MINUTE([Empty])`, nil), fail(`MINUTE([Text])`, "not a date")},
	"SECOND":  {v(`SECOND([When])`, 45.0), v(`SECOND([Empty])`, nil), fail(`SECOND([Num])`, "expected a date")},
	"WEEKDAY": {v(`WEEKDAY([Day])`, 5.0), v(`WEEKDAY([Day], "Monday")`, 4.0), v(`WEEKDAY([Empty])`, nil), fail(`WEEKDAY([Day], "Tuesday")`, "first day"), fail(`WEEKDAY([Text])`, "not a date")},
	"WEEKNUM": {v(`WEEKNUM("2026-01-01")`, 1.0), v(`WEEKNUM("2026-01-04")`, 2.0), v(`WEEKNUM("2026-01-04", "Monday")`, 1.0), v(`WEEKNUM([Empty])`, nil), fail(`WEEKNUM([Text])`, "not a date")},
	"DATEADD": {v(`DATEADD([Day], 1, "months")`, tm("2026-12-27")), v(`DATEADD([Day], 2, "w")`, tm("2026-12-11")), v(`DATEADD([Day], -1, "y")`, tm("2025-11-27")),
		v(`DATEADD("2026-01-31", 1, "M")`, tm("2026-02-28")), v(`DATEADD([When], 90, "minutes")`, tm("2026-11-26T17:00:45.123Z")), v(`DATEADD([Day], 1, "Q")`, tm("2027-02-27")),
		v(`DATEADD([Empty], 1, "d")`, nil), fail(`DATEADD([Day], 1000000000000, "days")`, "out of range"), fail(`DATEADD([Day], 1, [Text])`, "not a date unit"), fail(`DATEADD([Day], [Text], "d")`, "not a number")},
	"DATETIME_DIFF": {v(`DATETIME_DIFF([Day], "2026-11-20", "days")`, 7.0), v(`DATETIME_DIFF("2026-11-20", [Day], "d")`, -7.0), v(`DATETIME_DIFF([Day], "2026-01-28", "months")`, 9.0),
		v(`DATETIME_DIFF([When], [Day], "hours")`, -8.0), v(`DATETIME_DIFF([Day], "2025-11-27", "y")`, 1.0), v(`DATETIME_DIFF([Day], [When])`, 30554.0), v(`DATETIME_DIFF([Empty], [Day], "d")`, nil), fail(`DATETIME_DIFF([Text], [Day], "d")`, "not a date")},
	"DATETIME_FORMAT": {v(`DATETIME_FORMAT([When], "YYYY-MM-DD HH:mm")`, "2026-11-26 15:30"), v(`DATETIME_FORMAT([Day], "dddd, MMMM Do YYYY")`, "Friday, November 27th 2026"),
		v(`DATETIME_FORMAT([When], "h:mm A [at] ss.SSS")`, "3:30 PM at 45.123"), v(`DATETIME_FORMAT([When])`, "2026-11-26T15:30:45.123Z"),
		v(`DATETIME_FORMAT([Day], "D/M/YY ddd ZZ X")`, "27/11/26 Fri +0000 1795737600"), v(`DATETIME_FORMAT([Empty], "YYYY")`, nil), fail(`DATETIME_FORMAT([Text], "YYYY")`, "not a date")},
	"DATETIME_PARSE": {v(`DATETIME_PARSE("27/11/2026 3:30 pm", "DD/MM/YYYY h:mm a")`, tm("2026-11-27T15:30:00Z")), v(`DATETIME_PARSE("2026-11-27")`, tm("2026-11-27")),
		v(`DATETIME_PARSE("November 3rd 2026", "MMMM Do YYYY")`, tm("2026-11-03")), v(`DATETIME_PARSE("2026-11-27 10:00 +0200", "YYYY-MM-DD HH:mm ZZ")`, tm("2026-11-27T08:00:00Z")),
		v(`DATETIME_PARSE("1795737600", "X")`, tm("2026-11-27")), v(`DATETIME_PARSE([Empty], "YYYY")`, nil),
		fail(`DATETIME_PARSE([Text], "YYYY")`, "does not match"), fail(`DATETIME_PARSE("31/02/2026", "DD/MM/YYYY")`, "does not match")},
	"IS_BEFORE": {v(`IS_BEFORE([When], [Day])`, true), v(`IS_BEFORE([Day], [When])`, false), v(`IS_BEFORE([Empty], [Day])`, false), fail(`IS_BEFORE([Text], [Day])`, "not a date")},
	"IS_AFTER":  {v(`IS_AFTER([Day], [When])`, true), v(`IS_AFTER([When], [Day])`, false), v(`IS_AFTER([Day], [Empty])`, false), fail(`IS_AFTER([Day], [Text])`, "not a date")},
	"IS_SAME":   {v(`IS_SAME([When], [Day])`, false), v(`IS_SAME([When], [Day], "month")`, true), v(`IS_SAME([When], "2026-11-26", "day")`, true), v(`IS_SAME([When], [Day], "w")`, true), v(`IS_SAME([Empty], [Day])`, false), fail(`IS_SAME([Text], [Day])`, "not a date")},
	"WORKDAY": {v(`WORKDAY([Day], 1)`, tm("2026-11-30")), v(`WORKDAY([Day], 5)`, tm("2026-12-04")), v(`WORKDAY([Day], -5)`, tm("2026-11-20")), v(`WORKDAY([Day], 1, "2026-11-30")`, tm("2026-12-01")),
		v(`WORKDAY("2026-11-28", 5)`, tm("2026-12-04")), v(`WORKDAY("2026-11-28", -1)`, tm("2026-11-27")), v(`WORKDAY([Day], 0)`, tm("2026-11-27")), v(`WORKDAY([Empty], 1)`, nil),
		fail(`WORKDAY([Day], 1000000000000)`, "out of range"), fail(`WORKDAY([Text], 1)`, "not a date"), fail(`WORKDAY([Day], 1, "soon")`, "holiday")},
	"WORKDAY_DIFF": {v(`WORKDAY_DIFF("2026-11-23", [Day])`, 5.0), v(`WORKDAY_DIFF([Day], "2026-11-23")`, -5.0), v(`WORKDAY_DIFF("2026-11-23", [Day], "2026-11-26")`, 4.0),
		v(`WORKDAY_DIFF("2026-11-28", "2026-11-29")`, 0.0), v(`WORKDAY_DIFF([Empty], [Day])`, nil), fail(`WORKDAY_DIFF([Text], [Day])`, "not a date")},
}

func runFormula(t *testing.T, env *rowEnv, src string, lim Limits) (any, error) {
	t.Helper()
	e, err := Parse(src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	p, err := CompileWithLimits(e, env.bind, lim)
	if err != nil {
		t.Fatalf("%s: compile: %v", src, err)
	}
	return p.Run(env)
}

func TestFunctionCases(t *testing.T) {
	env := funcEnv()
	for name, cases := range funcCases {
		for _, tc := range cases {
			got, err := runFormula(t, env, tc.src, Limits{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("%s: %s = %#v, %v; want an error containing %q", name, tc.src, got, err, tc.err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %s: %v", name, tc.src, err)
				continue
			}
			if wt, ok := tc.want.(time.Time); ok {
				if gt, ok := got.(time.Time); !ok || !gt.Equal(wt) {
					t.Errorf("%s: %s = %v, want %v", name, tc.src, got, wt)
				}
				continue
			}
			if got != tc.want {
				t.Errorf("%s: %s = %#v, want %#v", name, tc.src, got, tc.want)
			}
		}
	}
}

// A function added to the table without cases fails here.
func TestEveryFunctionHasCases(t *testing.T) {
	for name := range Functions {
		if n := len(funcCases[name]); n < 3 {
			t.Errorf("%s has %d cases in funcCases, want at least 3", name, n)
		}
	}
	for name := range funcCases {
		if _, ok := Functions[name]; !ok {
			t.Errorf("funcCases has %s, which is not in Functions", name)
		}
	}
}

// Adversarial inputs are error cells (or values), quickly; never a hang, a panic or a text over
// the limit.
func TestFunctionsAdversarial(t *testing.T) {
	env := funcEnv()
	for _, tc := range []funcCase{
		fail(`REPT(REPT("x", 1000000), 1000000)`, "longer than the limit"),
		fail(`REPT("xy", 1000000000000000)`, "longer than the limit"),
		fail(`REPT("x", 1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000)`, "out of range"),
		fail(`SUBSTITUTE(REPT("x", 60000), "x", "yy")`, "longer than the limit"),
		fail(`SUBSTITUTE(REPT("x", 60000), "x", REPT("y", 60000), 2)`, "longer than the limit"),
		fail(`REPLACE(REPT("x", 60000), 1, 1, REPT("y", 60000))`, "longer than the limit"),
		fail(`REGEX_REPLACE(REPT("x", 60000), "x", "yy")`, "longer than the limit"),
		fail(`REGEX_REPLACE(REPT("x", 60000), "", "-")`, "longer than the limit"),
		fail(`CONCATENATE(REPT("x", 40000), REPT("x", 40000))`, "longer than the limit"),
		fail(`DATETIME_FORMAT([Day], REPT("dddd", 1000))`, "format is longer"),
		v(`REGEX_MATCH(REPT("a", 60000) & "b", "(a+)+$")`, false),
		v(`REGEX_MATCH(REPT("a", 60000), "(a|aa)+c")`, false),
		v(`REGEX_MATCH([Nul], "a\\x00b")`, true),
		v(`REGEX_MATCH("a", [Nul])`, false),
		fail(`REGEX_MATCH("a", REPT("a", 2000))`, "longer than 1024"),
		fail(`REGEX_MATCH("a", REPT("(", 10))`, "invalid regular expression"),
		fail(`DATEADD([Day], 1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000, "ms")`, "out of range"),
		fail(`DATEADD([Day], 1000000000000, "years")`, "out of range"),
		fail(`DATEADD([Day], 8000, "y")`, "out of range"),
		fail(`DATEADD("0001-01-01", -1, "d")`, "out of range"),
		fail(`WORKDAY([Day], 1000000000000)`, "out of range"),
		fail(`WORKDAY([Day], -1000000000000)`, "out of range"),
		// Spans past time.Duration's 292 years.
		fail(`DATEADD([Day], 3000000, "days")`, "out of range"),
		v(`YEAR(DATEADD("0001-01-01", 3000000, "d"))`, 8214.0),
		v(`DATETIME_DIFF("9999-01-01", "0001-01-01", "days")`, 3651694.0),
		v(`DATETIME_DIFF("9999-01-01", "0001-01-01", "y")`, 9998.0),
		v(`WORKDAY_DIFF("0001-01-01", "9999-12-31")`, 2608615.0),
		v(`YEAR(WORKDAY([Day], 2000000))`, 9693.0),
		fail(`WORKDAY([Day], 1, REPT("2026-01-01,", 2000))`, "at most 1000"),
		fail(`POWER(-8, 1 / 3)`, "out of range"),
		fail(`SUM(100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000, 100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000)`, "out of range"),
	} {
		// A hang fails through go test's timeout; a timing bound would fail on a busy machine.
		got, err := runFormula(t, env, tc.src, Limits{})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s = %v, %v; want an error containing %q", tc.src, clip(Text(got)), err, tc.err)
			}
			var tl *TooLongError
			if strings.Contains(tc.err, "limit") && !errors.As(err, &tl) {
				t.Errorf("%s: %v is not a TooLongError", tc.src, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s = %v, %v; want %v", tc.src, got, err, tc.want)
		}
	}
}

// A constant pattern is compiled once, when the formula is compiled; a bad one fails Compile.
func TestRegexCompiledOnce(t *testing.T) {
	env := funcEnv()
	e, _ := Parse(`REGEX_MATCH([Text], "(")`)
	if _, err := Compile(e, env.bind); err == nil || !strings.Contains(err.Error(), "REGEX_MATCH") {
		t.Errorf("a bad constant pattern compiled: %v", err)
	}
	e, _ = Parse(`REGEX_REPLACE([Text], "o+", "0")`)
	p, err := Compile(e, env.bind)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() { _, _ = p.Run(env) })
	e, _ = Parse(`REGEX_REPLACE([Text], "o+" & "", "0")`)
	q, _ := Compile(e, env.bind)
	perRow := testing.AllocsPerRun(100, func() { _, _ = q.Run(env) })
	if allocs*2 > perRow {
		t.Errorf("a constant pattern costs %v allocations a row, a computed one %v: is it compiled per row?", allocs, perRow)
	}
}

// The spec's description of createCalculatedColumn and docs/formulas.md name every function.
func TestSpecAndDocsListEveryFunction(t *testing.T) {
	for _, file := range []string{"../../openapi/openapi.yaml", "../../docs/formulas.md"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if file == "../../openapi/openapi.yaml" {
			start := strings.Index(text, "operationId: createCalculatedColumn")
			if start < 0 {
				t.Fatal("createCalculatedColumn not found in the spec")
			}
			text = text[start : start+strings.Index(text[start:], "parameters:")]
		}
		for name := range Functions {
			if !regexp.MustCompile(`(^|[^A-Z_])` + name + `([^A-Z_]|$)`).MatchString(text) {
				t.Errorf("%s does not name %s", file, name)
			}
		}
	}
}

// Every function on awkward arguments (blanks, negatives, huge numbers, NUL bytes, dates at the
// ends of the range, failed cells) gives a value or an error, never a panic, and quickly.
func TestFunctionsNeverPanic(t *testing.T) {
	env := funcEnv()
	pool := []string{`[Empty]`, `[Text]`, `[Num]`, `[Neg]`, `[When]`, `[Day]`, `[Flag]`, `[Nul]`, `[Broken]`, `""`, `"0"`, `-1`, `0`, `0.5`,
		`1000000000000000000000`, `-1000000000000000000000`, `"9999-12-31T23:59:59Z"`, `"0001-01-01"`, `"ms"`, `"M"`, `"y"`, `"(a*)*"`,
		`REPT("é", 30000)`, `"[YYYY"`, `"Do"`, `"Monday"`, `BLANK()`, `1 / 0`}
	seed := uint64(1)
	next := func(n int) int { // xorshift: reproducible without math/rand's global state
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return int(seed % uint64(n))
	}
	refused, ran := 0, 0
	for name, a := range Functions {
		for range 200 {
			n := a.Min
			if a.Max != a.Min {
				hi := a.Max
				if hi < 0 {
					hi = a.Min + 3
				}
				n += next(hi - a.Min + 1)
			}
			args := make([]string, n)
			for i := range args {
				args[i] = pool[next(len(pool))]
			}
			src := name + "(" + strings.Join(args, ", ") + ")"
			e, err := Parse(src)
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			p, err := Compile(e, env.bind)
			if err != nil {
				refused++
				continue // a constant pattern or unit that is refused
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s panicked: %v", src, r)
					}
				}()
				ran++
				got, err := p.Run(env)
				if s, ok := got.(string); ok && err == nil && len(s) > defaultMaxText {
					t.Errorf("%s: %d bytes", src, len(s))
				}
			}()
		}
	}
	if ran < 10*refused {
		t.Errorf("%d formulas ran, %d were refused by Compile: the pool tests too little", ran, refused)
	}
}
