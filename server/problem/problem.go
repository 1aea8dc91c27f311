// Package problem is the service's one error vocabulary on the wire: an error that knows its
// HTTP answer, the mapping of every other error to one, and the one writer of problem+json
// (RFC 9457) bodies.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/server/auth"
	curs "github.com/panels/panels/server/cursor"
	"github.com/panels/panels/store"
)

// Problem is an error that knows its HTTP answer.
type Problem struct {
	Status     int
	Slug       string // the last segment of the problem's type URI
	Detail     string
	Errors     []gen.FieldError
	Dependents []store.Dependent
	Header     http.Header // set on the answer as it is (Retry-After, WWW-Authenticate)
}

func (p *Problem) Error() string { return p.Detail }

// New is a problem whose detail is formatted like fmt.Sprintf.
func New(status int, slug, format string, args ...any) *Problem {
	return &Problem{Status: status, Slug: slug, Detail: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 naming one field.
func BadRequest(field, reason string) *Problem {
	return &Problem{Status: http.StatusBadRequest, Slug: "validation", Detail: field + ": " + reason,
		Errors: []gen.FieldError{{Field: field, Reason: reason}}}
}

// Invalid is the 400 naming every field of errs, its detail listing them in order.
func Invalid(errs []gen.FieldError) *Problem {
	reasons := make([]string, len(errs))
	for i, fe := range errs {
		reasons[i] = fe.Field + ": " + fe.Reason
	}
	return &Problem{Status: http.StatusBadRequest, Slug: "validation", Errors: errs,
		Detail: "invalid request: " + strings.Join(reasons, "; ")}
}

// From maps every error the service can meet to its answer. It is the one place where errors
// become statuses.
func From(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		return &Problem{Status: http.StatusConflict, Slug: "conflict", Detail: ce.Message, Dependents: ce.Dependents}
	}
	var ie *store.InvalidError
	if errors.As(err, &ie) {
		out := &Problem{Status: http.StatusUnprocessableEntity, Slug: "unprocessable", Detail: ie.Message}
		for _, pr := range ie.Problems {
			out.Errors = append(out.Errors, gen.FieldError{Field: pr.Field, Reason: pr.Reason})
		}
		return out
	}
	var fe *store.ForbiddenError
	if errors.As(err, &fe) {
		return New(http.StatusForbidden, "forbidden", "%s", fe.Message)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return New(http.StatusRequestEntityTooLarge, "too-large", "the request body exceeds %d bytes", mbe.Limit)
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
		return New(he.Code, slugFor(he.Code), "%s", msg)
	}
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		return &Problem{Status: http.StatusUnauthorized, Slug: "unauthenticated", Detail: "missing, invalid or expired token",
			Header: http.Header{"WWW-Authenticate": {`Bearer realm="panels"`}}}
	case errors.Is(err, store.ErrNotFound):
		return New(http.StatusNotFound, "not-found", "%s", notFoundDetail(err))
	case errors.Is(err, curs.ErrExpired):
		return New(http.StatusGone, "cursor-expired", "the cursor has expired; start again from the first page")
	case errors.Is(err, curs.ErrInvalid):
		return BadRequest("query.cursor", "not a cursor of this list (altered, or issued for another list or filter)")
	case errors.Is(err, store.ErrPrecondition):
		return New(http.StatusPreconditionFailed, "precondition-failed", "the resource has changed: If-Match does not match its current ETag")
	case errors.Is(err, store.ErrConflict):
		return New(http.StatusConflict, "conflict", "the request conflicts with the current state")
	case errors.Is(err, store.ErrInvalid):
		return New(http.StatusUnprocessableEntity, "unprocessable", "the request refers to something that does not exist")
	case errors.Is(err, store.ErrUnavailable):
		return &Problem{Status: http.StatusServiceUnavailable, Slug: "unavailable", Detail: "the database is unavailable, retry later",
			Header: http.Header{"Retry-After": {"1"}}}
	}
	return New(http.StatusInternalServerError, "internal", "internal error")
}

// decodeProblem words a body the binder could not decode (a number beyond int64 that the
// validator let through) like the validator's own answers, instead of the decoder's text.
func decodeProblem(he *echo.HTTPError) *Problem {
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
		return &Problem{Status: http.StatusBadRequest, Slug: "validation", Detail: "invalid request: " + field + ": " + reason,
			Errors: []gen.FieldError{{Field: field, Reason: reason}}}
	}
	var syn *json.SyntaxError
	if errors.As(he.Internal, &syn) {
		reason := "malformed JSON: " + syn.Error()
		return &Problem{Status: http.StatusBadRequest, Slug: "validation", Detail: "invalid request: body: " + reason,
			Errors: []gen.FieldError{{Field: "body", Reason: reason}}}
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

// Write answers r with p as problem+json; requestID is the X-Request-Id the answer carries.
func Write(w http.ResponseWriter, r *http.Request, requestID string, p *Problem) {
	instance := r.URL.Path
	body := gen.Problem{
		Type:      "https://panels.dev/problems/" + p.Slug,
		Title:     http.StatusText(p.Status),
		Status:    p.Status,
		Detail:    p.Detail,
		Instance:  &instance,
		Message:   p.Detail,
		RequestId: requestID,
		Errors:    p.Errors,
	}
	for _, d := range p.Dependents {
		body.Dependents = append(body.Dependents, gen.Dependent{Id: d.ID, Name: d.Name, Kind: gen.DependentKind(d.Kind)})
	}
	h := w.Header()
	for k, vs := range p.Header {
		h[k] = vs
	}
	h.Set(echo.HeaderContentType, "application/problem+json")
	w.WriteHeader(p.Status)
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(body)
}
