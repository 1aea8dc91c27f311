package optable

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/panels/panels/gen"
)

func TestTableHasEverySpecOperation(t *testing.T) {
	doc, err := gen.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	table, err := New(doc)
	if err != nil {
		t.Fatalf("the embedded spec's extensions: %v", err)
	}
	n := 0
	for path, item := range doc.Paths.Map() {
		for method, spec := range item.Operations() {
			n++
			op, ok := table.Lookup(method, echoPath(path))
			if !ok {
				t.Errorf("%s %s is missing from the table", method, path)
				continue
			}
			if op.ID != strings.ToLower(spec.OperationID[:1])+spec.OperationID[1:] || op.Path != path || op.Spec.Operation != spec {
				t.Errorf("%s %s: table has %+v", method, path, op)
			}
		}
	}
	// The routes the generated code registers are the ones the table is looked up by.
	e := echo.New()
	gen.RegisterHandlers(e, gen.NewStrictHandler(nil, nil))
	routes := 0
	for _, r := range e.Routes() {
		routes++
		if _, ok := table.Lookup(r.Method, r.Path); !ok {
			t.Errorf("Echo route %s %s is not in the table", r.Method, r.Path)
		}
	}
	if routes != n {
		t.Errorf("Echo has %d routes, the spec %d operations", routes, n)
	}
}

func TestTableReadsTheExtensions(t *testing.T) {
	doc, err := gen.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	table, err := New(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, route    string
		cached, streamed bool
		auth, idempotent bool
	}{
		{http.MethodGet, "/api/panels/:panelId", true, false, true, false},
		{http.MethodPost, "/api/panels", false, false, true, true},
		{http.MethodPost, "/api/datasources/:dataSourceId/upload", false, true, true, false},
		{http.MethodGet, "/health", false, false, false, false},
	} {
		op, ok := table.Lookup(tc.method, tc.route)
		if !ok {
			t.Fatalf("%s %s missing", tc.method, tc.route)
		}
		if op.Cached != tc.cached || op.Streamed != tc.streamed || op.Auth != tc.auth || op.Idempotent != tc.idempotent {
			t.Errorf("%s %s: %+v", tc.method, tc.route, op)
		}
	}
}

func TestMisusedExtensionsAreRefused(t *testing.T) {
	for name, ops := range map[string]string{
		"cache on a POST":        "post: {operationId: a, x-panels-cache: true, requestBody: {content: {application/json: {schema: {type: object}}}}, responses: {'200': {description: ok}}}",
		"stream without a body":  "post: {operationId: a, x-panels-stream: true, responses: {'200': {description: ok}}}",
		"not a boolean":          "get: {operationId: a, x-panels-cache: 'yes', responses: {'200': {description: ok}}}",
		"unknown extension":      "get: {operationId: a, x-panels-cached: true, responses: {'200': {description: ok}}}",
		"on the path, not an op": "x-panels-cache: true\n    get: {operationId: a, responses: {'200': {description: ok}}}",
	} {
		t.Run(name, func(t *testing.T) {
			src := "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    " + ops + "\n"
			doc, err := openapi3.NewLoader().LoadFromData([]byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if err := doc.Validate(context.Background()); err != nil {
				t.Fatalf("the test document itself is invalid: %v", err)
			}
			if _, err := New(doc); err == nil {
				t.Error("New accepted the document")
			}
		})
	}
}
