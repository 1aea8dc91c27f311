package redisx

import (
	"bytes"
	"testing"
	"time"

	"github.com/panels/panels/server/auth"
)

func TestLocalLimiterTakesFromBothBucketsOrNeither(t *testing.T) {
	var l localLimiter
	now := time.Unix(1000, 0)
	user, tenant := bucket{rate: 1, burst: 3}, bucket{rate: 1, burst: 4}
	u1 := auth.Principal{TenantID: "t", UserID: "u1"}
	u2 := auth.Principal{TenantID: "t", UserID: "u2"}
	for i := range 3 {
		if d := l.decide(now, u1, user, tenant); !d.allowed {
			t.Fatalf("request %d refused", i)
		}
	}
	d := l.decide(now, u1, user, tenant)
	if d.allowed || d.retry != time.Second || d.binding().burst != 3 {
		t.Fatalf("fourth request of u1: %+v", d)
	}
	// u1's refusal took nothing from the tenant: u2 gets the tenant's last token.
	if d := l.decide(now, u2, user, tenant); !d.allowed || d.binding().burst != 4 || d.binding().tokens != 0 {
		t.Fatalf("u2: %+v", d)
	}
	// The tenant is empty: u2 is refused, and that takes nothing from u2's own bucket.
	if d := l.decide(now, u2, user, tenant); d.allowed || d.binding().burst != 4 {
		t.Fatalf("u2 over the tenant limit: %+v", d)
	}
	if got := l.tokens("u\x00t\x00u2", now); got != 2 {
		t.Errorf("u2's bucket after a refusal: %v tokens, want 2", got)
	}
	later := now.Add(2 * time.Second)
	if d := l.decide(later, u1, user, tenant); !d.allowed || d.user.full != 2*time.Second {
		t.Errorf("after refill: %+v", d)
	}
	if d := l.decide(later, u1, bucket{}, bucket{}); !d.allowed {
		t.Errorf("limits off: %+v", d)
	}
}

func TestCacheEntryRoundTrip(t *testing.T) {
	e := entry{headers: []string{"application/json", `"abc"`, ""}, body: []byte(`{"id":1}` + "\n")}
	raw := encodeEntry(e)
	got, err := decodeEntry(raw)
	if err != nil || !bytes.Equal(got.body, e.body) || len(got.headers) != 3 || got.headers[1] != `"abc"` {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, raw[:len(raw)-1], append([]byte{9}, raw[1:]...), raw[:5]} {
		if _, err := decodeEntry(bad); err == nil {
			t.Errorf("decoded a damaged entry %q", bad)
		}
	}
}

func TestCacheKeySeparatesCallers(t *testing.T) {
	p := auth.Principal{TenantID: "t", UserID: "u", Email: "u@x", Role: auth.RoleUser}
	base := cacheKey("ns", "e", 1, p, "/api/panels/:panelId", "/api/panels/1", "")
	variants := []string{
		cacheKey("ns", "e2", 1, p, "/api/panels/:panelId", "/api/panels/1", ""),
		cacheKey("ns", "e", 2, p, "/api/panels/:panelId", "/api/panels/1", ""),
		cacheKey("ns2", "e", 1, p, "/api/panels/:panelId", "/api/panels/1", ""),
		cacheKey("ns", "e", 1, auth.Principal{TenantID: "t", UserID: "u", Email: "u@x", Role: auth.RoleAdmin}, "/api/panels/:panelId", "/api/panels/1", ""),
		cacheKey("ns", "e", 1, auth.Principal{TenantID: "t", UserID: "u", Role: auth.RoleUser}, "/api/panels/:panelId", "/api/panels/1", ""),
		cacheKey("ns", "e", 1, auth.Principal{TenantID: "t2", UserID: "u", Email: "u@x", Role: auth.RoleUser}, "/api/panels/:panelId", "/api/panels/1", ""),
		cacheKey("ns", "e", 1, p, "/api/panels/:panelId", "/api/panels/2", ""),
		cacheKey("ns", "e", 1, p, "/api/panels/:panelId", "/api/panels/1", "x=1"),
	}
	for i, k := range variants {
		if k == base {
			t.Errorf("variant %d shares the key", i)
		}
	}
}

func TestLeasesSpendTakeAndSweep(t *testing.T) {
	var l leases
	p := auth.Principal{TenantID: "t", UserID: "u"}
	busy := [2]bucket{{rate: 1000, burst: 1000}, {}} // leases of 50; the tenant's bucket is off
	now := time.Unix(1000, 0)
	if _, ok, wants := l.spend(now, p, busy); ok || wants != [2]int{50, 0} {
		t.Fatalf("first request: ok %v wants %v; want a whole lease asked for", ok, wants)
	}
	if _, ok, wants := l.spend(now, p, busy); ok || wants != [2]int{1, 0} {
		t.Fatalf("request while the lease is fetched: ok %v wants %v; want one token", ok, wants)
	}
	// As decideShared reports it: Redis has 901 left, and the 49 held here count as remaining.
	l.took(now, p, decision{allowed: true, user: limitState{on: true, burst: 1000, tokens: 950}}, [2]int{50, 0}, [2]int{50, 0})
	for i := range 49 {
		d, ok, _ := l.spend(now, p, busy)
		if !ok || !d.allowed || d.user.tokens != float64(949-i) {
			t.Fatalf("spend %d from the lease: ok %v %+v", i, ok, d)
		}
	}
	if _, ok, wants := l.spend(now, p, busy); ok || wants != [2]int{50, 0} {
		t.Fatalf("after 49 spends of 49 held: ok %v wants %v; want the next lease asked for", ok, wants)
	}
	l.took(now, p, decision{}, [2]int{50, 0}, [2]int{}) // refused: nothing held, no fetch pending

	// Low limits take one token per call and never mark a fetch; idle entries are swept.
	q := auth.Principal{TenantID: "t", UserID: "v"}
	low := [2]bucket{{rate: 10, burst: 20}, {rate: 10, burst: 20}}
	if _, ok, wants := l.spend(now, q, low); ok || wants != [2]int{1, 1} || l.held[leaseKey(q, false)].fetching {
		t.Fatalf("low limits: ok %v wants %v", ok, wants)
	}
	l.took(now.Add(time.Minute), q, decision{allowed: true}, [2]int{1, 1}, [2]int{1, 1})
	if len(l.held) != 0 {
		t.Errorf("after a minute idle, %d leases are still held", len(l.held))
	}
}
