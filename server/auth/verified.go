package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verifiedTokens remembers tokens that passed verification, so a client's burst of requests pays
// for one signature check instead of one per request. An entry never outlives its token's exp
// (nor one minute, so configuration changes such as a rotated JWKS take effect quickly), and the
// map is keyed by a hash of the whole token: a token differing in any byte is verified afresh.
type verifiedTokens struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]verifiedToken
}

type verifiedToken struct {
	principal Principal
	until     time.Time
}

// maxVerifiedTokens bounds memory; when full the map is simply started afresh.
const maxVerifiedTokens = 10000

func (c *verifiedTokens) get(key [sha256.Size]byte, now time.Time) (Principal, bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return Principal{}, false
	}
	return e.principal, true
}

func (c *verifiedTokens) put(key [sha256.Size]byte, p Principal, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxVerifiedTokens {
		c.m = make(map[[sha256.Size]byte]verifiedToken)
	}
	c.m[key] = verifiedToken{principal: p, until: until}
}
