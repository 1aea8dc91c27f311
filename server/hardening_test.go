package server_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/panels/panels/server"
	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/servertest"
)

// hardInstance is a second service on the package's database, built by server.New with extra
// settings, for behaviour the shared env cannot show (CORS, HSTS, metrics exposure, logs, drain).
type hardInstance struct {
	url string
	app *server.App
}

func startHardened(t *testing.T, settings map[string]string, log *slog.Logger) *hardInstance {
	t.Helper()
	vars := map[string]string{
		"DB_MAX_CONNS": "4", // the test database server is shared by every package's tests
		"JWT_SECRET":   testSecret,
		"REDIS_URL":    os.Getenv("TEST_REDIS_URL"),
	}
	for k, v := range settings {
		vars[k] = v
	}
	svc := servertest.New(t, servertest.Options{DSN: env.dsn, Env: vars, Log: log})
	return &hardInstance{url: svc.URL, app: svc.App}
}

// do sends a request to the instance through the spec-validating transport.
func (in *hardInstance) do(t *testing.T, method, path string, body []byte, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, in.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := (&validatingTransport{t: t}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	tok := token(t, newTenant("sec"), "u1", "u1@x.example", auth.RoleAdmin)
	for _, tc := range []struct{ method, path, token string }{
		{"GET", "/api/panels", tok},        // 200
		{"GET", "/api/panels", ""},         // 401 from the gate
		{"GET", "/api/panels/999999", tok}, // 404 from the handler
		{"GET", "/no/such/route", ""},      // 404 from the router
		{"GET", "/docs", ""},
		{"GET", "/liveness", ""},
	} {
		resp, _ := raw(t, tc.method, tc.path, tc.token, nil, nil)
		h := resp.Header
		want := map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
			"Content-Security-Policy": "", // checked below
		}
		for k, v := range want {
			if h.Get(k) == "" || (v != "" && h.Get(k) != v) {
				t.Errorf("%s %s (%d): %s = %q, want %q", tc.method, tc.path, resp.StatusCode, k, h.Get(k), v)
			}
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s %s: CSP %q", tc.method, tc.path, csp)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s %s: HSTS sent although HSTS_MAX_AGE is not set", tc.method, tc.path)
		}
	}
}

// TestDocsWorkUnderTheCSP checks what the browser would enforce: every script and stylesheet of
// /docs is same-origin and served, and nothing inline needs 'unsafe-inline'.
func TestDocsWorkUnderTheCSP(t *testing.T) {
	resp, page := raw(t, "GET", "/docs", "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/docs: %d", resp.StatusCode)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	for _, d := range []string{"script-src", "style-src", "connect-src"} {
		if !strings.Contains(directives[d], "'self'") {
			t.Errorf("CSP %s %q does not allow the page's own origin", d, directives[d])
		}
		if strings.Contains(directives[d], "unsafe") {
			t.Errorf("CSP %s %q allows unsafe code", d, directives[d])
		}
	}
	html := string(page)
	if regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(html) || regexp.MustCompile(`(?i)<style|\sstyle=|\son[a-z]+=`).MatchString(html) {
		t.Error("/docs has inline script, style or event handlers, which the CSP blocks")
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(html, -1)
	if len(refs) < 2 {
		t.Fatalf("/docs references no assets: %s", html)
	}
	for _, ref := range refs {
		if !strings.HasPrefix(ref[1], "/") || strings.HasPrefix(ref[1], "//") {
			t.Errorf("/docs loads %s from another origin", ref[1])
			continue
		}
		if r, _ := raw(t, "GET", ref[1], "", nil, nil); r.StatusCode != http.StatusOK {
			t.Errorf("/docs asset %s: %d", ref[1], r.StatusCode)
		}
	}
	// docs.js fetches the spec from the same origin.
	if _, js := raw(t, "GET", "/docs/assets/docs.js", "", nil, nil); !strings.Contains(string(js), "url: '/openapi.json'") {
		t.Error("docs.js does not load the spec from /openapi.json")
	}
}

func TestHSTSWhenConfigured(t *testing.T) {
	in := startHardened(t, map[string]string{"HSTS_MAX_AGE": "31536000"}, nil)
	resp, _ := in.do(t, "GET", "/liveness", nil, nil)
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
		t.Errorf("HSTS = %q", got)
	}
}

func TestCORS(t *testing.T) {
	in := startHardened(t, map[string]string{"CORS_ORIGINS": "http://localhost:3000"}, nil)
	send := func(method, origin string, headers map[string]string) *http.Response {
		req, _ := http.NewRequest(method, in.url+"/api/panels", nil)
		req.Header.Set("Origin", origin)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// Preflight of a create with every header the web UI and clients send (allowed and exposed headers are set in server/setup.go).
	wantAllowed := []string{"Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key", "X-Request-Id"}
	pre := send("OPTIONS", "http://localhost:3000", map[string]string{
		"Access-Control-Request-Method":  "POST",
		"Access-Control-Request-Headers": strings.ToLower(strings.Join(wantAllowed, ",")),
	})
	if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
		pre.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
	allowed := strings.ToLower(pre.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range wantAllowed {
		if !strings.Contains(allowed, strings.ToLower(h)) {
			t.Errorf("preflight does not allow %s: %q", h, allowed)
		}
	}
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		if !strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), m) {
			t.Errorf("preflight does not allow %s", m)
		}
	}
	// An actual request exposes what the UI must read.
	tok := token(t, newTenant("cors"), "u1", "u1@x.example", auth.RoleAdmin)
	got := send("GET", "http://localhost:3000", map[string]string{"Authorization": "Bearer " + tok})
	exposed := strings.ToLower(got.Header.Get("Access-Control-Expose-Headers"))
	for _, h := range []string{"X-Request-Id", "ETag", "Location", "Link", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
		if !strings.Contains(exposed, strings.ToLower(h)) {
			t.Errorf("response does not expose %s: %q", h, exposed)
		}
	}
	if got.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Errorf("allowed origin not echoed: %v", got.Header)
	}
	// Another origin gets no CORS grant.
	for _, m := range []string{"OPTIONS", "GET"} {
		if r := send(m, "http://evil.example", map[string]string{"Access-Control-Request-Method": "GET"}); r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s from an unlisted origin was granted %q", m, r.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}

func TestGzipAboveOneKiB(t *testing.T) {
	get := func(path string, acceptGzip bool) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", env.url+path, nil)
		if acceptGzip {
			req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport leaves the body compressed
		} else {
			req.Header.Set("Accept-Encoding", "identity")
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := get("/openapi.json", true)
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("the spec (large) was not compressed: %v", resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !json.Valid(plain) {
		t.Fatalf("compressed spec does not decode to JSON: %v", err)
	}
	_, identity := get("/openapi.json", false)
	if !bytes.Equal(plain, identity) {
		t.Error("compressed and plain answers differ")
	}
	if len(body) >= len(plain) {
		t.Errorf("gzip did not shrink the spec: %d >= %d", len(body), len(plain))
	}
	if r, b := get("/liveness", true); r.Header.Get("Content-Encoding") != "" || !json.Valid(b) {
		t.Errorf("a small answer (%d bytes) was compressed", len(b))
	}
	if r, _ := get("/openapi.json", false); r.Header.Get("Content-Encoding") != "" {
		t.Error("compressed for a client that did not accept gzip")
	}
}

func TestBodyLimitSetting(t *testing.T) {
	in := startHardened(t, map[string]string{"BODY_LIMIT": "2KiB"}, nil)
	tok := token(t, newTenant("limit"), "u1", "u1@x.example", auth.RoleAdmin)
	hdr := map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
	small := []byte(`{"name":"small","metadata":{"pad":"` + strings.Repeat("x", 1024) + `"}}`)
	if resp, b := in.do(t, "POST", "/api/panels", small, hdr); resp.StatusCode != http.StatusCreated {
		t.Fatalf("1 KiB body: %d %s", resp.StatusCode, b)
	}
	big := []byte(`{"name":"big","metadata":{"pad":"` + strings.Repeat("x", 3000) + `"}}`)
	resp, b := in.do(t, "POST", "/api/panels", big, hdr)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "2048") {
		t.Fatalf("3 KiB body over a 2 KiB limit: %d %s", resp.StatusCode, b)
	}
}

func TestDrainingIsNotReady(t *testing.T) {
	in := startHardened(t, nil, nil)
	if resp, b := in.do(t, "GET", "/healthz", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("before drain: %d %s", resp.StatusCode, b)
	}
	in.app.Server.Drain()
	// Plain client: readiness answers 503 with its own JSON shape (the spec's Readiness), which the
	// harness's "every error is problem+json" rule does not expect.
	resp, err := http.Get(in.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var r struct {
		Status   string `json:"status"`
		Draining bool   `json:"draining"`
	}
	_ = json.Unmarshal(b, &r)
	if resp.StatusCode != http.StatusServiceUnavailable || !r.Draining || r.Status != "not_ready" {
		t.Fatalf("while draining: %d %s", resp.StatusCode, b)
	}
	// Liveness and the API keep answering while the in-flight work drains.
	if resp, _ := in.do(t, "GET", "/liveness", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("liveness while draining: %d", resp.StatusCode)
	}
}

// lockedBuffer collects log output written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(l.b.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		out = append(out, m)
	}
	return out
}

func TestOneLogLinePerRequestWithoutSecrets(t *testing.T) {
	var buf lockedBuffer
	in := startHardened(t, nil, slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	tenant := newTenant("logs")
	tok := token(t, tenant, "u-logs", "u@logs.example", auth.RoleAdmin)
	const secret = "hunter2-very-secret-password"
	send := func(id, method, path string, body []byte, tk string) int {
		hdr := map[string]string{"X-Request-Id": id, "Content-Type": "application/json"}
		if tk != "" {
			hdr["Authorization"] = "Bearer " + tk
		}
		resp, _ := in.do(t, method, path, body, hdr)
		return resp.StatusCode
	}
	send("log-create", "POST", "/api/panels", []byte(`{"name":"Logged"}`), tok)
	// The panel id is needed for the data source; read it back from the list.
	_, list := in.do(t, "GET", "/api/panels", nil, map[string]string{"Authorization": "Bearer " + tok, "X-Request-Id": "log-list"})
	var panels []struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(list, &panels); err != nil || len(panels) != 1 {
		t.Fatalf("panels: %s", list)
	}
	dsBody := []byte(`{"type":"database","config":{"connectionString":"postgres://app:` + secret + `@db/x","query":"select 1","apiToken":"` + secret + `"}}`)
	statuses := map[string]int{
		"log-ds":        send("log-ds", "POST", "/api/panels/"+strconv.FormatInt(panels[0].ID, 10)+"/datasources", dsBody, tok),
		"log-missing":   send("log-missing", "GET", "/api/panels/99999999", nil, tok),
		"log-badtoken":  send("log-badtoken", "GET", "/api/panels", nil, tok+"x"),
		"log-badinput":  send("log-badinput", "POST", "/api/panels", []byte(`{"name":""}`), tok),
		"log-unmatched": send("log-unmatched", "GET", "/nowhere", nil, ""),
	}
	statuses["log-create"], statuses["log-list"] = http.StatusCreated, http.StatusOK

	lines := buf.lines(t)
	byID := map[string][]map[string]any{}
	for _, l := range lines {
		if id, _ := l["request_id"].(string); id != "" {
			byID[id] = append(byID[id], l)
		}
	}
	for id, status := range statuses {
		got := byID[id]
		if len(got) != 1 {
			t.Errorf("%s: %d log lines, want exactly 1: %v", id, len(got), got)
			continue
		}
		l := got[0]
		if int(l["status"].(float64)) != status {
			t.Errorf("%s: logged status %v, answered %d", id, l["status"], status)
		}
		for _, k := range []string{"method", "path", "operation", "latency_ms", "bytes"} {
			if _, ok := l[k]; !ok {
				t.Errorf("%s: log line lacks %s: %v", id, k, l)
			}
		}
		wantLevel := "INFO"
		if status >= 400 {
			wantLevel = "WARN"
		}
		if l["level"] != wantLevel {
			t.Errorf("%s: level %v, want %s", id, l["level"], wantLevel)
		}
		if status >= 400 && status != 401 && l["detail"] == nil {
			t.Errorf("%s: a refusal's line carries no detail: %v", id, l)
		}
	}
	if l := byID["log-ds"]; len(l) == 1 && (l[0]["tenant"] != tenant || l[0]["user"] != "u-logs" || l[0]["operation"] != "createDataSource") {
		t.Errorf("create line lacks tenant, user or operation: %v", l[0])
	}
	if l := byID["log-unmatched"]; len(l) == 1 && l[0]["operation"] != "unmatched" {
		t.Errorf("unknown route logged as %v", l[0]["operation"])
	}
	all := func() string { buf.mu.Lock(); defer buf.mu.Unlock(); return buf.b.String() }()
	for _, leak := range []string{secret, tok, "Bearer"} {
		if strings.Contains(all, leak) {
			t.Errorf("the logs contain %q", leak[:min(len(leak), 12)])
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	const metricsToken = "metrics-token-0123456789"
	in := startHardened(t, map[string]string{"METRICS_TOKEN": metricsToken}, nil)
	tok := token(t, newTenant("metrics"), "u1", "u1@x.example", auth.RoleAdmin)
	in.do(t, "GET", "/api/panels", nil, map[string]string{"Authorization": "Bearer " + tok})
	in.do(t, "GET", "/api/panels/424242", nil, map[string]string{"Authorization": "Bearer " + tok})

	for _, bad := range []map[string]string{nil, {"Authorization": "Bearer wrong-token-000000000"}, {"Authorization": "Bearer " + tok}} {
		resp, b := in.do(t, "GET", "/metrics", nil, bad)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("/metrics with %v: %d %s", bad, resp.StatusCode, b)
		}
	}
	resp, b := in.do(t, "GET", "/metrics", nil, map[string]string{"Authorization": "Bearer " + metricsToken})
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	text := string(b)
	for _, want := range []string{
		`panels_http_requests_total{operation="listPanels",status="200"} 1`,
		`panels_http_requests_total{operation="getPanel",status="404"} 1`,
		`panels_http_requests_total{operation="getMetrics",status="401"} 3`,
		`panels_http_request_duration_seconds_bucket{operation="listPanels",status="200",le="+Inf"} 1`,
		`panels_http_requests_in_flight 1`,
		`go_sql_max_open_connections{db_name="panels"} 4`,
		`go_sql_open_connections{db_name="panels"}`,
		`panels_cache_requests_total{result="hit"}`,
		`panels_rate_limit_requests_total{result="limited"}`,
		`panels_redis_usable`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, tok) || strings.Contains(text, metricsToken) {
		t.Error("/metrics shows a token")
	}
}

func TestMetricsOnASeparateListener(t *testing.T) {
	in := startHardened(t, map[string]string{"METRICS_ADDR": "127.0.0.1:0", "METRICS_TOKEN": "metrics-token-0123456789"}, nil)
	if resp, b := in.do(t, "GET", "/metrics", nil, map[string]string{"Authorization": "Bearer metrics-token-0123456789"}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the API port with METRICS_ADDR: %d %s", resp.StatusCode, b)
	}
	ms := httptest.NewServer(in.app.MetricsHandler())
	defer ms.Close()
	get := func(auth string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", ms.URL+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, _ := get(""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("metrics listener without the token: %d", resp.StatusCode)
	}
	resp, text := get("Bearer metrics-token-0123456789")
	if resp.StatusCode != http.StatusOK || !strings.Contains(text, `panels_http_requests_total{operation="getMetrics",status="404"} 1`) {
		t.Errorf("metrics listener: %d\n%s", resp.StatusCode, text)
	}
}
