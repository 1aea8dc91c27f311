package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef") // 32 bytes

// jwksServer serves a JWKS that tests can swap out to simulate key rotation.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	body []byte
	hits atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...jwk.Key) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.serve(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

// serve publishes the public halves of keys.
func (s *jwksServer) serve(t *testing.T, keys ...jwk.Key) {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		pub, err := k.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := set.AddKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

// newKey wraps a raw private key as a JWK with kid and (optionally) alg.
func newKey(t *testing.T, raw any, kid string, alg jwa.SignatureAlgorithm) jwk.Key {
	t.Helper()
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = k.Set(jwk.KeyIDKey, kid)
	if alg != "" {
		_ = k.Set(jwk.AlgorithmKey, alg)
	}
	return k
}

func mustRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sign builds a compact JWS with exactly the given claims and header kid, so
// tests can produce tokens Mint never would (no exp, foreign algs, ...).
func sign(t *testing.T, alg jwa.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	if kid != "" {
		_ = hdr.Set(jws.KeyIDKey, kid)
	}
	if k, ok := key.(jwk.Key); ok {
		// jws.Sign copies the JWK's kid into the header; make it the one asked for.
		k, _ = k.Clone()
		_ = k.Set(jwk.KeyIDKey, kid)
		key = k
	}
	_ = hdr.Set(jws.TypeKey, "JWT")
	out, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// unsigned builds an alg:none token by hand; jwx refuses to produce one.
func unsigned(t *testing.T, claims map[string]any, kid string) string {
	t.Helper()
	hdr := map[string]any{"alg": "none", "typ": "JWT"}
	if kid != "" {
		hdr["kid"] = kid
	}
	h, _ := json.Marshal(hdr)
	p, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(p) + "."
}

func claims(mod func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{
		"sub":       "user-1",
		"tenant_id": "acme",
		"email":     "Alice@Example.COM",
		"roles":     []string{"builder"},
		"iat":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func TestVerify(t *testing.T) {
	ctx := t.Context()

	rsaPriv := mustRSA(t)
	rsaKey := newKey(t, rsaPriv, "rsa-1", jwa.RS256)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecKey := newKey(t, ecPriv, "ec-1", "") // alg inferred from key type
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edKey := newKey(t, edPriv, "ed-1", "") // alg inferred from key type
	otherRSA := newKey(t, mustRSA(t), "rsa-1", jwa.RS256)
	// Published by the IdP but not acceptable to us: a symmetric key and a
	// curve we do not infer an algorithm for.
	octKey := newKey(t, []byte("idp-published-hmac-secret-32-bytes!"), "oct-1", jwa.HS256)
	ec384Priv, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ec384Key := newKey(t, ec384Priv, "ec384-1", "")

	srv := newJWKSServer(t, rsaKey, ecKey, edKey, octKey, ec384Key)

	newV := func(cfg Config) *Verifier {
		v, err := NewVerifier(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	secretOnly := newV(Config{Secret: testSecret})
	jwksOnly := newV(Config{JWKSURL: srv.URL})
	both := newV(Config{Secret: testSecret, JWKSURL: srv.URL})
	strict := newV(Config{Secret: testSecret, Issuer: "https://id.example", Audience: "panels"})

	// HS/RS confusion: an attacker HMACs with the bytes of the public key.
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaPriv.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	now := time.Now()
	hs := func(c map[string]any) string { return sign(t, jwa.HS256, testSecret, "", c) }
	rs := func(c map[string]any) string { return sign(t, jwa.RS256, rsaKey, "rsa-1", c) }

	tests := []struct {
		name  string
		v     *Verifier
		token string
		ok    bool
	}{
		{"valid HS256", secretOnly, hs(claims(nil)), true},
		{"valid HS256 with both configured", both, hs(claims(nil)), true},
		{"valid RS256 via JWKS", jwksOnly, rs(claims(nil)), true},
		{"valid RS256 with both configured", both, rs(claims(nil)), true},
		{"valid ES256, alg inferred", jwksOnly, sign(t, jwa.ES256, ecKey, "ec-1", claims(nil)), true},
		{"valid EdDSA, alg inferred", jwksOnly, sign(t, jwa.EdDSA, edKey, "ed-1", claims(nil)), true},

		{"empty token", secretOnly, "", false},
		{"garbage", secretOnly, "abc", false},
		{"three garbage segments", both, "a.b.c", false},
		{"HS256 bad signature", secretOnly, sign(t, jwa.HS256, []byte("another-secret-another-secret-!!"), "", claims(nil)), false},
		{"RS256 bad signature", jwksOnly, sign(t, jwa.RS256, otherRSA, "rsa-1", claims(nil)), false},
		{"tampered payload", secretOnly, tamper(hs(claims(nil))), false},

		{"alg none, secret only", secretOnly, unsigned(t, claims(nil), ""), false},
		{"alg none, JWKS only", jwksOnly, unsigned(t, claims(nil), "rsa-1"), false},
		{"alg none, both", both, unsigned(t, claims(nil), "rsa-1"), false},
		{"HS256 against JWKS-only", jwksOnly, hs(claims(nil)), false},
		{"HS256 keyed with RSA public key, JWKS only", jwksOnly, sign(t, jwa.HS256, pubPEM, "rsa-1", claims(nil)), false},
		{"HS256 keyed with RSA public key, both", both, sign(t, jwa.HS256, pubPEM, "rsa-1", claims(nil)), false},
		{"RS256 against secret-only", secretOnly, rs(claims(nil)), false},
		{"HS512 with the secret", both, sign(t, jwa.HS512, testSecret, "", claims(nil)), false},
		{"header alg differs from JWK alg", jwksOnly, sign(t, jwa.ES256, ecKey, "rsa-1", claims(nil)), false},
		{"HS256 with a JWKS oct key", jwksOnly, sign(t, jwa.HS256, octKey, "oct-1", claims(nil)), false},
		{"ES384 key without alg", jwksOnly, sign(t, jwa.ES384, ec384Key, "ec384-1", claims(nil)), false},
		{"unknown kid", jwksOnly, sign(t, jwa.RS256, rsaKey, "nope", claims(nil)), false},

		{"expired beyond leeway", secretOnly, hs(claims(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })), false},
		{"expired within leeway", secretOnly, hs(claims(func(c map[string]any) { c["exp"] = now.Add(-10 * time.Second).Unix() })), true},
		{"nbf in the future", secretOnly, hs(claims(func(c map[string]any) { c["nbf"] = now.Add(5 * time.Minute).Unix() })), false},
		{"nbf within leeway", secretOnly, hs(claims(func(c map[string]any) { c["nbf"] = now.Add(10 * time.Second).Unix() })), true},
		{"iat in the future", secretOnly, hs(claims(func(c map[string]any) { c["iat"] = now.Add(5 * time.Minute).Unix() })), false},
		{"missing exp", secretOnly, hs(claims(func(c map[string]any) { delete(c, "exp") })), false},
		{"missing sub", secretOnly, hs(claims(func(c map[string]any) { delete(c, "sub") })), false},
		{"missing tenant", secretOnly, hs(claims(func(c map[string]any) { delete(c, "tenant_id") })), false},

		{"issuer and audience match", strict, hs(claims(func(c map[string]any) { c["iss"] = "https://id.example"; c["aud"] = "panels" })), true},
		{"wrong issuer", strict, hs(claims(func(c map[string]any) { c["iss"] = "https://evil.example"; c["aud"] = "panels" })), false},
		{"missing issuer", strict, hs(claims(func(c map[string]any) { c["aud"] = "panels" })), false},
		{"wrong audience", strict, hs(claims(func(c map[string]any) { c["iss"] = "https://id.example"; c["aud"] = []string{"other"} })), false},
		{"missing audience", strict, hs(claims(func(c map[string]any) { c["iss"] = "https://id.example" })), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.v.Verify(ctx, tc.token)
			if !tc.ok {
				if !errors.Is(err, ErrUnauthenticated) {
					t.Fatalf("want ErrUnauthenticated, got %v (principal %+v)", err, p)
				}
				t.Logf("rejected: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			want := Principal{TenantID: "acme", UserID: "user-1", Email: "alice@example.com", Role: RoleBuilder}
			p = withoutExpiry(t, p)
			if p != want {
				t.Fatalf("principal = %+v, want %+v", p, want)
			}
		})
	}
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	var c map[string]any
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(b, &c)
	c["tenant_id"] = "other-tenant"
	b, _ = json.Marshal(c)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func TestVerifyStytchToken(t *testing.T) {
	v, err := NewVerifier(t.Context(), Config{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwa.HS256, testSecret, "", claims(func(c map[string]any) {
		delete(c, "tenant_id")
		delete(c, "roles")
		c[stytchOrgClaim] = map[string]any{"organization_id": "organization-live-123", "slug": "acme"}
		c[stytchSessionClaim] = map[string]any{"roles": []string{"stytch_member", "Panels Admin"}}
	}))
	p, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	want := Principal{TenantID: "acme", UserID: "user-1", Email: "alice@example.com", Role: RoleAdmin, OrganizationID: "organization-live-123"}
	if p = withoutExpiry(t, p); p != want {
		t.Fatalf("principal = %+v, want %+v", p, want)
	}
}

func TestRefreshOnUnknownKid(t *testing.T) {
	ctx := t.Context()
	oldKey := newKey(t, mustRSA(t), "old", jwa.RS256)
	newKeyRSA := newKey(t, mustRSA(t), "new", jwa.RS256)
	srv := newJWKSServer(t, oldKey)

	v, err := NewVerifier(ctx, Config{JWKSURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, sign(t, jwa.RS256, oldKey, "old", claims(nil))); err != nil {
		t.Fatalf("old key before rotation: %v", err)
	}
	before := srv.hits.Load()

	srv.serve(t, newKeyRSA) // the IdP rotates
	if _, err := v.Verify(ctx, sign(t, jwa.RS256, newKeyRSA, "new", claims(nil))); err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}
	if got := srv.hits.Load() - before; got != 1 {
		t.Fatalf("JWKS fetched %d times on unknown kid, want 1", got)
	}

	// A flood of unknown kids must not turn into a flood of JWKS fetches.
	for range 3 {
		if _, err := v.Verify(ctx, sign(t, jwa.RS256, newKeyRSA, "bogus", claims(nil))); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("bogus kid: want ErrUnauthenticated, got %v", err)
		}
	}
	if got := srv.hits.Load() - before; got != 1 {
		t.Fatalf("JWKS fetched %d times after bogus kids, want still 1", got)
	}
	if _, err := v.Verify(ctx, sign(t, jwa.RS256, oldKey, "old", claims(nil))); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("retired key: want ErrUnauthenticated, got %v", err)
	}
}

func TestNewVerifierErrors(t *testing.T) {
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<html>login</html>"))
	}))
	t.Cleanup(html.Close)
	// httprc's fetch worker does not pass ctx to the HTTP request, so the
	// handler must be released for hang.Close to return quickly.
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // runs before hang.Close

	tests := []struct {
		name string
		cfg  Config
	}{
		{"nothing configured", Config{}},
		{"short secret", Config{Secret: []byte("too-short")}},
		{"empty non-nil secret", Config{Secret: []byte{}}},
		{"JWKS 404", Config{JWKSURL: notFound.URL}},
		{"JWKS not JSON", Config{JWKSURL: html.URL}},
		{"JWKS hangs past ctx", Config{JWKSURL: hang.URL}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			if _, err := NewVerifier(ctx, tc.cfg); err == nil {
				t.Fatal("want error")
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("NewVerifier took %v; ctx should bound the initial fetch", d)
			}
		})
	}
}

func TestMintRoundTrip(t *testing.T) {
	v, err := NewVerifier(t.Context(), Config{Secret: testSecret, Issuer: "panels-dev", Audience: "panels"})
	if err != nil {
		t.Fatal(err)
	}
	in := Principal{TenantID: "acme", UserID: "u-42", Email: "bob@example.com", Role: RoleAdmin}
	tok, err := Mint(testSecret, in, time.Hour, "panels-dev", "panels")
	if err != nil {
		t.Fatal(err)
	}
	out, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if out = withoutExpiry(t, out); out != in {
		t.Fatalf("round trip = %+v, want %+v", out, in)
	}

	expired, err := Mint(testSecret, in, -time.Hour, "panels-dev", "panels")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), expired); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("expired minted token: want ErrUnauthenticated, got %v", err)
	}
	if _, err := Mint([]byte("short"), in, time.Hour, "", ""); err == nil {
		t.Fatal("Mint with short secret: want error")
	}
}

// withoutExpiry checks that a verified principal expires (exp plus the leeway, in the future for
// these tokens) and returns it without the expiry, for comparing the identity.
func withoutExpiry(t *testing.T, p Principal) Principal {
	t.Helper()
	if !p.Expires.After(time.Now()) {
		t.Errorf("principal expires at %v, want the token's exp plus the leeway", p.Expires)
	}
	p.Expires = time.Time{}
	return p
}

func TestClaimsPrincipal(t *testing.T) {
	org := func(slug, id string) map[string]any { return map[string]any{"slug": slug, "organization_id": id} }
	session := func(roles ...any) map[string]any { return map[string]any{"roles": roles} }

	tests := []struct {
		name    string
		claims  map[string]any
		want    Principal
		wantErr bool
	}{
		{
			name:   "ours, roles array",
			claims: map[string]any{"sub": "u", "tenant_id": "t", "roles": []any{"admin"}},
			want:   Principal{TenantID: "t", UserID: "u", Role: RoleAdmin},
		},
		{
			name:   "ours, role string",
			claims: map[string]any{"sub": "u", "tenant_id": "t", "role": "builder"},
			want:   Principal{TenantID: "t", UserID: "u", Role: RoleBuilder},
		},
		{
			name:   "no roles is user",
			claims: map[string]any{"sub": "u", "tenant_id": "t"},
			want:   Principal{TenantID: "t", UserID: "u", Role: RoleUser},
		},
		{
			name:   "unknown role is user",
			claims: map[string]any{"sub": "u", "tenant_id": "t", "roles": []string{"superuser"}, "role": "root"},
			want:   Principal{TenantID: "t", UserID: "u", Role: RoleUser},
		},
		{
			name:   "highest role wins",
			claims: map[string]any{"sub": "u", "tenant_id": "t", "roles": []any{"user", "admin", "builder"}},
			want:   Principal{TenantID: "t", UserID: "u", Role: RoleAdmin},
		},
		{
			name:   "role and roles combine",
			claims: map[string]any{"sub": "u", "tenant_id": "t", "roles": []any{"user"}, "role": "builder"},
			want:   Principal{TenantID: "t", UserID: "u", Role: RoleBuilder},
		},
		{
			name:   "email lower-cased",
			claims: map[string]any{"sub": "u", "tenant_id": "t", "email": "Mixed.Case@Example.COM"},
			want:   Principal{TenantID: "t", UserID: "u", Email: "mixed.case@example.com", Role: RoleUser},
		},
		{
			name:   "stytch slug and organization_id",
			claims: map[string]any{"sub": "member-1", stytchOrgClaim: org("acme", "organization-1")},
			want:   Principal{TenantID: "acme", UserID: "member-1", OrganizationID: "organization-1", Role: RoleUser},
		},
		{
			name:   "tenant_id preferred over stytch slug",
			claims: map[string]any{"sub": "u", "tenant_id": "t", stytchOrgClaim: org("acme", "organization-1")},
			want:   Principal{TenantID: "t", UserID: "u", OrganizationID: "organization-1", Role: RoleUser},
		},
		{
			name:   "stytch Panels Admin",
			claims: map[string]any{"sub": "u", stytchOrgClaim: org("t", "o"), stytchSessionClaim: session("stytch_member", "Panels Admin")},
			want:   Principal{TenantID: "t", UserID: "u", OrganizationID: "o", Role: RoleAdmin},
		},
		{
			name:   "stytch Org Admin",
			claims: map[string]any{"sub": "u", stytchOrgClaim: org("t", "o"), stytchSessionClaim: session("Org Admin")},
			want:   Principal{TenantID: "t", UserID: "u", OrganizationID: "o", Role: RoleAdmin},
		},
		{
			name:   "stytch Panels Builder",
			claims: map[string]any{"sub": "u", stytchOrgClaim: org("t", "o"), stytchSessionClaim: session("stytch_member", "Panels Builder")},
			want:   Principal{TenantID: "t", UserID: "u", OrganizationID: "o", Role: RoleBuilder},
		},
		{
			name:   "stytch admin beats builder",
			claims: map[string]any{"sub": "u", stytchOrgClaim: org("t", "o"), stytchSessionClaim: session("Panels Builder", "Org Admin")},
			want:   Principal{TenantID: "t", UserID: "u", OrganizationID: "o", Role: RoleAdmin},
		},
		{
			name:   "stytch other roles are user",
			claims: map[string]any{"sub": "u", stytchOrgClaim: org("t", "o"), stytchSessionClaim: session("stytch_member", "panels admin")},
			want:   Principal{TenantID: "t", UserID: "u", OrganizationID: "o", Role: RoleUser},
		},
		{
			name:   "our role and stytch role combine",
			claims: map[string]any{"sub": "u", "tenant_id": "t", "role": "builder", stytchSessionClaim: session("Org Admin")},
			want:   Principal{TenantID: "t", UserID: "u", Role: RoleAdmin},
		},
		{name: "missing sub", claims: map[string]any{"tenant_id": "t"}, wantErr: true},
		{name: "sub not a string", claims: map[string]any{"sub": 42, "tenant_id": "t"}, wantErr: true},
		{name: "missing tenant", claims: map[string]any{"sub": "u"}, wantErr: true},
		{name: "stytch org without slug", claims: map[string]any{"sub": "u", stytchOrgClaim: map[string]any{"organization_id": "o"}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ClaimsPrincipal(tc.claims)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("want error, got %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestClaimsWithNULAreRefused: a NUL in any claim, at any depth, keys included, is not a credential.
func TestClaimsWithNULAreRefused(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{"sub": "u", "tenant_id": "t", "email": "u@e.example", "roles": []any{"admin"}}
	}
	if _, err := ClaimsPrincipal(base()); err != nil {
		t.Fatalf("clean claims: %v", err)
	}
	for name, mutate := range map[string]func(map[string]any){
		"sub":        func(c map[string]any) { c["sub"] = "u\x00" },
		"tenant_id":  func(c map[string]any) { c["tenant_id"] = "\x00t" },
		"email":      func(c map[string]any) { c["email"] = "u\x00@e.example" },
		"roles":      func(c map[string]any) { c["roles"] = []any{"admin\x00"} },
		"stytch org": func(c map[string]any) { delete(c, "tenant_id"); c[stytchOrgClaim] = map[string]any{"slug": "t\x00"} },
		"other":      func(c map[string]any) { c["name"] = "\x00" },
		"key":        func(c map[string]any) { c["k\x00"] = "v" },
		"aud":        func(c map[string]any) { c["aud"] = []string{"a\x00"} },
	} {
		c := base()
		mutate(c)
		if _, err := ClaimsPrincipal(c); err == nil {
			t.Errorf("%s: a NUL claim was accepted", name)
		}
	}
}
