package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	client "github.com/panels/panels/clients/go"
	"github.com/panels/panels/server/auth"
	curs "github.com/panels/panels/server/cursor"
	"github.com/panels/panels/server/servertest"
	"github.com/panels/panels/store/storetest"
)

// Syncs, uploads and pushes against real sources: a local HTTP server for api sources, a separate
// database on the local PostgreSQL (read by a non-superuser role) for database sources. They run
// on a private service instance whose address guard allows 127.0.0.1, with small limits so that
// the limits can be tested cheaply (prefix flow).

const (
	flowUploadLimit = 256 << 10
	flowMaxBytes    = 64 << 10
	flowSyncTimeout = 3 * time.Second
)

var flowEnv struct {
	once sync.Once
	url  string // the private service
	api  *httptest.Server
	// records served by /patients, swapped by tests that re-sync.
	patients atomic.Value // []map[string]any
	hits     atomic.Int64
	err      error
}

// flowService starts (once) the fake API and the private service instance.
func flowService(t testing.TB) string {
	t.Helper()
	flowEnv.once.Do(func() {
		flowEnv.patients.Store(flowPatients(3))
		flowEnv.api = httptest.NewServer(http.HandlerFunc(flowAPI))
		// Never closed: the instance serves the package's remaining tests.
		svc, err := servertest.Start(context.Background(), servertest.Options{DSN: env.dsn, Env: map[string]string{
			"JWT_SECRET":          testSecret,
			"REDIS_URL":           os.Getenv("TEST_REDIS_URL"),
			"SYNC_ALLOW_HOSTS":    "127.0.0.1",
			"API_SOURCE_BASE_URL": flowEnv.api.URL + "/v1",
			"UPLOAD_LIMIT":        fmt.Sprint(flowUploadLimit),
			"SYNC_MAX_BYTES":      fmt.Sprint(flowMaxBytes),
			"SYNC_TIMEOUT":        flowSyncTimeout.String(),
			"DB_MAX_CONNS":        "6", // other packages' tests share the PostgreSQL server
		}})
		if err != nil {
			flowEnv.err = err
			return
		}
		flowEnv.url = svc.URL
	})
	if flowEnv.err != nil {
		t.Fatal(flowEnv.err)
	}
	return flowEnv.url
}

func flowPatients(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"id": fmt.Sprintf("p%d", i+1), "name": fmt.Sprintf("Patient %d", i+1), "age": 30 + i}
	}
	return out
}

// flowAPI is the fake upstream API of api sources.
func flowAPI(w http.ResponseWriter, r *http.Request) {
	flowEnv.hits.Add(1)
	w.Header().Set("Content-Type", "application/json")
	switch strings.TrimPrefix(r.URL.Path, "/v1") {
	case "/patients": // the web UI's endpoint, wrapped the way FHIR-ish APIs do
		if r.Header.Get("X-Api-Key") != "" && r.Header.Get("X-Api-Key") != "k3y" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"meta": map[string]any{"skip": []any{1, map[string]any{"x": "]"}}},
			"data": map[string]any{"items": flowEnv.patients.Load()}})
	case "/array":
		_ = json.NewEncoder(w).Encode(flowEnv.patients.Load())
	case "/echo-post":
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		_ = json.NewEncoder(w).Encode([]any{map[string]any{"id": "posted", "body": body}})
	case "/slow":
		select {
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
		}
	case "/bad-json":
		_, _ = io.WriteString(w, `[{"id":"x1"},{"id":`)
	case "/not-array":
		_, _ = io.WriteString(w, `{"id":"x1"}`)
	case "/duplicate-keys":
		_, _ = io.WriteString(w, `[{"id":"x1"},{"id":"x1"}]`)
	case "/big":
		_, _ = io.WriteString(w, "[")
		for i := 0; i < flowMaxBytes/20+10; i++ {
			fmt.Fprintf(w, `{"id":"big-%06d"},`, i)
		}
		_, _ = io.WriteString(w, `{"id":"last"}]`)
	case "/error":
		w.WriteHeader(http.StatusBadGateway)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// flowCaller is a caller of the private service.
func flowCaller(t testing.TB, tenant, user string, role auth.Role) *caller {
	t.Helper()
	base := flowService(t)
	email := user + "@" + tenant + ".example"
	c := &caller{t: t, tenant: tenant, user: user, email: email, token: token(t, tenant, user, email, role)}
	api, err := client.NewClientWithResponses(base, client.WithHTTPClient(&http.Client{Transport: &validatingTransport{t: t}}),
		client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+c.token)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	c.api = api
	return c
}

// flowDo sends a request to the private service; body may be nil. A body that is not a
// *bytes.Reader is sent chunked (without Content-Length).
func flowDo(t testing.TB, c *caller, method, path string, body io.Reader, contentType string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, flowService(t)+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := (&validatingTransport{t: t}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

// flowSync syncs a source through the seed's path and decodes the answer.
func flowSync(t testing.TB, c *caller, id int64) client.DataSourceSync {
	t.Helper()
	resp, body := flowDo(t, c, "POST", fmt.Sprintf("/api/datasources/%d/sync", id), bytes.NewReader(nil), "application/json")
	return flowSyncAnswer(t, "sync", resp, body)
}

func flowSyncAnswer(t testing.TB, what string, resp *http.Response, body []byte) client.DataSourceSync {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", what, resp.StatusCode, body)
	}
	var out client.DataSourceSync
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// flowKeys lists the panel's row keys in order (through the rows engine).
func flowKeys(t testing.TB, c *caller, panelID int64) []string {
	t.Helper()
	resp, body := flowDo(t, c, "GET", fmt.Sprintf("/api/panels/%d/rows?limit=500", panelID), nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rows: %d %s", resp.StatusCode, body)
	}
	var page client.PanelRows
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, len(page.Rows))
	for i, r := range page.Rows {
		keys[i] = r.Key
	}
	return keys
}

func flowSetup(t testing.TB, prefix string) (*caller, client.Panel) {
	t.Helper()
	c := flowCaller(t, newTenant(prefix), "owner", auth.RoleBuilder)
	return c, fxPanel(t, c, prefix)
}

func TestSyncAPISource(t *testing.T) {
	c, p := flowSetup(t, "sync-api")
	flowEnv.patients.Store(flowPatients(3))

	// The web UI's config: an endpoint, resolved against API_SOURCE_BASE_URL, records at a pointer.
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, map[string]any{"endpoint": "/patients", "method": "GET",
		"recordsPath": "/data/items", "keyField": "id", "headers": map[string]any{"X-Api-Key": "k3y"}})
	got := flowSync(t, c, ds.Id)
	if got.SyncStatus != client.Success || got.RecordsProcessed != 3 || got.LastSync.IsNull() || got.SyncId == nil {
		t.Fatalf("sync: %+v", got)
	}
	if h, _ := got.Config["headers"].(map[string]any); h["X-Api-Key"] != "********" {
		t.Errorf("the answer shows a secret header: %v", got.Config)
	}
	if keys := flowKeys(t, c, p.Id); strings.Join(keys, ",") != "p1,p2,p3" {
		t.Errorf("rows after sync: %v", keys)
	}

	// A re-sync replaces the records (the nested path is the same operation).
	flowEnv.patients.Store(flowPatients(5)[2:])
	resp, body := flowDo(t, c, "POST", fmt.Sprintf("/api/panels/%d/datasources/%d/sync", p.Id, ds.Id), nil, "")
	if got := flowSyncAnswer(t, "nested sync", resp, body); got.RecordsProcessed != 3 {
		t.Errorf("re-sync: %+v", got)
	}
	if keys := flowKeys(t, c, p.Id); strings.Join(keys, ",") != "p3,p4,p5" {
		t.Errorf("rows after re-sync: %v", keys)
	}

	// url (not endpoint), a top-level array, keys by position; POST sends the configured body.
	arr := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, map[string]any{"url": flowEnv.api.URL + "/array", "method": "GET"})
	if got := flowSync(t, c, arr.Id); got.SyncStatus != client.Success || got.RecordsProcessed != 3 {
		t.Errorf("array sync: %+v", got)
	}
	post := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, map[string]any{"url": flowEnv.api.URL + "/echo-post", "method": "POST",
		"body": map[string]any{"q": 1}, "keyField": "id"})
	if got := flowSync(t, c, post.Id); got.SyncStatus != client.Success || got.RecordsProcessed != 1 {
		t.Errorf("POST sync: %+v", got)
	}
	var doc string
	if err := fxDB(t).QueryRowContext(t.Context(), "SELECT doc::text FROM source_records WHERE data_source_id = $1", post.Id).Scan(&doc); err != nil || !strings.Contains(doc, `"q": 1`) {
		t.Errorf("posted body not sent: %q %v", doc, err)
	}

	// Every sync is in the history and wrote a change row; none notified anyone.
	if n := len(fxChangesOf(fxChanges(t, c, p.Id), "source_synced")); n != 4 {
		t.Errorf("source_synced changes: %d, want 4", n)
	}
	var notes int
	if err := fxDB(t).QueryRowContext(t.Context(), "SELECT count(*) FROM view_notifications WHERE tenant_id = $1", c.tenant).Scan(&notes); err != nil || notes != 0 {
		t.Errorf("notifications after syncs: %d %v", notes, err)
	}
}

// TestSyncAPIFailuresKeepRecords: each failure of the source is syncStatus error with a clear
// message, never a 5xx, and the records of the last good sync stay.
func TestSyncAPIFailuresKeepRecords(t *testing.T) {
	c, p := flowSetup(t, "sync-api-fail")
	flowEnv.patients.Store(flowPatients(3))
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, map[string]any{"url": flowEnv.api.URL + "/array", "keyField": "id"})
	if got := flowSync(t, c, ds.Id); got.SyncStatus != client.Success {
		t.Fatalf("first sync: %+v", got)
	}
	lastSync, _ := flowSync(t, c, ds.Id).LastSync.Get()

	cases := []struct {
		name string
		cfg  map[string]any
		msg  string
	}{
		{"timeout", map[string]any{"url": flowEnv.api.URL + "/slow", "timeoutMs": 300}, "did not answer in time"},
		{"bad JSON", map[string]any{"url": flowEnv.api.URL + "/bad-json"}, "invalid JSON"},
		{"not an array", map[string]any{"url": flowEnv.api.URL + "/not-array"}, "not an array"},
		{"records path missing", map[string]any{"url": flowEnv.api.URL + "/v1/patients", "recordsPath": "/data/nope"}, "not found"},
		{"duplicate keys", map[string]any{"url": flowEnv.api.URL + "/duplicate-keys", "keyField": "id"}, "same key"},
		{"missing key", map[string]any{"url": flowEnv.api.URL + "/array", "keyField": "nope"}, "no usable key field"},
		{"too large", map[string]any{"url": flowEnv.api.URL + "/big"}, "larger than"},
		{"upstream error", map[string]any{"url": flowEnv.api.URL + "/error"}, "502"},
		{"upstream refuses the header", map[string]any{"url": flowEnv.api.URL + "/v1/patients", "headers": map[string]any{"X-Api-Key": "wrong"}}, "401"},
		{"unreachable", map[string]any{"url": "http://127.0.0.1:1/x"}, "cannot connect"},
		{"loopback refused", map[string]any{"url": "http://[::1]:8080/x"}, "refused"},
		{"private refused", map[string]any{"url": "http://10.20.30.40/x"}, "refused"},
		{"metadata refused", map[string]any{"url": "http://169.254.169.254/latest/meta-data"}, "refused"},
		{"localhost name resolving to loopback v6", map[string]any{"url": "http://ip6-localhost:9/x"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fail := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, tc.cfg)
			// The failing source is one more source of the panel; the primary's records must stay.
			got := flowSync(t, c, fail.Id)
			if got.SyncStatus != client.Error || !strings.Contains(got.Message, tc.msg) || !got.LastSync.IsNull() {
				t.Errorf("sync: %+v, want error containing %q", got, tc.msg)
			}
			var n int
			if err := fxDB(t).QueryRowContext(t.Context(), "SELECT count(*) FROM source_records WHERE data_source_id = $1", fail.Id).Scan(&n); err != nil || n != 0 {
				t.Errorf("records of a failed sync: %d %v", n, err)
			}
		})
	}
	// A failure of the primary itself keeps its records and its lastSync.
	upd := client.DataSourceUpdate{Config: &client.DataSourceConfig{"url": flowEnv.api.URL + "/bad-json", "keyField": "id"}}
	if r, err := c.api.UpdateDataSourceWithResponse(t.Context(), ds.Id, nil, upd); err != nil || r.StatusCode() != 200 {
		t.Fatalf("update: %v", err)
	}
	got := flowSync(t, c, ds.Id)
	if got.SyncStatus != client.Error {
		t.Errorf("sync of bad JSON: %+v", got)
	}
	if ls, _ := got.LastSync.Get(); !ls.Equal(lastSync.Time) {
		t.Errorf("lastSync moved on a failed sync: %v, was %v", ls, lastSync)
	}
	if keys := flowKeys(t, c, p.Id); strings.Join(keys, ",") != "p1,p2,p3" {
		t.Errorf("records after a failed sync: %v", keys)
	}
}

func TestSyncEndpointWithoutBaseURL(t *testing.T) {
	// The shared test service has no API_SOURCE_BASE_URL: the web UI's endpoint cannot resolve.
	c := newCaller(t, newTenant("sync-nobase"), "owner", auth.RoleBuilder)
	p := fxPanel(t, c, "No base")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	r, err := c.api.SyncDataSourceWithResponse(t.Context(), ds.Id)
	if err != nil || r.JSON200 == nil {
		t.Fatalf("sync: %v %s", err, r.Body)
	}
	if r.JSON200.SyncStatus != client.Error || !strings.Contains(r.JSON200.Message, "API_SOURCE_BASE_URL") {
		t.Errorf("sync without a base URL: %+v", r.JSON200)
	}
}

// flowSourceDB creates a separate database with a patients table and a non-superuser role that
// may read it.
func flowSourceDB(t *testing.T) (dsn, dbName, role string) {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	role = "panels_src_reader_" + suffix
	dsnTmp, drop, err := storetest.CreateDatabase("panels_src")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	u, _ := url.Parse(dsnTmp)
	dbName = strings.TrimPrefix(u.Path, "/")
	admin, err := sql.Open("pgx", storetest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(t.Context(), "CREATE ROLE "+role+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a, _ := sql.Open("pgx", storetest.AdminURL())
		defer a.Close()
		drop()
		_, _ = a.ExecContext(context.Background(), "DROP ROLE IF EXISTS "+role)
	})
	src, err := sql.Open("pgx", dsnTmp)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, q := range []string{
		`CREATE TABLE patients (id text PRIMARY KEY, name text, age int, born date, tags text[], active boolean)`,
		`INSERT INTO patients VALUES ('d1', 'Ada', 36, '1990-12-10', '{a,b}', true), ('d2', 'Alan', 41, NULL, NULL, false), ('d3', 'Grace', 85, '1936-12-09', '{}', NULL)`,
		`CREATE TABLE secrets (v text)`,
		`GRANT SELECT ON patients TO ` + role,
	} {
		if _, err := src.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	u.User = url.User(role)
	return u.String(), dbName, role
}

func TestSyncDatabaseSource(t *testing.T) {
	dsn, _, _ := flowSourceDB(t)
	c, p := flowSetup(t, "sync-db")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeDatabase, map[string]any{"connectionString": dsn,
		"query": "SELECT id, name, age, born, tags, active FROM patients ORDER BY id -- trailing comment", "keyField": "id"})
	got := flowSync(t, c, ds.Id)
	if got.SyncStatus != client.Success || got.RecordsProcessed != 3 {
		t.Fatalf("database sync: %+v", got)
	}
	var doc string
	if err := fxDB(t).QueryRowContext(t.Context(), "SELECT doc::text FROM source_records WHERE data_source_id = $1 AND record_key = 'd1'", ds.Id).Scan(&doc); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"age": 36`, `"born": "1990-12-10"`, `"tags": ["a", "b"]`, `"active": true`} {
		if !strings.Contains(doc, want) {
			t.Errorf("record d1 %s lacks %s", doc, want)
		}
	}

	// Failures keep the records of the last good sync.
	ownDB := strings.TrimPrefix(mustURL(t, env.dsn).Path, "/")
	cases := []struct {
		name, conn, query, msg string
	}{
		{"bad query", dsn, "SELECT nope FROM patients", "the query failed"},
		{"not readable", dsn, "SELECT * FROM secrets", "permission denied"},
		{"a write", dsn, "SELECT id FROM patients FOR UPDATE", "read-only"},
		{"timeout", dsn, "SELECT pg_sleep(10)", "statement timeout"},
		{"superuser", strings.Replace(dsn, mustURL(t, dsn).User.Username()+"@", "postgres@", 1), "SELECT 1 AS id", "superuser"},
		{"the service's own database", replaceDB(t, dsn, ownDB), "SELECT 1 AS id", "own database"},
		{"the service's own database by another name", replaceHost(t, replaceDB(t, dsn, ownDB), "localhost"), "SELECT 1 AS id", "own database"},
		{"refused address", replaceHost(t, dsn, "10.20.30.40"), "SELECT 1", "refused"},
		{"unix socket", "host=/var/run/postgresql dbname=x user=y", "SELECT 1", "Unix sockets"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			upd := client.DataSourceUpdate{Config: &client.DataSourceConfig{"connectionString": tc.conn, "query": tc.query, "keyField": "id"}}
			if r, err := c.api.UpdateDataSourceWithResponse(t.Context(), ds.Id, nil, upd); err != nil || r.StatusCode() != 200 {
				t.Fatalf("update: %v %s", err, r.Body)
			}
			got := flowSync(t, c, ds.Id)
			if got.SyncStatus != client.Error || !strings.Contains(got.Message, tc.msg) {
				t.Errorf("sync: %+v, want error containing %q", got, tc.msg)
			}
			if keys := flowKeys(t, c, p.Id); strings.Join(keys, ",") != "d1,d2,d3" {
				t.Errorf("records after a failed sync: %v", keys)
			}
		})
	}
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func replaceDB(t testing.TB, dsn, db string) string {
	u := mustURL(t, dsn)
	u.Path = "/" + db
	return u.String()
}

func replaceHost(t testing.TB, dsn, host string) string {
	u := mustURL(t, dsn)
	u.Host = host + ":" + u.Port()
	return u.String()
}

func TestUploadFileSource(t *testing.T) {
	c, p := flowSetup(t, "upload")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeFile, map[string]any{"format": "csv", "keyField": "id", "delimiter": ";"})
	path := fmt.Sprintf("/api/datasources/%d/upload", ds.Id)
	upload := func(body io.Reader, ct string) client.DataSourceSync {
		t.Helper()
		resp, b := flowDo(t, c, "POST", path, body, ct)
		return flowSyncAnswer(t, "upload "+ct, resp, b)
	}

	// CSV with the configured delimiter, streamed (chunked, no Content-Length).
	csvBody := "\ufeffid;name;age\nf1;Ada;36\nf2;\"Lovelace; Ada\";\nf3;Grace;85\n"
	if got := upload(io.MultiReader(strings.NewReader(csvBody)), "text/csv"); got.SyncStatus != client.Success || got.RecordsProcessed != 3 {
		t.Fatalf("csv upload: %+v", got)
	}
	if keys := flowKeys(t, c, p.Id); strings.Join(keys, ",") != "f1,f2,f3" {
		t.Errorf("rows after csv upload: %v", keys)
	}
	var doc string
	if err := fxDB(t).QueryRowContext(t.Context(), "SELECT doc::text FROM source_records WHERE data_source_id = $1 AND record_key = 'f2'", ds.Id).Scan(&doc); err != nil ||
		doc != `{"id": "f2", "age": null, "name": "Lovelace; Ada"}` {
		t.Errorf("record f2: %s %v", doc, err)
	}
	// NDJSON by content type, a JSON array as application/json or as octet-stream with format json.
	if got := upload(strings.NewReader("{\"id\":\"n1\"}\n\n{\"id\":\"n2\"}\n"), "application/x-ndjson"); got.RecordsProcessed != 2 {
		t.Errorf("ndjson upload: %+v", got)
	}
	if got := upload(bytes.NewReader([]byte(`[{"id":"j1"},{"id":"j2"},{"id":"j3"}]`)), "application/json"); got.RecordsProcessed != 3 {
		t.Errorf("json upload: %+v", got)
	}
	if r, err := c.api.UpdateDataSourceWithResponse(t.Context(), ds.Id, nil, client.DataSourceUpdate{Config: &client.DataSourceConfig{"format": "json", "keyField": "id"}}); err != nil || r.StatusCode() != 200 {
		t.Fatal(err)
	}
	if got := upload(strings.NewReader(`[{"id":"o1"}]`), "application/octet-stream"); got.RecordsProcessed != 1 {
		t.Errorf("octet-stream upload: %+v", got)
	}

	// Unreadable files are failed syncs that keep the records.
	for _, tc := range []struct{ body, ct, msg string }{
		{"id,name\nx1,a\nx2", "text/csv", "has 1 fields"},
		{"id,name\nx1,\"unterminated\n", "text/csv", "CSV line"},
		{"id,name\n,a\n", "text/csv", "no key"},
		{"name\na\n", "text/csv", "no column \"id\""},
		{"{\"id\":\"x1\"}\n[1]\n", "application/x-ndjson", "not a JSON object"},
		{`[{"id":"x1"},{"id":"x1"}]`, "application/json", "same key"},
		{`[{"id":"x1"}`, "application/json", "invalid JSON"},
		{"", "application/json", "invalid JSON"},
	} {
		got := upload(strings.NewReader(tc.body), tc.ct)
		if got.SyncStatus != client.Error || !strings.Contains(got.Message, tc.msg) {
			t.Errorf("upload %q: %+v, want error containing %q", tc.body, got, tc.msg)
		}
		if keys := flowKeys(t, c, p.Id); strings.Join(keys, ",") != "o1" {
			t.Errorf("records after a failed upload: %v", keys)
		}
	}

	// Over the upload limit: 413 whether the size is announced or only found while streaming, and
	// the records stay. (The limit is larger than BODY_LIMIT's default: uploads stream past it.)
	var bigB strings.Builder
	bigB.WriteString("[")
	for i := 0; bigB.Len() < flowUploadLimit+1000; i++ {
		fmt.Fprintf(&bigB, `{"id":"b%d"},`, i)
	}
	big := bigB.String() + `{"id":"z"}]`
	for _, body := range []io.Reader{bytes.NewReader([]byte(big)), io.MultiReader(strings.NewReader(big))} {
		resp, b := flowDo(t, c, "POST", path, body, "application/json")
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("upload over the limit: %d %s", resp.StatusCode, b)
		}
	}
	under := "[" + strings.Repeat(`{"id":"b"},`, (1<<20)/11/8) + `{"id":"z"}]` // a body larger than most JSON requests
	if resp, b := flowDo(t, c, "POST", path, strings.NewReader(under), "application/json"); resp.StatusCode != 200 || !strings.Contains(string(b), "same key") {
		t.Errorf("upload under the limit: %d %s", resp.StatusCode, b)
	}
	if keys := flowKeys(t, c, p.Id); strings.Join(keys, ",") != "o1" {
		t.Errorf("records after refused uploads: %v", keys)
	}

	// Wrong media type, wrong source type, a sync of a file source.
	if resp, b := flowDo(t, c, "POST", path, strings.NewReader("x"), "text/plain"); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain upload: %d %s", resp.StatusCode, b)
	}
	api := fxDataSource(t, c, p.Id, client.DataSourceTypeCustom, map[string]any{})
	if resp, b := flowDo(t, c, "POST", fmt.Sprintf("/api/datasources/%d/upload", api.Id), strings.NewReader("a\n1\n"), "text/csv"); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("upload to a custom source: %d %s", resp.StatusCode, b)
	}
	if got := flowSync(t, c, ds.Id); got.SyncStatus != client.Success || got.RecordsProcessed != 1 || !strings.Contains(got.Message, "upload") {
		t.Errorf("sync of a file source: %+v", got)
	}
}

func TestPushCustomSource(t *testing.T) {
	c, p := flowSetup(t, "push")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeCustom, map[string]any{"keyField": "mrn"})
	path := fmt.Sprintf("/api/datasources/%d/records", ds.Id)
	push := func(lines ...string) (client.DataSourceSync, int, []byte) {
		t.Helper()
		resp, b := flowDo(t, c, "POST", path, io.MultiReader(strings.NewReader(strings.Join(lines, "\n"))), "application/x-ndjson")
		if resp.StatusCode != 200 {
			return client.DataSourceSync{}, resp.StatusCode, b
		}
		return flowSyncAnswer(t, "push", resp, b), 200, b
	}
	got, _, _ := push(`{"op":"upsert","record":{"mrn":"m1","name":"Ada"}}`, `{"op":"upsert","key":"m2","record":{"name":"Alan"}}`,
		`{"op":"upsert","record":{"mrn":3,"name":"Grace"}}`)
	if got.SyncStatus != client.Success || got.RecordsProcessed != 3 || got.RecordsDeleted == nil || *got.RecordsDeleted != 0 {
		t.Fatalf("push: %+v", got)
	}
	got, _, _ = push(`{"op":"delete","key":"m2"}`, `{"op":"upsert","key":"m1","record":{"mrn":"m1","name":"Ada L."}}`, `{"op":"upsert","record":{"mrn":"m4"}}`)
	if got.RecordsProcessed != 2 || *got.RecordsDeleted != 1 {
		t.Errorf("second push: %+v", got)
	}
	if keys := flowKeys(t, c, p.Id); strings.Join(keys, ",") != "m1,3,m4" {
		t.Errorf("rows after pushes: %v", keys)
	}
	// A malformed line applies nothing.
	got, _, _ = push(`{"op":"delete","key":"m1"}`, `{"op":"upsert"}`)
	if got.SyncStatus != client.Error || !strings.Contains(got.Message, "operation 2") {
		t.Errorf("malformed push: %+v", got)
	}
	got, _, _ = push(`{"op":"delete","key":"m1"}`, `not json`)
	if got.SyncStatus != client.Error {
		t.Errorf("push of bad JSON: %+v", got)
	}
	if keys := flowKeys(t, c, p.Id); strings.Join(keys, ",") != "m1,3,m4" {
		t.Errorf("rows after failed pushes: %v", keys)
	}
	// Media type, source type, size.
	if resp, b := flowDo(t, c, "POST", path, strings.NewReader(`{"op":"delete","key":"m1"}`), "application/json"); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("JSON push: %d %s", resp.StatusCode, b)
	}
	file := fxDataSource(t, c, p.Id, client.DataSourceTypeFile, map[string]any{"format": "csv"})
	if resp, b := flowDo(t, c, "POST", fmt.Sprintf("/api/datasources/%d/records", file.Id), strings.NewReader(`{"op":"delete","key":"m1"}`), "application/x-ndjson"); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("push to a file source: %d %s", resp.StatusCode, b)
	}
	big := strings.Repeat(`{"op":"delete","key":"zzzzzzzzzzzzzzzzzzzz"}`+"\n", flowUploadLimit/40)
	if _, status, b := push(big); status != http.StatusRequestEntityTooLarge {
		t.Errorf("push over the limit: %d %s", status, b)
	}
	// Sync of a custom source keeps the pushed records.
	if got := flowSync(t, c, ds.Id); got.SyncStatus != client.Success || got.RecordsProcessed != 3 {
		t.Errorf("sync of a custom source: %+v", got)
	}
}

func TestSyncConcurrencyAndHistory(t *testing.T) {
	c, p := flowSetup(t, "sync-conc")
	slow := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, map[string]any{"url": flowEnv.api.URL + "/slow", "timeoutMs": 1500})
	done := make(chan client.DataSourceSync)
	before := flowEnv.hits.Load()
	go func() {
		resp, body := flowDo(t, c, "POST", fmt.Sprintf("/api/datasources/%d/sync", slow.Id), nil, "")
		var out client.DataSourceSync
		_ = json.Unmarshal(body, &out)
		if resp.StatusCode != 200 {
			t.Errorf("first sync: %d %s", resp.StatusCode, body)
		}
		done <- out
	}()
	// Wait until the first sync holds the lock (it has reached the upstream).
	for i := 0; i < 100 && flowEnv.hits.Load() == before; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	for _, path := range []string{fmt.Sprintf("/api/datasources/%d/sync", slow.Id), fmt.Sprintf("/api/panels/%d/datasources/%d/sync", p.Id, slow.Id)} {
		resp, body := flowDo(t, c, "POST", path, nil, "")
		if resp.StatusCode != http.StatusConflict || !strings.Contains(fxProblem(t, body).Message, "already running") {
			t.Errorf("second sync at %s: %d %s", path, resp.StatusCode, body)
		}
	}
	first := <-done
	if first.SyncStatus != client.Error {
		t.Errorf("first sync: %+v", first)
	}
	if got := flowSync(t, c, slow.Id); got.SyncStatus != client.Error {
		t.Errorf("sync after the first finished: %+v", got)
	}

	// An upload or a push whose body is still arriving holds the source too.
	file := fxDataSource(t, c, p.Id, client.DataSourceTypeFile, map[string]any{"format": "ndjson", "keyField": "id"})
	custom := fxDataSource(t, c, p.Id, client.DataSourceTypeCustom, map[string]any{})
	for _, tc := range []struct {
		path, ct, first, rest string
	}{
		{fmt.Sprintf("/api/datasources/%d/upload", file.Id), "application/x-ndjson", `{"id":"a"}` + "\n", `{"id":"b"}` + "\n"},
		{fmt.Sprintf("/api/datasources/%d/records", custom.Id), "application/x-ndjson", `{"op":"upsert","key":"a","record":{}}` + "\n", `{"op":"delete","key":"a"}`},
	} {
		pr, pw := io.Pipe()
		held := make(chan []byte)
		go func() {
			// Sent directly: the validating transport reads a request's body whole before sending it.
			req, _ := http.NewRequest("POST", flowService(t)+tc.path, pr)
			req.Header.Set("Authorization", "Bearer "+c.token)
			req.Header.Set("Content-Type", tc.ct)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				held <- nil
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Errorf("held request: %d %s", resp.StatusCode, body)
			}
			held <- body
		}()
		if _, err := io.WriteString(pw, tc.first); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // the first line has reached the handler, which holds the lock
		resp, body := flowDo(t, c, "POST", tc.path, strings.NewReader(tc.rest), tc.ct)
		if resp.StatusCode != http.StatusConflict {
			t.Errorf("second request to %s while one streams: %d %s", tc.path, resp.StatusCode, body)
		}
		_, _ = io.WriteString(pw, tc.rest)
		_ = pw.Close()
		if body := <-held; !strings.Contains(string(body), `"syncStatus":"success"`) {
			t.Errorf("held request: %s", body)
		}
	}

	// History: newest first, with statuses, counts, durations and messages; paged by cursor.
	r, err := c.api.ListDataSourceSyncsWithResponse(t.Context(), slow.Id, &client.ListDataSourceSyncsParams{Limit: ptr(1)})
	if err != nil || r.JSON200 == nil {
		t.Fatalf("history: %v %s", err, r.Body)
	}
	h := r.JSON200
	if h.Total != 2 || !h.HasMore || len(h.Syncs) != 1 || h.NextCursor == nil || h.Syncs[0].Trigger != "sync" ||
		h.Syncs[0].SyncStatus != client.Error || h.Syncs[0].DurationMs < 1 || h.Syncs[0].StartedBy != c.user || !strings.Contains(h.Syncs[0].Message, "in time") {
		t.Errorf("history page 1: %+v", h)
	}
	r, err = c.api.ListDataSourceSyncsWithResponse(t.Context(), slow.Id, &client.ListDataSourceSyncsParams{Limit: ptr(1), Cursor: h.NextCursor})
	if err != nil || r.JSON200 == nil || len(r.JSON200.Syncs) != 1 || r.JSON200.HasMore || r.JSON200.Syncs[0].Id >= h.Syncs[0].Id {
		t.Errorf("history page 2: %v %s", err, r.Body)
	}
	r, _ = c.api.ListDataSourceSyncsWithResponse(t.Context(), slow.Id, &client.ListDataSourceSyncsParams{Offset: ptr(1)})
	if r.JSON200 == nil || len(r.JSON200.Syncs) != 1 || r.JSON200.Syncs[0].DurationMs < 1000 {
		t.Errorf("history by offset: %s", r.Body)
	}
	// A cursor of another source, a malformed one, an expired one.
	other := fxDataSource(t, c, p.Id, client.DataSourceTypeCustom, map[string]any{})
	for _, tc := range []struct {
		id     int64
		cursor string
		status int
	}{
		{other.Id, *h.NextCursor, 400},
		{slow.Id, "not-a-cursor", 400},
		{slow.Id, flowExpiredCursor(c.tenant, slow.Id), 410},
	} {
		resp, body := flowDo(t, c, "GET", fmt.Sprintf("/api/datasources/%d/syncs?cursor=%s", tc.id, url.QueryEscape(tc.cursor)), nil, "")
		if resp.StatusCode != tc.status {
			t.Errorf("history with cursor %q: %d %s", tc.cursor, resp.StatusCode, body)
		}
	}
	if resp, body := flowDo(t, c, "GET", "/api/datasources/999999999/syncs", nil, ""); resp.StatusCode != 404 {
		t.Errorf("history of an unknown source: %d %s", resp.StatusCode, body)
	}
}

func flowExpiredCursor(tenant string, id int64) string {
	return signedCursor("syncs", fmt.Sprintf("%s/%d", tenant, id), &curs.Key{ID: 1}, time.Now().Add(-48*time.Hour))
}

// TestSyncPermissions: editors sync, upload and push; viewers read rows and history; others
// see nothing.
func TestSyncPermissions(t *testing.T) {
	c, p := flowSetup(t, "sync-perm")
	viewer := flowCaller(t, c.tenant, "viewer", auth.RoleUser)
	editor := flowCaller(t, c.tenant, "editor", auth.RoleUser)
	stranger := flowCaller(t, c.tenant, "stranger", auth.RoleUser)
	outsider := flowCaller(t, newTenant("sync-perm-other"), "owner", auth.RoleAdmin)
	fxGrant(t, c.tenant, p.Id, viewer.email, "viewer")
	fxGrant(t, c.tenant, p.Id, editor.email, "editor")
	file := fxDataSource(t, c, p.Id, client.DataSourceTypeFile, map[string]any{"format": "csv", "keyField": "id"})
	custom := fxDataSource(t, c, p.Id, client.DataSourceTypeCustom, map[string]any{})
	ops := []struct {
		name, method, path, ct, body string
	}{
		{"sync", "POST", fmt.Sprintf("/api/datasources/%d/sync", file.Id), "", ""},
		{"nested sync", "POST", fmt.Sprintf("/api/panels/%d/datasources/%d/sync", p.Id, file.Id), "application/json", ""},
		{"upload", "POST", fmt.Sprintf("/api/datasources/%d/upload", file.Id), "text/csv", "id\nq1\n"},
		{"push", "POST", fmt.Sprintf("/api/datasources/%d/records", custom.Id), "application/x-ndjson", `{"op":"upsert","key":"k","record":{}}`},
	}
	for _, op := range ops {
		for _, who := range []struct {
			c      *caller
			status int
		}{{viewer, 403}, {stranger, 404}, {outsider, 404}, {nil, 401}, {editor, 200}} {
			resp, body := flowDo(t, who.c, op.method, op.path, strings.NewReader(op.body), op.ct)
			if resp.StatusCode != who.status {
				name := "no token"
				if who.c != nil {
					name = who.c.user
				}
				t.Errorf("%s by %s: %d, want %d: %s", op.name, name, resp.StatusCode, who.status, body)
			}
		}
	}
	for _, who := range []struct {
		c      *caller
		status int
	}{{viewer, 200}, {editor, 200}, {stranger, 404}, {outsider, 404}, {nil, 401}} {
		for _, path := range []string{fmt.Sprintf("/api/panels/%d/rows", p.Id), fmt.Sprintf("/api/datasources/%d/syncs", file.Id)} {
			if resp, body := flowDo(t, who.c, "GET", path, nil, ""); resp.StatusCode != who.status {
				t.Errorf("GET %s: %d, want %d: %s", path, resp.StatusCode, who.status, body)
			}
		}
	}
	// The nested sync path refuses a source of another panel; a tenant assertion must match.
	other := fxPanel(t, c, "other")
	if resp, body := flowDo(t, c, "POST", fmt.Sprintf("/api/panels/%d/datasources/%d/sync", other.Id, file.Id), nil, ""); resp.StatusCode != 404 {
		t.Errorf("nested sync under another panel: %d %s", resp.StatusCode, body)
	}
	if resp, body := flowDo(t, c, "GET", fmt.Sprintf("/api/panels/%d/rows?tenantId=someone-else", p.Id), nil, ""); resp.StatusCode != 403 {
		t.Errorf("rows with another tenant asserted: %d %s", resp.StatusCode, body)
	}
	if resp, body := flowDo(t, c, "GET", fmt.Sprintf("/api/datasources/%d/syncs?tenantId=someone-else", file.Id), nil, ""); resp.StatusCode != 403 {
		t.Errorf("history with another tenant asserted: %d %s", resp.StatusCode, body)
	}
	if resp, body := flowDo(t, c, "POST", "/api/datasources/abc/sync", nil, ""); resp.StatusCode != 400 {
		t.Errorf("sync of a malformed id: %d %s", resp.StatusCode, body)
	}
	if resp, body := flowDo(t, c, "POST", fmt.Sprintf("/api/panels/%d/datasources/abc/sync", p.Id), nil, ""); resp.StatusCode != 400 {
		t.Errorf("nested sync of a malformed id: %d %s", resp.StatusCode, body)
	}
	if resp, body := flowDo(t, c, "POST", "/api/datasources/0/upload", strings.NewReader("a"), "text/csv"); resp.StatusCode != 400 {
		t.Errorf("upload to id 0: %d %s", resp.StatusCode, body)
	}
	if resp, body := flowDo(t, c, "POST", "/api/datasources/0/records", strings.NewReader("a"), "application/x-ndjson"); resp.StatusCode != 400 {
		t.Errorf("push to id 0: %d %s", resp.StatusCode, body)
	}
}
