package server_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/servertest"
)

// signClaims signs exactly the given claims (no defaults added) with alg and key.
func signClaims(t testing.TB, alg jwa.SignatureAlgorithm, key any, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.TypeKey, "JWT")
	out, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// claimsFor are valid claims of our own shape for a caller of tenant.
func claimsFor(tenant, sub string, role auth.Role) map[string]any {
	now := time.Now()
	return map[string]any{"sub": sub, "tenant_id": tenant, "email": sub + "@" + tenant + ".example",
		"roles": []string{string(role)}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// wantUnauthorized checks a 401 problem+json with a Bearer challenge.
func wantUnauthorized(t testing.TB, what string, resp *http.Response, body []byte) {
	t.Helper()
	wantProblem(t, what, resp, body, http.StatusUnauthorized)
	if h := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
		t.Errorf("%s: WWW-Authenticate %q, want a Bearer challenge", what, h)
	}
}

func TestAuthRefusesBadTokens(t *testing.T) {
	tenant := newTenant("auth")
	secret := []byte(testSecret)
	b64 := base64.RawURLEncoding.EncodeToString
	noneClaims, _ := json.Marshal(claimsFor(tenant, "mallory", auth.RoleAdmin))
	alg := func(h string) string { return b64([]byte(h)) + "." + b64(noneClaims) + "." }

	expired, err := auth.Mint(secret, auth.Principal{TenantID: tenant, UserID: "u1", Role: auth.RoleAdmin}, -time.Hour, "", "")
	if err != nil {
		t.Fatal(err)
	}
	expiredBeyondLeeway, err := auth.Mint(secret, auth.Principal{TenantID: tenant, UserID: "u1", Role: auth.RoleAdmin}, -31*time.Second-2*time.Second, "", "")
	if err != nil {
		t.Fatal(err)
	}
	notYet := claimsFor(tenant, "u1", auth.RoleAdmin)
	notYet["nbf"] = time.Now().Add(time.Hour).Unix()
	noTenant := claimsFor(tenant, "u1", auth.RoleAdmin)
	delete(noTenant, "tenant_id")
	emptyTenant := claimsFor(tenant, "u1", auth.RoleAdmin)
	emptyTenant["tenant_id"] = ""
	noSub := claimsFor(tenant, "u1", auth.RoleAdmin)
	delete(noSub, "sub")
	noExp := claimsFor(tenant, "u1", auth.RoleAdmin)
	delete(noExp, "exp")
	good := signClaims(t, jwa.HS256, secret, claimsFor(tenant, "u1", auth.RoleAdmin))
	parts := strings.Split(good, ".")

	cases := []struct{ name, header string }{
		{"missing Authorization", ""},
		{"Bearer abc", "Bearer abc"},
		{"Basic x", "Basic x"},
		{"Basic with a valid token", "Basic " + good},
		{"Bearer a.b.c", "Bearer a.b.c"},
		{"Bearer without token", "Bearer "},
		{"token without scheme", good},
		{"bad signature", "Bearer " + signClaims(t, jwa.HS256, []byte("another-secret-of-at-least-32-bytes!!"), claimsFor(tenant, "u1", auth.RoleAdmin))},
		{"tampered payload", "Bearer " + parts[0] + "." + b64(noneClaims) + "." + parts[2]},
		{"alg none", "Bearer " + alg(`{"alg":"none","typ":"JWT"}`)},
		{"alg None", "Bearer " + alg(`{"alg":"None","typ":"JWT"}`)},
		{"alg none with the real signature", "Bearer " + alg(`{"alg":"none","typ":"JWT"}`) + parts[2]},
		{"HS512 with the right secret", "Bearer " + signClaims(t, jwa.HS512, secret, claimsFor(tenant, "u1", auth.RoleAdmin))},
		{"expired an hour ago", "Bearer " + expired},
		{"expired beyond the leeway", "Bearer " + expiredBeyondLeeway},
		{"not yet valid", "Bearer " + signClaims(t, jwa.HS256, secret, notYet)},
		{"missing tenant", "Bearer " + signClaims(t, jwa.HS256, secret, noTenant)},
		{"empty tenant", "Bearer " + signClaims(t, jwa.HS256, secret, emptyTenant)},
		{"missing sub", "Bearer " + signClaims(t, jwa.HS256, secret, noSub)},
		{"missing exp", "Bearer " + signClaims(t, jwa.HS256, secret, noExp)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			headers := map[string]string{}
			if tc.header != "" {
				headers["Authorization"] = tc.header
			}
			resp, body := raw(t, "GET", "/api/panels", "", nil, headers)
			wantUnauthorized(t, tc.name, resp, body)
			// Authentication comes before validation: a bad body still answers 401.
			headers["Content-Type"] = "application/json"
			resp, body = raw(t, "POST", "/api/panels", "", []byte(`{"name":`), headers)
			wantUnauthorized(t, tc.name+" (bad body)", resp, body)
		})
	}

	t.Run("within the leeway", func(t *testing.T) {
		tok, err := auth.Mint(secret, auth.Principal{TenantID: tenant, UserID: "u1", Role: auth.RoleAdmin}, -10*time.Second, "", "")
		if err != nil {
			t.Fatal(err)
		}
		resp, body := raw(t, "GET", "/api/panels", tok, nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("token expired 10s ago (leeway 30s): %d %s", resp.StatusCode, body)
		}
	})

	t.Run("scheme is case-insensitive", func(t *testing.T) {
		for _, h := range []string{"bearer " + good, "BEARER " + good, "Bearer  " + good} {
			resp, body := raw(t, "GET", "/api/panels", "", nil, map[string]string{"Authorization": h})
			if resp.StatusCode != http.StatusOK {
				t.Errorf("Authorization %q: %d %s", h[:8], resp.StatusCode, body)
			}
		}
	})

	t.Run("body size is checked before authentication", func(t *testing.T) {
		big := make([]byte, 2<<20)
		for i := range big {
			big[i] = 'a'
		}
		resp, body := raw(t, "POST", "/api/panels", "", big, jsonCT)
		wantProblem(t, "2 MiB without token", resp, body, http.StatusRequestEntityTooLarge)
	})
}

func TestAuthJWKSOnly(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := jwk.FromRaw(key)
	if err != nil {
		t.Fatal(err)
	}
	_ = priv.Set(jwk.KeyIDKey, "test-rsa-1")
	_ = priv.Set(jwk.AlgorithmKey, jwa.RS256)
	pub, err := priv.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	jwks, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	defer idp.Close()

	svc, err := servertest.Start(context.Background(), servertest.Options{DSN: env.dsn, Env: map[string]string{
		"JWT_JWKS_URL": idp.URL + "/.well-known/jwks.json",
		"REDIS_URL":    os.Getenv("TEST_REDIS_URL"),
	}})
	if err != nil {
		t.Fatalf("server.New with JWKS only: %v", err)
	}
	defer svc.Close()
	if svc.Config.JWTSecret != "" {
		t.Fatalf("the JWKS-only setup has a secret")
	}

	get := func(tok string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", svc.URL+"/api/panels", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := (&validatingTransport{t: t}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	tenant := newTenant("jwks")
	claims := claimsFor(tenant, "rsa-user", auth.RoleBuilder)
	payload, _ := json.Marshal(claims)
	signed, err := jws.Sign(payload, jws.WithKey(jwa.RS256, priv))
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := get(string(signed)); resp.StatusCode != http.StatusOK {
		t.Errorf("RS256 token from the JWKS: %d %s", resp.StatusCode, body)
	}

	resp, body := get(token(t, tenant, "rsa-user", "", auth.RoleBuilder))
	wantUnauthorized(t, "HS256 token against a JWKS-only setup", resp, body)

	// HS/RS confusion: an HS256 token whose "secret" is the public key's PEM-ish bytes.
	pubRaw, _ := json.Marshal(pub)
	resp, body = get(signClaims(t, jwa.HS256, pubRaw, claims))
	wantUnauthorized(t, "HS256 signed with the public key", resp, body)

	// RS256 with a key that is not in the set.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := jwk.FromRaw(other)
	_ = otherKey.Set(jwk.KeyIDKey, "test-rsa-1")
	forged, err := jws.Sign(payload, jws.WithKey(jwa.RS256, otherKey))
	if err != nil {
		t.Fatal(err)
	}
	resp, body = get(string(forged))
	wantUnauthorized(t, "RS256 with a foreign key under the known kid", resp, body)
}

func TestAuthStytchClaimsAndRoles(t *testing.T) {
	tenant := newTenant("stytch")
	secret := []byte(testSecret)
	stytch := func(roles ...string) string {
		now := time.Now()
		return signClaims(t, jwa.HS256, secret, map[string]any{
			"sub": "member-live-1", "email": "Member@" + tenant + ".example", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			"https://stytch.com/organization": map[string]any{"slug": tenant, "organization_id": "organization-live-123"},
			"https://stytch.com/session":      map[string]any{"roles": roles},
		})
	}
	create := func(tok string) (*http.Response, []byte) {
		return raw(t, "POST", "/api/panels", tok, []byte(`{"name":"From Stytch"}`), jsonCT)
	}

	resp, body := create(stytch("stytch_member", "Panels Builder"))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("Stytch Panels Builder create: %d %s", resp.StatusCode, body)
	}
	var p struct {
		TenantID string `json:"tenantId"`
		UserID   string `json:"userId"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.TenantID != tenant || p.UserID != "member-live-1" {
		t.Errorf("panel of a Stytch caller: %+v %v", p, err)
	}
	resp, body = raw(t, "GET", "/api/panels", stytch("stytch_member"), nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("Stytch member list: %d %s", resp.StatusCode, body)
	}
	resp, body = create(stytch("stytch_member"))
	wantProblem(t, "Stytch plain member create", resp, body, http.StatusForbidden)
	resp, body = create(stytch("Panels Admin"))
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("Stytch Panels Admin create: %d %s", resp.StatusCode, body)
	}
	resp, body = create(stytch("Org Admin"))
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("Stytch Org Admin create: %d %s", resp.StatusCode, body)
	}

	for _, tc := range []struct {
		role auth.Role
		want int
	}{{auth.RoleUser, 403}, {auth.RoleBuilder, 201}, {auth.RoleAdmin, 201}} {
		before := secSnapshot(t, tenant)
		resp, body := create(token(t, tenant, "role-"+string(tc.role), "", tc.role))
		if resp.StatusCode != tc.want {
			t.Errorf("role %s create: %d, want %d: %s", tc.role, resp.StatusCode, tc.want, body)
		}
		if tc.want == 403 {
			wantProblem(t, "user create", resp, body, 403)
			if after := secSnapshot(t, tenant); after != before {
				t.Errorf("a refused create changed rows")
			}
		}
	}
	// An unknown role claim grants nothing beyond user; the singular `role` claim is honoured.
	resp, body = create(signClaims(t, jwa.HS256, secret, map[string]any{"sub": "x", "tenant_id": tenant, "exp": time.Now().Add(time.Hour).Unix(), "roles": []string{"superuser"}}))
	wantProblem(t, "unknown role", resp, body, http.StatusForbidden)
	resp, body = create(signClaims(t, jwa.HS256, secret, map[string]any{"sub": "x", "tenant_id": tenant, "exp": time.Now().Add(time.Hour).Unix(), "role": "builder"}))
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("role claim builder: %d %s", resp.StatusCode, body)
	}
}

func TestAuthPublicRoutes(t *testing.T) {
	// JSON answers go through the validating transport; the harness's validator cannot decode
	// text/html, text/css or YAML bodies, so those are fetched with a plain client.
	validated := map[string]bool{"/health": true, "/healthz": true, "/liveness": true, "/openapi.json": true}
	for _, path := range []string{"/health", "/healthz", "/liveness", "/docs", "/docs/assets/swagger-ui.css", "/openapi.json", "/openapi.yaml"} {
		for _, authz := range []string{"", "Bearer not-a-token"} { // a junk token on a public route is not even looked at
			var status int
			var body []byte
			if validated[path] {
				var resp *http.Response
				headers := map[string]string{}
				if authz != "" {
					headers["Authorization"] = authz
				}
				resp, body = raw(t, "GET", path, "", nil, headers)
				status = resp.StatusCode
			} else {
				req, err := http.NewRequest("GET", env.url+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				if authz != "" {
					req.Header.Set("Authorization", authz)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
			if status != http.StatusOK || len(body) == 0 {
				t.Errorf("GET %s (Authorization %q): %d (%d bytes)", path, authz, status, len(body))
			}
		}
	}
	resp, body := raw(t, "GET", "/docs/assets/nope.css", "", nil, nil)
	wantProblem(t, "unknown docs asset", resp, body, http.StatusBadRequest)
}

func TestAuthRequestID(t *testing.T) {
	safe := "trace-0123:abc/def+ghi=jkl@host.example_x"
	max := strings.Repeat("a", 128)
	for _, tc := range []struct {
		name, in string
		echoed   bool
	}{
		{"safe", safe, true},
		{"128 characters", max, true},
		{"129 characters", max + "b", false},
		{"very long", strings.Repeat("x", 4000), false},
		{"space", "abc def", false},
		{"markup", `abc"<script>`, false},
		{"non-ASCII", "trace-é", false},
		{"comma", "a,b", false},
	} {
		for _, tok := range []string{"", token(t, newTenant("rid"), "u", "", auth.RoleUser)} {
			resp, body := raw(t, "GET", "/api/panels", tok, nil, map[string]string{"X-Request-Id": tc.in})
			got := resp.Header.Get("X-Request-Id")
			if tc.echoed && got != tc.in {
				t.Errorf("%s: X-Request-Id %q, want it echoed whole", tc.name, got)
			}
			if !tc.echoed {
				if got == tc.in || got == "" || len(got) > 128 || strings.ContainsAny(got, " \"<>,é") {
					t.Errorf("%s: unsafe X-Request-Id %q not replaced (got %q)", tc.name, tc.in, got)
				}
				if strings.Contains(got, tc.in[:3]) && len(got) == len(tc.in) {
					t.Errorf("%s: X-Request-Id %q looks like the input", tc.name, got)
				}
			}
			if tok == "" {
				p := wantProblem(t, tc.name, resp, body, http.StatusUnauthorized)
				if p.RequestID != got {
					t.Errorf("%s: requestId %q, header %q", tc.name, p.RequestID, got)
				}
			}
		}
	}
	// Without an incoming id, each response gets its own.
	r1, _ := raw(t, "GET", "/liveness", "", nil, nil)
	r2, _ := raw(t, "GET", "/liveness", "", nil, nil)
	if a, b := r1.Header.Get("X-Request-Id"), r2.Header.Get("X-Request-Id"); a == "" || a == b {
		t.Errorf("generated request ids %q and %q", a, b)
	}
}

func TestAuthTenantAndUserAssertions(t *testing.T) {
	tenant := newTenant("assert")
	tok := token(t, tenant, "asserter", "asserter@"+tenant+".example", auth.RoleBuilder)
	var p struct {
		ID int64 `json:"id"`
	}
	mustCreate(t, "POST", "/api/panels", tok, `{"name":"mine","tenantId":"`+tenant+`","userId":"asserter"}`, &p)
	panelPath := "/api/panels/" + jsonNumber(p.ID)

	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"query tenantId other", "GET", "/api/panels?tenantId=other", "", 403},
		{"query userId other", "GET", "/api/panels?userId=other", "", 403},
		{"query tenantId own", "GET", "/api/panels?tenantId=" + tenant, "", 200},
		{"query userId own", "GET", "/api/panels?userId=asserter", "", 200},
		{"query both own", "GET", "/api/panels?tenantId=" + tenant + "&userId=asserter", "", 200},
		{"query tenantId other on a panel", "GET", panelPath + "?tenantId=other", "", 403},
		{"query tenantId other on changes", "GET", "/api/changes/panels?tenantId=other", "", 403},
		{"body tenantId other", "POST", "/api/panels", `{"name":"x","tenantId":"other"}`, 403},
		{"body userId other", "POST", "/api/panels", `{"name":"x","userId":"other"}`, 403},
		{"body tenantId other on update", "PUT", panelPath, `{"name":"y","tenantId":"other"}`, 403},
		{"body tenantId other on data source", "POST", panelPath + "/datasources", `{"type":"custom","config":{},"tenantId":"other"}`, 403},
		{"body tenantId own", "POST", "/api/panels", `{"name":"x","tenantId":"` + tenant + `"}`, 201},
		{"body userId own on update", "PUT", panelPath, `{"name":"z","userId":"asserter"}`, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := secSnapshot(t, tenant)
			var body []byte
			var headers map[string]string
			if tc.body != "" {
				body, headers = []byte(tc.body), jsonCT
			}
			resp, data := raw(t, tc.method, tc.path, tok, body, headers)
			if tc.want == 403 {
				wantProblem(t, tc.name, resp, data, 403)
				if after := secSnapshot(t, tenant); after != before {
					t.Errorf("a refused request changed rows")
				}
			} else if resp.StatusCode != tc.want {
				t.Errorf("%s: %d, want %d: %s", tc.name, resp.StatusCode, tc.want, data)
			}
		})
	}
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
