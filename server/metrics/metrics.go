// Package metrics is the service's Prometheus registry: the request instruments the middleware
// feeds, the cache's and rate limiter's counters read at scrape time, and /metrics itself.
package metrics

import (
	"crypto/subtle"
	"database/sql"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/panels/panels/server/problem"
	"github.com/panels/panels/server/redisx"
)

// Metrics is the registry and the instruments. Metric names are operational API: dashboards and
// alerts depend on them.
type Metrics struct {
	registry   *prometheus.Registry
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	inFlight   prometheus.Gauge
	idempotent *prometheus.CounterVec
	token      string
	separate   bool
}

// Options configure New.
type Options struct {
	Token    string  // METRICS_TOKEN: the bearer token /metrics needs ("" = none)
	Separate bool    // METRICS_ADDR is set: /metrics is served by its own listener, not the API port
	DB       *sql.DB // the bounded pool, for go_sql_*
	// Redis reads the cache's and rate limiter's counters at scrape time (nil: none).
	Redis func() redisx.Metrics
}

// New registers every collector.
func New(o Options) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "panels_http_requests_total",
			Help: "HTTP requests answered, by operationId (\"unmatched\" for unknown routes) and status.",
		}, []string{"operation", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "panels_http_request_duration_seconds",
			Help:    "Time from receiving a request to its answer, by operationId and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation", "status"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "panels_http_requests_in_flight",
			Help: "Requests being handled right now.",
		}),
		idempotent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "panels_idempotency_requests_total",
			Help: "Creates sent with an Idempotency-Key, by outcome: created, replayed, mismatch (422), in_progress (409).",
		}, []string{"outcome"}),
		token:    o.Token,
		separate: o.Separate,
	}
	m.registry.MustRegister(m.requests, m.duration, m.inFlight, m.idempotent,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.DB != nil {
		// go_sql_* (open, in use, idle connections, waits...) of the bounded pool, labelled db_name="panels".
		m.registry.MustRegister(collectors.NewDBStatsCollector(o.DB, "panels"))
	}
	if o.Redis != nil {
		m.registry.MustRegister(redisCollectors(o.Redis)...)
	}
	return m
}

// RequestStarted counts a request in flight until RequestFinished.
func (m *Metrics) RequestStarted() { m.inFlight.Inc() }

// RequestFinished ends what RequestStarted began.
func (m *Metrics) RequestFinished() { m.inFlight.Dec() }

// Observe records an answered request by operationId and status code.
func (m *Metrics) Observe(operation, status string, elapsed time.Duration) {
	m.requests.WithLabelValues(operation, status).Inc()
	m.duration.WithLabelValues(operation, status).Observe(elapsed.Seconds())
}

// Idempotency counts a create sent with an Idempotency-Key by its outcome.
func (m *Metrics) Idempotency(outcome string) { m.idempotent.WithLabelValues(outcome).Inc() }

// Separate reports whether /metrics has its own listener.
func (m *Metrics) Separate() bool { return m.separate }

// redisCollectors read the cache's and rate limiter's atomic counters at scrape time, one
// snapshot field each.
func redisCollectors(snapshot func() redisx.Metrics) []prometheus.Collector {
	counter := func(name, help string, labels prometheus.Labels, v func(redisx.Metrics) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return float64(v(snapshot())) })
	}
	result := func(r string) prometheus.Labels { return prometheus.Labels{"result": r} }
	const cacheHelp = "Cacheable reads by result: hit, miss (Redis usable), bypass (Redis not usable)."
	const rateHelp = "Rate-limit decisions by result: allowed, limited (429)."
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "panels_redis_usable", Help: "1 while the cache and the shared rate limiter are using Redis."},
			func() float64 {
				if snapshot().RedisUsable {
					return 1
				}
				return 0
			}),
		counter("panels_redis_recoveries_total", "Times Redis became usable (the first connection included).", nil,
			func(r redisx.Metrics) uint64 { return r.Recoveries }),
		counter("panels_cache_requests_total", cacheHelp, result("hit"), func(r redisx.Metrics) uint64 { return r.CacheHits }),
		counter("panels_cache_requests_total", cacheHelp, result("miss"), func(r redisx.Metrics) uint64 { return r.CacheMisses }),
		counter("panels_cache_requests_total", cacheHelp, result("bypass"), func(r redisx.Metrics) uint64 { return r.CacheBypasses }),
		counter("panels_cache_stores_total", "Responses written to the cache.", nil, func(r redisx.Metrics) uint64 { return r.CacheStores }),
		counter("panels_cache_errors_total", "Failed cache calls to Redis.", nil, func(r redisx.Metrics) uint64 { return r.CacheErrors }),
		counter("panels_cache_generation_bumps_total", "Committed writes recorded in Redis.", nil,
			func(r redisx.Metrics) uint64 { return r.GenerationBumps }),
		counter("panels_cache_unconfirmed_writes_total", "Committed writes Redis could not record (covered by the next epoch).", nil,
			func(r redisx.Metrics) uint64 { return r.UnconfirmedWrites }),
		counter("panels_rate_limit_requests_total", rateHelp, result("allowed"), func(r redisx.Metrics) uint64 { return r.RateLimitAllowed }),
		counter("panels_rate_limit_requests_total", rateHelp, result("limited"), func(r redisx.Metrics) uint64 { return r.RateLimitLimited }),
		counter("panels_rate_limit_leased_decisions_total", "Allowed requests that spent tokens this instance had leased from Redis (no Redis call).", nil,
			func(r redisx.Metrics) uint64 { return r.RateLimitLeased }),
		counter("panels_rate_limit_fallback_decisions_total", "Decisions taken by the per-process limiter because Redis was not usable.", nil,
			func(r redisx.Metrics) uint64 { return r.RateLimitFallback }),
		counter("panels_rate_limit_errors_total", "Failed rate-limiter calls to Redis.", nil, func(r redisx.Metrics) uint64 { return r.RateLimitErrors }),
	}
}

// metricsFormat is the Prometheus text format 0.0.4, which every scraper reads.
var metricsFormat = expfmt.NewFormat(expfmt.TypeTextPlain)

// Write answers with the current metrics in the text format.
func (m *Metrics) Write(w http.ResponseWriter) error {
	families, err := m.registry.Gather()
	if err != nil && len(families) == 0 {
		return err
	}
	w.Header().Set(echo.HeaderContentType, string(metricsFormat))
	w.WriteHeader(http.StatusOK)
	enc := expfmt.NewEncoder(w, metricsFormat)
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}

// authorized checks the metrics token (in constant time) when one is configured.
func (m *Metrics) authorized(r *http.Request) bool {
	if m.token == "" {
		return true
	}
	scheme, tok, ok := strings.Cut(r.Header.Get(echo.HeaderAuthorization), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(m.token)) == 1
}

func unauthorized() *problem.Problem {
	return &problem.Problem{Status: http.StatusUnauthorized, Slug: "unauthenticated", Detail: "metrics need the metrics bearer token",
		Header: http.Header{"WWW-Authenticate": {`Bearer realm="metrics"`}}}
}

// Guard refuses /metrics on the API port without the metrics token; it runs before the API gate,
// which lets /metrics through without a JWT (the spec declares no JWT security for it).
func (m *Metrics) Guard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Path() == "/metrics" && !m.separate && !m.authorized(c.Request()) {
			return unauthorized()
		}
		return next(c)
	}
}

// Handler serves /metrics for the separate listener (METRICS_ADDR), with the same token rule.
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if !m.authorized(r) {
			problem.Write(w, r, "", unauthorized())
			return
		}
		if err := m.Write(w); err != nil {
			log.Error("write metrics", "error", err.Error())
		}
	})
	return mux
}
