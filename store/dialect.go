package store

import (
	"github.com/uptrace/bun/dialect/pgdialect"
)

// dialect is PostgreSQL's Bun dialect with JSON quoted correctly.
//
// Bun's AppendJSON turns every `\u0000` of the encoded JSON into `\\u0000`, even when the
// backslash before it is itself escaped. So the JSON text `"\\u0000"` (the six characters
// \u0000, ordinary input) became `"\\\u0000"`, a NUL escape that jsonb refuses (22P05, a 500);
// and a real NUL became the text \u0000, stored in its place, which then failed in the same way
// on every later write of that row. Here escapes are copied whole, so text stays text.
//
// A NUL itself cannot be stored in jsonb: requests carrying one are refused at the API gate
// (400); one that reaches the store anyway (a record fetched from a source) is stored as U+FFFD,
// the replacement character, as migration 0005 repaired the rows written before.
type dialect struct {
	*pgdialect.Dialect
}

func newDialect() *dialect { return &dialect{Dialect: pgdialect.New()} }

// AppendJSON appends valid encoded JSON as a standard-conforming SQL string literal.
func (*dialect) AppendJSON(b, jsonb []byte) []byte {
	b = append(b, '\'')
	for i := 0; i < len(jsonb); i++ {
		switch c := jsonb[i]; c {
		case '\'':
			b = append(b, "''"...)
		case 0:
			// Not valid JSON; dropped as Bun does rather than cutting the statement short.
		case '\\':
			if i+5 < len(jsonb) && string(jsonb[i+1:i+6]) == "u0000" {
				b = append(b, `\ufffd`...)
				i += 5
				continue
			}
			b = append(b, '\\')
			if i+1 < len(jsonb) {
				i++
				if jsonb[i] == '\'' {
					b = append(b, "''"...)
				} else if jsonb[i] != 0 {
					b = append(b, jsonb[i])
				}
			}
		default:
			b = append(b, c)
		}
	}
	return append(b, '\'')
}
