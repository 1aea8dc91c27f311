package store

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
)

// maintenanceConn connects to the "postgres" database of dsn's server, from where databases are
// created and dropped, and returns the target database's name.
func maintenanceConn(ctx context.Context, dsn string) (*pgx.Conn, string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, "", fmt.Errorf("parse database url: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return nil, "", fmt.Errorf("database url names no database")
	}
	u.Path = "/postgres"
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return conn, name, nil
}

// EnsureDatabase creates dsn's database when it does not exist (the newcomer's `make run`).
func EnsureDatabase(ctx context.Context, dsn string) (created bool, err error) {
	conn, name, err := maintenanceConn(ctx, dsn)
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return false, err
	}
	if exists {
		return false, nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return false, err
	}
	return true, nil
}

// DropDatabase drops dsn's database, disconnecting its sessions (`make db-reset`).
func DropDatabase(ctx context.Context, dsn string) error {
	conn, name, err := maintenanceConn(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}
