package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/optable"
	"github.com/panels/panels/server/problem"
	"github.com/panels/panels/server/storable"
	"github.com/panels/panels/store"
)

// Gate finds the operation, authenticates the caller when the operation needs it, validates
// the request against the spec and checks tenantId/userId assertions, in the order of docs/permissions.md#order-of-checks.
type Gate struct {
	router routers.Router
	// ops has the spec's operations by Echo route: Echo has already matched the request, so the
	// gate looks its operation up instead of matching the path again with the router's regular
	// expressions (which remain for what Echo did not match).
	ops       *optable.Table
	verifier  *auth.Verifier
	options   *openapi3filter.Options
	afterAuth []func(echo.Context, auth.Principal) error
}

// NewGate is the gate for doc's operations (ops), authenticating with v.
func NewGate(doc *openapi3.T, ops *optable.Table, v *auth.Verifier) (*Gate, error) {
	// The router matches on relative paths; the document itself stays untouched for /openapi.*.
	routerDoc := *doc
	routerDoc.Servers = openapi3.Servers{{URL: "/"}}
	router, err := gorillamux.NewRouter(&routerDoc)
	if err != nil {
		return nil, fmt.Errorf("build request router: %w", err)
	}
	opts := &openapi3filter.Options{
		MultiError: true,
		// Authentication already happened in the gate, with our own 401 answers.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		KeepValidatedValue: true,
	}
	// Reasons only: never echo the client's value or the schema back.
	opts.WithCustomSchemaErrorFunc(func(e *openapi3.SchemaError) string { return e.Reason })
	return &Gate{router: router, ops: ops, verifier: v, options: opts}, nil
}

// AfterAuth adds a hook run between authentication and validation, with the verified caller
// (the rate limiter's slot): an error ends the request.
func (g *Gate) AfterAuth(hook func(echo.Context, auth.Principal) error) {
	g.afterAuth = append(g.afterAuth, hook)
}

// findRoute is the request's operation and its path parameters.
func (g *Gate) findRoute(c echo.Context) (*optable.Operation, map[string]string, error) {
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

// Middleware is the gate itself.
func (g *Gate) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
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
			st := stateOf(ctx)
			if st == nil { // a request that did not come through AssignRequestID (tests of the gate alone)
				ctx = withState(ctx, "")
				c.SetRequest(req.WithContext(ctx))
				st = stateOf(ctx)
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
		// the values; a streamed body is checked record by record by its handler.
		jsonBody := op.Spec.Operation.RequestBody != nil && !op.Streamed
		if err := storable.Request(req, params, jsonBody); err != nil {
			return err
		}
		opts, vreq := g.options, req
		if op.Streamed {
			// The handler streams the body; body validation and the security check would both read
			// it whole, so the validator sees the request without it.
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

func (g *Gate) authenticate(ctx context.Context, req *http.Request) (auth.Principal, error) {
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
	var fields []gen.FieldError
	for _, e := range errs {
		var mbe *http.MaxBytesError
		if errors.As(e, &mbe) {
			return mbe
		}
		var re *openapi3filter.RequestError
		if !errors.As(e, &re) {
			fields = append(fields, gen.FieldError{Field: "request", Reason: firstLine(e.Error())})
			continue
		}
		if re.RequestBody != nil && strings.HasPrefix(re.Reason, "header Content-Type has unexpected value") {
			return problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type", "the request body must be application/json")
		}
		fields = append(fields, requestFieldErrors(re)...)
	}
	return problem.Invalid(fields)
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

var unsupportedProperty = regexp.MustCompile(`^property "(.+)" is unsupported$`)

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

func withoutBody(o *openapi3filter.Options) *openapi3filter.Options {
	c := *o
	c.ExcludeRequestBody = true
	return &c
}

// bodiless is a shallow copy of req without its body, for validating everything else.
func bodiless(req *http.Request) *http.Request {
	r := req.WithContext(req.Context())
	r.Body, r.ContentLength = http.NoBody, 0
	return r
}
