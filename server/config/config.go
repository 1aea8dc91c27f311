// Package config is the service's configuration: one table of environment variables (settings.go)
// from which the parser, the start-up log line and README.md's configuration table all derive.
package config

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	curs "github.com/panels/panels/server/cursor"
	"github.com/panels/panels/store/formula"
)

// Config is the service's configuration, parsed from the environment once. Each field but
// QueryHooks is set by one entry of the settings table, which documents it.
type Config struct {
	DatabaseURL    string
	RedisURL       string
	JWTSecret      string
	JWTJWKSURL     string
	JWTIssuer      string
	JWTAudience    string
	JWTLeeway      time.Duration
	CursorKey      string
	Port           int
	LogLevel       string
	LogFormat      string
	CORSOrigins    []string
	MigrateOnStart bool

	RateLimitUserRPS     float64 // 0 turns the limit off
	RateLimitUserBurst   int
	RateLimitTenantRPS   float64
	RateLimitTenantBurst int
	CacheTTL             time.Duration // 0 turns the response cache off

	StytchProjectID string
	StytchSecretKey string
	StytchBaseURL   string

	BodyLimit        int64
	UploadLimit      int64 // upload and push bodies stream past BodyLimit
	APISourceBaseURL string
	SyncAllowHosts   []string
	SyncAllowPrivate bool
	SyncTimeout      time.Duration
	SyncMaxBytes     int64
	SyncMaxRecords   int

	WebhookRetrySchedule []time.Duration
	WebhookMaxFailures   int
	WebhookPollInterval  time.Duration
	WebhookTimeout       time.Duration
	WebhookWorkers       int

	Formula          formula.Limits
	RowsPageMaxBytes int

	EventsReplayWindow time.Duration
	EventsReplayMax    int
	EventsHeartbeat    time.Duration
	EventsPoll         time.Duration
	EventsBuffer       int
	EventsMaxPerUser   int

	ReadHeaderTimeout  time.Duration
	ReadTimeout        time.Duration
	WriteTimeout       time.Duration
	IdleTimeout        time.Duration
	DBMaxConns         int
	DBStatementTimeout time.Duration
	ShutdownDelay      time.Duration
	ShutdownTimeout    time.Duration
	HSTSMaxAge         time.Duration // whole seconds; 0 is off
	MetricsToken       string
	MetricsAddr        string
	PprofAddr          string

	// EventsWithoutWakeups leaves the event stream to its polling alone, as when NOTIFY wake-ups
	// are lost (tests). Never read from the environment.
	EventsWithoutWakeups bool

	// QueryHooks are Bun query hooks installed before the service runs any query (tests count
	// each request's statements with one). Never read from the environment.
	QueryHooks []bun.QueryHook
}

// FromEnv parses and validates the configuration. A bad value is an error naming the variable.
func FromEnv(getenv func(string) string) (Config, error) {
	var c Config
	for _, s := range settings {
		if err := s.read(&c, getenv); err != nil {
			return c, err
		}
	}
	for _, check := range checks {
		if err := check(c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// DatabaseURL is DATABASE_URL, validated, for the commands that need nothing else.
func DatabaseURL(getenv func(string) string) (string, error) {
	var c Config
	err := lookup("DATABASE_URL").read(&c, getenv)
	return c.DatabaseURL, err
}

// read sets s's field of c from the environment, or from s's default when the variable is unset.
func (s Setting) read(c *Config, getenv func(string) string) error {
	v := getenv(s.Name)
	if !s.raw {
		v = strings.TrimSpace(v)
	}
	if v == "" {
		v = s.Default
	}
	if err := s.parse(s, c, v); err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
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

// String lists every setting as NAME=value, as LogValue does.
func (c Config) String() string {
	var b strings.Builder
	for i, a := range c.shown() {
		if i > 0 {
			b.WriteByte(' ')
		}
		v := a.Value.String()
		if strings.ContainsAny(v, " \"") {
			v = strconv.Quote(v)
		}
		b.WriteString(a.Key + "=" + v)
	}
	return b.String()
}

// LogValue is the start-up log line's view of the configuration: every setting by its
// variable's name, secrets masked and passwords removed from URLs.
func (c Config) LogValue() slog.Value { return slog.GroupValue(c.shown()...) }

// shown walks the settings table, so a new setting cannot be left out of the log line.
func (c Config) shown() []slog.Attr {
	attrs := make([]slog.Attr, 0, len(settings))
	for _, s := range settings {
		v := s.show(&c)
		switch {
		case s.Secret:
			v = mask(v)
		case v == "":
			v = "(unset)"
		}
		attrs = append(attrs, slog.String(s.Name, v))
	}
	return attrs
}
