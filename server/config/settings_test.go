package config

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

// badValues holds a refused value of every setting but the free-text ones (Unit "text").
var badValues = map[string]string{
	"EVENTS_REPLAY_WINDOW": "0s", "EVENTS_REPLAY_MAX": "0", "EVENTS_HEARTBEAT": "-1s", "EVENTS_POLL_INTERVAL": "2s",
	"EVENTS_BUFFER": "100001", "EVENTS_MAX_PER_USER": "0",
	"DATABASE_URL": "mysql://root@db/panels", "REDIS_URL": "http://cache:6379", "JWT_SECRET": "short-secret",
	"JWT_JWKS_URL": "ftp://idp/jwks", "JWT_LEEWAY": "30", "CURSOR_KEY": "short-key", "PORT": "65536",
	"LOG_LEVEL": "loud", "LOG_FORMAT": "xml", "CORS_ORIGINS": "localhost:3000", "MIGRATE_ON_START": "maybe",
	"RATE_LIMIT_USER_RPS": "-1", "RATE_LIMIT_USER_BURST": "0", "RATE_LIMIT_TENANT_RPS": "NaN",
	"RATE_LIMIT_TENANT_BURST": "many", "CACHE_TTL": "500us", "STYTCH_BASE_URL": "ftp://test.stytch.com",
	"BODY_LIMIT": "lots", "UPLOAD_LIMIT": "0", "API_SOURCE_BASE_URL": "https://fhir.example.com/api?x=1",
	"SYNC_ALLOW_HOSTS": "10.0.0.0/8,not a host", "SYNC_ALLOW_PRIVATE": "maybe", "SYNC_TIMEOUT": "0",
	"WEBHOOK_RETRY_SCHEDULE": "5s,,30s", "WEBHOOK_MAX_FAILURES": "0", "WEBHOOK_POLL_INTERVAL": "2s", "WEBHOOK_TIMEOUT": "0",
	"WEBHOOK_WORKERS": "257",
	"SYNC_MAX_BYTES":  "-1", "SYNC_MAX_RECORDS": "0", "FORMULA_MAX_TEXT_BYTES": "2GiB",
	"FORMULA_MAX_GROWTH_BYTES": "1KiB", "ROWS_PAGE_MAX_BYTES": "0", "HTTP_READ_HEADER_TIMEOUT": "0",
	"HTTP_READ_TIMEOUT": "-1s", "HTTP_WRITE_TIMEOUT": "0s", "HTTP_IDLE_TIMEOUT": "idle", "DB_MAX_CONNS": "0",
	"DB_STATEMENT_TIMEOUT": "500us", "SHUTDOWN_DELAY": "soon", "SHUTDOWN_TIMEOUT": "0", "HSTS_MAX_AGE": "1y",
	"METRICS_TOKEN": "short", "METRICS_ADDR": "9090", "PPROF_ADDR": "localhost",
}

func TestSettingsTable(t *testing.T) {
	name := regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	seen := map[string]bool{}
	for _, s := range Settings() {
		if !name.MatchString(s.Name) || seen[s.Name] {
			t.Errorf("%q: want a unique upper-case variable name", s.Name)
		}
		seen[s.Name] = true
		for what, v := range map[string]string{"doc": s.Doc, "unit": s.Unit} {
			// One line, and no | either: the README's table cell would break.
			if strings.TrimSpace(v) == "" || strings.ContainsAny(v, "\n|") {
				t.Errorf("%s: want a one-line %s, got %q", s.Name, what, v)
			}
		}
		if s.parse == nil || s.show == nil {
			t.Errorf("%s: no parser or no log value", s.Name)
			continue
		}
		var c Config
		if err := s.read(&c, func(string) string { return "" }); err != nil {
			t.Errorf("%s: the default %q is refused: %v", s.Name, s.Default, err)
		}
		bad, ok := badValues[s.Name]
		if !ok {
			if s.Unit != "text" {
				t.Errorf("%s: add a refused value to badValues", s.Name)
			}
			continue
		}
		_, err := FromEnv(cfgEnv(cfgWith(s.Name, bad)))
		if err == nil || !strings.HasPrefix(err.Error(), s.Name+": ") {
			t.Errorf("%s=%s: %v, want an error naming %s", s.Name, bad, err, s.Name)
		}
		if s.Secret && err != nil && strings.Contains(err.Error(), bad) {
			t.Errorf("%s: the error shows the secret: %v", s.Name, err)
		}
	}
	for n := range badValues {
		if !seen[n] {
			t.Errorf("badValues names %s, which is no setting", n)
		}
	}
}

// TestStringListsEverySetting: the start-up line has every setting, and none of the secrets
// (JWT_SECRET, CURSOR_KEY, STYTCH_SECRET_KEY, METRICS_TOKEN, URL passwords).
func TestStringListsEverySetting(t *testing.T) {
	secrets := map[string]string{
		"JWT_SECRET": "jwt-secret-11111111111111111111111111", "CURSOR_KEY": "cursor-key-2222222222222222222222222",
		"STYTCH_SECRET_KEY": "stytch-secret-33333", "METRICS_TOKEN": "metrics-token-44444",
	}
	const dbPass, dbQueryPass, redisPass = "db-pass-55555", "db-query-pass-66666", "redis-pass-77777"
	vars := map[string]string{
		"DATABASE_URL":      "postgres://panels:" + dbPass + "@db:5432/panels?sslpassword=" + dbQueryPass,
		"REDIS_URL":         "redis://default:" + redisPass + "@cache:6379/0",
		"STYTCH_PROJECT_ID": "project-1", "STYTCH_BASE_URL": "https://test.stytch.com",
	}
	for k, v := range secrets {
		vars[k] = v
	}
	cfg, err := FromEnv(cfgEnv(vars))
	if err != nil {
		t.Fatal(err)
	}
	line := cfg.String()
	for _, s := range Settings() {
		if !strings.Contains(" "+line, " "+s.Name+"=") {
			t.Errorf("the start-up line lacks %s: %s", s.Name, line)
		}
		if s.Secret && secrets[s.Name] == "" {
			t.Errorf("%s is secret: add a value to this test's secrets", s.Name)
		}
	}
	for _, secret := range append([]string{dbPass, dbQueryPass, redisPass}, mapValues(secrets)...) {
		if strings.Contains(line, secret) {
			t.Errorf("the start-up line shows %q: %s", secret, line)
		}
	}
	for name := range secrets {
		if !strings.Contains(line, " "+name+"=********") {
			t.Errorf("%s is not masked: %s", name, line)
		}
	}
	if !strings.Contains(line, "DATABASE_URL=postgres://panels:xxxxx@db:5432/panels?sslpassword=xxxxx") {
		t.Errorf("DATABASE_URL: %s", line)
	}

	// What `panels serve` logs: the same settings, one JSON field each.
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", cfg)
	var rec struct{ Config map[string]string }
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	for _, s := range Settings() {
		if v, ok := rec.Config[s.Name]; !ok || v == "" {
			t.Errorf("the JSON log line lacks %s: %s", s.Name, buf.String())
		}
	}
	for _, secret := range append([]string{dbPass, dbQueryPass, redisPass}, mapValues(secrets)...) {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("the JSON log line shows %q: %s", secret, buf.String())
		}
	}
}

func mapValues(m map[string]string) []string {
	var vs []string
	for _, v := range m {
		vs = append(vs, v)
	}
	return vs
}

func TestReadmeTable(t *testing.T) {
	readme := "intro\n" + BeginMarker + "\nold rows\n" + EndMarker + "\noutro\n"
	got, err := UpdateReadme([]byte(readme))
	if err != nil {
		t.Fatal(err)
	}
	want := "intro\n" + BeginMarker + "\n" + Markdown() + EndMarker + "\noutro\n"
	if string(got) != want {
		t.Errorf("got\n%s", got)
	}
	for _, s := range Settings() {
		if !strings.Contains(Markdown(), "| `"+s.Name+"` |") {
			t.Errorf("the table lacks %s", s.Name)
		}
	}
	if _, err := UpdateReadme([]byte("no markers\n")); err == nil {
		t.Error("a README without markers was accepted")
	}
}
