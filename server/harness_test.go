package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/uptrace/bun"

	client "github.com/panels/panels/clients/go"
	"github.com/panels/panels/gen"
	"github.com/panels/panels/server"
	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/servertest"
	"github.com/panels/panels/store/sqlaudit"
)

const testSecret = "test-secret-0123456789abcdef-0123456789"

// env is the one service every HTTP test of this package talks to: the real Echo instance from
// server.New (the production setup) on a fresh database, behind a real listener.
var env struct {
	url    string
	dsn    string
	app    *server.App
	router routers.Router
	doc    *openapi3.T
}

func TestMain(m *testing.M) {
	// The documentation routes answer text; validate their bodies as the strings the spec says.
	for _, ct := range []string{"text/html", "text/css", "application/javascript", "application/yaml", "text/csv", "text/event-stream"} {
		openapi3filter.RegisterBodyDecoder(ct, func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(r)
			return string(b), err
		})
	}
	// sqlaudit checks every statement the service ran for a tenant_id predicate (README "Tenant scoping").
	os.Exit(sqlaudit.Finish(runMain(m), os.Stderr))
}

func runMain(m *testing.M) int {
	svc, err := servertest.Start(context.Background(), servertest.Options{
		DBPrefix: "panels_server_test",
		Env: map[string]string{
			"JWT_SECRET": testSecret,
			// Several test packages share one PostgreSQL (100 connections by default).
			"DB_MAX_CONNS": "8",
			"REDIS_URL":    os.Getenv("TEST_REDIS_URL"),
			// The webhook tests that deliver run instances of their own (webhooks_test.go); this one
			// only queues, so that no test's webhook reaches out of the machine.
			"WEBHOOK_WORKERS": "0",
		},
		QueryHooks: []bun.QueryHook{statements, sqlaudit.Hook}, // querycount_test.go, the tenant-scoping audit
		Log:        servertest.Log(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer svc.Close()
	doc, err := gen.GetSpec()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	doc.Servers = openapi3.Servers{{URL: "/"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.url, env.dsn, env.app, env.router, env.doc = svc.URL, svc.DSN, svc.App, router, doc
	return checkResponseCoverage(m.Run())
}

// token mints a token for a caller of the given tenant and role.
func token(t testing.TB, tenant, user, email string, role auth.Role) string {
	t.Helper()
	tok, err := auth.Mint([]byte(testSecret), auth.Principal{TenantID: tenant, UserID: user, Email: email, Role: role}, time.Hour, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// caller is one authenticated user of a tenant, with a spec-validating client.
type caller struct {
	t      testing.TB
	tenant string
	user   string
	email  string
	token  string
	api    *client.ClientWithResponses
}

var tenantSeq struct {
	sync.Mutex
	n int
}

// newTenant returns a tenant name no other test uses.
func newTenant(prefix string) string {
	tenantSeq.Lock()
	defer tenantSeq.Unlock()
	tenantSeq.n++
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e6, tenantSeq.n)
}

func newCaller(t testing.TB, tenant, user string, role auth.Role) *caller {
	t.Helper()
	email := user + "@" + tenant + ".example"
	c := &caller{t: t, tenant: tenant, user: user, email: email, token: token(t, tenant, user, email, role)}
	hc := &http.Client{Transport: &validatingTransport{t: t}}
	api, err := client.NewClientWithResponses(env.url, client.WithHTTPClient(hc),
		client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+c.token)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	c.api = api
	return c
}

// raw sends a request exactly as given (for malformed input and the web UI's habits); the
// response is still validated against the spec. token "" sends no Authorization header.
func raw(t testing.TB, method, path, token string, body []byte, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, env.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
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

// observed records every (operationId, status) the tests saw, for spec coverage.
var observed struct {
	sync.Mutex
	pairs map[string]map[int]int
}

func observe(op string, status int) {
	observed.Lock()
	defer observed.Unlock()
	if observed.pairs == nil {
		observed.pairs = map[string]map[int]int{}
	}
	if observed.pairs[op] == nil {
		observed.pairs[op] = map[int]int{}
	}
	observed.pairs[op][status]++
}

// validatingTransport sends the request and fails the test when the answer is not what the spec
// documents for the operation and status (undocumented statuses included).
type validatingTransport struct{ t testing.TB }

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	var body []byte
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// An event stream never ends by itself: take it up to the end of its replay.
		body, err = readUntilLive(resp.Body)
	} else {
		body, err = io.ReadAll(resp.Body)
	}
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	v.check(req, reqBody, resp, body)
	return resp, nil
}

// readUntilLive reads an event stream up to its ": live" comment (the end of the replay).
func readUntilLive(r io.Reader) ([]byte, error) {
	var b bytes.Buffer
	chunk := make([]byte, 4096)
	for !bytes.Contains(b.Bytes(), []byte("\n: live\n\n")) {
		n, err := r.Read(chunk)
		b.Write(chunk[:n])
		if err != nil {
			return b.Bytes(), err
		}
	}
	return b.Bytes(), nil
}

// check fails the test when the answer (status, headers and the whole body) is not what the spec
// documents; streamed answers (eventStream) call it once the stream is over.
func (v *validatingTransport) check(req *http.Request, reqBody []byte, resp *http.Response, body []byte) {
	if id := resp.Header.Get("X-Request-Id"); id == "" {
		v.t.Errorf("%s %s: response without X-Request-Id", req.Method, req.URL.Path)
	}
	route, params, err := env.router.FindRoute(req)
	if err != nil {
		return // not an operation of the spec (unknown path or method): nothing to validate
	}
	observe(route.Operation.OperationID, resp.StatusCode)
	// 502 (an upstream failed) and 503 (the database is down) are answers, not bugs; whether the
	// operation documents them is checked below.
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented && resp.StatusCode != http.StatusBadGateway &&
		resp.StatusCode != http.StatusServiceUnavailable {
		v.t.Errorf("%s %s: server error %d: %s", req.Method, req.URL.String(), resp.StatusCode, body)
	}
	// Every operation has a default response (for the 500s), which kin-openapi matches to any
	// status; a status the service answers by design must be listed by itself.
	if route.Operation.Responses.Value(strconv.Itoa(resp.StatusCode)) == nil {
		v.t.Errorf("%s %s: status %d is not documented by the operation (only its default matches it): %s", req.Method, req.URL.String(), resp.StatusCode, body)
	}
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		v.t.Errorf("%s %s: response %d does not match the spec: %s\nbody: %s", req.Method, req.URL.String(), resp.StatusCode,
			strings.ReplaceAll(err.Error(), "\n", " | "), body)
	}
	if resp.StatusCode >= 400 && documentsProblem(route.Operation, resp.StatusCode) &&
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		v.t.Errorf("%s %s: error %d is not problem+json", req.Method, req.URL.String(), resp.StatusCode)
	}
}
