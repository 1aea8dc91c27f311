package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/store"
)

// problem is an error that knows its HTTP answer (RFC 9457).
type problem struct {
	Status     int
	Slug       string
	Detail     string
	Errors     []fieldError
	Dependents []store.Dependent
	Header     http.Header
}

func (p *problem) Error() string { return p.Detail }

type fieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func newProblem(status int, slug, format string, args ...any) *problem {
	return &problem{Status: status, Slug: slug, Detail: fmt.Sprintf(format, args...)}
}

func badRequest(field, reason string) *problem {
	return &problem{Status: http.StatusBadRequest, Slug: "validation", Detail: field + ": " + reason,
		Errors: []fieldError{{Field: field, Reason: reason}}}
}

// problemBody is the wire shape of every error answer.
type problemBody struct {
	Type       string       `json:"type"`
	Title      string       `json:"title"`
	Status     int          `json:"status"`
	Detail     string       `json:"detail"`
	Instance   string       `json:"instance,omitempty"`
	Message    string       `json:"message"`
	RequestID  string       `json:"requestId"`
	Errors     []fieldError `json:"errors,omitempty"`
	Dependents []dependent  `json:"dependents,omitempty"`
}

type dependent struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// toProblem maps every error the service can meet to its answer. It is the one place where
// errors become statuses.
func toProblem(err error) *problem {
	var p *problem
	if errors.As(err, &p) {
		return p
	}
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		return &problem{Status: http.StatusConflict, Slug: "conflict", Detail: ce.Message, Dependents: ce.Dependents}
	}
	var ie *store.InvalidError
	if errors.As(err, &ie) {
		out := &problem{Status: http.StatusUnprocessableEntity, Slug: "unprocessable", Detail: ie.Message}
		for _, pr := range ie.Problems {
			out.Errors = append(out.Errors, fieldError{Field: pr.Field, Reason: pr.Reason})
		}
		return out
	}
	var fe *store.ForbiddenError
	if errors.As(err, &fe) {
		return newProblem(http.StatusForbidden, "forbidden", "%s", fe.Message)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return newProblem(http.StatusRequestEntityTooLarge, "too-large", "the request body exceeds %d bytes", mbe.Limit)
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		if p := decodeProblem(he); p != nil {
			return p
		}
		msg := http.StatusText(he.Code)
		if s, ok := he.Message.(string); ok && he.Code < 500 {
			msg = s
		}
		return newProblem(he.Code, slugFor(he.Code), "%s", msg)
	}
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		return &problem{Status: http.StatusUnauthorized, Slug: "unauthenticated", Detail: "missing, invalid or expired token",
			Header: http.Header{"WWW-Authenticate": {`Bearer realm="panels"`}}}
	case errors.Is(err, store.ErrNotFound):
		return newProblem(http.StatusNotFound, "not-found", "%s", notFoundDetail(err))
	case errors.Is(err, store.ErrPrecondition):
		return newProblem(http.StatusPreconditionFailed, "precondition-failed", "the resource has changed: If-Match does not match its current ETag")
	case errors.Is(err, store.ErrConflict):
		return newProblem(http.StatusConflict, "conflict", "the request conflicts with the current state")
	case errors.Is(err, store.ErrInvalid):
		return newProblem(http.StatusUnprocessableEntity, "unprocessable", "the request refers to something that does not exist")
	case errors.Is(err, store.ErrUnavailable):
		return &problem{Status: http.StatusServiceUnavailable, Slug: "unavailable", Detail: "the database is unavailable, retry later",
			Header: http.Header{"Retry-After": {"1"}}}
	}
	return newProblem(http.StatusInternalServerError, "internal", "internal error")
}

// decodeProblem words a body the binder could not decode (a number beyond int64 that the
// validator let through) like the validator's own answers, instead of the decoder's text.
func decodeProblem(he *echo.HTTPError) *problem {
	if he.Code != http.StatusBadRequest {
		return nil
	}
	var ute *json.UnmarshalTypeError
	if errors.As(he.Internal, &ute) {
		field := "body"
		if ute.Field != "" {
			field += "." + ute.Field
		}
		reason := "must be of type " + ute.Type.String()
		switch ute.Type.Kind() {
		case reflect.Int64, reflect.Int, reflect.Int32:
			reason = "must be an integer between -9223372036854775808 and 9223372036854775807"
		}
		return &problem{Status: http.StatusBadRequest, Slug: "validation", Detail: "invalid request: " + field + ": " + reason,
			Errors: []fieldError{{Field: field, Reason: reason}}}
	}
	var syn *json.SyntaxError
	if errors.As(he.Internal, &syn) {
		reason := "malformed JSON: " + syn.Error()
		return &problem{Status: http.StatusBadRequest, Slug: "validation", Detail: "invalid request: body: " + reason,
			Errors: []fieldError{{Field: "body", Reason: reason}}}
	}
	return nil
}

// notFoundDetail names the kind of resource a store NotFoundError reports, and nothing more (no id).
func notFoundDetail(err error) string {
	var nf *store.NotFoundError
	if !errors.As(err, &nf) {
		return "Not found"
	}
	switch nf.Kind {
	case store.KindPanel, store.KindDataSource, store.KindColumn, store.KindView, store.KindACL:
		return strings.ToUpper(nf.Kind[:1]) + nf.Kind[1:] + " not found"
	}
	return "Not found"
}

func slugFor(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "validation"
	case http.StatusNotFound:
		return "not-found"
	case http.StatusMethodNotAllowed:
		return "method-not-allowed"
	case http.StatusRequestEntityTooLarge:
		return "too-large"
	case http.StatusUnsupportedMediaType:
		return "unsupported-media-type"
	case http.StatusTooManyRequests:
		return "rate-limited"
	}
	return strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "-"))
}

// errorHandler is Echo's HTTPErrorHandler: every error path of the service ends here, is logged
// once (5xx at error level, 4xx at warn) and answered with problem+json.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p := toProblem(err)
	req := c.Request()
	if rec := recordFrom(req.Context()); rec != nil {
		rec.err, rec.problem = err, p // the request's own log line reports it (observe.go)
		writeProblem(c, p)
		return
	}
	attrs := []any{"status", p.Status, "method", req.Method, "path", req.URL.Path, "request_id", requestIDFrom(req.Context())}
	if p.Status >= 500 {
		s.log.Error("request failed", append(attrs, "error", err.Error())...)
	} else {
		s.log.Log(req.Context(), slog.LevelWarn, "request refused", append(attrs, "detail", p.Detail)...)
	}
	writeProblem(c, p)
}

func writeProblem(c echo.Context, p *problem) {
	body := problemBody{
		Type:      "https://panels.dev/problems/" + p.Slug,
		Title:     http.StatusText(p.Status),
		Status:    p.Status,
		Detail:    p.Detail,
		Instance:  c.Request().URL.Path,
		Message:   p.Detail,
		RequestID: requestIDFrom(c.Request().Context()),
		Errors:    p.Errors,
	}
	for _, d := range p.Dependents {
		body.Dependents = append(body.Dependents, dependent{ID: d.ID, Name: d.Name, Kind: d.Kind})
	}
	h := c.Response().Header()
	for k, vs := range p.Header {
		h[k] = vs
	}
	h.Set(echo.HeaderContentType, "application/problem+json")
	c.Response().WriteHeader(p.Status)
	if c.Request().Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(c.Response()).Encode(body)
}
