package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"

	"github.com/panels/panels/clients/go/apitime"
	"github.com/panels/panels/gen"
	"github.com/panels/panels/server/docs"
	"github.com/panels/panels/server/metrics"
	"github.com/panels/panels/server/problem"
)

// GetHealth reports the seed's health shape: 503 only when the database is down.
func (s *Server) GetHealth(ctx context.Context, _ gen.GetHealthRequestObject) (gen.GetHealthResponseObject, error) {
	h := gen.Health{
		Status:    gen.Healthy,
		Timestamp: apiTime(time.Now()),
		Uptime:    float32(time.Since(s.started).Seconds()),
		Database:  gen.HealthDatabaseUp,
		Redis:     gen.HealthRedis(s.redis.Status(ctx)),
	}
	if h.Redis != gen.HealthRedisUp {
		h.Status = gen.Degraded
	}
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.store.Ping(pingCtx); err != nil {
		h.Status, h.Database = gen.Unhealthy, gen.HealthDatabaseDown
		return gen.GetHealth503JSONResponse(h), nil
	}
	return gen.GetHealth200JSONResponse(h), nil
}

// GetReadiness is ready when the database answers, the schema is current and the service is not draining.
func (s *Server) GetReadiness(ctx context.Context, _ gen.GetReadinessRequestObject) (gen.GetReadinessResponseObject, error) {
	r := gen.Readiness{Status: gen.Ready, Database: gen.ReadinessDatabaseUp, Migrations: gen.Current, Draining: s.draining.Load()}
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.store.Ping(pingCtx); err != nil {
		r.Database, r.Migrations = gen.ReadinessDatabaseDown, gen.Unknown
	} else if state, err := s.store.SchemaState(pingCtx); err != nil {
		r.Migrations = gen.Unknown
	} else {
		r.Migrations = gen.ReadinessMigrations(state)
	}
	if r.Draining || r.Database != gen.ReadinessDatabaseUp || r.Migrations != gen.Current {
		r.Status = gen.NotReady
		return gen.GetReadiness503JSONResponse(r), nil
	}
	return gen.GetReadiness200JSONResponse(r), nil
}

// GetLiveness answers while the process runs.
func (s *Server) GetLiveness(context.Context, gen.GetLivenessRequestObject) (gen.GetLivenessResponseObject, error) {
	return gen.GetLiveness200JSONResponse{Status: gen.Alive}, nil
}

// GetDocs serves the Swagger UI page.
func (s *Server) GetDocs(context.Context, gen.GetDocsRequestObject) (gen.GetDocsResponseObject, error) {
	page, err := docs.FS.ReadFile("index.html")
	if err != nil {
		return nil, err
	}
	return gen.GetDocs200TexthtmlResponse{Body: bytes.NewReader(page), ContentLength: int64(len(page))}, nil
}

// GetDocsAsset serves the documentation's embedded assets.
func (s *Server) GetDocsAsset(_ context.Context, req gen.GetDocsAssetRequestObject) (gen.GetDocsAssetResponseObject, error) {
	data, err := docs.FS.ReadFile(string(req.Asset))
	if err != nil {
		return nil, problem.New(http.StatusNotFound, "not-found", "no such asset")
	}
	var body io.Reader = bytes.NewReader(data)
	if req.Asset == gen.SwaggerUiCss {
		return gen.GetDocsAsset200TextcssResponse{Body: body, ContentLength: int64(len(data))}, nil
	}
	return gen.GetDocsAsset200ApplicationjavascriptResponse{Body: body, ContentLength: int64(len(data))}, nil
}

// GetOpenAPIYAML serves the contract exactly as written.
func (s *Server) GetOpenAPIYAML(context.Context, gen.GetOpenAPIYAMLRequestObject) (gen.GetOpenAPIYAMLResponseObject, error) {
	return gen.GetOpenAPIYAML200ApplicationyamlResponse{Body: bytes.NewReader(s.specYAML), ContentLength: int64(len(s.specYAML))}, nil
}

// GetOpenAPIJSON serves the contract as JSON (what /docs loads).
func (s *Server) GetOpenAPIJSON(context.Context, gen.GetOpenAPIJSONRequestObject) (gen.GetOpenAPIJSONResponseObject, error) {
	return rawJSON(s.specJSON), nil
}

// rawJSON writes pre-encoded JSON without decoding it into a map first.
type rawJSON []byte

func (r rawJSON) VisitGetOpenAPIJSONResponse(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(r)
	return err
}

// apiTime is the wire form of instants: UTC with millisecond precision.
func apiTime(t time.Time) apitime.Time { return apitime.New(t) }

// GetMetrics serves the Prometheus metrics on the API port (metricsGuard checked the token).
func (s *Server) GetMetrics(context.Context, gen.GetMetricsRequestObject) (gen.GetMetricsResponseObject, error) {
	if s.metrics.Separate() {
		return nil, problem.New(http.StatusNotFound, "not-found", "metrics are served on the metrics listener (METRICS_ADDR)")
	}
	return metricsDocument{s.metrics}, nil
}

type metricsDocument struct{ m *metrics.Metrics }

func (d metricsDocument) VisitGetMetricsResponse(w http.ResponseWriter) error { return d.m.Write(w) }

// MetricsHandler serves /metrics for the separate listener (METRICS_ADDR), with the same token rule.
func (a *App) MetricsHandler() http.Handler { return a.Server.metrics.Handler(a.Server.log) }
