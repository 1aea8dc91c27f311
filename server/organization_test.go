package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/servertest"
)

type orgMember struct {
	MemberID     string  `json:"member_id"`
	Name         *string `json:"name"`
	EmailAddress string  `json:"email_address"`
}

// orgMembers lists members through base (the shared service when ""), checking the exact shape.
func orgMembers(t testing.TB, base, tok string) (*http.Response, []byte, []orgMember) {
	t.Helper()
	if base == "" {
		base = env.url
	}
	req, err := http.NewRequest(http.MethodGet, base+"/api/organization/members", nil)
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
	if resp.StatusCode != http.StatusOK {
		return resp, body, nil
	}
	var shape struct {
		Members []map[string]json.RawMessage `json:"members"`
	}
	if err := json.Unmarshal(body, &shape); err != nil {
		t.Fatalf("members: %v: %s", err, body)
	}
	for _, m := range shape.Members {
		if len(m) != 3 || m["member_id"] == nil || m["name"] == nil || m["email_address"] == nil {
			t.Errorf("a member must have exactly member_id, name, email_address: %s", body)
		}
	}
	var out struct {
		Members []orgMember `json:"members"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return resp, body, out.Members
}

func orgMemberRows(t testing.TB, tenant string) int {
	t.Helper()
	var n int
	if err := fxDB(t).QueryRowContext(t.Context(), `SELECT count(*) FROM members WHERE tenant_id = $1`, tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMembersRecordedOnce: each principal is recorded on its first request, once per user and not
// per request; the listing names them in the order they were first seen.
func TestMembersRecordedOnce(t *testing.T) {
	tenant := newTenant("members")
	first := newCaller(t, tenant, "first", auth.RoleBuilder)
	for range 2 {
		if resp, body := raw(t, "GET", "/api/panels", first.token, nil, nil); resp.StatusCode != 200 {
			t.Fatalf("list panels: %d %s", resp.StatusCode, body)
		}
	}
	if n := orgMemberRows(t, tenant); n != 1 {
		t.Fatalf("member rows after two requests of one user: %d, want 1", n)
	}
	// Once per user: a later request does not go back to the database (a deleted row stays deleted).
	if _, err := fxDB(t).ExecContext(t.Context(), `DELETE FROM members WHERE tenant_id = $1`, tenant); err != nil {
		t.Fatal(err)
	}
	raw(t, "GET", "/api/panels", first.token, nil, nil)
	if n := orgMemberRows(t, tenant); n != 0 {
		t.Errorf("a known member was written again: %d rows", n)
	}
	// A token with a new email for the same sub is seen anew.
	if _, err := fxDB(t).ExecContext(t.Context(), `INSERT INTO members (tenant_id, user_id, email, first_seen_at) VALUES ($1, 'first', $2, now() - interval '1 hour')`,
		tenant, first.email); err != nil {
		t.Fatal(err)
	}
	renamed := token(t, tenant, "first", "First.Renamed@"+tenant+".example", auth.RoleBuilder)
	raw(t, "GET", "/api/panels", renamed, nil, nil)

	time.Sleep(5 * time.Millisecond) // distinct first_seen_at for the order below
	second := newCaller(t, tenant, "second", auth.RoleUser)
	// Any authenticated request records, even one that is then refused.
	if resp, body := raw(t, "POST", "/api/panels", second.token, []byte(`{"name":"x"}`), jsonCT); resp.StatusCode != 403 {
		t.Errorf("a user creating a panel: %d %s", resp.StatusCode, body)
	}
	time.Sleep(5 * time.Millisecond)
	noEmail := token(t, tenant, "no-email-sub", "", auth.RoleUser)
	_, _, members := orgMembers(t, "", noEmail)
	want := []orgMember{
		{MemberID: "first", EmailAddress: "first.renamed@" + tenant + ".example"},
		{MemberID: "second", EmailAddress: second.email},
		{MemberID: "no-email-sub", EmailAddress: ""},
	}
	if len(members) != len(want) {
		t.Fatalf("members: %+v, want %+v", members, want)
	}
	for i := range want {
		if members[i].MemberID != want[i].MemberID || members[i].EmailAddress != want[i].EmailAddress || members[i].Name != nil {
			t.Errorf("member %d: %+v, want %+v", i, members[i], want[i])
		}
	}
	// A token without an email keeps the email already known.
	raw(t, "GET", "/api/panels", token(t, tenant, "second", "", auth.RoleUser), nil, nil)
	_, _, members = orgMembers(t, "", second.token)
	if len(members) != 3 || members[1].EmailAddress != second.email {
		t.Errorf("an email-less token erased a known email: %+v", members)
	}
	// Another tenant's members never show.
	stranger := newCaller(t, newTenant("members-other"), "stranger", auth.RoleUser)
	if _, _, m := orgMembers(t, "", stranger.token); len(m) != 1 || m[0].MemberID != "stranger" {
		t.Errorf("another tenant's members: %+v", m)
	}
	// No token: 401.
	resp, body := raw(t, "GET", "/api/organization/members", "", nil, nil)
	wantProblem(t, "members without a token", resp, body, http.StatusUnauthorized)
}

// TestMembersRecordingNeverFailsRequests: when the member write fails, the request still succeeds
// and a later request records the member.
func TestMembersRecordingNeverFailsRequests(t *testing.T) {
	tenant := newTenant("members-fail")
	db := fxDB(t)
	fn := "refuse_members_" + strings.NewReplacer("-", "_").Replace(tenant)
	if _, err := db.ExecContext(t.Context(), `CREATE FUNCTION `+fn+`() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'members are refused in this test'; END $$`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), `CREATE TRIGGER `+fn+` BEFORE INSERT ON members FOR EACH ROW
		WHEN (NEW.tenant_id = '`+tenant+`') EXECUTE FUNCTION `+fn+`()`); err != nil {
		t.Fatal(err)
	}
	dropped := false
	drop := func() {
		if dropped {
			return
		}
		dropped = true
		_, _ = db.ExecContext(context.Background(), `DROP TRIGGER IF EXISTS `+fn+` ON members`)
		_, _ = db.ExecContext(context.Background(), `DROP FUNCTION IF EXISTS `+fn+`()`)
	}
	t.Cleanup(drop)

	c := newCaller(t, tenant, "unlucky", auth.RoleBuilder)
	if resp, body := raw(t, "GET", "/api/panels", c.token, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("a request whose member write fails: %d %s", resp.StatusCode, body)
	}
	if n := orgMemberRows(t, tenant); n != 0 {
		t.Fatalf("member rows while refused: %d", n)
	}
	drop()
	raw(t, "GET", "/api/panels", c.token, nil, nil)
	if n := orgMemberRows(t, tenant); n != 1 {
		t.Errorf("a failed member write is retried on a later request: %d rows", n)
	}
}

// stytchFake is a local stand-in for Stytch's member search.
type stytchFake struct {
	mu       sync.Mutex
	requests []stytchRequest
	status   int
	body     string
}

type stytchRequest struct {
	method, path, user, pass, contentType string
	ok                                    bool
	body                                  map[string]any
}

func (f *stytchFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	f.requests = append(f.requests, stytchRequest{method: r.Method, path: r.URL.Path, user: user, pass: pass, ok: ok,
		contentType: r.Header.Get("Content-Type"), body: body})
	status, answer := f.status, f.body
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}

func (f *stytchFake) answer(status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.body = status, body
}

func (f *stytchFake) last(t testing.TB) stytchRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("Stytch was not called")
	}
	return f.requests[len(f.requests)-1]
}

// stytchService starts a second instance of the service, on the shared database, configured for
// Stytch at baseURL.
func stytchService(t testing.TB, baseURL string) string {
	t.Helper()
	return servertest.New(t, servertest.Options{DSN: env.dsn, Env: map[string]string{
		"JWT_SECRET":        testSecret,
		"REDIS_URL":         os.Getenv("TEST_REDIS_URL"),
		"STYTCH_PROJECT_ID": "project-test-123",
		"STYTCH_SECRET_KEY": "secret-test-456",
		"STYTCH_BASE_URL":   baseURL,
	}}).URL
}

// TestMembersStytchProxy: with STYTCH_* set the listing proxies Stytch's member search, and any
// upstream failure is 502 problem+json.
func TestMembersStytchProxy(t *testing.T) {
	fake := &stytchFake{}
	upstream := httptest.NewServer(fake)
	defer upstream.Close()
	base := stytchService(t, upstream.URL)
	tenant := newTenant("stytch-members")

	// A Stytch session token carries the organization id.
	now := time.Now()
	stytchTok := signClaims(t, jwa.HS256, []byte(testSecret), map[string]any{
		"sub": "member-live-1", "email": "m@" + tenant + ".example", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"https://stytch.com/organization": map[string]any{"slug": tenant, "organization_id": "organization-live-123"},
	})
	fake.answer(200, `{"request_id":"r-1","status_code":200,"results_metadata":{"total":3},
		"members":[
			{"member_id":"member-live-1","name":"Ada Lovelace","email_address":"ada@example.com","status":"active","roles":[]},
			{"member_id":"member-live-2","name":"","email_address":"bob@example.com"},
			{"member_id":"member-live-3","name":null,"email_address":"carol@example.com"}
		]}`)
	resp, body, members := orgMembers(t, base, stytchTok)
	if resp.StatusCode != 200 {
		t.Fatalf("Stytch members: %d %s", resp.StatusCode, body)
	}
	req := fake.last(t)
	if req.method != "POST" || req.path != "/v1/b2b/organizations/members/search" {
		t.Errorf("Stytch call: %s %s", req.method, req.path)
	}
	if !req.ok || req.user != "project-test-123" || req.pass != "secret-test-456" {
		t.Errorf("Stytch basic auth: %v %q %q", req.ok, req.user, req.pass)
	}
	if !strings.HasPrefix(req.contentType, "application/json") {
		t.Errorf("Stytch content type: %q", req.contentType)
	}
	if got, _ := json.Marshal(req.body); string(got) != `{"organization_ids":["organization-live-123"]}` {
		t.Errorf("Stytch body: %s", got)
	}
	if len(members) != 3 || members[0].MemberID != "member-live-1" || members[0].Name == nil || *members[0].Name != "Ada Lovelace" ||
		members[0].EmailAddress != "ada@example.com" || members[1].Name == nil || *members[1].Name != "" || members[2].Name != nil ||
		members[2].EmailAddress != "carol@example.com" {
		t.Errorf("mapped members: %s", body)
	}
	if strings.Contains(string(body), "status") || strings.Contains(string(body), "roles") {
		t.Errorf("other Stytch fields must be stripped: %s", body)
	}

	// A token without an organization id searches the tenant id; no members is an empty list.
	fake.answer(200, `{"request_id":"r-2"}`)
	plain := token(t, tenant, "plain-user", "plain@"+tenant+".example", auth.RoleUser)
	resp, body, members = orgMembers(t, base, plain)
	if resp.StatusCode != 200 || members == nil || len(members) != 0 || !strings.Contains(string(body), `"members":[]`) {
		t.Errorf("no members: %d %s", resp.StatusCode, body)
	}
	if got, _ := json.Marshal(fake.last(t).body); string(got) != `{"organization_ids":["`+tenant+`"]}` {
		t.Errorf("Stytch body without an organization id: %s", got)
	}

	// Upstream failures: 502, never 500, and nothing about the secret.
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"upstream 500", 500, `{"error_type":"internal_server_error"}`},
		{"upstream 401", 401, `{"error_type":"unauthorized_credentials"}`},
		{"upstream bad JSON", 200, `{"members": [`},
		{"upstream wrong shape", 200, `{"members": {"member_id": "x"}}`},
		{"upstream member without id", 200, `{"members": [{"name": "x"}]}`},
	} {
		fake.answer(tc.status, tc.body)
		resp, body, _ := orgMembers(t, base, plain)
		p := wantProblem(t, tc.name, resp, body, http.StatusBadGateway)
		if strings.Contains(string(body), "secret-test-456") || strings.Contains(p.Detail, upstream.URL) {
			t.Errorf("%s: the problem leaks configuration: %s", tc.name, body)
		}
	}
}

// TestMembersStytchUnreachable: a Stytch that cannot be reached is 502.
func TestMembersStytchUnreachable(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	addr := gone.URL
	gone.Close()
	base := stytchService(t, addr)
	tok := token(t, newTenant("stytch-down"), "u", "u@down.example", auth.RoleUser)
	resp, body, _ := orgMembers(t, base, tok)
	wantProblem(t, "unreachable Stytch", resp, body, http.StatusBadGateway)
}
