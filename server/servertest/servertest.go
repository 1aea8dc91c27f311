// Package servertest starts the service for tests and benchmarks the way production does:
// server.New on its configuration, behind a real listener, on a fresh database from
// store/storetest or on one the caller already has.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/uptrace/bun"

	"github.com/panels/panels/server"
	"github.com/panels/panels/store/storetest"
)

// Options says how to start one instance.
type Options struct {
	// Env is the configuration, as the environment variables server.ConfigFromEnv reads, but
	// for DATABASE_URL, which comes from DSN. WEBHOOK_WORKERS is 0 unless Env sets it: instances
	// often share a database, and a delivery worker would take (and send) other tests' queued
	// webhook deliveries.
	Env map[string]string
	// Getenv answers for the variables Env does not set; nil leaves them unset.
	Getenv func(string) string
	// DSN is the database to run on; "" creates a fresh one named after DBPrefix, dropped on
	// Close.
	DSN      string
	DBPrefix string
	// QueryHooks are added to the configuration's, so tests can watch every statement.
	QueryHooks []bun.QueryHook
	// Log receives the service's logs; nil discards them.
	Log *slog.Logger
	// Configure, when set, adjusts the parsed configuration (the settings no variable reaches).
	Configure func(*server.Config)
}

// Service is one running instance.
type Service struct {
	URL    string // the listener's base URL
	DSN    string // the database it runs on
	Config server.Config
	App    *server.App

	srv  *httptest.Server
	drop func()
}

// Start starts an instance; the caller must Close it.
func Start(ctx context.Context, o Options) (*Service, error) {
	s := &Service{DSN: o.DSN}
	if s.DSN == "" {
		dsn, drop, err := storetest.CreateDatabase(o.DBPrefix)
		if err != nil {
			return nil, err
		}
		s.DSN, s.drop = dsn, drop
	}
	cfg, err := server.ConfigFromEnv(o.lookup(s.DSN))
	if err != nil {
		s.Close()
		return nil, err
	}
	cfg.QueryHooks = append(cfg.QueryHooks, o.QueryHooks...)
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	app, err := server.New(ctx, cfg, log)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Config, s.App = cfg, app
	s.srv = httptest.NewServer(app.Echo)
	s.URL = s.srv.URL
	return s, nil
}

// New starts an instance for one test, fails the test when it cannot, and closes the instance
// when the test ends.
func New(t testing.TB, o Options) *Service {
	t.Helper()
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Close stops the listener, then the service, then drops the database Start created.
func (s *Service) Close() {
	if s.App != nil {
		s.App.StopStreams() // the listener's Close waits for every request, and a stream never ends by itself
	}
	if s.srv != nil {
		s.srv.Close()
	}
	if s.App != nil {
		_ = s.App.Close()
	}
	if s.drop != nil {
		s.drop()
	}
}

func (o Options) lookup(dsn string) func(string) string {
	return func(k string) string {
		if k == "DATABASE_URL" {
			return dsn
		}
		if v, ok := o.Env[k]; ok {
			return v
		}
		if k == "WEBHOOK_WORKERS" {
			return "0"
		}
		if o.Getenv != nil {
			return o.Getenv(k)
		}
		return ""
	}
}

// Log is where a test's private instances log: nowhere, unless TEST_LOG is set, then stderr.
func Log() *slog.Logger {
	if os.Getenv("TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
