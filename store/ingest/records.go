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
	cur := doc
	for _, seg := range path {
		v, ok := member(cur, seg)
		if !ok {
			return "", false
		}
		cur = v
	}
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

// member finds a member of a JSON object (already known to be valid JSON) and returns its raw
// value. It scans instead of decoding: keying every record of a large sync must be cheap.
func member(obj []byte, name string) ([]byte, bool) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, false
	}
	i++
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return nil, false // "}" or malformed: not found
		}
		end := skipString(obj, i)
		if end < 0 {
			return nil, false
		}
		key := obj[i:end]
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return nil, false
		}
		i = skipSpace(obj, i+1)
		vend := skipJSONValue(obj, i)
		if vend < 0 {
			return nil, false
		}
		if keyEquals(key, name) {
			return obj[i:vend], true
		}
		i = skipSpace(obj, vend)
		if i < len(obj) && obj[i] == ',' {
			i++
		}
	}
}

// keyEquals compares a quoted JSON string with a name, decoding only when it has escapes.
func keyEquals(quoted []byte, name string) bool {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == name
	}
	var s string
	return json.Unmarshal(quoted, &s) == nil && s == name
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] (a quote), or -1.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipJSONValue returns the index after the value starting at b[i], or -1.
func skipJSONValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				if j = skipString(b, j); j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && !bytes.ContainsRune([]byte(",}] \t\r\n"), rune(b[j])) {
		j++
	}
	return j
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
	return newKeyed(&arrayReader{dec: dec, src: r, tokens: tokens, pointer: pointer}, opts), nil
}

type arrayReader struct {
	dec     *json.Decoder // finds the array (seek), then reads what follows it
	src     io.Reader
	scan    *valueScanner // reads the records
	levels  []byte        // the containers around the array, outermost first ('{' or '[')
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
		a.scan = newValueScanner(io.MultiReader(a.dec.Buffered(), a.src))
	}
	c, err := a.scan.skipSpace()
	if err != nil {
		return nil, "", false, scanErr(err)
	}
	if a.n > 0 && c == ',' {
		if c, err = a.scan.skipSpace(); err != nil {
			return nil, "", false, scanErr(err)
		}
		if c == ']' {
			return nil, "", false, failf("invalid JSON after record %d: a comma before ]", a.n)
		}
	} else if a.n > 0 && c != ']' {
		return nil, "", false, failf("invalid JSON after record %d: expected , or ]", a.n)
	}
	if c == ']' {
		a.done = true
		return nil, "", false, a.tail()
	}
	a.n++
	if c != '{' {
		return nil, "", false, failf("record %d is not a JSON object", a.n)
	}
	doc, err := a.scan.object(a.n)
	if err != nil {
		return nil, "", false, err
	}
	return doc, "", false, nil
}

// tail checks what follows the records array: the document must end as it began, so a truncated
// or malformed response fails the sync too. The containers seek went through are re-opened in
// front of it so that json.Valid can judge the whole.
func (a *arrayReader) tail() error {
	rest, err := io.ReadAll(a.scan.br)
	if err != nil {
		return badJSON(err)
	}
	var doc []byte
	for _, l := range a.levels {
		if l == '{' {
			doc = append(doc, `{"":`...)
		} else {
			doc = append(doc, '[')
		}
	}
	doc = append(append(doc, "null"...), rest...)
	if !json.Valid(doc) {
		return failf("invalid JSON after the records")
	}
	return io.EOF
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
		a.levels = append(a.levels, byte(delim))
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
	var tooLarge *tooLargeError
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
	return newKeyed(&ndjsonReader{scan: newValueScanner(r)}, opts)
}

type ndjsonReader struct {
	scan *valueScanner
	n    int
}

func (n *ndjsonReader) next() ([]byte, string, bool, error) {
	c, err := n.scan.skipSpace()
	if errors.Is(err, io.EOF) {
		return nil, "", false, io.EOF
	}
	if err != nil {
		return nil, "", false, badJSON(err)
	}
	n.n++
	if c != '{' {
		return nil, "", false, failf("record %d is not a JSON object", n.n)
	}
	doc, err := n.scan.object(n.n)
	if err != nil {
		return nil, "", false, err
	}
	return doc, "", false, nil
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
	// A NUL stays the escape \u0000, which jsonb refuses: an upload carrying one is refused with a
	// 400 naming the record before its transaction commits. (Replacing the escape in
	// the encoded text also turned the text \u0000, after an escaped backslash, into \uFFFD.)
	enc, _ := json.Marshal(s)
	b.Write(enc)
}

func clip(s string) string {
	if utf8.RuneCountInString(s) > 60 {
		return string([]rune(s)[:60]) + "…"
	}
	return s
}

// tooLargeError is a source body over its size limit.
type tooLargeError struct{ Limit int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("the source is larger than %d bytes", e.Limit)
}

// newLimitReader fails with *tooLargeError once more than limit bytes are read.
func newLimitReader(r io.Reader, limit int64) io.Reader {
	return &limitReader{r: r, left: limit, limit: limit}
}

type limitReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, &tooLargeError{Limit: l.limit}
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, &tooLargeError{Limit: l.limit}
	}
	return n, err
}
