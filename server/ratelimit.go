package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/rueidis"
	"golang.org/x/time/rate"

	"github.com/panels/panels/server/auth"
)

// bucket is one token bucket's setting: rate tokens per second, up to burst. A rate of 0 is off.
type bucket struct {
	rate  float64
	burst int
}

func (b bucket) on() bool { return b.rate > 0 }

// rateLimiter limits every authenticated request per user and per tenant with token buckets kept
// in Redis, so that the limits hold across instances. While Redis is not usable, a per-process
// limiter with the same settings takes over (so the service-wide limit is then at most the number
// of instances times the setting). It runs in the API gate's afterAuth slot: after authentication,
// before validation, as api.md orders; health and documentation routes need no token and never
// reach it.
type rateLimiter struct {
	redis        *redisMonitor
	user, tenant bucket
	local        localLimiter
	// cacheable tells which requests the response cache will look up: for those, the limiter's
	// script also reads the cache's epoch and the tenant's generation, saving a round trip.
	cacheable func(echo.Context) bool
}

// limitScript takes one token from the user's and the tenant's bucket, or from neither. Time is
// Redis's, so instances with skewed clocks agree.
//
// KEYS: user bucket, tenant bucket, and for a cacheable read also the epoch and the tenant's
// generation (redis.go). ARGV: user rate, user burst, tenant rate, tenant burst, and the random
// start of a missing generation.
// Returns: allowed (0/1), then per bucket its tokens ×1000 after the decision (-1 when the bucket
// is off) and the milliseconds until it is full again, then the milliseconds until a denied
// request could pass, and with four keys the epoch ("" when missing) and the generation, read
// after the decision exactly as redisMonitor.generation reads them.
var limitScript = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function level(key, rate, burst)
  if rate <= 0 then return nil end
  local v = redis.call('HMGET', key, 'tokens', 'at')
  local tokens, at = tonumber(v[1]), tonumber(v[2])
  if tokens == nil or at == nil then return burst end
  return math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
end
local rates = {tonumber(ARGV[1]), tonumber(ARGV[3])}
local bursts = {tonumber(ARGV[2]), tonumber(ARGV[4])}
local levels = {level(KEYS[1], rates[1], bursts[1]), level(KEYS[2], rates[2], bursts[2])}
local allowed, retry = 1, 0
for i = 1, 2 do
  if levels[i] ~= nil and levels[i] < 1 then
    allowed = 0
    retry = math.max(retry, (1 - levels[i]) * 1000 / rates[i])
  end
end
local out = {allowed}
for i = 1, 2 do
  if levels[i] == nil then
    table.insert(out, -1)
    table.insert(out, 0)
  else
    if allowed == 1 then
      levels[i] = levels[i] - 1
      local full = math.ceil((bursts[i] - levels[i]) * 1000 / rates[i])
      redis.call('HSET', KEYS[i], 'tokens', string.format('%.17g', levels[i]), 'at', now)
      redis.call('PEXPIRE', KEYS[i], full + 1000)
    end
    table.insert(out, math.floor(levels[i] * 1000))
    table.insert(out, math.ceil((bursts[i] - levels[i]) * 1000 / rates[i]))
  end
end
table.insert(out, math.ceil(retry))
if #KEYS == 4 and allowed == 1 then
  local epoch = redis.call('GET', KEYS[3])
  if not epoch then
    table.insert(out, '')
    table.insert(out, '0')
  else
    if redis.call('EXISTS', KEYS[4]) == 0 then
      redis.call('SET', KEYS[4], ARGV[5])
      redis.call('INCR', KEYS[4])
    end
    table.insert(out, epoch)
    table.insert(out, redis.call('GET', KEYS[4]))
  end
end
return out`)

// limitState is one bucket after a decision.
type limitState struct {
	on     bool
	burst  int
	tokens float64
	full   time.Duration // until the bucket is full again
}

type decision struct {
	allowed bool
	retry   time.Duration
	user    limitState
	tenant  limitState
	// generation is the cache's epoch and generation read by the same script, when asked for.
	generation *cacheGeneration
}

// cacheGeneration is what a cached read needs from Redis before it can name its entry.
type cacheGeneration struct {
	epoch string
	gen   int64
}

// generationContextKey is where the limiter leaves the generation it read for the response cache.
const generationContextKey = "panels.cacheGeneration"

// check is the afterAuth hook.
func (l *rateLimiter) check(c echo.Context, p auth.Principal) error {
	if !l.user.on() && !l.tenant.on() {
		return nil
	}
	withGeneration := l.cacheable != nil && l.cacheable(c)
	d := l.decide(c.Request().Context(), p, withGeneration)
	if d.generation != nil {
		c.Set(generationContextKey, *d.generation)
	}
	shown := d.binding()
	h := c.Response().Header()
	h.Set("RateLimit-Limit", strconv.Itoa(shown.burst))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(0, int(math.Floor(shown.tokens)))))
	h.Set("RateLimit-Reset", strconv.Itoa(int(math.Ceil(shown.full.Seconds()))))
	if d.allowed {
		l.redis.counters.rateAllowed.Add(1)
		return nil
	}
	l.redis.counters.rateLimited.Add(1)
	retry := max(1, int(math.Ceil(d.retry.Seconds())))
	return &problem{Status: http.StatusTooManyRequests, Slug: "rate-limited",
		Detail: fmt.Sprintf("too many requests; retry in %d s", retry),
		Header: http.Header{"Retry-After": {strconv.Itoa(retry)}}}
}

// binding is the bucket the headers describe: the one that refused, or the one closer to empty.
func (d decision) binding() limitState {
	u, t := d.user, d.tenant
	switch {
	case !u.on:
		return t
	case !t.on:
		return u
	case !d.allowed && (u.tokens < 1) != (t.tokens < 1):
		if u.tokens < 1 {
			return u
		}
		return t
	case t.tokens < u.tokens:
		return t
	}
	return u
}

func (l *rateLimiter) decide(ctx context.Context, p auth.Principal, withGeneration bool) decision {
	if client, ns, ok := l.redis.use(); ok {
		d, err := l.decideShared(ctx, client, ns, p, withGeneration)
		if err == nil {
			return d
		}
		l.redis.counters.rateErrors.Add(1)
		l.redis.fail("rate limit", err)
	}
	l.redis.counters.rateFallback.Add(1)
	return l.local.decide(time.Now(), p, l.user, l.tenant)
}

func (l *rateLimiter) decideShared(ctx context.Context, client rueidis.Client, ns string, p auth.Principal, withGeneration bool) (decision, error) {
	ctx, cancel := context.WithTimeout(ctx, redisOpTimeout)
	defer cancel()
	keys := []string{limitKey(ns, p.TenantID, p.UserID), limitKey(ns, p.TenantID, "")}
	args := []string{formatRate(l.user.rate), strconv.Itoa(l.user.burst), formatRate(l.tenant.rate), strconv.Itoa(l.tenant.burst)}
	if withGeneration {
		keys = append(keys, epochKey(ns), generationKey(ns, p.TenantID))
		args = append(args, generationStart())
	}
	vals, err := limitScript.Exec(ctx, client, keys, args).ToArray()
	if err != nil {
		return decision{}, err
	}
	if len(vals) != 6 && len(vals) != 8 {
		return decision{}, fmt.Errorf("rate limit script returned %d values", len(vals))
	}
	out := make([]int64, 6)
	for i := range out {
		if out[i], err = vals[i].AsInt64(); err != nil {
			return decision{}, fmt.Errorf("rate limit script value %d: %w", i, err)
		}
	}
	state := func(b bucket, tokens, full int64) limitState {
		if tokens < 0 {
			return limitState{}
		}
		return limitState{on: true, burst: b.burst, tokens: float64(tokens) / 1000, full: time.Duration(full) * time.Millisecond}
	}
	d := decision{
		allowed: out[0] == 1,
		user:    state(l.user, out[1], out[2]),
		tenant:  state(l.tenant, out[3], out[4]),
		retry:   time.Duration(out[5]) * time.Millisecond,
	}
	if len(vals) == 8 {
		epoch, err := vals[6].ToString()
		if err != nil {
			return decision{}, err
		}
		s, err := vals[7].ToString()
		if err != nil {
			return decision{}, err
		}
		gen, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return decision{}, err
		}
		// A missing epoch is left for the cache to find: it treats it as Redis having lost its data.
		if epoch != "" {
			d.generation = &cacheGeneration{epoch: epoch, gen: gen}
		}
	}
	return d, nil
}

// limitKey is a bucket's key: the user's, or the tenant's when user is "". The buckets share the
// {namespace} hash tag of the cache's keys, so that one script can read both in a cluster.
func limitKey(ns, tenant, user string) string {
	if user == "" {
		return "panels:{" + ns + "}:rl:" + shortHash(tenant) + ":t"
	}
	return "panels:{" + ns + "}:rl:" + shortHash(tenant) + ":u:" + shortHash(tenant, user)
}

func formatRate(r float64) string { return strconv.FormatFloat(r, 'g', -1, 64) }

// localLimiter is the per-process fallback: the same buckets, in memory.
type localLimiter struct {
	mu        sync.Mutex
	buckets   map[string]*localBucket
	lastSweep time.Time
}

type localBucket struct {
	lim  *rate.Limiter
	used time.Time
}

func (l *localLimiter) decide(now time.Time, p auth.Principal, user, tenant bucket) decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*localBucket{}
	}
	l.sweep(now, user, tenant)
	d := decision{allowed: true}
	var taken []*rate.Reservation
	for _, b := range []struct {
		key   string
		cfg   bucket
		state *limitState
	}{{"u\x00" + p.TenantID + "\x00" + p.UserID, user, &d.user}, {"t\x00" + p.TenantID, tenant, &d.tenant}} {
		if !b.cfg.on() {
			continue
		}
		lb := l.buckets[b.key]
		if lb == nil {
			lb = &localBucket{lim: rate.NewLimiter(rate.Limit(b.cfg.rate), b.cfg.burst)}
			l.buckets[b.key] = lb
		}
		lb.used = now
		r := lb.lim.ReserveN(now, 1)
		if delay := r.DelayFrom(now); !r.OK() || delay > 0 {
			r.CancelAt(now)
			d.allowed = false
			d.retry = max(d.retry, delay)
		} else {
			taken = append(taken, r)
		}
		*b.state = limitState{on: true, burst: b.cfg.burst, tokens: lb.lim.TokensAt(now)}
	}
	if !d.allowed {
		for _, r := range taken {
			r.CancelAt(now) // both buckets or neither
		}
		d.user.tokens, d.tenant.tokens = l.tokens("u\x00"+p.TenantID+"\x00"+p.UserID, now), l.tokens("t\x00"+p.TenantID, now)
	}
	for _, s := range []struct {
		st  *limitState
		cfg bucket
	}{{&d.user, user}, {&d.tenant, tenant}} {
		if s.st.on {
			s.st.full = time.Duration((float64(s.cfg.burst) - s.st.tokens) / s.cfg.rate * float64(time.Second))
		}
	}
	return d
}

func (l *localLimiter) tokens(key string, now time.Time) float64 {
	if lb := l.buckets[key]; lb != nil {
		return lb.lim.TokensAt(now)
	}
	return 0
}

// sweep forgets buckets idle long enough to be full again: a new one is the same.
func (l *localLimiter) sweep(now time.Time, user, tenant bucket) {
	if now.Sub(l.lastSweep) < time.Minute {
		return
	}
	l.lastSweep = now
	idle := time.Minute
	for _, b := range []bucket{user, tenant} {
		if b.on() {
			idle = max(idle, time.Duration(float64(b.burst)/b.rate*float64(time.Second)))
		}
	}
	for k, lb := range l.buckets {
		if now.Sub(lb.used) > idle {
			delete(l.buckets, k)
		}
	}
}

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

func newRateLimiter(m *redisMonitor, cfg Config) *rateLimiter {
	return &rateLimiter{redis: m, user: bucket{cfg.RateLimitUserRPS, cfg.RateLimitUserBurst},
		tenant: bucket{cfg.RateLimitTenantRPS, cfg.RateLimitTenantBurst}}
}
