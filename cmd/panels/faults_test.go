package main

// Fault tests: the real binary runs as a subprocess against real PostgreSQL and Redis. A test
// that stops a server starts its own private one (initdb + pg_ctl, redis-server, on free ports),
// so nothing else running at the same time is disturbed. Slow: skipped under -short.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/panels/panels/server/auth"
)

const faultSecret = "fault-test-secret-0123456789abcdef"

var built struct {
	sync.Once
	dir, path string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// panelsBinary builds this command once per test run, without the race detector: it is the
// system under test, not the test.
func panelsBinary(t *testing.T) string {
	t.Helper()
	built.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "panels-bin-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "panels")
		cmd := exec.Command("go", "build", "-o", built.path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a subprocess's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// privatePostgres is a PostgreSQL 15 cluster of this test alone.
type privatePostgres struct {
	t    *testing.T
	dir  string
	port int
}

func pgBinary(t *testing.T, name string) string {
	t.Helper()
	for _, dir := range []string{os.Getenv("PG_BIN"), "/usr/lib/postgresql/15/bin"} {
		if dir == "" {
			continue
		}
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Skipf("%s not found (install postgresql-15 or set PG_BIN)", name)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// command runs a PostgreSQL program, as the postgres user when the test runs as root
// (PostgreSQL refuses to run as root).
func (p *privatePostgres) command(name string, args ...string) *exec.Cmd {
	bin := pgBinary(p.t, name)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

func (p *privatePostgres) run(name string, args ...string) {
	p.t.Helper()
	if out, err := p.command(name, args...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
		p.t.Fatalf("%s %v: %v\n%s\nserver log:\n%s", name, args, err, out, log)
	}
}

func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	dir, err := os.MkdirTemp("", "panels-pg-")
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root without a postgres user to run PostgreSQL as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	p := &privatePostgres{t: t, dir: dir, port: freePort(t)}
	p.run("initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	p.start()
	t.Cleanup(func() {
		_ = p.command("pg_ctl", "-D", filepath.Join(dir, "data"), "-m", "immediate", "-w", "stop").Run()
		_ = os.RemoveAll(dir)
	})
	return p
}

func (p *privatePostgres) start() {
	p.t.Helper()
	p.run("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-l", filepath.Join(p.dir, "server.log"), "-w", "-t", "60",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", p.port, p.dir), "start")
}

func (p *privatePostgres) stop(mode string) {
	p.t.Helper()
	p.run("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-m", mode, "-w", "-t", "60", "stop")
}

func (p *privatePostgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// startPrivateRedis runs a redis-server of this test alone and returns its URL.
func startPrivateRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found")
	}
	port := freePort(t)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "redis://" + addr
}

// service is the panels binary running `serve`.
type service struct {
	cmd  *exec.Cmd
	url  string
	logs *syncBuffer
	done chan struct{}
	err  error // Wait's result, once done is closed
}

func startService(t *testing.T, settings map[string]string) *service {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(panelsBinary(t), "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PORT=" + strconv.Itoa(port),
		"JWT_SECRET=" + faultSecret, "LOG_FORMAT=json"}
	for k, v := range settings {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	s := &service{cmd: cmd, url: "http://127.0.0.1:" + strconv.Itoa(port), logs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			var errs []string
			for _, line := range strings.Split(s.logs.String(), "\n") {
				// 503s are the expected outage answers; anything else at error level is news.
				if strings.Contains(line, `"level":"ERROR"`) && !strings.Contains(line, `"status":503`) && len(errs) < 20 {
					errs = append(errs, line)
				}
			}
			t.Logf("service errors other than 503 (first 20):\n%s\nservice output (last 4 KiB):\n%s", strings.Join(errs, "\n"), tail(s.logs.String(), 4096))
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; {
		select {
		case <-s.done:
			t.Fatalf("service exited during start-up: %v\n%s", s.err, s.logs.String())
		default:
		}
		if resp, err := http.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("service not ready after 60s:\n%s", s.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func openDB(dsn string) (*sql.DB, error) { return sql.Open("pgx", dsn) }

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// requestLines returns the service's per-request log lines by request id.
func (s *service) requestLines(t *testing.T) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for _, line := range strings.Split(s.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "request" {
			continue
		}
		id, _ := m["request_id"].(string)
		out[id] = append(out[id], m)
	}
	return out
}

func faultToken(t *testing.T, tenant string) string {
	t.Helper()
	tok, err := auth.Mint([]byte(faultSecret), auth.Principal{TenantID: tenant, UserID: "loader", Email: "loader@" + tenant + ".example",
		Role: auth.RoleAdmin}, time.Hour, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var inFlightGauge = regexp.MustCompile(`(?m)^panels_http_requests_in_flight (\d+)`)

// inFlight reads the service's in-flight gauge, less the scrape itself.
func (s *service) inFlight() int {
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := inFlightGauge.FindSubmatch(b)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n - 1
}

type outcome struct {
	id     string
	status int
	err    error
}

// TestSIGTERMUnderLoad: a few hundred requests are in flight (their bodies still arriving) when
// the service gets SIGTERM, while other clients keep sending. Readiness turns not-ready, every
// request the service accepted is answered properly, new connections are refused once the
// listener closes, and the process exits 0 within SHUTDOWN_TIMEOUT.
func TestSIGTERMUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: skipped under -short")
	}
	// A private PostgreSQL too: the shared one may run out of connections while every package's
	// tests run in parallel, and a 503 here must mean a shutdown bug.
	dsn := startPrivatePostgres(t).url()
	// The default configuration: SHUTDOWN_DELAY 0s, SHUTDOWN_TIMEOUT 20s.
	const shutdownTimeout = 20 * time.Second
	svc := startService(t, map[string]string{
		"DATABASE_URL": dsn, "REDIS_URL": startPrivateRedis(t),
		"RATE_LIMIT_USER_RPS": "0", "RATE_LIMIT_TENANT_RPS": "0",
	})
	tenant := "sigterm"
	tok := faultToken(t, tenant)

	// Slow creates: headers and the first half of the body now, the rest after SIGTERM.
	const slow = 300
	release := make(chan struct{})
	slowClient := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 90 * time.Second}
	slowOut := make(chan outcome, slow)
	for i := 0; i < slow; i++ {
		go func() {
			id := fmt.Sprintf("slow-%d", i)
			pr, pw := io.Pipe()
			go func() {
				_, _ = pw.Write([]byte(`{"name":"slow-` + strconv.Itoa(i) + `","metadata":{"pad":"`))
				<-release
				_, _ = pw.Write([]byte(`x"}}`))
				_ = pw.Close()
			}()
			req, _ := http.NewRequest("POST", svc.url+"/api/panels", pr)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Request-Id", id)
			resp, err := slowClient.Do(req)
			o := outcome{id: id, err: err}
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				o.status = resp.StatusCode
			}
			slowOut <- o
		}()
	}

	// Fast clients keep reading and creating over keep-alive connections throughout.
	stopFast := make(chan struct{})
	var fastWG sync.WaitGroup
	var fastMu sync.Mutex
	var fast []outcome
	fastClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
	for w := 0; w < 8; w++ {
		fastWG.Add(1)
		go func() {
			defer fastWG.Done()
			for i := 0; ; i++ {
				select {
				case <-stopFast:
					return
				default:
				}
				id := fmt.Sprintf("fast-%d-%d", w, i)
				var req *http.Request
				if i%2 == 0 {
					req, _ = http.NewRequest("GET", svc.url+"/api/panels?limit=5", nil)
				} else {
					req, _ = http.NewRequest("POST", svc.url+"/api/panels", strings.NewReader(`{"name":"`+id+`"}`))
					req.Header.Set("Content-Type", "application/json")
				}
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("X-Request-Id", id)
				resp, err := fastClient.Do(req)
				o := outcome{id: id, err: err}
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					o.status = resp.StatusCode
				}
				fastMu.Lock()
				fast = append(fast, o)
				fastMu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}

	inFlight := 0
	for deadline := time.Now().Add(60 * time.Second); inFlight < slow; inFlight = svc.inFlight() {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests in flight after 60s", inFlight)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A connection made before SIGTERM whose request comes after it is still answered, and
	// readiness reports draining.
	probe, err := net.DialTimeout("tcp", strings.TrimPrefix(svc.url, "http://"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	sigAt := time.Now()
	if err := svc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	_ = probe.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(probe, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatalf("healthz while draining: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(probe), nil)
	if err != nil {
		t.Fatalf("healthz while draining: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"draining":true`) {
		t.Errorf("healthz while draining: %d %s", resp.StatusCode, body)
	}

	// Once the accept queue is drained the listener is closed: new connections are refused...
	// The loaders keep connecting, so the queue may only be given up at the drain's cap.
	time.Sleep(time.Until(sigAt.Add(maxAcceptQueueDrain + 500*time.Millisecond)))
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(svc.url, "http://"), time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts connections after SIGTERM and SHUTDOWN_DELAY (0s)")
	}
	// ...while the accepted requests finish.
	close(release)
	slowFailed := 0
	statuses := map[int]int{}
	for i := 0; i < slow; i++ {
		o := <-slowOut
		statuses[o.status]++
		if o.err != nil || o.status != http.StatusCreated {
			slowFailed++
			if slowFailed <= 5 {
				t.Errorf("slow request %s: %d %v", o.id, o.status, o.err)
			}
		}
	}
	var exitErr error
	select {
	case <-svc.done:
		exitErr = svc.err
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatal("the service did not exit within SHUTDOWN_TIMEOUT")
	}
	exitAfter := time.Since(sigAt)
	close(stopFast)
	fastWG.Wait()
	if exitErr != nil {
		t.Errorf("exit: %v (want status 0)", exitErr)
	}

	// Every request the service logged (it logs a request when it answers it) reached its client
	// with the logged status; every other request of the fast clients was refused at connect.
	logged := svc.requestLines(t)
	fastAnswered, fastRefused, fastFailed := 0, 0, 0
	for _, o := range fast {
		lines := logged[o.id]
		switch {
		case o.err == nil:
			fastAnswered++
			if len(lines) != 1 || int(lines[0]["status"].(float64)) != o.status || o.status >= 500 {
				fastFailed++
				t.Errorf("fast request %s: answered %d, logged %v", o.id, o.status, lines)
			}
		case len(lines) > 0:
			fastFailed++
			t.Errorf("fast request %s was handled (%v) but its client got %v", o.id, lines[0]["status"], o.err)
		default:
			fastRefused++
		}
	}
	for i := 0; i < slow; i++ {
		if l := logged[fmt.Sprintf("slow-%d", i)]; len(l) != 1 {
			t.Errorf("slow-%d logged %d times", i, len(l))
		}
	}
	st, err := openDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var created int
	if err := st.QueryRowContext(context.Background(), `SELECT count(*) FROM panels WHERE tenant_id = $1 AND name LIKE 'slow-%'`, tenant).Scan(&created); err != nil {
		t.Fatal(err)
	}
	if created != slow {
		t.Errorf("%d slow creates stored, want %d", created, slow)
	}
	if !strings.Contains(svc.logs.String(), "drained: every accepted request was answered") {
		t.Error("no drain line in the service's log")
	}
	t.Logf("SIGTERM under load: %d requests in flight at SIGTERM (%d slow creates mid-body), slow creates answered %v, failed %d; "+
		"fast requests answered %d, refused at connect after the listener closed %d, failed %d; exit status %v after %s",
		inFlight, slow, statuses, slowFailed, fastAnswered, fastRefused, fastFailed, exitErr, exitAfter.Round(10*time.Millisecond))
}

// TestDatabaseRestartUnderWriteLoad: PostgreSQL is restarted twice (a fast shutdown, then a crash)
// while clients create panels with Idempotency-Keys and retry every failure with the same key.
// Every acknowledged create exists exactly once, none is missing, the outage answers 503
// problem+json (no 500, no hang), and the same process serves again afterwards.
func TestDatabaseRestartUnderWriteLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: skipped under -short")
	}
	pg := startPrivatePostgres(t)
	svc := startService(t, map[string]string{
		"DATABASE_URL": pg.url(), "REDIS_URL": startPrivateRedis(t),
		"DB_STATEMENT_TIMEOUT": "2s", "DB_MAX_CONNS": "10",
		"RATE_LIMIT_USER_RPS": "0", "RATE_LIMIT_TENANT_RPS": "0",
	})
	pid := svc.cmd.Process.Pid
	tenant := "restart"
	tok := faultToken(t, tenant)

	var (
		mu         sync.Mutex
		acked      = map[string]int64{} // panel name → id from its 201
		answers    = map[int]int{}
		badOutage  []string // 5xx answers that are not 503 problem+json
		hangs      atomic.Int64
		retries    atomic.Int64
		transport  atomic.Int64
		stop       = make(chan struct{})
		wg         sync.WaitGroup
		lastErrMsg atomic.Value
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 10 * time.Second}
	create := func(name, key string) {
		body := `{"name":"` + name + `"}`
		for attempt := 0; ; attempt++ {
			if attempt > 0 {
				retries.Add(1)
				time.Sleep(100 * time.Millisecond)
			}
			req, _ := http.NewRequest("POST", svc.url+"/api/panels", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", key)
			resp, err := client.Do(req)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Timeout") {
					hangs.Add(1)
				}
				transport.Add(1)
				lastErrMsg.Store(err.Error())
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mu.Lock()
			answers[resp.StatusCode]++
			if resp.StatusCode >= 500 && (resp.StatusCode != http.StatusServiceUnavailable ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") || !bytes.Contains(b, []byte(`"status":503`))) {
				badOutage = append(badOutage, fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b))
			}
			mu.Unlock()
			if resp.StatusCode == http.StatusCreated {
				var p struct {
					ID   int64  `json:"id"`
					Name string `json:"name"`
				}
				if err := json.Unmarshal(b, &p); err != nil || p.Name != name {
					t.Errorf("201 for %s with body %s", name, b)
				}
				mu.Lock()
				acked[name] = p.ID
				mu.Unlock()
				return
			}
			if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusConflict {
				t.Errorf("create %s: %d %s", name, resp.StatusCode, b)
				return
			}
		}
	}
	const workers = 12
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				create(fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("restart-%d-%d-%d", pid, w, i))
			}
		}()
	}
	phase := func(d time.Duration) int {
		time.Sleep(d)
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	before := phase(1500 * time.Millisecond)
	pg.stop("fast") // clean shutdown: sessions are terminated
	time.Sleep(2 * time.Second)
	pg.start()
	afterFirst := phase(2 * time.Second)
	pg.stop("immediate") // a crash: recovery runs on the next start
	time.Sleep(time.Second)
	pg.start()
	afterSecond := phase(2 * time.Second)
	close(stop)
	wg.Wait()

	if afterFirst <= before || afterSecond <= afterFirst {
		t.Errorf("no progress after a restart: %d acknowledged before, %d after the first, %d after the second", before, afterFirst, afterSecond)
	}
	select { // the same process must have recovered by itself
	case <-svc.done:
		t.Fatalf("the service exited: %v", svc.err)
	default:
	}
	if resp, err := http.Get(svc.url + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("not ready after the restarts: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	st, err := openDB(pg.url())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.QueryContext(context.Background(), `SELECT name, array_agg(id ORDER BY id)::text FROM panels WHERE tenant_id = $1 GROUP BY name`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	stored := map[string]string{}
	for rows.Next() {
		var name, ids string
		if err := rows.Scan(&name, &ids); err != nil {
			t.Fatal(err)
		}
		stored[name] = ids
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	found, lost, duplicates, unacked := 0, 0, 0, 0
	for name, id := range acked {
		switch ids := stored[name]; {
		case ids == "":
			lost++
			t.Errorf("acknowledged %s (id %d) is missing", name, id)
		case ids != "{"+strconv.FormatInt(id, 10)+"}":
			duplicates++
			t.Errorf("acknowledged %s (id %d) is stored as %s", name, id, ids)
		default:
			found++
		}
	}
	for name := range stored {
		if _, ok := acked[name]; !ok {
			unacked++
		}
	}
	if unacked > 0 {
		t.Errorf("%d stored panels were never acknowledged (every create was retried to the end)", unacked)
	}
	if len(badOutage) > 0 {
		t.Errorf("%d outage answers were not 503 problem+json, e.g. %s", len(badOutage), badOutage[0])
	}
	if hangs.Load() > 0 {
		t.Errorf("%d requests hung past the client's 10s timeout (last error: %v)", hangs.Load(), lastErrMsg.Load())
	}
	if answers[http.StatusInternalServerError] > 0 {
		t.Errorf("%d answers were 500", answers[http.StatusInternalServerError])
	}
	if answers[http.StatusServiceUnavailable] == 0 {
		t.Error("no request met the outage: the test proved nothing")
	}
	t.Logf("database restart under write load: %d creates acknowledged, %d found exactly once, %d lost, %d duplicated, %d stored but unacknowledged; "+
		"answers %v, retries %d, transport errors %d, hangs %d; acknowledged before/after 1st/after 2nd restart: %d/%d/%d",
		len(acked), found, lost, duplicates, unacked, answers, retries.Load(), transport.Load(), hangs.Load(), before, afterFirst, afterSecond)
}

// TestSIGTERMAcceptQueueDefaults reproduces a SIGTERM while connections wait in the accept queue, with the default configuration (no
// SHUTDOWN_DELAY): a burst of 200 requests, each on its own connection, and SIGTERM 30 ms later.
// Connections still waiting in the kernel's accept queue when the signal arrives must be served,
// not reset when the listener closes: 0 requests may fail.
func TestSIGTERMAcceptQueueDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: skipped under -short")
	}
	svc := startService(t, map[string]string{
		"DATABASE_URL": startPrivatePostgres(t).url(), "REDIS_URL": startPrivateRedis(t),
		"RATE_LIMIT_USER_RPS": "0", "RATE_LIMIT_TENANT_RPS": "0",
	})
	tok := faultToken(t, "acceptq")
	const burst = 200
	// A connection is in the accept queue once its dial returns (the kernel completed the
	// handshake); SIGTERM follows 30 ms after the burst starts, and not before every connection
	// of the burst is established, so every request reached the queue before the signal.
	var dialed atomic.Int64
	dialer := &net.Dialer{}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err == nil {
				dialed.Add(1)
			}
			return c, err
		}}, Timeout: 30 * time.Second}
	out := make(chan outcome, burst)
	start := make(chan struct{})
	for i := 0; i < burst; i++ {
		go func() {
			<-start
			id := fmt.Sprintf("burst-%d", i)
			req, _ := http.NewRequest("GET", svc.url+"/api/panels?limit=5", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("X-Request-Id", id)
			resp, err := client.Do(req)
			o := outcome{id: id, err: err}
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				o.status = resp.StatusCode
			}
			out <- o
		}()
	}
	close(start)
	began := time.Now()
	time.Sleep(30 * time.Millisecond)
	for deadline := time.Now().Add(10 * time.Second); dialed.Load() < burst; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d connections established after 10s", dialed.Load(), burst)
		}
	}
	sigAt := time.Now()
	if err := svc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	failed, statuses := 0, map[int]int{}
	for i := 0; i < burst; i++ {
		o := <-out
		statuses[o.status]++
		if o.err != nil || o.status != http.StatusOK {
			failed++
			if failed <= 5 {
				t.Errorf("request %s: %d %v", o.id, o.status, o.err)
			}
		}
	}
	select {
	case <-svc.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the service did not exit after SIGTERM")
	}
	if svc.err != nil {
		t.Errorf("exit: %v (want status 0)", svc.err)
	}
	if failed > 0 {
		t.Errorf("%d of %d requests sent before SIGTERM failed, want 0", failed, burst)
	}
	t.Logf("SIGTERM %s into a burst of %d requests (defaults), every connection established: answered %v, failed %d; exit %v after %s",
		sigAt.Sub(began).Round(time.Millisecond), burst, statuses, failed, svc.err, time.Since(sigAt).Round(time.Millisecond))
}

// TestSIGTERMEndsEventStreams: an open event stream gets `event: shutdown` when the service is told
// to stop, and the process drains and exits well before SHUTDOWN_TIMEOUT instead of waiting for the
// stream (which never ends by itself) and cutting it off.
func TestSIGTERMEndsEventStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: skipped under -short")
	}
	const shutdownTimeout = 60 * time.Second
	svc := startService(t, map[string]string{
		"DATABASE_URL": startPrivatePostgres(t).url(), "REDIS_URL": startPrivateRedis(t),
		"SHUTDOWN_TIMEOUT": shutdownTimeout.String(),
	})
	req, _ := http.NewRequest("GET", svc.url+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+faultToken(t, "streams"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /api/events: %d %s", resp.StatusCode, b)
	}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() && lines.Text() != ": live" {
	}
	if err := svc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sawShutdown := false
	for lines.Scan() {
		if lines.Text() == "event: shutdown" {
			sawShutdown = true
		}
	}
	if !sawShutdown {
		t.Errorf("the stream ended without `event: shutdown` (%v)", lines.Err())
	}
	select {
	case <-svc.done:
	case <-time.After(shutdownTimeout / 2):
		t.Fatal("the service still runs long after SIGTERM: the open stream holds up the drain")
	}
	if svc.err != nil {
		t.Errorf("exit after SIGTERM: %v", svc.err)
	}
	if !strings.Contains(svc.logs.String(), "drained: every accepted request was answered") {
		t.Errorf("no drain line in the service's log:\n%s", tail(svc.logs.String(), 20))
	}
}
