package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const cfgTestSecret = "cfg-test-secret-0123456789abcdef-XYZ"

// cfgEnv is an environment: only the given variables are set.
func cfgEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// cfgWith is a valid environment (a secret) plus the given variables.
func cfgWith(kv ...string) map[string]string {
	vars := map[string]string{"JWT_SECRET": cfgTestSecret}
	for i := 0; i+1 < len(kv); i += 2 {
		vars[kv[i]] = kv[i+1]
	}
	return vars
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := FromEnv(cfgEnv(cfgWith()))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		DatabaseURL:    "postgres://postgres@127.0.0.1:5432/panels?sslmode=disable",
		RedisURL:       "redis://127.0.0.1:6379",
		JWTSecret:      cfgTestSecret,
		JWTLeeway:      30 * time.Second,
		Port:           3001,
		LogLevel:       "info",
		LogFormat:      "json",
		MigrateOnStart: true,
		BodyLimit:      1 << 20,
		DBMaxConns:     20,
	}
	if cfg.DatabaseURL != want.DatabaseURL || cfg.RedisURL != want.RedisURL || cfg.JWTSecret != want.JWTSecret ||
		cfg.JWTLeeway != want.JWTLeeway || cfg.Port != want.Port || cfg.LogLevel != want.LogLevel || cfg.LogFormat != want.LogFormat ||
		cfg.MigrateOnStart != want.MigrateOnStart || cfg.BodyLimit != want.BodyLimit || cfg.DBMaxConns != want.DBMaxConns ||
		cfg.JWTJWKSURL != "" || cfg.JWTIssuer != "" || cfg.JWTAudience != "" || len(cfg.CORSOrigins) != 0 {
		t.Errorf("defaults\n got %+v\nwant %+v", cfg, want)
	}
}

func TestConfigParsesValues(t *testing.T) {
	cfg, err := FromEnv(cfgEnv(map[string]string{
		"JWT_JWKS_URL":     "https://idp.example.com/.well-known/jwks.json",
		"JWT_ISSUER":       "https://idp.example.com",
		"JWT_AUDIENCE":     "panels",
		"JWT_LEEWAY":       "10m",
		"PORT":             " 8080 ",
		"DATABASE_URL":     "postgresql://panels:pw@db:5432/panels",
		"REDIS_URL":        "rediss://cache:6380/1",
		"MIGRATE_ON_START": "false",
		"LOG_LEVEL":        "DEBUG",
		"LOG_FORMAT":       "Text",
		"CORS_ORIGINS":     "http://localhost:3000, https://app.example.com ,",
		"DB_MAX_CONNS":     "5",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.JWTSecret != "" || cfg.JWTJWKSURL == "" || cfg.JWTIssuer != "https://idp.example.com" || cfg.JWTAudience != "panels" ||
		cfg.JWTLeeway != 10*time.Minute || cfg.Port != 8080 || cfg.DatabaseURL != "postgresql://panels:pw@db:5432/panels" ||
		cfg.RedisURL != "rediss://cache:6380/1" || cfg.MigrateOnStart || cfg.LogLevel != "debug" || cfg.LogFormat != "text" ||
		!slices.Equal(cfg.CORSOrigins, []string{"http://localhost:3000", "https://app.example.com"}) || cfg.DBMaxConns != 5 {
		t.Errorf("parsed %+v", cfg)
	}
	for _, v := range []string{"true", "1", "yes"} {
		if cfg, err := FromEnv(cfgEnv(cfgWith("MIGRATE_ON_START", v))); err != nil || !cfg.MigrateOnStart {
			t.Errorf("MIGRATE_ON_START=%s: %v %v", v, cfg.MigrateOnStart, err)
		}
	}
	for _, v := range []string{"false", "0", "no"} {
		if cfg, err := FromEnv(cfgEnv(cfgWith("MIGRATE_ON_START", v))); err != nil || cfg.MigrateOnStart {
			t.Errorf("MIGRATE_ON_START=%s: %v %v", v, cfg.MigrateOnStart, err)
		}
	}
	if cfg, err := FromEnv(cfgEnv(cfgWith("CORS_ORIGINS", "*"))); err != nil || !slices.Equal(cfg.CORSOrigins, []string{"*"}) {
		t.Errorf("CORS_ORIGINS=*: %v %v", cfg.CORSOrigins, err)
	}
	if cfg, err := FromEnv(cfgEnv(cfgWith("JWT_LEEWAY", "0s"))); err != nil || cfg.JWTLeeway != 0 {
		t.Errorf("JWT_LEEWAY=0s: %v %v", cfg.JWTLeeway, err)
	}
}

func TestConfigBadValuesNameTheirVariable(t *testing.T) {
	for _, tc := range []struct {
		variable string
		vars     map[string]string
		leak     string // must not appear in the error
	}{
		{"PORT", cfgWith("PORT", "abc"), ""},
		{"PORT", cfgWith("PORT", "0"), ""},
		{"PORT", cfgWith("PORT", "65536"), ""},
		{"JWT_LEEWAY", cfgWith("JWT_LEEWAY", "x"), ""},
		{"JWT_LEEWAY", cfgWith("JWT_LEEWAY", "-5s"), ""},
		{"JWT_LEEWAY", cfgWith("JWT_LEEWAY", "30"), ""}, // a bare number has no unit
		{"JWT_SECRET", map[string]string{"JWT_SECRET": "short-secret-value"}, "short-secret-value"},
		{"JWT_SECRET", map[string]string{}, ""}, // no secret and no JWKS
		{"JWT_JWKS_URL", cfgWith("JWT_JWKS_URL", "ftp://idp.example.com/jwks"), ""},
		{"JWT_JWKS_URL", cfgWith("JWT_JWKS_URL", "https:///jwks"), ""},
		{"DATABASE_URL", cfgWith("DATABASE_URL", "mysql://root:db-pass-123@db/panels"), "db-pass-123"},
		{"DATABASE_URL", cfgWith("DATABASE_URL", "host=db user=panels password=db-pass-123"), "db-pass-123"},
		{"DATABASE_URL", cfgWith("DATABASE_URL", "postgres://u:db-pass-123@db:notaport/x\x7f"), "db-pass-123"},
		{"REDIS_URL", cfgWith("REDIS_URL", "http://cache:6379"), ""},
		{"REDIS_URL", cfgWith("REDIS_URL", "cache:6379"), ""},
		{"MIGRATE_ON_START", cfgWith("MIGRATE_ON_START", "maybe"), ""},
		{"LOG_LEVEL", cfgWith("LOG_LEVEL", "loud"), ""},
		{"LOG_FORMAT", cfgWith("LOG_FORMAT", "xml"), ""},
		{"CORS_ORIGINS", cfgWith("CORS_ORIGINS", "localhost:3000"), ""},
		{"CORS_ORIGINS", cfgWith("CORS_ORIGINS", "http://localhost:3000,not an origin"), ""},
		{"CORS_ORIGINS", cfgWith("CORS_ORIGINS", "/relative"), ""},
		{"DB_MAX_CONNS", cfgWith("DB_MAX_CONNS", "0"), ""},
		{"DB_MAX_CONNS", cfgWith("DB_MAX_CONNS", "many"), ""},
	} {
		_, err := FromEnv(cfgEnv(tc.vars))
		if err == nil {
			t.Errorf("%s: %v accepted", tc.variable, tc.vars)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.variable+":") {
			t.Errorf("%v: error %q does not start with %s", tc.vars, err, tc.variable)
		}
		if tc.leak != "" && strings.Contains(err.Error(), tc.leak) {
			t.Errorf("%s: error %q leaks %q", tc.variable, err, tc.leak)
		}
	}
}

func TestConfigStringHidesSecrets(t *testing.T) {
	const dbPass, redisPass, queryPass = "db-pass-4f9a", "redis-pass-77c1", "query-pass-0b3e"
	for _, tc := range []struct {
		name string
		vars map[string]string
	}{
		{"passwords in user info", cfgWith(
			"DATABASE_URL", "postgres://panels:"+dbPass+"@db.internal:5432/panels?sslmode=require",
			"REDIS_URL", "redis://default:"+redisPass+"@cache:6379/0")},
		// pgx reads the password from the query string too.
		{"password in the query", cfgWith("DATABASE_URL", "postgres://panels@db.internal:5432/panels?sslmode=disable&password="+queryPass)},
	} {
		cfg, err := FromEnv(cfgEnv(tc.vars))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		s := cfg.String()
		for _, secret := range []string{cfgTestSecret, dbPass, redisPass, queryPass} {
			if strings.Contains(s, secret) {
				t.Errorf("%s: String() leaks %q: %s", tc.name, secret, s)
			}
		}
		if !strings.Contains(s, "db.internal") || !strings.Contains(s, "PORT=3001") || !strings.Contains(s, "JWT_SECRET=********") {
			t.Errorf("%s: String() lost the useful parts: %s", tc.name, s)
		}
	}
	cfg, err := FromEnv(cfgEnv(map[string]string{"JWT_JWKS_URL": "https://idp.example.com/jwks"}))
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.String(); !strings.Contains(s, "JWT_SECRET=(unset)") {
		t.Errorf("unset secret: %s", s)
	}
}

// The commands that only need the database read DATABASE_URL through its table entry: the
// same default and the same refusal as serve.
func TestDatabaseURL(t *testing.T) {
	if dsn, err := DatabaseURL(cfgEnv(nil)); err != nil || dsn != lookup("DATABASE_URL").Default {
		t.Errorf("unset: %q %v", dsn, err)
	}
	if dsn, err := DatabaseURL(cfgEnv(map[string]string{"DATABASE_URL": " postgres://db/x "})); err != nil || dsn != "postgres://db/x" {
		t.Errorf("set: %q %v", dsn, err)
	}
	if _, err := DatabaseURL(cfgEnv(map[string]string{"DATABASE_URL": "mysql://db/x"})); err == nil || !strings.HasPrefix(err.Error(), "DATABASE_URL: ") {
		t.Errorf("bad: %v", err)
	}
}
