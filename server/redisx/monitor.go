// Package redisx is the service's use of Redis: the monitor that owns the one client and decides
// when Redis may be used, the response cache, and the shared rate limiter. Redis is an
// accelerator only: without it the service answers from PostgreSQL with per-process limits.
package redisx

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Redis never makes a request wait long: every call has this budget, and after a failure no
// request calls Redis at all until the monitor has seen it answer again.
const (
	redisOpTimeout  = 250 * time.Millisecond
	redisPingEvery  = 500 * time.Millisecond
	redisRetryEvery = 100 * time.Millisecond
	redisMaxBackoff = time.Second
)

// Monitor owns the one Redis client of the service. It connects in the background (rueidis
// refuses to build a client while the server is unreachable, and the service must start degraded
// without it), watches the connection, and decides when the cache and the shared rate limiter
// may use Redis.
//
// Coherence of the response cache rests on two values in Redis, both read with plain Do on every
// cached read (a value from the client-side cache could be one invalidation late):
//   - a generation per tenant, bumped (INCR) after every committed write of the tenant and before
//     its response is sent (cache.go). Cache keys embed it, and an entry is written once (SET NX),
//     so a read after an acknowledged write lands on a key that was filled after that write
//     committed; entries can then be read through the client-side cache (DoCache) safely.
//   - an epoch, a random token embedded in every cache key, replaced whenever an instance starts
//     using Redis: at its first connection and after every failure it observed.
//
// A failed bump (Redis unreachable or slow) means a write was acknowledged without moving its
// tenant's generation. From that moment the instance serves no cached read at all (not only for
// that tenant) until it has recovered, and recovering replaces the epoch, after every such write
// has committed (failSeq orders them): every entry filled before is then unreachable, on all
// instances at once. This is stricter than keeping a set of pending tenants and retrying their
// bumps, and it also covers what such a set cannot: a writer that dies before Redis comes back
// (the instances that saw the outage replace the epoch when they recover, a restarted process at
// its first connection), and generations that Redis itself rolled back (a restart from a
// snapshot brings back old entries next to old generations). If Redis lost its data, the epoch
// key is missing, which a reader treats as a failure; generations restart from a random value so
// that a key of the old keyspace is never reused.
//
// What this cannot close without asking PostgreSQL on every read: an instance that cannot reach
// Redis while other instances can (a partition) acknowledges writes that those others do not see
// until the writer reaches Redis again (its monitor retries every redisRetryEvery) or the entries
// expire (CACHE_TTL); likewise a blip shorter than the ping interval on an idle instance whose
// writer died meanwhile. Writes always attempt their bump, even while this instance considers
// Redis down, so that the window is as short as the network allows when Redis comes back.
type Monitor struct {
	disabled bool
	log      *slog.Logger
	client   atomic.Pointer[rueidis.Client]
	// namespace separates deployments (and test databases) that share one Redis: it is derived
	// from the database's identity, never from the connection string, so every instance of a
	// deployment agrees on it however it reaches PostgreSQL.
	namespace   atomic.Pointer[string]
	namespaceFn func(context.Context) (string, error)
	// namespaceWarned throttles the warning while the database cannot be asked (monitor goroutine only).
	namespaceWarned time.Time

	// usable is true once this instance has replaced the epoch after its last observed failure.
	usable  atomic.Bool
	mu      sync.Mutex // orders failures against the end of a recovery
	failSeq uint64
	wake    chan struct{}

	counters redisCounters
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

// Start connects to rawURL in the background. identity names the deployment (the database's
// identity, which every instance agrees on): Redis keys are namespaced by it.
func Start(ctx context.Context, rawURL string, identity func(context.Context) (string, error), log *slog.Logger) *Monitor {
	ctx, cancel := context.WithCancel(ctx)
	m := &Monitor{stop: cancel, log: log, wake: make(chan struct{}, 1), namespaceFn: namespaceOf(identity)}
	opt, err := rueidis.ParseURL(rawURL)
	if err != nil {
		log.Error("REDIS_URL cannot be parsed; running without Redis", "error", err.Error())
		m.disabled = true
		return m
	}
	opt.Dialer.Timeout = time.Second
	opt.ConnWriteTimeout = time.Second
	opt.ClientName = "panels"
	// A failed command surfaces at once; the monitor, not rueidis, decides when to try again.
	opt.DisableRetry = true
	// One pipelined connection: after Redis comes back, each connection of a multiplexed client
	// fails once more at its next use, so with several the first requests after a recovery would
	// fail again (and suspend Redis use again). A single auto-pipelined connection carries far
	// more than the two or three commands per request this service sends.
	opt.PipelineMultiplex = -1
	opt.CacheSizeEachConn = 64 << 20
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.run(ctx, opt)
	}()
	return m
}

func (m *Monitor) run(ctx context.Context, opt rueidis.ClientOption) {
	backoff := redisRetryEvery
	for attempt := 0; ; attempt++ {
		c, err := rueidis.NewClient(opt)
		if err == nil {
			m.client.Store(&c)
			m.log.Info("connected to Redis")
			break
		}
		if attempt%20 == 0 { // not once per retry: the retries are frequent so that recovery is quick
			m.log.Warn("Redis unreachable; running degraded and retrying", "error", err.Error())
		}
		if !m.sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, redisMaxBackoff)
	}
	for {
		if !m.usable.Load() {
			m.recover(ctx)
		}
		interval := redisPingEvery
		if !m.usable.Load() {
			interval = redisRetryEvery
		}
		if !m.sleep(ctx, interval) {
			return
		}
		if m.usable.Load() {
			if err := m.ping(ctx); err != nil {
				m.fail("ping", err)
			}
		}
	}
}

// sleep waits for d, a failure report or the end; false means stop.
func (m *Monitor) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-m.wake:
	}
	return true
}

func (m *Monitor) ping(ctx context.Context) error {
	c := m.client.Load()
	if c == nil {
		return fmt.Errorf("not connected")
	}
	ctx, cancel := context.WithTimeout(ctx, redisOpTimeout)
	defer cancel()
	return (*c).Do(ctx, (*c).B().Ping().Build()).Error()
}

// recover makes Redis usable again: it replaces the epoch (see the type's comment), and declares
// success only if no failure was reported meanwhile.
func (m *Monitor) recover(ctx context.Context) {
	c := m.client.Load()
	if c == nil {
		return
	}
	m.mu.Lock()
	seq := m.failSeq
	m.mu.Unlock()
	ns := m.namespace.Load()
	if ns == nil {
		nctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		v, err := m.namespaceFn(nctx)
		cancel()
		if err != nil {
			if time.Since(m.namespaceWarned) > time.Minute {
				m.namespaceWarned = time.Now()
				m.log.Warn("cannot read the database identity for Redis keys; cache and shared rate limits stay off", "error", err.Error())
			}
			return
		}
		m.namespace.Store(&v)
		ns = &v
	}
	rctx, cancel := context.WithTimeout(ctx, redisOpTimeout)
	defer cancel()
	if err := (*c).Do(rctx, (*c).B().Set().Key(epochKey(*ns)).Value(randomToken()).Build()).Error(); err != nil {
		return
	}
	m.mu.Lock()
	ok := m.failSeq == seq
	if ok {
		m.usable.Store(true)
	}
	m.mu.Unlock()
	if ok {
		m.counters.recoveries.Add(1)
		m.log.Info("Redis is usable: response cache and shared rate limits active (cache epoch replaced)")
	}
}

// fail records a failed Redis call: nothing uses Redis until the monitor has recovered.
func (m *Monitor) fail(op string, err error) {
	m.mu.Lock()
	m.failSeq++
	was := m.usable.Swap(false)
	m.mu.Unlock()
	if was {
		m.log.Warn("Redis call failed; serving from PostgreSQL with per-process rate limits until Redis answers again",
			"op", op, "error", err.Error())
	}
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// use returns the client and namespace when the cache and the shared limiter may use Redis.
func (m *Monitor) use() (rueidis.Client, string, bool) {
	if m.disabled || !m.usable.Load() {
		return nil, "", false
	}
	c, ns := m.client.Load(), m.namespace.Load()
	if c == nil || ns == nil {
		return nil, "", false
	}
	return *c, *ns, true
}

// bumpScript moves a tenant's generation. A missing generation (Redis lost its data, or the key
// was evicted) restarts from a random value: entries of the old keyspace may survive, and a
// generation that restarted from 0 could address them again.
var bumpScript = rueidis.NewLuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('INCR', KEYS[1])`)

// Bump records a committed write of tenant. It is attempted even while Redis is considered down
// (see the type's comment); a failure only leaves the cache off until the epoch is replaced.
func (m *Monitor) Bump(ctx context.Context, tenant string) {
	c, ns := m.client.Load(), m.namespace.Load()
	if m.disabled || c == nil || ns == nil {
		// Never connected yet: the first connection replaces the epoch, after this commit.
		m.counters.unconfirmedWrites.Add(1)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisOpTimeout)
	defer cancel()
	if _, err := m.incrGeneration(ctx, *c, *ns, tenant); err != nil {
		m.counters.unconfirmedWrites.Add(1)
		m.counters.cacheErrors.Add(1)
		m.fail("bump generation", err)
		return
	}
	m.counters.generationBumps.Add(1)
}

func (m *Monitor) incrGeneration(ctx context.Context, c rueidis.Client, ns, tenant string) (int64, error) {
	return bumpScript.Exec(ctx, c, []string{generationKey(ns, tenant)}, []string{generationStart()}).AsInt64()
}

// generationStart is where a missing generation restarts (see bumpScript).
func generationStart() string {
	start, _ := rand.Int(rand.Reader, big.NewInt(1<<50))
	return start.String()
}

// generation reads the epoch and the tenant's generation in one round trip, with plain Do: a
// value served from the client-side cache could be one invalidation late. ctx carries the budget.
func (m *Monitor) generation(ctx context.Context, c rueidis.Client, ns, tenant string) (string, int64, error) {
	vals, err := c.Do(ctx, c.B().Mget().Key(epochKey(ns), generationKey(ns, tenant)).Build()).ToArray()
	if err != nil {
		return "", 0, err
	}
	if len(vals) != 2 || vals[0].IsNil() {
		// Redis lost its data behind our back: the epoch must be replaced before anything is cached.
		return "", 0, fmt.Errorf("cache epoch missing")
	}
	epoch, err := vals[0].ToString()
	if err != nil {
		return "", 0, err
	}
	if vals[1].IsNil() {
		gen, err := m.incrGeneration(ctx, c, ns, tenant)
		return epoch, gen, err
	}
	s, err := vals[1].ToString()
	if err != nil {
		return "", 0, err
	}
	gen, err := strconv.ParseInt(s, 10, 64)
	return epoch, gen, err
}

// Status is "up", "down" or "disabled" (no client could ever be configured). Up means the cache
// and the shared rate limiter are in use, not merely that Redis answers a ping.
func (m *Monitor) Status(ctx context.Context) string {
	if m.disabled {
		return "disabled"
	}
	if !m.usable.Load() {
		return "down"
	}
	if err := m.ping(ctx); err != nil {
		m.fail("ping", err)
		return "down"
	}
	return "up"
}

// Close stops reconnecting and closes the client.
func (m *Monitor) Close() {
	m.stop()
	m.wg.Wait()
	if c := m.client.Load(); c != nil {
		(*c).Close()
	}
}

// Keys. The {namespace} hash tag keeps the epoch and the generations in one cluster slot, so
// that one MGET reads both.
func epochKey(ns string) string { return "panels:{" + ns + "}:epoch" }

func generationKey(ns, tenant string) string { return "panels:{" + ns + "}:gen:" + shortHash(tenant) }

// shortHash keeps arbitrary token values (tenant, sub) out of key syntax.
func shortHash(parts ...string) string {
	var stack [512]byte // keys are built on every request: one hash, usually no heap buffer
	b := stack[:0]
	for _, p := range parts {
		b = strconv.AppendInt(b, int64(len(p)), 10)
		b = append(b, ':')
		b = append(b, p...)
		b = append(b, ';')
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// namespaceOf keys the cache and limiter by a hash of the deployment's identity.
func namespaceOf(identity func(context.Context) (string, error)) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		id, err := identity(ctx)
		if err != nil {
			return "", err
		}
		return shortHash(id), nil
	}
}

// redisCounters are updated on the request path; RedisMetrics is their snapshot.
type redisCounters struct {
	cacheHits, cacheMisses, cacheBypasses, cacheStores, cacheErrors atomic.Uint64
	generationBumps, unconfirmedWrites                              atomic.Uint64
	rateAllowed, rateLimited, rateLeased, rateFallback, rateErrors  atomic.Uint64
	recoveries                                                      atomic.Uint64
}

// Metrics is a snapshot of the response cache's and the rate limiter's counters, for the
// metrics endpoint. Every field but RedisUsable only grows.
type Metrics struct {
	RedisUsable bool // the cache and the shared limiter are using Redis right now

	CacheHits     uint64 // cached reads answered from Redis
	CacheMisses   uint64 // cacheable reads that went to PostgreSQL while Redis was usable
	CacheBypasses uint64 // cacheable reads that went to PostgreSQL because Redis was not usable
	CacheStores   uint64 // responses written to the cache
	CacheErrors   uint64 // failed cache calls (each also suspends Redis use until recovery)

	GenerationBumps   uint64 // committed writes recorded in Redis
	UnconfirmedWrites uint64 // committed writes Redis could not record (covered by the next epoch)

	RateLimitAllowed  uint64 // requests the limiter let through (shared or fallback)
	RateLimitLimited  uint64 // requests answered 429
	RateLimitLeased   uint64 // allowed requests that spent tokens leased earlier (no Redis call)
	RateLimitFallback uint64 // decisions taken by the per-process limiter because Redis was not usable
	RateLimitErrors   uint64 // failed limiter calls to Redis

	Recoveries uint64 // times Redis became usable (the first connection included)
}

// Metrics returns the current cache and rate-limiter counters.
func (m *Monitor) Metrics() Metrics {
	c := &m.counters
	return Metrics{
		RedisUsable:       m.usable.Load(),
		CacheHits:         c.cacheHits.Load(),
		CacheMisses:       c.cacheMisses.Load(),
		CacheBypasses:     c.cacheBypasses.Load(),
		CacheStores:       c.cacheStores.Load(),
		CacheErrors:       c.cacheErrors.Load(),
		GenerationBumps:   c.generationBumps.Load(),
		UnconfirmedWrites: c.unconfirmedWrites.Load(),
		RateLimitAllowed:  c.rateAllowed.Load(),
		RateLimitLimited:  c.rateLimited.Load(),
		RateLimitLeased:   c.rateLeased.Load(),
		RateLimitFallback: c.rateFallback.Load(),
		RateLimitErrors:   c.rateErrors.Load(),
		Recoveries:        c.recoveries.Load(),
	}
}
