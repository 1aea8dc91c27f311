// Package idempotency makes the creating POSTs that declare Idempotency-Key safe to retry,
// exactly once across database restarts (docs/caching.md#idempotency-keys).
package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/panels/panels/server/metrics"
	"github.com/panels/panels/server/optable"
	"github.com/panels/panels/server/pipeline"
	"github.com/panels/panels/server/problem"
	"github.com/panels/panels/store"
)

const (
	header = "Idempotency-Key"
	ttl    = 24 * time.Hour
	// maxWait bounds how long a retry waits for a concurrent request holding its key.
	maxWait = 3 * time.Second
)

// recordedHeaders are the headers of a created answer that a replay restores.
var recordedHeaders = []string{echo.HeaderContentType, echo.HeaderLocation, "ETag"}

// Keys makes the creating POSTs that declare Idempotency-Key safe to retry. It claims the
// key in a transaction that the handler's store calls join (store.InTx runs them in savepoints),
// buffers the handler's answer, records it in the same transaction and commits before anything
// reaches the client. So a key is recorded if and only if its resource exists, and a 201 is only
// ever sent for a committed create. When the database goes away mid-request the client gets 503
// and retries with the key: the retry finds the recorded answer (the commit happened) or a free
// key (it did not), never a resource without its answer, which is what makes creates exactly-once
// across database restarts. A concurrent request with the same key blocks on the key's primary
// key until the first commits or rolls back (bounded by lock_timeout, then 409).
//
// It must stay the innermost middleware, so that hooks on the real response (the cache's write
// recording) fire after the commit.
type Keys struct {
	store   *store.Store
	ops     *optable.Table
	wait    time.Duration
	metrics *metrics.Metrics
}

// New serves the idempotent operations of ops from st; statementTimeout is the database's
// (DB_STATEMENT_TIMEOUT, 0 for none).
func New(st *store.Store, ops *optable.Table, statementTimeout time.Duration, m *metrics.Metrics) *Keys {
	wait := maxWait
	if t := statementTimeout; t > 0 && t*4/5 < wait {
		wait = t * 4 / 5 // answer 409 before the statement timeout turns the wait into a 503
	}
	return &Keys{store: st, ops: ops, wait: wait, metrics: m}
}

// Middleware is the idempotency layer.
func (m *Keys) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		key := req.Header.Get(header)
		op, ok := m.ops.Lookup(req.Method, c.Path())
		p := pipeline.Principal(req.Context())
		if key == "" || !ok || !op.Idempotent || p.TenantID == "" {
			return next(c)
		}
		hash, err := requestHash(req)
		if err != nil {
			return err
		}
		ctx := req.Context()
		outer, rec, err := m.store.ClaimIdempotencyKey(ctx, store.IdempotencyKey{TenantID: p.TenantID, UserID: p.UserID, Key: key},
			op.ID, hash, ttl, m.wait)
		switch {
		case errors.Is(err, store.ErrKeyReused):
			m.metrics.Idempotency("mismatch")
			return problem.New(http.StatusUnprocessableEntity, "idempotency-key-reused",
				"the Idempotency-Key was already used for a different request; use a new key for a new request")
		case errors.Is(err, store.ErrKeyInProgress):
			m.metrics.Idempotency("in_progress")
			pr := problem.New(http.StatusConflict, "idempotency-key-in-progress", "a request with this Idempotency-Key is still being processed; retry shortly")
			pr.Header = http.Header{"Retry-After": {"1"}}
			return pr
		case err != nil:
			return err
		case rec != nil:
			m.metrics.Idempotency("replayed")
			return replayRecorded(c, rec)
		}
		return m.run(c, outer, next)
	}
}

// run executes the handler inside outer and sends its answer only once the outcome is durable.
func (m *Keys) run(c echo.Context, outer *store.OuterTx, next echo.HandlerFunc) (err error) {
	req, orig := c.Request(), c.Response()
	buf := &bufferedWriter{header: http.Header{}}
	c.SetResponse(echo.NewResponse(buf, c.Echo()))
	c.SetRequest(req.WithContext(outer.Context(req.Context())))
	finished := false
	defer func() {
		c.SetResponse(orig)
		c.SetRequest(req)
		if !finished { // a panic on its way up: nothing may stay half-done
			_ = outer.Rollback()
		}
	}()
	err = next(c)
	finished = true
	if err != nil {
		_ = outer.Rollback()
		return err
	}
	status := buf.status
	if status == 0 {
		status = http.StatusOK
	}
	if status < 200 || status > 299 {
		// A refusal created nothing and is not recorded: the same key may be retried.
		_ = outer.Rollback()
		return writeBuffered(orig, buf, status)
	}
	rec := store.RecordedResponse{Status: status, Headers: map[string]string{}, Body: buf.body.Bytes()}
	for _, h := range recordedHeaders {
		if v := buf.header.Get(h); v != "" {
			rec.Headers[h] = v
		}
	}
	if err := outer.Complete(req.Context(), rec); err != nil {
		// Nothing is sent for an outcome that may not be durable; a retry with the key learns it.
		if !errors.Is(err, store.ErrUnavailable) {
			err = errors.Join(store.ErrUnavailable, err)
		}
		return err
	}
	m.metrics.Idempotency("created")
	return writeBuffered(orig, buf, status)
}

func writeBuffered(res *echo.Response, buf *bufferedWriter, status int) error {
	h := res.Header()
	for k, vs := range buf.header {
		h[k] = vs
	}
	res.WriteHeader(status)
	_, err := res.Write(buf.body.Bytes())
	return err
}

// replayRecorded answers a retry exactly as the first request was answered.
func replayRecorded(c echo.Context, rec *store.RecordedResponse) error {
	res := c.Response()
	for k, v := range rec.Headers {
		res.Header().Set(k, v)
	}
	res.WriteHeader(rec.Status)
	_, err := res.Write(rec.Body)
	return err
}

// requestHash identifies a request by method, path, query and JSON body. The body is hashed in a
// canonical form (keys sorted, numbers as written), so a retry that re-encodes the same JSON matches.
func requestHash(req *http.Request) ([]byte, error) {
	var body []byte
	switch {
	case req.GetBody != nil: // the validator kept a copy of what it read
		rc, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		body, err = io.ReadAll(rc)
		if err != nil {
			return nil, err
		}
	case req.Body != nil && req.Body != http.NoBody:
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	h := sha256.New()
	h.Write([]byte(req.Method + "\n" + req.URL.Path + "\n" + req.URL.Query().Encode() + "\n"))
	h.Write(canonicalJSON(body))
	return h.Sum(nil), nil
}

func canonicalJSON(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return body
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}

// bufferedWriter holds a handler's answer until the transaction behind it has committed.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// PurgeExpired deletes expired keys every hour (lookups ignore them anyway) until ctx ends.
func (m *Keys) PurgeExpired(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := m.store.PurgeIdempotencyKeys(ctx); err != nil && ctx.Err() == nil {
			log.Warn("purge expired idempotency keys", "error", err.Error())
		} else if n > 0 {
			log.Info("purged expired idempotency keys", "count", n)
		}
	}
}
