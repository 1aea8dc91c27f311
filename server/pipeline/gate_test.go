package pipeline_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/optable"
	"github.com/panels/panels/server/pipeline"
	"github.com/panels/panels/server/problem"
)

// tripwire is a request body that records whether anything read it.
type tripwire struct{ read bool }

func (t *tripwire) Read([]byte) (int, error) {
	t.read = true
	return 0, io.EOF
}

// The gate validates requests against the spec, which reads JSON bodies whole. The streamed
// operations must pass through it unread, whatever their content type, and BodyLimit must give
// them their own limit; every other operation keeps the default one.
func TestStreamedBodiesPassTheGateUnread(t *testing.T) {
	doc, err := gen.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := auth.NewVerifier(t.Context(), auth.Config{Secret: secret, Leeway: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.Mint(secret, auth.Principal{TenantID: "t", UserID: "u", Role: auth.RoleBuilder}, time.Hour, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ops, err := optable.New(doc)
	if err != nil {
		t.Fatal(err)
	}
	gate, err := pipeline.NewGate(doc, ops, v)
	if err != nil {
		t.Fatal(err)
	}
	const bodyLimit, uploadLimit = 1 << 20, 50 << 20
	e := echo.New()
	reached := 0
	handler := func(c echo.Context) error { reached++; return c.NoContent(http.StatusNoContent) }
	mw := []echo.MiddlewareFunc{pipeline.BodyLimit(bodyLimit, uploadLimit, ops), gate.Middleware}
	e.POST("/api/datasources/:dataSourceId/upload", handler, mw...)
	e.POST("/api/datasources/:dataSourceId/records", handler, mw...)
	e.POST("/api/panels", handler, mw...)

	for _, tc := range []struct{ path, ct string }{
		{"/api/datasources/1/upload", "application/json"},
		{"/api/datasources/1/upload", "text/csv"},
		{"/api/datasources/1/upload", ""},
		{"/api/datasources/1/records", "application/x-ndjson"},
		{"/api/datasources/1/records", "application/json"},
	} {
		body := &tripwire{}
		req := httptest.NewRequest(http.MethodPost, tc.path, io.NopCloser(body))
		req.ContentLength = 40 << 20 // over BODY_LIMIT, under UPLOAD_LIMIT
		req.Header.Set("Authorization", "Bearer "+tok)
		if tc.ct != "" {
			req.Header.Set("Content-Type", tc.ct)
		}
		rec := httptest.NewRecorder()
		before := reached
		e.ServeHTTP(rec, req)
		if body.read || reached != before+1 {
			t.Errorf("POST %s (%s): body read %v, handler reached %v, status %d %s", tc.path, tc.ct, body.read, reached > before, rec.Code, rec.Body)
		}
	}
	// Elsewhere the default limit still applies, before anything reads the body.
	req := httptest.NewRequest(http.MethodPost, "/api/panels", strings.NewReader(`{"name":"x"}`))
	req.ContentLength = 2 << 20
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.HTTPErrorHandler = func(err error, c echo.Context) { problem.Write(c.Response(), c.Request(), "", problem.From(err)) }
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 MiB panel: %d %s", rec.Code, rec.Body)
	}
}
