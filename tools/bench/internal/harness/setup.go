package harness

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/panels/panels/store"
	"github.com/panels/panels/store/storetest"
)

// Secret is the JWT secret of every benchmark's service: tokens are minted with it, by `panels
// token` or in-process, and never leave the machine.
const Secret = "bench-secret-0123456789abcdef-0123456789"

// Setup is what a benchmark of the release binary starts from.
type Setup struct {
	Work string // a scratch folder for binaries and scripts
	Bin  string // the service's release binary, in Work
	DSN  string // a fresh, empty database
}

// NewSetup builds the release binary into a new scratch folder and creates a fresh database,
// both named after name ("rows": panels-bench-rows…, panels_bench_rows_…). done removes both,
// for a defer; Fatalf removes them too, since a failed run exits without running defers.
func NewSetup(name string) (s Setup, done func()) {
	folder, db := "panels-bench", "panels_bench"
	if name != "" {
		folder, db = folder+"-"+name, db+"_"+name
	}
	work, remove := tempDir(folder)
	s = Setup{Work: work, Bin: Build(work, "./cmd/panels")}
	dsn, drop := FreshDatabase(db)
	s.DSN = dsn
	return s, func() { drop(); remove() }
}

// tempDir makes a scratch folder, removed by remove and by Fatalf.
func tempDir(pattern string) (dir string, remove func()) {
	dir, err := os.MkdirTemp("", pattern)
	Must(err)
	remove = func() { _ = os.RemoveAll(dir) }
	AtExit(remove)
	return dir, remove
}

// Build builds the Go package pkg ("./cmd/panels") as a release binary (trimmed paths, no symbols,
// as shipped) into dir, named after the package's last element, and returns its path.
func Build(dir, pkg string) string {
	bin := filepath.Join(dir, path.Base(pkg))
	Run("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
	return bin
}

// FreshDatabase creates an empty database named after prefix. It is dropped by drop (for a defer)
// and by Fatalf, so that a failed run does not leave a large database behind.
func FreshDatabase(prefix string) (dsn string, drop func()) {
	dsn, drop, err := storetest.CreateDatabase(prefix)
	Must(err)
	AtExit(drop)
	return dsn, drop
}

// Migrate brings the database's schema up to date, for benchmarks that load data before the
// service starts.
func Migrate(dsn string) {
	mig, err := store.NewMigrator(dsn)
	Must(err)
	Must(mig.Up())
	Must(mig.Close())
}

// RedisURL is the Redis the services use: $REDIS_URL, else the local one.
func RedisURL() string { return EnvOr("REDIS_URL", "redis://127.0.0.1:6379") }

// ServiceEnv is the environment of a benchmarked service on dsn: Secret, RedisURL and error logs
// only (a log line a request would be timed with the request), then extra, which wins over them.
func ServiceEnv(dsn string, extra ...string) []string {
	env := append([]string{"DATABASE_URL=" + dsn, "JWT_SECRET=" + Secret, "REDIS_URL=" + RedisURL(), "LOG_LEVEL=error"}, extra...)
	// Clipped: callers append each instance's own settings to one ServiceEnv, and those appends
	// must not write into a shared spare capacity.
	return slices.Clip(env)
}

// Token mints a token with `bin token`, as an operator would.
func Token(bin, tenant, user, email, role string) string {
	cmd := exec.Command(bin, "token", "--tenant", tenant, "--user", user, "--email", email, "--role", role)
	cmd.Env = append(os.Environ(), "JWT_SECRET="+Secret)
	out, err := cmd.Output()
	if err != nil {
		Fatalf("panels token: %v", err)
	}
	return strings.TrimSpace(string(out))
}
