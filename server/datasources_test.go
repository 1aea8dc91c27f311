package server_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the tests' direct SQL

	client "github.com/panels/panels/clients/go"
	"github.com/panels/panels/server/auth"
	curs "github.com/panels/panels/server/cursor"
)

// Helpers shared by datasources_test.go, columns_test.go and changes_test.go (prefix fx).

var fxDBOnce struct {
	sync.Once
	db  *sql.DB
	err error
}

// fxDB is a database/sql handle on the test database, for setup and checks the API cannot do.
func fxDB(t testing.TB) *sql.DB {
	t.Helper()
	fxDBOnce.Do(func() { fxDBOnce.db, fxDBOnce.err = sql.Open("pgx", env.dsn) })
	if fxDBOnce.err != nil {
		t.Fatal(fxDBOnce.err)
	}
	return fxDBOnce.db
}

// fxJSON sends v as a JSON body (nil: no body) with the exact method and path.
func fxJSON(t testing.TB, method, path, token string, v any, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	h := map[string]string{"Content-Type": "application/json"}
	for k, val := range headers {
		h[k] = val
	}
	return raw(t, method, path, token, body, h)
}

func fxProblem(t testing.TB, body []byte) client.Problem {
	t.Helper()
	var p client.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("not a problem body: %v: %s", err, body)
	}
	return p
}

// fxFields lists the fields named by a problem's errors[].
func fxFields(p client.Problem) []string {
	out := make([]string, len(p.Errors))
	for i, e := range p.Errors {
		out[i] = e.Field
	}
	return out
}

func fxPanel(t testing.TB, c *caller, name string) client.Panel {
	t.Helper()
	r, err := c.api.CreatePanelWithResponse(t.Context(), nil, client.PanelCreate{Name: name})
	if err != nil || r.StatusCode() != http.StatusCreated {
		t.Fatalf("create panel: %v %d %s", err, fxStatus(r.HTTPResponse), r.Body)
	}
	return *r.JSON201
}

func fxDataSource(t testing.TB, c *caller, panelID int64, typ client.DataSourceType, cfg map[string]any) client.DataSource {
	t.Helper()
	r, err := c.api.CreateDataSourceWithResponse(t.Context(), panelID, nil, client.DataSourceCreate{Type: typ, Config: cfg})
	if err != nil || r.StatusCode() != http.StatusCreated {
		t.Fatalf("create data source: %v %d %s", err, fxStatus(r.HTTPResponse), r.Body)
	}
	return *r.JSON201
}

// fxUISource is the config the original web UI sends.
func fxUISource() map[string]any { return map[string]any{"endpoint": "/api/patients", "method": "GET"} }

func fxStatus(r *http.Response) int {
	if r == nil {
		return 0
	}
	return r.StatusCode
}

// fxChanges lists a panel's changes, newest first (up to 500).
func fxChanges(t testing.TB, c *caller, panelID int64) []client.PanelChange {
	t.Helper()
	r, err := c.api.ListPanelChangesWithResponse(t.Context(), &client.ListPanelChangesParams{PanelId: &panelID, Limit: ptr(500)})
	if err != nil || r.StatusCode() != http.StatusOK {
		t.Fatalf("list changes: %v %d %s", err, fxStatus(r.HTTPResponse), r.Body)
	}
	return r.JSON200.Changes
}

// fxChangesOf keeps the changes of one type.
func fxChangesOf(all []client.PanelChange, ct client.ChangeType) []client.PanelChange {
	var out []client.PanelChange
	for _, ch := range all {
		if ch.ChangeType == ct {
			out = append(out, ch)
		}
	}
	return out
}

// fxValues returns a change's old or new values (nil when null).
func fxValues(n interface {
	IsNull() bool
	Get() (map[string]any, error)
}) map[string]any {
	if n.IsNull() {
		return nil
	}
	v, _ := n.Get()
	return v
}

// fxGrant writes an ACL row on a panel directly (ACL routes are not implemented yet).
func fxGrant(t testing.TB, tenant string, panelID int64, principal, permission string) {
	t.Helper()
	if _, err := fxDB(t).ExecContext(t.Context(), `INSERT INTO acls (tenant_id, resource_type, resource_id, panel_id, user_email, permission)
		VALUES ($1, 'panel', $2, $2, $3, $4)`, tenant, panelID, principal, permission); err != nil {
		t.Fatal(err)
	}
}

// fxStoredConfig reads a data source's config as stored (unmasked).
func fxStoredConfig(t testing.TB, id int64) map[string]any {
	t.Helper()
	var b []byte
	if err := fxDB(t).QueryRowContext(t.Context(), `SELECT config FROM data_sources WHERE id = $1`, id).Scan(&b); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// fxNormal round-trips v through JSON, so maps from different decoders compare equal.
func fxNormal(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func fxDSPath(id int64) string { return "/api/datasources/" + strconv.FormatInt(id, 10) }
func fxNestedDSPath(panelID, id int64) string {
	return fmt.Sprintf("/api/panels/%d/datasources/%d", panelID, id)
}

// fxDSForm abstracts the two paths of a data-source update or delete.
type fxDSForm struct {
	name   string
	update func(c *caller, panelID, id int64, ifMatch *string, b client.DataSourceUpdate) (int, []byte, *client.DataSource, http.Header)
	delete func(c *caller, panelID, id int64, force bool, ifMatch *string) (int, []byte)
	path   func(panelID, id int64) string
}

var fxDSForms = []fxDSForm{
	{
		name: "seed",
		update: func(c *caller, _, id int64, ifMatch *string, b client.DataSourceUpdate) (int, []byte, *client.DataSource, http.Header) {
			r, err := c.api.UpdateDataSourceWithResponse(c.t.Context(), id, &client.UpdateDataSourceParams{IfMatch: ifMatch}, b)
			if err != nil {
				c.t.Fatal(err)
			}
			return r.StatusCode(), r.Body, r.JSON200, r.HTTPResponse.Header
		},
		delete: func(c *caller, _, id int64, force bool, ifMatch *string) (int, []byte) {
			r, err := c.api.DeleteDataSourceWithResponse(c.t.Context(), id, &client.DeleteDataSourceParams{Force: &force, IfMatch: ifMatch})
			if err != nil {
				c.t.Fatal(err)
			}
			return r.StatusCode(), r.Body
		},
		path: func(_, id int64) string { return fxDSPath(id) },
	},
	{
		name: "nested",
		update: func(c *caller, panelID, id int64, ifMatch *string, b client.DataSourceUpdate) (int, []byte, *client.DataSource, http.Header) {
			r, err := c.api.UpdatePanelDataSourceWithResponse(c.t.Context(), panelID, id, &client.UpdatePanelDataSourceParams{IfMatch: ifMatch}, b)
			if err != nil {
				c.t.Fatal(err)
			}
			return r.StatusCode(), r.Body, r.JSON200, r.HTTPResponse.Header
		},
		delete: func(c *caller, panelID, id int64, force bool, ifMatch *string) (int, []byte) {
			r, err := c.api.DeletePanelDataSourceWithResponse(c.t.Context(), panelID, id, &client.DeletePanelDataSourceParams{Force: &force, IfMatch: ifMatch})
			if err != nil {
				c.t.Fatal(err)
			}
			return r.StatusCode(), r.Body
		},
		path: fxNestedDSPath,
	},
}

func TestDataSourceCRUD(t *testing.T) {
	for _, form := range fxDSForms {
		t.Run(form.name, func(t *testing.T) {
			c := newCaller(t, newTenant("dscrud"), "alice", auth.RoleBuilder)
			ctx := t.Context()
			p := fxPanel(t, c, "Intake")

			created, err := c.api.CreateDataSourceWithResponse(ctx, p.Id, nil, client.DataSourceCreate{Type: client.DataSourceTypeApi, Config: fxUISource()})
			if err != nil || created.StatusCode() != http.StatusCreated {
				t.Fatalf("create: %v %d %s", err, created.StatusCode(), created.Body)
			}
			ds := created.JSON201
			if ds.PanelId != p.Id || ds.Type != client.DataSourceTypeApi || !reflect.DeepEqual(fxNormal(ds.Config), fxNormal(fxUISource())) {
				t.Errorf("created %+v", ds)
			}
			if !ds.LastSync.IsNull() {
				t.Errorf("lastSync after create: want null, got %+v", ds.LastSync)
			}
			if loc := created.HTTPResponse.Header.Get("Location"); loc != fxDSPath(ds.Id) {
				t.Errorf("Location %q, want %q", loc, fxDSPath(ds.Id))
			}
			if created.HTTPResponse.Header.Get("ETag") == "" {
				t.Error("201 without ETag")
			}

			got, err := c.api.GetDataSourceWithResponse(ctx, ds.Id, nil)
			if err != nil || got.StatusCode() != http.StatusOK {
				t.Fatalf("get: %v %d %s", err, got.StatusCode(), got.Body)
			}
			if !reflect.DeepEqual(fxNormal(got.JSON200), fxNormal(ds)) {
				t.Errorf("get returned %s, create returned %+v", got.Body, ds)
			}
			if !got.JSON200.LastSync.IsNull() {
				t.Error("lastSync of a never-synced source is not null")
			}

			list, err := c.api.ListDataSourcesWithResponse(ctx, p.Id, nil)
			if err != nil || list.StatusCode() != http.StatusOK || len(*list.JSON200) != 1 || (*list.JSON200)[0].Id != ds.Id {
				t.Fatalf("list: %v %d %s", err, list.StatusCode(), list.Body)
			}
			if list.HTTPResponse.Header.Get("Link") != "" {
				t.Errorf("Link on the only page: %q", list.HTTPResponse.Header.Get("Link"))
			}

			newCfg := map[string]any{"url": "https://fhir.example.com/Patient", "method": "POST", "recordsPath": "/entry"}
			st, body, upd, hdr := form.update(c, p.Id, ds.Id, nil, client.DataSourceUpdate{Config: ptr(client.DataSourceConfig(newCfg))})
			if st != http.StatusOK {
				t.Fatalf("update: %d %s", st, body)
			}
			if upd.Id != ds.Id || upd.Type != client.DataSourceTypeApi || !reflect.DeepEqual(fxNormal(upd.Config), fxNormal(newCfg)) || hdr.Get("ETag") == "" {
				t.Errorf("updated %+v (ETag %q)", upd, hdr.Get("ETag"))
			}
			// Type only: the config stays.
			st, body, upd, _ = form.update(c, p.Id, ds.Id, nil, client.DataSourceUpdate{Type: ptr(client.DataSourceTypeCustom)})
			if st != http.StatusOK || upd.Type != client.DataSourceTypeCustom || !reflect.DeepEqual(fxNormal(upd.Config), fxNormal(newCfg)) {
				t.Fatalf("type-only update: %d %s", st, body)
			}
			got, _ = c.api.GetDataSourceWithResponse(ctx, ds.Id, nil)
			if got.StatusCode() != http.StatusOK || got.JSON200.Type != client.DataSourceTypeCustom || !reflect.DeepEqual(fxNormal(got.JSON200.Config), fxNormal(newCfg)) {
				t.Errorf("after updates: %d %s", got.StatusCode(), got.Body)
			}
			if n := len(fxChangesOf(fxChanges(t, c, p.Id), client.SourceChanged)); n != 2 {
				t.Errorf("source_changed rows: %d, want 2", n)
			}

			if st, body := form.delete(c, p.Id, ds.Id, false, nil); st != http.StatusNoContent {
				t.Fatalf("delete: %d %s", st, body)
			}
			gone, _ := c.api.GetDataSourceWithResponse(ctx, ds.Id, nil)
			if gone.StatusCode() != http.StatusNotFound {
				t.Errorf("get after delete: %d, want 404", gone.StatusCode())
			}
			if st, _ := form.delete(c, p.Id, ds.Id, false, nil); st != http.StatusNotFound {
				t.Errorf("second delete: %d, want 404", st)
			}
			if st, _, _, _ := form.update(c, p.Id, ds.Id, nil, client.DataSourceUpdate{Type: ptr(client.DataSourceTypeCustom)}); st != http.StatusNotFound {
				t.Errorf("update after delete: %d, want 404", st)
			}
			list, _ = c.api.ListDataSourcesWithResponse(ctx, p.Id, nil)
			if list.StatusCode() != http.StatusOK || len(*list.JSON200) != 0 {
				t.Errorf("list after delete: %d %s", list.StatusCode(), list.Body)
			}
		})
	}
}

func TestDataSourceConfigValidation(t *testing.T) {
	c := newCaller(t, newTenant("dscfg"), "alice", auth.RoleBuilder)
	p := fxPanel(t, c, "Configs")

	valid := []struct {
		name string
		typ  client.DataSourceType
		cfg  map[string]any
	}{
		{"api ui endpoint", client.DataSourceTypeApi, fxUISource()},
		{"api endpoint only", client.DataSourceTypeApi, map[string]any{"endpoint": "/fhir/Patient"}},
		{"api url full", client.DataSourceTypeApi, map[string]any{"url": "https://fhir.example.com/Patient?_count=10", "method": "POST",
			"headers": map[string]any{"Accept": "application/fhir+json"}, "recordsPath": "/entry", "keyField": "id", "timeoutMs": 5000, "vendor": "epic"}},
		{"api url with empty endpoint", client.DataSourceTypeApi, map[string]any{"url": "http://localhost:8080/x", "endpoint": ""}},
		{"database url", client.DataSourceTypeDatabase, map[string]any{"connectionString": "postgres://app:pw@db.example:5432/clinic", "query": "SELECT * FROM patients", "refreshInterval": "5m", "keyField": "mrn"}},
		{"database key=value", client.DataSourceTypeDatabase, map[string]any{"connectionString": "host=db port=5432 user=app password=x dbname=clinic", "query": "SELECT 1", "refreshInterval": 300}},
		{"file csv", client.DataSourceTypeFile, map[string]any{"format": "csv", "delimiter": ";", "keyField": "id"}},
		{"file ndjson", client.DataSourceTypeFile, map[string]any{"format": "ndjson"}},
		{"custom anything", client.DataSourceTypeCustom, map[string]any{"plugin": "hl7", "options": []any{1.0, "two", map[string]any{"three": true}}}},
		{"custom empty", client.DataSourceTypeCustom, map[string]any{}},
	}
	for _, tc := range valid {
		t.Run("valid/"+tc.name, func(t *testing.T) {
			r, err := c.api.CreateDataSourceWithResponse(t.Context(), p.Id, nil, client.DataSourceCreate{Type: tc.typ, Config: tc.cfg})
			if err != nil || r.StatusCode() != http.StatusCreated {
				t.Fatalf("%v %d %s", err, r.StatusCode(), r.Body)
			}
			if r.JSON201.Type != tc.typ {
				t.Errorf("type %q", r.JSON201.Type)
			}
			// Configs come back as given (extra keys kept), secrets masked: every header value, the passwords.
			want := fxNormal(tc.cfg).(map[string]any)
			switch tc.name {
			case "api url full":
				want["headers"] = map[string]any{"Accept": fxMask}
			case "database url":
				want["connectionString"] = "postgres://app:" + fxMask + "@db.example:5432/clinic"
			case "database key=value":
				want["connectionString"] = "host=db port=5432 user=app password=" + fxMask + " dbname=clinic"
			}
			if !reflect.DeepEqual(fxNormal(r.JSON201.Config), want) {
				t.Errorf("config %v, want %v", r.JSON201.Config, want)
			}
		})
	}

	invalid := []struct {
		name   string
		typ    string
		cfg    map[string]any
		fields []string
	}{
		{"api nothing", "api", map[string]any{}, []string{"body.config.url"}},
		{"api both", "api", map[string]any{"url": "https://a.example", "endpoint": "/b"}, []string{"body.config.url"}},
		{"api relative url", "api", map[string]any{"url": "/api/patients"}, []string{"body.config.url"}},
		{"api ftp url", "api", map[string]any{"url": "ftp://files.example/x"}, []string{"body.config.url"}},
		{"api url not string", "api", map[string]any{"url": 42}, []string{"body.config.url"}},
		{"api endpoint without slash", "api", map[string]any{"endpoint": "api/patients", "method": "GET"}, []string{"body.config.endpoint"}},
		{"api endpoint other host", "api", map[string]any{"endpoint": "//evil.example/x"}, []string{"body.config.endpoint"}},
		{"api method", "api", map[string]any{"endpoint": "/p", "method": "DELETE"}, []string{"body.config.method"}},
		{"api headers not object", "api", map[string]any{"endpoint": "/p", "headers": "Authorization: x"}, []string{"body.config.headers"}},
		{"api header not string", "api", map[string]any{"endpoint": "/p", "headers": map[string]any{"X-Count": 5}}, []string{"body.config.headers.X-Count"}},
		{"api recordsPath", "api", map[string]any{"endpoint": "/p", "recordsPath": "entry"}, []string{"body.config.recordsPath"}},
		{"api keyField empty", "api", map[string]any{"endpoint": "/p", "keyField": ""}, []string{"body.config.keyField"}},
		{"api timeout zero", "api", map[string]any{"endpoint": "/p", "timeoutMs": 0}, []string{"body.config.timeoutMs"}},
		{"api timeout fraction", "api", map[string]any{"endpoint": "/p", "timeoutMs": 1.5}, []string{"body.config.timeoutMs"}},
		{"api several", "api", map[string]any{"endpoint": "p", "method": "PUT", "timeoutMs": 999999}, []string{"body.config.endpoint", "body.config.method", "body.config.timeoutMs"}},
		{"database nothing", "database", map[string]any{}, []string{"body.config.connectionString", "body.config.query"}},
		{"database mysql", "database", map[string]any{"connectionString": "mysql://u:p@h/db", "query": "SELECT 1"}, []string{"body.config.connectionString"}},
		{"database kv without host", "database", map[string]any{"connectionString": "user=app dbname=x", "query": "SELECT 1"}, []string{"body.config.connectionString"}},
		{"database blank query", "database", map[string]any{"connectionString": "postgres://db/x", "query": "   "}, []string{"body.config.query"}},
		{"database refresh", "database", map[string]any{"connectionString": "postgres://db/x", "query": "SELECT 1", "refreshInterval": "soon"}, []string{"body.config.refreshInterval"}},
		{"file nothing", "file", map[string]any{}, []string{"body.config.format"}},
		{"file xml", "file", map[string]any{"format": "xml"}, []string{"body.config.format"}},
		{"file delimiter", "file", map[string]any{"format": "csv", "delimiter": ";;"}, []string{"body.config.delimiter"}},
	}
	for _, tc := range invalid {
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			resp, body := fxJSON(t, http.MethodPost, fmt.Sprintf("/api/panels/%d/datasources", p.Id), c.token,
				map[string]any{"type": tc.typ, "config": tc.cfg}, nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			prob := fxProblem(t, body)
			if got := fxFields(prob); !slices.Equal(got, tc.fields) {
				t.Errorf("errors[] fields %v, want %v (%s)", got, tc.fields, body)
			}
			if prob.Status != http.StatusBadRequest || prob.Message != prob.Detail || prob.Detail == "" {
				t.Errorf("problem %+v", prob)
			}
		})
	}

	// An unknown type is a 400 on body.type.
	resp, body := fxJSON(t, http.MethodPost, fmt.Sprintf("/api/panels/%d/datasources", p.Id), c.token,
		map[string]any{"type": "ftp", "config": map[string]any{}}, nil)
	if resp.StatusCode != http.StatusBadRequest || !slices.Contains(fxFields(fxProblem(t, body)), "body.type") {
		t.Errorf("unknown type: %d %s", resp.StatusCode, body)
	}

	// Nothing invalid was stored.
	list, _ := c.api.ListDataSourcesWithResponse(t.Context(), p.Id, &client.ListDataSourcesParams{Limit: ptr(500)})
	if list.StatusCode() != http.StatusOK || len(*list.JSON200) != len(valid) {
		t.Errorf("sources stored: %d %s, want %d", list.StatusCode(), list.Body, len(valid))
	}

	// Updates are checked the same way, on both paths, on the merged result.
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	for _, form := range fxDSForms {
		for _, tc := range []struct {
			body   map[string]any
			fields []string
		}{
			{map[string]any{"config": map[string]any{"endpoint": "patients"}}, []string{"body.config.endpoint"}},
			{map[string]any{"config": map[string]any{}}, []string{"body.config.url"}},
			{map[string]any{"type": "file"}, []string{"body.config.format"}},
			{map[string]any{"type": "database", "config": map[string]any{"connectionString": "postgres://db/x"}}, []string{"body.config.query"}},
		} {
			resp, body := fxJSON(t, http.MethodPut, form.path(p.Id, ds.Id), c.token, tc.body, nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s PUT %v: %d, want 400: %s", form.name, tc.body, resp.StatusCode, body)
				continue
			}
			if got := fxFields(fxProblem(t, body)); !slices.Equal(got, tc.fields) {
				t.Errorf("%s PUT %v: fields %v, want %v", form.name, tc.body, got, tc.fields)
			}
		}
	}
	got, _ := c.api.GetDataSourceWithResponse(t.Context(), ds.Id, nil)
	if got.StatusCode() != http.StatusOK || got.JSON200.Type != client.DataSourceTypeApi || !reflect.DeepEqual(fxNormal(got.JSON200.Config), fxNormal(fxUISource())) {
		t.Errorf("a refused update changed the source: %s", got.Body)
	}
	if n := len(fxChangesOf(fxChanges(t, c, p.Id), client.SourceChanged)); n != 0 {
		t.Errorf("refused updates recorded %d source_changed rows", n)
	}
}

const fxMask = "********"

// Secret values used by the masking tests; none may ever appear in a response.
var fxSecrets = []string{"s3cr3t-bearer", "k-apikey-123", "t-token-456", "hunter2pw", "cs-nested-789", "pw-field-555", "x-hdr-secret"}

func fxSecretAPIConfig() map[string]any {
	return map[string]any{
		"url":      "https://fhir.example.com/Patient",
		"method":   "GET",
		"headers":  map[string]any{"Authorization": "Bearer s3cr3t-bearer", "X-Custom": "x-hdr-secret"},
		"apiKey":   "k-apikey-123",
		"token":    "t-token-456",
		"keyField": "id",
		"auth":     map[string]any{"clientId": "panels", "clientSecret": "cs-nested-789"},
	}
}

func fxSecretDBConfig() map[string]any {
	return map[string]any{
		"connectionString": "postgres://app:hunter2pw@db.example:5432/clinic?sslmode=require",
		"query":            "SELECT * FROM patients",
		"password":         "pw-field-555",
	}
}

// fxAssertNoSecrets fails when any secret value appears in a response body.
func fxAssertNoSecrets(t testing.TB, what string, body []byte) {
	t.Helper()
	for _, s := range fxSecrets {
		if strings.Contains(string(body), s) {
			t.Errorf("%s leaks secret %q: %s", what, s, body)
		}
	}
}

func fxAssertMaskedAPI(t testing.TB, what string, cfg map[string]any) {
	t.Helper()
	want := map[string]any{
		"url": "https://fhir.example.com/Patient", "method": "GET",
		"headers": map[string]any{"Authorization": fxMask, "X-Custom": fxMask},
		"apiKey":  fxMask, "token": fxMask, "keyField": "id",
		"auth": map[string]any{"clientId": "panels", "clientSecret": fxMask},
	}
	if !reflect.DeepEqual(fxNormal(cfg), fxNormal(want)) {
		t.Errorf("%s: config %v, want %v", what, cfg, want)
	}
}

func fxAssertMaskedDB(t testing.TB, what string, cfg map[string]any) {
	t.Helper()
	want := map[string]any{
		"connectionString": "postgres://app:" + fxMask + "@db.example:5432/clinic?sslmode=require",
		"query":            "SELECT * FROM patients",
		"password":         fxMask,
	}
	if !reflect.DeepEqual(fxNormal(cfg), fxNormal(want)) {
		t.Errorf("%s: config %v, want %v", what, cfg, want)
	}
}

func TestDataSourceSecretsMasked(t *testing.T) {
	c := newCaller(t, newTenant("dsmask"), "alice", auth.RoleBuilder)
	ctx := t.Context()
	p := fxPanel(t, c, "Secrets")

	cr, err := c.api.CreateDataSourceWithResponse(ctx, p.Id, nil, client.DataSourceCreate{Type: client.DataSourceTypeApi, Config: fxSecretAPIConfig()})
	if err != nil || cr.StatusCode() != http.StatusCreated {
		t.Fatalf("create api: %v %d %s", err, cr.StatusCode(), cr.Body)
	}
	fxAssertNoSecrets(t, "create api", cr.Body)
	fxAssertMaskedAPI(t, "create api", cr.JSON201.Config)
	api := cr.JSON201

	cr, err = c.api.CreateDataSourceWithResponse(ctx, p.Id, nil, client.DataSourceCreate{Type: client.DataSourceTypeDatabase, Config: fxSecretDBConfig()})
	if err != nil || cr.StatusCode() != http.StatusCreated {
		t.Fatalf("create database: %v %d %s", err, cr.StatusCode(), cr.Body)
	}
	fxAssertNoSecrets(t, "create database", cr.Body)
	fxAssertMaskedDB(t, "create database", cr.JSON201.Config)
	db := cr.JSON201

	// Stored as given.
	if got := fxStoredConfig(t, api.Id); !reflect.DeepEqual(fxNormal(got), fxNormal(fxSecretAPIConfig())) {
		t.Errorf("stored api config %v", got)
	}
	if got := fxStoredConfig(t, db.Id); !reflect.DeepEqual(fxNormal(got), fxNormal(fxSecretDBConfig())) {
		t.Errorf("stored database config %v", got)
	}

	g, _ := c.api.GetDataSourceWithResponse(ctx, api.Id, nil)
	fxAssertNoSecrets(t, "get api", g.Body)
	fxAssertMaskedAPI(t, "get api", g.JSON200.Config)
	g, _ = c.api.GetDataSourceWithResponse(ctx, db.Id, nil)
	fxAssertNoSecrets(t, "get database", g.Body)
	fxAssertMaskedDB(t, "get database", g.JSON200.Config)

	l, _ := c.api.ListDataSourcesWithResponse(ctx, p.Id, nil)
	if l.StatusCode() != http.StatusOK || len(*l.JSON200) != 2 {
		t.Fatalf("list: %d %s", l.StatusCode(), l.Body)
	}
	fxAssertNoSecrets(t, "list", l.Body)
	fxAssertMaskedAPI(t, "list api", (*l.JSON200)[0].Config)
	fxAssertMaskedDB(t, "list database", (*l.JSON200)[1].Config)

	// Updates answer masked too, on both paths; a new secret replaces the stored one.
	newAPI := fxSecretAPIConfig()
	newAPI["apiKey"] = "k-apikey-123-rotated"
	fxSecrets = append(fxSecrets, "k-apikey-123-rotated")
	st, body, upd, _ := fxDSForms[0].update(c, p.Id, api.Id, nil, client.DataSourceUpdate{Config: ptr(client.DataSourceConfig(newAPI))})
	if st != http.StatusOK {
		t.Fatalf("update api: %d %s", st, body)
	}
	fxAssertNoSecrets(t, "update api", body)
	fxAssertMaskedAPI(t, "update api", upd.Config)
	if got := fxStoredConfig(t, api.Id)["apiKey"]; got != "k-apikey-123-rotated" {
		t.Errorf("stored apiKey after replacement: %v", got)
	}

	newDB := fxSecretDBConfig()
	newDB["connectionString"] = "postgres://app:hunter2pw-new@db.example:5432/clinic?sslmode=require"
	fxSecrets = append(fxSecrets, "hunter2pw-new")
	st, body, upd, _ = fxDSForms[1].update(c, p.Id, db.Id, nil, client.DataSourceUpdate{Config: ptr(client.DataSourceConfig(newDB))})
	if st != http.StatusOK {
		t.Fatalf("update database: %d %s", st, body)
	}
	fxAssertNoSecrets(t, "update database", body)
	fxAssertMaskedDB(t, "update database", upd.Config)
	if got := fxStoredConfig(t, db.Id)["connectionString"]; got != newDB["connectionString"] {
		t.Errorf("stored connectionString after replacement: %v", got)
	}

	// Delete one so that source_removed is recorded as well.
	if st, body := fxDSForms[0].delete(c, p.Id, db.Id, false, nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d %s", st, body)
	}

	// Change rows: masked in old and new values.
	resp, body := raw(t, http.MethodGet, fmt.Sprintf("/api/changes/panels?panelId=%d&limit=500", p.Id), c.token, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("changes: %d %s", resp.StatusCode, body)
	}
	fxAssertNoSecrets(t, "changes", body)
	changes := fxChanges(t, c, p.Id)
	added := fxChangesOf(changes, client.SourceAdded)
	changed := fxChangesOf(changes, client.SourceChanged)
	removed := fxChangesOf(changes, client.SourceRemoved)
	if len(added) != 2 || len(changed) != 2 || len(removed) != 1 {
		t.Fatalf("source changes: %d added, %d changed, %d removed; want 2, 2, 1", len(added), len(changed), len(removed))
	}
	cfgOf := func(v map[string]any) map[string]any {
		m, _ := v["config"].(map[string]any)
		return m
	}
	// Newest first: added[1] is the api source.
	fxAssertMaskedAPI(t, "source_added newValues", cfgOf(fxValues(added[1].NewValues)))
	fxAssertMaskedDB(t, "source_added newValues", cfgOf(fxValues(added[0].NewValues)))
	fxAssertMaskedAPI(t, "source_changed oldValues", cfgOf(fxValues(changed[1].OldValues)))
	fxAssertMaskedAPI(t, "source_changed newValues", cfgOf(fxValues(changed[1].NewValues)))
	fxAssertMaskedDB(t, "source_changed oldValues", cfgOf(fxValues(changed[0].OldValues)))
	fxAssertMaskedDB(t, "source_changed newValues", cfgOf(fxValues(changed[0].NewValues)))
	fxAssertMaskedDB(t, "source_removed oldValues", cfgOf(fxValues(removed[0].OldValues)))
	if removed[0].EntityId != db.Id || !removed[0].NewValues.IsNull() {
		t.Errorf("source_removed %+v", removed[0])
	}
}

func TestDataSourceMaskRoundTrip(t *testing.T) {
	c := newCaller(t, newTenant("dsround"), "alice", auth.RoleBuilder)
	ctx := t.Context()
	p := fxPanel(t, c, "Round trip")
	api := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxSecretAPIConfig())
	db := fxDataSource(t, c, p.Id, client.DataSourceTypeDatabase, fxSecretDBConfig())

	for _, form := range fxDSForms {
		// Sending back exactly what was read changes nothing: no new version, no history row.
		before := len(fxChangesOf(fxChanges(t, c, p.Id), client.SourceChanged))
		g, _ := c.api.GetDataSourceWithResponse(ctx, api.Id, nil)
		st, body, _, _ := form.update(c, p.Id, api.Id, nil, client.DataSourceUpdate{Config: &g.JSON200.Config})
		if st != http.StatusOK {
			t.Fatalf("%s: echo masked config: %d %s", form.name, st, body)
		}
		if got := fxStoredConfig(t, api.Id); !reflect.DeepEqual(fxNormal(got), fxNormal(fxSecretAPIConfig())) {
			t.Errorf("%s: the masked echo changed the stored config: %v", form.name, got)
		}
		if after := len(fxChangesOf(fxChanges(t, c, p.Id), client.SourceChanged)); after != before {
			t.Errorf("%s: a no-op update recorded source_changed (%d -> %d)", form.name, before, after)
		}
	}

	// Masked secrets sent back with another field changed: the secrets stay, the change is recorded.
	g, _ := c.api.GetDataSourceWithResponse(ctx, api.Id, nil)
	cfg := g.JSON200.Config
	cfg["method"] = "POST"
	st, body, upd, _ := fxDSForms[0].update(c, p.Id, api.Id, nil, client.DataSourceUpdate{Config: &cfg})
	if st != http.StatusOK || upd.Config["method"] != "POST" {
		t.Fatalf("update method: %d %s", st, body)
	}
	want := fxSecretAPIConfig()
	want["method"] = "POST"
	if got := fxStoredConfig(t, api.Id); !reflect.DeepEqual(fxNormal(got), fxNormal(want)) {
		t.Errorf("stored after masked echo + method change: %v, want %v", got, want)
	}

	// The connection string's masked password is kept even when its host changes.
	g, _ = c.api.GetDataSourceWithResponse(ctx, db.Id, nil)
	dcfg := g.JSON200.Config
	dcfg["connectionString"] = "postgres://app:" + fxMask + "@db2.example:5432/clinic?sslmode=require"
	st, body, _, _ = fxDSForms[1].update(c, p.Id, db.Id, nil, client.DataSourceUpdate{Config: &dcfg})
	if st != http.StatusOK {
		t.Fatalf("update host: %d %s", st, body)
	}
	stored := fxStoredConfig(t, db.Id)
	if stored["connectionString"] != "postgres://app:hunter2pw@db2.example:5432/clinic?sslmode=require" || stored["password"] != "pw-field-555" {
		t.Errorf("stored database config %v", stored)
	}

	// A new header value replaces the stored one; the other masked header keeps its value.
	g, _ = c.api.GetDataSourceWithResponse(ctx, api.Id, nil)
	cfg = g.JSON200.Config
	cfg["headers"] = map[string]any{"Authorization": "Bearer rotated-bearer", "X-Custom": fxMask}
	st, body, _, _ = fxDSForms[1].update(c, p.Id, api.Id, nil, client.DataSourceUpdate{Config: &cfg})
	if st != http.StatusOK {
		t.Fatalf("rotate header: %d %s", st, body)
	}
	if strings.Contains(string(body), "rotated-bearer") {
		t.Errorf("update answer leaks the new header: %s", body)
	}
	h, _ := fxStoredConfig(t, api.Id)["headers"].(map[string]any)
	if h["Authorization"] != "Bearer rotated-bearer" || h["X-Custom"] != "x-hdr-secret" {
		t.Errorf("stored headers %v", h)
	}
	changed := fxChangesOf(fxChanges(t, c, p.Id), client.SourceChanged)
	if len(changed) != 3 {
		t.Fatalf("source_changed rows: %d, want 3 (method, host, header)", len(changed))
	}
	for _, ch := range changed {
		if ch.EntityType != client.EntityTypeDatasource || ch.Action != client.Update || ch.ChangedBy != "alice" {
			t.Errorf("change %+v", ch)
		}
	}
	if changed[0].EntityId != api.Id || changed[1].EntityId != db.Id || changed[2].EntityId != api.Id {
		t.Errorf("source_changed entities %d %d %d", changed[0].EntityId, changed[1].EntityId, changed[2].EntityId)
	}
	resp, body := raw(t, http.MethodGet, fmt.Sprintf("/api/changes/panels?panelId=%d&limit=500", p.Id), c.token, nil, nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "rotated-bearer") {
		t.Errorf("changes leak the new header: %d %s", resp.StatusCode, body)
	}
	fxAssertNoSecrets(t, "changes", body)
}

func TestDataSourceDeleteWithDependents(t *testing.T) {
	for _, form := range fxDSForms {
		t.Run(form.name, func(t *testing.T) {
			c := newCaller(t, newTenant("dsdeps"), "alice", auth.RoleBuilder)
			ctx := t.Context()
			p := fxPanel(t, c, "Deps")
			ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
			other := fxDataSource(t, c, p.Id, client.DataSourceTypeCustom, map[string]any{})
			mrn := fxBase(t, c, p.Id, ds.Id, "MRN", "identifier[0].value", nil)
			name := fxBase(t, c, p.Id, ds.Id, "Name", "name.given", nil)
			keep := fxBase(t, c, p.Id, other.Id, "Ward", "ward", nil)

			st, body := form.delete(c, p.Id, ds.Id, false, nil)
			if st != http.StatusConflict {
				t.Fatalf("delete with dependents: %d, want 409: %s", st, body)
			}
			prob := fxProblem(t, body)
			want := []client.Dependent{{Id: mrn.Id, Name: "MRN", Kind: client.DependentKindColumn}, {Id: name.Id, Name: "Name", Kind: client.DependentKindColumn}}
			if !reflect.DeepEqual(prob.Dependents, want) {
				t.Errorf("dependents %+v, want %+v", prob.Dependents, want)
			}
			if g, _ := c.api.GetDataSourceWithResponse(ctx, ds.Id, nil); g.StatusCode() != http.StatusOK {
				t.Errorf("source gone after a refused delete: %d", g.StatusCode())
			}
			if n := len(fxChangesOf(fxChanges(t, c, p.Id), client.SourceRemoved)); n != 0 {
				t.Errorf("refused delete recorded source_removed")
			}

			if st, body := form.delete(c, p.Id, ds.Id, true, nil); st != http.StatusNoContent {
				t.Fatalf("force delete: %d %s", st, body)
			}
			if g, _ := c.api.GetDataSourceWithResponse(ctx, ds.Id, nil); g.StatusCode() != http.StatusNotFound {
				t.Errorf("source after force delete: %d", g.StatusCode())
			}
			for _, col := range []client.Column{mrn, name} {
				g, _ := c.api.GetColumnWithResponse(ctx, p.Id, col.Id, nil)
				if g.StatusCode() != http.StatusOK || !g.JSON200.DataSourceId.IsNull() || *g.JSON200.SourceField != *col.SourceField {
					t.Errorf("column %q after force delete: %d %s", col.Name, g.StatusCode(), g.Body)
				}
			}
			g, _ := c.api.GetColumnWithResponse(ctx, p.Id, keep.Id, nil)
			if v, err := g.JSON200.DataSourceId.Get(); err != nil || v != other.Id {
				t.Errorf("an unrelated column was detached: %s", g.Body)
			}

			changes := fxChanges(t, c, p.Id)
			mod := fxChangesOf(changes, client.ColumnModified)
			if len(mod) != 2 {
				t.Fatalf("column_modified rows: %d, want 2", len(mod))
			}
			// Newest first; both in the same transaction, recorded in column fxOrder.
			for i, col := range []client.Column{name, mrn} {
				ch := mod[i]
				if ch.EntityType != client.EntityTypeColumn || ch.EntityId != col.Id || ch.Action != client.Update {
					t.Errorf("column_modified %+v", ch)
				}
				if ac, _ := ch.AffectedColumn.Get(); ac != col.Name {
					t.Errorf("affectedColumn %q, want %q", ac, col.Name)
				}
				if !reflect.DeepEqual(fxNormal(fxValues(ch.OldValues)), fxNormal(map[string]any{"dataSourceId": ds.Id})) ||
					!reflect.DeepEqual(fxNormal(fxValues(ch.NewValues)), fxNormal(map[string]any{"dataSourceId": nil})) {
					t.Errorf("column_modified values %v -> %v", fxValues(ch.OldValues), fxValues(ch.NewValues))
				}
			}
			rem := fxChangesOf(changes, client.SourceRemoved)
			if len(rem) != 1 || rem[0].EntityId != ds.Id || rem[0].EntityType != client.EntityTypeDatasource || rem[0].Action != client.Delete {
				t.Errorf("source_removed %+v", rem)
			}
			// A detached column can be re-attached with a column PUT.
			r, err := c.api.UpdateColumnWithResponse(ctx, p.Id, mrn.Id, nil, client.ColumnUpdate{DataSourceId: fxNullInt(other.Id)})
			if err != nil || r.StatusCode() != http.StatusOK {
				t.Fatalf("re-attach: %v %d %s", err, r.StatusCode(), r.Body)
			}
			if v, _ := r.JSON200.DataSourceId.Get(); v != other.Id {
				t.Errorf("re-attached to %v", r.JSON200.DataSourceId)
			}
		})
	}
}

func TestDataSourceNestedPathOtherPanel(t *testing.T) {
	tenant := newTenant("dsnest")
	c := newCaller(t, tenant, "alice", auth.RoleBuilder)
	ctx := t.Context()
	a := fxPanel(t, c, "A")
	b := fxPanel(t, c, "B")
	dsB := fxDataSource(t, c, b.Id, client.DataSourceTypeApi, fxUISource())

	for _, form := range fxDSForms[1:] {
		if st, body, _, _ := form.update(c, a.Id, dsB.Id, nil, client.DataSourceUpdate{Type: ptr(client.DataSourceTypeCustom)}); st != http.StatusNotFound {
			t.Errorf("nested PUT with another panel's source: %d, want 404: %s", st, body)
		}
		if st, body := form.delete(c, a.Id, dsB.Id, true, nil); st != http.StatusNotFound {
			t.Errorf("nested DELETE with another panel's source: %d, want 404: %s", st, body)
		}
		// With the right panel it works.
		if st, body, _, _ := form.update(c, b.Id, dsB.Id, nil, client.DataSourceUpdate{Config: ptr(client.DataSourceConfig(map[string]any{"endpoint": "/x"}))}); st != http.StatusOK {
			t.Errorf("nested PUT on its own panel: %d %s", st, body)
		}
	}
	g, _ := c.api.GetDataSourceWithResponse(ctx, dsB.Id, nil)
	if g.StatusCode() != http.StatusOK || g.JSON200.Type != client.DataSourceTypeApi || g.JSON200.Config["endpoint"] != "/x" {
		t.Errorf("source after refused nested calls: %d %s", g.StatusCode(), g.Body)
	}
	// A missing panel in the nested path is a 404 as well.
	if st, _, _, _ := fxDSForms[1].update(c, b.Id+1000000, dsB.Id, nil, client.DataSourceUpdate{Type: ptr(client.DataSourceTypeCustom)}); st != http.StatusNotFound {
		t.Errorf("nested PUT with a missing panel: %d, want 404", st)
	}

	// Another tenant sees nothing, on any path.
	eve := newCaller(t, newTenant("dsnest-other"), "eve", auth.RoleAdmin)
	if g, _ := eve.api.GetDataSourceWithResponse(ctx, dsB.Id, nil); g.StatusCode() != http.StatusNotFound {
		t.Errorf("other tenant GET: %d", g.StatusCode())
	}
	if l, _ := eve.api.ListDataSourcesWithResponse(ctx, b.Id, nil); l.StatusCode() != http.StatusNotFound {
		t.Errorf("other tenant list: %d", l.StatusCode())
	}
	for _, form := range fxDSForms {
		if st, _, _, _ := form.update(eve, b.Id, dsB.Id, nil, client.DataSourceUpdate{Type: ptr(client.DataSourceTypeCustom)}); st != http.StatusNotFound {
			t.Errorf("other tenant %s PUT: %d", form.name, st)
		}
		if st, _ := form.delete(eve, b.Id, dsB.Id, true, nil); st != http.StatusNotFound {
			t.Errorf("other tenant %s DELETE: %d", form.name, st)
		}
	}
	if r, _ := eve.api.CreateDataSourceWithResponse(ctx, b.Id, nil, client.DataSourceCreate{Type: client.DataSourceTypeCustom, Config: map[string]any{}}); r.StatusCode() != http.StatusNotFound {
		t.Errorf("other tenant create: %d", r.StatusCode())
	}

	// Same tenant: no access is 404, viewer may read but not write (403).
	bob := newCaller(t, tenant, "bob", auth.RoleBuilder)
	if g, _ := bob.api.GetDataSourceWithResponse(ctx, dsB.Id, nil); g.StatusCode() != http.StatusNotFound {
		t.Errorf("stranger GET: %d, want 404", g.StatusCode())
	}
	fxGrant(t, tenant, b.Id, bob.email, "viewer")
	if g, _ := bob.api.GetDataSourceWithResponse(ctx, dsB.Id, nil); g.StatusCode() != http.StatusOK {
		t.Errorf("viewer GET: %d, want 200", g.StatusCode())
	}
	if l, _ := bob.api.ListDataSourcesWithResponse(ctx, b.Id, nil); l.StatusCode() != http.StatusOK || len(*l.JSON200) != 1 {
		t.Errorf("viewer list: %d", l.StatusCode())
	}
	if r, _ := bob.api.CreateDataSourceWithResponse(ctx, b.Id, nil, client.DataSourceCreate{Type: client.DataSourceTypeCustom, Config: map[string]any{}}); r.StatusCode() != http.StatusForbidden {
		t.Errorf("viewer create: %d, want 403", r.StatusCode())
	}
	for _, form := range fxDSForms {
		if st, _, _, _ := form.update(bob, b.Id, dsB.Id, nil, client.DataSourceUpdate{Type: ptr(client.DataSourceTypeCustom)}); st != http.StatusForbidden {
			t.Errorf("viewer %s PUT: %d, want 403", form.name, st)
		}
		if st, _ := form.delete(bob, b.Id, dsB.Id, true, nil); st != http.StatusForbidden {
			t.Errorf("viewer %s DELETE: %d, want 403", form.name, st)
		}
	}
}

var fxLinkRE = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

func TestDataSourceListPaging(t *testing.T) {
	c := newCaller(t, newTenant("dspage"), "alice", auth.RoleBuilder)
	p := fxPanel(t, c, "Paging")
	other := fxPanel(t, c, "Other")
	fxDataSource(t, c, other.Id, client.DataSourceTypeCustom, map[string]any{})
	var want []int64
	for i := range 7 {
		ds := fxDataSource(t, c, p.Id, client.DataSourceTypeCustom, map[string]any{"n": i})
		want = append(want, ds.Id)
	}

	for _, limit := range []int{1, 2, 3, 7, 8} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			var got []int64
			next := fmt.Sprintf("/api/panels/%d/datasources?limit=%d", p.Id, limit)
			pages := 0
			for next != "" {
				pages++
				if pages > 20 {
					t.Fatal("Link never ends")
				}
				resp, body := raw(t, http.MethodGet, next, c.token, nil, nil)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %d %s", next, resp.StatusCode, body)
				}
				var page []client.DataSource
				if err := json.Unmarshal(body, &page); err != nil {
					t.Fatal(err)
				}
				if len(page) > limit || len(page) == 0 {
					t.Fatalf("page of %d items with limit %d", len(page), limit)
				}
				for _, ds := range page {
					if ds.PanelId != p.Id {
						t.Errorf("another panel's source %d in the list", ds.Id)
					}
					got = append(got, ds.Id)
				}
				next = ""
				if link := resp.Header.Get("Link"); link != "" {
					m := fxLinkRE.FindStringSubmatch(link)
					if m == nil {
						t.Fatalf("malformed Link %q", link)
					}
					next = m[1]
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("ids %v, want %v (oldest first, no duplicates)", got, want)
			}
			if wantPages := (len(want) + limit - 1) / limit; pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
		})
	}

	// A cursor is bound to its list: another panel's list refuses it.
	resp, _ := raw(t, http.MethodGet, fmt.Sprintf("/api/panels/%d/datasources?limit=2", p.Id), c.token, nil, nil)
	m := fxLinkRE.FindStringSubmatch(resp.Header.Get("Link"))
	if m == nil {
		t.Fatalf("no Link on a partial page: %q", resp.Header.Get("Link"))
	}
	_, query, _ := strings.Cut(m[1], "?")
	resp, body := raw(t, http.MethodGet, fmt.Sprintf("/api/panels/%d/datasources?%s", other.Id, query), c.token, nil, nil)
	if resp.StatusCode != http.StatusBadRequest || !slices.Contains(fxFields(fxProblem(t, body)), "query.cursor") {
		t.Errorf("cursor on another panel's list: %d %s", resp.StatusCode, body)
	}
	resp, body = raw(t, http.MethodGet, fmt.Sprintf("/api/panels/%d/datasources?cursor=bm90LWEtY3Vyc29y", p.Id), c.token, nil, nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("garbage cursor: %d %s", resp.StatusCode, body)
	}
	// An expired cursor is 410; the same cursor issued now works (the crafted shape is right).
	craft := func(issued time.Time) string {
		return signedCursor("datasources", fmt.Sprintf("%s/%d", c.tenant, p.Id), &curs.Key{ID: want[1]}, issued)
	}
	resp, body = raw(t, http.MethodGet, fmt.Sprintf("/api/panels/%d/datasources?limit=2&cursor=%s", p.Id, craft(time.Now())), c.token, nil, nil)
	var page []client.DataSource
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &page) != nil || len(page) != 2 || page[0].Id != want[2] {
		t.Errorf("crafted fresh cursor: %d %s", resp.StatusCode, body)
	}
	resp, body = raw(t, http.MethodGet, fmt.Sprintf("/api/panels/%d/datasources?limit=2&cursor=%s", p.Id, craft(time.Now().Add(-25*time.Hour))), c.token, nil, nil)
	if resp.StatusCode != http.StatusGone {
		t.Errorf("expired cursor: %d, want 410: %s", resp.StatusCode, body)
	}
	for _, bad := range []string{"0", "501", "x"} {
		resp, body = raw(t, http.MethodGet, fmt.Sprintf("/api/panels/%d/datasources?limit=%s", p.Id, bad), c.token, nil, nil)
		if resp.StatusCode != http.StatusBadRequest || !slices.Contains(fxFields(fxProblem(t, body)), "query.limit") {
			t.Errorf("limit=%s: %d %s", bad, resp.StatusCode, body)
		}
	}
}

func TestDataSourceConditionalRequests(t *testing.T) {
	c := newCaller(t, newTenant("dsetag"), "alice", auth.RoleBuilder)
	ctx := t.Context()
	p := fxPanel(t, c, "ETags")

	for _, form := range fxDSForms {
		t.Run(form.name, func(t *testing.T) {
			ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
			g, _ := c.api.GetDataSourceWithResponse(ctx, ds.Id, nil)
			etag := g.HTTPResponse.Header.Get("ETag")
			if g.StatusCode() != http.StatusOK || !strings.HasPrefix(etag, `"`) {
				t.Fatalf("get: %d ETag %q", g.StatusCode(), etag)
			}
			if nm, _ := c.api.GetDataSourceWithResponse(ctx, ds.Id, &client.GetDataSourceParams{IfNoneMatch: &etag}); nm.StatusCode() != http.StatusNotModified || nm.HTTPResponse.Header.Get("ETag") != etag || len(nm.Body) != 0 {
				t.Errorf("If-None-Match current: %d, want 304 with the ETag", nm.StatusCode())
			}
			weak := "W/" + etag + `, "other"`
			if nm, _ := c.api.GetDataSourceWithResponse(ctx, ds.Id, &client.GetDataSourceParams{IfNoneMatch: &weak}); nm.StatusCode() != http.StatusNotModified {
				t.Errorf("If-None-Match weak list: %d, want 304", nm.StatusCode())
			}
			if nm, _ := c.api.GetDataSourceWithResponse(ctx, ds.Id, &client.GetDataSourceParams{IfNoneMatch: ptr(`"nope"`)}); nm.StatusCode() != http.StatusOK {
				t.Errorf("If-None-Match other: %d, want 200", nm.StatusCode())
			}

			// If-Match with the current ETag applies; the answer's ETag is the new GET's ETag.
			st, body, _, hdr := form.update(c, p.Id, ds.Id, &etag, client.DataSourceUpdate{Config: ptr(client.DataSourceConfig(map[string]any{"endpoint": "/v2"}))})
			if st != http.StatusOK {
				t.Fatalf("If-Match current: %d %s", st, body)
			}
			newTag := hdr.Get("ETag")
			g, _ = c.api.GetDataSourceWithResponse(ctx, ds.Id, nil)
			if newTag == etag || g.HTTPResponse.Header.Get("ETag") != newTag {
				t.Errorf("ETag after update %q, GET says %q, before %q", newTag, g.HTTPResponse.Header.Get("ETag"), etag)
			}
			// The stale ETag is refused, and nothing changes.
			st, body, _, _ = form.update(c, p.Id, ds.Id, &etag, client.DataSourceUpdate{Config: ptr(client.DataSourceConfig(map[string]any{"endpoint": "/lost"}))})
			if st != http.StatusPreconditionFailed {
				t.Errorf("stale If-Match PUT: %d, want 412: %s", st, body)
			}
			if st, body := form.delete(c, p.Id, ds.Id, false, &etag); st != http.StatusPreconditionFailed {
				t.Errorf("stale If-Match DELETE: %d, want 412: %s", st, body)
			}
			if st, _ := form.delete(c, p.Id, ds.Id, false, ptr("W/"+newTag)); st != http.StatusPreconditionFailed {
				t.Errorf("weak If-Match DELETE: %d, want 412", st)
			}
			g, _ = c.api.GetDataSourceWithResponse(ctx, ds.Id, nil)
			if g.StatusCode() != http.StatusOK || g.JSON200.Config["endpoint"] != "/v2" {
				t.Errorf("after refused requests: %d %s", g.StatusCode(), g.Body)
			}
			if st, body := form.delete(c, p.Id, ds.Id, false, &newTag); st != http.StatusNoContent {
				t.Errorf("If-Match current DELETE: %d %s", st, body)
			}
		})
	}
	// The 201's ETag is the representation's: GET agrees and If-Match accepts it.
	cr, _ := c.api.CreateDataSourceWithResponse(ctx, p.Id, nil, client.DataSourceCreate{Type: client.DataSourceTypeApi,
		Config: map[string]any{"endpoint": "/x", "timeoutMs": 1500, "headers": map[string]any{"X-Key": "v"}, "extra": map[string]any{"n": 1.5}}})
	createdTag := cr.HTTPResponse.Header.Get("ETag")
	if g, _ := c.api.GetDataSourceWithResponse(ctx, cr.JSON201.Id, nil); g.HTTPResponse.Header.Get("ETag") != createdTag {
		t.Errorf("201 ETag %q, GET ETag %q", createdTag, g.HTTPResponse.Header.Get("ETag"))
	}
	if st, body, _, _ := fxDSForms[1].update(c, p.Id, cr.JSON201.Id, &createdTag, client.DataSourceUpdate{Type: ptr(client.DataSourceTypeCustom)}); st != http.StatusOK {
		t.Errorf("If-Match with the 201's ETag: %d %s", st, body)
	}
	// If-Match: * matches any existing source.
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	if st, body, _, _ := fxDSForms[0].update(c, p.Id, ds.Id, ptr("*"), client.DataSourceUpdate{Type: ptr(client.DataSourceTypeCustom)}); st != http.StatusOK {
		t.Errorf("If-Match *: %d %s", st, body)
	}
}

func TestDataSourceEchoedID(t *testing.T) {
	c := newCaller(t, newTenant("dsecho"), "alice", auth.RoleBuilder)
	p := fxPanel(t, c, "Echo")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	id := strconv.FormatInt(ds.Id, 10)

	for _, form := range fxDSForms {
		for _, tc := range []struct {
			body string
			want int
		}{
			{`{"id": ` + id + `, "config": {"endpoint": "/n", "method": "GET"}}`, http.StatusOK},
			{`{"id": "` + id + `", "config": {"endpoint": "/s", "method": "GET"}}`, http.StatusOK},
			{`{"id": ` + strconv.FormatInt(ds.Id+1, 10) + `, "config": {"endpoint": "/bad"}}`, http.StatusBadRequest},
			{`{"id": "` + strconv.FormatInt(ds.Id+1, 10) + `", "config": {"endpoint": "/bad"}}`, http.StatusBadRequest},
			{`{"id": "0` + id + `", "config": {"endpoint": "/z", "method": "GET"}}`, http.StatusOK}, // the same number
			{`{"id": "abc"}`, http.StatusBadRequest},
			{`{"id": -1}`, http.StatusBadRequest},
		} {
			resp, body := raw(t, http.MethodPut, form.path(p.Id, ds.Id), c.token, []byte(tc.body), map[string]string{"Content-Type": "application/json"})
			if resp.StatusCode != tc.want {
				t.Errorf("%s PUT %s: %d, want %d: %s", form.name, tc.body, resp.StatusCode, tc.want, body)
				continue
			}
			if tc.want == http.StatusBadRequest && !slices.Contains(fxFields(fxProblem(t, body)), "body.id") {
				t.Errorf("%s PUT %s: errors %s do not name body.id", form.name, tc.body, body)
			}
		}
	}
	g, _ := c.api.GetDataSourceWithResponse(t.Context(), ds.Id, nil)
	if e := g.JSON200.Config["endpoint"]; e != "/z" {
		t.Errorf("endpoint %v after echoed-id updates, want /z (refused ones must not apply)", e)
	}
}
