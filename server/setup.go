// Package server speaks HTTP: it implements the generated strict interface over the store.
package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/openapi"
	"github.com/panels/panels/server/auth"
	curs "github.com/panels/panels/server/cursor"
	"github.com/panels/panels/server/events"
	"github.com/panels/panels/server/idempotency"
	"github.com/panels/panels/server/metrics"
	"github.com/panels/panels/server/optable"
	"github.com/panels/panels/server/pipeline"
	"github.com/panels/panels/server/redisx"
	"github.com/panels/panels/server/stytch"
	"github.com/panels/panels/server/webhook"
	"github.com/panels/panels/store"
	"github.com/panels/panels/store/formula"
)

// Server implements gen.StrictServerInterface.
type Server struct {
	store    *store.Store
	log      *slog.Logger
	started  time.Time
	redis    *redisx.Monitor
	specJSON []byte
	specYAML []byte
	draining atomic.Bool
	members  memberRecorder
	stytch   *stytch.Client // nil: members come from the members table
	metrics  *metrics.Metrics
	flow     *dataFlow // syncs, uploads and pushes (sync.go)
	cursors  *curs.Codec
	compute  computeLimits
	events   *events.Hub
	streams  struct {
		streamSettings
		maxPerUser int
	}
}

// computeLimits bound what a rows request computes and holds.
type computeLimits struct {
	Formula          formula.Limits
	RowsPageMaxBytes int
}

var _ gen.StrictServerInterface = (*Server)(nil)

// App is a wired service: the Echo instance plus what must be closed with it.
type App struct {
	Echo   *echo.Echo
	Server *Server
	Store  *store.Store
	cancel context.CancelFunc
	hooks  *webhook.Worker // nil with WEBHOOK_WORKERS=0
}

// StopStreams ends every open event stream (each tells its client where it stopped) and refuses
// new ones: an http.Server's Shutdown waits for its requests, and a stream never ends by itself.
func (a *App) StopStreams() { a.Server.events.Shutdown() }

// Close releases the database and Redis connections and stops background work.
func (a *App) Close() error {
	a.StopStreams()
	if a.hooks != nil {
		a.hooks.Stop() // before the database closes: the attempts under way are recorded
	}
	a.cancel()
	a.Server.redis.Close()
	return a.Store.Close()
}

// New wires the service from cfg: database (migrated on start unless disabled), token verifier,
// Redis monitor, and the Echo instance with every middleware in the order of docs/permissions.md#order-of-checks. Tests start the
// service through this same function.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	st, err := store.Open(cfg.DatabaseURL, store.Options{MaxOpenConns: cfg.DBMaxConns, StatementTimeout: cfg.DBStatementTimeout,
		QueryHooks: cfg.QueryHooks})
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if err := prepareSchema(cfg); err != nil {
		_ = st.Close()
		return nil, err
	}
	appCtx, cancel := context.WithCancel(context.Background())
	var secret []byte // nil without JWT_SECRET: auth takes any non-nil secret as configured
	if cfg.JWTSecret != "" {
		secret = []byte(cfg.JWTSecret)
	}
	verifier, err := auth.NewVerifier(appCtx, auth.Config{
		Secret: secret, JWKSURL: cfg.JWTJWKSURL, Issuer: cfg.JWTIssuer,
		Audience: cfg.JWTAudience, Leeway: cfg.JWTLeeway,
	})
	if err != nil {
		cancel()
		_ = st.Close()
		return nil, fmt.Errorf("JWT configuration: %w", err)
	}
	if cfg.JWTLeeway > 5*time.Minute {
		log.Warn("JWT_LEEWAY is above 5 minutes: expired tokens stay valid that long", "leeway", cfg.JWTLeeway.String())
	}
	doc, err := gen.GetSpec()
	if err != nil {
		cancel()
		_ = st.Close()
		return nil, fmt.Errorf("load embedded spec: %w", err)
	}
	srv := &Server{store: st, log: log, started: time.Now(), redis: redisx.Start(appCtx, cfg.RedisURL, st.Namespace, log),
		compute: computeLimits{Formula: cfg.Formula, RowsPageMaxBytes: cfg.RowsPageMaxBytes}}
	if cfg.StytchEnabled() {
		srv.stytch = stytch.New(cfg.StytchBaseURL, cfg.StytchProjectID, cfg.StytchSecretKey)
	}
	if srv.flow, err = newDataFlow(cfg); err != nil {
		cancel()
		_ = st.Close()
		return nil, err
	}
	cursorKey, ephemeral := cfg.CursorSigningKey()
	if ephemeral {
		log.Warn("neither CURSOR_KEY nor JWT_SECRET is set: pagination cursors are signed with a random per-process key, " +
			"so they fail after a restart and on other instances; set CURSOR_KEY (at least 32 bytes, the same on every instance)")
	}
	srv.cursors = curs.New(cursorKey)
	var listen func(context.Context, func())
	if !cfg.EventsWithoutWakeups {
		listen = events.ListenPostgres(cfg.DatabaseURL, log)
	}
	srv.events = events.New(eventSource{st}, events.Options{Poll: cfg.EventsPoll, Buffer: cfg.EventsBuffer,
		MaxPerUser: cfg.EventsMaxPerUser, Listen: listen, Log: log})
	go srv.events.Run(appCtx)
	srv.streams.streamSettings = streamSettings{replayWindow: cfg.EventsReplayWindow, replayMax: cfg.EventsReplayMax,
		heartbeat: cfg.EventsHeartbeat, writeTimeout: cfg.WriteTimeout}
	srv.streams.maxPerUser = cfg.EventsMaxPerUser
	srv.metrics = metrics.New(metrics.Options{Token: cfg.MetricsToken, Separate: cfg.MetricsAddr != "", DB: st.Pool(), Redis: srv.redis.Metrics})
	if srv.specJSON, err = json.Marshal(doc); err != nil {
		cancel()
		_ = st.Close()
		return nil, err
	}
	srv.specYAML = openapi.YAML
	e, err := newEcho(appCtx, srv, doc, verifier, cfg)
	if err != nil {
		cancel()
		srv.redis.Close()
		_ = st.Close()
		return nil, err
	}
	app := &App{Echo: e, Server: srv, Store: st, cancel: cancel}
	if cfg.WebhookWorkers > 0 {
		app.hooks = newWebhookWorker(cfg, st, srv.flow, log)
		app.hooks.Start()
	}
	return app, nil
}

// prepareSchema migrates on start (under golang-migrate's lock), or with MIGRATE_ON_START=false
// refuses a schema that is not exactly the binary's.
func prepareSchema(cfg Config) error {
	m, err := store.NewMigrator(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect to DATABASE_URL for migrations: %w", err)
	}
	defer m.Close()
	if cfg.MigrateOnStart {
		if err := m.Up(); err != nil {
			return fmt.Errorf("migrate on start: %w (inspect with `panels migrate version`)", err)
		}
	}
	state, err := m.State()
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if state != store.SchemaCurrent {
		v, _, latest, _ := m.Version()
		return fmt.Errorf("schema is %s (database version %d, binary expects %d): run `panels migrate up` or set MIGRATE_ON_START=true", state, v, latest)
	}
	return nil
}

// newEcho builds the middleware stack and routes; background work it starts ends with ctx.
func newEcho(ctx context.Context, srv *Server, doc *openapi3.T, v *auth.Verifier, cfg Config) (*echo.Echo, error) {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = pipeline.ErrorHandler(srv.log)
	ops, err := optable.New(doc)
	if err != nil {
		return nil, fmt.Errorf("read the operations of the embedded spec: %w", err)
	}
	gate, err := pipeline.NewGate(doc, ops, v)
	if err != nil {
		return nil, err
	}
	cache := redisx.NewCache(srv.redis, redisx.CacheOptions{TTL: cfg.CacheTTL, Ops: ops, Principal: pipeline.Principal})
	limiter := redisx.NewLimiter(srv.redis, redisx.LimitOptions{UserRPS: cfg.RateLimitUserRPS, UserBurst: cfg.RateLimitUserBurst,
		TenantRPS: cfg.RateLimitTenantRPS, TenantBurst: cfg.RateLimitTenantBurst}, cache)
	gate.AfterAuth(limiter.Check)
	gate.AfterAuth(srv.recordMember) // members are recorded once per user, never failing a request

	// Order: request id → body size → authentication → rate limit → validation → handler.
	e.Pre(pipeline.AssignRequestID)
	e.Pre(pipeline.NewObserver(srv.log, srv.metrics, ops).Middleware) // one log line and the metrics of every request
	e.Use(pipeline.Recover(srv.log))
	e.Use(pipeline.SecurityHeaders(cfg.HSTSMaxAge))
	e.Use(pipeline.Compression(ops))
	if len(cfg.CORSOrigins) > 0 {
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:     cfg.CORSOrigins,
			AllowCredentials: true,
			AllowHeaders:     []string{"Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key", "X-Request-Id"},
			ExposeHeaders:    []string{"X-Request-Id", "ETag", "Location", "Link", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"},
			AllowMethods:     []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions},
		}))
	}
	e.Use(pipeline.BodyLimit(cfg.BodyLimit, cfg.UploadLimit, ops))
	e.Use(streamedRequests(cfg, ops)) // uploads may take longer than HTTP_READ_TIMEOUT
	e.Use(srv.metrics.Guard)
	e.Use(gate.Middleware)
	e.Use(cache.Middleware) // after the gate: the caller is known, the request valid
	// Innermost: it commits before the answer reaches the outer middleware.
	keys := idempotency.New(srv.store, ops, cfg.DBStatementTimeout, srv.metrics)
	go keys.PurgeExpired(ctx, srv.log)
	e.Use(keys.Middleware)
	gen.RegisterHandlers(e, gen.NewStrictHandler(srv, nil))
	return e, nil
}

// RedisMetrics is a snapshot of the response cache's and the rate limiter's counters.
type RedisMetrics = redisx.Metrics

// RedisMetrics returns the current cache and rate-limiter counters.
func (s *Server) RedisMetrics() RedisMetrics { return s.redis.Metrics() }

// TenantChanged records a write of tenant made outside the API (a script, a test writing SQL):
// cached reads of the tenant made before it are not served again.
func (a *App) TenantChanged(ctx context.Context, tenant string) { a.Server.redis.Bump(ctx, tenant) }

// RedisStatus is "up", "down" or "disabled", as /health reports it.
func (a *App) RedisStatus(ctx context.Context) string { return a.Server.redis.Status(ctx) }

// Drain marks the service as shutting down: readiness answers not-ready from now on.
func (s *Server) Drain() { s.draining.Store(true) }
