package ingest

import (
	"net/netip"
	"testing"
)

func TestGuardAddresses(t *testing.T) {
	plain, _ := NewGuard(nil, false)
	private, _ := NewGuard(nil, true)
	listed, err := NewGuard([]string{"127.0.0.1", "10.1.0.0/16", "db.internal", "169.254.169.254"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr                   string
		plain, private, listed bool
	}{
		{"93.184.216.34", true, true, true},
		{"2606:2800:220:1:248:1893:25c8:1946", true, true, true},
		{"127.0.0.1", false, true, true},
		{"127.0.0.2", false, true, false},
		{"::1", false, true, false},
		{"::ffff:127.0.0.1", false, true, true},
		{"10.1.2.3", false, true, true},
		{"10.2.0.1", false, true, false},
		{"192.168.1.1", false, true, false},
		{"172.16.0.1", false, true, false},
		{"fd00::1", false, true, false},
		{"fe80::1", false, true, false},
		{"169.254.1.1", false, true, false},
		{"169.254.169.254", false, false, true}, // metadata: only when listed by address
		{"fd00:ec2::254", false, false, false},
		{"100.64.0.1", false, true, false},
		{"0.0.0.0", false, false, false},
		{"224.0.0.1", false, false, false},
		{"64:ff9b::a00:1", false, true, false}, // NAT64 of 10.0.0.1
	} {
		a := netip.MustParseAddr(tc.addr)
		for _, g := range []struct {
			name string
			g    *Guard
			want bool
		}{{"default", plain, tc.plain}, {"private", private, tc.private}, {"listed", listed, tc.listed}} {
			if got := g.g.allowedAddr(a); got != g.want {
				t.Errorf("%s guard, %s: allowed %v, want %v", g.name, tc.addr, got, g.want)
			}
		}
	}
	if _, err := NewGuard([]string{"http://x/"}, false); err == nil {
		t.Error("a URL was accepted as an allowlist entry")
	}
	// A listed host name may resolve to a private address, never to a metadata one.
	if addrs, err := listed.Resolve(t.Context(), "localhost"); err == nil {
		t.Logf("localhost resolves to %v (127.0.0.1 is listed)", addrs)
	}
	if _, err := plain.Resolve(t.Context(), "localhost"); err == nil {
		t.Error("localhost allowed by the default guard")
	}
}

func TestResolveEndpoint(t *testing.T) {
	for _, tc := range []struct{ base, endpoint, want string }{
		{"https://h.example/api", "/patients", "https://h.example/api/patients"},
		{"https://h.example/api/", "/patients?x=1", "https://h.example/api/patients?x=1"},
		{"https://h.example", "/patients", "https://h.example/patients"},
	} {
		got, err := ResolveEndpoint(tc.base, tc.endpoint)
		if err != nil || got != tc.want {
			t.Errorf("ResolveEndpoint(%q, %q) = %q, %v; want %q", tc.base, tc.endpoint, got, err, tc.want)
		}
	}
	if _, err := ResolveEndpoint("", "/x"); err == nil {
		t.Error("an endpoint resolved without a base URL")
	}
	if _, err := ResolveEndpoint("https://h.example", "//evil.example/x"); err == nil {
		t.Error("a host-relative endpoint resolved")
	}
}
