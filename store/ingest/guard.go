package ingest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
)

// Guard decides which network addresses a source may reach. By default only public unicast
// addresses: loopback, private, link-local, shared (CGNAT), unspecified, multicast and the cloud
// metadata addresses are refused, so that a data source cannot be pointed at the service's own
// network. An allowlist (host names, IP addresses or CIDR prefixes) opens specific ones; with
// AllowPrivate every non-public address except the metadata endpoints is allowed (development).
type Guard struct {
	allowPrivate bool
	hosts        map[string]bool
	prefixes     []netip.Prefix
	resolver     *net.Resolver
}

// metadata are the cloud instance-metadata endpoints: never reachable unless listed by address.
var metadata = []netip.Prefix{
	netip.MustParsePrefix("169.254.169.254/32"),
	netip.MustParsePrefix("169.254.170.2/32"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // shared address space (CGNAT)
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// nat64 embeds IPv4 addresses; they are judged by the address they carry.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// NewGuard parses an allowlist: entries are host names, IP addresses or CIDR prefixes.
func NewGuard(allow []string, allowPrivate bool) (*Guard, error) {
	g := &Guard{allowPrivate: allowPrivate, hosts: map[string]bool{}, resolver: net.DefaultResolver}
	for _, entry := range allow {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if p, err := netip.ParsePrefix(entry); err == nil {
			g.prefixes = append(g.prefixes, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(strings.Trim(entry, "[]")); err == nil {
			g.prefixes = append(g.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		if strings.ContainsAny(entry, "/:[] ") {
			return nil, fmt.Errorf("%q is not a host name, IP address or CIDR prefix", entry)
		}
		g.hosts[strings.ToLower(strings.TrimSuffix(entry, "."))] = true
	}
	return g, nil
}

// allowedAddr applies the address rules to one resolved address.
func (g *Guard) allowedAddr(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range g.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	if nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	for _, p := range metadata {
		if p.Contains(a) {
			return false
		}
	}
	public := a.IsGlobalUnicast() && !a.IsPrivate()
	for _, p := range nonPublic {
		if p.Contains(a) {
			public = false
		}
	}
	if public {
		return true
	}
	return g.allowPrivate && !a.IsUnspecified() && !a.IsMulticast()
}

// Resolve returns the addresses of host a source may connect to, or an *Error when none is
// allowed. An allowlisted host name may resolve anywhere except the metadata endpoints.
func (g *Guard) Resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	hostAllowed := g.hosts[strings.ToLower(host)]
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		found, err := g.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, failf("cannot resolve host %q", clip(host))
		}
		addrs = found
	}
	var ok []netip.Addr
	for _, a := range addrs {
		if g.allowedAddr(a) || hostAllowed && !isMetadata(a) {
			ok = append(ok, a.Unmap())
		}
	}
	if len(ok) == 0 {
		return nil, failf("address of %q refused: private, loopback, link-local and metadata addresses are not allowed (see SYNC_ALLOW_HOSTS)", clip(host))
	}
	return ok, nil
}

func isMetadata(a netip.Addr) bool {
	for _, p := range metadata {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// Dialer connects only to addresses Resolve allowed, dialling the checked address itself so that
// a second DNS answer cannot swap it (DNS rebinding).
type Dialer struct {
	guard  *Guard
	dialer net.Dialer
	mu     sync.Mutex
	// approved holds the addresses Resolve returned for allowlisted host names (pgx resolves
	// first and dials the addresses afterwards).
	approved map[netip.Addr]bool
}

// NewDialer returns a dialer bound to g.
func (g *Guard) NewDialer() *Dialer {
	return &Dialer{guard: g, approved: map[netip.Addr]bool{}}
}

// LookupHost resolves host through the guard and remembers the allowed addresses.
func (d *Dialer) LookupHost(ctx context.Context, host string) ([]string, error) {
	addrs, err := d.guard.Resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(addrs))
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, a := range addrs {
		d.approved[a] = true
		out[i] = a.String()
	}
	return out, nil
}

// DialContext resolves and checks addr's host, then dials the first allowed address.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		d.mu.Lock()
		approved := d.approved[a.Unmap()]
		d.mu.Unlock()
		if approved {
			addrs = []netip.Addr{a}
		}
	}
	if addrs == nil {
		if addrs, err = d.guard.Resolve(ctx, host); err != nil {
			return nil, err
		}
	}
	var lastErr error
	for _, a := range addrs {
		conn, err := d.dialer.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		lastErr = err
	}
	return nil, lastErr
}
