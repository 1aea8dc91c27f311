// Package sqlaudit is the test suite's tenant-scoping check, so that tenant scoping cannot be
// forgotten. A Bun query hook records every statement the service runs during a test
// package; at the end Finish checks each distinct statement and fails the package on one that
// reads or writes a tenant table without a tenant_id predicate. README "Tenant scoping" states
// the rule.
package sqlaudit

import (
	"strings"
)

// tenantTables are the tables with a tenant_id column (migrations/*.up.sql). Every reference to
// one of them must be scoped. view_sorts, view_filters and source_records have no tenant_id: they
// are reached only through their parent (views, data_sources), which is scoped, so they are not
// checked; nor is schema_migrations.
var tenantTables = map[string]bool{
	"panels": true, "data_sources": true, "columns": true, "views": true, "acls": true,
	"panel_changes": true, "view_notifications": true, "members": true, "idempotency_keys": true,
	"record_sets": true, "source_syncs": true,
}

// violation is one unscoped reference to a tenant table in a statement.
type violation struct {
	Table, Alias string
	Insert       bool // an INSERT whose column list has no tenant_id
}

type tokKind int

const (
	tIdent   tokKind = iota // bare (lower-cased) or quoted identifier or keyword
	tLiteral                // string, number, $n parameter, dollar-quoted text
	tPunct                  // ( ) , . ;
	tOp                     // operator characters
	tSub                    // a parenthesised subquery; sub holds it
)

type token struct {
	kind   tokKind
	text   string
	quoted bool
	sub    *level
}

// level is one query level: a statement, or a parenthesised SELECT/WITH inside one. Parentheses
// that do not start a query (grouping, function calls, column lists) stay in their level.
type level struct{ toks []token }

func tokenize(s string) []token {
	var out []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				i = len(s)
			} else {
				i += j + 4
			}
		case c == '\'':
			// E'...' strings allow backslash escapes; the E was emitted as an identifier.
			escapes := len(out) > 0 && out[len(out)-1].kind == tIdent && !out[len(out)-1].quoted &&
				out[len(out)-1].text == "e" && i > 0 && (s[i-1] == 'e' || s[i-1] == 'E')
			if escapes {
				out = out[:len(out)-1]
			}
			out = append(out, token{kind: tLiteral, text: "?"})
			i = stringEnd(s, i, escapes) + 1
		case c == '"':
			var t token
			t, i = quotedIdent(s, i)
			out = append(out, t)
		case c == '$':
			var t token
			t, i = dollar(s, i)
			out = append(out, t)
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && (isIdentChar(s[j]) || s[j] == '.') {
				j++
			}
			out = append(out, token{kind: tLiteral, text: "?"})
			i = j
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			out = append(out, token{kind: tIdent, text: strings.ToLower(s[i:j])})
			i = j
		case c == '(' || c == ')' || c == ',' || c == '.' || c == ';' || c == '[' || c == ']':
			out = append(out, token{kind: tPunct, text: string(c)})
			i++
		default:
			j := i
			for j < len(s) && strings.IndexByte("+-*/<>=~!@#%^&|`?:", s[j]) >= 0 {
				j++
			}
			if j == i {
				j = i + 1
			}
			out = append(out, token{kind: tOp, text: s[i:j]})
			i = j
		}
	}
	return out
}

// stringEnd is the index of the quote closing the string literal opened at i (a doubled quote is
// a quote inside it, and so is a backslashed one with escapes); len(s) when it is not closed.
func stringEnd(s string, i int, escapes bool) int {
	j := i + 1
	for j < len(s) {
		if escapes && s[j] == '\\' {
			j += 2
			continue
		}
		if s[j] == '\'' {
			if j+1 < len(s) && s[j+1] == '\'' {
				j += 2
				continue
			}
			break
		}
		j++
	}
	return j
}

// quotedIdent reads the quoted identifier opened at i ("" is a quote inside it) and returns it
// with the index after it.
func quotedIdent(s string, i int) (token, int) {
	var b strings.Builder
	j := i + 1
	for j < len(s) {
		if s[j] == '"' {
			if j+1 < len(s) && s[j+1] == '"' {
				b.WriteByte('"')
				j += 2
				continue
			}
			break
		}
		b.WriteByte(s[j])
		j++
	}
	return token{kind: tIdent, text: b.String(), quoted: true}, j + 1
}

// dollar reads what starts with the $ at i: a parameter ($1) or a dollar-quoted string
// ($tag$ ... $tag$), both literals, or else the operator $; and returns the index after it.
func dollar(s string, i int) (token, int) {
	literal := token{kind: tLiteral, text: "?"}
	j := i + 1
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j > i+1 {
		return literal, j
	}
	for j < len(s) && isIdentChar(s[j]) {
		j++
	}
	if j < len(s) && s[j] == '$' {
		tag := s[i : j+1]
		k := strings.Index(s[j+1:], tag)
		if k < 0 {
			return literal, len(s)
		}
		return literal, j + 1 + k + len(tag)
	}
	return token{kind: tOp, text: "$"}, i + 1
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') || c == '$' }

// nest builds the level tree: a "(" followed by SELECT or WITH opens a sub-level.
func nest(toks []token) *level {
	l, _ := nestFrom(toks, 0, false)
	return l
}

func nestFrom(toks []token, i int, inSub bool) (*level, int) {
	l := &level{}
	depth := 0 // open grouping parentheses kept in this level
	for i < len(toks) {
		t := toks[i]
		if t.kind == tPunct && t.text == "(" && i+1 < len(toks) && toks[i+1].kind == tIdent && !toks[i+1].quoted &&
			(toks[i+1].text == "select" || toks[i+1].text == "with") {
			sub, j := nestFrom(toks, i+1, true)
			l.toks = append(l.toks, token{kind: tSub, sub: sub})
			i = j
			continue
		}
		if t.kind == tPunct && t.text == "(" {
			depth++
		}
		if t.kind == tPunct && t.text == ")" {
			if depth == 0 && inSub {
				return l, i + 1
			}
			depth--
		}
		l.toks = append(l.toks, t)
		i++
	}
	return l, i
}

var notAlias = map[string]bool{
	"where": true, "join": true, "inner": true, "left": true, "right": true, "full": true, "cross": true,
	"natural": true, "on": true, "using": true, "set": true, "group": true, "order": true, "limit": true,
	"offset": true, "returning": true, "for": true, "union": true, "intersect": true, "except": true,
	"having": true, "window": true, "values": true, "default": true, "select": true, "on_conflict": true,
	"lateral": true, "only": true, "as": true, "of": true, "skip": true, "nowait": true, "fetch": true,
	"outer": true, "and": true, "or": true, "with": true, "tablesample": true,
}

func (t token) is(word string) bool { return t.kind == tIdent && !t.quoted && t.text == word }
func (t token) isP(p string) bool   { return (t.kind == tPunct || t.kind == tOp) && t.text == p }

type ref struct {
	table, alias string
	insert       bool
	insertScoped bool
}

// checkStatement returns the unscoped references to tenant tables in one statement.
func checkStatement(sql string) []violation {
	var out []violation
	checkLevel(nest(tokenize(sql)), map[string]bool{}, &out)
	return out
}

func checkLevel(l *level, env map[string]bool, out *[]violation) {
	// UNION, INTERSECT and EXCEPT join queries that are scoped separately.
	// Only at the level's own depth: "FROM ((SELECT ...) UNION ALL (SELECT ...)) AS x" is one query.
	start, depth := 0, 0
	for i := 0; i <= len(l.toks); i++ {
		if i < len(l.toks) && l.toks[i].isP("(") {
			depth++
		} else if i < len(l.toks) && l.toks[i].isP(")") {
			depth--
		}
		if i == len(l.toks) || depth == 0 && (l.toks[i].is("union") || l.toks[i].is("intersect") || l.toks[i].is("except")) {
			checkSegment(l.toks[start:i], env, out)
			start = i + 1
		}
	}
}

func checkSegment(toks []token, env map[string]bool, out *[]violation) {
	refs := findRefs(toks)
	scoped, joins := tenantComparisons(toks, refs)
	propagateScope(scoped, env, joins)
	for _, r := range refs {
		if r.insert {
			if !r.insertScoped {
				*out = append(*out, violation{Table: r.table, Alias: r.alias, Insert: true})
			}
			continue
		}
		if !scoped[r.alias] {
			*out = append(*out, violation{Table: r.table, Alias: r.alias})
		}
	}
	inner := map[string]bool{}
	for k := range env {
		inner[k] = true
	}
	for k := range scoped {
		inner[k] = true
	}
	for _, t := range toks {
		if t.kind == tSub {
			checkLevel(t.sub, inner, out)
		}
	}
}

// aliasPair is a join on tenant_id between two aliases: a.tenant_id = b.tenant_id.
type aliasPair struct{ a, b string }

// tenantComparisons finds the aliases whose tenant_id is compared with a value (outside an OR),
// and the joins on tenant_id between aliases. An unqualified tenant_id compared with a value
// scopes every alias of the segment.
func tenantComparisons(toks []token, refs []ref) (map[string]bool, []aliasPair) {
	scoped := map[string]bool{}
	var joins []aliasPair
	markLit := func(qual string) {
		if qual == "" {
			for _, r := range refs {
				scoped[r.alias] = true
			}
			return
		}
		scoped[qual] = true
	}
	for i := 0; i < len(toks); i++ {
		qual, end, ok := tenantColAt(toks, i)
		if !ok || underOr(toks, i) {
			continue
		}
		if end < len(toks) && toks[end].is("in") {
			if end+1 < len(toks) && (toks[end+1].kind == tSub || toks[end+1].isP("(")) {
				markLit(qual)
			}
			continue
		}
		if end < len(toks) && toks[end].isP("=") {
			if valueAt(toks, end+1) {
				markLit(qual)
				continue
			}
			if q2, _, ok := tenantColAt(toks, end+1); ok && q2 != "" && qual != "" {
				joins = append(joins, aliasPair{qual, q2})
			}
			continue
		}
		// value = tenant_id
		if i > 1 && toks[i-1].isP("=") && (toks[i-2].kind == tLiteral || toks[i-2].kind == tSub) {
			markLit(qual)
		}
	}
	return scoped, joins
}

// tenantColAt reads a column reference to tenant_id at i: its qualifier ("" when bare) and the
// index after it.
func tenantColAt(toks []token, i int) (qual string, end int, ok bool) {
	if i >= len(toks) || toks[i].kind != tIdent {
		return "", 0, false
	}
	if i+2 < len(toks) && toks[i+1].isP(".") && toks[i+2].kind == tIdent && toks[i+2].text == "tenant_id" {
		return toks[i].text, i + 3, true
	}
	if toks[i].text == "tenant_id" && !(i > 0 && toks[i-1].isP(".")) {
		return "", i + 1, true
	}
	return "", 0, false
}

// valueAt reports whether a value starts at i: a literal or parameter, ANY(...), or a subquery.
func valueAt(toks []token, i int) bool {
	if i >= len(toks) {
		return false
	}
	t := toks[i]
	return t.kind == tLiteral || t.is("any") || t.kind == tSub ||
		(t.isP("(") && i+1 < len(toks) && toks[i+1].kind == tLiteral)
}

// propagateScope scopes, until nothing changes, every alias joined on tenant_id to an alias that
// is scoped here or by the enclosing statement (env).
func propagateScope(scoped, env map[string]bool, joins []aliasPair) {
	for changed := true; changed; {
		changed = false
		for _, p := range joins {
			if (scoped[p.b] || env[p.b]) && !scoped[p.a] {
				scoped[p.a], changed = true, true
			}
			if (scoped[p.a] || env[p.a]) && !scoped[p.b] {
				scoped[p.b], changed = true, true
			}
		}
	}
}

var clauseEnd = map[string]bool{
	"where": true, "on": true, "group": true, "order": true, "limit": true, "offset": true, "returning": true,
	"join": true, "left": true, "right": true, "inner": true, "full": true, "cross": true, "for": true,
	"window": true, "having": true, "set": true, "from": true,
}

// underOr reports whether the predicate at i is one branch of an OR, in its parentheses or in any
// enclosing ones up to its clause (WHERE, ON, HAVING): then it does not scope the rows.
func underOr(toks []token, i int) bool {
	lo, hi := i, i // the span examined so far
	for {
		depth, start := 0, -1
		for j := lo - 1; j >= 0; j-- {
			if toks[j].isP(")") {
				depth++
			} else if toks[j].isP("(") {
				if depth == 0 {
					start = j
					break
				}
				depth--
			}
		}
		end := len(toks)
		depth = 0
		for j := hi + 1; j < len(toks); j++ {
			if toks[j].isP("(") {
				depth++
			} else if toks[j].isP(")") {
				if depth == 0 {
					end = j
					break
				}
				depth--
			}
		}
		if start < 0 { // the clause itself: from its keyword to the next one
			for start = lo - 1; start >= 0 && !(depthAt(toks, start, lo) == 0 && toks[start].kind == tIdent && !toks[start].quoted && clauseEnd[toks[start].text]); start-- {
			}
			for end = hi + 1; end < len(toks) && !(depthAt(toks, hi, end) == 0 && toks[end].kind == tIdent && !toks[end].quoted && (clauseEnd[toks[end].text])); end++ {
			}
		}
		depth = 0
		for j := start + 1; j < end; j++ {
			switch {
			case toks[j].isP("("):
				depth++
			case toks[j].isP(")"):
				depth--
			case depth == 0 && toks[j].is("or"):
				return true
			}
		}
		if start < 0 || !toks[start].isP("(") {
			return false
		}
		lo, hi = start, end
	}
}

// depthAt is the parenthesis depth of position b relative to a (a < b): positive when b is inside
// parentheses opened after a.
func depthAt(toks []token, a, b int) int {
	if a > b {
		a, b = b, a
	}
	d := 0
	for j := a + 1; j < b; j++ {
		if toks[j].isP("(") {
			d++
		} else if toks[j].isP(")") {
			d--
		}
	}
	return d
}

// findRefs lists the tenant tables named after FROM, JOIN, UPDATE, INSERT INTO and USING in one
// query level, with their aliases.
func findRefs(toks []token) []ref {
	var refs []ref
	// tableAt reads "[schema.]table [AS] [alias]" at i; ok is false for a subquery or function.
	tableAt := func(i int, columnList bool) (r ref, next int, ok bool) {
		if i >= len(toks) || toks[i].kind != tIdent || (!toks[i].quoted && notAlias[toks[i].text]) {
			return ref{}, i, false
		}
		name := toks[i].text
		i++
		if i+1 < len(toks) && toks[i].isP(".") && toks[i+1].kind == tIdent {
			name = toks[i+1].text
			i += 2
		}
		if !columnList && i < len(toks) && toks[i].isP("(") { // a function: unnest(...), generate_series(...)
			return ref{}, i, false
		}
		r = ref{table: name, alias: name}
		if i < len(toks) && toks[i].is("as") {
			i++
		}
		if i < len(toks) && toks[i].kind == tIdent && (toks[i].quoted || !notAlias[toks[i].text]) {
			r.alias = toks[i].text
			i++
		}
		return r, i, true
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.is("from") || t.is("join") || t.is("using"):
			j := i + 1
			for j < len(toks) && (toks[j].is("only") || toks[j].is("lateral")) {
				j++
			}
			for {
				r, next, ok := tableAt(j, false)
				if ok && tenantTables[r.table] {
					refs = append(refs, r)
				}
				if !ok {
					next = j + 1 // skip a subquery or function
				}
				if next < len(toks) && toks[next].isP(",") && t.is("from") {
					j = next + 1
					continue
				}
				break
			}
		case t.is("update"):
			if i > 0 && toks[i-1].is("do") || i > 0 && toks[i-1].is("for") {
				continue
			}
			if r, _, ok := tableAt(i+1, false); ok && tenantTables[r.table] {
				refs = append(refs, r)
			}
		case t.is("into") && i > 0 && toks[i-1].is("insert"):
			r, next, ok := tableAt(i+1, true)
			if !ok || !tenantTables[r.table] {
				continue
			}
			r.insert = true
			if next < len(toks) && toks[next].isP("(") {
				for j, depth := next, 0; j < len(toks); j++ {
					if toks[j].isP("(") {
						depth++
					} else if toks[j].isP(")") {
						if depth--; depth == 0 {
							break
						}
					} else if depth == 1 && toks[j].kind == tIdent && toks[j].text == "tenant_id" {
						r.insertScoped = true
					}
				}
			}
			refs = append(refs, r)
		}
	}
	return refs
}

// normalize replaces literals with ? and collapses white space, so statements that differ only
// in their values count once.
func normalize(sql string) string {
	var b strings.Builder
	for i, t := range tokenize(sql) {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch {
		case t.quoted:
			b.WriteString(`"` + t.text + `"`)
		default:
			b.WriteString(t.text)
		}
	}
	return b.String()
}
