package redisx

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/rueidis"

	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/etag"
	"github.com/panels/panels/server/optable"
)

// cachedHeaders are the headers those operations set on a 200; a replay restores exactly these.
var cachedHeaders = []string{echo.HeaderContentType, "ETag", "Link"}

// maxCachedBody keeps one huge list from crowding the client-side cache.
const maxCachedBody = 2 << 20

// Cache caches the hot reads (the operations marked x-panels-cache) in Redis and records every
// write of a tenant (monitor.go explains the keys). It runs after the API gate, so the caller is
// authenticated and the request valid.
type Cache struct {
	redis *Monitor
	ttl   time.Duration // 0: reads are never cached (writes still bump, so turning it on is safe)
	ops   *optable.Table
	// principal is the verified caller of a request (the zero Principal for public operations).
	principal func(context.Context) auth.Principal
}

// CacheOptions configure NewCache.
type CacheOptions struct {
	TTL       time.Duration // CACHE_TTL
	Ops       *optable.Table
	Principal func(context.Context) auth.Principal
}

// NewCache caches through m.
func NewCache(m *Monitor, o CacheOptions) *Cache {
	return &Cache{redis: m, ttl: o.TTL, ops: o.Ops, principal: o.Principal}
}

// Middleware serves cached reads and records writes.
func (rc *Cache) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		p := rc.principal(req.Context())
		if p.TenantID == "" {
			return next(c) // not an authenticated operation
		}
		switch req.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			if rc.cacheable(c) {
				return rc.serveCached(c, p, next)
			}
			return next(c)
		}
		rc.recordWrite(c, p)
		return next(c)
	}
}

// recordWrite bumps the tenant's generation just before the response's status line is written:
// the transaction has committed by then (every mutation is one transaction inside the handler),
// and the client cannot have seen the answer yet. Every answer bumps, refusals included: a 4xx
// normally changed nothing, but correctness should not rest on every handler keeping to that,
// and the cost (a tenant's cache refilled after a refused write) is small. Requests the gate
// refuses (401, 429, 400) never get here.
func (rc *Cache) recordWrite(c echo.Context, p auth.Principal) {
	ctx := c.Request().Context()
	c.Response().Before(func() { rc.redis.Bump(ctx, p.TenantID) })
}

// prefetchKey carries, on the request's context, the generation the rate limiter's script read
// for the cache (see Limiter), which saves the lookup a round trip.
type prefetchKey struct{}

// prefetched leaves g for this request's lookup.
func (rc *Cache) prefetched(c echo.Context, g cacheGeneration) {
	req := c.Request()
	c.SetRequest(req.WithContext(context.WithValue(req.Context(), prefetchKey{}, g)))
}

// cacheable reports whether the request is one the cache looks up.
func (rc *Cache) cacheable(c echo.Context) bool {
	if c.Request().Method != http.MethodGet || rc.ttl <= 0 {
		return false
	}
	op, ok := rc.ops.Lookup(http.MethodGet, c.Path())
	return ok && op.Cached
}

func (rc *Cache) serveCached(c echo.Context, p auth.Principal, next echo.HandlerFunc) error {
	m := &rc.redis.counters
	client, ns, ok := rc.redis.use()
	if !ok {
		m.cacheBypasses.Add(1)
		return next(c)
	}
	req := c.Request()
	ctx := req.Context()
	// One budget for the lookup's two calls (generation, entry): one timer instead of two.
	rctx, cancel := context.WithTimeout(ctx, redisOpTimeout)
	defer cancel()
	var epoch string
	var gen int64
	var err error
	if g, ok := ctx.Value(prefetchKey{}).(cacheGeneration); ok {
		epoch, gen = g.epoch, g.gen // read by the rate limiter's script for this request
	} else {
		epoch, gen, err = rc.redis.generation(rctx, client, ns, p.TenantID)
	}
	if err != nil {
		m.cacheErrors.Add(1)
		m.cacheBypasses.Add(1)
		rc.redis.fail("read generation", err)
		return next(c)
	}
	key := cacheKey(ns, epoch, gen, p, c.Path(), req.URL.EscapedPath(), req.URL.RawQuery)
	// Entries never change once written (SET NX under a key that embeds the generation), so the
	// client-side cache cannot serve a stale one.
	raw, err := client.DoCache(rctx, client.B().Get().Key(key).Cache(), rc.ttl).AsBytes()
	switch {
	case err == nil:
		if e, derr := decodeEntry(raw); derr == nil {
			m.cacheHits.Add(1)
			return replay(c, e)
		}
		m.cacheErrors.Add(1) // unreadable entry (another version's format): answer and overwrite nothing
		return next(c)
	case !rueidis.IsRedisNil(err):
		m.cacheErrors.Add(1)
		m.cacheBypasses.Add(1)
		rc.redis.fail("read cache", err)
		return next(c)
	}
	m.cacheMisses.Add(1)

	res := c.Response()
	tee := &teeWriter{ResponseWriter: res.Writer}
	res.Writer = tee
	err = next(c)
	res.Writer = tee.ResponseWriter
	if err != nil || res.Status != http.StatusOK || tee.tooBig {
		return err
	}
	e := entry{body: tee.body.Bytes()}
	for _, h := range cachedHeaders {
		e.headers = append(e.headers, res.Header().Get(h))
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisOpTimeout)
	defer cancel()
	// NX: the first answer stored under a generation is the one every instance serves.
	err = client.Do(sctx, client.B().Set().Key(key).Value(rueidis.BinaryString(encodeEntry(e))).Nx().Px(rc.ttl).Build()).Error()
	switch {
	case err == nil:
		m.cacheStores.Add(1)
	case !rueidis.IsRedisNil(err): // nil: another request stored this answer first
		m.cacheErrors.Add(1)
		rc.redis.fail("store cache entry", err)
	}
	return nil
}

// replay answers from an entry as the handler would have, If-None-Match included.
func replay(c echo.Context, e entry) error {
	h := c.Response().Header()
	tag := ""
	for i, name := range cachedHeaders {
		if i < len(e.headers) && name == "ETag" {
			tag = e.headers[i]
		}
	}
	if inm := c.Request().Header.Get("If-None-Match"); tag != "" && inm != "" && etag.Matches(inm, tag, true) {
		h.Set("ETag", tag)
		c.Response().WriteHeader(http.StatusNotModified)
		return nil
	}
	for i, name := range cachedHeaders {
		if i < len(e.headers) && e.headers[i] != "" {
			h.Set(name, e.headers[i])
		}
	}
	c.Response().WriteHeader(http.StatusOK)
	_, err := c.Response().Write(e.body)
	return err
}

// cacheKey names one answer: the deployment, the epoch, the tenant's generation, everything about
// the caller that permissions depend on, and the request. A response cached for one caller is
// therefore only ever served to the same identity, and an ACL change (a write of the tenant)
// moves the generation, so a revoked grant is honoured at once.
func cacheKey(ns, epoch string, gen int64, p auth.Principal, route, path, query string) string {
	return "panels:c:" + ns + ":" + shortHash(epoch, strconv.FormatInt(gen, 10), p.TenantID, p.UserID, p.Email, string(p.Role),
		p.OrganizationID, route, path, query)
}

// entry is a cached 200: the cachedHeaders values, in order, and the body.
type entry struct {
	headers []string
	body    []byte
}

const entryVersion = 1

func encodeEntry(e entry) []byte {
	var b bytes.Buffer
	b.WriteByte(entryVersion)
	var n [binary.MaxVarintLen64]byte
	b.Write(n[:binary.PutUvarint(n[:], uint64(len(e.headers)))])
	for _, h := range e.headers {
		b.Write(n[:binary.PutUvarint(n[:], uint64(len(h)))])
		b.WriteString(h)
	}
	sum := sha256.Sum256(e.body)
	b.Write(sum[:8]) // a truncated or foreign value must never be served as a body
	b.Write(e.body)
	return b.Bytes()
}

var errBadEntry = errors.New("unreadable cache entry")

func decodeEntry(raw []byte) (entry, error) {
	r := bytes.NewReader(raw)
	if v, err := r.ReadByte(); err != nil || v != entryVersion {
		return entry{}, errBadEntry
	}
	count, err := binary.ReadUvarint(r)
	if err != nil || count > 16 {
		return entry{}, errBadEntry
	}
	e := entry{headers: make([]string, count)}
	for i := range e.headers {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > uint64(r.Len()) {
			return entry{}, errBadEntry
		}
		h := make([]byte, n)
		_, _ = r.Read(h)
		e.headers[i] = string(h)
	}
	var sum [8]byte
	if _, err := r.Read(sum[:]); err != nil {
		return entry{}, errBadEntry
	}
	e.body = raw[len(raw)-r.Len():]
	if got := sha256.Sum256(e.body); !bytes.Equal(got[:8], sum[:]) {
		return entry{}, errBadEntry
	}
	return e, nil
}

// teeWriter passes a response through and keeps a copy of its body.
type teeWriter struct {
	http.ResponseWriter
	body   bytes.Buffer
	tooBig bool
}

func (t *teeWriter) Write(b []byte) (int, error) {
	if !t.tooBig {
		if t.body.Len()+len(b) > maxCachedBody {
			t.tooBig = true
			t.body = bytes.Buffer{}
		} else {
			t.body.Write(b)
		}
	}
	return t.ResponseWriter.Write(b)
}

func (t *teeWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

func (t *teeWriter) Flush() { _ = http.NewResponseController(t.ResponseWriter).Flush() }
