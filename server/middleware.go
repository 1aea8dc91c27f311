package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/optable"
	"github.com/panels/panels/server/problem"
	"github.com/panels/panels/store"
)

type stateKey struct{}

// requestState is everything the layers of one request leave for each other, in one context value
// set once by requestID: the middleware then fill it in instead of copying the request for every
// value (each http.Request.WithContext copies the request).
type requestState struct {
	id        string
	principal auth.Principal // set by the API gate once the caller is authenticated
	record    requestRecord  // what the request's log line needs (observe.go)
}

func withRequestState(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, stateKey{}, &requestState{id: id})
}

func stateFrom(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

func requestIDFrom(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil {
		return st.id
	}
	return ""
}

// RequestIDFromContext is the id of the request a context belongs to ("" outside a request),
// as the X-Request-Id header carries it; tests attribute database statements to requests with it.
func RequestIDFromContext(ctx context.Context) string { return requestIDFrom(ctx) }

// principalFrom returns the verified caller; handlers behind authentication always have one.
func principalFrom(ctx context.Context) auth.Principal {
	if st := stateFrom(ctx); st != nil {
		return st.principal
	}
	return auth.Principal{}
}

var unsupportedProperty = regexp.MustCompile(`^property "(.+)" is unsupported$`)

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

// requestID honours a safe incoming X-Request-Id (whole value) or makes one, and echoes it.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		id := req.Header.Get(echo.HeaderXRequestID)
		if !safeRequestID(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		c.SetRequest(req.WithContext(withRequestState(req.Context(), id)))
		return next(c)
	}
}

// recoverPanics turns a panic into a 500 through the central error handler.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if e, ok := r.(error); ok && errors.Is(e, http.ErrAbortHandler) {
					panic(r)
				}
				s.log.Error("panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()), "request_id", requestIDFrom(c.Request().Context()))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

// bodyLimit refuses bodies over max before anything reads them: at once when Content-Length says
// so, and while reading otherwise (the reader fails with *http.MaxBytesError, mapped to 413).
// The operations that stream their bodies get the upload limit instead.
func bodyLimit(max, upload int64, ops *optable.Table) echo.MiddlewareFunc {
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

// apiGate finds the operation, authenticates the caller when the operation needs it, validates
// the request against the spec and checks tenantId/userId assertions, in the order of docs/permissions.md#order-of-checks.
type apiGate struct {
	router routers.Router
	// ops has the spec's operations by Echo route: Echo has already matched the request, so the
	// gate looks its operation up instead of matching the path again with the router's regular
	// expressions (which remain for what Echo did not match).
	ops      *optable.Table
	verifier *auth.Verifier
	options  *openapi3filter.Options
	// afterAuth runs between authentication and validation (the rate limiter's slot).
	afterAuth []func(echo.Context, auth.Principal) error
}

func newAPIGate(ops *optable.Table, router routers.Router, v *auth.Verifier) *apiGate {
	opts := &openapi3filter.Options{
		MultiError: true,
		// Authentication already happened in the gate, with our own 401 answers.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		KeepValidatedValue: true,
	}
	// Reasons only: never echo the client's value or the schema back.
	opts.WithCustomSchemaErrorFunc(func(e *openapi3.SchemaError) string { return e.Reason })
	return &apiGate{router: router, ops: ops, verifier: v, options: opts}
}

// findRoute is the request's operation and its path parameters.
func (g *apiGate) findRoute(c echo.Context) (*optable.Operation, map[string]string, error) {
	req := c.Request()
	if op, ok := g.ops.Lookup(req.Method, c.Path()); ok {
		names, values := c.ParamNames(), c.ParamValues()
		params := make(map[string]string, len(names))
		for i, name := range names {
			if i < len(values) {
				params[name] = values[i]
			}
		}
		return op, params, nil
	}
	route, params, err := g.router.FindRoute(req)
	if err != nil {
		return nil, nil, err
	}
	op, ok := g.ops.ForSpec(route.Method, route.Path)
	if !ok {
		return nil, nil, routers.ErrPathNotFound
	}
	return op, params, nil
}

func (g *apiGate) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		op, params, err := g.findRoute(c)
		if err != nil {
			if errors.Is(err, routers.ErrMethodNotAllowed) {
				return echo.ErrMethodNotAllowed
			}
			return echo.ErrNotFound
		}
		for k, v := range params {
			if u, err := url.PathUnescape(v); err == nil {
				params[k] = u
			}
		}
		ctx := req.Context()
		var principal auth.Principal
		if op.Auth {
			principal, err = g.authenticate(ctx, req)
			if err != nil {
				return err
			}
			st := stateFrom(ctx)
			if st == nil { // a request that did not come through requestID (tests of the gate alone)
				ctx = withRequestState(ctx, "")
				c.SetRequest(req.WithContext(ctx))
				st = stateFrom(ctx)
			}
			st.principal = principal
			for _, hook := range g.afterAuth {
				if err := hook(c, principal); err != nil {
					return err
				}
			}
		}
		req = c.Request()
		// One check for what PostgreSQL cannot store (NULs, duplicate keys), before anything reads
		// the values; a streamed body is checked record by record by its handler (sync.go).
		jsonBody := op.Spec.Operation.RequestBody != nil && !op.Streamed
		if err := storableInput(req, params, jsonBody); err != nil {
			return err
		}
		opts, vreq := g.options, req
		if op.Streamed {
			// The handler streams the body; body validation and the security check would both read
			// it whole, so the validator sees the request without it (see sync.go).
			opts, vreq = withoutBody(opts), bodiless(req)
		}
		in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: op.Spec, Options: opts}
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return validationProblem(err)
		}
		if op.Auth {
			if err := checkAssertions(req, op.ID, principal); err != nil {
				return err
			}
		}
		return next(c)
	}
}

func (g *apiGate) authenticate(ctx context.Context, req *http.Request) (auth.Principal, error) {
	h := req.Header.Get(echo.HeaderAuthorization)
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return auth.Principal{}, fmt.Errorf("%w: no bearer token", auth.ErrUnauthenticated)
	}
	return g.verifier.Verify(ctx, strings.TrimSpace(token))
}

// validationProblem turns kin-openapi's errors into one 400 (or 415, or 413) with an entry per field.
func validationProblem(err error) error {
	var errs []error
	var me openapi3.MultiError
	if errors.As(err, &me) {
		errs = me
	} else {
		errs = []error{err}
	}
	p := &problem.Problem{Status: http.StatusBadRequest, Slug: "validation"}
	for _, e := range errs {
		var mbe *http.MaxBytesError
		if errors.As(e, &mbe) {
			return mbe
		}
		var re *openapi3filter.RequestError
		if !errors.As(e, &re) {
			p.Errors = append(p.Errors, gen.FieldError{Field: "request", Reason: firstLine(e.Error())})
			continue
		}
		if re.RequestBody != nil && strings.HasPrefix(re.Reason, "header Content-Type has unexpected value") {
			return problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type", "the request body must be application/json")
		}
		p.Errors = append(p.Errors, requestFieldErrors(re)...)
	}
	reasons := make([]string, len(p.Errors))
	for i, fe := range p.Errors {
		reasons[i] = fe.Field + ": " + fe.Reason
	}
	p.Detail = "invalid request: " + strings.Join(reasons, "; ")
	return p
}

func requestFieldErrors(re *openapi3filter.RequestError) []gen.FieldError {
	prefix := "body"
	if re.Parameter != nil {
		prefix = re.Parameter.In + "." + re.Parameter.Name
	}
	var schemaErrs []error
	var me openapi3.MultiError
	if errors.As(re.Err, &me) {
		schemaErrs = me
	} else if re.Err != nil {
		schemaErrs = []error{re.Err}
	}
	var out []gen.FieldError
	for _, e := range schemaErrs {
		var se *openapi3.SchemaError
		if errors.As(e, &se) {
			field := prefix
			if ptr := se.JSONPointer(); len(ptr) > 0 {
				field += "." + strings.Join(ptr, ".")
			}
			// An unknown property is reported on its object; name the property itself.
			if m := unsupportedProperty.FindStringSubmatch(se.Reason); m != nil {
				field += "." + m[1]
			}
			out = append(out, gen.FieldError{Field: field, Reason: se.Reason})
			continue
		}
		var syn *json.SyntaxError
		if errors.As(e, &syn) || re.Reason == "failed to decode request body" {
			out = append(out, gen.FieldError{Field: prefix, Reason: "malformed JSON: " + firstLine(e.Error())})
			continue
		}
		out = append(out, gen.FieldError{Field: prefix, Reason: firstLine(e.Error())})
	}
	if len(out) == 0 {
		reason := re.Reason
		if reason == "" && re.Err != nil {
			reason = firstLine(re.Err.Error())
		}
		out = append(out, gen.FieldError{Field: prefix, Reason: reason})
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// echoedCreator are the operations whose body's userId may also echo the resource's stored creator
// (the web UI sends back the panel or view it read): the store decides on those (checkEcho), since
// only it knows the creator.
var echoedCreator = map[string]bool{"updatePanel": true, "updateView": true}

// checkAssertions refuses a tenantId or userId, in the query or the JSON body, that is not the
// caller's. A resource's tenant is always the caller's, so an echoed tenantId is the caller's too.
func checkAssertions(req *http.Request, op string, p auth.Principal) error {
	q := req.URL.Query()
	if err := assertIdentity(q.Get("tenantId"), q.Has("tenantId"), q.Get("userId"), q.Has("userId"), p); err != nil {
		return err
	}
	vb, ok := req.Body.(interface{ ValidatedValue() any })
	if !ok {
		return nil // no body was validated (the operation takes none)
	}
	top, ok := vb.ValidatedValue().(map[string]any)
	if !ok {
		return nil
	}
	tenant, hasTenant := top["tenantId"].(string)
	user, hasUser := top["userId"].(string)
	return assertIdentity(tenant, hasTenant, user, hasUser && !echoedCreator[op], p)
}

func assertIdentity(tenant string, hasTenant bool, user string, hasUser bool, p auth.Principal) error {
	if hasTenant && tenant != p.TenantID {
		return store.Forbidden("tenantId does not match the token's tenant")
	}
	if hasUser && user != p.UserID {
		return store.Forbidden("userId does not match the token's user")
	}
	return nil
}
