package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/panels/panels/store/ingest"
)

// Sync triggers, statuses, and the change type and action every sync records.
const (
	TriggerSync   = "sync"
	TriggerUpload = "upload"
	TriggerPush   = "push"

	SyncSuccess = "success"
	SyncError   = "error"

	ChangeSourceSynced = "source_synced"
	ActionSync         = "sync"
)

// SyncRecord is one finished sync, upload or push (the source_syncs table).
type SyncRecord struct {
	bun.BaseModel `bun:"table:source_syncs,alias:sy"`

	ID               int64     `bun:"id,pk,autoincrement"`
	TenantID         string    `bun:"tenant_id,notnull"`
	PanelID          int64     `bun:"panel_id,notnull"`
	DataSourceID     int64     `bun:"data_source_id,notnull"`
	Trigger          string    `bun:"trigger,notnull"`
	Status           string    `bun:"status,notnull"`
	Message          string    `bun:"message,notnull"`
	RecordsProcessed int64     `bun:"records_processed,notnull"`
	RecordsDeleted   int64     `bun:"records_deleted,notnull"`
	Generation       *int64    `bun:"generation"`
	StartedBy        string    `bun:"started_by,notnull"`
	StartedAt        time.Time `bun:"started_at,notnull"`
	FinishedAt       time.Time `bun:"finished_at,notnull"`
	DurationMs       int64     `bun:"duration_ms,notnull"`
}

// recordSet is a data source's current records: their count and generation.
type recordSet struct {
	bun.BaseModel `bun:"table:record_sets,alias:rs"`

	DataSourceID   int64     `bun:"data_source_id,pk"`
	TenantID       string    `bun:"tenant_id,notnull"`
	Generation     int64     `bun:"generation,notnull"`
	RowsGeneration int64     `bun:"rows_generation,notnull"`
	RecordCount    int64     `bun:"record_count,notnull"`
	NextOrd        int64     `bun:"next_ord,notnull"`
	UpdatedAt      time.Time `bun:"updated_at,notnull,default:current_timestamp"`
}

// SyncResult is the outcome of a sync, upload or push, with the source after it.
type SyncResult struct {
	Source *DataSource
	Record SyncRecord
}

// SyncRun is an in-progress write of one data source's records. It holds the source's sync lock
// (a session advisory lock on its own connection, released with the connection if the process
// dies) until Close, so that two syncs of one source never overlap, across instances too.
type SyncRun struct {
	Source *DataSource
	Panel  *Panel
	// StatementTimeout replaces the pool's statement timeout in the run's transactions (0: keep
	// it): a sync streams its source into one COPY, which may take as long as the source does.
	StatementTimeout time.Duration

	store   *Store
	conn    bun.Conn
	actor   Actor
	trigger string
	started time.Time
	last    SyncRecord // the history row of the finished sync
}

// BeginSync locks a data source for op (a sync, an upload or a push). accept, when not nil,
// decides on the source once the actor is allowed (its type, a free sync slot). wait is how long
// to wait for a running sync to finish; past it the answer is a ConflictError.
func (s *Store) BeginSync(ctx context.Context, a Actor, op Operation, id, panelID int64, trigger string, wait time.Duration,
	accept func(*DataSource) error) (*SyncRun, error) {
	ds, p, err := dataSourceAccess(ctx, s.db, a, op, id, panelID, false)
	if err != nil {
		return nil, err
	}
	if accept != nil {
		if err := accept(ds); err != nil {
			return nil, err
		}
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	deadline := time.Now().Add(wait)
	for {
		var locked bool
		if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock(hashtextextended(?, 0))", syncLockKey(ds.ID)).Scan(&locked); err != nil {
			_ = conn.Close()
			return nil, mapErr(err)
		}
		if locked {
			break
		}
		if !time.Now().Before(deadline) {
			_ = conn.Close()
			return nil, &ConflictError{Message: fmt.Sprintf("a sync of data source %d is already running; try again when it has finished", ds.ID)}
		}
		select {
		case <-ctx.Done():
			_ = conn.Close()
			return nil, mapErr(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return &SyncRun{Source: ds, Panel: p, store: s, conn: conn, actor: a, trigger: trigger, started: time.Now()}, nil
}

func syncLockKey(id int64) string { return fmt.Sprintf("panels:sync:%d", id) }

// Close releases the sync lock and the connection.
func (r *SyncRun) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var unlocked bool
	err := r.conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock(hashtextextended(?, 0))", syncLockKey(r.Source.ID)).Scan(&unlocked)
	if err != nil || !unlocked {
		// The lock may still be held by this session: never hand the connection back to the pool.
		_ = r.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	_ = r.conn.Close()
}

// Replace swaps the source's records for those rd yields, in one transaction: readers keep
// seeing the previous set until it commits, and a failure leaves it intact. A failure of the
// source (an *ingest.Error, or data PostgreSQL refuses) is recorded as a failed sync and
// returned in the result; any other error (the caller went away, a body over its limit, the
// database) is returned as is and nothing is recorded.
func (r *SyncRun) Replace(ctx context.Context, rd ingest.Reader) (SyncResult, error) {
	var count int64
	var srcErr error
	err := r.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		set, err := r.lockSet(ctx, tx)
		if err != nil {
			return err
		}
		gen := set.Generation + 1
		src := &copySource{rd: rd, dsID: r.Source.ID, gen: gen}
		err = r.conn.Raw(func(dc any) error {
			pc := dc.(*stdlib.Conn).Conn()
			n, err := pc.CopyFrom(ctx, pgx.Identifier{"source_records"}, []string{"data_source_id", "generation", "record_key", "ord", "doc"}, src)
			count = n
			return err
		})
		if src.err != nil {
			srcErr = src.err
			return src.err
		}
		if err != nil {
			if pgErr := new(pgconn.PgError); errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "54")) {
				srcErr = &ingest.Error{Msg: "a record cannot be stored: " + pgErr.Message}
				return srcErr
			}
			return err
		}
		if _, err := tx.NewDelete().TableExpr("source_records").Where("data_source_id = ?", r.Source.ID).
			Where("generation <> ?", gen).Exec(ctx); err != nil {
			return err
		}
		set.Generation, set.RowsGeneration = gen, gen
		set.RecordCount, set.NextOrd = count, count+1
		return r.succeed(ctx, tx, set, count, 0, fmt.Sprintf("%d records synced", count))
	})
	return r.outcome(ctx, srcErr, err)
}

// Keep finishes a sync that has nothing to fetch (file and custom sources): the records stay
// as they are, and the sync is recorded with their count.
func (r *SyncRun) Keep(ctx context.Context, message string) (SyncResult, error) {
	err := r.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		set, err := r.lockSet(ctx, tx)
		if err != nil {
			return err
		}
		return r.succeed(ctx, tx, set, set.RecordCount, 0, message)
	})
	if err != nil {
		return SyncResult{}, err
	}
	return r.result(), nil
}

// Push applies a batch of upserts and deletions by key to the records, in one transaction and in
// order (the last operation on a key wins). Records keep their position when updated; new ones
// go after the others.
func (r *SyncRun) Push(ctx context.Context, ops ingest.OpReader) (SyncResult, error) {
	var srcErr error
	err := r.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		set, err := r.lockSet(ctx, tx)
		if err != nil {
			return err
		}
		var upserted, deleted int64
		batch := newPushBatch()
		flush := func() error {
			u, d, err := batch.flush(ctx, tx, r.Source.ID, set.RowsGeneration, &set.NextOrd)
			upserted, deleted = upserted+u, deleted+d
			return err
		}
		for {
			op, err := ops.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				srcErr = err
				return err
			}
			batch.add(op)
			if batch.size() >= 1000 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			if pgErr := new(pgconn.PgError); errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "54")) {
				srcErr = &ingest.Error{Msg: "a record cannot be stored: " + pgErr.Message}
				return srcErr
			}
			return err
		}
		if err := tx.NewSelect().TableExpr("source_records").ColumnExpr("count(*)").
			Where("data_source_id = ?", r.Source.ID).Where("generation = ?", set.RowsGeneration).Scan(ctx, &set.RecordCount); err != nil {
			return err
		}
		set.Generation++
		return r.succeed(ctx, tx, set, upserted, deleted, fmt.Sprintf("%d records upserted, %d deleted", upserted, deleted))
	})
	return r.outcome(ctx, srcErr, err)
}

// outcome turns a replace's two errors into its answer: a source that could not be read is a
// recorded failed sync (the records stay), anything else is the service's own error.
func (r *SyncRun) outcome(ctx context.Context, srcErr, err error) (SyncResult, error) {
	var ie *ingest.Error
	switch {
	case srcErr != nil && errors.As(srcErr, &ie):
		return r.Fail(ctx, ie.Msg)
	case srcErr != nil:
		return SyncResult{}, srcErr
	case err != nil:
		return SyncResult{}, err
	}
	return r.result(), nil
}

// Fail records a failed sync; the records stay as they were.
func (r *SyncRun) Fail(ctx context.Context, message string) (SyncResult, error) {
	err := r.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		return r.finish(ctx, tx, SyncError, message, 0, 0, nil)
	})
	if err != nil {
		return SyncResult{}, err
	}
	return r.result(), nil
}

func (r *SyncRun) inTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	tx, err := r.conn.BeginTx(ctx, &sql.TxOptions{})
	if err != nil {
		return mapErr(err)
	}
	if r.StatementTimeout > 0 {
		if _, err := tx.ExecContext(ctx, "SELECT set_config('statement_timeout', ?, true)", strconv.FormatInt(r.StatementTimeout.Milliseconds(), 10)); err != nil {
			_ = tx.Rollback()
			return mapErr(err)
		}
	}
	if err := fn(ctx, tx); err != nil {
		_ = tx.Rollback()
		return mapErr(err)
	}
	return mapErr(tx.Commit())
}

// lockSet reads the source's record set for update, creating it on the first sync.
func (r *SyncRun) lockSet(ctx context.Context, tx bun.Tx) (*recordSet, error) {
	set := &recordSet{DataSourceID: r.Source.ID, TenantID: r.Source.TenantID, NextOrd: 1}
	if _, err := tx.NewInsert().Model(set).On("CONFLICT (data_source_id) DO NOTHING").Exec(ctx); err != nil {
		return nil, err
	}
	if err := tx.NewSelect().Model(set).WherePK().Where("rs.tenant_id = ?", set.TenantID).For("UPDATE").Scan(ctx); err != nil {
		return nil, err
	}
	return set, nil
}

// succeed saves the new record set, stamps the source's lastSync and records the sync.
func (r *SyncRun) succeed(ctx context.Context, tx bun.Tx, set *recordSet, processed, deleted int64, message string) error {
	if _, err := tx.NewUpdate().Model(set).Column("generation", "rows_generation", "record_count", "next_ord").
		Set("updated_at = now()").WherePK().Where("rs.tenant_id = ?", set.TenantID).Exec(ctx); err != nil {
		return err
	}
	// lastSync is not a configuration change: updated_at stays.
	if _, err := tx.NewUpdate().Model(r.Source).Set("last_sync = now()").WherePK().Where("ds.tenant_id = ?", r.Source.TenantID).Returning("last_sync").Exec(ctx); err != nil {
		return err
	}
	gen := set.Generation
	return r.finish(ctx, tx, SyncSuccess, message, processed, deleted, &gen)
}

// finish writes the history row and the change row of the sync. Syncs never notify views.
func (r *SyncRun) finish(ctx context.Context, tx bun.Tx, status, message string, processed, deleted int64, gen *int64) error {
	now := time.Now()
	rec := &SyncRecord{TenantID: r.actor.TenantID, PanelID: r.Panel.ID, DataSourceID: r.Source.ID, Trigger: r.trigger,
		Status: status, Message: message, RecordsProcessed: processed, RecordsDeleted: deleted, Generation: gen,
		StartedBy: r.actor.UserID, StartedAt: r.started, FinishedAt: now, DurationMs: now.Sub(r.started).Milliseconds()}
	if _, err := tx.NewInsert().Model(rec).Returning("id").Exec(ctx); err != nil {
		return err
	}
	r.last = *rec
	desc := fmt.Sprintf("Data source %d (%s) synced: %s", r.Source.ID, r.Source.Type, message)
	if status == SyncError {
		desc = fmt.Sprintf("Data source %d (%s) sync failed: %s", r.Source.ID, r.Source.Type, message)
	}
	return record(ctx, tx, r.actor, r.Panel, Change{ChangeType: ChangeSourceSynced, EntityType: EntityDataSource,
		EntityID: r.Source.ID, Action: ActionSync, Description: desc,
		NewValues: map[string]any{"syncId": rec.ID, "trigger": r.trigger, "syncStatus": status, "message": message,
			"recordsProcessed": processed, "recordsDeleted": deleted, "durationMs": rec.DurationMs}})
}

func (r *SyncRun) result() SyncResult {
	return SyncResult{Source: r.Source, Record: r.last}
}

// copySource feeds COPY from a record reader, remembering the reader's own failure so that it
// can be told apart from a failure of the database.
type copySource struct {
	rd   ingest.Reader
	dsID int64
	gen  int64
	ord  int64
	rec  ingest.Record
	err  error
}

func (c *copySource) Next() bool {
	rec, err := c.rd.Next()
	if err != nil {
		if !errors.Is(err, io.EOF) {
			c.err = err
		}
		return false
	}
	c.ord++
	c.rec = rec
	return true
}

func (c *copySource) Values() ([]any, error) {
	return []any{c.dsID, c.gen, c.rec.Key, c.ord, c.rec.Doc}, nil
}

func (c *copySource) Err() error { return c.err }

// pushBatch holds the pending operations of a push, the last one per key.
type pushBatch struct {
	order []string
	ops   map[string]ingest.Op
}

func newPushBatch() *pushBatch { return &pushBatch{ops: map[string]ingest.Op{}} }

func (b *pushBatch) add(op ingest.Op) {
	if _, ok := b.ops[op.Key]; !ok {
		b.order = append(b.order, op.Key)
	}
	b.ops[op.Key] = op
}

func (b *pushBatch) size() int { return len(b.order) }

func (b *pushBatch) flush(ctx context.Context, tx bun.Tx, dsID, gen int64, nextOrd *int64) (upserted, deleted int64, err error) {
	if len(b.order) == 0 {
		return 0, 0, nil
	}
	var delKeys, keys, docs []string
	var ords []int64
	for _, k := range b.order {
		op := b.ops[k]
		if op.Delete {
			delKeys = append(delKeys, k)
			continue
		}
		keys, docs, ords = append(keys, k), append(docs, string(op.Doc)), append(ords, *nextOrd)
		*nextOrd++
	}
	b.order, b.ops = b.order[:0], map[string]ingest.Op{}
	if len(delKeys) > 0 {
		res, err := tx.NewDelete().TableExpr("source_records").Where("data_source_id = ?", dsID).
			Where("generation = ?", gen).Where("record_key IN (?)", bun.List(delKeys)).Exec(ctx)
		if err != nil {
			return 0, 0, err
		}
		deleted, _ = res.RowsAffected()
	}
	if len(keys) > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO source_records (data_source_id, generation, record_key, ord, doc)
			SELECT ?, ?, t.k, t.o, t.d::jsonb FROM unnest(?::text[], ?::bigint[], ?::text[]) AS t(k, o, d)
			ON CONFLICT (data_source_id, generation, record_key) DO UPDATE SET doc = EXCLUDED.doc`,
			dsID, gen, pgdialect.Array(keys), pgdialect.Array(ords), pgdialect.Array(docs)); err != nil {
			return 0, 0, err
		}
		upserted = int64(len(keys))
	}
	return upserted, deleted, nil
}

// SyncFilter pages a source's sync history, newest first.
type SyncFilter struct {
	Limit   int
	Offset  int
	AfterID int64 // keyset position; Offset is ignored when set
}

// SyncPage is one page of sync history.
type SyncPage struct {
	Syncs       []SyncRecord
	Total       int
	TotalCapped bool
	HasMore     bool
}

// ListSyncs returns the sync history of a data source of a readable panel, newest first.
func (s *Store) ListSyncs(ctx context.Context, a Actor, id int64, f SyncFilter) (SyncPage, error) {
	if _, _, err := dataSourceAccess(ctx, s.db, a, "listDataSourceSyncs", id, 0, false); err != nil {
		return SyncPage{}, err
	}
	base := func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("sy.data_source_id = ?", id).Where("sy.tenant_id = ?", a.TenantID)
	}
	page := SyncPage{Syncs: []SyncRecord{}}
	q := s.db.NewSelect().Model(&page.Syncs).Apply(base).OrderExpr("sy.id DESC").Limit(int64(f.Limit + 1))
	if f.AfterID > 0 {
		q = q.Where("sy.id < ?", f.AfterID)
	} else if f.Offset > 0 {
		q = q.Offset(int64(f.Offset))
	}
	if err := q.Scan(ctx); err != nil {
		return SyncPage{}, mapErr(err)
	}
	if len(page.Syncs) > f.Limit {
		page.HasMore, page.Syncs = true, page.Syncs[:f.Limit]
	}
	total, capped, err := cappedCount(ctx, s.db, s.db.NewSelect().Model((*SyncRecord)(nil)).Apply(base))
	if err != nil {
		return SyncPage{}, err
	}
	page.Total, page.TotalCapped = total, capped
	return page, nil
}

// SystemIdentifier identifies the service's own PostgreSQL cluster, so that a database source
// can be refused when it points back at it.
func (s *Store) SystemIdentifier(ctx context.Context) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, "SELECT system_identifier::text FROM pg_control_system()").Scan(&id)
	return id, mapErr(err)
}
