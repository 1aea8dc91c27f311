package redisx

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
	"github.com/panels/panels/server/problem"
)

// bucket is one token bucket's setting: rate tokens per second, up to burst. A rate of 0 is off.
type bucket struct {
	rate  float64
	burst int
}

func (b bucket) on() bool { return b.rate > 0 }

// Limiter limits every authenticated request per user and per tenant with token buckets kept
// in Redis, so that the limits hold across instances. While Redis is not usable, a per-process
// limiter with the same settings takes over (so the service-wide limit is then at most the number
// of instances times the setting). It runs in the API gate's afterAuth slot: after authentication,
// before validation, so a refused caller learns nothing about its request's validity; health and
// documentation routes need no token and never reach it.
//
// An instance takes tokens from Redis in leases of up to leaseWindow's worth of the bucket's rate
// (one token when that is less than two) and spends them locally until they run out. A busy caller
// thus costs one script call per lease instead of one per request. Every token spent was taken
// from the shared bucket, so over time the limit holds exactly; a lease only moves when tokens
// are spent: an instance may spend what it took a while ago (a burst above the bucket's level by
// at most one lease per instance) and holds tokens the other instances cannot have (a caller may
// be refused there while one lease is left here). Leases of callers idle for leaseIdle are
// dropped, their tokens lost (the bucket refilled meanwhile).
type Limiter struct {
	redis        *Monitor
	user, tenant bucket
	local        localLimiter
	leases       leases
	// cache, when set, is asked which requests it will look up: for those, the limiter's script
	// also reads the cache's epoch and the tenant's generation and hands them to the cache,
	// saving the lookup a round trip.
	cache *Cache
}

// LimitOptions are the buckets' settings (RATE_LIMIT_*); a rate of 0 turns a bucket off.
type LimitOptions struct {
	UserRPS     float64
	UserBurst   int
	TenantRPS   float64
	TenantBurst int
}

// NewLimiter limits through m; cache may be nil.
func NewLimiter(m *Monitor, o LimitOptions, cache *Cache) *Limiter {
	return &Limiter{redis: m, user: bucket{o.UserRPS, o.UserBurst}, tenant: bucket{o.TenantRPS, o.TenantBurst}, cache: cache}
}

// leaseWindow is how much of a bucket's rate one lease takes; leaseIdle is when an unused lease
// is forgotten.
const (
	leaseWindow = 50 * time.Millisecond
	leaseIdle   = 10 * time.Second
)

// leaseSize is how many tokens one script call takes from a bucket: a window's worth of its
// rate, at most a quarter of its burst, at least one.
func (b bucket) leaseSize() int {
	if !b.on() {
		return 0
	}
	return max(1, min(int(b.rate*leaseWindow.Seconds()), b.burst/4))
}

// leases are the tokens this instance holds, per user and per tenant.
type leases struct {
	mu        sync.Mutex
	held      map[string]*lease
	lastSweep time.Time
}

type lease struct {
	tokens   int
	used     time.Time  // last spent from or topped up
	state    limitState // the bucket in Redis when the lease was last topped up
	fetching bool       // a request is taking a lease for it: the others take single tokens meanwhile
}

func leaseKey(p auth.Principal, tenantOnly bool) string {
	if tenantOnly {
		return "t\x00" + p.TenantID
	}
	return "u\x00" + p.TenantID + "\x00" + p.UserID
}

// spend takes one token from the caller's leases. When a bucket that is on has no live lease,
// nothing is spent and wants says how many tokens to ask Redis for per bucket: a whole lease by
// the first request to find it empty, one token by the others until that lease arrives (else
// every concurrent request would take a lease and most of them would be dropped).
func (l *leases) spend(now time.Time, p auth.Principal, buckets [2]bucket) (d decision, ok bool, wants [2]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil {
		l.held = map[string]*lease{}
	}
	var held [2]*lease
	ok = true
	for i, b := range buckets {
		if !b.on() {
			continue
		}
		k := leaseKey(p, i == 1)
		h := l.held[k]
		if h == nil {
			h = &lease{}
			l.held[k] = h
		}
		held[i] = h
		if h.tokens < 1 {
			ok = false
		}
	}
	if !ok {
		for i, h := range held {
			switch {
			case h == nil:
			case h.fetching:
				wants[i] = 1
			default:
				wants[i] = buckets[i].leaseSize()
				h.fetching = wants[i] > 1 // took clears it; a single token needs no guard
			}
		}
		return decision{}, false, wants
	}
	d.allowed = true
	for i, st := range []*limitState{&d.user, &d.tenant} {
		if h := held[i]; h != nil {
			h.tokens--
			h.used = now
			*st = h.state
			st.tokens += float64(h.tokens)
		}
	}
	return d, true, wants
}

// took records a script call made with wants: the tokens granted beyond the one its request
// spent become the lease (a denied or failed call grants none).
func (l *leases) took(now time.Time, p auth.Principal, d decision, wants, grants [2]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > leaseIdle {
		l.lastSweep = now
		for k, h := range l.held {
			if !h.fetching && now.Sub(h.used) > leaseIdle {
				delete(l.held, k)
			}
		}
	}
	for i, state := range []limitState{d.user, d.tenant} {
		h := l.held[leaseKey(p, i == 1)]
		if h == nil || wants[i] == 0 {
			continue
		}
		if wants[i] > 1 {
			h.fetching = false
		}
		if extra := grants[i] - 1; extra > 0 {
			h.tokens += extra
			h.used = now
			state.tokens -= float64(extra) // spend adds back what is still held
			h.state = state
		}
	}
}

// limitScript takes a lease (up to ARGV's sizes, at least one token) from the user's and the
// tenant's bucket, or nothing from either. Time is Redis's, so instances with skewed clocks agree.
//
// KEYS: user bucket, tenant bucket, and for a cacheable read also the epoch and the tenant's
// generation (monitor.go). ARGV: user rate, user burst, tenant rate, tenant burst, user lease size,
// tenant lease size, and the random start of a missing generation.
// Returns: allowed (0/1), then per bucket its tokens ×1000 after the decision (-1 when the bucket
// is off) and the milliseconds until it is full again, then the milliseconds until a denied
// request could pass, the tokens granted from each bucket, and with four keys the epoch (""
// when missing) and the generation, read after the decision as redisMonitor.generation reads them.
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
local wants = {tonumber(ARGV[5]), tonumber(ARGV[6])}
local levels = {level(KEYS[1], rates[1], bursts[1]), level(KEYS[2], rates[2], bursts[2])}
local allowed, retry = 1, 0
for i = 1, 2 do
  if levels[i] ~= nil and levels[i] < 1 then
    allowed = 0
    retry = math.max(retry, (1 - levels[i]) * 1000 / rates[i])
  end
end
local out = {allowed}
local grants = {0, 0}
for i = 1, 2 do
  if levels[i] == nil then
    table.insert(out, -1)
    table.insert(out, 0)
  else
    if allowed == 1 then
      grants[i] = math.max(1, math.min(wants[i], math.floor(levels[i])))
      levels[i] = levels[i] - grants[i]
      local full = math.ceil((bursts[i] - levels[i]) * 1000 / rates[i])
      redis.call('HSET', KEYS[i], 'tokens', string.format('%.17g', levels[i]), 'at', now)
      redis.call('PEXPIRE', KEYS[i], full + 1000)
    end
    table.insert(out, math.floor(levels[i] * 1000))
    table.insert(out, math.ceil((bursts[i] - levels[i]) * 1000 / rates[i]))
  end
end
table.insert(out, math.ceil(retry))
table.insert(out, grants[1])
table.insert(out, grants[2])
if #KEYS == 4 and allowed == 1 then
  local epoch = redis.call('GET', KEYS[3])
  if not epoch then
    table.insert(out, '')
    table.insert(out, '0')
  else
    if redis.call('EXISTS', KEYS[4]) == 0 then
      redis.call('SET', KEYS[4], ARGV[7])
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

// Check is the API gate's hook after authentication.
func (l *Limiter) Check(c echo.Context, p auth.Principal) error {
	if !l.user.on() && !l.tenant.on() {
		return nil
	}
	withGeneration := l.cache != nil && l.cache.cacheable(c)
	d := l.decide(c.Request().Context(), p, withGeneration)
	if d.generation != nil {
		l.cache.prefetched(c, *d.generation)
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
	return &problem.Problem{Status: http.StatusTooManyRequests, Slug: "rate-limited",
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

func (l *Limiter) decide(ctx context.Context, p auth.Principal, withGeneration bool) decision {
	if client, ns, ok := l.redis.use(); ok {
		d, ok, wants := l.leases.spend(time.Now(), p, [2]bucket{l.user, l.tenant})
		if ok {
			l.redis.counters.rateLeased.Add(1)
			return d
		}
		d, grants, err := l.decideShared(ctx, client, ns, p, wants, withGeneration)
		l.leases.took(time.Now(), p, d, wants, grants)
		if err == nil {
			return d
		}
		l.redis.counters.rateErrors.Add(1)
		l.redis.fail("rate limit", err)
	}
	l.redis.counters.rateFallback.Add(1)
	return l.local.decide(time.Now(), p, l.user, l.tenant)
}

func (l *Limiter) decideShared(ctx context.Context, client rueidis.Client, ns string, p auth.Principal, wants [2]int, withGeneration bool) (decision, [2]int, error) {
	ctx, cancel := context.WithTimeout(ctx, redisOpTimeout)
	defer cancel()
	keys := []string{limitKey(ns, p.TenantID, p.UserID), limitKey(ns, p.TenantID, "")}
	args := []string{formatRate(l.user.rate), strconv.Itoa(l.user.burst), formatRate(l.tenant.rate), strconv.Itoa(l.tenant.burst),
		strconv.Itoa(wants[0]), strconv.Itoa(wants[1])}
	if withGeneration {
		keys = append(keys, epochKey(ns), generationKey(ns, p.TenantID))
		args = append(args, generationStart())
	}
	var grants [2]int
	vals, err := limitScript.Exec(ctx, client, keys, args).ToArray()
	if err != nil {
		return decision{}, grants, err
	}
	if len(vals) != 8 && len(vals) != 10 {
		return decision{}, grants, fmt.Errorf("rate limit script returned %d values", len(vals))
	}
	out := make([]int64, 8)
	for i := range out {
		if out[i], err = vals[i].AsInt64(); err != nil {
			return decision{}, grants, fmt.Errorf("rate limit script value %d: %w", i, err)
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
	grants = [2]int{int(out[6]), int(out[7])}
	// The headers count what this instance still holds as remaining.
	d.user.tokens += float64(max(0, grants[0]-1))
	d.tenant.tokens += float64(max(0, grants[1]-1))
	if len(vals) == 10 {
		epoch, err := vals[8].ToString()
		if err != nil {
			return decision{}, grants, err
		}
		s, err := vals[9].ToString()
		if err != nil {
			return decision{}, grants, err
		}
		gen, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return decision{}, grants, err
		}
		// A missing epoch is left for the cache to find: it treats it as Redis having lost its data.
		if epoch != "" {
			d.generation = &cacheGeneration{epoch: epoch, gen: gen}
		}
	}
	return d, grants, nil
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
