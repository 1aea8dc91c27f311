// Package etag compares entity tags the way If-Match and If-None-Match do (RFC 9110), for the
// handlers and for the response cache's replays.
package etag

import "strings"

// Matches implements If-Match (weak=false) and If-None-Match (weak=true) list matching.
func Matches(header string, etag string, weak bool) bool {
	for _, candidate := range strings.Split(header, ",") {
		candidate = strings.TrimSpace(candidate)
		if candidate == "*" {
			return true
		}
		if strings.HasPrefix(candidate, "W/") {
			if !weak {
				continue // weak validators never satisfy If-Match
			}
			candidate = candidate[2:]
		}
		if candidate == etag {
			return true
		}
	}
	return false
}
