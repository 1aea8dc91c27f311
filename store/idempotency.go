package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"
)

// ErrKeyInProgress: another request holding the same idempotency key did not finish in time.
var ErrKeyInProgress = errors.New("a request with this idempotency key is still in progress")

// ErrKeyReused: the idempotency key was recorded for a different request.
var ErrKeyReused = errors.New("the idempotency key was used for a different request")

// IdempotencyKey names a create by its caller and the client's key.
type IdempotencyKey struct {
	TenantID string
	UserID   string
	Key      string
}

// RecordedResponse is the answer recorded for an idempotency key, replayed on retries.
type RecordedResponse struct {
	Status  int
	Headers map[string]string
	Body    []byte
}

type idempotencyRow struct {
	bun.BaseModel `bun:"table:idempotency_keys,alias:ik"`

	TenantID    string            `bun:"tenant_id,pk"`
	UserID      string            `bun:"user_id,pk"`
	Key         string            `bun:"key,pk"`
	RequestHash []byte            `bun:"request_hash"`
	Operation   string            `bun:"operation"`
	Status      int               `bun:"status"`
	Headers     map[string]string `bun:"headers,type:jsonb"`
	Body        []byte            `bun:"body"`
	CreatedAt   time.Time         `bun:"created_at,nullzero,default:now()"`
	ExpiresAt   time.Time         `bun:"expires_at"`
}

// OuterTx is a transaction that store calls made with its context join (InTx runs them in
// savepoints), committed by its owner. An idempotent create claims its key, runs the handler and
// records the answer in one OuterTx, so the key is recorded if and only if the resource exists.
type OuterTx struct {
	tx  bun.Tx
	key IdempotencyKey
}

type outerKey struct{}

func outerFrom(ctx context.Context) *OuterTx {
	o, _ := ctx.Value(outerKey{}).(*OuterTx)
	return o
}

// Context returns ctx carrying o: store calls made with it run inside o.
func (o *OuterTx) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, outerKey{}, o)
}

func (o *OuterTx) savepoint(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	sp, err := o.tx.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(ctx, sp); err != nil {
		_ = sp.Rollback()
		return err
	}
	return sp.Commit()
}

// Complete records the answer for the claimed key and commits everything done in o. An error
// means nothing was committed, or (when the connection broke during COMMIT) that the outcome is
// unknown: either way a retry with the same key finds the truth.
func (o *OuterTx) Complete(ctx context.Context, r RecordedResponse) error {
	headers := r.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	_, err := o.tx.NewUpdate().Model((*idempotencyRow)(nil)).
		Set("status = ?", r.Status).Set("headers = ?", headers).Set("body = ?", r.Body).
		Where("tenant_id = ?", o.key.TenantID).Where("user_id = ?", o.key.UserID).Where("key = ?", o.key.Key).
		Exec(ctx)
	if err != nil {
		_ = o.tx.Rollback()
		return mapErr(err)
	}
	return mapErr(o.tx.Commit())
}

// Rollback abandons everything done in o, the key's claim included.
func (o *OuterTx) Rollback() error {
	err := o.tx.Rollback()
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return mapErr(err)
}

// ClaimIdempotencyKey opens an OuterTx holding k for a request whose hash is given. When k already
// has a recorded answer (not expired) it returns that answer and no transaction, or ErrKeyReused
// when the hash differs. While another transaction holds k, it waits up to wait for that one to
// finish, then answers ErrKeyInProgress.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, k IdempotencyKey, operation string, hash []byte,
	ttl, wait time.Duration) (*OuterTx, *RecordedResponse, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{})
	if err != nil {
		return nil, nil, mapErr(err)
	}
	o := &OuterTx{tx: tx, key: k}
	rec, err := o.claim(ctx, operation, hash, ttl, wait)
	if err != nil || rec != nil {
		_ = tx.Rollback()
		return nil, rec, err
	}
	return o, nil, nil
}

func (o *OuterTx) claim(ctx context.Context, operation string, hash []byte, ttl, wait time.Duration) (*RecordedResponse, error) {
	// A concurrent holder of the key blocks the insert on the primary key until it commits or rolls
	// back; lock_timeout bounds that wait (and is reset at once, so the handler keeps the default).
	ms := max(wait.Milliseconds(), 1)
	if _, err := o.tx.ExecContext(ctx, "SELECT set_config('lock_timeout', ?, true)", strconv.FormatInt(ms, 10)); err != nil {
		return nil, mapErr(err)
	}
	// status 0 marks the claim; no other transaction ever sees it, since the row only becomes
	// visible when Complete commits it with the answer. An expired row is taken over.
	row := &idempotencyRow{TenantID: o.key.TenantID, UserID: o.key.UserID, Key: o.key.Key, RequestHash: hash,
		Operation: operation, Headers: map[string]string{}, Body: []byte{}, ExpiresAt: time.Now().Add(ttl)}
	res, err := o.tx.NewInsert().Model(row).
		On("CONFLICT (tenant_id, user_id, key) DO UPDATE").
		Set("request_hash = EXCLUDED.request_hash, operation = EXCLUDED.operation, status = 0, headers = '{}', body = ''").
		Set("created_at = now(), expires_at = EXCLUDED.expires_at").
		Where("ik.expires_at <= now()").
		Exec(ctx)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
			return nil, ErrKeyInProgress
		}
		return nil, mapErr(err)
	}
	if _, err := o.tx.ExecContext(ctx, "SET LOCAL lock_timeout TO DEFAULT"); err != nil {
		return nil, mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil, nil // claimed
	}
	var got idempotencyRow
	if err := o.tx.NewSelect().Model(&got).Where("tenant_id = ?", o.key.TenantID).Where("user_id = ?", o.key.UserID).
		Where("key = ?", o.key.Key).Scan(ctx); err != nil {
		return nil, mapErr(err)
	}
	if !bytes.Equal(got.RequestHash, hash) {
		return nil, fmt.Errorf("%w (first used for %s)", ErrKeyReused, got.Operation)
	}
	return &RecordedResponse{Status: got.Status, Headers: got.Headers, Body: got.Body}, nil
}

// recordedIdempotencyKey returns the stored row of k as the API would replay it (tests check
// what a replay would send); ErrNotFound when there is none.
func (s *Store) recordedIdempotencyKey(ctx context.Context, k IdempotencyKey) (*RecordedResponse, error) {
	var got idempotencyRow
	err := s.db.NewSelect().Model(&got).Where("tenant_id = ?", k.TenantID).Where("user_id = ?", k.UserID).
		Where("key = ?", k.Key).Where("expires_at > now()").Scan(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	return &RecordedResponse{Status: got.Status, Headers: got.Headers, Body: got.Body}, nil
}

// PurgeIdempotencyKeys deletes expired keys in batches and reports how many went.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context) (int64, error) {
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE ctid IN (
			SELECT ctid FROM idempotency_keys WHERE expires_at <= now() LIMIT 5000)`)
		if err != nil {
			return total, mapErr(err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < 5000 {
			return total, nil
		}
	}
}
