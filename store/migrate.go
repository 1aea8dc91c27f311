package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-migrate/migrate/v4"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/panels/panels/migrations"
)

// SchemaState describes the database schema relative to the migrations in this binary.
type SchemaState string

// Schema states.
const (
	SchemaCurrent SchemaState = "current"
	SchemaBehind  SchemaState = "behind"
	SchemaDirty   SchemaState = "dirty"
	SchemaNewer   SchemaState = "newer"
)

// Migrator applies the embedded migrations. It uses its own connection because golang-migrate
// closes the database it is given.
type Migrator struct {
	m      *migrate.Migrate
	latest uint
}

// NewMigrator opens a migrator on dsn.
func NewMigrator(dsn string) (*Migrator, error) {
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	latest, err := latestVersion(src)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	drv, err := pgxmigrate.WithInstance(db, &pgxmigrate.Config{})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		_ = drv.Close()
		return nil, err
	}
	// Several instances may start at once: the others wait on the advisory lock for the first.
	m.LockTimeout = 5 * time.Minute
	return &Migrator{m: m, latest: latest}, nil
}

func latestVersion(src interface {
	First() (uint, error)
	Next(uint) (uint, error)
}) (uint, error) {
	v, err := src.First()
	if err != nil {
		return 0, fmt.Errorf("no embedded migrations: %w", err)
	}
	// Next fails at the end of the list; the last version it gave is the latest.
	for next, nextErr := src.Next(v); nextErr == nil; next, nextErr = src.Next(v) {
		v = next
	}
	return v, nil
}

// Close releases the migrator's connection.
func (m *Migrator) Close() error {
	srcErr, dbErr := m.m.Close()
	return errors.Join(srcErr, dbErr)
}

// Up applies every pending migration.
func (m *Migrator) Up() error {
	if err := m.m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return err
	}
	return nil
}

// Down reverts the last applied migration.
func (m *Migrator) Down() error {
	if err := m.m.Steps(-1); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return err
	}
	return nil
}

// Version reports the applied version, whether it is dirty, and the latest embedded version.
func (m *Migrator) Version() (version uint, dirty bool, latest uint, err error) {
	v, d, err := m.m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, m.latest, nil
	}
	return v, d, m.latest, err
}

// State compares the applied schema with the embedded migrations.
func (m *Migrator) State() (SchemaState, error) {
	v, dirty, latest, err := m.Version()
	switch {
	case err != nil:
		return "", err
	case dirty:
		return SchemaDirty, nil
	case v < latest:
		return SchemaBehind, nil
	case v > latest:
		return SchemaNewer, nil
	}
	return SchemaCurrent, nil
}

// latestEmbedded is the newest migration version in this binary, read once.
var latestEmbedded = sync.OnceValues(func() (uint, error) {
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return 0, err
	}
	defer func() { _ = src.Close() }()
	return latestVersion(src)
})

// SchemaState compares the database's schema with this binary's migrations through the existing
// pool: cheap enough for every readiness probe, and it notices another instance's migration.
func (s *Store) SchemaState(ctx context.Context) (SchemaState, error) {
	latest, err := latestEmbedded()
	if err != nil {
		return "", err
	}
	var version int64
	var dirty bool
	err = s.db.QueryRowContext(ctx, `SELECT version, dirty FROM schema_migrations LIMIT 1`).Scan(&version, &dirty)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return SchemaBehind, nil
	case err != nil:
		return "", mapErr(err)
	case dirty:
		return SchemaDirty, nil
	case uint(version) < latest:
		return SchemaBehind, nil
	case uint(version) > latest:
		return SchemaNewer, nil
	}
	return SchemaCurrent, nil
}
