package server

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	curs "github.com/panels/panels/server/cursor"
)

// Config is the service's configuration, parsed from the environment once.
type Config struct {
	DatabaseURL    string
	RedisURL       string
	JWTSecret      string
	JWTJWKSURL     string
	JWTIssuer      string
	JWTAudience    string
	JWTLeeway      time.Duration
	Port           int
	LogLevel       string
	LogFormat      string
	CORSOrigins    []string
	MigrateOnStart bool
	BodyLimit      int64
	DBMaxConns     int
	// Stytch B2B member search backs GET /api/organization/members when all three are set.
	StytchProjectID string
	StytchSecretKey string
	StytchBaseURL   string
	// Rate limits (api.md §4): requests per second and burst, per user and per tenant; a rate of 0
	// turns that limit off.
	RateLimitUserRPS     float64
	RateLimitUserBurst   int
	RateLimitTenantRPS   float64
	RateLimitTenantBurst int
	// CursorKey (CURSOR_KEY, at least 32 bytes) is the secret pagination cursors are signed under,
	// through curs.DeriveKey. Unset, cursors are signed under a key derived from JWT_SECRET;
	// with neither (JWKS-only deployments), under a random per-process key (see CursorSigningKey).
	CursorKey string
	// CacheTTL bounds how long a cached response lives in Redis; 0 turns the response cache off.
	CacheTTL time.Duration
	// Hardening: timeouts, BODY_LIMIT, shutdown, HSTS and metrics exposure (config_hardening.go).
	Hardening
	// DataFlow: syncs, uploads and their limits (config_dataflow.go).
	DataFlow
	// Computation: bounds of formulas and rows pages (config_computation.go).
	Computation
	// QueryHooks are Bun query hooks installed before the service runs any query (tests count
	// each request's statements with one). Never read from the environment.
	QueryHooks []bun.QueryHook
}

// ConfigFromEnv parses and validates the configuration. A bad value is an error naming the variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	cfg := Config{
		DatabaseURL: get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/panels?sslmode=disable"),
		RedisURL:    get("REDIS_URL", "redis://127.0.0.1:6379"),
		JWTSecret:   getenv("JWT_SECRET"),
		CursorKey:   getenv("CURSOR_KEY"),
		JWTJWKSURL:  get("JWT_JWKS_URL", ""),
		JWTIssuer:   get("JWT_ISSUER", ""),
		JWTAudience: get("JWT_AUDIENCE", ""),
		LogLevel:    strings.ToLower(get("LOG_LEVEL", "info")),
		LogFormat:   strings.ToLower(get("LOG_FORMAT", "json")),
		BodyLimit:   1 << 20,

		StytchProjectID: get("STYTCH_PROJECT_ID", ""),
		StytchSecretKey: get("STYTCH_SECRET_KEY", ""),
		StytchBaseURL:   strings.TrimRight(get("STYTCH_BASE_URL", ""), "/"),
	}
	var err error
	if cfg.JWTLeeway, err = time.ParseDuration(get("JWT_LEEWAY", "30s")); err != nil || cfg.JWTLeeway < 0 {
		return cfg, fmt.Errorf("JWT_LEEWAY: want a non-negative duration such as 30s, got %q", getenv("JWT_LEEWAY"))
	}
	if cfg.Port, err = strconv.Atoi(get("PORT", "3001")); err != nil || cfg.Port < 1 || cfg.Port > 65535 {
		return cfg, fmt.Errorf("PORT: want a port number 1..65535, got %q", getenv("PORT"))
	}
	if cfg.DBMaxConns, err = strconv.Atoi(get("DB_MAX_CONNS", "20")); err != nil || cfg.DBMaxConns < 1 {
		return cfg, fmt.Errorf("DB_MAX_CONNS: want a positive integer, got %q", getenv("DB_MAX_CONNS"))
	}
	if err := parseRedisFeatures(&cfg, get); err != nil {
		return cfg, err
	}
	if err := parseHardening(&cfg, get); err != nil {
		return cfg, err
	}
	if err := parseDataFlow(&cfg, get); err != nil {
		return cfg, err
	}
	if err := parseComputation(&cfg, get); err != nil {
		return cfg, err
	}
	switch v := get("MIGRATE_ON_START", "true"); v {
	case "true", "1", "yes":
		cfg.MigrateOnStart = true
	case "false", "0", "no":
	default:
		return cfg, fmt.Errorf("MIGRATE_ON_START: want true or false, got %q", v)
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return cfg, fmt.Errorf("LOG_LEVEL: want debug, info, warn or error, got %q", cfg.LogLevel)
	}
	switch cfg.LogFormat {
	case "json", "text":
	default:
		return cfg, fmt.Errorf("LOG_FORMAT: want json or text, got %q", cfg.LogFormat)
	}
	if u, err := url.Parse(cfg.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return cfg, fmt.Errorf("DATABASE_URL: want a postgres:// URL")
	}
	if u, err := url.Parse(cfg.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return cfg, fmt.Errorf("REDIS_URL: want a redis:// URL")
	}
	if cfg.JWTJWKSURL != "" {
		if u, err := url.Parse(cfg.JWTJWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return cfg, fmt.Errorf("JWT_JWKS_URL: want an http(s) URL")
		}
	}
	if err := checkStytch(cfg); err != nil {
		return cfg, err
	}
	if cfg.JWTSecret == "" && cfg.JWTJWKSURL == "" {
		return cfg, fmt.Errorf("JWT_SECRET: set a secret of at least 32 bytes (or JWT_JWKS_URL); `make run` writes one into .env")
	}
	if cfg.JWTSecret != "" && len(cfg.JWTSecret) < 32 {
		return cfg, fmt.Errorf("JWT_SECRET: must be at least 32 bytes, got %d", len(cfg.JWTSecret))
	}
	if cfg.CursorKey != "" && len(cfg.CursorKey) < 32 {
		return cfg, fmt.Errorf("CURSOR_KEY: must be at least 32 bytes, got %d", len(cfg.CursorKey))
	}
	for _, o := range strings.Split(get("CORS_ORIGINS", ""), ",") {
		if o = strings.TrimSpace(o); o != "" {
			if u, err := url.Parse(o); o != "*" && (err != nil || u.Scheme == "" || u.Host == "") {
				return cfg, fmt.Errorf("CORS_ORIGINS: %q is not an origin such as http://localhost:3000", o)
			}
			cfg.CORSOrigins = append(cfg.CORSOrigins, o)
		}
	}
	return cfg, nil
}

// checkStytch accepts no Stytch settings or all three, with an http(s) base URL.
func checkStytch(cfg Config) error {
	set := map[string]bool{
		"STYTCH_PROJECT_ID": cfg.StytchProjectID != "",
		"STYTCH_SECRET_KEY": cfg.StytchSecretKey != "",
		"STYTCH_BASE_URL":   cfg.StytchBaseURL != "",
	}
	if !set["STYTCH_PROJECT_ID"] && !set["STYTCH_SECRET_KEY"] && !set["STYTCH_BASE_URL"] {
		return nil
	}
	for _, name := range []string{"STYTCH_PROJECT_ID", "STYTCH_SECRET_KEY", "STYTCH_BASE_URL"} {
		if !set[name] {
			return fmt.Errorf("%s: set STYTCH_PROJECT_ID, STYTCH_SECRET_KEY and STYTCH_BASE_URL together (or none of them)", name)
		}
	}
	if u, err := url.Parse(cfg.StytchBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("STYTCH_BASE_URL: want an http(s) URL such as https://api.stytch.com")
	}
	return nil
}

// StytchEnabled reports whether the members listing proxies Stytch.
func (c Config) StytchEnabled() bool {
	return c.StytchProjectID != "" && c.StytchSecretKey != "" && c.StytchBaseURL != ""
}

// CursorSigningKey is the key cursors are sealed with: derived from CURSOR_KEY, else from
// JWT_SECRET (HMAC-SHA256(secret, "panels cursor v1"), so the cursor key never doubles as a
// token key). With neither, it is a random per-process key and ephemeral is true: cursors
// then fail (400) after a restart or on another instance, so such deployments should set CURSOR_KEY.
func (c Config) CursorSigningKey() (key []byte, ephemeral bool) {
	switch {
	case c.CursorKey != "":
		return curs.DeriveKey([]byte(c.CursorKey)), false
	case c.JWTSecret != "":
		return curs.DeriveKey([]byte(c.JWTSecret)), false
	}
	return curs.RandomKey(), true
}

// String describes the configuration for logs, secrets masked.
func (c Config) String() string {
	return fmt.Sprintf("port=%d database=%s redis=%s jwt_secret=%s cursor_key=%s jwks=%q issuer=%q audience=%q leeway=%s migrate_on_start=%t cors=%v stytch=%q stytch_project=%q stytch_secret=%s",
		c.Port, redactURL(c.DatabaseURL), redactURL(c.RedisURL), mask(c.JWTSecret), mask(c.CursorKey), c.JWTJWKSURL, c.JWTIssuer, c.JWTAudience,
		c.JWTLeeway, c.MigrateOnStart, c.CORSOrigins, c.StytchBaseURL, c.StytchProjectID, mask(c.StytchSecretKey)) + " " + c.Hardening.String() + " " + c.Computation.String()
}

func mask(s string) string {
	if s == "" {
		return "(unset)"
	}
	return "********"
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	// pgx also takes the password (and sslpassword) from the query string.
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "pass") {
			q[k] = []string{"xxxxx"}
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}
