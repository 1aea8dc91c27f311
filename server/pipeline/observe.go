package pipeline

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/panels/panels/server/metrics"
	"github.com/panels/panels/server/optable"
	"github.com/panels/panels/server/problem"
)

// Observer writes one log line and the request metrics for every request.
type Observer struct {
	log     *slog.Logger
	metrics *metrics.Metrics
	ops     *optable.Table
}

// NewObserver logs to log and counts in m, naming requests by their operation in ops.
func NewObserver(log *slog.Logger, m *metrics.Metrics, ops *optable.Table) *Observer {
	return &Observer{log: log, metrics: m, ops: ops}
}

// Middleware runs before routing (Echo's Pre), right after the request id: it answers errors
// itself through the central handler, so the line it logs has the final status.
func (o *Observer) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		req := c.Request()
		if stateOf(req.Context()) == nil { // AssignRequestID runs first in the service; not in every test
			c.SetRequest(req.WithContext(withState(req.Context(), "")))
		}
		rec := stateOf(c.Request().Context())
		o.metrics.RequestStarted()
		defer o.metrics.RequestFinished()
		if err := next(c); err != nil {
			c.Error(err)
		}
		res := c.Response()
		status := res.Status
		if !res.Committed && status == 0 {
			status = http.StatusOK
		}
		op := o.operation(c)
		elapsed := time.Since(start)
		code := strconv.Itoa(status)
		o.metrics.Observe(op, code, elapsed)

		req = c.Request()
		ctx := req.Context()
		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelError
		case status >= 400:
			level = slog.LevelWarn
		}
		if !o.log.Enabled(ctx, level) {
			return nil
		}
		p := Principal(ctx)
		// Never the query, headers or bodies: tokens and secrets stay out of the logs.
		attrs := []slog.Attr{
			slog.String("request_id", RequestID(ctx)),
			slog.String("method", req.Method),
			slog.String("path", req.URL.Path),
			slog.String("operation", op),
			slog.Int("status", status),
			slog.Float64("latency_ms", float64(elapsed.Microseconds())/1000),
			slog.Int64("bytes", res.Size),
		}
		if p.TenantID != "" {
			attrs = append(attrs, slog.String("tenant", p.TenantID), slog.String("user", p.UserID))
		}
		switch {
		case status >= 500:
			if rec.err != nil {
				attrs = append(attrs, slog.String("error", rec.err.Error()))
			}
		case status >= 400:
			if rec.problem != nil {
				attrs = append(attrs, slog.String("detail", rec.problem.Detail))
			}
		}
		o.log.LogAttrs(context.WithoutCancel(ctx), level, "request", attrs...)
		return nil
	}
}

// operation names the request for logs and metrics by its operationId.
func (o *Observer) operation(c echo.Context) string {
	method := c.Request().Method
	if op, ok := o.ops.Lookup(method, c.Path()); ok {
		return op.ID
	}
	if method == http.MethodOptions {
		return "preflight"
	}
	return "unmatched"
}

// ErrorHandler is Echo's HTTPErrorHandler: every error path of the service ends there, is logged
// once (5xx at error level, 4xx at warn) and answered with problem+json.
func ErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		p := problem.From(err)
		req := c.Request()
		if rec := stateOf(req.Context()); rec != nil {
			rec.err, rec.problem = err, p // the request's own log line reports it
			problem.Write(c.Response(), req, RequestID(req.Context()), p)
			return
		}
		attrs := []any{"status", p.Status, "method", req.Method, "path", req.URL.Path, "request_id", RequestID(req.Context())}
		if p.Status >= 500 {
			log.Error("request failed", append(attrs, "error", err.Error())...)
		} else {
			log.Log(req.Context(), slog.LevelWarn, "request refused", append(attrs, "detail", p.Detail)...)
		}
		problem.Write(c.Response(), req, RequestID(req.Context()), p)
	}
}
