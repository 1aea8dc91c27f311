package etag

import (
	"strings"
	"testing"
)

func TestEtagMatches(t *testing.T) {
	const etag = `"0123456789abcdef01234567"`
	for _, tc := range []struct {
		header string
		weak   bool
		want   bool
	}{
		{etag, false, true},
		{etag, true, true},
		{`"other"`, false, false},
		{`"other", ` + etag, false, true},
		{` "a" ,"b",   ` + etag + ` `, true, true},
		{`"a","b"`, true, false},
		{`*`, false, true},
		{`*`, true, true},
		{`W/` + etag, true, true},   // If-None-Match: weak comparison
		{`W/` + etag, false, false}, // If-Match: strong comparison, weak validators never match
		{`"x", W/` + etag, false, false},
		{`"x", W/` + etag, true, true},
		{``, false, false},
		{``, true, false},
		{strings.Trim(etag, `"`), false, false}, // unquoted
	} {
		if got := Matches(tc.header, etag, tc.weak); got != tc.want {
			t.Errorf("Matches(%q, weak=%v) = %v, want %v", tc.header, tc.weak, got, tc.want)
		}
	}
}
