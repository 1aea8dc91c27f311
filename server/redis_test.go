package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	client "github.com/panels/panels/clients/go"
	"github.com/panels/panels/server"
	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/servertest"
)

// Tests of the Redis features (docs/caching.md): a response cache that never serves stale data, a rate
// limiter shared by all instances, and a service that keeps working while Redis is down. They
// start their own instances with server.New on the package's database; those that stop Redis
// start a private redis-server for it.

func sharedRedisURL() string {
	if v := os.Getenv("TEST_REDIS_URL"); v != "" {
		return v
	}
	return "redis://127.0.0.1:6379"
}

// rcRedis is a private redis-server on a free port, stopped and restarted by the test.
type rcRedis struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newPrivateRedis reserves a port; start it with start().
func newPrivateRedis(t testing.TB) *rcRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed (apt-get install redis-server)")
	}
	r := &rcRedis{t: t, port: freePort(t)}
	t.Cleanup(r.stop)
	return r
}

func (r *rcRedis) url() string { return "redis://127.0.0.1:" + strconv.Itoa(r.port) }

func (r *rcRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--loglevel", "warning")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), 200*time.Millisecond); err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("private redis-server on port %d did not start", r.port)
}

// stop kills the server by its pid (only ours).
func (r *rcRedis) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// rcInstance is one more service instance on the package's database.
type rcInstance struct {
	name string
	url  string
	app  *server.App
	hc   *http.Client
}

// noLimits keeps the limiter in the path (so its Redis calls run) without ever refusing.
var noLimits = []string{"RATE_LIMIT_USER_RPS", "1000000", "RATE_LIMIT_USER_BURST", "1000000",
	"RATE_LIMIT_TENANT_RPS", "1000000", "RATE_LIMIT_TENANT_BURST", "1000000"}

func startInstance(t testing.TB, name, redisURL string, kv ...string) *rcInstance {
	t.Helper()
	// A small pool: these instances serve one request at a time (the throughput test says
	// otherwise), and the PostgreSQL server is shared with every other test package.
	vars := map[string]string{"JWT_SECRET": testSecret, "REDIS_URL": redisURL, "DB_MAX_CONNS": "4"}
	for i := 0; i+1 < len(kv); i += 2 {
		vars[kv[i]] = kv[i+1]
	}
	svc := servertest.New(t, servertest.Options{DSN: env.dsn, Env: vars, Log: servertest.Log().With("instance", name)})
	return &rcInstance{name: name, url: svc.URL, app: svc.App, hc: &http.Client{Transport: &validatingTransport{t: t}}}
}

// waitUsable waits until the instance uses Redis (its first connection or a recovery).
func (in *rcInstance) waitUsable(t testing.TB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !in.app.Server.RedisMetrics().RedisUsable {
		if time.Now().After(deadline) {
			t.Fatalf("%s: Redis not usable after %s", in.name, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (in *rcInstance) metrics() server.RedisMetrics { return in.app.Server.RedisMetrics() }

// do sends one request (validated against the spec) and returns status, headers and body; a
// transport error is reported as status 0.
func (in *rcInstance) do(t testing.TB, method, path, tok string, body any, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, in.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := in.hc.Do(req)
	if err != nil {
		t.Errorf("%s %s %s: %v", in.name, method, path, err)
		return 0, nil, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data
}

// must sends a request that has to answer want and decodes the body into out (when not nil).
func (in *rcInstance) must(t testing.TB, want int, method, path, tok string, body, out any) {
	t.Helper()
	status, _, data := in.do(t, method, path, tok, body)
	if status != want {
		t.Fatalf("%s %s %s: %d, want %d: %s", in.name, method, path, status, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s %s: %v: %s", in.name, method, path, err, data)
		}
	}
}

// rcFixture is a panel with a data source, a column and a view, owned by a builder.
type rcFixture struct {
	tenant                  string
	owner                   string // token
	panelID, columnID, view int64
}

func newRCFixture(t testing.TB, in *rcInstance, prefix string) rcFixture {
	t.Helper()
	f := rcFixture{tenant: newTenant(prefix)}
	f.owner = token(t, f.tenant, "olga", "olga@"+f.tenant+".example", auth.RoleBuilder)
	var p client.Panel
	in.must(t, http.StatusCreated, http.MethodPost, "/api/panels", f.owner, map[string]any{"name": "start"}, &p)
	var ds client.DataSource
	in.must(t, http.StatusCreated, http.MethodPost, fmt.Sprintf("/api/panels/%d/datasources", p.Id), f.owner,
		map[string]any{"type": "api", "config": map[string]any{"endpoint": "/api/patients", "method": "GET"}}, &ds)
	var col client.Column
	in.must(t, http.StatusCreated, http.MethodPost, fmt.Sprintf("/api/panels/%d/columns/base", p.Id), f.owner,
		map[string]any{"name": "start", "type": "text", "sourceField": "email", "dataSourceId": ds.Id, "properties": map[string]any{}}, &col)
	var v client.View
	in.must(t, http.StatusCreated, http.MethodPost, "/api/views", f.owner,
		map[string]any{"name": "start", "panelId": p.Id, "visibleColumns": []string{strconv.FormatInt(col.Id, 10)}}, &v)
	f.panelID, f.columnID, f.view = p.Id, col.Id, v.Id
	return f
}

// readNames reads the panel, the panel list, the columns and the view through in, and returns
// the names it saw ("" where the resource was not visible), and the panel's ETag.
type rcState struct {
	panel, listed, column, view string
	etag                        string
	statuses                    []int
}

func readState(t testing.TB, in *rcInstance, f rcFixture, tok string) rcState {
	t.Helper()
	var s rcState
	status, h, data := in.do(t, http.MethodGet, fmt.Sprintf("/api/panels/%d", f.panelID), tok, nil)
	s.statuses = append(s.statuses, status)
	if status == http.StatusOK {
		var p client.Panel
		_ = json.Unmarshal(data, &p)
		s.panel, s.etag = p.Name, h.Get("ETag")
	}
	status, _, data = in.do(t, http.MethodGet, "/api/panels", tok, nil)
	s.statuses = append(s.statuses, status)
	var list []client.Panel
	_ = json.Unmarshal(data, &list)
	for _, p := range list {
		if p.Id == f.panelID {
			s.listed = p.Name
		}
	}
	status, _, data = in.do(t, http.MethodGet, fmt.Sprintf("/api/panels/%d/columns", f.panelID), tok, nil)
	s.statuses = append(s.statuses, status)
	var cols client.ColumnList
	_ = json.Unmarshal(data, &cols)
	for _, c := range cols.BaseColumns {
		if c.Id == f.columnID {
			s.column = c.Name
		}
	}
	status, _, data = in.do(t, http.MethodGet, fmt.Sprintf("/api/views/%d", f.view), tok, nil)
	s.statuses = append(s.statuses, status)
	if status == http.StatusOK {
		var v client.View
		_ = json.Unmarshal(data, &v)
		s.view = v.Name
	}
	return s
}

// TestCacheCoherenceAcrossInstances: 1,000 rounds of "write through A, then read through A and B
// at once"; every read must show the write.
func TestCacheCoherenceAcrossInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 rounds through two instances")
	}
	a := startInstance(t, "A", sharedRedisURL(), noLimits...)
	b := startInstance(t, "B", sharedRedisURL(), noLimits...)
	a.waitUsable(t, 10*time.Second)
	b.waitUsable(t, 10*time.Second)
	f := newRCFixture(t, a, "coherence")
	before := []server.RedisMetrics{a.metrics(), b.metrics()}

	const rounds = 1000
	stale, reads := 0, 0
	want := rcState{panel: "start", listed: "start", column: "start", view: "start"}
	compare := func(round int, via string, got rcState) {
		t.Helper()
		reads += 4
		for _, d := range [][3]string{{"panel", got.panel, want.panel}, {"listed", got.listed, want.listed},
			{"column", got.column, want.column}, {"view", got.view, want.view}} {
			if d[1] != d[2] {
				stale++
				if stale <= 10 {
					t.Errorf("round %d via %s: %s is %q, want %q", round, via, d[0], d[1], d[2])
				}
			}
		}
	}
	// Every read checks all four resources, so that a stale entry of any of them shows. The reads
	// of one round fill the cache (on both instances) with the state the next write replaces.
	compare(-1, "A", readState(t, a, f, f.owner))
	compare(-1, "B", readState(t, b, f, f.owner))
	for i := range rounds {
		name := fmt.Sprintf("round %d", i)
		pre := readState(t, a, f, f.owner) // a cache hit: the state before the write, with its ETag
		compare(i, "A before the write", pre)
		switch i % 3 {
		case 0:
			a.must(t, http.StatusOK, http.MethodPut, fmt.Sprintf("/api/panels/%d", f.panelID), f.owner, map[string]any{"name": name}, nil)
			want.panel, want.listed = name, name
		case 1:
			a.must(t, http.StatusOK, http.MethodPut, fmt.Sprintf("/api/panels/%d/columns/%d", f.panelID, f.columnID), f.owner, map[string]any{"name": name}, nil)
			want.column = name
		case 2:
			a.must(t, http.StatusOK, http.MethodPut, fmt.Sprintf("/api/views/%d", f.view), f.owner, map[string]any{"name": name}, nil)
			want.view = name
		}
		order := []*rcInstance{a, b}
		if i%2 == 1 {
			order = []*rcInstance{b, a}
		}
		for _, in := range order {
			got := readState(t, in, f, f.owner)
			compare(i, in.name, got)
			panelPath := fmt.Sprintf("/api/panels/%d", f.panelID)
			// A conditional GET with the ETag from before a panel write must not answer 304 ...
			if i%3 == 0 {
				reads++
				if status, _, _ := in.do(t, http.MethodGet, panelPath, f.owner, nil, "If-None-Match", pre.etag); status != http.StatusOK {
					stale++
					if stale <= 10 {
						t.Errorf("round %d via %s: If-None-Match with the replaced ETag answered %d", i, in.name, status)
					}
				}
			}
			// ... and one with the current ETag must.
			if status, _, _ := in.do(t, http.MethodGet, panelPath, f.owner, nil, "If-None-Match", got.etag); status != http.StatusNotModified {
				t.Errorf("round %d via %s: If-None-Match with the current ETag answered %d", i, in.name, status)
			}
		}
	}
	t.Logf("coherence: %d rounds, %d reads after writes, %d stale reads", rounds, reads, stale)
	for i, in := range []*rcInstance{a, b} {
		m := in.metrics()
		hits := m.CacheHits - before[i].CacheHits
		t.Logf("%s: %d cache hits, %d misses, %d bumps, %d cache errors", in.name, hits, m.CacheMisses-before[i].CacheMisses,
			m.GenerationBumps-before[i].GenerationBumps, m.CacheErrors-before[i].CacheErrors)
		if hits == 0 {
			t.Errorf("%s served nothing from the cache: the test proved nothing", in.name)
		}
	}
}

// TestCacheHonoursACLRevocation: a reader granted, then revoked, sees the panel disappear at once
// on both instances, whichever instance the grant went through.
func TestCacheHonoursACLRevocation(t *testing.T) {
	if testing.Short() {
		t.Skip("200 grant/revoke rounds through two instances")
	}
	a := startInstance(t, "A", sharedRedisURL(), noLimits...)
	b := startInstance(t, "B", sharedRedisURL(), noLimits...)
	a.waitUsable(t, 10*time.Second)
	b.waitUsable(t, 10*time.Second)
	f := newRCFixture(t, a, "revoke")
	email := "rita@" + f.tenant + ".example"
	reader := token(t, f.tenant, "rita", email, auth.RoleUser)
	before := []server.RedisMetrics{a.metrics(), b.metrics()}

	wrong := 0
	check := func(round int, wantVisible bool) {
		t.Helper()
		for _, in := range []*rcInstance{a, b} {
			for range 2 { // the second read is the one a cache would answer
				status, _, _ := in.do(t, http.MethodGet, fmt.Sprintf("/api/panels/%d", f.panelID), reader, nil)
				var list []client.Panel
				_, _, data := in.do(t, http.MethodGet, "/api/panels", reader, nil)
				_ = json.Unmarshal(data, &list)
				listed := false
				for _, p := range list {
					listed = listed || p.Id == f.panelID
				}
				if (status == http.StatusOK) != wantVisible || listed != wantVisible {
					wrong++
					if wrong <= 10 {
						t.Errorf("round %d via %s: visible=%v: get %d, listed %v", round, in.name, wantVisible, status, listed)
					}
				}
			}
		}
	}
	const rounds = 200
	for i := range rounds {
		writer := a
		if i%2 == 1 {
			writer = b
		}
		writer.must(t, http.StatusCreated, http.MethodPost, fmt.Sprintf("/api/acls/panel/%d", f.panelID), f.owner,
			map[string]any{"userEmail": email, "permission": "viewer"}, nil)
		check(i, true)
		writer.must(t, http.StatusNoContent, http.MethodDelete, fmt.Sprintf("/api/acls/panel/%d/%s", f.panelID, email), f.owner, nil, nil)
		check(i, false)
	}
	t.Logf("ACL revocation: %d rounds, %d wrong answers", rounds, wrong)
	for i, in := range []*rcInstance{a, b} {
		if hits := in.metrics().CacheHits - before[i].CacheHits; hits == 0 {
			t.Errorf("%s served nothing from the cache: the test proved nothing", in.name)
		}
	}
}

// rcLoad keeps writing and reading through two instances, checking every answer.
type rcLoad struct {
	requests, serverErrors, wrong atomic.Int64
	maxLatency                    atomic.Int64 // nanoseconds
	stop                          chan struct{}
	stopOnce                      sync.Once
	done                          sync.WaitGroup
}

func startLoad(t *testing.T, a, b *rcInstance, f rcFixture) *rcLoad {
	l := &rcLoad{stop: make(chan struct{})}
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		do := func(in *rcInstance, method, path string, body any, hdr ...string) (int, []byte) {
			start := time.Now()
			status, _, data := in.do(t, method, path, f.owner, body, hdr...)
			if d := int64(time.Since(start)); d > l.maxLatency.Load() {
				l.maxLatency.Store(d)
			}
			l.requests.Add(1)
			if status >= 500 || status == 0 {
				l.serverErrors.Add(1)
			}
			return status, data
		}
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			default:
			}
			writer, other := a, b
			if i%2 == 1 {
				writer, other = b, a
			}
			name := fmt.Sprintf("load %d", i)
			if status, body := do(writer, http.MethodPut, fmt.Sprintf("/api/panels/%d", f.panelID), map[string]any{"name": name}); status != http.StatusOK {
				l.wrong.Add(1)
				t.Errorf("write %d via %s: %d %s", i, writer.name, status, body)
				continue
			}
			for _, in := range []*rcInstance{writer, other, other} {
				status, body := do(in, http.MethodGet, fmt.Sprintf("/api/panels/%d", f.panelID), nil)
				var p client.Panel
				_ = json.Unmarshal(body, &p)
				if status != http.StatusOK || p.Name != name {
					l.wrong.Add(1)
					t.Errorf("read %d via %s: %d %q, want %q", i, in.name, status, p.Name, name)
				}
				status, body = do(in, http.MethodGet, "/api/panels", nil)
				var list []client.Panel
				_ = json.Unmarshal(body, &list)
				if status != http.StatusOK || len(list) != 1 || list[0].Name != name {
					l.wrong.Add(1)
					t.Errorf("list %d via %s: %d %s", i, in.name, status, body)
				}
			}
		}
	}()
	return l
}

func (l *rcLoad) finish() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.done.Wait()
}

func healthOf(t testing.TB, in *rcInstance) client.Health {
	t.Helper()
	var h client.Health
	status, _, data := in.do(t, http.MethodGet, "/health", "", nil)
	if status != http.StatusOK {
		t.Fatalf("%s /health: %d %s", in.name, status, data)
	}
	_ = json.Unmarshal(data, &h)
	return h
}

func waitFor(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisOutage stops a private Redis while requests keep flowing through two instances, then
// starts it again: no 5xx, correct data throughout, the cache back in use afterwards.
func TestRedisOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and restarts a private Redis")
	}
	r := newPrivateRedis(t)
	r.start()
	a := startInstance(t, "A", r.url(), noLimits...)
	b := startInstance(t, "B", r.url(), noLimits...)
	a.waitUsable(t, 10*time.Second)
	b.waitUsable(t, 10*time.Second)
	f := newRCFixture(t, a, "outage")

	load := startLoad(t, a, b, f)
	defer load.finish()
	waitFor(t, "cache hits before the outage", 10*time.Second, func() bool { return a.metrics().CacheHits > 0 && b.metrics().CacheHits > 0 })
	time.Sleep(500 * time.Millisecond)

	r.stop()
	downAt := load.requests.Load()
	waitFor(t, "both instances notice the outage", 5*time.Second, func() bool { return !a.metrics().RedisUsable && !b.metrics().RedisUsable })
	for _, in := range []*rcInstance{a, b} {
		if h := healthOf(t, in); h.Status != client.Degraded || h.Redis != client.HealthRedisDown {
			t.Errorf("%s during the outage: health %s, redis %s", in.name, h.Status, h.Redis)
		}
	}
	hitsDown := a.metrics().CacheHits + b.metrics().CacheHits
	time.Sleep(1500 * time.Millisecond)
	if got := a.metrics().CacheHits + b.metrics().CacheHits; got != hitsDown {
		t.Errorf("cache hits while Redis was down: %d", got-hitsDown)
	}
	duringOutage := load.requests.Load() - downAt

	r.start()
	a.waitUsable(t, 10*time.Second)
	b.waitUsable(t, 10*time.Second)
	hitsUp := a.metrics().CacheHits + b.metrics().CacheHits
	waitFor(t, "cache hits after the outage", 10*time.Second, func() bool { return a.metrics().CacheHits+b.metrics().CacheHits > hitsUp+20 })
	for _, in := range []*rcInstance{a, b} {
		if h := healthOf(t, in); h.Status != client.Healthy || h.Redis != client.HealthRedisUp {
			t.Errorf("%s after the outage: health %s, redis %s", in.name, h.Status, h.Redis)
		}
	}
	time.Sleep(500 * time.Millisecond)
	load.finish()

	t.Logf("outage: %d requests in all (%d while Redis was down), %d 5xx or transport errors, %d wrong answers, slowest %s",
		load.requests.Load(), duringOutage, load.serverErrors.Load(), load.wrong.Load(), time.Duration(load.maxLatency.Load()))
	for _, in := range []*rcInstance{a, b} {
		m := in.metrics()
		t.Logf("%s: %+v", in.name, m)
	}
	if load.serverErrors.Load() != 0 || load.wrong.Load() != 0 {
		t.Errorf("%d 5xx, %d wrong answers", load.serverErrors.Load(), load.wrong.Load())
	}
	if duringOutage < 20 {
		t.Errorf("only %d requests while Redis was down", duringOutage)
	}
	if d := time.Duration(load.maxLatency.Load()); d > 3*time.Second {
		t.Errorf("a request took %s: Redis calls must not stall requests", d)
	}
}

// TestCacheStartsWhenRedisComesUp: an instance started while Redis is down serves correctly from
// PostgreSQL, then caches once Redis comes up.
func TestCacheStartsWhenRedisComesUp(t *testing.T) {
	r := newPrivateRedis(t) // not started yet: nothing listens on its port
	in := startInstance(t, "A", r.url(), noLimits...)
	f := newRCFixture(t, in, "late")
	path := fmt.Sprintf("/api/panels/%d", f.panelID)
	for range 3 {
		var p client.Panel
		in.must(t, http.StatusOK, http.MethodGet, path, f.owner, nil, &p)
		if p.Name != "start" {
			t.Fatalf("panel name %q", p.Name)
		}
	}
	in.must(t, http.StatusOK, http.MethodPut, path, f.owner, map[string]any{"name": "while down"}, nil)
	var p client.Panel
	in.must(t, http.StatusOK, http.MethodGet, path, f.owner, nil, &p)
	if p.Name != "while down" {
		t.Fatalf("panel name %q after a write without Redis", p.Name)
	}
	if h := healthOf(t, in); h.Status != client.Degraded || h.Redis != client.HealthRedisDown {
		t.Errorf("without Redis: health %s, redis %s", h.Status, h.Redis)
	}
	if m := in.metrics(); m.CacheHits != 0 || m.CacheBypasses == 0 || m.RedisUsable {
		t.Errorf("without Redis: %+v", m)
	}

	r.start()
	in.waitUsable(t, 10*time.Second)
	for range 3 {
		in.must(t, http.StatusOK, http.MethodGet, path, f.owner, nil, &p)
		if p.Name != "while down" {
			t.Fatalf("panel name %q after Redis came up", p.Name)
		}
	}
	if m := in.metrics(); m.CacheHits < 2 || m.CacheStores == 0 {
		t.Errorf("not caching after Redis came up: %+v", m)
	}
	if h := healthOf(t, in); h.Status != client.Healthy || h.Redis != client.HealthRedisUp {
		t.Errorf("with Redis: health %s, redis %s", h.Status, h.Redis)
	}
}

// rcLimited sends n GET /api/panels for tok, round-robin over instances, and counts the answers.
func rcLimited(t testing.TB, n int, tok string, ins ...*rcInstance) (allowed, limited int, last429 http.Header) {
	t.Helper()
	for i := range n {
		in := ins[i%len(ins)]
		status, h, data := in.do(t, http.MethodGet, "/api/panels", tok, nil)
		switch status {
		case http.StatusOK:
			allowed++
		case http.StatusTooManyRequests:
			limited++
			last429 = h
		default:
			t.Fatalf("%s: %d %s", in.name, status, data)
		}
	}
	return allowed, limited, last429
}

func headerInt(t testing.TB, h http.Header, name string) int {
	t.Helper()
	n, err := strconv.Atoi(h.Get(name))
	if err != nil {
		t.Fatalf("%s: %q", name, h.Get(name))
	}
	return n
}

// TestRateLimitSharedAcrossInstances: the per-user and per-tenant limits hold for the sum of
// both instances' traffic; 429 carries Retry-After and RateLimit-*; health and docs are never
// limited.
func TestRateLimitSharedAcrossInstances(t *testing.T) {
	limits := []string{"RATE_LIMIT_USER_RPS", "0.001", "RATE_LIMIT_USER_BURST", "10",
		"RATE_LIMIT_TENANT_RPS", "0.001", "RATE_LIMIT_TENANT_BURST", "15"}
	a := startInstance(t, "A", sharedRedisURL(), limits...)
	b := startInstance(t, "B", sharedRedisURL(), limits...)
	a.waitUsable(t, 10*time.Second)
	b.waitUsable(t, 10*time.Second)
	tenant := newTenant("limits")
	u1 := token(t, tenant, "u1", "u1@"+tenant+".example", auth.RoleBuilder)
	u2 := token(t, tenant, "u2", "u2@"+tenant+".example", auth.RoleBuilder)

	allowed, limited, h := rcLimited(t, 16, u1, a, b)
	if allowed != 10 || limited != 6 {
		t.Errorf("user limit across two instances: %d allowed, %d limited; want 10 and 6", allowed, limited)
	}
	if h == nil {
		t.Fatal("no 429 seen")
	}
	if headerInt(t, h, "Retry-After") < 1 || headerInt(t, h, "RateLimit-Limit") != 10 || headerInt(t, h, "RateLimit-Remaining") != 0 ||
		headerInt(t, h, "RateLimit-Reset") < 1 {
		t.Errorf("429 headers: %v", h)
	}
	// Every method is limited, before validation and before the handler looks for the resource.
	for _, req := range []struct {
		method, path string
		body         any
	}{{http.MethodPost, "/api/panels", map[string]any{"name": "x"}}, {http.MethodPut, "/api/panels/1", map[string]any{"name": "x"}},
		{http.MethodDelete, "/api/panels/1", nil}, {http.MethodPost, "/api/panels", map[string]any{"unknown": true}}} {
		if status, h, data := b.do(t, req.method, req.path, u1, req.body); status != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
			t.Errorf("%s %s over the limit: %d %s", req.method, req.path, status, data)
		}
	}
	// The tenant's bucket (15) has 5 left: a second user gets those, and the headers name the tenant's limit.
	allowed, limited, h = rcLimited(t, 8, u2, a, b)
	if allowed != 5 || limited != 3 {
		t.Errorf("tenant limit: %d allowed, %d limited; want 5 and 3", allowed, limited)
	}
	if h != nil && headerInt(t, h, "RateLimit-Limit") != 15 {
		t.Errorf("tenant 429 headers: %v", h)
	}
	// Another tenant is not affected; its answers carry the headers too.
	other := newTenant("limits-other")
	status, oh, _ := a.do(t, http.MethodGet, "/api/panels", token(t, other, "u1", "", auth.RoleBuilder), nil)
	if status != http.StatusOK || headerInt(t, oh, "RateLimit-Remaining") != 9 || headerInt(t, oh, "RateLimit-Limit") != 10 {
		t.Errorf("other tenant: %d %v", status, oh)
	}
	for _, path := range []string{"/health", "/healthz", "/liveness", "/docs", "/openapi.json"} {
		for _, in := range []*rcInstance{a, b} {
			if status, h, _ := in.do(t, http.MethodGet, path, u1, nil); status != http.StatusOK || h.Get("RateLimit-Limit") != "" {
				t.Errorf("%s %s: %d, RateLimit-Limit %q", in.name, path, status, h.Get("RateLimit-Limit"))
			}
		}
	}
	if m := a.metrics(); m.RateLimitLimited == 0 || m.RateLimitFallback != 0 {
		t.Errorf("limiter metrics of A: %+v", m)
	}
}

// TestRateLimitLeasesKeepTheSharedLimit: with a rate high enough to lease (200/s: leases of 10),
// two instances call Redis about once per lease, and together never let through more than the
// bucket holds plus what it refilled meanwhile.
func TestRateLimitLeasesKeepTheSharedLimit(t *testing.T) {
	limits := []string{"RATE_LIMIT_USER_RPS", "200", "RATE_LIMIT_USER_BURST", "40", "RATE_LIMIT_TENANT_RPS", "0"}
	a := startInstance(t, "A", sharedRedisURL(), limits...)
	b := startInstance(t, "B", sharedRedisURL(), limits...)
	a.waitUsable(t, 10*time.Second)
	b.waitUsable(t, 10*time.Second)
	tenant := newTenant("leases")
	tok := token(t, tenant, "u1", "u1@"+tenant+".example", auth.RoleBuilder)

	start := time.Now()
	allowed, limited, h := rcLimited(t, 150, tok, a, b)
	elapsed := time.Since(start)
	if most := 40 + int(math.Ceil(200*elapsed.Seconds())); allowed > most {
		t.Errorf("%d allowed in %s; the bucket (40, 200/s) holds at most %d", allowed, elapsed, most)
	}
	if limited == 0 || h == nil || h.Get("Retry-After") == "" {
		t.Fatalf("150 requests in %s: %d allowed, %d limited; the limit never applied", elapsed, allowed, limited)
	}
	leased := a.metrics().RateLimitLeased + b.metrics().RateLimitLeased
	if leased == 0 || leased >= uint64(allowed) {
		t.Errorf("%d of %d allowed requests spent leased tokens; want most, not all", leased, allowed)
	}
	t.Logf("150 requests over two instances in %s: %d allowed (%d from leases, so %d Redis calls), %d limited",
		elapsed.Round(time.Millisecond), allowed, leased, uint64(allowed)-leased+uint64(limited), limited)
}

// TestRateLimitFallbackWhileRedisDown: without Redis, each instance limits on its own; with Redis
// back, the shared limiter takes over again.
func TestRateLimitFallbackWhileRedisDown(t *testing.T) {
	r := newPrivateRedis(t)
	r.start()
	in := startInstance(t, "A", r.url(), "RATE_LIMIT_USER_RPS", "0.001", "RATE_LIMIT_USER_BURST", "5")
	in.waitUsable(t, 10*time.Second)
	tenant := newTenant("fallback")

	r.stop()
	waitFor(t, "the instance notices the outage", 5*time.Second, func() bool {
		healthOf(t, in)
		return !in.metrics().RedisUsable
	})
	before := in.metrics()
	allowed, limited, h := rcLimited(t, 8, token(t, tenant, "u1", "", auth.RoleBuilder), in)
	if allowed != 5 || limited != 3 {
		t.Errorf("fallback limiter: %d allowed, %d limited; want 5 and 3", allowed, limited)
	}
	if h == nil || headerInt(t, h, "Retry-After") < 1 || headerInt(t, h, "RateLimit-Limit") != 5 || headerInt(t, h, "RateLimit-Remaining") != 0 {
		t.Errorf("fallback 429 headers: %v", h)
	}
	if m := in.metrics(); m.RateLimitFallback-before.RateLimitFallback != 8 {
		t.Errorf("fallback decisions: %d, want 8", m.RateLimitFallback-before.RateLimitFallback)
	}

	r.start()
	in.waitUsable(t, 10*time.Second)
	before = in.metrics()
	allowed, limited, _ = rcLimited(t, 8, token(t, tenant, "u2", "", auth.RoleBuilder), in)
	if allowed != 5 || limited != 3 {
		t.Errorf("shared limiter after recovery: %d allowed, %d limited; want 5 and 3", allowed, limited)
	}
	if m := in.metrics(); m.RateLimitFallback != before.RateLimitFallback {
		t.Errorf("still falling back after recovery: %d decisions", m.RateLimitFallback-before.RateLimitFallback)
	}
}

// TestCacheThroughput measures GET /api/panels/{id} with and without the cache in one run: two
// instances on the same database and Redis, one with CACHE_TTL=0. It reports; it asserts nothing
// about speed.
func TestCacheThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("throughput measurement")
	}
	off := []string{"RATE_LIMIT_USER_RPS", "0", "RATE_LIMIT_TENANT_RPS", "0", "DB_MAX_CONNS", "16"}
	cached := startInstance(t, "cached", sharedRedisURL(), off...)
	uncached := startInstance(t, "uncached", sharedRedisURL(), append(off, "CACHE_TTL", "0")...)
	cached.waitUsable(t, 10*time.Second)
	f := newRCFixture(t, cached, "throughput")
	path := fmt.Sprintf("/api/panels/%d", f.panelID)

	// measure counts the 200 answers per second. On a machine busy with other work the database
	// may answer 503 (its statement timeout); those are reported, not counted, and are no failure
	// of the cache. Any other non-200 is.
	measure := func(in *rcInstance) float64 {
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		defer hc.CloseIdleConnections()
		const workers, window = 16, 2 * time.Second
		var ok, unavailable atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Since(start) < window {
					req, _ := http.NewRequest(http.MethodGet, in.url+path, nil)
					req.Header.Set("Authorization", "Bearer "+f.owner)
					resp, err := hc.Do(req)
					if err != nil {
						t.Errorf("%s: %v", in.name, err)
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					switch resp.StatusCode {
					case http.StatusOK:
						ok.Add(1)
					case http.StatusServiceUnavailable:
						unavailable.Add(1)
					default:
						t.Errorf("%s: %d %s", in.name, resp.StatusCode, body)
						return
					}
				}
			}()
		}
		wg.Wait()
		if unavailable.Load() != 0 {
			t.Logf("%s: %d answers 503 (database overloaded) besides %d answers 200", in.name, unavailable.Load(), ok.Load())
		}
		return float64(ok.Load()) / time.Since(start).Seconds()
	}
	measure(uncached) // warm up both paths (connections, pools)
	measure(cached)
	// Alternate, so that load from elsewhere on the machine hits both alike; report the medians.
	before := cached.metrics()
	var no, yes []float64
	for range 3 {
		no = append(no, measure(uncached))
		yes = append(yes, measure(cached))
	}
	m := cached.metrics()
	slices.Sort(no)
	slices.Sort(yes)
	t.Logf("GET /api/panels/{id}, 16 clients: uncached %.0f req/s, cached %.0f req/s (%.2fx; medians of %.0f / %.0f); cached runs: %d hits, %d misses",
		no[1], yes[1], yes[1]/no[1], no, yes, m.CacheHits-before.CacheHits, m.CacheMisses-before.CacheMisses)
	if m.CacheHits == before.CacheHits {
		t.Error("the cached instance served nothing from the cache")
	}
}

// cutProxy forwards TCP to Redis until cut: then it drops every connection and refuses new ones,
// while Redis itself keeps running with all its data (a network blip, not a restart).
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func newCutProxy(t testing.TB, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *cutProxy) url() string { return "redis://" + p.ln.Addr().String() }

func (p *cutProxy) serve(c net.Conn) {
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
}

// TestCacheAfterRedisBlip: the instances lose Redis while it keeps its data (generations and
// cached entries from before); a write acknowledged meanwhile could not move its tenant's
// generation. Once Redis is reachable again, no instance may serve the entries from before.
func TestCacheAfterRedisBlip(t *testing.T) {
	r := newPrivateRedis(t)
	r.start()
	proxy := newCutProxy(t, fmt.Sprintf("127.0.0.1:%d", r.port))
	a := startInstance(t, "A", proxy.url(), noLimits...)
	b := startInstance(t, "B", proxy.url(), noLimits...)
	a.waitUsable(t, 10*time.Second)
	b.waitUsable(t, 10*time.Second)
	f := newRCFixture(t, a, "blip")
	before := []server.RedisMetrics{a.metrics(), b.metrics()}
	for _, in := range []*rcInstance{a, b, a, b} {
		if s := readState(t, in, f, f.owner); s.panel != "start" || s.listed != "start" {
			t.Fatalf("%s before the blip: %+v", in.name, s)
		}
	}
	for i, in := range []*rcInstance{a, b} {
		if in.metrics().CacheHits == before[i].CacheHits {
			t.Fatalf("%s: nothing cached before the blip", in.name)
		}
	}

	proxy.setCut(true)
	a.must(t, http.StatusOK, http.MethodPut, fmt.Sprintf("/api/panels/%d", f.panelID), f.owner, map[string]any{"name": "during the blip"}, nil)
	if m := a.metrics(); m.UnconfirmedWrites == before[0].UnconfirmedWrites {
		t.Fatalf("the write's bump went through a cut connection: %+v", m)
	}
	for _, in := range []*rcInstance{a, b} {
		if s := readState(t, in, f, f.owner); s.panel != "during the blip" || s.listed != "during the blip" {
			t.Errorf("%s during the blip: %+v", in.name, s)
		}
	}

	proxy.setCut(false)
	a.waitUsable(t, 10*time.Second)
	b.waitUsable(t, 10*time.Second)
	for _, in := range []*rcInstance{a, b, a, b} {
		if s := readState(t, in, f, f.owner); s.panel != "during the blip" || s.listed != "during the blip" {
			t.Errorf("%s after the blip: panel %q, listed %q: an entry from before the blip was served", in.name, s.panel, s.listed)
		}
	}
	hits := a.metrics().CacheHits + b.metrics().CacheHits
	readState(t, b, f, f.owner)
	if a.metrics().CacheHits+b.metrics().CacheHits == hits {
		t.Error("not caching after the blip")
	}
}
