package ingest

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
)

// valueScanner cuts a stream into JSON values by their structure (strings, nesting) and checks
// each with json.Valid, which is several times faster than decoding them: the records of a
// large sync are mostly copied through to PostgreSQL untouched.
type valueScanner struct {
	br  *bufio.Reader
	buf []byte
}

func newValueScanner(r io.Reader) *valueScanner {
	return &valueScanner{br: bufio.NewReaderSize(r, 64<<10)}
}

// skipSpace returns the next byte that is not JSON whitespace (io.EOF at the end).
func (s *valueScanner) skipSpace() (byte, error) {
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c, nil
	}
}

// object reads the rest of a JSON object whose '{' was just read and returns a copy of it.
// n numbers the record in messages.
func (s *valueScanner) object(n int) ([]byte, error) {
	s.buf = append(s.buf[:0], '{')
	depth, inString, escaped := 1, false, false
	for depth > 0 {
		if s.br.Buffered() == 0 {
			if _, err := s.br.Peek(1); err != nil {
				return nil, scanErr(err)
			}
		}
		chunk, _ := s.br.Peek(s.br.Buffered())
		used := len(chunk)
		for i, c := range chunk {
			switch {
			case escaped:
				escaped = false
			case inString:
				switch c {
				case '\\':
					escaped = true
				case '"':
					inString = false
				}
			case c == '"':
				inString = true
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				depth--
			}
			if depth == 0 {
				used = i + 1
				break
			}
		}
		s.buf = append(s.buf, chunk[:used]...)
		_, _ = s.br.Discard(used) // what follows the object stays for the next value
	}
	if !json.Valid(s.buf) {
		return nil, failf("invalid JSON in record %d", n)
	}
	return append([]byte(nil), s.buf...), nil
}

func scanErr(err error) error {
	if errors.Is(err, io.EOF) {
		return failf("invalid JSON: the document ends too early")
	}
	return badJSON(err)
}
