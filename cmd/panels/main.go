// Command panels runs the Panels API service and its operational subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/panels/panels/cmd/panels/internal/devdb"
	"github.com/panels/panels/server"
	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/config"
	"github.com/panels/panels/store"
)

const usage = `panels: the Panels API service.

Usage:
  panels serve                         run the HTTP service (migrates on start unless MIGRATE_ON_START=false)
  panels migrate up|down|version       manage the database schema
  panels token --tenant T --user U [--email E] [--role R] [--ttl 24h]
                                       mint a development token signed with JWT_SECRET
  panels seed                          create a demo panel, data source and columns for a tenant
  panels db-reset                      drop and recreate the database, then migrate it
  panels healthcheck [--url URL]       exit 0 when /healthz answers ready (the container's HEALTHCHECK)

Configuration comes from the environment: README.md's Configuration table lists every
variable with its default and range.
Run 'panels <command> --help' for a command's flags.
`

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "panels:", err)
		}
		var ec exitCodeError
		if errors.As(err, &ec) {
			os.Exit(ec.code)
		}
		os.Exit(2)
	}
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrateCmd(args[1:], getenv, stdout, stderr)
	case "token":
		return tokenCmd(args[1:], getenv, stdout, stderr)
	case "seed":
		return seedCmd(args[1:], getenv, stdout, stderr)
	case "db-reset":
		return dbResetCmd(args[1:], getenv, stdout, stderr)
	case "healthcheck":
		return healthcheckCmd(args[1:], getenv, stdout, stderr)
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// processStart is taken once the imported packages have initialised; `make bench` also measures
// from exec to the first ready /healthz, which includes that.
var processStart = time.Now()

func newLogger(cfg server.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func serve(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.Bool("dev", false, "newcomer mode: create the database when missing and print a dev token")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: panels serve [--dev]\n\nRuns the HTTP service on PORT (default 3001).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	explicitDB := getenv("DATABASE_URL")
	cfgEnv := getenv
	if *dev && explicitDB == devdb.Embedded {
		cfgEnv = unset(getenv, "DATABASE_URL") // the private cluster's URL replaces it below
	}
	cfg, err := server.ConfigFromEnv(cfgEnv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *dev {
		db, err := devDatabase(ctx, explicitDB, cfg.DatabaseURL, getenv, log)
		if err != nil {
			return err
		}
		defer func() { // after app.Close (defers run last first): the cluster outlives the service
			if err := db.Stop(); err != nil {
				log.Warn("stop the private PostgreSQL", "error", err.Error())
			}
		}()
		cfg.DatabaseURL = db.URL
	}
	log.Info("starting", "config", cfg)
	app, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer app.Close() // after the drain: the database and Redis outlive every request
	srv := &http.Server{
		Addr:              ":" + strconv.Itoa(cfg.Port),
		Handler:           app.Echo,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
	}
	tcp, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	ln := newDrainListener(tcp.(*net.TCPListener))
	first := newFirstRequests()
	first.install(srv)
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(ln) }()
	// Start-up time is the service's own: from the program's initialisation to a bound listener
	// with the schema current (`make bench` reports it).
	log.Info("listening", "addr", srv.Addr, "startup_ms", float64(time.Since(processStart).Microseconds())/1000)
	var metricsSrv *http.Server
	if cfg.MetricsAddr != "" {
		metricsSrv = &http.Server{Addr: cfg.MetricsAddr, Handler: app.MetricsHandler(), ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout}
		go func() { errc <- metricsSrv.ListenAndServe() }()
		log.Info("serving metrics", "addr", cfg.MetricsAddr)
	}
	if cfg.PprofAddr != "" {
		go func() { errc <- servePprof(cfg.PprofAddr) }()
		log.Info("serving pprof", "addr", cfg.PprofAddr)
	}
	if *dev {
		printDevToken(stdout, cfg)
		go reportRedis(ctx, app, log) // off the start-up path: it waits for the first connection
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return drain(log, app, cfg, srv, ln, first, metricsSrv)
}

// devDatabase resolves dev mode's database (an explicit DATABASE_URL, the default address if a
// server answers there, else a private cluster in .data/) and creates the database in it.
func devDatabase(ctx context.Context, explicit, fallback string, getenv func(string) string, log *slog.Logger) (devdb.Database, error) {
	db, err := devdb.Resolve(ctx, explicit, fallback, devdb.Options{DataRoot: ".data", Source: getenv("PANELS_DEV_PG_SOURCE"), Log: log})
	if err != nil {
		return db, err
	}
	created, err := store.EnsureDatabase(ctx, db.URL)
	if err != nil {
		_ = db.Stop()
		return db, fmt.Errorf("DATABASE_URL: cannot create the database: %w", err)
	}
	if created {
		log.Info("created the database")
	}
	return db, nil
}

// reportRedis says plainly, in dev mode, what runs without Redis. The monitor connects in the
// background, so it is given a moment to.
func reportRedis(ctx context.Context, app *server.App, log *slog.Logger) {
	status := app.RedisStatus(ctx)
	for deadline := time.Now().Add(3 * time.Second); status != "up" && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(100 * time.Millisecond)
		status = app.RedisStatus(ctx)
	}
	if ctx.Err() != nil {
		return
	}
	if status != "up" {
		log.Warn("Redis is "+status+": the shared response cache, shared rate limits and cross-instance wake-ups are off "+
			"(reads come from PostgreSQL, limits are per process, instances do not hear of each other's writes); "+
			"the in-process fallbacks keep a single instance correct", "redis", status)
	}
}

// unset hides one variable from getenv.
func unset(getenv func(string) string, name string) func(string) string {
	return func(k string) string {
		if k == name {
			return ""
		}
		return getenv(k)
	}
}

func migrateCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: panels migrate up|down|version\n\n  up       apply every pending migration\n  down     revert the last migration\n  version  print the applied and latest versions")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("migrate needs one of up, down, version")
	}
	dsn, err := config.DatabaseURL(getenv)
	if err != nil {
		return err
	}
	m, err := store.NewMigrator(dsn)
	if err != nil {
		return err
	}
	defer m.Close()
	switch fs.Arg(0) {
	case "up":
		if err := m.Up(); err != nil {
			return err
		}
	case "down":
		if err := m.Down(); err != nil {
			return err
		}
	case "version":
	default:
		fs.Usage()
		return fmt.Errorf("unknown migrate action %q", fs.Arg(0))
	}
	v, dirty, latest, err := m.Version()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "version %d (latest %d)%s\n", v, latest, map[bool]string{true: " dirty", false: ""}[dirty])
	return nil
}

func tokenCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tenant := fs.String("tenant", "", "tenant id (required)")
	user := fs.String("user", "", "user id, the token's sub (required)")
	email := fs.String("email", "", "email address")
	role := fs.String("role", "admin", "role: admin, builder or user")
	ttl := fs.Duration("ttl", 24*time.Hour, "lifetime")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: panels token --tenant T --user U [--email E] [--role R] [--ttl 24h]\n\nPrints an HS256 token signed with JWT_SECRET.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tenant == "" || *user == "" {
		fs.Usage()
		return fmt.Errorf("--tenant and --user are required")
	}
	switch auth.Role(*role) {
	case auth.RoleAdmin, auth.RoleBuilder, auth.RoleUser:
	default:
		return fmt.Errorf("--role: want admin, builder or user, got %q", *role)
	}
	// The service's own reading of the settings, so that the token carries what it will verify.
	cfg, err := server.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	if len(cfg.JWTSecret) < 32 {
		return fmt.Errorf("JWT_SECRET: set a secret of at least 32 bytes")
	}
	tok, err := auth.Mint([]byte(cfg.JWTSecret), auth.Principal{TenantID: *tenant, UserID: *user, Email: *email, Role: auth.Role(*role)},
		*ttl, cfg.JWTIssuer, cfg.JWTAudience)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// printDevToken shows a newcomer how to call the service they just started.
func printDevToken(w io.Writer, cfg server.Config) {
	if cfg.JWTSecret == "" {
		return
	}
	tok, err := auth.Mint([]byte(cfg.JWTSecret), auth.Principal{TenantID: "demo", UserID: "dev", Email: "dev@example.com", Role: auth.RoleAdmin},
		24*time.Hour, cfg.JWTIssuer, cfg.JWTAudience)
	if err != nil {
		return
	}
	base := "http://localhost:" + strconv.Itoa(cfg.Port)
	fmt.Fprintf(w, `
Panels is running on %[1]s  (docs: %[1]s/docs)

Dev token (tenant "demo", user "dev", admin, valid 24h):
  export TOKEN=%[2]s

Try it:
  curl -s -X POST %[1]s/api/panels -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"name":"My first panel"}'
  curl -s %[1]s/api/panels -H "Authorization: Bearer $TOKEN"

`, base, tok)
}

func dbResetCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("db-reset", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: panels db-reset\n\nDrops DATABASE_URL's database, recreates it and migrates it.")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	dsn, err := config.DatabaseURL(getenv)
	if err != nil {
		return err
	}
	if err := store.DropDatabase(ctx, dsn); err != nil {
		return err
	}
	if _, err := store.EnsureDatabase(ctx, dsn); err != nil {
		return err
	}
	m, err := store.NewMigrator(dsn)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "database recreated and migrated")
	return nil
}
