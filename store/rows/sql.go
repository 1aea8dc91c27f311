package rows

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/panels/panels/store/formula"
)

// The SQL side of the rows engine: typed expressions over the JSONB documents, conditions and
// keyset positions. Everything mirrors values.go: a value is typed the same way, NULL plays
// the part of a null cell, texts compare byte-wise (COLLATE "C"), and each condition is wrapped
// in COALESCE so that SQL's three-valued logic gives the same two answers as Go.

// sqlFrag is a piece of SQL with its ? arguments (bun formats them).
type sqlFrag struct {
	sql  string
	args []any
}

func frag(sql string, args ...any) sqlFrag { return sqlFrag{sql, args} }

// join concatenates fragments with sep.
func joinFrags(parts []sqlFrag, sep string) sqlFrag {
	var b strings.Builder
	var args []any
	for i, p := range parts {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(p.sql)
		args = append(args, p.args...)
	}
	return sqlFrag{b.String(), args}
}

// wrap puts a fragment inside a template where %s marks its place.
func (f sqlFrag) wrap(tmpl string, extra ...any) sqlFrag {
	before, after, _ := strings.Cut(tmpl, "%s")
	args := make([]any, 0, len(f.args)+len(extra))
	// Arguments before the placeholder come first: count the ? in the template's head.
	n := strings.Count(before, "?")
	args = append(args, extra[:n]...)
	args = append(args, f.args...)
	args = append(args, extra[n:]...)
	return sqlFrag{before + f.sql + after, args}
}

// sourceAlias names the records of the panel's i-th data source in the rows query.
func sourceAlias(i int) string { return "s" + strconv.Itoa(i) }

// jsonAt is the JSON value at path in a source's documents.
func jsonAt(src int, path []string) sqlFrag {
	return frag(sourceAlias(src)+".doc #> ?::text[]", pgdialect.Array(path))
}

// textAt is the value at path as text (strings unquoted, other values as their JSON text).
func textAt(src int, path []string) sqlFrag {
	return frag(sourceAlias(src)+".doc #>> ?::text[]", pgdialect.Array(path))
}

// numberNoExponent is formula.NumberPattern without the exponent: the texts float8 input reads
// without a range error when they are short.
var numberNoExponent = strings.Replace(formula.NumberPattern, "([eE][-+]?[0-9]+)?", "", 1)

// typedAt is the value at path typed for a column of type typ (one of sqlTyped's types).
func typedAt(src int, path []string, typ string) sqlFrag {
	j, t := jsonAt(src, path), textAt(src, path)
	switch typ {
	case "number":
		// float8, as Go's float64: numeric would keep apart (or order) values that Go reads as the
		// same number, and fails on texts such as "1e999999" that Go reads as not a number. A
		// JSON number's text is numeric's output (never an exponent), which Go reads too. A
		// text of at most 250 characters without an exponent is within float8's range; any
		// other goes through panels_float8 (migration 0014), which gives Go's answer where float8
		// input fails. Each branch reads the document as few times as it can: the CASE's operand
		// is evaluated once, every other mention of t again.
		inRange := joinFrags([]sqlFrag{frag("CASE WHEN length("), t, frag(") <= 250 THEN ("), t, frag(")::float8 ELSE panels_float8("), t, frag(") END")}, "")
		return joinFrags([]sqlFrag{
			frag("(CASE jsonb_typeof("), j, frag(") WHEN 'number' THEN "), inRange,
			frag(" WHEN 'string' THEN CASE WHEN ("), t, frag(") ~ ? THEN ", numberNoExponent), inRange,
			frag(" WHEN ("), t, frag(") ~ ? THEN panels_float8(", formula.NumberPattern), t, frag(") END END)"),
		}, "")
	case "boolean":
		return joinFrags([]sqlFrag{
			frag("(CASE jsonb_typeof("), j, frag(") WHEN 'boolean' THEN ("), j,
			frag(")::boolean WHEN 'string' THEN CASE lower("), t, frag(") WHEN 'true' THEN true WHEN 'false' THEN false END END)"),
		}, "")
	}
	return t.wrap("(%s)")
}

// sqlValue is an operand as an SQL argument of the comparison kind of typ.
func sqlValue(v any, typ string) sqlFrag {
	switch typ {
	case "number":
		return frag("?::float8", strconv.FormatFloat(v.(float64), 'g', -1, 64))
	case "boolean":
		return frag("?::boolean", v.(bool))
	}
	return frag(`? COLLATE "C"`, v.(string))
}

// conditionSQL is a pushed condition on a typed expression e.
func conditionSQL(c *condition, e sqlFrag) sqlFrag {
	text := e.wrap(`%s COLLATE "C"`)
	lhs := e
	if c.typ != "number" && c.typ != "boolean" {
		lhs = text
	}
	switch c.op {
	case "isNull":
		return e.wrap("(%s) IS NULL")
	case "isNotNull":
		return e.wrap("(%s) IS NOT NULL")
	case "isEmpty", "isNotEmpty":
		empty := e.wrap("(%s) IS NULL")
		if c.typ != "number" && c.typ != "boolean" {
			empty = e.wrap("(COALESCE(%s, '') = '')")
		}
		if c.op == "isNotEmpty" {
			return empty.wrap("(NOT %s)")
		}
		return empty
	case "containsAny", "containsAll":
		if len(c.operands) == 0 {
			return frag("FALSE")
		}
		parts := make([]sqlFrag, len(c.operands))
		for i, o := range c.operands {
			parts[i] = e.wrap("strpos(lower(%s), lower(?)) > 0", o.v.(string))
		}
		sep := " OR "
		if c.op == "containsAll" {
			sep = " AND "
		}
		return joinFrags(parts, sep).wrap("COALESCE((%s), FALSE)")
	case "search":
		// LIKE, so that a trigram index on lower(text) can serve it; the needle's % _ and \ are
		// escaped to stand for themselves.
		return e.wrap(`COALESCE(lower(%s) LIKE '%' || lower(?) || '%' ESCAPE '\', FALSE)`, likeEscape(c.operands[0].v.(string)))
	case "notContains":
		if !c.operands[0].ok {
			return frag("TRUE")
		}
		return e.wrap("(NOT COALESCE(strpos(lower(%s), lower(?)) > 0, FALSE))", c.operands[0].v.(string))
	case "contains", "startsWith", "endsWith":
		if !c.operands[0].ok {
			return frag("FALSE")
		}
		needle := c.operands[0].v.(string)
		switch c.op {
		case "contains":
			return e.wrap("COALESCE(strpos(lower(%s), lower(?)) > 0, FALSE)", needle)
		case "startsWith":
			return e.wrap("COALESCE(starts_with(lower(%s), lower(?)), FALSE)", needle)
		}
		return e.wrap("COALESCE(right(lower(%s), char_length(lower(?))) = lower(?), FALSE)", needle, needle)
	case "eq", "ne", "in", "notIn":
		var vals []sqlFrag
		for _, o := range c.operands {
			if o.ok {
				vals = append(vals, sqlValue(o.v, c.typ))
			}
		}
		positive := frag("FALSE")
		if len(vals) > 0 {
			positive = joinFrags([]sqlFrag{frag("COALESCE(("), lhs, frag(") IN ("), joinFrags(vals, ", "), frag("), FALSE)")}, "")
		}
		if c.op == "ne" || c.op == "notIn" {
			return positive.wrap("(NOT %s)")
		}
		return positive
	case "between":
		lo, hi := c.operands[0], c.operands[1]
		if !lo.ok || !hi.ok {
			return frag("FALSE")
		}
		return joinFrags([]sqlFrag{frag("COALESCE(("), lhs, frag(") BETWEEN "), sqlValue(lo.v, c.typ), frag(" AND "),
			sqlValue(hi.v, c.typ), frag(", FALSE)")}, "")
	}
	o := c.operands[0]
	if !o.ok {
		return frag("FALSE")
	}
	op := map[string]string{"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[c.op]
	return joinFrags([]sqlFrag{frag("COALESCE(("), lhs, frag(") " + op + " "), sqlValue(o.v, c.typ), frag(", FALSE)")}, "")
}

// sortSQL is one ORDER BY term: nulls last in both directions.
func sortSQL(k *sortKey, e sqlFrag) sqlFrag {
	dir := " ASC NULLS LAST"
	if k.desc {
		dir = " DESC NULLS LAST"
	}
	if k.typ == "number" || k.typ == "boolean" {
		return e.wrap("%s" + dir)
	}
	return e.wrap(`%s COLLATE "C"` + dir)
}

// keysetSQL selects the rows after a position in the sort order: keys[i] is the i-th sort
// key's value as PostgreSQL rendered it (nil: null), ord the last tie-breaker.
func keysetSQL(keys []*sortKey, exprs []sqlFrag, vals []*string, ord int64) sqlFrag {
	after := frag("s0.ord > ?", ord)
	for i := len(keys) - 1; i >= 0; i-- {
		k, e := keys[i], exprs[i]
		if vals[i] == nil {
			after = joinFrags([]sqlFrag{e.wrap("((%s) IS NULL AND "), after, frag(")")}, "")
			continue
		}
		lhs := e
		var v sqlFrag
		switch k.typ {
		case "number":
			v = frag("?::float8", *vals[i])
		case "boolean":
			v = frag("?::boolean", *vals[i])
		default:
			lhs, v = e.wrap(`%s COLLATE "C"`), frag(`? COLLATE "C"`, *vals[i])
		}
		op := " > "
		if k.desc {
			op = " < "
		}
		after = joinFrags([]sqlFrag{
			frag("(("), lhs, frag(")" + op), v, frag(" OR ("), e, frag(") IS NULL OR (("), lhs, frag(") = "), v, frag(" AND "), after, frag("))"),
		}, "")
	}
	return after
}

// likeEscape makes every character of s literal in a LIKE pattern with ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// searchPrefilter is a condition on the primary record's whole document that every row the
// pushed search keeps satisfies: lower(doc::text) LIKE '%q%', which the trigram index of
// docs/search-index.md answers, so a selective search reads the few candidate records instead of every
// record of the source. It only narrows: the exact per-column match still decides.
//
// It is implied by the search when
//   - the whole search runs in SQL and every searched column is a base column of the primary
//     source, read as doc #>> path (text and select columns): its value is then part of doc, and
//     doc::text renders a nested value, number or boolean exactly as #>> does, and a string
//     between quotes with only " \ and control characters escaped;
//   - q holds none of those characters: a match of q in a string's value then lies in a run of
//     characters that doc::text renders unchanged;
//   - lower() maps one character at a time (libc collations; ICU lowers Σ by its context), so
//     lowering the document lowers the value's text in place. The store checks this with the
//     index (Query.SearchIndex).
//
// Needles shorter than 3 characters give pg_trgm no trigram to look up; the prefilter would
// only cost each row a rendering of its document, so it is left out.
func (pl *Plan) searchPrefilter() (sqlFrag, bool) {
	q := pl.q.Search
	if !pl.q.SearchIndex || pl.q.GoOnly || pl.search.root == nil || !pl.search.all || !prefilterNeedle(q) {
		return sqlFrag{}, false
	}
	for _, c := range pl.search.leaves() {
		if c.op != "search" || !c.pushed || c.col < 0 || pl.cols[c.col].src != 0 || (c.typ != "text" && c.typ != "select") {
			return sqlFrag{}, false
		}
	}
	return frag(`lower(s0.doc::text) LIKE '%' || lower(?) || '%' ESCAPE '\'`, likeEscape(q)), true
}

// prefilterNeedle reports whether doc::text holds q verbatim wherever a value holds it: no
// character that jsonb's text escapes, and long enough for a trigram.
func prefilterNeedle(q string) bool {
	if utf8.RuneCountInString(q) < 3 || !utf8.ValidString(q) {
		return false
	}
	for _, r := range q {
		if r == '"' || r == '\\' || r < 0x20 {
			return false
		}
	}
	return true
}
