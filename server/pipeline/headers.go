package pipeline

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/panels/panels/server/optable"
)

// contentSecurityPolicy allows what /docs needs and nothing else: its page loads only same-origin
// scripts and styles (no inline code: the boot script is docs.js), Swagger UI's stylesheet uses
// data: images, and the page fetches /openapi.json and, for "Try it out", the API itself. JSON
// answers never need more.
var contentSecurityPolicy = strings.Join([]string{
	"default-src 'none'",
	"script-src 'self'",
	"style-src 'self'",
	"img-src 'self' data:",
	"font-src 'self'",
	"connect-src 'self'",
	"base-uri 'none'",
	"form-action 'none'",
	"frame-ancestors 'none'",
}, "; ")

// SecurityHeaders sets the headers helmet sets for the original service, on every answer (errors
// and 404s included). HSTS only when configured: it must not be promised over plain HTTP.
func SecurityHeaders(hstsMaxAge time.Duration) echo.MiddlewareFunc {
	hsts := ""
	if secs := int64(hstsMaxAge.Seconds()); secs > 0 {
		hsts = "max-age=" + strconv.FormatInt(secs, 10) + "; includeSubDomains"
	}
	// Values are built once and assigned under canonical keys: this runs on every request, and
	// Header.Set would canonicalize each key and allocate each value again.
	given := map[string][]string{
		echo.HeaderXContentTypeOptions:      {"nosniff"},
		echo.HeaderXFrameOptions:            {"DENY"},
		echo.HeaderContentSecurityPolicy:    {contentSecurityPolicy},
		echo.HeaderReferrerPolicy:           {"no-referrer"},
		"Cross-Origin-Opener-Policy":        {"same-origin"},
		"X-Permitted-Cross-Domain-Policies": {"none"},
		// The legacy XSS auditor is itself an attack surface; helmet turns it off the same way.
		echo.HeaderXXSSProtection: {"0"},
	}
	if hsts != "" {
		given[echo.HeaderStrictTransportSecurity] = []string{hsts}
	}
	type header struct {
		key    string
		values []string
	}
	fixed := make([]header, 0, len(given))
	for k, v := range given {
		// Canonical, as Header.Set would have it; a full slice (len == cap), so that an Add
		// elsewhere reallocates instead of writing into the shared array.
		fixed = append(fixed, header{http.CanonicalHeaderKey(k), v[:len(v):len(v)]})
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			for _, f := range fixed {
				h[f.key] = f.values
			}
			return next(c)
		}
	}
}

// Compression gzips answers of at least 1 KiB for clients that accept it; smaller ones are not
// worth the CPU or the extra header bytes. Event streams are left alone: gzip would hold each
// small event back until its buffer fills.
func Compression(ops *optable.Table) echo.MiddlewareFunc {
	return middleware.GzipWithConfig(middleware.GzipConfig{MinLength: 1024, Skipper: func(c echo.Context) bool {
		op, ok := ops.Lookup(c.Request().Method, c.Path())
		return ok && op.EventStream
	}})
}
