// Package formula implements the spreadsheet-style formula language used by
// calculated worklist columns.
//
// A formula is parsed once into a small syntax tree (Expr). The same tree is
// used to validate a formula against the panel's columns (Resolve), to store
// it in a rename-proof form where every column reference is written as {id},
// and later to evaluate it or push it down into SQL.
//
// Syntax summary:
//
//	[Column Name]   reference by column name (any characters except ']')
//	first_name      bare reference: a column name or a base column's source field
//	{123}           reference by column id (the stored form)
//	"text" 'text'   strings; \" \' \\ \n \r \t are the only escapes
//	1  2.5  .5      numbers
//	TRUE FALSE      booleans (case-insensitive)
//	NAME(a, b)      function call (case-insensitive name, see Functions)
//
// Operators, lowest precedence first: comparisons (= <> != < > <= >=, which
// cannot be chained), & (text concatenation), + -, * /, unary - +.
package formula

import (
	"strconv"
	"strings"
)

// Expr is a node of the syntax tree. The set of node types is closed so that
// evaluators and SQL generators can switch over it exhaustively.
type Expr interface {
	// Pos is the byte offset in the source where the node starts.
	Pos() int
	node()
}

// at is embedded in every node; it records the position and seals Expr.
type at int

func (a at) Pos() int { return int(a) }
func (at) node()      {}

// NumberLit is a numeric literal. Raw keeps the source spelling.
type NumberLit struct {
	at
	Value float64
	Raw   string
}

// StringLit is a string literal with escapes already decoded.
type StringLit struct {
	at
	Value string
}

// BoolLit is TRUE or FALSE.
type BoolLit struct {
	at
	Value bool
}

// Ref is a column reference. Exactly one of Name (user text) or ID (stored
// form, {123}) is set by Parse.
type Ref struct {
	at
	Name      string
	Bracketed bool  // written as [Name] rather than a bare identifier
	ID        int64 // > 0 only for {123} references
}

// Unary is a prefix operator: "-" or "+".
type Unary struct {
	at
	Op string
	X  Expr
}

// Binary is an infix operator. Op is one of + - * / & = <> < > <= >=
// ("!=" in the source is normalised to "<>").
type Binary struct {
	at
	Op   string
	L, R Expr
}

// Call is a function call. Name is upper-cased; it is not checked against
// Functions by Parse so that Resolve can report all problems at once.
type Call struct {
	at
	Name string
	Args []Expr
}

// Walk visits e and its descendants in pre-order, which for this grammar is
// also source order. If fn returns false the node's children are skipped.
func Walk(e Expr, fn func(Expr) bool) {
	if e == nil || !fn(e) {
		return
	}
	switch e := e.(type) {
	case *Unary:
		Walk(e.X, fn)
	case *Binary:
		Walk(e.L, fn)
		Walk(e.R, fn)
	case *Call:
		for _, a := range e.Args {
			Walk(a, fn)
		}
	}
}

// Refs returns every column reference in e, in source order.
func Refs(e Expr) []*Ref {
	var refs []*Ref
	Walk(e, func(n Expr) bool {
		if r, ok := n.(*Ref); ok {
			refs = append(refs, r)
		}
		return true
	})
	return refs
}

// Arity is the accepted argument count of a function; Max < 0 means unbounded.
type Arity struct{ Min, Max int }

// Accepts reports whether n arguments are allowed.
func (a Arity) Accepts(n int) bool {
	return n >= a.Min && (a.Max < 0 || n <= a.Max)
}

func (a Arity) String() string {
	plural := func(n int) string {
		if n == 1 {
			return "1 argument"
		}
		return strconv.Itoa(n) + " arguments"
	}
	switch {
	case a.Max < 0:
		return "at least " + plural(a.Min)
	case a.Min == a.Max && a.Min == 0:
		return "no arguments"
	case a.Min == a.Max:
		return plural(a.Min)
	default:
		return strconv.Itoa(a.Min) + " to " + plural(a.Max)
	}
}

// Functions is the single source of truth for the built-in functions, keyed
// by upper-case name. Evaluation and SQL generation are expected to cover
// exactly this set; treat it as read-only.
var Functions = map[string]Arity{
	"IF":       {2, 3},
	"AND":      {1, -1},
	"OR":       {1, -1},
	"NOT":      {1, 1},
	"CONCAT":   {1, -1},
	"LEN":      {1, 1},
	"UPPER":    {1, 1},
	"LOWER":    {1, 1},
	"TRIM":     {1, 1},
	"ROUND":    {1, 2},
	"ABS":      {1, 1},
	"MIN":      {1, -1},
	"MAX":      {1, -1},
	"COALESCE": {1, -1},
	"NOW":      {0, 0},
	"TODAY":    {0, 0},
	"DATEDIFF": {2, 2},
	"YEAR":     {1, 1},
	"MONTH":    {1, 1},
	"DAY":      {1, 1},

	// Text (funcs.go).
	"CONCATENATE":   {1, -1},
	"LEFT":          {2, 2},
	"RIGHT":         {2, 2},
	"MID":           {3, 3},
	"FIND":          {2, 3},
	"SEARCH":        {2, 3},
	"SUBSTITUTE":    {3, 4},
	"REPLACE":       {4, 4},
	"REPT":          {2, 2},
	"T":             {1, 1},
	"VALUE":         {1, 1},
	"REGEX_MATCH":   {2, 2},
	"REGEX_EXTRACT": {2, 2},
	"REGEX_REPLACE": {3, 3},
	// Logic.
	"SWITCH":  {2, -1},
	"XOR":     {1, -1},
	"BLANK":   {0, 0},
	"ERROR":   {0, 0},
	"ISERROR": {1, 1},
	// Numbers.
	"ROUNDUP":   {2, 2},
	"ROUNDDOWN": {2, 2},
	"CEILING":   {1, 2},
	"FLOOR":     {1, 2},
	"INT":       {1, 1},
	"MOD":       {2, 2},
	"POWER":     {2, 2},
	"SQRT":      {1, 1},
	"EXP":       {1, 1},
	"LOG":       {1, 2},
	"SUM":       {1, -1},
	"AVERAGE":   {1, -1},
	"COUNT":     {1, -1},
	"COUNTA":    {1, -1},
	"COUNTALL":  {1, -1},
	"EVEN":      {1, 1},
	"ODD":       {1, 1},
	// Dates (dates.go).
	"HOUR":            {1, 1},
	"MINUTE":          {1, 1},
	"SECOND":          {1, 1},
	"WEEKDAY":         {1, 2},
	"WEEKNUM":         {1, 2},
	"DATEADD":         {3, 3},
	"DATETIME_DIFF":   {2, 3},
	"DATETIME_FORMAT": {1, 2},
	"DATETIME_PARSE":  {1, 2},
	"IS_BEFORE":       {2, 2},
	"IS_AFTER":        {2, 2},
	"IS_SAME":         {2, 3},
	"WORKDAY":         {2, 3},
	"WORKDAY_DIFF":    {2, 3},
}

// lookupFunction finds a built-in function by case-insensitive name.
func lookupFunction(name string) (Arity, bool) {
	a, ok := Functions[strings.ToUpper(name)]
	return a, ok
}
