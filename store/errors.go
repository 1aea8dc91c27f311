package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors; wrap them with %w so callers can use errors.Is.
var (
	ErrNotFound     = errors.New("not found")
	ErrForbidden    = errors.New("forbidden")
	ErrConflict     = errors.New("conflict")
	ErrInvalid      = errors.New("invalid")
	ErrPrecondition = errors.New("precondition failed")
	ErrUnavailable  = errors.New("database unavailable")
)

// NotFoundError is an ErrNotFound that names the kind of thing that is missing or invisible
// ("panel", "data source", "column", "view", "ACL entry"), so that answers can say which without parsing text.
type NotFoundError struct {
	Kind string
}

func (e *NotFoundError) Error() string { return e.Kind + " not found" }
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// The kinds a NotFoundError names.
const (
	KindPanel      = "panel"
	KindDataSource = "data source"
	KindColumn     = "column"
	KindView       = "view"
	KindACL        = "ACL entry"
)

func notFound(kind string) error { return &NotFoundError{Kind: kind} }

// mapErrOf is mapErr for a read of one kind of thing: no row is a NotFoundError of that kind.
func mapErrOf(kind string, err error) error {
	if err = mapErr(err); errors.Is(err, ErrNotFound) {
		return notFound(kind)
	}
	return err
}

// Dependent names something that blocks an operation (a 409's reason).
type Dependent struct {
	ID   int64
	Name string
	Kind string
}

// ConflictError is an ErrConflict that lists what blocks the operation.
type ConflictError struct {
	Message    string
	Dependents []Dependent
}

func (e *ConflictError) Error() string { return e.Message }
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Problem is one semantic problem with a request (a 422's reason).
type Problem struct {
	Field  string
	Reason string
}

// InvalidError is an ErrInvalid (well-formed but semantically wrong) listing every problem.
type InvalidError struct {
	Message  string
	Problems []Problem
}

func (e *InvalidError) Error() string { return e.Message }
func (e *InvalidError) Unwrap() error { return ErrInvalid }

func invalid(field, reason string) error {
	return &InvalidError{Message: reason, Problems: []Problem{{Field: field, Reason: reason}}}
}

// mapErr turns driver errors into the store's vocabulary once, so callers never see SQLSTATEs.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w", ErrNotFound)
	}
	// A failed connect wraps the server's FATAL as a PgError whose code says nothing about
	// availability (55000 "database does not allow connections", 3D000 "database does not
	// exist"): check it before the SQLSTATEs, or such an outage would be a 500.
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505":
			return fmt.Errorf("%w: duplicate (%s)", ErrConflict, pgErr.ConstraintName)
		case pgErr.Code == "23503":
			return fmt.Errorf("%w: referenced row missing (%s)", ErrInvalid, pgErr.ConstraintName)
		case pgErr.Code == "57014": // statement timeout or cancel
			return fmt.Errorf("%w: %s", ErrUnavailable, pgErr.Message)
		case strings.HasPrefix(pgErr.Code, "08"), strings.HasPrefix(pgErr.Code, "53"), strings.HasPrefix(pgErr.Code, "57P"):
			return fmt.Errorf("%w: %s", ErrUnavailable, pgErr.Message)
		}
		return err
	}
	var netErr net.Error
	// A connection the server closed (a restart, a crash, an idle timeout) surfaces as one of these,
	// depending on where the driver noticed; all of them mean "retry later", never a 500.
	if errors.As(err, &netErr) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}
