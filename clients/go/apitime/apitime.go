// Package apitime is the wire form of instants in the Panels API: RFC 3339, UTC, with exactly
// three fractional digits (what the original service's clients parse), shared by the generated
// server and client.
package apitime

import (
	"bytes"
	"time"
)

// Layout writes milliseconds always, unlike time.RFC3339Nano, which drops trailing zeros.
const Layout = "2006-01-02T15:04:05.000Z07:00"

// Time is an instant that marshals in Layout.
type Time struct{ time.Time }

// New truncates t to milliseconds in UTC.
func New(t time.Time) Time { return Time{t.UTC().Truncate(time.Millisecond)} }

// MarshalJSON writes the instant in Layout, in UTC.
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(Layout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, Layout)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts any RFC 3339 instant.
func (t *Time) UnmarshalJSON(data []byte) error {
	if bytes.Equal(data, []byte("null")) {
		return nil
	}
	return t.Time.UnmarshalJSON(data)
}
