// Package optable is the service's table of operations, read once at start-up from the embedded
// spec. Every middleware that treats operations differently (metrics labels, authentication,
// idempotency, the response cache, streamed bodies) asks this table, so renaming a path or an
// operation in openapi.yaml cannot silently drop one of them.
package optable

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
)

// The vendor extensions the table reads; any other x-panels-* extension is a mistake.
const (
	extCache  = "x-panels-cache"
	extStream = "x-panels-stream"
	extPrefix = "x-panels-"
)

// eventStreamType is the media type of Server-Sent Events.
const eventStreamType = "text/event-stream"

// idempotencyHeader is the header whose declaration makes a create safe to retry.
const idempotencyHeader = "Idempotency-Key"

// Operation is one operation of the spec and how the service treats it.
type Operation struct {
	ID     string // as openapi.yaml spells it (createPanel): logs and metrics name it so
	Method string
	Path   string // the spec's path, /api/panels/{panelId}
	Route  string // the route oapi-codegen registers in Echo, /api/panels/:panelId
	// Auth: the operation needs a bearer token (its own security, else the document's).
	Auth bool
	// Cached: its 200 answers are cached (x-panels-cache).
	Cached bool
	// Streamed: its handler streams the request body (x-panels-stream), so the body is neither
	// validated nor buffered, and gets the upload limit.
	Streamed bool
	// Idempotent: it declares the Idempotency-Key header.
	Idempotent bool
	// EventStream: its 200 answer is text/event-stream, written event by event (never compressed
	// or buffered).
	EventStream bool
	// Spec is the operation as kin-openapi's validator takes it.
	Spec *routers.Route
}

type key struct{ method, route string }

// Table holds every operation of one document, by Echo route.
type Table struct {
	byRoute map[key]*Operation
	bySpec  map[key]*Operation // by the spec's path, for what kin-openapi's router matched
}

// New reads doc's operations; it fails on a misused x-panels-* extension.
func New(doc *openapi3.T) (*Table, error) {
	t := &Table{byRoute: map[key]*Operation{}, bySpec: map[key]*Operation{}}
	paths := doc.Paths.InMatchingOrder()
	sort.Strings(paths)
	for _, path := range paths {
		item := doc.Paths.Value(path)
		if err := noExtensions(item.Extensions, "path "+path); err != nil {
			return nil, err
		}
		methods := item.Operations()
		names := make([]string, 0, len(methods))
		for m := range methods {
			names = append(names, m)
		}
		sort.Strings(names)
		for _, method := range names {
			op, err := newOperation(doc, path, item, method, methods[method])
			if err != nil {
				return nil, err
			}
			t.byRoute[key{op.Method, op.Route}] = op
			t.bySpec[key{op.Method, op.Path}] = op
		}
	}
	return t, nil
}

func newOperation(doc *openapi3.T, path string, item *openapi3.PathItem, method string, spec *openapi3.Operation) (*Operation, error) {
	op := &Operation{ID: specOperationID(spec.OperationID), Method: method, Path: path, Route: echoPath(path),
		Spec: &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: spec}}
	where := method + " " + path
	for name, v := range spec.Extensions {
		if !strings.HasPrefix(name, extPrefix) {
			continue
		}
		on, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%s: %s must be true or false, not %v", where, name, v)
		}
		switch name {
		case extCache:
			if on && method != http.MethodGet {
				return nil, fmt.Errorf("%s: %s is for GET operations only", where, name)
			}
			op.Cached = on
		case extStream:
			if on && spec.RequestBody == nil {
				return nil, fmt.Errorf("%s: %s needs a request body to stream", where, name)
			}
			op.Streamed = on
		default:
			return nil, fmt.Errorf("%s: unknown extension %s", where, name)
		}
	}
	sec := spec.Security
	if sec == nil {
		sec = &doc.Security
	}
	op.Auth = len(*sec) > 0
	if ok := spec.Responses.Status(http.StatusOK); ok != nil && ok.Value != nil && ok.Value.Content.Get(eventStreamType) != nil {
		op.EventStream = true
	}
	params := append(append(openapi3.Parameters{}, item.Parameters...), spec.Parameters...)
	for _, p := range params {
		if p.Value != nil && p.Value.In == openapi3.ParameterInHeader && strings.EqualFold(p.Value.Name, idempotencyHeader) {
			op.Idempotent = true
		}
	}
	return op, nil
}

// noExtensions refuses x-panels-* where the table does not read it: it would do nothing.
func noExtensions(ext map[string]any, where string) error {
	for name := range ext {
		if strings.HasPrefix(name, extPrefix) {
			return fmt.Errorf("%s: %s belongs on an operation", where, name)
		}
	}
	return nil
}

// Lookup is the operation Echo matched: its method and route path (echo.Context.Path).
func (t *Table) Lookup(method, route string) (*Operation, bool) {
	op, ok := t.byRoute[key{method, route}]
	return op, ok
}

// ForSpec is the operation of a spec path (/api/panels/{panelId}) and method.
func (t *Table) ForSpec(method, path string) (*Operation, bool) {
	op, ok := t.bySpec[key{method, path}]
	return op, ok
}

// echoPath turns a spec path (/api/panels/{panelId}) into Echo's route form (/api/panels/:panelId).
func echoPath(p string) string {
	var sb strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '{' {
			if j := strings.IndexByte(p[i:], '}'); j > 0 {
				sb.WriteByte(':')
				sb.WriteString(p[i+1 : i+j])
				i += j
				continue
			}
		}
		sb.WriteByte(p[i])
	}
	return sb.String()
}

// specOperationID undoes the generator's capitalisation of the embedded spec's operationIds.
func specOperationID(id string) string {
	if id == "" {
		return id
	}
	return strings.ToLower(id[:1]) + id[1:]
}
