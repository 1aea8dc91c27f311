package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/panels/panels/server/auth"
)

// The tests in this file are driven by the embedded spec alone: they walk every operation, so an
// operation or a constraint added to openapi/openapi.yaml is exercised without touching them.

// specOp is one operation of the spec with everything a request needs.
type specOp struct {
	id, method, template string
	op                   *openapi3.Operation
	params               []*openapi3.Parameter // path item's and operation's, the operation's winning
	body                 *openapi3.Schema      // application/json request body, nil when none
	bodyRequired         bool
	example              any // the request body's example, nil when none
	secured              bool
	// rawBody is a request body of another media type (a file, NDJSON): its content type and
	// example. Such bodies are checked for their media type and presence only.
	rawBodyType    string
	rawBodyExample string
}

// opName is an operationId as the spec writes it: the embedded spec that oapi-codegen produces
// may carry it with an upper-case first letter.
func opName(id string) string {
	if id == "" {
		return id
	}
	return strings.ToLower(id[:1]) + id[1:]
}

func specOperations(t testing.TB) []specOp {
	t.Helper()
	var ops []specOp
	for template, item := range env.doc.Paths.Map() {
		for method, op := range item.Operations() {
			so := specOp{id: opName(op.OperationID), method: method, template: template, op: op}
			seen := map[string]bool{}
			for _, p := range op.Parameters {
				so.params = append(so.params, p.Value)
				seen[p.Value.In+" "+p.Value.Name] = true
			}
			for _, p := range item.Parameters {
				if !seen[p.Value.In+" "+p.Value.Name] {
					so.params = append(so.params, p.Value)
				}
			}
			sort.Slice(so.params, func(i, j int) bool { return so.params[i].In+so.params[i].Name < so.params[j].In+so.params[j].Name })
			if rb := op.RequestBody; rb != nil && rb.Value != nil {
				so.bodyRequired = rb.Value.Required
				// The exact key: Content.Get would match a wildcard such as */* too. A binary
				// application/json body is a file (an upload), read by its handler, not validated.
				if mt := rb.Value.Content["application/json"]; mt != nil && mt.Schema != nil && mt.Schema.Value.Format != "binary" {
					so.body, so.example = mt.Schema.Value, jsonCopy(t, mt.Example)
				} else {
					if types := slices.Sorted(maps.Keys(rb.Value.Content)); len(types) > 0 {
						so.rawBodyType = types[0]
						if ex, ok := rb.Value.Content[types[0]].Example.(string); ok {
							so.rawBodyExample = ex
						}
					}
				}
			}
			sec := op.Security
			if sec == nil {
				sec = &env.doc.Security
			}
			so.secured = len(*sec) > 0
			ops = append(ops, so)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].template+ops[i].method < ops[j].template+ops[j].method })
	return ops
}

// documents tells whether the operation documents the status.
func (o specOp) documents(status int) bool {
	return o.op.Responses.Value(strconv.Itoa(status)) != nil
}

// jsonCopy returns v as encoding/json would decode it (deep copy, float64 numbers).
func jsonCopy(t testing.TB, v any) any {
	t.Helper()
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// validValue returns a value the schema accepts: its example, else the smallest plausible value.
func validValue(s *openapi3.Schema) any {
	if s == nil {
		return "x"
	}
	if s.Example != nil {
		b, _ := json.Marshal(s.Example)
		var v any
		_ = json.Unmarshal(b, &v)
		return v
	}
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	if len(s.OneOf) > 0 {
		return validValue(s.OneOf[0].Value)
	}
	if len(s.AnyOf) > 0 {
		return validValue(s.AnyOf[0].Value)
	}
	switch {
	case s.Type.Is("string"):
		switch {
		case s.Format == "date-time":
			return "2026-01-02T03:04:05.000Z"
		case s.Pattern == `^[0-9]{1,18}$`:
			return "1"
		}
		return strings.Repeat("v", max(int(s.MinLength), 1))
	case s.Type.Is("integer"), s.Type.Is("number"):
		if s.Min != nil {
			return *s.Min
		}
		return float64(1)
	case s.Type.Is("boolean"):
		return true
	case s.Type.Is("array"):
		out := []any{}
		for range s.MinItems {
			out = append(out, validValue(s.Items.Value))
		}
		return out
	case s.Type.Is("object"):
		out := map[string]any{}
		for _, name := range s.Required {
			out[name] = validValue(s.Properties[name].Value)
		}
		return out
	}
	return "x" // no type: any value
}

// takesBoolean: one of the schema's branches, at any depth of one-ofs and any-ofs, is a boolean.
func takesBoolean(s *openapi3.Schema) bool {
	if s.Type.Is("boolean") {
		return true
	}
	return slices.ContainsFunc(append(slices.Clone(s.OneOf), s.AnyOf...), func(alt *openapi3.SchemaRef) bool {
		return alt.Value != nil && takesBoolean(alt.Value)
	})
}

// violation is one value a schema refuses, with what makes it wrong.
type violation struct {
	kind  string
	value any
}

// violations lists values the schema refuses. In a URL or a header every value is text, so a
// wrong type there is text that does not parse as the type.
func violations(s *openapi3.Schema, inURL bool) []violation {
	var out []violation
	add := func(kind string, v any) { out = append(out, violation{kind, v}) }
	if len(s.OneOf) > 0 || len(s.AnyOf) > 0 {
		// A boolean is the wrong type for the integer-or-string one-ofs; the "any JSON value"
		// any-ofs have a boolean branch, and no value of the wrong type.
		if !inURL && !takesBoolean(s) {
			add("wrong type", true)
		}
		for _, alt := range append(slices.Clone(s.OneOf), s.AnyOf...) {
			if alt.Value != nil && alt.Value.Type.Is("string") {
				add(nulKind, "a\x00b")
				break
			}
		}
		return out
	}
	switch {
	case s.Type.Is("string"):
		// PostgreSQL cannot store a NUL: refused with a 400 before anything is written.
		add(nulKind, "a\x00b")
		if !inURL {
			add("wrong type", 12345)
		}
		if s.Format == "date-time" {
			add("not a date-time", "yesterday")
		}
	case s.Type.Is("integer"):
		add("wrong type", "abc")
		if !inURL {
			add("not an integer", 1.5)
		} else {
			add("beyond int64", "99999999999999999999")
		}
	case s.Type.Is("number"):
		add("wrong type", "abc")
	case s.Type.Is("boolean"):
		if inURL {
			add("wrong type", "maybe")
		} else {
			add("wrong type", "yes")
		}
	case s.Type.Is("array"):
		if !inURL {
			add("wrong type", "not an array")
		}
	case s.Type.Is("object"):
		add("wrong type", "not an object")
	}
	if !inURL && s.Type != nil && !s.Nullable {
		add("null", nil)
	}
	if s.Min != nil {
		add("below minimum", *s.Min-1)
	}
	if s.Max != nil {
		add("above maximum", *s.Max+1)
	}
	if s.MaxLength != nil {
		add("too long", strings.Repeat("x", int(*s.MaxLength)+1))
	}
	if s.MinLength > 0 {
		add("too short", strings.Repeat("x", int(s.MinLength)-1))
	}
	if s.Pattern != "" {
		re := regexp.MustCompile(s.Pattern)
		for _, cand := range []string{"abc", "!", "0"} {
			if !re.MatchString(cand) {
				add("pattern mismatch", cand)
				break
			}
		}
	}
	if len(s.Enum) > 0 {
		if s.Type.Is("string") {
			add("not in enum", "zz-not-in-enum")
		} else {
			add("not in enum", 987654)
		}
	}
	if s.Type.Is("array") && s.MaxItems != nil {
		items := make([]any, int(*s.MaxItems)+1)
		for i := range items {
			items[i] = validValue(s.Items.Value)
		}
		add("too many items", items)
	}
	return out
}

// nulKind is the kind of the cases that put a NUL in a string; they must answer 400 naming the field.
const nulKind = "NUL"

// dbWrites summarises every table of the database, all tenants included: its row count and the
// newest row version (xmin), so that any insert, update or delete anywhere changes it.
func dbWrites(t testing.TB) string {
	t.Helper()
	rows, err := secDB(t).QueryContext(t.Context(), `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, table := range tables {
		var n, xmin int64
		q := fmt.Sprintf(`SELECT count(*), COALESCE(max(xmin::text::bigint), 0) FROM %q`, table)
		if err := secDB(t).QueryRowContext(t.Context(), q).Scan(&n, &xmin); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		fmt.Fprintf(&b, "%s=%d/%d ", table, n, xmin)
	}
	return b.String()
}

// negCase is one request that breaks the spec.
type negCase struct {
	name    string // where and what, e.g. "query.limit: above maximum"
	url     string
	headers map[string]string
	body    []byte
}

// negFixture is a tenant with one of everything, so every path id names a real resource.
type negFixture struct {
	secFixture
	admin    string // token of an admin of the tenant
	view     int64
	grantee  string // principal with an ACL row on the panel
	pathVals map[string]string
	// opPathVals overrides pathVals for one operation.
	opPathVals map[string]map[string]string
}

func newNegFixture(t *testing.T, tenant string) negFixture {
	t.Helper()
	f := negFixture{secFixture: newSecFixture(t, tenant), grantee: "grantee@" + tenant + ".example"}
	f.admin = token(t, tenant, "admin-"+tenant, "admin@"+tenant+".example", auth.RoleAdmin)
	var v struct {
		ID int64 `json:"id"`
	}
	mustCreate(t, "POST", "/api/views", f.owner, fmt.Sprintf(`{"name":"Fixture view","panelId":%d,"visibleColumns":["Email"]}`, f.panel), &v)
	f.view = v.ID
	for _, put := range []struct{ path, body string }{
		{fmt.Sprintf("/api/views/%d/sorts", f.view), `{"sorts":[{"columnName":"Email","direction":"asc","order":1}]}`},
		{fmt.Sprintf("/api/views/%d/filters", f.view), `{"filters":[{"columnName":"Email","operator":"isNotNull"}]}`},
	} {
		if resp, body := raw(t, "PUT", put.path, f.owner, []byte(put.body), jsonCT); resp.StatusCode != 200 {
			t.Fatalf("PUT %s: %d %s", put.path, resp.StatusCode, body)
		}
	}
	var acl struct{}
	mustCreate(t, "POST", fmt.Sprintf("/api/acls/panel/%d", f.panel), f.owner,
		fmt.Sprintf(`{"userEmail":%q,"permission":"viewer"}`, f.grantee), &acl)
	var file struct {
		ID int64 `json:"id"`
	}
	mustCreate(t, "POST", f.panelPath+"/datasources", f.owner, `{"type":"file","config":{"format":"csv"}}`, &file)
	var hook struct {
		ID int64 `json:"id"`
	}
	mustCreate(t, "POST", "/api/webhooks", f.owner, fmt.Sprintf(`{"url":%q,"events":["*"],"panelId":%d}`, publicHook, f.panel), &hook)
	var delivery int64
	if err := secDB(t).QueryRowContext(t.Context(), `INSERT INTO webhook_deliveries (tenant_id, webhook_id, change_id)
		VALUES ($1, $2, 1) RETURNING id`, tenant, hook.ID).Scan(&delivery); err != nil {
		t.Fatal(err)
	}
	f.opPathVals = map[string]map[string]string{
		// Each of these takes one type of source; another type would stop the request at 422.
		"uploadDataSourceFile":  {"dataSourceId": strconv.FormatInt(file.ID, 10)},
		"pushDataSourceRecords": {"dataSourceId": strconv.FormatInt(f.spare1, 10)},
	}
	f.pathVals = map[string]string{
		"panelId": strconv.FormatInt(f.panel, 10), "dataSourceId": strconv.FormatInt(f.spare1, 10),
		"columnId": strconv.FormatInt(f.calc, 10), "viewId": strconv.FormatInt(f.view, 10),
		"resourceType": "panel", "resourceId": strconv.FormatInt(f.panel, 10), "userEmail": f.grantee,
		"asset": "docs.js", "webhookId": strconv.FormatInt(hook.ID, 10), "deliveryId": strconv.FormatInt(delivery, 10),
	}
	return f
}

// request is a valid request for the operation, parts of which a case then breaks.
type request struct {
	path   map[string]string
	query  url.Values
	header map[string]string
	body   any // nil: none
}

func (f negFixture) baseRequest(t testing.TB, o specOp) request {
	r := request{path: map[string]string{}, query: url.Values{}, header: map[string]string{}}
	for _, p := range o.params {
		switch {
		case p.In == "path":
			v, ok := f.opPathVals[o.id][p.Name]
			if !ok {
				v, ok = f.pathVals[p.Name]
			}
			if !ok {
				t.Fatalf("%s: no fixture value for path parameter %s: add one to newNegFixture", o.id, p.Name)
			}
			r.path[p.Name] = v
		case p.Required && p.In == "query":
			r.query.Set(p.Name, fmt.Sprint(validValue(p.Schema.Value)))
		case p.Required && p.In == "header":
			r.header[p.Name] = fmt.Sprint(validValue(p.Schema.Value))
		}
	}
	if o.body != nil {
		r.body = o.example
		if r.body == nil {
			r.body = validValue(o.body)
		}
		r.body = jsonCopy(t, r.body)
	}
	return r
}

func (o specOp) url(r request) string {
	u := o.template
	for name, v := range r.path {
		u = strings.ReplaceAll(u, "{"+name+"}", url.PathEscape(v))
	}
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	return u
}

func (o specOp) negCase(t testing.TB, name string, r request) negCase {
	c := negCase{name: name, url: o.url(r), headers: maps.Clone(r.header)}
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			t.Fatal(err)
		}
		c.body = b
		c.headers["Content-Type"] = "application/json"
	}
	return c
}

// negativeCases builds every schema-violating request for the operation.
func (f negFixture) negativeCases(t testing.TB, o specOp) []negCase {
	var out []negCase
	fresh := func() request { return f.baseRequest(t, o) }
	for _, p := range o.params {
		s := p.Schema.Value
		where := p.In + "." + p.Name
		var vs []violation
		if s.Type.Is("array") {
			for _, v := range violations(s.Items.Value, true) {
				vs = append(vs, violation{"item " + v.kind, []any{v.value}})
			}
			if s.MaxItems != nil {
				vs = append(vs, violation{"too many items", slices.Repeat([]any{validValue(s.Items.Value)}, int(*s.MaxItems)+1)})
			}
		} else {
			vs = violations(s, true)
		}
		for _, v := range vs {
			if p.In == "path" && v.kind == "too short" {
				continue // an empty segment is another route, not a bad value
			}
			if p.In == "header" && strings.HasSuffix(v.kind, nulKind) {
				continue // no HTTP client sends a NUL in a header (net/http refuses it)
			}
			r := fresh()
			switch p.In {
			case "path":
				r.path[p.Name] = fmt.Sprint(v.value)
			case "query":
				r.query.Del(p.Name)
				if items, ok := v.value.([]any); ok {
					for _, it := range items {
						r.query.Add(p.Name, fmt.Sprint(it))
					}
				} else {
					r.query.Set(p.Name, fmt.Sprint(v.value))
				}
			case "header":
				r.header[p.Name] = fmt.Sprint(v.value)
			}
			out = append(out, o.negCase(t, where+": "+v.kind, r))
		}
		if p.Required && p.In != "path" {
			r := fresh()
			r.query.Del(p.Name)
			delete(r.header, p.Name)
			out = append(out, o.negCase(t, where+": required missing", r))
		}
	}
	if o.rawBodyType != "" {
		valid := o.negCase(t, "", fresh())
		if o.rawBodyType != "*/*" {
			out = append(out, negCase{name: "body: wrong content type", url: valid.url,
				headers: map[string]string{"Content-Type": "text/plain"}, body: []byte(o.rawBodyExample)})
		}
		// No "required missing" here: an empty body is an empty file or batch, which the spec
		// answers with a 200 reporting `syncStatus: error`.
		// A NUL in the first record of the example (a CSV file, or NDJSON operations on records).
		if i := strings.Index(o.rawBodyExample, "Ada"); i >= 0 {
			ct, nul, field := o.rawBodyType, "A\x00da", "body.1.name"
			if ct == "*/*" {
				ct = "text/csv"
			}
			if strings.Contains(ct, "json") {
				nul = `A\u0000da`
				if strings.Contains(o.rawBodyExample, `"record"`) { // pushed operations wrap their records
					field = "body.1.record.name"
				}
			}
			out = append(out, negCase{name: field + ": " + nulKind, url: valid.url, headers: map[string]string{"Content-Type": ct},
				body: []byte(o.rawBodyExample[:i] + nul + o.rawBodyExample[i+3:])})
		}
	}
	if o.body == nil {
		return out
	}
	// The body as a whole.
	valid := o.negCase(t, "", fresh())
	out = append(out,
		negCase{name: "body: malformed JSON", url: valid.url, headers: valid.headers, body: []byte(`{"name":`)},
		negCase{name: "body: trailing comma", url: valid.url, headers: valid.headers, body: append(bytes.TrimSuffix(valid.body, []byte("}")), []byte(`,}`)...)},
		negCase{name: "body: wrong content type", url: valid.url, headers: map[string]string{"Content-Type": "text/plain"}, body: valid.body},
		negCase{name: "body: JSON array", url: valid.url, headers: valid.headers, body: []byte(`[]`)},
		negCase{name: "body: JSON string", url: valid.url, headers: valid.headers, body: []byte(`"text"`)},
	)
	if o.bodyRequired {
		out = append(out, negCase{name: "body: required missing", url: valid.url, headers: valid.headers, body: []byte{}})
	}
	var walk func(s *openapi3.Schema, at []any, depth int)
	walk = func(s *openapi3.Schema, at []any, depth int) {
		where := jsonPath(at)
		if len(at) > 0 {
			for _, v := range violations(s, false) {
				r := fresh()
				r.body = setAt(r.body, o.body, at, func(any) any { return v.value })
				out = append(out, o.negCase(t, where+": "+v.kind, r))
			}
		}
		if depth > 4 {
			return
		}
		switch {
		case s.Type.Is("object"):
			for _, name := range s.Required {
				r := fresh()
				r.body = setAt(r.body, o.body, at, func(obj any) any {
					m, ok := obj.(map[string]any)
					if !ok {
						m = map[string]any{}
					}
					delete(m, name)
					return m
				})
				out = append(out, o.negCase(t, where+"."+name+": required missing", r))
			}
			if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has || s.AdditionalProperties.Schema != nil {
				// A free-form object (metadata, config, properties): a NUL in a key and in a value.
				for _, kv := range [][2]string{{"k\x00", "v"}, {"zzNul", "a\x00b"}} {
					r := fresh()
					r.body = setAt(r.body, o.body, at, func(obj any) any {
						m, ok := obj.(map[string]any)
						if !ok {
							m = map[string]any{}
						}
						m[kv[0]] = map[string]any{"deep": []any{kv[1]}}
						return m
					})
					field := where + "." + strings.ReplaceAll(kv[0], "\x00", `\u0000`)
					if kv[0] == "zzNul" {
						field += ".deep[0]"
					}
					out = append(out, o.negCase(t, field+": "+nulKind, r))
				}
			}
			if s.AdditionalProperties.Has != nil && !*s.AdditionalProperties.Has {
				r := fresh()
				r.body = setAt(r.body, o.body, at, func(obj any) any {
					m, ok := obj.(map[string]any)
					if !ok {
						m = map[string]any{}
					}
					m["zzUnknownField"] = 1
					return m
				})
				out = append(out, o.negCase(t, where+": unknown field", r))
			}
			for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
				walk(s.Properties[name].Value, append(slices.Clone(at), name), depth+1)
			}
		case s.Type.Is("array") && s.Items != nil:
			walk(s.Items.Value, append(slices.Clone(at), 0), depth+1)
		}
	}
	walk(o.body, nil, 0)
	return out
}

func jsonPath(at []any) string {
	var b strings.Builder
	b.WriteString("body")
	for _, step := range at {
		if i, ok := step.(int); ok {
			fmt.Fprintf(&b, "[%d]", i)
		} else {
			b.WriteString("." + step.(string))
		}
	}
	return b.String()
}

// setAt replaces the value at path `at` of root with change(old), creating valid intermediate
// objects and arrays (from the schema) where the base body has none.
func setAt(root any, s *openapi3.Schema, at []any, change func(any) any) any {
	if len(at) == 0 {
		return change(root)
	}
	switch step := at[0].(type) {
	case string:
		m, ok := root.(map[string]any)
		if !ok {
			m = map[string]any{}
		}
		child := s.Properties[step].Value
		cur, ok := m[step]
		if !ok {
			cur = validValue(child)
		}
		m[step] = setAt(cur, child, at[1:], change)
		return m
	case int:
		a, _ := root.([]any)
		child := s.Items.Value
		if len(a) == 0 {
			a = []any{validValue(child)}
		}
		a[0] = setAt(a[0], child, at[1:], change)
		return a
	}
	panic("bad path step")
}

// send sends a case as the admin (or without a token), waiting out a rate limit if one answers.
func sendCase(t *testing.T, method, tok string, c negCase) (*http.Response, []byte) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		resp, body := raw(t, method, c.url, tok, c.body, c.headers)
		if resp.StatusCode != http.StatusTooManyRequests || attempt == 5 {
			return resp, body
		}
		wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		time.Sleep(time.Duration(max(wait, 1)) * time.Second)
	}
}

// TestSpecNegative sends, for every operation of the spec, requests that each break one rule of
// its parameters or body. Every answer must be a documented 4xx problem (the harness transport
// validates it against the spec) and the database must not change.
func TestSpecNegative(t *testing.T) {
	tenant := newTenant("neg")
	f := newNegFixture(t, tenant)
	// A first request records the admin as a member, so that later ones change nothing.
	raw(t, "GET", "/api/panels", f.admin, nil, nil)

	ops := specOperations(t)
	total, perKind, statuses := 0, map[string]int{}, map[int]int{}
	nulSent, fivexx, opsChanged := 0, 0, 0
	var covered []string
	for _, o := range ops {
		cases := f.negativeCases(t, o)
		if o.secured {
			r := f.baseRequest(t, o)
			c := o.negCase(t, "no token", r)
			c.name = "auth: no token"
			cases = append(cases, c)
		}
		if o.body != nil {
			valid := o.negCase(t, "", f.baseRequest(t, o))
			big := append(append([]byte(`{"zz":"`), bytes.Repeat([]byte("a"), 1<<20)...), `"}`...)
			cases = append(cases, negCase{name: "body: over the size limit", url: valid.url, headers: valid.headers, body: big})
		}
		if len(cases) == 0 {
			continue
		}
		covered = append(covered, o.id)
		t.Run(o.id, func(t *testing.T) {
			before, state := secSnapshot(t, tenant), dbWrites(t)
			for _, c := range cases {
				tok := f.admin
				if c.name == "auth: no token" {
					tok = ""
				}
				resp, body := sendCase(t, o.method, tok, c)
				total++
				kind := c.name[strings.LastIndex(c.name, ": ")+2:]
				perKind[kind]++
				statuses[resp.StatusCode]++
				if resp.StatusCode >= 500 {
					fivexx++
				}
				if resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Errorf("%s %s [%s]: status %d, want a 4xx; body %.300s", o.method, c.url, c.name, resp.StatusCode, body)
				}
				if strings.HasSuffix(kind, nulKind) {
					nulSent++
					where := strings.NewReplacer("[", ".", "]", "").Replace(c.name[:strings.LastIndex(c.name, ": ")])
					if p := wantProblem(t, o.id+" "+c.name, resp, body, http.StatusBadRequest); resp.StatusCode == http.StatusBadRequest &&
						!slices.Contains(p.fields(), where) {
						t.Errorf("%s [%s]: errors name %v, want %s", o.id, c.name, p.fields(), where)
					}
				}
			}
			changed := false
			if after := secSnapshot(t, tenant); after != before {
				changed = true
				t.Errorf("%s: the tenant's rows changed:\nbefore %s\nafter  %s", o.id, before, after)
			}
			if after := dbWrites(t); after != state {
				changed = true
				t.Errorf("%s: the database was written to: before %s after %s", o.id, state, after)
			}
			if changed {
				opsChanged++
			}
		})
	}
	t.Logf("negative requests: %d operations (of %d) x cases = %d requests; statuses %v", len(covered), len(ops), total, statuses)
	t.Logf("NUL requests: %d; 5xx answers: %d (of %d); operations whose database changed: %d", nulSent, fivexx, total, opsChanged)
	t.Logf("cases by kind: %v", perKind)
}

// TestSpecExamplesAreServed sends a valid request to every operation, built from the spec's
// examples (path ids from a fixture tenant), deletes last. No answer may be a 5xx, except 501 where
// the operation still documents it; the harness transport validates every answer against the spec.
func TestSpecExamplesAreServed(t *testing.T) {
	tenant := newTenant("examples")
	f := newNegFixture(t, tenant)
	ops := specOperations(t)
	// Deletes last, the most specific paths first, so each delete still finds its target.
	sort.SliceStable(ops, func(i, j int) bool {
		di, dj := ops[i].method == http.MethodDelete, ops[j].method == http.MethodDelete
		if di != dj {
			return dj
		}
		return di && len(ops[i].template) > len(ops[j].template)
	})
	statuses := map[int]int{}
	for _, o := range ops {
		r := f.baseRequest(t, o)
		if m, ok := r.body.(map[string]any); ok {
			// Examples name ids of a sample database; point them at the fixture's resources.
			for key, val := range map[string]int64{"panelId": f.panel, "dataSourceId": f.ds} {
				if _, ok := m[key]; ok {
					m[key] = val
				}
			}
			delete(m, "id") // an echoed id must equal the path id; leave it out
		}
		c := o.negCase(t, "example", r)
		if o.rawBodyType != "" {
			ct := o.rawBodyType
			if ct == "*/*" {
				ct = "application/octet-stream"
			}
			c.headers["Content-Type"], c.body = ct, []byte(o.rawBodyExample)
		}
		resp, body := sendCase(t, o.method, f.admin, c)
		statuses[resp.StatusCode]++
		switch {
		case resp.StatusCode == http.StatusNotImplemented && o.documents(http.StatusNotImplemented):
		case resp.StatusCode >= 500:
			t.Errorf("%s %s %s: %d %.300s", o.id, o.method, c.url, resp.StatusCode, body)
		}
	}
	t.Logf("valid requests from examples: %d operations; statuses %v", len(ops), statuses)
}

// TestSpecExamples checks every example of the spec against its schema with kin-openapi, the
// validator the service uses (Redocly's example rules cannot compile the spec's untyped nullable
// schemas; see redocly.yaml).
func TestSpecExamples(t *testing.T) {
	n := 0
	check := func(where string, s *openapi3.Schema, example any) {
		if example == nil || s == nil {
			return
		}
		n++
		if err := s.VisitJSON(jsonCopy(t, example), openapi3.MultiErrors()); err != nil {
			t.Errorf("%s: example does not match its schema: %v", where, err)
		}
	}
	for name, ref := range env.doc.Components.Schemas {
		check("components.schemas."+name, ref.Value, ref.Value.Example)
		for prop, p := range ref.Value.Properties {
			check("components.schemas."+name+"."+prop, p.Value, p.Value.Example)
		}
	}
	for _, o := range specOperations(t) {
		if rb := o.op.RequestBody; rb != nil && rb.Value != nil {
			for ct, mt := range rb.Value.Content {
				if mt.Schema != nil {
					check(o.id+" request "+ct, mt.Schema.Value, mt.Example)
				}
			}
		}
		for status, resp := range o.op.Responses.Map() {
			for ct, mt := range resp.Value.Content {
				if mt.Schema != nil {
					check(o.id+" "+status+" "+ct, mt.Schema.Value, mt.Example)
				}
			}
		}
	}
	if err := env.doc.Validate(context.Background()); err != nil {
		t.Errorf("the embedded spec is not valid OpenAPI: %v", err)
	}
	t.Logf("%d examples checked", n)
}
