package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/server/auth"
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
			p := From(tc.err)
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
	p := From(fmt.Errorf("%w: bad signature", auth.ErrUnauthenticated))
	if got := headerValue(p.Header, "WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Errorf("401 without a Bearer WWW-Authenticate challenge: %q", got)
	}
	if p := From(store.ErrUnavailable); headerValue(p.Header, "Retry-After") == "" {
		t.Error("503 without Retry-After")
	}

	ce := &store.ConflictError{Message: "column \"Age\" is used by 2 calculated column(s)",
		Dependents: []store.Dependent{{ID: 7, Name: "Age next year", Kind: "column"}, {ID: 8, Name: "Senior", Kind: "column"}}}
	p = From(fmt.Errorf("delete: %w", ce))
	if p.Status != 409 || p.Detail != ce.Message || !reflect.DeepEqual(p.Dependents, ce.Dependents) {
		t.Errorf("conflict with dependents: %+v", p)
	}

	ie := &store.InvalidError{Message: "invalid formula: Nope: unknown column",
		Problems: []store.Problem{{Field: "formula", Reason: "Nope: unknown column"}, {Field: "dependencies", Reason: "Nope: not referenced"}}}
	p = From(ie)
	want := []gen.FieldError{{Field: "formula", Reason: "Nope: unknown column"}, {Field: "dependencies", Reason: "Nope: not referenced"}}
	if p.Status != 422 || p.Slug != "unprocessable" || p.Detail != ie.Message || !reflect.DeepEqual(p.Errors, want) {
		t.Errorf("invalid error: %+v", p)
	}

	// A problem passes through unchanged, even wrapped.
	orig := BadRequest("body.id", "does not match the id in the path")
	if got := From(fmt.Errorf("update: %w", orig)); got != orig {
		t.Errorf("problem not passed through: %+v", got)
	}
	// A ConflictError is not reduced to the generic conflict text.
	if got := From(ce); got.Detail == "the request conflicts with the current state" {
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
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req := httptest.NewRequest(method, "/api/panels/7", nil)
		rec := httptest.NewRecorder()
		p := From(&store.ConflictError{Message: "in use", Dependents: []store.Dependent{{ID: 1, Name: "A", Kind: "column"}}})
		p.Errors = []gen.FieldError{{Field: "body.x", Reason: "bad"}}
		Write(rec, req, "req-123", p)
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
