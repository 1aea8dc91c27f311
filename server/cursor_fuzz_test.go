package server_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/panels/panels/server/auth"
	curs "github.com/panels/panels/server/cursor"
	"github.com/panels/panels/store"
)

// Mutated cursors against every paged operation of the spec (prefix cf). The operations are the
// spec's: every operation with a `cursor` query parameter. For each, the fixture obtains a real
// cursor (from a page with more), then sends deterministic mutations of it: raw-text edits,
// payload edits kept under the original signature (tampering), payload edits in the unsigned
// format of the seed's cursors (what a hand-edit looked like before cursors were signed), and
// payload edits signed again with the server's key (a leaked key or a bug: only the checks
// behind the signature stand between these and SQL). Every answer must be spec-valid (the
// harness validates it), never 5xx, and a refusal is problem+json.

// cfOp is one paged operation with a fixture request and the list and scope its cursors carry.
type cfOp struct {
	id, path    string // path with its fixture query (without cursor)
	list, scope string
	seed        string // a cursor the server issued for this path (or, failing that, one signed like it)
	payload     func() curs.Payload
}

type cfFixture struct {
	tok    string   // the owner's: notifications cursors are the caller's own
	others []string // admins of the same tenant, taking turns under the per-user rate limit
	ops    []cfOp
}

var cfOnce struct {
	done bool
	f    cfFixture
}

// cfSetup builds one tenant with at least two items in every list and finds each paged operation
// of the spec a seed cursor.
func cfSetup(t testing.TB) cfFixture {
	t.Helper()
	if cfOnce.done {
		return cfOnce.f
	}
	// A fixed tenant (each test process has its own database): under -fuzz, the fuzzing workers
	// rebuild the fixture with the same ids, so the coordinator's seeds still verify there.
	tenant := "cursorfuzz"
	user := "owner-" + tenant
	tok := token(t, tenant, user, user+"@"+tenant+".example", auth.RoleAdmin)
	var id struct {
		ID int64 `json:"id"`
	}
	create := func(path, body string) int64 {
		t.Helper()
		mustCreate(t, "POST", path, tok, body, &id)
		return id.ID
	}
	panel := create("/api/panels", `{"name":"Cursor fuzz"}`)
	create("/api/panels", `{"name":"Cursor fuzz 2"}`)
	pp := "/api/panels/" + strconv.FormatInt(panel, 10)
	file := create(pp+"/datasources", `{"type":"file","config":{"format":"csv","keyField":"id"}}`)
	create(pp+"/datasources", `{"type":"custom","config":{}}`)
	for range 2 { // two syncs for the history
		resp, body := raw(t, "POST", fmt.Sprintf("/api/datasources/%d/upload", file), tok, []byte(rwCSV), map[string]string{"Content-Type": "text/csv"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("upload: %d %s", resp.StatusCode, body)
		}
	}
	for _, c := range []struct{ name, typ, field string }{{"Name", "text", "name"}, {"Age", "number", "age"}, {"Status", "select", "status"}} {
		create(pp+"/columns/base", fmt.Sprintf(`{"name":%q,"type":%q,"sourceField":%q,"dataSourceId":%d,"properties":{}}`, c.name, c.typ, c.field, file))
	}
	create(pp+"/columns/calculated", `{"name":"Label","type":"text","formula":"CONCAT(UPPER([Name]), [Age])","properties":{}}`)
	views := map[string]int64{}
	for _, v := range []struct{ name, sorts string }{
		{"by age", `[{"columnName":"Age","direction":"desc","order":0}]`},                                                                 // SQL keyset, a number key
		{"by name and status", `[{"columnName":"Name","direction":"asc","order":0},{"columnName":"Status","direction":"asc","order":1}]`}, // SQL, text keys
		{"by label", `[{"columnName":"Label","direction":"asc","order":0}]`},                                                              // Go-sorted (calculated)
	} {
		views[v.name] = create("/api/views", fmt.Sprintf(`{"name":%q,"panelId":%d,"visibleColumns":[]}`, v.name, panel))
		path := fmt.Sprintf("/api/views/%d/sorts", views[v.name])
		if resp, body := raw(t, "PUT", path, tok, []byte(`{"sorts":`+v.sorts+`}`), jsonCT); resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", path, resp.StatusCode, body)
		}
	}

	// Two tenant-wide webhooks, then two changes for them to queue.
	hook := create("/api/webhooks", `{"url":"`+publicHook+`","events":["*"]}`)
	create("/api/webhooks", `{"url":"`+publicHook+`","events":["*"]}`)
	create("/api/panels", `{"name":"Cursor fuzz 3"}`)
	create("/api/panels", `{"name":"Cursor fuzz 4"}`)

	key := func() curs.Payload { return &curs.Key{} }
	rowsKey := func() curs.Payload { return &store.RowCursor{} }
	rowsScope := func(view int64) string { return fmt.Sprintf("%s/%d/%d", tenant, panel, view) }
	candidates := map[string][]cfOp{
		"listPanels":            {{path: "/api/panels?limit=1", list: "panels", scope: tenant, payload: key}},
		"listDataSources":       {{path: pp + "/datasources?limit=1", list: "datasources", scope: fmt.Sprintf("%s/%d", tenant, panel), payload: key}},
		"listDataSourceSyncs":   {{path: fmt.Sprintf("/api/datasources/%d/syncs?limit=1", file), list: "syncs", scope: fmt.Sprintf("%s/%d", tenant, file), payload: key}},
		"listViews":             {{path: "/api/views?limit=1", list: "views", scope: tenant + "|", payload: key}},
		"listPanelChanges":      {{path: "/api/changes/panels?limit=1", list: "changes", scope: tenant + "|", payload: key}},
		"listViewNotifications": {{path: "/api/notifications/views?limit=1", list: "notifications", scope: tenant + "|" + user + "|", payload: key}},
		"listWebhooks":          {{path: "/api/webhooks?limit=1", list: "webhooks", scope: tenant + "|" + user, payload: key}},
		"listWebhookDeliveries": {{path: fmt.Sprintf("/api/webhooks/%d/deliveries?limit=1", hook), list: "deliveries", scope: fmt.Sprintf("%s|%d|", tenant, hook), payload: key}},
		"getPanelRows": {
			{path: pp + "/rows?limit=2", list: "rows", scope: rowsScope(0), payload: rowsKey},
			{path: fmt.Sprintf("%s/rows?limit=2&viewId=%d", pp, views["by age"]), list: "rows", scope: rowsScope(views["by age"]), payload: rowsKey},
			{path: fmt.Sprintf("%s/rows?limit=2&viewId=%d", pp, views["by name and status"]), list: "rows", scope: rowsScope(views["by name and status"]), payload: rowsKey},
			{path: fmt.Sprintf("%s/rows?limit=2&viewId=%d", pp, views["by label"]), list: "rows", scope: rowsScope(views["by label"]), payload: rowsKey},
		},
	}
	var f cfFixture
	f.tok = tok
	for i := range 8 {
		u := fmt.Sprintf("admin%d-%s", i, tenant)
		f.others = append(f.others, token(t, tenant, u, u+"@"+tenant+".example", auth.RoleAdmin))
	}
	for _, o := range specOperations(t) {
		if !slices.ContainsFunc(o.params, func(p *openapi3.Parameter) bool { return p.In == "query" && p.Name == "cursor" }) {
			continue
		}
		cs, ok := candidates[o.id]
		if !ok {
			t.Fatalf("%s takes a cursor but the cursor fuzz test has no fixture for it: add one to cfSetup", o.id)
		}
		for _, c := range cs {
			c.id = o.id
			c.seed = cfIssued(t, tok, c)
			f.ops = append(f.ops, c)
		}
	}
	if len(f.ops) < len(candidates) {
		t.Fatalf("only %d paged operations found in the spec", len(f.ops))
	}
	cfOnce.done, cfOnce.f = true, f
	return f
}

// cfIssued is the cursor the server issues on the operation's first page; the notifications of
// a fresh tenant have no second page, so that list gets a cursor signed the way the server
// signs one. Either way the seed must verify under the list and scope the fixture expects.
func cfIssued(t testing.TB, tok string, o cfOp) string {
	t.Helper()
	resp, body := raw(t, "GET", o.path, tok, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", o.path, resp.StatusCode, body)
	}
	var seed string
	var page struct {
		NextCursor *string `json:"nextCursor"`
	}
	if json.Unmarshal(body, &page) == nil && page.NextCursor != nil {
		seed = *page.NextCursor
	} else if m := regexp.MustCompile(`[?&]cursor=([^&>]+)`).FindStringSubmatch(resp.Header.Get("Link")); m != nil {
		seed, _ = url.QueryUnescape(m[1])
	}
	if seed == "" {
		if o.list != "notifications" {
			t.Fatalf("%s: no next page to take a cursor from", o.path)
		}
		seed = signedCursor(o.list, o.scope, &curs.Key{Time: time.Now().UnixMicro(), ID: 1}, time.Now())
	}
	if err := curs.New(curs.DeriveKey([]byte(testSecret))).Decode(seed, o.list, o.scope, o.payload()); err != nil {
		t.Fatalf("%s: the seed cursor does not verify as list %q scope %q: %v", o.path, o.list, o.scope, err)
	}
	return seed
}

// cfMutation is a cursor to send. It must answer exactly 400 when it was altered without the
// key, and anything but 5xx when it carries a valid signature (cfSend tells them apart).
type cfMutation struct {
	name   string
	cursor string
}

// cfValues replace payload values: boundaries, wrong types, what PostgreSQL refuses.
var cfValues = []any{
	json.Number("0"), json.Number("-1"), json.Number("-9223372036854775808"), json.Number("9223372036854775807"),
	json.Number("1e999999"), json.Number("1.5"), "", "abc", "1e999999", "NaN", "10000-01-01T00:00:00Z", "\x00",
	"'; SELECT pg_sleep(1); --", strings.Repeat("9", 300), true, nil, []any{}, map[string]any{},
}

// cfKeyKinds are rows cursor key kinds, real and unknown.
var cfKeyKinds = []any{"", "q", "n", "s", "b", "t", "z"}

// cfMutations derives the deterministic set of mutations of one operation's seed.
func cfMutations(t testing.TB, o cfOp) []cfMutation {
	enc, sig, _ := strings.Cut(o.seed, ".")
	body := cfBody(t, o)
	rawBody, _ := json.Marshal(body)
	var out []cfMutation
	add := func(name, c string) {
		if c != o.seed {
			out = append(out, cfMutation{name, c})
		}
	}
	// Raw text edits.
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	step := max(1, len(o.seed)/20)
	for i := 0; i < len(o.seed); i += step {
		j := (strings.IndexByte(alphabet, o.seed[i]) + 1 + i) % len(alphabet)
		add(fmt.Sprintf("char %d", i), o.seed[:i]+alphabet[j:j+1]+o.seed[i+1:])
	}
	for _, n := range []int{0, 1, len(o.seed) / 2, len(enc), len(enc) + 1, len(o.seed) - 1} {
		add(fmt.Sprintf("cut at %d", n), o.seed[:n])
	}
	for name, c := range map[string]string{
		"dot only": ".", "body only": enc, "signature only": "." + sig, "swapped": sig + "." + enc,
		"two dots": o.seed + ".", "appended": o.seed + "A", "prefixed": "A" + o.seed, "upper": strings.ToUpper(o.seed),
		"padded": enc + "=." + sig, "std base64": strings.NewReplacer("-", "+", "_", "/").Replace(o.seed),
		"too long": o.seed + strings.Repeat("A", 600), "unsigned json": string(rawBody), "NUL": enc + "\x00." + sig,
		"non-ASCII": enc + ".é" + sig,
	} {
		add(name, c)
	}
	// Payload edits, in three encodings.
	encodings := func(name string, m map[string]any) {
		add(name+" (original signature)", cfTampered(t, o.seed, m))
		add(name+" (unsigned)", cfUnsigned(t, o, m))
		add(name+" (re-signed)", cfResigned(t, o, m))
	}
	now := time.Now()
	for _, x := range []any{json.Number("0"), json.Number("-1"), json.Number(strconv.FormatInt(now.Add(time.Hour).Unix(), 10)),
		json.Number(strconv.FormatInt(now.AddDate(100, 0, 0).Unix(), 10)), json.Number(strconv.FormatInt(now.Add(-25*time.Hour).Unix(), 10)),
		json.Number("9223372036854775807"), json.Number("-9223372036854775808"), json.Number("1e999999"), "abc", nil} {
		m := cfClone(body)
		m["x"] = x
		encodings(fmt.Sprintf("x=%v", x), m)
	}
	for _, k := range []string{"x", "p"} {
		m := cfClone(body)
		delete(m, k)
		encodings("without "+k, m)
	}
	m := cfClone(body)
	m["extra"] = 1
	encodings("unknown field", m)
	// Every value of the payload, at any depth, replaced by each of cfValues; rows keys also
	// with every kind, and arrays emptied, doubled and nulled.
	var paths [][]any
	var walk func(v any, at []any)
	walk = func(v any, at []any) {
		paths = append(paths, slices.Clone(at))
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(x[k], append(at, k))
			}
		case []any:
			for i, e := range x {
				walk(e, append(at, i))
			}
		}
	}
	walk(body["p"], []any{"p"})
	for _, at := range paths {
		values := cfValues
		if len(at) > 0 && at[len(at)-1] == "t" && len(at) > 2 { // a rows key's kind
			values = append(slices.Clone(cfKeyKinds), values...)
		}
		for i, v := range values {
			m := cfClone(body)
			cfSet(m, at, v)
			encodings(fmt.Sprintf("%v=%d", at, i), m)
		}
		if arr, ok := cfGet(body, at).([]any); ok {
			for name, v := range map[string]any{"emptied": []any{}, "doubled": append(slices.Clone(arr), arr...), "nulled": nil} {
				m := cfClone(body)
				cfSet(m, at, v)
				encodings(fmt.Sprintf("%v %s", at, name), m)
			}
		}
	}
	// The payload's fields removed, one at a time.
	if p, ok := body["p"].(map[string]any); ok {
		for k := range p {
			m := cfClone(body)
			delete(m["p"].(map[string]any), k)
			encodings("p without "+k, m)
		}
	}
	return out
}

// cfBody is the body ({"x": issued, "p": payload}) of an operation's seed, opened with the
// server's key, numbers kept as written.
func cfBody(t testing.TB, o cfOp) map[string]any {
	t.Helper()
	b, err := curs.Open(curs.DeriveKey([]byte(testSecret)), o.list, o.scope, o.seed)
	if err != nil {
		t.Fatalf("%q is not a sealed cursor of %s: %v", o.seed, o.list, err)
	}
	var body map[string]any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body
}

func cfEncode(t testing.TB, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// cfTampered is an edited body under the seed's original signature.
func cfTampered(t testing.TB, seed string, m map[string]any) string {
	_, sig, _ := strings.Cut(seed, ".")
	return cfEncode(t, m) + "." + sig
}

// cfUnsigned is an edited body in the format cursors had before they were signed (list, scope
// and issue time beside the position): how a hand-edited cursor reached SQL.
func cfUnsigned(t testing.TB, o cfOp, m map[string]any) string {
	old := map[string]any{"l": o.list, "s": o.scope, "x": m["x"]}
	if p, ok := m["p"].(map[string]any); ok && o.list != "rows" {
		for k, v := range p {
			old[k] = v
		}
	} else {
		old["p"] = m["p"]
	}
	return cfEncode(t, old)
}

// cfResigned is an edited body sealed with the server's key: what a leaked key allows (Encode
// only seals well-formed payloads, so it is sealed here). Only the checks behind the seal stand
// between it and SQL.
func cfResigned(t testing.TB, o cfOp, m map[string]any) string {
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return curs.Seal(curs.DeriveKey([]byte(testSecret)), o.list, o.scope, b)
}

func cfClone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	_ = d.Decode(&out)
	return out
}

func cfGet(v any, at []any) any {
	for _, k := range at {
		switch x := v.(type) {
		case map[string]any:
			v = x[k.(string)]
		case []any:
			v = x[k.(int)]
		}
	}
	return v
}

func cfSet(root map[string]any, at []any, v any) {
	parent := cfGet(root, at[:len(at)-1])
	switch x := parent.(type) {
	case map[string]any:
		x[at[len(at)-1].(string)] = v
	case []any:
		x[at[len(at)-1].(int)] = v
	}
}

var cfSent, cfRefused, cfExpired, cfAccepted atomic.Int64

// cfSend sends one cursor to an operation and checks the answer.
func cfSend(t *testing.T, fx cfFixture, o cfOp, c string, signed bool) {
	t.Helper()
	tok := fx.tok
	if o.list != "notifications" {
		tok = fx.others[int(cfSent.Load())%len(fx.others)]
	}
	resp, body := raw(t, "GET", o.path+"&cursor="+url.QueryEscape(c), tok, nil, nil)
	for try := 0; resp.StatusCode == http.StatusTooManyRequests && try < 10; try++ {
		wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		time.Sleep(time.Duration(max(wait, 1)) * time.Second)
		resp, body = raw(t, "GET", o.path+"&cursor="+url.QueryEscape(c), tok, nil, nil)
	}
	cfSent.Add(1)
	switch st := resp.StatusCode; {
	case st >= 500:
		t.Errorf("%s cursor %q: %d %s", o.id, c, st, body)
	case st == http.StatusOK:
		cfAccepted.Add(1)
		if !signed {
			t.Errorf("%s: an altered cursor %q was honoured", o.id, c)
		}
	case st == http.StatusBadRequest, st == http.StatusGone && signed:
		if st == http.StatusGone {
			cfExpired.Add(1)
		} else {
			cfRefused.Add(1)
		}
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		var p struct {
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		if mt != "application/problem+json" || json.Unmarshal(body, &p) != nil || p.Status != st || p.Detail == "" {
			t.Errorf("%s cursor %q: %d is not a problem: %s %s", o.id, c, st, mt, body)
		}
	default:
		t.Errorf("%s cursor %q (signed %v): %d, want 400 (or 200/410 for a signed one): %s", o.id, c, signed, st, body)
	}
}

// FuzzCursors sends cursors to every paged operation. Its seed corpus is each operation's real
// cursor and the deterministic mutations of it, so `go test` runs them all; `go test -fuzz
// FuzzCursors` mutates further.
func FuzzCursors(f *testing.F) {
	fx := cfSetup(f)
	n := 0
	for i, o := range fx.ops {
		f.Add(i, o.seed)
		for j, m := range cfMutations(f, o) {
			if testing.Short() && j%8 != 0 { // -short: an eighth of the mutations
				continue
			}
			f.Add(i, m.cursor)
			n++
		}
	}
	before := cfSent.Load()
	f.Cleanup(func() {
		fmt.Printf("FuzzCursors: %d operations (%d requests with seeds), %d mutations; sent %d: %d refused 400, %d expired 410, %d honoured, 0 allowed 5xx\n",
			len(fx.ops), len(fx.ops)+n, n, cfSent.Load()-before, cfRefused.Load(), cfExpired.Load(), cfAccepted.Load())
	})
	f.Fuzz(func(t *testing.T, i int, c string) {
		if i < 0 {
			return
		}
		o := fx.ops[i%len(fx.ops)]
		// Only a cursor that carries the key's signature may be honoured (or expire).
		cfSend(t, fx, o, c, cfVerifies(c, o))
	})
}

// cfVerifies reports whether the cursor carries a valid signature for the operation, whatever
// its payload.
func cfVerifies(c string, o cfOp) bool {
	_, err := curs.Open(curs.DeriveKey([]byte(testSecret)), o.list, o.scope, c)
	return err == nil
}
