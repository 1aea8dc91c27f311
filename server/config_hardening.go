package server

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Hardening is the part of Config that bounds and exposes a running service: HTTP timeouts and
// body size, the database statement timeout, shutdown, security headers and metrics.
type Hardening struct {
	ReadHeaderTimeout time.Duration // HTTP_READ_HEADER_TIMEOUT
	ReadTimeout       time.Duration // HTTP_READ_TIMEOUT: whole request, body included
	WriteTimeout      time.Duration // HTTP_WRITE_TIMEOUT
	IdleTimeout       time.Duration // HTTP_IDLE_TIMEOUT: keep-alive connections
	// DBStatementTimeout is PostgreSQL's statement_timeout for every pooled connection (0: none). A
	// statement that runs longer is cancelled and the request answers 503.
	DBStatementTimeout time.Duration
	// ShutdownDelay keeps serving (with /healthz not ready) after SIGTERM, so load balancers stop
	// routing here before the listener closes; ShutdownTimeout then bounds the drain of in-flight requests.
	ShutdownDelay   time.Duration
	ShutdownTimeout time.Duration
	// HSTSMaxAge turns on Strict-Transport-Security (whole seconds; 0: off). Set it only when the
	// service is reached over HTTPS (usually through a TLS-terminating proxy).
	HSTSMaxAge time.Duration
	// MetricsToken, when set, is the bearer token /metrics requires. MetricsAddr, when set, moves
	// /metrics to its own listener (for example ":9090"), off the API port.
	MetricsToken string
	MetricsAddr  string
	// PprofAddr, when set, serves net/http/pprof on its own listener (for example 127.0.0.1:6060),
	// never on the API port: profiles reveal internals and cost CPU while they run.
	PprofAddr string
}

// parseHardening reads the Hardening settings and BODY_LIMIT into cfg.
func parseHardening(cfg *Config, get func(name, def string) string) error {
	durations := []struct {
		name string
		def  string
		dst  *time.Duration
	}{
		{"HTTP_READ_HEADER_TIMEOUT", "10s", &cfg.ReadHeaderTimeout},
		{"HTTP_READ_TIMEOUT", "30s", &cfg.ReadTimeout},
		{"HTTP_WRITE_TIMEOUT", "60s", &cfg.WriteTimeout},
		{"HTTP_IDLE_TIMEOUT", "120s", &cfg.IdleTimeout},
		{"DB_STATEMENT_TIMEOUT", "5s", &cfg.DBStatementTimeout},
		{"SHUTDOWN_DELAY", "0s", &cfg.ShutdownDelay},
		{"SHUTDOWN_TIMEOUT", "20s", &cfg.ShutdownTimeout},
	}
	for _, d := range durations {
		v, err := time.ParseDuration(get(d.name, d.def))
		if err != nil || v < 0 {
			return fmt.Errorf("%s: want a non-negative duration such as %s, got %q", d.name, d.def, get(d.name, d.def))
		}
		*d.dst = v
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"HTTP_READ_HEADER_TIMEOUT", cfg.ReadHeaderTimeout}, {"HTTP_WRITE_TIMEOUT", cfg.WriteTimeout}, {"SHUTDOWN_TIMEOUT", cfg.ShutdownTimeout}} {
		if d.v == 0 {
			return fmt.Errorf("%s: must be positive (an unbounded value lets one client hold the server)", d.name)
		}
	}
	if cfg.DBStatementTimeout > 0 && cfg.DBStatementTimeout < time.Millisecond {
		return fmt.Errorf("DB_STATEMENT_TIMEOUT: PostgreSQL counts in milliseconds; want 0 (off) or at least 1ms")
	}
	limit, err := parseBytes(get("BODY_LIMIT", "1MiB"))
	if err != nil || limit < 1 {
		return fmt.Errorf("BODY_LIMIT: want a size such as 1MiB, 512KiB or 1048576, got %q", get("BODY_LIMIT", ""))
	}
	cfg.BodyLimit = limit
	secs, err := strconv.ParseInt(get("HSTS_MAX_AGE", "0"), 10, 64)
	if err != nil || secs < 0 {
		return fmt.Errorf("HSTS_MAX_AGE: want whole seconds such as 31536000 (0 turns HSTS off), got %q", get("HSTS_MAX_AGE", ""))
	}
	cfg.HSTSMaxAge = time.Duration(secs) * time.Second
	cfg.MetricsToken = get("METRICS_TOKEN", "")
	if cfg.MetricsToken != "" && len(cfg.MetricsToken) < 16 {
		return fmt.Errorf("METRICS_TOKEN: want at least 16 characters, got %d", len(cfg.MetricsToken))
	}
	for _, a := range []struct {
		name, example string
		dst           *string
	}{{"METRICS_ADDR", ":9090", &cfg.MetricsAddr}, {"PPROF_ADDR", "127.0.0.1:6060", &cfg.PprofAddr}} {
		*a.dst = get(a.name, "")
		if *a.dst == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(*a.dst); err != nil || port == "" {
			return fmt.Errorf("%s: want host:port or :port such as %s, got %q", a.name, a.example, *a.dst)
		}
	}
	return nil
}

// parseBytes reads 1048576, 1MiB, 512KiB, 2MB or 64kB (KB/MB are decimal, KiB/MiB binary).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"kB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// String describes the settings for the start-up log line; the metrics token is masked.
func (h Hardening) String() string {
	return fmt.Sprintf("http_timeouts=%s/%s/%s/%s db_statement_timeout=%s shutdown_delay=%s shutdown_timeout=%s hsts_max_age=%s metrics_addr=%q metrics_token=%s pprof_addr=%q",
		h.ReadHeaderTimeout, h.ReadTimeout, h.WriteTimeout, h.IdleTimeout, h.DBStatementTimeout, h.ShutdownDelay,
		h.ShutdownTimeout, h.HSTSMaxAge, h.MetricsAddr, mask(h.MetricsToken), h.PprofAddr)
}
