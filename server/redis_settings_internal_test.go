package server

import (
	"bytes"
	"testing"
	"time"
)

func TestRedisFeatureConfig(t *testing.T) {
	cfg, err := ConfigFromEnv(cfgEnv(cfgWith()))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimitUserRPS != 100 || cfg.RateLimitUserBurst != 1000 || cfg.RateLimitTenantRPS != 1000 ||
		cfg.RateLimitTenantBurst != 5000 || cfg.CacheTTL != time.Minute {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg, err = ConfigFromEnv(cfgEnv(cfgWith("RATE_LIMIT_USER_RPS", "0.5", "RATE_LIMIT_USER_BURST", "3",
		"RATE_LIMIT_TENANT_RPS", "0", "RATE_LIMIT_TENANT_BURST", "7", "CACHE_TTL", "0")))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimitUserRPS != 0.5 || cfg.RateLimitUserBurst != 3 || cfg.RateLimitTenantRPS != 0 || cfg.RateLimitTenantBurst != 7 || cfg.CacheTTL != 0 {
		t.Errorf("parsed: %+v", cfg)
	}
	for _, kv := range [][2]string{{"RATE_LIMIT_USER_RPS", "-1"}, {"RATE_LIMIT_USER_RPS", "fast"}, {"RATE_LIMIT_TENANT_RPS", "Inf"},
		{"RATE_LIMIT_USER_BURST", "0"}, {"RATE_LIMIT_TENANT_BURST", "1.5"}, {"CACHE_TTL", "-1s"}, {"CACHE_TTL", "60"}} {
		if _, err := ConfigFromEnv(cfgEnv(cfgWith(kv[0], kv[1]))); err == nil || !bytes.Contains([]byte(err.Error()), []byte(kv[0])) {
			t.Errorf("%s=%s: error %v, want one naming the variable", kv[0], kv[1], err)
		}
	}
}
