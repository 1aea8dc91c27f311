package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A newcomer's first steps, as the README gives them: a fresh clone, `make run` with the private
// cluster forced (this machine runs a server, which `make run` would otherwise use), the printed
// token, and a restart that keeps the data, with no PostgreSQL left behind.
func TestMakeRunFromAFreshClone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary in a fresh clone and starts PostgreSQL twice")
	}
	if !postgresBinariesAvailable() {
		t.Skip("no PostgreSQL binaries on this machine and no npm to fetch them: the private cluster cannot start")
	}
	repo, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	// A folder others may enter, as a home or a checkout usually is: as root, the cluster runs as
	// nobody, which must reach .data/postgres (t.TempDir's folders are private).
	parent, err := os.MkdirTemp("", "panels-devrun")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(parent, "panels")
	if out, err := exec.Command("git", "clone", "-q", strings.TrimSpace(string(repo)), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)

	first := startMakeRun(t, clone, port)
	t.Logf("cold: %v from `make run` to the first /health answer (build, initdb, migrations)", first.toHealth)
	expectDatabaseUp(t, base)
	status, body := call(t, http.MethodPost, base+"/api/panels", first.token, `{"name":"Survives a restart"}`)
	if status != http.StatusCreated {
		t.Fatalf("create a panel with the printed token: %d %s", status, body)
	}
	first.stop(t)
	expectNoPostgres(t, clone)

	second := startMakeRun(t, clone, port)
	t.Logf("warm: %v from `make run` to the first /health answer", second.toHealth)
	expectDatabaseUp(t, base)
	status, body = call(t, http.MethodGet, base+"/api/panels", second.token, "")
	if status != http.StatusOK || !strings.Contains(body, "Survives a restart") {
		t.Fatalf("after a restart, the panel list: %d %s", status, body)
	}
	second.stop(t)
	expectNoPostgres(t, clone)
}

type makeRun struct {
	cmd      *exec.Cmd
	token    string
	toHealth time.Duration
	exited   chan error
	output   *bytes.Buffer
}

func startMakeRun(t *testing.T, dir string, port int) *makeRun {
	t.Helper()
	cmd := exec.Command("make", "--no-print-directory", "run")
	cmd.Dir = dir
	cmd.Env = append(withoutVars(os.Environ(), "DATABASE_URL", "JWT_SECRET", "PORT", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"),
		"DATABASE_URL=embedded", "PORT="+strconv.Itoa(port))
	// Its own process group, as a terminal's foreground job is: stop signals the group, as Ctrl-C does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &makeRun{cmd: cmd, exited: make(chan error, 1), output: &bytes.Buffer{}}
	tokens := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(io.TeeReader(stdout, r.output))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if tok, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export TOKEN="); ok {
				tokens <- tok
			}
		}
		r.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	deadline := time.After(5 * time.Minute)
	for r.toHealth == 0 {
		select {
		case err := <-r.exited:
			t.Fatalf("make run exited: %v\n%s", err, r.output)
		case <-deadline:
			t.Fatalf("no /health answer after 5 minutes:\n%s", r.output)
		case <-time.After(20 * time.Millisecond):
		}
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", port)); err == nil {
			_ = resp.Body.Close()
			r.toHealth = time.Since(start)
		}
	}
	select {
	case r.token = <-tokens:
	case <-time.After(10 * time.Second):
		t.Fatalf("no dev token printed:\n%s", r.output)
	}
	return r
}

// stop interrupts make run as Ctrl-C would and waits for it to end.
func (r *makeRun) stop(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.exited:
	case <-time.After(time.Minute):
		t.Fatalf("make run did not stop within a minute of SIGINT:\n%s", r.output)
	}
}

func expectDatabaseUp(t *testing.T, base string) {
	t.Helper()
	status, body := call(t, http.MethodGet, base+"/health", "", "")
	var h struct{ Database string }
	if status != http.StatusOK || json.Unmarshal([]byte(body), &h) != nil || h.Database != "up" {
		t.Fatalf("/health: %d %s", status, body)
	}
}

// expectNoPostgres fails when a process still runs on the clone's data directory.
func expectNoPostgres(t *testing.T, clone string) {
	t.Helper()
	dataDir := filepath.Join(clone, ".data", "postgres")
	var left []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		left = processesMentioning(dataDir)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	t.Fatalf("processes still running on %s after the service stopped: %v", dataDir, left)
}

func processesMentioning(s string) []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(s)) {
			found = append(found, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return found
}

func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func withoutVars(env []string, names ...string) []string {
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, n := range names {
			keep = keep && name != n
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

func postgresBinariesAvailable() bool {
	if _, err := exec.LookPath("npm"); err == nil {
		return true
	}
	if _, err := exec.LookPath("pg_config"); err == nil {
		return true
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	return len(found) > 0
}
