package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/panels/panels/store/dsconfig"
)

// DatabaseQuery is one run of a `database` source.
type DatabaseQuery struct {
	ConnString       string
	Query            string
	StatementTimeout time.Duration
	// Own identifies the service's own database, which a source may never read.
	Own OwnDatabase
	Options
}

// OwnDatabase identifies a PostgreSQL database: the cluster's system identifier and the
// database name (plus the address it was reached at, for the check before connecting).
type OwnDatabase struct {
	SystemID string
	Name     string
	Host     string
	Port     uint16
}

// QueryDatabase connects through the guard, refuses the service's own database and superuser
// roles, and runs the query in a read-only transaction with a statement timeout. Each row becomes
// a record (PostgreSQL renders it as a JSON object). The returned closer ends the connection.
func QueryDatabase(ctx context.Context, g *Guard, q DatabaseQuery) (Reader, io.Closer, error) {
	cfg, err := pgx.ParseConfig(q.ConnString)
	if err != nil {
		return nil, nil, failf("the connection string cannot be parsed")
	}
	// Never the service's own PGPASSWORD or password file: only what the source's owner wrote.
	cfg.Password = dsconfig.ConnPassword(q.ConnString)
	if cfg.Host == "" || strings.HasPrefix(cfg.Host, "/") {
		return nil, nil, failf("the connection string must name a host (Unix sockets are not allowed)")
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > 10*time.Second {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if strings.EqualFold(cfg.Database, q.Own.Name) && cfg.Port == q.Own.Port && sameHost(ctx, g, cfg.Host, q.Own.Host) {
		return nil, nil, failf("a data source cannot read the service's own database")
	}
	d := g.NewDialer()
	cfg.LookupFunc = d.LookupHost
	cfg.DialFunc = d.DialContext
	for _, fb := range cfg.Fallbacks {
		if strings.HasPrefix(fb.Host, "/") {
			return nil, nil, failf("the connection string must name a host (Unix sockets are not allowed)")
		}
	}
	// The extended protocol runs exactly one statement: "SELECT 1; DROP ..." cannot smuggle a second.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
	cfg.RuntimeParams["application_name"] = "panels-sync"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, nil, connectErr(err, cfg.Host)
	}
	fail := func(err error) (Reader, io.Closer, error) {
		closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
		return nil, nil, err
	}
	var superuser, dbname, sysid string
	if err := conn.QueryRow(ctx, `SELECT current_setting('is_superuser'), current_database(),
		(SELECT system_identifier::text FROM pg_control_system())`).Scan(&superuser, &dbname, &sysid); err != nil {
		return fail(queryErr(err))
	}
	if superuser == "on" {
		return fail(failf("the connection's role is a superuser; use a role that can read only what this source needs"))
	}
	if q.Own.SystemID != "" && sysid == q.Own.SystemID && dbname == q.Own.Name {
		return fail(failf("a data source cannot read the service's own database"))
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return fail(queryErr(err))
	}
	timeout := q.StatementTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	if _, err := tx.Exec(ctx, "SELECT set_config('statement_timeout', $1, true)", strconv.FormatInt(timeout.Milliseconds(), 10)); err != nil {
		return fail(queryErr(err))
	}
	query := strings.TrimSpace(q.Query)
	for strings.HasSuffix(query, ";") {
		query = strings.TrimSpace(strings.TrimSuffix(query, ";"))
	}
	// The newline ends a trailing "-- comment" of the user's query before our closing parenthesis.
	sql := "SELECT to_jsonb(q)::text FROM (" + query + "\n) AS q"
	if q.MaxRecords > 0 {
		sql += " LIMIT " + strconv.Itoa(q.MaxRecords+1)
	}
	rows, err := tx.Query(ctx, sql)
	if err != nil {
		return fail(queryErr(err))
	}
	return newKeyed(&dbReader{rows: rows}, q.Options), closerFunc(func() error {
		rows.Close()
		closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return conn.Close(closeCtx)
	}), nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

type dbReader struct {
	rows pgx.Rows
}

func (d *dbReader) next() ([]byte, string, bool, error) {
	if !d.rows.Next() {
		if err := d.rows.Err(); err != nil {
			return nil, "", false, queryErr(err)
		}
		return nil, "", false, io.EOF
	}
	var doc string
	if err := d.rows.Scan(&doc); err != nil {
		return nil, "", false, queryErr(err)
	}
	return []byte(doc), "", false, nil
}

// sameHost reports whether two host names reach the same machine: equal names, a shared
// address, or both on this machine.
func sameHost(ctx context.Context, g *Guard, a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	addrs := func(h string) map[string]bool {
		out := map[string]bool{}
		if strings.HasPrefix(h, "/") { // a Unix socket is this machine
			out["loopback"] = true
			return out
		}
		ips, err := g.resolver.LookupIPAddr(ctx, h)
		if err != nil {
			return out
		}
		for _, ip := range ips {
			if ip.IP.IsLoopback() {
				out["loopback"] = true
			}
			out[ip.IP.String()] = true
		}
		return out
	}
	as, bs := addrs(a), addrs(b)
	for k := range as {
		if bs[k] {
			return true
		}
	}
	return false
}

func connectErr(err error, host string) error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return failf("the database refused the connection: %s", pgErr.Message)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return failf("cannot connect to %s: timed out", host)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return failf("cannot connect to %s: timed out", host)
	}
	return failf("cannot connect to %s: %s", host, lastPart(err))
}

func queryErr(err error) error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57014":
			return failf("the query was cancelled: it ran longer than the statement timeout")
		case "25006":
			return failf("the query tried to write; database sources are read-only")
		}
		return failf("the query failed: %s", pgErr.Message)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return failf("the query did not finish in time")
	}
	return failf("the query failed: %s", lastPart(err))
}

// OwnDatabaseOf describes the service's database from its URL; SystemID is filled by the caller.
func OwnDatabaseOf(dsn string) (OwnDatabase, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return OwnDatabase{}, fmt.Errorf("parse database url: %w", err)
	}
	return OwnDatabase{Name: cfg.Database, Host: cfg.Host, Port: cfg.Port}, nil
}
