package server_test

import (
	"time"

	curs "github.com/panels/panels/server/cursor"
)

// testCursors signs cursors as the test server does: its key is derived from JWT_SECRET.
func testCursors(issued time.Time) *curs.Codec {
	c := curs.New(curs.DeriveKey([]byte(testSecret)))
	c.Now = func() time.Time { return issued }
	return c
}

// signedCursor forges a cursor of list and scope, issued at the given time, the way the server
// signs one: the tests' stand-in for a leaked key, to reach the checks behind the signature.
func signedCursor(list, scope string, p curs.Payload, issued time.Time) string {
	return testCursors(issued).Encode(list, scope, p)
}
