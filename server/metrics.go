package server

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/server/problem"
	"github.com/panels/panels/store"
)

// metrics is the service's Prometheus registry and the instruments the middleware feeds. Metric
// names are operational API: dashboards and alerts depend on them.
type metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	inFlight    prometheus.Gauge
	idempotent  *prometheus.CounterVec
	token       string // METRICS_TOKEN: the bearer token /metrics needs ("" = none)
	separate    bool   // METRICS_ADDR: /metrics is served by its own listener, not the API port
	redisSource func() RedisMetrics
}

func newMetrics(st *store.Store, cfg Config, redis func() RedisMetrics) *metrics {
	m := &metrics{
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
		token:       cfg.MetricsToken,
		separate:    cfg.MetricsAddr != "",
		redisSource: redis,
	}
	m.registry.MustRegister(m.requests, m.duration, m.inFlight, m.idempotent,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		// go_sql_* (open, in use, idle connections, waits...) of the bounded pool, labelled db_name="panels".
		collectors.NewDBStatsCollector(st.Pool(), "panels"),
		redisCollector{m})
	return m
}

func (m *metrics) idempotency(outcome string) { m.idempotent.WithLabelValues(outcome).Inc() }

// redisCollector reads the cache's and rate limiter's atomic counters (redis.go) at scrape time.
type redisCollector struct{ m *metrics }

var redisDescs = struct {
	usable, recoveries, cacheRequests, cacheStores, cacheErrors, generationBumps, unconfirmed, rateDecisions, rateLeased, rateFallback, rateErrors *prometheus.Desc
}{
	usable:          prometheus.NewDesc("panels_redis_usable", "1 while the cache and the shared rate limiter are using Redis.", nil, nil),
	recoveries:      prometheus.NewDesc("panels_redis_recoveries_total", "Times Redis became usable (the first connection included).", nil, nil),
	cacheRequests:   prometheus.NewDesc("panels_cache_requests_total", "Cacheable reads by result: hit, miss (Redis usable), bypass (Redis not usable).", []string{"result"}, nil),
	cacheStores:     prometheus.NewDesc("panels_cache_stores_total", "Responses written to the cache.", nil, nil),
	cacheErrors:     prometheus.NewDesc("panels_cache_errors_total", "Failed cache calls to Redis.", nil, nil),
	generationBumps: prometheus.NewDesc("panels_cache_generation_bumps_total", "Committed writes recorded in Redis.", nil, nil),
	unconfirmed:     prometheus.NewDesc("panels_cache_unconfirmed_writes_total", "Committed writes Redis could not record (covered by the next epoch).", nil, nil),
	rateDecisions:   prometheus.NewDesc("panels_rate_limit_requests_total", "Rate-limit decisions by result: allowed, limited (429).", []string{"result"}, nil),
	rateLeased:      prometheus.NewDesc("panels_rate_limit_leased_decisions_total", "Allowed requests that spent tokens this instance had leased from Redis (no Redis call).", nil, nil),
	rateFallback:    prometheus.NewDesc("panels_rate_limit_fallback_decisions_total", "Decisions taken by the per-process limiter because Redis was not usable.", nil, nil),
	rateErrors:      prometheus.NewDesc("panels_rate_limit_errors_total", "Failed rate-limiter calls to Redis.", nil, nil),
}

func (rc redisCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{redisDescs.usable, redisDescs.recoveries, redisDescs.cacheRequests, redisDescs.cacheStores,
		redisDescs.cacheErrors, redisDescs.generationBumps, redisDescs.unconfirmed, redisDescs.rateDecisions, redisDescs.rateFallback, redisDescs.rateErrors} {
		ch <- d
	}
}

func (rc redisCollector) Collect(ch chan<- prometheus.Metric) {
	if rc.m.redisSource == nil {
		return
	}
	r := rc.m.redisSource()
	usable := 0.0
	if r.RedisUsable {
		usable = 1
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	ch <- prometheus.MustNewConstMetric(redisDescs.usable, prometheus.GaugeValue, usable)
	counter(redisDescs.recoveries, r.Recoveries)
	counter(redisDescs.cacheRequests, r.CacheHits, "hit")
	counter(redisDescs.cacheRequests, r.CacheMisses, "miss")
	counter(redisDescs.cacheRequests, r.CacheBypasses, "bypass")
	counter(redisDescs.cacheStores, r.CacheStores)
	counter(redisDescs.cacheErrors, r.CacheErrors)
	counter(redisDescs.generationBumps, r.GenerationBumps)
	counter(redisDescs.unconfirmed, r.UnconfirmedWrites)
	counter(redisDescs.rateDecisions, r.RateLimitAllowed, "allowed")
	counter(redisDescs.rateDecisions, r.RateLimitLimited, "limited")
	counter(redisDescs.rateLeased, r.RateLimitLeased)
	counter(redisDescs.rateFallback, r.RateLimitFallback)
	counter(redisDescs.rateErrors, r.RateLimitErrors)
}

// metricsFormat is the Prometheus text format 0.0.4, which every scraper reads.
var metricsFormat = expfmt.NewFormat(expfmt.TypeTextPlain)

// write encodes the current metrics in the text format.
func (m *metrics) write(w http.ResponseWriter) error {
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
func (m *metrics) authorized(r *http.Request) bool {
	if m.token == "" {
		return true
	}
	scheme, tok, ok := strings.Cut(r.Header.Get(echo.HeaderAuthorization), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(m.token)) == 1
}

func metricsUnauthorized() *problem.Problem {
	return &problem.Problem{Status: http.StatusUnauthorized, Slug: "unauthenticated", Detail: "metrics need the metrics bearer token",
		Header: http.Header{"WWW-Authenticate": {`Bearer realm="metrics"`}}}
}

// metricsGuard refuses /metrics on the API port without the metrics token; it runs before the API
// gate, which lets /metrics through without a JWT (the spec declares no JWT security for it).
func (m *metrics) metricsGuard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Path() == "/metrics" && !m.separate && !m.authorized(c.Request()) {
			return metricsUnauthorized()
		}
		return next(c)
	}
}

// GetMetrics serves the Prometheus metrics on the API port (metricsGuard checked the token).
func (s *Server) GetMetrics(context.Context, gen.GetMetricsRequestObject) (gen.GetMetricsResponseObject, error) {
	if s.metrics.separate {
		return nil, problem.New(http.StatusNotFound, "not-found", "metrics are served on the metrics listener (METRICS_ADDR)")
	}
	return metricsDocument{s.metrics}, nil
}

type metricsDocument struct{ m *metrics }

func (d metricsDocument) VisitGetMetricsResponse(w http.ResponseWriter) error { return d.m.write(w) }

// MetricsHandler serves /metrics for the separate listener (METRICS_ADDR), with the same token rule.
func (a *App) MetricsHandler() http.Handler {
	m := a.Server.metrics
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if !m.authorized(r) {
			problem.Write(w, r, "", metricsUnauthorized())
			return
		}
		if err := m.write(w); err != nil {
			a.Server.log.Error("write metrics", "error", err.Error())
		}
	})
	return mux
}
