// Package storable refuses, before anything is written, input PostgreSQL cannot store
// (docs/data-flow.md#storable-input): a NUL (U+0000) anywhere in text or jsonb, and duplicate JSON
// keys, which the validator and the binder would otherwise resolve silently, each in its own way.
package storable

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/server/problem"
	"github.com/panels/panels/store/ingest"
)

// PostgreSQL cannot hold a NUL in text, nor jsonb's \u0000 escape, and Bun writes values into the
// SQL text, where a NUL cuts the statement. So the API gate checks, in one pass, every path and
// query parameter and the JSON body (keys and values, any depth).

const nulReason = "contains a NUL character (U+0000), which cannot be stored"

// Request checks the request's parameters and, when jsonBody is set and the body is JSON,
// its body; it returns a 400 problem naming every offending field, or nil. The body is read
// (within the body limit) and put back for the validator.
func Request(req *http.Request, params map[string]string, jsonBody bool) error {
	var errs []gen.FieldError
	for _, name := range slices.Sorted(maps.Keys(params)) {
		if strings.IndexByte(params[name], 0) >= 0 {
			errs = append(errs, gen.FieldError{Field: "path." + printable(name), Reason: nulReason})
		}
	}
	if strings.Contains(req.URL.RawQuery, "%00") || strings.IndexByte(req.URL.RawQuery, 0) >= 0 {
		q := req.URL.Query()
		for _, name := range slices.Sorted(maps.Keys(q)) {
			bad := strings.IndexByte(name, 0) >= 0
			for _, v := range q[name] {
				bad = bad || strings.IndexByte(v, 0) >= 0
			}
			if bad {
				errs = append(errs, gen.FieldError{Field: "query." + printable(name), Reason: nulReason})
			}
		}
	}
	if jsonBody && req.Body != nil && req.Body != http.NoBody && isJSON(req.Header.Get("Content-Type")) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return mbe
			}
			return err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		errs = append(errs, jsonBodyErrors(body, "body", true)...)
	}
	return inputProblem(errs)
}

// inputProblem is the 400 for errs, nil when there are none.
func inputProblem(errs []gen.FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	return problem.Invalid(errs)
}

// printable names a field whose own name holds a NUL without repeating the NUL.
func printable(s string) string { return strings.ReplaceAll(s, "\x00", `\u0000`) }

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// maxBodyErrors bounds the entries of one answer.
const maxBodyErrors = 20

// jsonBodyErrors walks a JSON document for NULs in keys and strings and, with dups, for duplicate
// keys; fields are named from prefix. Malformed JSON yields what was found before the fault: the
// validator reports the fault itself. It scans the bytes once, allocating only for object keys
// (json.Decoder.Token was ten times slower), because it runs on every JSON body.
func jsonBodyErrors(body []byte, prefix string, dups bool) []gen.FieldError {
	// A NUL can only be written as the escape \u0000 (a raw control character is malformed JSON);
	// without it, only duplicate keys remain to look for, which needs objects with two keys.
	hasNUL := bytes.Contains(body, []byte(`\u0000`))
	if !hasNUL && (!dups || bytes.Count(body, []byte{':'}) < 2) {
		return nil
	}
	w := &jsonWalker{b: body, nul: hasNUL, dups: dups, path: []string{prefix}}
	w.value(0)
	return w.errs
}

// maxJSONDepth is encoding/json's own nesting limit: deeper documents are refused as malformed.
const maxJSONDepth = 10000

type jsonWalker struct {
	b    []byte
	i    int
	nul  bool
	dups bool
	path []string // the segments of the value being read
	errs []gen.FieldError
	bad  bool // malformed: stop
}

func (w *jsonWalker) add(reason string) {
	if len(w.errs) < maxBodyErrors {
		w.errs = append(w.errs, gen.FieldError{Field: strings.Join(w.path, "."), Reason: reason})
	}
}

func (w *jsonWalker) space() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// str reads the string at w.i (an opening quote): its raw contents and whether it has escapes.
func (w *jsonWalker) str() (raw []byte, escaped bool) {
	start := w.i + 1
	for j := start; j < len(w.b); j++ {
		switch c := w.b[j]; {
		case c == '\\':
			escaped = true
			j++
		case c == '"':
			w.i = j + 1
			return w.b[start:j], escaped
		case c < 0x20:
			w.bad = true
			return nil, false
		}
	}
	w.bad = true
	return nil, false
}

// decoded is the text of a string str read (raw when it has no escapes).
func (w *jsonWalker) decoded(raw []byte, escaped bool) string {
	if !escaped {
		return string(raw)
	}
	var s string
	// The quotes around raw are in the document: unmarshal the string with them.
	start := len(w.b[:w.i]) - len(raw) - 2
	if json.Unmarshal(w.b[start:w.i], &s) != nil {
		w.bad = true
	}
	return s
}

// value reads one value at w.i.
func (w *jsonWalker) value(depth int) {
	w.space()
	if w.bad || w.i >= len(w.b) || depth > maxJSONDepth {
		w.bad = true
		return
	}
	switch w.b[w.i] {
	case '"':
		raw, esc := w.str()
		if w.nul && esc && !w.bad && strings.IndexByte(w.decoded(raw, esc), 0) >= 0 {
			w.add(nulReason)
		}
	case '{':
		w.object(depth)
	case '[':
		w.array(depth)
	default: // a number, true, false or null: up to the next delimiter
		for w.i < len(w.b) {
			switch w.b[w.i] {
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				return
			}
			w.i++
		}
	}
}

// object reads the object at w.i (an opening brace).
func (w *jsonWalker) object(depth int) {
	w.i++
	// Few keys: a slice beats a map. A local slice, too: the compiler keeps its first appends on the stack.
	var seen []string
	var seenMap map[string]struct{}
	for first := true; ; first = false {
		w.space()
		if w.i < len(w.b) && w.b[w.i] == '}' && first {
			w.i++
			return
		}
		if w.i >= len(w.b) || w.b[w.i] != '"' {
			w.bad = true
			return
		}
		raw, esc := w.str()
		if w.bad {
			return
		}
		key := w.decoded(raw, esc)
		w.path = append(w.path, printable(key))
		if w.nul && esc && strings.IndexByte(key, 0) >= 0 {
			w.add("the key " + nulReason)
		}
		if w.dups {
			dup := false
			if seenMap != nil {
				_, dup = seenMap[key]
				seenMap[key] = struct{}{}
			} else {
				dup = slices.Contains(seen, key)
				seen = append(seen, key)
				if len(seen) > 16 {
					seenMap = make(map[string]struct{}, 2*len(seen))
					for _, k := range seen {
						seenMap[k] = struct{}{}
					}
				}
			}
			if dup {
				w.add("duplicate key: a key may appear once in an object")
			}
		}
		w.space()
		if w.i >= len(w.b) || w.b[w.i] != ':' {
			w.bad = true
			return
		}
		w.i++
		w.value(depth + 1)
		w.path = w.path[:len(w.path)-1]
		if !w.next('}') {
			return
		}
	}
}

// array reads the array at w.i (an opening bracket).
func (w *jsonWalker) array(depth int) {
	w.i++
	for n := 0; ; n++ {
		w.space()
		if w.i < len(w.b) && w.b[w.i] == ']' && n == 0 {
			w.i++
			return
		}
		w.path = append(w.path, strconv.Itoa(n))
		w.value(depth + 1)
		w.path = w.path[:len(w.path)-1]
		if !w.next(']') {
			return
		}
	}
}

// next reads a comma (true: another member follows) or the closing delimiter (false).
func (w *jsonWalker) next(closing byte) bool {
	w.space()
	if w.bad || w.i >= len(w.b) {
		w.bad = true
		return false
	}
	switch w.b[w.i] {
	case ',':
		w.i++
		return true
	case closing:
		w.i++
		return false
	}
	w.bad = true
	return false
}

// Records of an upload or a push are streamed into the database in one transaction, so a NUL is
// found record by record: the first record holding one ends the request with a 400 that names it
// (body.N.field, N counting records from 1 as sync messages do), the transaction is rolled back
// and no sync is recorded. Duplicate keys inside a record are the source's own data (jsonb keeps
// the last), as for records fetched from an API.

// Records refuses the first record of rd holding a NUL.
func Records(rd ingest.Reader) ingest.Reader { return &records{rd: rd} }

type records struct {
	rd ingest.Reader
	n  int
}

func (s *records) Next() (ingest.Record, error) {
	rec, err := s.rd.Next()
	if err != nil {
		return rec, err
	}
	s.n++
	return rec, recordNULs(s.n, rec.Key, rec.Doc, "")
}

// Ops refuses the first operation of ops holding a NUL.
func Ops(ops ingest.OpReader) ingest.OpReader { return &operations{ops: ops} }

type operations struct {
	ops ingest.OpReader
	n   int
}

func (s *operations) Next() (ingest.Op, error) {
	op, err := s.ops.Next()
	if err != nil {
		return op, err
	}
	s.n++
	return op, recordNULs(s.n, op.Key, op.Doc, ".record")
}

// recordNULs names the n-th record's key and the fields of its doc (under docAt) holding a NUL.
func recordNULs(n int, key string, doc []byte, docAt string) error {
	prefix := "body." + strconv.Itoa(n)
	var errs []gen.FieldError
	if strings.IndexByte(key, 0) >= 0 {
		errs = append(errs, gen.FieldError{Field: prefix + ".key", Reason: "the record's key " + nulReason})
	}
	if bytes.IndexByte(doc, 0) >= 0 {
		errs = append(errs, gen.FieldError{Field: prefix + docAt, Reason: "the record " + nulReason})
	} else {
		errs = append(errs, jsonBodyErrors(doc, prefix+docAt, false)...)
	}
	return inputProblem(errs)
}
