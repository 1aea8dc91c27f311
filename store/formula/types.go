package formula

import (
	"fmt"
)

// Static argument types: Resolve refuses an argument whose type is wrong whatever the row (a
// literal, or a call whose result type is fixed), naming the function and the argument. Column
// references are not checked: their values are typed per row, and a wrong one is an error cell.

type argKind int

const (
	kAny argKind = iota
	kNumber
	kText
	kDate
	kBool
	kUnit    // a date unit: a literal must be one
	kPattern // a regular expression: a literal must compile
)

func (k argKind) String() string {
	switch k {
	case kNumber:
		return "a number"
	case kText:
		return "text"
	case kDate:
		return "a date"
	case kBool:
		return "TRUE/FALSE"
	case kUnit:
		return "a date unit"
	case kPattern:
		return "a regular expression"
	}
	return "any value"
}

// signatures gives the kind of each argument; the last kind repeats for variadic functions.
// Functions missing here take any value; the 20 functions that predate this check are missing on
// purpose, so that every formula they accepted is still accepted.
var signatures = map[string][]argKind{
	"LEFT": {kText, kNumber}, "RIGHT": {kText, kNumber}, "MID": {kText, kNumber, kNumber},
	"FIND": {kText, kText, kNumber}, "SEARCH": {kText, kText, kNumber},
	"SUBSTITUTE": {kText, kText, kText, kNumber}, "REPLACE": {kText, kNumber, kNumber, kText},
	"REPT": {kText, kNumber}, "REGEX_MATCH": {kText, kPattern}, "REGEX_EXTRACT": {kText, kPattern},
	"REGEX_REPLACE": {kText, kPattern, kText},
	"ROUNDUP":       {kNumber, kNumber}, "ROUNDDOWN": {kNumber, kNumber}, "CEILING": {kNumber, kNumber},
	"FLOOR": {kNumber, kNumber}, "INT": {kNumber}, "MOD": {kNumber, kNumber}, "POWER": {kNumber, kNumber},
	"SQRT": {kNumber}, "EXP": {kNumber}, "LOG": {kNumber, kNumber}, "SUM": {kNumber}, "AVERAGE": {kNumber},
	"EVEN": {kNumber}, "ODD": {kNumber},
	"HOUR": {kDate}, "MINUTE": {kDate}, "SECOND": {kDate}, "WEEKDAY": {kDate, kText}, "WEEKNUM": {kDate, kText},
	"DATEADD": {kDate, kNumber, kUnit}, "DATETIME_DIFF": {kDate, kDate, kUnit},
	"DATETIME_FORMAT": {kDate, kText}, "DATETIME_PARSE": {kText, kText},
	"IS_BEFORE": {kDate, kDate}, "IS_AFTER": {kDate, kDate}, "IS_SAME": {kDate, kDate, kUnit},
	"WORKDAY": {kDate, kNumber, kText}, "WORKDAY_DIFF": {kDate, kDate, kText},
}

// results is the fixed result kind of a function, where it has one.
var results = map[string]argKind{
	"LEN": kNumber, "ROUND": kNumber, "ABS": kNumber, "DATEDIFF": kNumber, "YEAR": kNumber, "MONTH": kNumber, "DAY": kNumber,
	"NOW": kDate, "TODAY": kDate, "NOT": kBool, "AND": kBool, "OR": kBool, "XOR": kBool, "ISERROR": kBool,
	"REGEX_MATCH": kBool, "IS_BEFORE": kBool, "IS_AFTER": kBool, "IS_SAME": kBool,
	"FIND": kNumber, "ROUNDUP": kNumber, "ROUNDDOWN": kNumber, "CEILING": kNumber, "FLOOR": kNumber, "INT": kNumber,
	"MOD": kNumber, "POWER": kNumber, "SQRT": kNumber, "EXP": kNumber, "LOG": kNumber, "SUM": kNumber,
	"COUNT": kNumber, "COUNTA": kNumber, "COUNTALL": kNumber, "EVEN": kNumber, "ODD": kNumber,
	"HOUR": kNumber, "MINUTE": kNumber, "SECOND": kNumber, "WEEKDAY": kNumber, "WEEKNUM": kNumber,
	"DATETIME_DIFF": kNumber, "WORKDAY_DIFF": kNumber, "DATEADD": kDate, "WORKDAY": kDate, "DATETIME_PARSE": kDate,
}

// staticKind is the kind e has in every row, or kAny. ok reports a literal, whose value is known.
func staticKind(e Expr) argKind {
	switch e := e.(type) {
	case *NumberLit:
		return kNumber
	case *StringLit:
		return kText
	case *BoolLit:
		return kBool
	case *Unary:
		return kNumber
	case *Binary:
		switch e.Op {
		case "&":
			return kText
		case "+", "-", "*", "/":
			return kAny // dates take part in + and -
		}
		return kBool
	case *Call:
		return results[e.Name]
	}
	return kAny
}

// checkArgs reports the arguments of call n that are statically of the wrong kind.
func checkArgs(n *Call, ps *problems) {
	sig := signatures[n.Name]
	if len(sig) == 0 {
		return
	}
	for i, a := range n.Args {
		want := sig[min(i, len(sig)-1)]
		if reason := mismatch(a, want); reason != "" {
			ps.add(n.Name, fmt.Sprintf("argument %d: %s", i+1, reason))
		}
	}
}

func mismatch(a Expr, want argKind) string {
	got := staticKind(a)
	lit, isLit := a.(*StringLit)
	switch want {
	case kNumber:
		if isLit {
			if _, ok := ParseNumber(lit.Value); !ok {
				return "expects a number, got text that is not a number"
			}
			return ""
		}
		if got == kBool || got == kDate {
			return "expects a number, got " + got.String()
		}
	case kDate:
		if isLit {
			if _, err := ToTime(lit.Value); err != nil {
				return "expects a date, got text that is not a date"
			}
			return ""
		}
		if got == kNumber || got == kBool {
			return "expects a date, got " + got.String()
		}
	case kText:
		if got == kBool {
			return "expects text, got TRUE/FALSE"
		}
	case kUnit:
		if isLit {
			if _, ok := parseUnit(lit.Value); !ok {
				return fmt.Sprintf("%q is not a date unit (milliseconds, seconds, minutes, hours, days, weeks, months, quarters, years)", clip(lit.Value))
			}
			return ""
		}
		if got != kAny && got != kText {
			return "expects a date unit, got " + got.String()
		}
	case kPattern:
		if isLit {
			if _, err := compilePattern(lit.Value); err != nil {
				return err.Error()
			}
			return ""
		}
		if got == kBool || got == kNumber || got == kDate {
			return "expects a regular expression, got " + got.String()
		}
	}
	return ""
}
