package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/server/auth"
	curs "github.com/panels/panels/server/cursor"
	"github.com/panels/panels/store"
)

func TestToProblemMapsEveryErrorKind(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		slug       string
		detail     string // exact, when set
		notContain []string
	}{
		{name: "panel not found", err: fmt.Errorf("getPanel: %w", &store.NotFoundError{Kind: store.KindPanel}), status: 404, slug: "not-found", detail: "Panel not found"},
		{name: "column not found", err: &store.NotFoundError{Kind: store.KindColumn}, status: 404, slug: "not-found", detail: "Column not found"},
		{name: "view not found", err: &store.NotFoundError{Kind: store.KindView}, status: 404, slug: "not-found", detail: "View not found"},
		{name: "data source not found", err: &store.NotFoundError{Kind: store.KindDataSource}, status: 404, slug: "not-found", detail: "Data source not found"},
		{name: "bare not found", err: store.ErrNotFound, status: 404, slug: "not-found", detail: "Not found"},
		{name: "not found of something internal", err: fmt.Errorf("acl_internal_table 3: %w", store.ErrNotFound), status: 404, slug: "not-found", detail: "Not found"},
		{name: "forbidden", err: fmt.Errorf("panel 4: %w", store.Forbidden("deletePanel needs owner permission on the panel")), status: 403, slug: "forbidden", detail: "deletePanel needs owner permission on the panel"},
		{name: "precondition", err: fmt.Errorf("x: %w", store.ErrPrecondition), status: 412, slug: "precondition-failed"},
		{name: "plain conflict", err: fmt.Errorf("%w: duplicate (acls_tenant_id_resource_type_key)", store.ErrConflict), status: 409, slug: "conflict",
			notContain: []string{"acls_tenant_id_resource_type_key", "duplicate"}},
		{name: "plain invalid", err: fmt.Errorf("%w: referenced row missing (columns_data_source_id_fkey)", store.ErrInvalid), status: 422, slug: "unprocessable",
			notContain: []string{"columns_data_source_id_fkey"}},
		{name: "unavailable", err: fmt.Errorf("%w: connection refused to 10.0.0.5:5432", store.ErrUnavailable), status: 503, slug: "unavailable",
			notContain: []string{"10.0.0.5", "refused"}},
		{name: "max bytes", err: &http.MaxBytesError{Limit: 1048576}, status: 413, slug: "too-large", detail: "the request body exceeds 1048576 bytes"},
		{name: "wrapped max bytes", err: fmt.Errorf("read body: %w", &http.MaxBytesError{Limit: 10}), status: 413, slug: "too-large"},
		{name: "echo not found", err: echo.ErrNotFound, status: 404, slug: "not-found", detail: "Not Found"},
		{name: "echo method not allowed", err: echo.ErrMethodNotAllowed, status: 405, slug: "method-not-allowed"},
		{name: "echo 400 with message", err: echo.NewHTTPError(400, "bad thing"), status: 400, slug: "validation", detail: "bad thing"},
		{name: "echo 415", err: echo.ErrUnsupportedMediaType, status: 415, slug: "unsupported-media-type"},
		{name: "echo 429", err: echo.ErrTooManyRequests, status: 429, slug: "rate-limited"},
		{name: "echo 400 with a non-string message", err: echo.NewHTTPError(400, map[string]any{"x": 1}), status: 400, slug: "validation", detail: "Bad Request"},
		{name: "echo 5xx never shows its message", err: echo.NewHTTPError(502, "upstream secret-host.internal failed"), status: 502, slug: "bad-gateway",
			detail: "Bad Gateway", notContain: []string{"secret-host"}},
		{name: "unauthenticated", err: fmt.Errorf("%w: token is expired (exp 2020-01-01)", auth.ErrUnauthenticated), status: 401, slug: "unauthenticated",
			notContain: []string{"2020", "token is expired"}},
		{name: "unknown", err: errors.New(`ERROR: relation "secret_table" does not exist (SQLSTATE 42P01) at /srv/panels/store/x.go:12`), status: 500, slug: "internal",
			detail: "internal error", notContain: []string{"secret_table", "SQLSTATE", ".go"}},
		{name: "panic", err: fmt.Errorf("panic: runtime error: index out of range [3] with length 2"), status: 500, slug: "internal", detail: "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := toProblem(tc.err)
			if p.Status != tc.status || p.Slug != tc.slug {
				t.Errorf("status %d slug %q, want %d %q (detail %q)", p.Status, p.Slug, tc.status, tc.slug, p.Detail)
			}
			if p.Detail == "" {
				t.Error("empty detail")
			}
			if tc.detail != "" && p.Detail != tc.detail {
				t.Errorf("detail %q, want %q", p.Detail, tc.detail)
			}
			for _, s := range tc.notContain {
				if strings.Contains(p.Detail, s) {
					t.Errorf("detail %q leaks %q", p.Detail, s)
				}
			}
		})
	}
}

func TestToProblemHeadersAndDetails(t *testing.T) {
	p := toProblem(fmt.Errorf("%w: bad signature", auth.ErrUnauthenticated))
	if got := headerValue(p.Header, "WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Errorf("401 without a Bearer WWW-Authenticate challenge: %q", got)
	}
	if p := toProblem(store.ErrUnavailable); headerValue(p.Header, "Retry-After") == "" {
		t.Error("503 without Retry-After")
	}

	ce := &store.ConflictError{Message: "column \"Age\" is used by 2 calculated column(s)",
		Dependents: []store.Dependent{{ID: 7, Name: "Age next year", Kind: "column"}, {ID: 8, Name: "Senior", Kind: "column"}}}
	p = toProblem(fmt.Errorf("delete: %w", ce))
	if p.Status != 409 || p.Detail != ce.Message || !reflect.DeepEqual(p.Dependents, ce.Dependents) {
		t.Errorf("conflict with dependents: %+v", p)
	}

	ie := &store.InvalidError{Message: "invalid formula: Nope: unknown column",
		Problems: []store.Problem{{Field: "formula", Reason: "Nope: unknown column"}, {Field: "dependencies", Reason: "Nope: not referenced"}}}
	p = toProblem(ie)
	want := []fieldError{{Field: "formula", Reason: "Nope: unknown column"}, {Field: "dependencies", Reason: "Nope: not referenced"}}
	if p.Status != 422 || p.Slug != "unprocessable" || p.Detail != ie.Message || !reflect.DeepEqual(p.Errors, want) {
		t.Errorf("invalid error: %+v", p)
	}

	// A problem passes through unchanged, even wrapped.
	orig := badRequest("body.id", "does not match the id in the path")
	if got := toProblem(fmt.Errorf("update: %w", orig)); got != orig {
		t.Errorf("problem not passed through: %+v", got)
	}
	// A ConflictError is not reduced to the generic conflict text.
	if got := toProblem(ce); got.Detail == "the request conflicts with the current state" {
		t.Error("ConflictError lost its message")
	}
}

// headerValue looks a header up whatever the case of its key (writeProblem copies keys as they are,
// and the wire is case-insensitive).
func headerValue(h http.Header, name string) string {
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

func TestWriteProblemBody(t *testing.T) {
	e := echo.New()
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req := httptest.NewRequest(method, "/api/panels/7", nil)
		req = req.WithContext(withRequestState(req.Context(), "req-123"))
		rec := httptest.NewRecorder()
		c := e.NewContext(req, rec)
		p := toProblem(&store.ConflictError{Message: "in use", Dependents: []store.Dependent{{ID: 1, Name: "A", Kind: "column"}}})
		p.Errors = []fieldError{{Field: "body.x", Reason: "bad"}}
		writeProblem(c, p)
		if rec.Code != 409 || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s: status %d content type %q", method, rec.Code, rec.Header().Get("Content-Type"))
		}
		if method == http.MethodHead {
			if rec.Body.Len() != 0 {
				t.Errorf("HEAD problem with a body: %s", rec.Body)
			}
			continue
		}
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"type": "https://panels.dev/problems/conflict", "title": "Conflict", "status": float64(409), "detail": "in use",
			"message": "in use", "instance": "/api/panels/7", "requestId": "req-123",
			"errors":     []any{map[string]any{"field": "body.x", "reason": "bad"}},
			"dependents": []any{map[string]any{"id": float64(1), "name": "A", "kind": "column"}},
		}
		if !reflect.DeepEqual(body, want) {
			t.Errorf("problem body\n got %v\nwant %v", body, want)
		}
	}
}

func TestEtagMatches(t *testing.T) {
	const etag = `"0123456789abcdef01234567"`
	for _, tc := range []struct {
		header string
		weak   bool
		want   bool
	}{
		{etag, false, true},
		{etag, true, true},
		{`"other"`, false, false},
		{`"other", ` + etag, false, true},
		{` "a" ,"b",   ` + etag + ` `, true, true},
		{`"a","b"`, true, false},
		{`*`, false, true},
		{`*`, true, true},
		{`W/` + etag, true, true},   // If-None-Match: weak comparison
		{`W/` + etag, false, false}, // If-Match: strong comparison, weak validators never match
		{`"x", W/` + etag, false, false},
		{`"x", W/` + etag, true, true},
		{``, false, false},
		{``, true, false},
		{strings.Trim(etag, `"`), false, false}, // unquoted
	} {
		if got := etagMatches(tc.header, etag, tc.weak); got != tc.want {
			t.Errorf("etagMatches(%q, weak=%v) = %v, want %v", tc.header, tc.weak, got, tc.want)
		}
	}

	a, b := etagOf(map[string]any{"name": "a"}), etagOf(map[string]any{"name": "b"})
	if a == b || a != etagOf(map[string]any{"name": "a"}) || !strings.HasPrefix(a, `"`) || !strings.HasSuffix(a, `"`) || strings.HasPrefix(a, "W/") {
		t.Errorf("etagOf: %s %s", a, b)
	}
	stale := `"stale"`
	if err := precondition(&stale, map[string]any{"name": "a"}); !errors.Is(err, store.ErrPrecondition) {
		t.Errorf("stale If-Match: %v", err)
	}
	if err := precondition(&a, map[string]any{"name": "a"}); err != nil {
		t.Errorf("current If-Match: %v", err)
	}
	if err := precondition(nil, map[string]any{"name": "a"}); err != nil {
		t.Errorf("no If-Match: %v", err)
	}
	weak := "W/" + a
	if err := precondition(&weak, map[string]any{"name": "a"}); !errors.Is(err, store.ErrPrecondition) {
		t.Errorf("weak If-Match accepted: %v", err)
	}
	if !notModified(&weak, a) || notModified(nil, a) || notModified(&stale, a) {
		t.Error("notModified")
	}
}

func TestCursorRoundTripAndRefusals(t *testing.T) {
	key := curs.DeriveKey([]byte("internal-test-secret-0123456789abcdef"))
	s := &Server{cursors: curs.New(key)}
	in := cursor{List: "panels", Scope: "tenant-a", Time: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC).UnixMicro(), ID: 42}
	raw := s.encodeCursor(in)
	if strings.ContainsAny(raw, "+/=") {
		t.Errorf("cursor %q is not URL-safe", raw)
	}
	out, err := s.decodeCursor(&raw, "panels", "tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	if *out != in {
		t.Errorf("round trip: %+v, want %+v", out, in)
	}
	if c, err := s.decodeCursor(nil, "panels", "tenant-a"); c != nil || err != nil {
		t.Errorf("no cursor: %v %v", c, err)
	}

	// forge signs a payload with the server's key, issued at the given time: what a leaked key
	// or a bug could produce. Validation must still refuse bad values.
	forge := func(k curs.Key, issued time.Time) string {
		c := curs.New(key)
		c.Now = func() time.Time { return issued }
		return c.Encode("panels", "tenant-a", &k)
	}
	now := time.Now()
	other := curs.New(curs.DeriveKey([]byte("another-secret-0123456789abcdef-xyz")))
	for _, tc := range []struct {
		name        string
		raw         string
		list, scope string
		status      int
	}{
		{"another list", raw, "datasources", "tenant-a", 400},
		{"another scope", raw, "panels", "tenant-b", 400},
		{"another key", other.Encode("panels", "tenant-a", &curs.Key{ID: 3}), "panels", "tenant-a", 400},
		{"not base64", "!!!", "panels", "tenant-a", 400},
		{"unsigned", strings.Split(raw, ".")[0], "panels", "tenant-a", 400},
		{"zero id", forge(curs.Key{ID: 0}, now), "panels", "tenant-a", 400},
		{"negative id", forge(curs.Key{ID: -3}, now), "panels", "tenant-a", 400},
		{"time -2^63", forge(curs.Key{ID: 3, Time: math.MinInt64}, now), "panels", "tenant-a", 400},
		{"time 2^63-1", forge(curs.Key{ID: 3, Time: math.MaxInt64}, now), "panels", "tenant-a", 400},
		{"from the future", forge(curs.Key{ID: 3}, now.Add(time.Hour)), "panels", "tenant-a", 400},
		{"expired", forge(curs.Key{ID: 3}, now.Add(-curs.DefaultTTL-time.Minute)), "panels", "tenant-a", 410},
	} {
		c, err := s.decodeCursor(&tc.raw, tc.list, tc.scope)
		var p *problem
		if c != nil || !errors.As(err, &p) || p.Status != tc.status {
			t.Errorf("%s: %+v %v, want a %d problem", tc.name, c, err, tc.status)
			continue
		}
		if tc.status == 400 && (len(p.Errors) != 1 || p.Errors[0].Field != "query.cursor") {
			t.Errorf("%s: errors %+v, want one on query.cursor", tc.name, p.Errors)
		}
		if tc.status == 410 && p.Slug != "cursor-expired" {
			t.Errorf("%s: slug %q", tc.name, p.Slug)
		}
	}
	// Just inside the lifetime, and slightly ahead of this clock, is still honoured.
	for _, at := range []time.Time{now.Add(-curs.DefaultTTL + time.Minute), now.Add(30 * time.Second)} {
		fresh := forge(curs.Key{ID: 3}, at)
		if _, err := s.decodeCursor(&fresh, "panels", "tenant-a"); err != nil {
			t.Errorf("cursor issued at %v: %v", at, err)
		}
	}

	link := nextLink("/api/panels", 10, raw)
	if link == nil || *link != "</api/panels?limit=10&cursor="+raw+`>; rel="next"` {
		t.Errorf("next link %v", link)
	}
}

func TestCheckEchoedID(t *testing.T) {
	echoed := func(js string) *gen.EchoedId {
		t.Helper()
		var id gen.EchoedId
		if err := json.Unmarshal([]byte(js), &id); err != nil {
			t.Fatal(err)
		}
		return &id
	}
	for _, tc := range []struct {
		js string
		ok bool
	}{
		{`12`, true},
		{`"12"`, true},
		{`13`, false},
		{`"13"`, false},
		{`"twelve"`, false},
		{`"-12"`, false},
		{`""`, false},
	} {
		err := checkEchoedID(echoed(tc.js), 12)
		if tc.ok && err != nil {
			t.Errorf("id %s for 12: %v", tc.js, err)
		}
		if !tc.ok {
			var p *problem
			if !errors.As(err, &p) || p.Status != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "body.id" {
				t.Errorf("id %s for 12: %v, want a 400 on body.id", tc.js, err)
			}
		}
	}
	if err := checkEchoedID(nil, 12); err != nil {
		t.Errorf("no id: %v", err)
	}
	var built gen.EchoedId
	if err := built.FromEchoedId1("7"); err != nil {
		t.Fatal(err)
	}
	if err := checkEchoedID(&built, 7); err != nil {
		t.Errorf("string id built with FromEchoedId1: %v", err)
	}
}
