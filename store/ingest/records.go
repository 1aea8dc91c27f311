// Package ingest reads a data source's records: it parses uploads (CSV, JSON array, NDJSON),
// fetches API responses and runs database queries, one record at a time, so that a sync streams
// from the source straight into the database without holding the whole set in memory.
//
// Every failure of a source is an *Error whose message is safe to show to the source's owner.
package ingest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Record is one record of a source: its key and its JSON object.
type Record struct {
	Key string
	Doc []byte
}

// Reader yields records until io.EOF.
type Reader interface {
	Next() (Record, error)
}

// Error is a failure of the source (bad data, unreachable, refused, too large). Its message
// names the problem without internals.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func failf(format string, args ...any) error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// Options bound what one sync may read and say how records are keyed.
type Options struct {
	// KeyField is a dotted path to each record's key; "" keys records by position (1, 2, ...).
	KeyField string
	// MaxRecords fails the sync past this many records (0: no limit).
	MaxRecords int
}

// docReader yields raw JSON objects; keyed turns them into records. A reader that knows each
// record's key itself (CSV) returns it with own set; the others leave keying to keyed.
type docReader interface {
	next() (doc []byte, key string, own bool, err error)
}

// keyed assigns keys, refuses duplicates and enforces the record limit.
type keyed struct {
	src  docReader
	opts Options
	path []string
	n    int
	seen map[string]int
}

func newKeyed(src docReader, opts Options) *keyed {
	k := &keyed{src: src, opts: opts, seen: map[string]int{}}
	if opts.KeyField != "" {
		k.path = strings.Split(opts.KeyField, ".")
	}
	return k
}

func (k *keyed) Next() (Record, error) {
	doc, key, own, err := k.src.next()
	if err != nil {
		return Record{}, err
	}
	k.n++
	if k.opts.MaxRecords > 0 && k.n > k.opts.MaxRecords {
		return Record{}, failf("the source has more than %d records", k.opts.MaxRecords)
	}
	switch {
	case own && key == "":
		return Record{}, failf("record %d has no key (column %q is empty)", k.n, k.opts.KeyField)
	case own:
	case k.path == nil:
		key = strconv.Itoa(k.n)
	default:
		var ok bool
		if key, ok = keyOf(doc, k.path); !ok {
			return Record{}, failf("record %d has no usable key field %q (a text, number or boolean)", k.n, k.opts.KeyField)
		}
	}
	if first, dup := k.seen[key]; dup {
		return Record{}, failf("records %d and %d have the same key %q", first, k.n, clip(key))
	}
	k.seen[key] = k.n
	return Record{Key: key, Doc: doc}, nil
}

// keyOf reads the scalar at path in a JSON object as text.
func keyOf(doc []byte, path []string) (string, bool) {
	cur := json.RawMessage(doc)
	for _, seg := range path {
		var obj map[string]json.RawMessage
		if json.Unmarshal(cur, &obj) != nil {
			return "", false
		}
		v, ok := obj[seg]
		if !ok {
			return "", false
		}
		cur = v
	}
	cur = bytes.TrimSpace(cur)
	if len(cur) == 0 {
		return "", false
	}
	switch cur[0] {
	case '"':
		var s string
		if json.Unmarshal(cur, &s) != nil || s == "" {
			return "", false
		}
		return s, true
	case '{', '[', 'n':
		return "", false
	}
	return string(cur), true // a number or boolean, as written
}

// JSONArray reads a JSON document whose array at pointer (RFC 6901; "" is the document itself)
// holds the records, each an object. The whole document must be valid JSON.
func JSONArray(r io.Reader, pointer string, opts Options) (Reader, error) {
	tokens, err := pointerTokens(pointer)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return newKeyed(&arrayReader{dec: dec, tokens: tokens, pointer: pointer}, opts), nil
}

type arrayReader struct {
	dec     *json.Decoder
	tokens  []string
	pointer string
	started bool
	done    bool
	n       int
}

func (a *arrayReader) next() ([]byte, string, bool, error) {
	if a.done {
		return nil, "", false, io.EOF
	}
	if !a.started {
		a.started = true
		if err := a.seek(); err != nil {
			return nil, "", false, err
		}
	}
	if !a.dec.More() {
		if _, err := a.dec.Token(); err != nil { // the closing ]
			return nil, "", false, badJSON(err)
		}
		a.done = true
		// Read the rest of the document: a truncated or malformed tail fails the sync too.
		for {
			if _, err := a.dec.Token(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil, "", false, io.EOF
				}
				return nil, "", false, badJSON(err)
			}
		}
	}
	var raw json.RawMessage
	if err := a.dec.Decode(&raw); err != nil {
		return nil, "", false, badJSON(err)
	}
	a.n++
	if len(raw) == 0 || raw[0] != '{' {
		return nil, "", false, failf("record %d is not a JSON object", a.n)
	}
	return raw, "", false, nil
}

// seek walks the document to the records array, skipping everything else on the way.
func (a *arrayReader) seek() error {
	for depth := 0; ; depth++ {
		tok, err := a.dec.Token()
		if err != nil {
			return badJSON(err)
		}
		delim, _ := tok.(json.Delim)
		if depth == len(a.tokens) {
			if delim != '[' {
				if a.pointer == "" {
					return failf("the document is not an array of records (set recordsPath to the array)")
				}
				return failf("recordsPath %q does not point at an array", a.pointer)
			}
			return nil
		}
		want := a.tokens[depth]
		switch delim {
		case '{':
			found := false
			for a.dec.More() {
				key, err := a.dec.Token()
				if err != nil {
					return badJSON(err)
				}
				if key == want {
					found = true
					break
				}
				if err := skipValue(a.dec); err != nil {
					return err
				}
			}
			if !found {
				return failf("recordsPath %q not found in the document", a.pointer)
			}
		case '[':
			idx, err := strconv.Atoi(want)
			if err != nil || idx < 0 {
				return failf("recordsPath %q not found in the document", a.pointer)
			}
			for i := 0; i < idx; i++ {
				if !a.dec.More() {
					return failf("recordsPath %q not found in the document", a.pointer)
				}
				if err := skipValue(a.dec); err != nil {
					return err
				}
			}
			if !a.dec.More() {
				return failf("recordsPath %q not found in the document", a.pointer)
			}
		default:
			return failf("recordsPath %q not found in the document", a.pointer)
		}
	}
}

func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return badJSON(err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

func pointerTokens(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, failf("recordsPath %q is not a JSON pointer", p)
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

func badJSON(err error) error {
	var tooLarge *TooLargeError
	if errors.As(err, &tooLarge) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return failf("invalid JSON: the document ends too early")
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return failf("invalid JSON at byte %d: %s", syn.Offset, syn.Error())
	}
	// Anything else (a timeout, a body over its limit, an *Error) is kept as it is, so that
	// callers can tell them apart.
	return err
}

// NDJSON reads one JSON object per line (blank lines are skipped).
func NDJSON(r io.Reader, opts Options) Reader {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return newKeyed(&ndjsonReader{dec: dec}, opts)
}

type ndjsonReader struct {
	dec *json.Decoder
	n   int
}

func (n *ndjsonReader) next() ([]byte, string, bool, error) {
	var raw json.RawMessage
	if err := n.dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, "", false, io.EOF
		}
		return nil, "", false, badJSON(err)
	}
	n.n++
	if raw[0] != '{' {
		return nil, "", false, failf("record %d is not a JSON object", n.n)
	}
	return raw, "", false, nil
}

// CSV reads a header line and then one record per line; every value is text, an empty field
// is null. delimiter 0 means a comma.
func CSV(r io.Reader, delimiter rune, opts Options) (Reader, error) {
	cr := csv.NewReader(bufio.NewReaderSize(r, 64<<10))
	if delimiter != 0 {
		cr.Comma = delimiter
	}
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1 // csvReader checks the count itself, with a clearer message
	// The key field of a CSV source is the column of that exact name (headers may contain dots).
	return newKeyed(&csvReader{r: cr, keyField: opts.KeyField}, opts), nil
}

type csvReader struct {
	r        *csv.Reader
	keyField string
	keyIdx   int
	header   [][]byte // JSON-encoded names
	buf      bytes.Buffer
	started  bool
}

func (c *csvReader) next() ([]byte, string, bool, error) {
	if !c.started {
		c.started = true
		if err := c.readHeader(); err != nil {
			return nil, "", false, err
		}
	}
	rec, err := c.r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, "", false, io.EOF
		}
		return nil, "", false, csvErr(err)
	}
	if len(rec) != len(c.header) {
		line, _ := c.r.FieldPos(0)
		return nil, "", false, failf("CSV line %d has %d fields, the header has %d", line, len(rec), len(c.header))
	}
	c.buf.Reset()
	c.buf.WriteByte('{')
	for i, v := range rec {
		if i > 0 {
			c.buf.WriteByte(',')
		}
		c.buf.Write(c.header[i])
		c.buf.WriteByte(':')
		if v == "" {
			c.buf.WriteString("null")
		} else {
			writeJSONString(&c.buf, v)
		}
	}
	c.buf.WriteByte('}')
	doc := append([]byte(nil), c.buf.Bytes()...)
	if c.keyIdx >= 0 {
		return doc, rec[c.keyIdx], true, nil
	}
	return doc, "", false, nil
}

func (c *csvReader) readHeader() error {
	names, err := c.r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return failf("the CSV file is empty (it needs a header line)")
		}
		return csvErr(err)
	}
	c.keyIdx = -1
	seen := map[string]bool{}
	for i, n := range names {
		if i == 0 {
			n = strings.TrimPrefix(n, "\ufeff")
		}
		n = strings.TrimSpace(n)
		if n == "" {
			return failf("CSV header column %d has no name", i+1)
		}
		if seen[n] {
			return failf("CSV header names column %q twice", clip(n))
		}
		seen[n] = true
		if n == c.keyField {
			c.keyIdx = i
		}
		var b bytes.Buffer
		writeJSONString(&b, n)
		c.header = append(c.header, b.Bytes())
	}
	if c.keyField != "" && c.keyIdx < 0 {
		return failf("the CSV header has no column %q (the key field)", clip(c.keyField))
	}
	return nil
}

func csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return failf("CSV line %d: %v", pe.Line, pe.Err)
	}
	return badJSON(err)
}

func writeJSONString(b *bytes.Buffer, s string) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	enc, _ := json.Marshal(s)
	// PostgreSQL's jsonb refuses \u0000; no CSV carries it on purpose.
	b.Write(bytes.ReplaceAll(enc, []byte(`\u0000`), []byte(`\uFFFD`)))
}

func clip(s string) string {
	if utf8.RuneCountInString(s) > 60 {
		return string([]rune(s)[:60]) + "…"
	}
	return s
}

// TooLargeError is a source body over its size limit.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the source is larger than %d bytes", e.Limit)
}

// LimitReader fails with *TooLargeError once more than limit bytes are read.
func LimitReader(r io.Reader, limit int64) io.Reader {
	return &limitReader{r: r, left: limit, limit: limit}
}

type limitReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, &TooLargeError{Limit: l.limit}
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, &TooLargeError{Limit: l.limit}
	}
	return n, err
}
