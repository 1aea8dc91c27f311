package server

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// parseRedisFeatures reads the rate-limit and cache settings (api.md §4 defaults).
func parseRedisFeatures(cfg *Config, get func(name, def string) string) error {
	var err error
	rates := []struct {
		name string
		def  string
		rate *float64
	}{{"RATE_LIMIT_USER_RPS", "100", &cfg.RateLimitUserRPS}, {"RATE_LIMIT_TENANT_RPS", "1000", &cfg.RateLimitTenantRPS}}
	for _, r := range rates {
		v := get(r.name, r.def)
		if *r.rate, err = strconv.ParseFloat(v, 64); err != nil || *r.rate < 0 || math.IsInf(*r.rate, 0) || math.IsNaN(*r.rate) {
			return fmt.Errorf("%s: want requests per second (a non-negative number; 0 turns the limit off), got %q", r.name, v)
		}
	}
	bursts := []struct {
		name  string
		def   string
		burst *int
	}{{"RATE_LIMIT_USER_BURST", "1000", &cfg.RateLimitUserBurst}, {"RATE_LIMIT_TENANT_BURST", "5000", &cfg.RateLimitTenantBurst}}
	for _, b := range bursts {
		v := get(b.name, b.def)
		if *b.burst, err = strconv.Atoi(v); err != nil || *b.burst < 1 {
			return fmt.Errorf("%s: want a positive integer, got %q", b.name, v)
		}
	}
	v := get("CACHE_TTL", "60s")
	if cfg.CacheTTL, err = time.ParseDuration(v); err != nil || cfg.CacheTTL < 0 || (cfg.CacheTTL > 0 && cfg.CacheTTL < time.Millisecond) {
		return fmt.Errorf("CACHE_TTL: want a duration such as 60s (0 turns the response cache off), got %q", v)
	}
	return nil
}
