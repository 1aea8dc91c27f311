package metrics

import (
	"testing"

	"github.com/panels/panels/server/redisx"
)

// Every counter of the Redis snapshot is exported and described (a registry checks what
// collectors describe; the leased decisions were once left out of the description).
func TestRedisCountersAreExported(t *testing.T) {
	m := New(Options{Redis: func() redisx.Metrics {
		return redisx.Metrics{RedisUsable: true, CacheHits: 2, CacheMisses: 3, RateLimitLeased: 5, RateLimitLimited: 7}
	}})
	families, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			name := f.GetName()
			for _, l := range mt.GetLabel() {
				name += "," + l.GetName() + "=" + l.GetValue()
			}
			if c := mt.GetCounter(); c != nil {
				got[name] = c.GetValue()
			} else if g := mt.GetGauge(); g != nil {
				got[name] = g.GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"panels_redis_usable":                             1,
		"panels_cache_requests_total,result=hit":          2,
		"panels_cache_requests_total,result=miss":         3,
		"panels_cache_requests_total,result=bypass":       0,
		"panels_rate_limit_leased_decisions_total":        5,
		"panels_rate_limit_requests_total,result=limited": 7,
		"panels_rate_limit_errors_total":                  0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (exported %v), want %v", name, v, ok, want)
		}
	}
}
