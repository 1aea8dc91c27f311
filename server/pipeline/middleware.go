package pipeline

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/panels/panels/server/optable"
)

// safeRequestID accepts 1 to 128 of [A-Za-z0-9._:/+=@-] (a loop: this runs on every request).
func safeRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("._:/+=@-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// AssignRequestID honours a safe incoming X-Request-Id (whole value) or makes one, echoes it, and
// starts the request's state: it runs first.
func AssignRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		id := req.Header.Get(echo.HeaderXRequestID)
		if !safeRequestID(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		c.SetRequest(req.WithContext(withState(req.Context(), id)))
		return next(c)
	}
}

// Recover turns a panic into a 500 through the central error handler.
func Recover(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				if r := recover(); r != nil {
					if e, ok := r.(error); ok && errors.Is(e, http.ErrAbortHandler) {
						panic(r)
					}
					log.Error("panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()), "request_id", RequestID(c.Request().Context()))
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return next(c)
		}
	}
}

// BodyLimit refuses bodies over max before anything reads them: at once when Content-Length says
// so, and while reading otherwise (the reader fails with *http.MaxBytesError, mapped to 413).
// The operations that stream their bodies get the upload limit instead.
func BodyLimit(max, upload int64, ops *optable.Table) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			limit := max
			if op, ok := ops.Lookup(req.Method, c.Path()); ok && op.Streamed {
				limit = upload
			}
			if req.ContentLength > limit {
				return &http.MaxBytesError{Limit: limit}
			}
			if req.Body != nil && req.Body != http.NoBody {
				req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
			}
			return next(c)
		}
	}
}
