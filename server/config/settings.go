package config

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/panels/panels/store/ingest"
)

// Setting is one environment variable: its default, what it means, and how it is parsed into
// Config and shown in the start-up log line.
type Setting struct {
	Name    string
	Default string // as a user would write it; "" is unset
	Unit    string // the kind of value and its range
	Doc     string // one line, for README.md's table
	Secret  bool   // masked in the log line
	// raw values are used byte for byte, untrimmed: `panels token` reads JWT_SECRET unparsed,
	// and a token it mints must verify against the secret the service parsed.
	raw bool
	kind
}

// Settings lists every setting, in the order they are parsed and documented.
func Settings() []Setting { return slices.Clone(settings) }

func lookup(name string) Setting {
	for _, s := range settings {
		if s.Name == name {
			return s
		}
	}
	panic("config: no setting " + name)
}

// settings is parsed in order: a setting may read one parsed above it.
var settings = []Setting{
	{Name: "DATABASE_URL", Default: "postgres://postgres@127.0.0.1:5432/panels?sslmode=disable", Unit: "postgres:// URL",
		Doc: "PostgreSQL; a password in it (user info or `password=` in the query) is masked in the log. " +
			"With `serve --dev` (`make run`): unset means the default address if a server answers there, else a private cluster in `.data/postgres`; `embedded` forces that cluster. " +
			"Behind a connection pooler use session mode, or transaction mode with prepared statements (PgBouncer 1.21+, `max_prepared_statements`): " +
			"the rows endpoint prepares its two repeated statements on each connection",
		kind: serviceURL(func(c *Config) *string { return &c.DatabaseURL }, "want a postgres:// URL", "postgres", "postgresql")},
	{Name: "REDIS_URL", Default: "redis://127.0.0.1:6379", Unit: "redis:// or rediss:// URL",
		Doc:  "Redis; unreachable means running degraded, reconnecting in the background",
		kind: serviceURL(func(c *Config) *string { return &c.RedisURL }, "want a redis:// URL", "redis", "rediss")},
	{Name: "JWT_SECRET", Unit: "at least 32 bytes", Secret: true, raw: true,
		Doc:  "HS256 secret; this or `JWT_JWKS_URL` is required (`make run` writes a random one into `.env`)",
		kind: text(func(c *Config) *string { return &c.JWTSecret }, minLength(32, "must be at least 32 bytes, got %d"))},
	{Name: "JWT_JWKS_URL", Unit: "http(s) URL",
		Doc: "JWKS for RS256/ES256/EdDSA tokens (cached, refreshed on an unknown `kid`)",
		kind: text(func(c *Config) *string { return &c.JWTJWKSURL }, func(v string) error {
			if !httpURL(v) {
				return fmt.Errorf("want an http(s) URL")
			}
			return nil
		})},
	{Name: "JWT_ISSUER", Unit: "text", Doc: "the `iss` tokens must carry; enforced when set",
		kind: text(func(c *Config) *string { return &c.JWTIssuer }, nil)},
	{Name: "JWT_AUDIENCE", Unit: "text", Doc: "the `aud` tokens must carry; enforced when set",
		kind: text(func(c *Config) *string { return &c.JWTAudience }, nil)},
	{Name: "JWT_LEEWAY", Default: "30s", Unit: "duration, at least 0", Doc: "clock skew allowed on `exp`/`nbf`/`iat` (above 5m start-up warns)",
		kind: duration(func(c *Config) *time.Duration { return &c.JWTLeeway }, "", nil)},
	{Name: "CURSOR_KEY", Unit: "at least 32 bytes", Secret: true, raw: true,
		Doc:  "secret that pagination cursors are sealed under (see [Cursors](#cursors)); unset, a key derived from `JWT_SECRET`, else a random one per process; set the same value on every instance",
		kind: text(func(c *Config) *string { return &c.CursorKey }, minLength(32, "must be at least 32 bytes, got %d"))},
	{Name: "PORT", Default: "3001", Unit: "1..65535", Doc: "listen port",
		kind: integer(func(c *Config) *int { return &c.Port }, 1, 65535, "want a port number 1..65535")},
	{Name: "LOG_LEVEL", Default: "info", Unit: "`debug`, `info`, `warn` or `error`", Doc: "least severe level logged",
		kind: oneOf(func(c *Config) *string { return &c.LogLevel }, "debug, info, warn or error", "debug", "info", "warn", "error")},
	{Name: "LOG_FORMAT", Default: "json", Unit: "`json` or `text`", Doc: "log line format",
		kind: oneOf(func(c *Config) *string { return &c.LogFormat }, "json or text", "json", "text")},
	{Name: "CORS_ORIGINS", Unit: "comma-separated origins, or `*`", Doc: "CORS allowlist (`make run` sets `http://localhost:3000`)",
		kind: list(func(c *Config) *[]string { return &c.CORSOrigins }, func(origins []string) error {
			for _, o := range origins {
				if u, err := url.Parse(o); o != "*" && (err != nil || u.Scheme == "" || u.Host == "") {
					return fmt.Errorf("%q is not an origin such as http://localhost:3000", o)
				}
			}
			return nil
		})},
	{Name: "MIGRATE_ON_START", Default: "true", Unit: "`true` or `false`", Doc: "migrate on start; with `false`, `serve` refuses a schema that is behind, dirty or newer",
		kind: boolean(func(c *Config) *bool { return &c.MigrateOnStart })},

	{Name: "RATE_LIMIT_USER_RPS", Default: "100", Unit: "requests per second, at least 0", Doc: "token bucket per user, shared by all instances through Redis; `0` turns it off",
		kind: rate(func(c *Config) *float64 { return &c.RateLimitUserRPS })},
	{Name: "RATE_LIMIT_USER_BURST", Default: "1000", Unit: "requests, at least 1", Doc: "burst of the per-user bucket",
		kind: integer(func(c *Config) *int { return &c.RateLimitUserBurst }, 1, maxInt, "want a positive integer")},
	{Name: "RATE_LIMIT_TENANT_RPS", Default: "1000", Unit: "requests per second, at least 0", Doc: "the same per tenant; over either limit: 429 with `Retry-After` and `RateLimit-*` headers",
		kind: rate(func(c *Config) *float64 { return &c.RateLimitTenantRPS })},
	{Name: "RATE_LIMIT_TENANT_BURST", Default: "5000", Unit: "requests, at least 1", Doc: "burst of the per-tenant bucket",
		kind: integer(func(c *Config) *int { return &c.RateLimitTenantBurst }, 1, maxInt, "want a positive integer")},
	{Name: "CACHE_TTL", Default: "60s", Unit: "duration, 0 or at least 1ms",
		Doc: "lifetime of cached answers of `GET /api/panels`, `/api/panels/{id}`, `/api/panels/{id}/columns`, `/api/views/{id}` in Redis; `0` turns the cache off",
		kind: duration(func(c *Config) *time.Duration { return &c.CacheTTL }, "want a duration such as 60s (0 turns the response cache off)",
			func(d time.Duration, v string) error {
				if d > 0 && d < time.Millisecond {
					return fmt.Errorf("want a duration such as 60s (0 turns the response cache off), got %q", v)
				}
				return nil
			})},

	{Name: "STYTCH_PROJECT_ID", Unit: "text", Doc: "Stytch project; with the next two, `GET /api/organization/members` proxies Stytch's B2B member search (HTTP Basic, 5 s timeout; upstream failure is 502) instead of listing the members the service has seen",
		kind: text(func(c *Config) *string { return &c.StytchProjectID }, nil)},
	{Name: "STYTCH_SECRET_KEY", Unit: "text", Secret: true, Doc: "Stytch secret; set all three `STYTCH_*` or none",
		kind: text(func(c *Config) *string { return &c.StytchSecretKey }, nil)},
	{Name: "STYTCH_BASE_URL", Unit: "http(s) URL", Doc: "Stytch API, e.g. `https://api.stytch.com` (a trailing `/` is dropped)",
		kind: text(func(c *Config) *string { return &c.StytchBaseURL }, nil).trimmed(func(v string) (string, error) {
			v = strings.TrimRight(v, "/")
			if u, err := url.Parse(v); v != "" && (err != nil || !httpURL(v) || u.User != nil || u.RawQuery != "" || u.Fragment != "") {
				return "", fmt.Errorf("want an http(s) URL such as https://api.stytch.com")
			}
			return v, nil
		})},

	{Name: "BODY_LIMIT", Default: "1MiB", Unit: "size (`512KiB`, `2MB` or bytes), at least 1", Doc: "largest request body; larger is 413 before anything reads it",
		kind: size(func(c *Config) *int64 { return &c.BodyLimit }, 1, maxSize, "want a size such as 1MiB, 512KiB or 1048576")},
	{Name: "UPLOAD_LIMIT", Default: "50MiB", Unit: "size, at least 1", Doc: "largest upload or push body; those two routes stream their bodies past `BODY_LIMIT`",
		kind: size(func(c *Config) *int64 { return &c.UploadLimit }, 1, maxSize, "want a size such as 50MiB")},
	{Name: "API_SOURCE_BASE_URL", Unit: "http(s) URL, no query", Doc: "base URL that `api` sources' `endpoint` paths resolve against; without it such a sync fails with a message saying so",
		kind: text(func(c *Config) *string { return &c.APISourceBaseURL }, func(v string) error {
			if u, err := url.Parse(v); err != nil || !httpURL(v) || u.RawQuery != "" || u.Fragment != "" {
				return fmt.Errorf("want an http(s) URL such as https://fhir.example.com/api, got %q", v)
			}
			return nil
		})},
	{Name: "SYNC_ALLOW_HOSTS", Unit: "comma-separated hosts, addresses or CIDRs", Doc: "syncs refuse loopback, private, link-local and metadata addresses; these are allowed",
		kind: list(func(c *Config) *[]string { return &c.SyncAllowHosts }, func(hosts []string) error {
			_, err := ingest.NewGuard(hosts, false)
			return err
		})},
	{Name: "SYNC_ALLOW_PRIVATE", Default: "false", Unit: "`true` or `false`", Doc: "allow syncs every non-public address but the metadata endpoints (development)",
		kind: boolean(func(c *Config) *bool { return &c.SyncAllowPrivate })},
	{Name: "SYNC_TIMEOUT", Default: "2m", Unit: "duration, above 0", Doc: "bound of one sync's time: fetch and store (an upload's body too)",
		kind: duration(func(c *Config) *time.Duration { return &c.SyncTimeout }, "want a positive duration such as 2m", func(d time.Duration, v string) error {
			if d == 0 {
				return fmt.Errorf("want a positive duration such as 2m, got %q", v)
			}
			return nil
		})},
	{Name: "WEBHOOK_RETRY_SCHEDULE", Default: "5s,30s,2m,10m,1h,6h,24h", Unit: "comma-separated durations, each above 0",
		Doc:  "waits before each retry of a failed webhook delivery; once they have run out the delivery is given up",
		kind: schedule(func(c *Config) *[]time.Duration { return &c.WebhookRetrySchedule })},
	{Name: "WEBHOOK_MAX_FAILURES", Default: "10", Unit: "failures, at least 1", Doc: "consecutive failed delivery attempts after which a webhook is disabled and its creator notified",
		kind: integer(func(c *Config) *int { return &c.WebhookMaxFailures }, 1, maxInt, "want a positive integer")},
	{Name: "WEBHOOK_POLL_INTERVAL", Default: "1s", Unit: "duration, 1ms to 1s", Doc: "how often each instance looks for due webhook deliveries",
		kind: duration(func(c *Config) *time.Duration { return &c.WebhookPollInterval }, "want a duration from 1ms to 1s such as 500ms", func(d time.Duration, v string) error {
			if d < time.Millisecond || d > time.Second {
				return fmt.Errorf("want a duration from 1ms to 1s such as 500ms, got %q", v)
			}
			return nil
		})},
	{Name: "WEBHOOK_TIMEOUT", Default: "10s", Unit: "duration, above 0", Doc: "bound of one webhook delivery attempt (connection, request and answer); the worker's lease on it is twice as long",
		kind: duration(func(c *Config) *time.Duration { return &c.WebhookTimeout }, "want a positive duration such as 10s", func(d time.Duration, v string) error {
			if d == 0 {
				return fmt.Errorf("want a positive duration such as 10s, got %q", v)
			}
			return nil
		})},
	{Name: "WEBHOOK_WORKERS", Default: "4", Unit: "deliveries, 0 to 256", Doc: "webhook deliveries each instance attempts at once (`0`: this instance delivers none)",
		kind: integer(func(c *Config) *int { return &c.WebhookWorkers }, 0, 256, "want an integer from 0 to 256")},
	{Name: "SYNC_MAX_BYTES", Default: "50MiB", Unit: "size, at least 1", Doc: "bound of an `api` source's response",
		kind: size(func(c *Config) *int64 { return &c.SyncMaxBytes }, 1, maxSize, "want a size such as 50MiB")},
	{Name: "SYNC_MAX_RECORDS", Default: "1000000", Unit: "records, at least 1", Doc: "bound of the records of one sync, upload or push",
		kind: integer(func(c *Config) *int { return &c.SyncMaxRecords }, 1, maxInt, "want a positive integer")},

	{Name: "FORMULA_MAX_TEXT_BYTES", Default: "64KiB", Unit: "size, 1 byte..1GiB",
		Doc:  "longest text a formula computes; a longer one is never built: the cell is null, counted in its column's `errors` and explained in its row's `errors`, and so are the cells of formulas reading it",
		kind: size(func(c *Config) *int { return &c.Formula.MaxText }, 1, 1<<30, "want a size from 1 byte to 1GiB such as 64KiB")},
	{Name: "FORMULA_MAX_GROWTH_BYTES", Default: "16MiB", Unit: "size, at least `FORMULA_MAX_TEXT_BYTES`",
		Doc:  "largest static growth bound of a calculated column (each base column counted as `FORMULA_MAX_TEXT_BYTES`, each reference of `&`/`CONCAT` as often as it appears, multiplied along chains of calculated columns); creating or changing a column past it is 422 naming the chain",
		kind: growth()},
	{Name: "ROWS_PAGE_MAX_BYTES", Default: "4MiB", Unit: "size, 1 byte..1GiB",
		Doc:  "a rows page ends early (`hasMore`, `nextCursor`) once its values reach this size, so a page holds at most this plus one row (a page sorted by a calculated column keeps only its `limit`+1 best rows while it reads); the CSV export streams row by row instead (sorted by a calculated column, it reads every row before the first)",
		kind: size(func(c *Config) *int { return &c.RowsPageMaxBytes }, 1, 1<<30, "want a size from 1 byte to 1GiB such as 4MiB")},

	{Name: "EVENTS_REPLAY_WINDOW", Default: "24h", Unit: "duration, above 0",
		Doc:  "`GET /api/events` resumes from a `Last-Event-ID` at most this old; an older one gets `event: reset` and the live stream",
		kind: bounding(func(c *Config) *time.Duration { return &c.EventsReplayWindow })},
	{Name: "EVENTS_REPLAY_MAX", Default: "10000", Unit: "events, 1..1000000",
		Doc:  "a resume with more events than this to replay gets `event: reset` instead (the replay is read whole before the stream starts)",
		kind: integer(func(c *Config) *int { return &c.EventsReplayMax }, 1, 1_000_000, "want a number of events from 1 to 1000000")},
	{Name: "EVENTS_HEARTBEAT", Default: "15s", Unit: "duration, above 0", Doc: "an idle event stream sends a comment line this often, so proxies keep it open",
		kind: bounding(func(c *Config) *time.Duration { return &c.EventsHeartbeat })},
	{Name: "EVENTS_POLL_INTERVAL", Default: "1s", Unit: "duration, 1ms..1s",
		Doc: "each instance reads the outbox at least this often, besides the wake-ups PostgreSQL's `NOTIFY` brings at every commit",
		kind: duration(func(c *Config) *time.Duration { return &c.EventsPoll }, "", func(d time.Duration, _ string) error {
			if d < time.Millisecond || d > time.Second {
				return fmt.Errorf("want a duration from 1ms to 1s")
			}
			return nil
		})},
	{Name: "EVENTS_BUFFER", Default: "256", Unit: "events, 1..100000",
		Doc:  "events a stream may have waiting for a slow client; one more sends it `event: reset` and closes the stream",
		kind: integer(func(c *Config) *int { return &c.EventsBuffer }, 1, 100_000, "want a number of events from 1 to 100000")},
	{Name: "EVENTS_MAX_PER_USER", Default: "10", Unit: "streams, at least 1",
		Doc:  "open event streams per user on one instance; one more is 429",
		kind: integer(func(c *Config) *int { return &c.EventsMaxPerUser }, 1, maxInt, "want a positive integer")},

	{Name: "HTTP_READ_HEADER_TIMEOUT", Default: "10s", Unit: "duration, above 0", Doc: "time to read a request's headers",
		kind: bounding(func(c *Config) *time.Duration { return &c.ReadHeaderTimeout })},
	{Name: "HTTP_READ_TIMEOUT", Default: "30s", Unit: "duration, at least 0", Doc: "time to read a whole request, body included (upload and push bodies get `SYNC_TIMEOUT` instead when it is longer)",
		kind: duration(func(c *Config) *time.Duration { return &c.ReadTimeout }, "", nil)},
	{Name: "HTTP_WRITE_TIMEOUT", Default: "60s", Unit: "duration, above 0", Doc: "time to write an answer",
		kind: bounding(func(c *Config) *time.Duration { return &c.WriteTimeout })},
	{Name: "HTTP_IDLE_TIMEOUT", Default: "120s", Unit: "duration, at least 0", Doc: "time an idle keep-alive connection stays open",
		kind: duration(func(c *Config) *time.Duration { return &c.IdleTimeout }, "", nil)},
	{Name: "DB_MAX_CONNS", Default: "20", Unit: "connections, at least 1", Doc: "bound of the PostgreSQL connection pool (half of it bounds the syncs running at once)",
		kind: integer(func(c *Config) *int { return &c.DBMaxConns }, 1, maxInt, "want a positive integer")},
	{Name: "DB_STATEMENT_TIMEOUT", Default: "5s", Unit: "duration, 0 or at least 1ms", Doc: "PostgreSQL `statement_timeout` of every pooled connection (`0`: none); a statement past it is cancelled and the request answers 503",
		kind: duration(func(c *Config) *time.Duration { return &c.DBStatementTimeout }, "", func(d time.Duration, _ string) error {
			if d > 0 && d < time.Millisecond {
				return fmt.Errorf("PostgreSQL counts in milliseconds; want 0 (off) or at least 1ms")
			}
			return nil
		})},
	{Name: "SHUTDOWN_DELAY", Default: "0s", Unit: "duration, at least 0",
		Doc:  "after SIGTERM/SIGINT, keep serving this long with `/healthz` answering 503 (`draining: true`) so load balancers move away. Whatever the delay, before the listener closes the service accepts every connection already in the kernel's accept queue and waits for its first request (at most 2 s in all), so with the default 0s no request that reached the queue before the signal fails",
		kind: duration(func(c *Config) *time.Duration { return &c.ShutdownDelay }, "", nil)},
	{Name: "SHUTDOWN_TIMEOUT", Default: "20s", Unit: "duration, above 0", Doc: "then stop accepting and give requests in flight this long to finish; the database and Redis close afterwards; exit 0 when all finished",
		kind: bounding(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
	{Name: "HSTS_MAX_AGE", Default: "0", Unit: "whole seconds, at least 0", Doc: "`max-age` of `Strict-Transport-Security` (`0`: no header); set it only behind HTTPS",
		kind: hstsMaxAge()},
	{Name: "METRICS_TOKEN", Unit: "at least 16 characters", Secret: true, Doc: "when set, `/metrics` needs `Authorization: Bearer <token>`",
		kind: text(func(c *Config) *string { return &c.MetricsToken }, minLength(16, "want at least 16 characters, got %d"))},
	{Name: "METRICS_ADDR", Unit: "host:port or :port", Doc: "when set (e.g. `:9090`), `/metrics` is served on that listener only and answers 404 on the API port",
		kind: address(func(c *Config) *string { return &c.MetricsAddr }, ":9090")},
	{Name: "PPROF_ADDR", Unit: "host:port or :port", Doc: "when set (e.g. `127.0.0.1:6060`), Go's runtime profiles (`/debug/pprof/`) are served on that listener; keep it off public interfaces",
		kind: address(func(c *Config) *string { return &c.PprofAddr }, "127.0.0.1:6060")},
}

// checks run once every setting is parsed: the rules that tie settings together.
var checks = []func(c Config) error{
	func(c Config) error {
		set := []struct {
			name string
			on   bool
		}{{"STYTCH_PROJECT_ID", c.StytchProjectID != ""}, {"STYTCH_SECRET_KEY", c.StytchSecretKey != ""}, {"STYTCH_BASE_URL", c.StytchBaseURL != ""}}
		if !set[0].on && !set[1].on && !set[2].on {
			return nil
		}
		for _, s := range set {
			if !s.on {
				return fmt.Errorf("%s: set STYTCH_PROJECT_ID, STYTCH_SECRET_KEY and STYTCH_BASE_URL together (or none of them)", s.name)
			}
		}
		return nil
	},
	func(c Config) error {
		if c.JWTSecret == "" && c.JWTJWKSURL == "" {
			return fmt.Errorf("JWT_SECRET: set a secret of at least 32 bytes (or JWT_JWKS_URL); `make run` writes one into .env")
		}
		return nil
	},
}

const (
	maxInt  = int(^uint(0) >> 1)
	maxSize = 1 << 40 // parseBytes' own bound
)

// trimmed runs norm on the value before k parses it: norm may rewrite it, or refuse it.
func (k kind) trimmed(norm func(v string) (string, error)) kind {
	parse := k.parse
	k.parse = func(s Setting, c *Config, v string) error {
		v, err := norm(v)
		if err != nil {
			return err
		}
		return parse(s, c, v)
	}
	return k
}

// growth is FORMULA_MAX_GROWTH_BYTES: a static bound below the text bound would refuse every
// column that reads a base column, so it is at least FORMULA_MAX_TEXT_BYTES (parsed above it).
func growth() kind {
	return kind{
		parse: func(_ Setting, c *Config, v string) error {
			n, err := parseBytes(v)
			if err != nil || n < int64(c.Formula.MaxText) {
				return fmt.Errorf("want a size such as 16MiB, at least FORMULA_MAX_TEXT_BYTES (%d), got %q", c.Formula.MaxText, v)
			}
			c.Formula.MaxGrowth = n
			return nil
		},
		show: func(c *Config) string { return fmt.Sprint(c.Formula.MaxGrowth) },
	}
}

// hstsMaxAge is HSTS_MAX_AGE: whole seconds, as the header carries them.
func hstsMaxAge() kind {
	return kind{
		parse: func(_ Setting, c *Config, v string) error {
			secs, err := strconv.ParseInt(v, 10, 64)
			if err != nil || secs < 0 {
				return fmt.Errorf("want whole seconds such as 31536000 (0 turns HSTS off), got %q", v)
			}
			c.HSTSMaxAge = time.Duration(secs) * time.Second
			return nil
		},
		show: func(c *Config) string { return fmt.Sprint(int64(c.HSTSMaxAge / time.Second)) },
	}
}
