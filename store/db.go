// Package store owns the data: Bun models, queries and transactions over PostgreSQL.
// It knows nothing about HTTP or the generated API types.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
)

// Store is the service's handle on its database.
type Store struct {
	db *bun.DB
	// trgm: whether the rows search may use the trigram index (searchIndexReady).
	trgm searchIndex
}

// Options bound the connection pool.
type Options struct {
	MaxOpenConns int
	MaxIdleConns int
	// StatementTimeout is PostgreSQL's statement_timeout on every connection (0: the server's default).
	StatementTimeout time.Duration
	// QueryHooks are installed before any query runs: Bun's hook list is not synchronized.
	QueryHooks []bun.QueryHook
}

// Open connects to PostgreSQL through pgx's database/sql driver. It does not ping: callers decide
// whether an unreachable database at start-up is fatal.
func Open(dsn string, opts Options) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	// Bun interpolates arguments itself, so implicit prepared statements only cost round trips.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	// Only the statements sent through preparedConn are cached (see there); each costs the server
	// about 150 kB per connection, so the cache is a small LRU rather than pgx's 512.
	cfg.StatementCacheCapacity = preparedCacheCapacity
	if opts.StatementTimeout > 0 {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(opts.StatementTimeout.Milliseconds(), 10)
	}
	// Float8 text must read back as the same double: the rows engine's cursors and group counts
	// carry float8 values as text, and a server or database default of extra_float_digits = 0
	// would round them to 15 digits.
	cfg.RuntimeParams["extra_float_digits"] = "3"
	// Without it a database host that drops packets would hold every request until its client gives up.
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	sqldb := stdlib.OpenDB(*cfg)
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 20
	}
	if opts.MaxIdleConns <= 0 {
		opts.MaxIdleConns = opts.MaxOpenConns
	}
	sqldb.SetMaxOpenConns(opts.MaxOpenConns)
	sqldb.SetMaxIdleConns(opts.MaxIdleConns)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	db := bun.NewDB(sqldb, newDialect())
	for _, h := range opts.QueryHooks {
		db = db.WithQueryHook(h)
	}
	return &Store{db: db}, nil
}

// preparedCacheCapacity bounds the statements each connection keeps prepared: a user paging or
// polling a panel repeats one definitions statement and one record-set read; 16 statements per
// connection, at most ~150 kB each, are at most a few MB per connection on the server.
const preparedCacheCapacity = 16

// preparedConn runs a Bun query on conn (the pool or a transaction) as a statement prepared once
// per connection and text (pgx's statement cache), instead of the simple protocol: PostgreSQL
// then skips parsing and planning when the text repeats. Bun inlines the arguments, so the text
// names its tenant, actor and ids, and only a statement that requests repeat verbatim gains: the
// rows definitions (three quarters of its time was parsing and planning) and the record-set read.
// A miss costs one more round trip (Parse and Describe) than the simple protocol. Query hooks
// still see the statement: Bun runs them around the query it sends through this connection.
type preparedConn struct{ conn bun.IConn }

func (c preparedConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.conn.QueryContext(ctx, query, append([]any{pgx.QueryExecModeCacheStatement}, args...)...)
}

func (c preparedConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.conn.ExecContext(ctx, query, append([]any{pgx.QueryExecModeCacheStatement}, args...)...)
}

func (c preparedConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return c.conn.QueryRowContext(ctx, query, append([]any{pgx.QueryExecModeCacheStatement}, args...)...)
}

// Pool is the connection pool under the store, for collectors of its statistics
// (client_golang's DBStatsCollector takes a *sql.DB); queries go through the store's methods.
func (s *Store) Pool() *sql.DB { return s.db.DB }

// Namespace identifies the database itself: the cluster's system identifier, the database's name
// and oid (a dropped and recreated database gets a new oid, so a reset never meets its
// predecessor's cache keys). Where pg_control_system() is not granted, the postmaster's start
// time stands in for the cluster identity. The three parts are returned joined by "/".
func (s *Store) Namespace(ctx context.Context) (string, error) {
	var name, oid, cluster string
	err := s.db.QueryRowContext(ctx, `SELECT current_database(),
		(SELECT oid::text FROM pg_database WHERE datname = current_database()),
		(SELECT system_identifier::text FROM pg_control_system())`).Scan(&name, &oid, &cluster)
	if err != nil {
		err = s.db.QueryRowContext(ctx, `SELECT current_database(),
			(SELECT oid::text FROM pg_database WHERE datname = current_database()),
			pg_postmaster_start_time()::text`).Scan(&name, &oid, &cluster)
	}
	if err != nil {
		return "", err
	}
	return cluster + "/" + name + "/" + oid, nil
}

// Close releases the pool.
func (s *Store) Close() error { return s.db.Close() }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return mapErr(s.db.PingContext(ctx)) }

// oneStatement runs a write that fn makes in a single SQL statement, atomic on its own: outside a
// transaction opened by BeginOuter it saves BEGIN and COMMIT, two round trips; inside one it runs
// in a savepoint like InTx, so that a failure leaves the outer transaction usable.
func (s *Store) oneStatement(ctx context.Context, fn func(ctx context.Context, db bun.IDB) error) error {
	if outerFrom(ctx) != nil {
		return s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error { return fn(ctx, tx) })
	}
	return mapErr(fn(ctx, s.db))
}

// InTx runs fn in one transaction: committed when fn returns nil, rolled back otherwise.
// Inside a transaction opened by BeginOuter it runs in a savepoint of that transaction instead.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	if outer := outerFrom(ctx); outer != nil {
		return mapErr(outer.savepoint(ctx, fn))
	}
	return mapErr(s.db.RunInTx(ctx, &sql.TxOptions{}, fn))
}
