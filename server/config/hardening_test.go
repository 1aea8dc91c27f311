package config

import (
	"strings"
	"testing"
	"time"
)

func hardeningConfig(t *testing.T, settings map[string]string) (Config, error) {
	t.Helper()
	vars := cfgWith()
	for k, v := range settings {
		vars[k] = v
	}
	return FromEnv(cfgEnv(vars))
}

func TestHardeningDefaults(t *testing.T) {
	cfg, err := hardeningConfig(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ReadHeaderTimeout != 10*time.Second || cfg.ReadTimeout != 30*time.Second || cfg.WriteTimeout != 60*time.Second ||
		cfg.IdleTimeout != 120*time.Second || cfg.DBStatementTimeout != 5*time.Second || cfg.ShutdownDelay != 0 ||
		cfg.ShutdownTimeout != 20*time.Second || cfg.HSTSMaxAge != 0 || cfg.MetricsToken != "" || cfg.MetricsAddr != "" ||
		cfg.PprofAddr != "" || cfg.BodyLimit != 1<<20 {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestHardeningSettings(t *testing.T) {
	cfg, err := hardeningConfig(t, map[string]string{
		"BODY_LIMIT": "512KiB", "HTTP_READ_TIMEOUT": "5s", "DB_STATEMENT_TIMEOUT": "0", "SHUTDOWN_DELAY": "3s",
		"SHUTDOWN_TIMEOUT": "45s", "HSTS_MAX_AGE": "31536000", "METRICS_TOKEN": "a-metrics-token-of-32-characters", "METRICS_ADDR": ":9090",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BodyLimit != 512<<10 || cfg.ReadTimeout != 5*time.Second || cfg.DBStatementTimeout != 0 || cfg.ShutdownDelay != 3*time.Second ||
		cfg.ShutdownTimeout != 45*time.Second || cfg.HSTSMaxAge != 365*24*time.Hour || cfg.MetricsAddr != ":9090" {
		t.Errorf("parsed %+v", cfg)
	}
	if s := cfg.String(); strings.Contains(s, "a-metrics-token") || !strings.Contains(s, "METRICS_TOKEN=********") {
		t.Errorf("config line shows the metrics token: %s", s)
	}
	for in, want := range map[string]int64{"1048576": 1 << 20, "2MB": 2_000_000, "64kB": 64_000, "1 MiB": 1 << 20} {
		if cfg, err := hardeningConfig(t, map[string]string{"BODY_LIMIT": in}); err != nil || cfg.BodyLimit != want {
			t.Errorf("BODY_LIMIT=%s: %d, %v (want %d)", in, cfg.BodyLimit, err, want)
		}
	}
}

func TestHardeningRefusesBadSettings(t *testing.T) {
	for name, value := range map[string]string{
		"BODY_LIMIT":           "lots",
		"HTTP_READ_TIMEOUT":    "-1s",
		"HTTP_WRITE_TIMEOUT":   "0",
		"SHUTDOWN_TIMEOUT":     "0s",
		"SHUTDOWN_DELAY":       "soon",
		"DB_STATEMENT_TIMEOUT": "500us",
		"HSTS_MAX_AGE":         "1y",
		"METRICS_TOKEN":        "short",
		"METRICS_ADDR":         "9090",
	} {
		_, err := hardeningConfig(t, map[string]string{name: value})
		if err == nil || !strings.HasPrefix(err.Error(), name+":") {
			t.Errorf("%s=%s: %v (want an error naming the variable)", name, value, err)
		}
	}
}
