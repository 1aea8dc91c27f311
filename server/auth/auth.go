// Package auth verifies bearer JWTs and maps their claims to a Principal.
//
// All jwx (v2) usage is confined to this file so that a move to jwx/v3 stays a
// one-file change.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// ErrUnauthenticated is wrapped by every Verify failure. The wrapped reason is
// meant for logs only; clients should see a generic 401.
var ErrUnauthenticated = errors.New("unauthenticated")

// Config configures a Verifier. At least one of Secret and JWKSURL is required.
type Config struct {
	Secret     []byte        // HS256 secret; if non-nil must be >= 32 bytes
	JWKSURL    string        // optional; RS256/ES256/EdDSA keys, cached and refreshed
	Issuer     string        // enforced when set
	Audience   string        // enforced when set
	Leeway     time.Duration // clock skew for exp/nbf/iat; 30s when zero
	HTTPClient *http.Client  // for JWKS; a client with a 5s timeout when nil
}

const (
	minSecretLen         = 32
	defaultLeeway        = 30 * time.Second
	jwksMinRefresh       = 15 * time.Minute
	unknownKidRefreshGap = time.Minute
)

// Verifier verifies tokens. It is safe for concurrent use.
type Verifier struct {
	secret   []byte
	jwksURL  string
	cache    *jwk.Cache
	issuer   string
	audience string
	leeway   time.Duration

	mu          sync.Mutex
	lastRefresh time.Time // last refresh forced by an unknown kid

	verified verifiedTokens
}

// NewVerifier builds a Verifier. With a JWKS URL it fetches the key set once
// (bounded by ctx) so a bad URL fails at startup. ctx also bounds the lifetime
// of the background refresh, so pass the application's lifetime context, not a
// short startup timeout. httprc v1 does not pass ctx to the HTTP request
// itself; the client timeout is what stops a hung fetch.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Secret == nil && cfg.JWKSURL == "" {
		return nil, errors.New("auth: a JWT secret or a JWKS URL is required")
	}
	if cfg.Secret != nil && len(cfg.Secret) < minSecretLen {
		return nil, fmt.Errorf("auth: JWT secret must be at least %d bytes", minSecretLen)
	}
	v := &Verifier{
		secret:   cfg.Secret,
		jwksURL:  cfg.JWKSURL,
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		leeway:   cfg.Leeway,
	}
	if v.leeway == 0 {
		v.leeway = defaultLeeway
	}
	if cfg.JWKSURL == "" {
		return v, nil
	}
	client := cfg.HTTPClient
	if client == nil {
		// http.DefaultClient has no timeout; a hung IdP must not hang us.
		client = &http.Client{Timeout: 5 * time.Second}
	}
	v.cache = jwk.NewCache(ctx)
	if err := v.cache.Register(cfg.JWKSURL,
		jwk.WithMinRefreshInterval(jwksMinRefresh),
		jwk.WithHTTPClient(client),
		jwk.WithPostFetcher(jwk.PostFetchFunc(setMissingAlgs)),
	); err != nil {
		return nil, fmt.Errorf("auth: register JWKS: %w", err)
	}
	if _, err := v.cache.Refresh(ctx, cfg.JWKSURL); err != nil {
		return nil, fmt.Errorf("auth: fetch JWKS %s: %w", cfg.JWKSURL, err)
	}
	return v, nil
}

// Verify checks the signature, exp/nbf/iat (with leeway), issuer and audience,
// then maps the claims. Every failure wraps ErrUnauthenticated.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	if raw == "" {
		return Principal{}, fmt.Errorf("%w: missing token", ErrUnauthenticated)
	}
	now := time.Now()
	key := sha256.Sum256([]byte(raw))
	if p, ok := v.verified.get(key, now); ok {
		return p, nil
	}
	opts := []jwt.ParseOption{
		jwt.WithKeyProvider(v.keyProvider(ctx)),
		jwt.WithValidate(true),
		jwt.WithAcceptableSkew(v.leeway),
		// Default validation only checks exp when present; tokens must expire.
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	}
	if v.issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.issuer))
	}
	if v.audience != "" {
		opts = append(opts, jwt.WithAudience(v.audience))
	}
	tok, err := jwt.Parse([]byte(raw), opts...)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	claims, err := tok.AsMap(ctx)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	p, err := ClaimsPrincipal(claims)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	p.Expires = tok.Expiration().Add(v.leeway)
	// Remember the result no longer than the token lives (exp without the leeway) and a minute.
	// Only tokens checked with our own secret: a key retired from the JWKS must stop working at once.
	if !signedWithSecret(raw) {
		return p, nil
	}
	until := now.Add(time.Minute)
	if exp := tok.Expiration(); exp.Before(until) {
		until = exp
	}
	if until.After(now) {
		v.verified.put(key, p, until)
	}
	return p, nil
}

// signedWithSecret reports whether a verified token's header names HS256 (checked with the secret).
func signedWithSecret(raw string) bool {
	head, _, ok := strings.Cut(raw, ".")
	if !ok {
		return false
	}
	data, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	return json.Unmarshal(data, &h) == nil && h.Alg == jwa.HS256.String()
}

// keyProvider hands jws.Verify the key *and the algorithm* to verify with.
// The header alg only selects between the secret and the JWKS; the algorithm
// actually used is always ours (HS256, or the JWK's own alg), so alg:none and
// HS/RS confusion cannot pass. The closure carries the request ctx, which
// jwt.Parse does not forward.
func (v *Verifier) keyProvider(ctx context.Context) jws.KeyProvider {
	return jws.KeyProviderFunc(func(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
		alg := sig.ProtectedHeaders().Algorithm()
		switch {
		case alg == jwa.HS256 && v.secret != nil:
			sink.Key(jwa.HS256, v.secret)
			return nil
		case jwksAlgs[alg] && v.cache != nil:
			key, err := v.jwksKey(ctx, sig.ProtectedHeaders().KeyID())
			if err != nil {
				return err
			}
			var keyAlg jwa.SignatureAlgorithm
			if err := keyAlg.Accept(key.Algorithm()); err != nil || keyAlg != alg {
				return fmt.Errorf("token alg %q does not match key alg %q", alg, key.Algorithm())
			}
			sink.Key(keyAlg, key)
			return nil
		default:
			return fmt.Errorf("algorithm %q not accepted", alg)
		}
	})
}

// jwksKey finds the signing key for kid. An unknown kid usually means the IdP
// rotated keys, so refresh once (rate-limited) and look again.
func (v *Verifier) jwksKey(ctx context.Context, kid string) (jwk.Key, error) {
	set, err := v.cache.Get(ctx, v.jwksURL)
	if err != nil {
		return nil, fmt.Errorf("get JWKS: %w", err)
	}
	if key, ok := lookupKey(set, kid); ok {
		return key, nil
	}
	if !v.mayForceRefresh() {
		return nil, fmt.Errorf("no JWKS key for kid %q", kid)
	}
	if set, err = v.cache.Refresh(ctx, v.jwksURL); err != nil {
		return nil, fmt.Errorf("refresh JWKS: %w", err)
	}
	if key, ok := lookupKey(set, kid); ok {
		return key, nil
	}
	return nil, fmt.Errorf("no JWKS key for kid %q after refresh", kid)
}

// mayForceRefresh bounds how often random kids can make us hit the IdP.
func (v *Verifier) mayForceRefresh() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if now := time.Now(); now.Sub(v.lastRefresh) >= unknownKidRefreshGap {
		v.lastRefresh = now
		return true
	}
	return false
}

// lookupKey matches by kid; a token without kid is accepted only when the set
// holds exactly one key, so there is no guessing.
func lookupKey(set jwk.Set, kid string) (jwk.Key, bool) {
	var key jwk.Key
	var ok bool
	if kid == "" {
		if set.Len() != 1 {
			return nil, false
		}
		key, ok = set.Key(0)
	} else {
		key, ok = set.LookupKeyID(kid)
	}
	if !ok || !usableForSignature(key) {
		return nil, false
	}
	return key, true
}

// jwksAlgs are the only algorithms accepted from the JWKS. Checking the header
// against it first also keeps junk algs from spending the refresh budget.
var jwksAlgs = map[jwa.SignatureAlgorithm]bool{jwa.RS256: true, jwa.ES256: true, jwa.EdDSA: true}

func usableForSignature(key jwk.Key) bool {
	if u := key.KeyUsage(); u != "" && u != jwk.ForSignature.String() {
		return false
	}
	return jwksAlgs[jwa.SignatureAlgorithm(key.Algorithm().String())]
}

// setMissingAlgs gives alg-less JWKs the one algorithm their key type implies,
// instead of jwx's brute-force WithInferAlgorithmFromKey. Keys whose type we do
// not accept keep no alg and are ignored by usableForSignature.
func setMissingAlgs(_ string, set jwk.Set) (jwk.Set, error) {
	for i := range set.Len() {
		key, _ := set.Key(i)
		if key.Algorithm().String() != "" {
			continue
		}
		if alg, ok := inferAlg(key); ok {
			if err := key.Set(jwk.AlgorithmKey, alg); err != nil {
				return nil, err
			}
		}
	}
	return set, nil
}

func inferAlg(key jwk.Key) (jwa.SignatureAlgorithm, bool) {
	switch k := key.(type) {
	case jwk.RSAPublicKey:
		return jwa.RS256, true
	case jwk.ECDSAPublicKey:
		if k.Crv() == jwa.P256 {
			return jwa.ES256, true
		}
	case jwk.OKPPublicKey:
		if k.Crv() == jwa.Ed25519 {
			return jwa.EdDSA, true
		}
	}
	return "", false
}

// Mint signs an HS256 token for the dev `panels token` command and tests.
func Mint(secret []byte, p Principal, ttl time.Duration, issuer, audience string) (string, error) {
	if len(secret) < minSecretLen {
		return "", fmt.Errorf("auth: JWT secret must be at least %d bytes", minSecretLen)
	}
	now := time.Now()
	b := jwt.NewBuilder().
		Subject(p.UserID).
		IssuedAt(now).
		Expiration(now.Add(ttl)).
		Claim("tenant_id", p.TenantID)
	if p.Role != "" {
		b = b.Claim("roles", []string{string(p.Role)})
	}
	if p.Email != "" {
		b = b.Claim("email", p.Email)
	}
	if issuer != "" {
		b = b.Issuer(issuer)
	}
	if audience != "" {
		b = b.Audience([]string{audience})
	}
	tok, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("auth: build token: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, secret))
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return string(signed), nil
}
