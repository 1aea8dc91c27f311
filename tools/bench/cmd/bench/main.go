// Command bench is `make bench`: it starts the real service (release build, migrated database,
// Redis) and the bare baselines, seeds data, drives each case with wrk at 32 connections for a
// fixed duration over several alternating repetitions, and reports medians with ratios to the
// baselines measured in the same run. Only ratios mean anything on a shared, noisy machine.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/panels/panels/tools/bench/internal/harness"
)

type benchCase struct {
	name     string
	instance string // which service instance ("" = the baselines)
	method   string
	path     string
	paths    []string // when set, requests take these in turn (writes spread over distinct rows)
	body     string   // wrk Lua: %d is replaced by a per-request counter
	baseline string   // which baseline ratios matter most
}

type result struct {
	rps                 float64
	p50, p90, p99       time.Duration
	requests, errors    int
	non2xx, socketError int
}

func main() {
	duration := flag.Duration("d", 3*time.Second, "duration of each run")
	reps := flag.Int("reps", 3, "repetitions of every case (alternating)")
	conns := flag.Int("c", 32, "connections")
	out := flag.String("o", "tools/bench/results.md", "results file")
	profiles := flag.String("profile", "", "directory for a CPU profile of every service case (first repetition; inspect with go tool pprof)")
	only := flag.String("only", "", "run only the cases whose name contains this text (the baselines always run)")
	flag.Parse()
	log.SetFlags(0)
	if _, err := exec.LookPath("wrk"); err != nil {
		harness.Fatalf("%v", "wrk is not installed: apt-get install -y wrk")
	}
	log.Print("building the release binary and the baselines")
	fresh, done := harness.NewSetup("")
	defer done()
	work, panelsBin, dsn := fresh.Work, fresh.Bin, fresh.DSN
	baselineBin := harness.Build(work, "./tools/bench/baseline")

	common := harness.ServiceEnv(dsn,
		// Limits above the offered load: these cases measure the service, not the limiter.
		"RATE_LIMIT_USER_RPS=10000000", "RATE_LIMIT_USER_BURST=10000000", "RATE_LIMIT_TENANT_RPS=10000000", "RATE_LIMIT_TENANT_BURST=10000000")
	r := &runner{work: work, conns: *conns, duration: *duration, profiles: *profiles, instances: map[string]*harness.Process{
		"cached":   harness.StartService(panelsBin, append(common, "CACHE_TTL=60s")),
		"uncached": harness.StartService(panelsBin, append(common, "CACHE_TTL=0")),
		"nolimit":  harness.StartService(panelsBin, append(common, "CACHE_TTL=60s", "RATE_LIMIT_USER_RPS=0", "RATE_LIMIT_TENANT_RPS=0")),
	}}
	stopAll := func() {
		for _, p := range r.instances {
			p.Stop()
		}
	}
	defer stopAll()
	harness.AtExit(stopAll)

	r.readTok, r.writeTok = token(panelsBin, "bench-read"), token(panelsBin, "bench-write")
	api := &harness.API{Base: r.instances["uncached"].URL, Token: r.readTok}
	log.Print("seeding: 100 panels, 20 columns, a view")
	panelID, viewID := seedReads(api)
	columnPaths := seedWriteTargets(&harness.API{Base: api.Base, Token: r.writeTok})

	// B0 serves the JSON value alone, without the encoder's trailing newline.
	panelBody := bytes.TrimSpace(api.Do("GET", fmt.Sprintf("/api/panels/%d", panelID), "", nil))
	bodyFile := filepath.Join(work, "panel.json")
	harness.Must(os.WriteFile(bodyFile, panelBody, 0o600))
	baseAddr := harness.FreeAddr()
	r.base = harness.StartProcess(baselineBin, []string{"-addr", baseAddr, "-db", dsn, "-redis", harness.RedisURL(), "-body", bodyFile}, nil, "http://"+baseAddr, "/b0/1")
	defer r.base.Stop()
	harness.AtExit(r.base.Stop)

	cases := selectCases(benchCases(panelID, viewID, columnPaths), *only)
	if *profiles != "" {
		harness.Must(os.MkdirAll(*profiles, 0o755))
	}
	results := r.runAll(cases, *reps)
	startup := measureStartup(panelsBin, common, 5)
	rss := map[string]int64{}
	for name, p := range r.instances {
		rss[name] = p.PeakRSS()
	}
	report := render(cases, results, rss, *duration, *reps, *conns) + startup
	fmt.Print(report)
	harness.Must(os.WriteFile(*out, []byte(report), 0o644))
	log.Printf("wrote %s", *out)
}

// token mints an admin token of tenant.
func token(bin, tenant string) string {
	return harness.Token(bin, tenant, "bench", "bench@example.com", "admin")
}

// seedReads creates what the read cases read: 100 panels, 20 columns on the first, a view.
func seedReads(api *harness.API) (panelID, viewID int64) {
	for i := 0; i < 100; i++ {
		id := api.ID("POST", "/api/panels", fmt.Sprintf(`{"name":"Panel %d","metadata":{"n":%d}}`, i, i))
		if i == 0 {
			panelID = id
		}
	}
	ds := api.ID("POST", fmt.Sprintf("/api/panels/%d/datasources", panelID), `{"type":"api","config":{"endpoint":"/api/patients","method":"GET"}}`)
	for i := 0; i < 20; i++ {
		api.ID("POST", fmt.Sprintf("/api/panels/%d/columns/base", panelID),
			fmt.Sprintf(`{"name":"Column %d","type":"text","sourceField":"field_%d","dataSourceId":%d,"properties":{"display":{"order":%d}}}`, i, i, ds, i))
	}
	viewID = api.ID("POST", "/api/views", fmt.Sprintf(`{"name":"Bench view","panelId":%d,"visibleColumns":["Column 1","Column 2"]}`, panelID))
	return panelID, viewID
}

// seedWriteTargets creates 64 panels of one column each and returns the columns' paths. The write
// cases spread over distinct rows, as B2's INSERTs do: updates of one panel's columns are
// serialized by the panel's row lock (by design), which would measure PostgreSQL's lock queue
// rather than the service.
func seedWriteTargets(api *harness.API) []string {
	var columnPaths []string
	for i := 0; i < 64; i++ {
		wp := api.ID("POST", "/api/panels", fmt.Sprintf(`{"name":"Write target %d"}`, i))
		wds := api.ID("POST", fmt.Sprintf("/api/panels/%d/datasources", wp), `{"type":"custom","config":{}}`)
		wc := api.ID("POST", fmt.Sprintf("/api/panels/%d/columns/base", wp),
			fmt.Sprintf(`{"name":"Target","type":"text","sourceField":"x","dataSourceId":%d,"properties":{}}`, wds))
		columnPaths = append(columnPaths, fmt.Sprintf("/api/panels/%d/columns/%d", wp, wc))
	}
	return columnPaths
}

// benchCases are the baselines (the first four) and the service's cases.
func benchCases(panelID, viewID int64, columnPaths []string) []benchCase {
	return []benchCase{
		{name: "B0 bare handler", method: "GET", path: "/b0/1"},
		{name: "B1 pgx point SELECT", method: "GET", path: "/b1/1"},
		{name: "B2 INSERT in a transaction", method: "POST", path: "/b2"},
		{name: "B3 Redis GET", method: "GET", path: "/b3/1"},
		{name: "GET /api/panels/{id} (cache)", instance: "cached", method: "GET", path: fmt.Sprintf("/api/panels/%d", panelID), baseline: "B3"},
		{name: "GET /api/panels/{id} (no cache)", instance: "uncached", method: "GET", path: fmt.Sprintf("/api/panels/%d", panelID), baseline: "B1"},
		{name: "GET /api/panels (100, cache)", instance: "cached", method: "GET", path: "/api/panels", baseline: "B1"},
		{name: "GET /api/panels (100, no cache)", instance: "uncached", method: "GET", path: "/api/panels", baseline: "B1"},
		{name: "GET /api/panels/{id}/columns (20, cache)", instance: "cached", method: "GET", path: fmt.Sprintf("/api/panels/%d/columns", panelID), baseline: "B1"},
		{name: "GET /api/panels/{id}/columns (20, no cache)", instance: "uncached", method: "GET", path: fmt.Sprintf("/api/panels/%d/columns", panelID), baseline: "B1"},
		{name: "GET /api/views/{id} (cache)", instance: "cached", method: "GET", path: fmt.Sprintf("/api/views/%d", viewID), baseline: "B1"},
		{name: "GET /api/views/{id} (no cache)", instance: "uncached", method: "GET", path: fmt.Sprintf("/api/views/%d", viewID), baseline: "B1"},
		// Not a baseline for the ratios: createPanel's own SQL statement, bare, to show how much of
		// the gap to B2 is PostgreSQL's work (three rows and twelve index entries against one and one).
		{name: "createPanel's SQL statement alone (pgx)", method: "POST", path: "/b2-create-panel"},
		{name: "POST /api/panels", instance: "cached", method: "POST", path: "/api/panels", body: `{"name":"Bench %d"}`, baseline: "B2"},
		// Likewise updateColumn's transaction alone (a rename on a panel without views).
		{name: "updateColumn's SQL transaction alone (pgx)", method: "PUT", path: "/b2-update-column"},
		{name: "PUT /api/panels/{id}/columns/{colId}", instance: "cached", method: "PUT", paths: columnPaths, body: `{"name":"Target %d"}`, baseline: "B2"},
		// The limiter's own cost: the cached read again, on an instance with rate limiting off.
		{name: "GET /api/panels/{id} (cache, no limiter)", instance: "nolimit", method: "GET", path: fmt.Sprintf("/api/panels/%d", panelID), baseline: "B3"},
	}
}

// selectCases keeps the baselines and the cases whose name contains only ("" keeps them all).
func selectCases(cases []benchCase, only string) []benchCase {
	if only == "" {
		return cases
	}
	kept := cases[:4:4]
	for _, c := range cases[4:] {
		if strings.Contains(c.name, only) {
			kept = append(kept, c)
		}
	}
	return kept
}

// runner drives the cases against the baselines and the service instances.
type runner struct {
	work              string
	base              *harness.Process
	instances         map[string]*harness.Process
	readTok, writeTok string
	conns             int
	duration          time.Duration
	profiles          string
}

// runAll runs every case reps times, alternating the order of the cases.
func (r *runner) runAll(cases []benchCase, reps int) map[string][]result {
	results := map[string][]result{}
	for rep := 0; rep < reps; rep++ {
		order := cases
		if rep%2 == 1 { // alternate the order so drift does not favour one end of the list
			order = reversed(cases)
		}
		for _, c := range order {
			res := r.run(c, rep)
			results[c.name] = append(results[c.name], res)
			log.Printf("rep %d  %-55s %9.0f req/s  p99 %8s  errors %d", rep+1, c.name, res.rps, res.p99, res.errors)
		}
	}
	return results
}

// run drives one case once with wrk, profiling the service on the first repetition when asked.
func (r *runner) run(c benchCase, rep int) result {
	url, tok := r.base.URL, ""
	if c.instance != "" {
		url = r.instances[c.instance].URL
		tok = r.readTok
		if c.method != "GET" {
			tok = r.writeTok
		}
	}
	var profiled chan struct{}
	if r.profiles != "" && rep == 0 && c.instance != "" {
		profiled = profile(r.instances[c.instance].Pprof, filepath.Join(r.profiles, slug(c.name)+".pprof"), r.duration)
	}
	res := wrk(r.work, url+c.path, c, tok, r.conns, r.duration)
	if profiled != nil {
		<-profiled
	}
	return res
}

func median(rs []result) result {
	sort.Slice(rs, func(i, j int) bool { return rs[i].rps < rs[j].rps })
	m := rs[len(rs)/2]
	// Latencies and errors: median of each independently; errors summed across repetitions.
	lat := func(f func(result) time.Duration) time.Duration {
		v := make([]time.Duration, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return harness.Median(v)
	}
	m.p50, m.p90, m.p99 = lat(func(r result) time.Duration { return r.p50 }), lat(func(r result) time.Duration { return r.p90 }), lat(func(r result) time.Duration { return r.p99 })
	m.errors = 0
	for _, r := range rs {
		m.errors += r.errors
	}
	return m
}

func render(cases []benchCase, results map[string][]result, rss map[string]int64, d time.Duration, reps, conns int) string {
	med := map[string]result{}
	for _, c := range cases {
		med[c.name] = median(results[c.name])
	}
	b := med[cases[0].name].rps
	baselines := []float64{med[cases[0].name].rps, med[cases[1].name].rps, med[cases[2].name].rps, med[cases[3].name].rps}
	var sb strings.Builder
	fmt.Fprintf(&sb, "# make bench results\n\n%s, wrk %d connections, %s per run, %d alternating repetitions, medians.\n\n",
		time.Now().UTC().Format(time.RFC3339), conns, d, reps)
	sb.WriteString("| case | req/s | p50 | p90 | p99 | errors | ×B0 | ×B1 | ×B2 | ×B3 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	_ = b
	for _, c := range cases {
		r := med[c.name]
		fmt.Fprintf(&sb, "| %s | %.0f | %s | %s | %s | %d |", c.name, r.rps, r.p50, r.p90, r.p99, r.errors)
		for _, base := range baselines {
			fmt.Fprintf(&sb, " %.2f |", r.rps/base)
		}
		sb.WriteString("\n")
	}
	sb.WriteString("\nPeak RSS (VmHWM) of the service instances: ")
	names := make([]string, 0, len(rss))
	for n := range rss {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s %.1f MB", n, float64(rss[n])/1024)
	}
	sb.WriteString("\n")
	return sb.String()
}

var (
	rpsRe     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reqRe     = regexp.MustCompile(`(\d+) requests in`)
	non2xxRe  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	socketRe  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	latencyRe = regexp.MustCompile(`(?m)^\s+(50|90|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
)

func wrk(work, url string, c benchCase, token string, conns int, d time.Duration) result {
	script := filepath.Join(work, "case.lua")
	headers := `wrk.headers["Content-Type"] = "application/json"` + "\n"
	if token != "" {
		headers += fmt.Sprintf(`wrk.headers["Authorization"] = "Bearer %s"`+"\n", token)
	}
	lua := headers + fmt.Sprintf("wrk.method = %q\n", c.method)
	if c.body != "" || len(c.paths) > 0 {
		quoted := make([]string, len(c.paths))
		for i, p := range c.paths {
			quoted[i] = strconv.Quote(p)
		}
		// Each wrk thread has its own Lua state: setup numbers the threads so that their counters
		// start far apart and keep them off each other's rows.
		lua += fmt.Sprintf(`local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
n = 0
init = function(args)
  n = id * 7919
end
local paths = {%s}
local body = %q
request = function()
  n = n + 1
  local path = nil
  if #paths > 0 then path = paths[(n %% #paths) + 1] end
  local b = nil
  if body ~= "" then b = string.format(body, n) end
  return wrk.format(nil, path, nil, b)
end
`, strings.Join(quoted, ","), c.body)
	}
	lua += `done = function(summary, latency, requests) end` + "\n"
	harness.Must(os.WriteFile(script, []byte(lua), 0o600))
	out, err := exec.Command("wrk", "-t2", "-c"+strconv.Itoa(conns), "-d"+d.String(), "--latency", "-s", script, url).CombinedOutput()
	if err != nil {
		harness.Fatalf("wrk: %v\n%s", err, out)
	}
	s := string(out)
	var r result
	if m := rpsRe.FindStringSubmatch(s); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reqRe.FindStringSubmatch(s); m != nil {
		r.requests, _ = strconv.Atoi(m[1])
	}
	if m := non2xxRe.FindStringSubmatch(s); m != nil {
		r.non2xx, _ = strconv.Atoi(m[1])
	}
	if m := socketRe.FindStringSubmatch(s); m != nil {
		for _, g := range m[1:] {
			n, _ := strconv.Atoi(g)
			r.socketError += n
		}
	}
	r.errors = r.non2xx + r.socketError
	for _, m := range latencyRe.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
		lat := time.Duration(v * float64(unit)).Round(time.Microsecond)
		switch m[1] {
		case "50":
			r.p50 = lat
		case "90":
			r.p90 = lat
		case "99":
			r.p99 = lat
		}
	}
	return r
}

// measureStartup starts the service n times on the already migrated database and reports the
// medians of its own start-up time (the "listening" log line) and of the time from exec to the
// first ready /healthz seen by polling every millisecond.
func measureStartup(bin string, env []string, n int) string {
	var own, outside []time.Duration
	ownRe := regexp.MustCompile(`"startup_ms":([0-9.]+)`)
	for i := 0; i < n; i++ {
		addr := harness.FreeAddr()
		_, port, _ := net.SplitHostPort(addr)
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(append(os.Environ(), env...), "PORT="+port, "LOG_LEVEL=info", "LOG_FORMAT=json")
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		start := time.Now()
		harness.Must(cmd.Start())
		p := &harness.Process{Cmd: cmd}
		ready := false
		for time.Since(start) < 30*time.Second && !ready {
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				ready = resp.StatusCode == http.StatusOK
				_ = resp.Body.Close()
			}
			if !ready {
				time.Sleep(time.Millisecond)
			}
		}
		outside = append(outside, time.Since(start))
		p.Stop()
		m := ownRe.FindStringSubmatch(logs.String())
		if !ready || m == nil {
			harness.Fatalf("start-up %d: not ready or no startup_ms in the log:\n%s", i, logs.String())
		}
		ms, _ := strconv.ParseFloat(m[1], 64)
		own = append(own, time.Duration(ms*float64(time.Millisecond)))
	}
	med := func(v []time.Duration) time.Duration { return harness.Median(v).Round(100 * time.Microsecond) }
	return fmt.Sprintf("\nStart-up with the schema current (%d starts, medians): %s of the service's own time "+
		"(initialised to listening, migrations checked; target < 300ms), %s from exec to the first ready /healthz.\n",
		n, med(own), med(outside))
}

// profile records a CPU profile of the service while wrk runs (the last second is left out, when
// wrk may already be winding down).
func profile(base, file string, d time.Duration) chan struct{} {
	done := make(chan struct{})
	secs := max(1, int(d.Seconds())-1)
	go func() {
		defer close(done)
		resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs))
		if err != nil {
			log.Printf("profile: %v", err)
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			log.Printf("profile: %d %v", resp.StatusCode, err)
			return
		}
		harness.Must(os.WriteFile(file, data, 0o644))
	}()
	return done
}

func slug(name string) string {
	return strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(name), "-"), "-")
}

func reversed(cs []benchCase) []benchCase {
	out := make([]benchCase, len(cs))
	for i, c := range cs {
		out[len(cs)-1-i] = c
	}
	return out
}
