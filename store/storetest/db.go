// Package storetest is what tests and benchmarks need from PostgreSQL: throw-away databases
// (each test package gets its own, so packages can run in parallel against one server) and a
// tenant bulk-loaded at scale (SeedScale). It imports nothing of the service, so store's own
// tests can use it.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// AdminURL is the server used for tests; TEST_DATABASE_URL overrides it.
func AdminURL() string {
	if v := os.Getenv("TEST_DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// CreateDatabase creates a fresh database named after prefix and returns its URL and a func
// that drops it.
func CreateDatabase(prefix string) (string, func(), error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.ToLower(prefix) + "_" + hex.EncodeToString(b[:])
	admin, err := open(AdminURL())
	if err != nil {
		return "", nil, err
	}
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		_ = admin.Close()
		return "", nil, fmt.Errorf("create test database (is PostgreSQL running on %s?): %w", redact(AdminURL()), err)
	}
	u, _ := url.Parse(AdminURL())
	u.Path = "/" + name
	drop := func() {
		_, _ = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		_ = admin.Close()
	}
	return u.String(), drop, nil
}

func open(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	return stdlib.OpenDB(*cfg), nil
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}
