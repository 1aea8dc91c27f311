package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/panels/panels/store/ingest"
)

// Input PostgreSQL can store (api.md §2). PostgreSQL cannot hold a NUL (U+0000) in text, nor
// jsonb's \u0000 escape, and Bun writes values into the SQL text, where a NUL cuts the statement.
// So the API gate refuses, in one pass before anything is written, a NUL anywhere in a path or
// query parameter or in a JSON body (keys and values, any depth), and duplicate JSON keys (which
// the validator and the binder would otherwise resolve silently, each in its own way).

const nulReason = "contains a NUL character (U+0000), which cannot be stored"

// storableInput checks the request's parameters and, when jsonBody is set and the body is JSON,
// its body; it returns a 400 problem naming every offending field, or nil. The body is read
// (within the body limit) and put back for the validator.
func storableInput(req *http.Request, params map[string]string, jsonBody bool) error {
	var errs []fieldError
	for _, name := range sortedKeys(params) {
		if strings.IndexByte(params[name], 0) >= 0 {
			errs = append(errs, fieldError{Field: "path." + printable(name), Reason: nulReason})
		}
	}
	if strings.Contains(req.URL.RawQuery, "%00") || strings.IndexByte(req.URL.RawQuery, 0) >= 0 {
		q := req.URL.Query()
		for _, name := range sortedKeys(q) {
			bad := strings.IndexByte(name, 0) >= 0
			for _, v := range q[name] {
				bad = bad || strings.IndexByte(v, 0) >= 0
			}
			if bad {
				errs = append(errs, fieldError{Field: "query." + printable(name), Reason: nulReason})
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
func inputProblem(errs []fieldError) error {
	if len(errs) == 0 {
		return nil
	}
	p := &problem{Status: http.StatusBadRequest, Slug: "validation", Errors: errs}
	reasons := make([]string, len(errs))
	for i, fe := range errs {
		reasons[i] = fe.Field + ": " + fe.Reason
	}
	p.Detail = "invalid request: " + strings.Join(reasons, "; ")
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
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
// validator reports the fault itself.
func jsonBodyErrors(body []byte, prefix string, dups bool) []fieldError {
	// A NUL can only be written as the escape \u0000 (a raw control character is malformed JSON);
	// without it, only duplicate keys remain to look for, which needs objects with two keys.
	hasNUL := bytes.Contains(body, []byte(`\u0000`))
	if !hasNUL && (!dups || bytes.Count(body, []byte{':'}) < 2) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	w := &jsonWalker{dec: dec, nul: hasNUL, dups: dups}
	w.value(prefix)
	return w.errs
}

type jsonWalker struct {
	dec  *json.Decoder
	nul  bool
	dups bool
	errs []fieldError
	bad  bool // malformed: stop
}

func (w *jsonWalker) add(field, reason string) {
	if len(w.errs) < maxBodyErrors {
		w.errs = append(w.errs, fieldError{Field: field, Reason: reason})
	}
}

// value reads one value at field.
func (w *jsonWalker) value(field string) {
	tok, err := w.dec.Token()
	if err != nil {
		w.bad = true
		return
	}
	w.after(field, tok)
}

func (w *jsonWalker) after(field string, tok json.Token) {
	switch v := tok.(type) {
	case string:
		if w.nul && strings.IndexByte(v, 0) >= 0 {
			w.add(field, nulReason)
		}
	case json.Delim:
		switch v {
		case '{':
			var seen map[string]bool
			for !w.bad && w.dec.More() {
				tok, err := w.dec.Token()
				if err != nil {
					w.bad = true
					return
				}
				key, _ := tok.(string)
				name := field + "." + printable(key)
				if w.nul && strings.IndexByte(key, 0) >= 0 {
					w.add(name, "the key "+nulReason)
				}
				if seen == nil && w.dups {
					seen = map[string]bool{}
				}
				if w.dups && seen[key] {
					w.add(name, "duplicate key: a key may appear once in an object")
				}
				if w.dups {
					seen[key] = true
				}
				w.value(name)
			}
			w.end()
		case '[':
			for i := 0; !w.bad && w.dec.More(); i++ {
				w.value(field + "." + strconv.Itoa(i))
			}
			w.end()
		}
	}
}

func (w *jsonWalker) end() {
	if w.bad {
		return
	}
	if _, err := w.dec.Token(); err != nil {
		w.bad = true
	}
}

// Records of an upload or a push are streamed into the database in one transaction, so a NUL is
// found record by record: the first record holding one ends the request with a 400 that names it
// (body.N.field, N counting records from 1 as sync messages do), the transaction is rolled back
// and no sync is recorded. Duplicate keys inside a record are the source's own data (jsonb keeps
// the last), as for records fetched from an API.

// storableRecords refuses the first uploaded record holding a NUL.
type storableRecords struct {
	rd ingest.Reader
	n  int
}

func (s *storableRecords) Next() (ingest.Record, error) {
	rec, err := s.rd.Next()
	if err != nil {
		return rec, err
	}
	s.n++
	return rec, recordNULs(s.n, rec.Key, rec.Doc, "")
}

// storableOps refuses the first pushed operation holding a NUL.
type storableOps struct {
	ops ingest.OpReader
	n   int
}

func (s *storableOps) Next() (ingest.Op, error) {
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
	var errs []fieldError
	if strings.IndexByte(key, 0) >= 0 {
		errs = append(errs, fieldError{Field: prefix + ".key", Reason: "the record's key " + nulReason})
	}
	if bytes.IndexByte(doc, 0) >= 0 {
		errs = append(errs, fieldError{Field: prefix + docAt, Reason: "the record " + nulReason})
	} else {
		errs = append(errs, jsonBodyErrors(doc, prefix+docAt, false)...)
	}
	return inputProblem(errs)
}
