// Command events benchmarks the event stream (docs/data-flow.md#event-order) against the release
// binary on a fresh database: N concurrent subscribers on one instance, the latency from a
// write's answer to each subscriber's receipt of its event (p50/p99) and the server's peak RSS;
// and POST /api/panels throughput with 0 and with N subscribers, alternated in one run.
//
//	go run ./tools/bench/events [-subscribers 1000] [-writes 200] [-d 5s] [-reps 3] [-o tools/bench/events-results.md]
//
// Subscribers and the load generator run in this process, so on a small machine they take CPU
// from the service: only the ratio of the two throughputs, measured in the same run, means much.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/tools/bench/internal/harness"
)

func main() {
	subscribers := flag.Int("subscribers", 1000, "concurrent subscribers")
	writes := flag.Int("writes", 200, "panels created, one at a time, for the latency")
	d := flag.Duration("d", 5*time.Second, "duration of each throughput run")
	reps := flag.Int("reps", 3, "throughput runs of each case (alternating)")
	conns := flag.Int("c", 8, "concurrent writers of the throughput runs")
	out := flag.String("o", "", "also write the results to this file")
	flag.Parse()
	log.SetFlags(0)

	fresh, done := harness.NewSetup("events")
	defer done()
	bin, dsn := fresh.Bin, fresh.DSN
	svc := harness.StartService(bin, harness.ServiceEnv(dsn,
		"RATE_LIMIT_USER_RPS=0", "RATE_LIMIT_TENANT_RPS=0", "EVENTS_MAX_PER_USER=100000", "EVENTS_BUFFER=4096"))
	defer svc.Stop()
	harness.AtExit(svc.Stop)

	writer := mint("bench-events", "writer", auth.RoleAdmin)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	throughput := map[string][]float64{}
	run := func(what string) {
		rate := postRate(hc, svc.URL, writer, *conns, *d)
		throughput[what] = append(throughput[what], rate)
		log.Printf("POST /api/panels, %s: %.0f/s", what, rate)
	}
	const none, idle, fed = "no subscribers", "subscribers of another tenant", "subscribers receiving every event"
	run(none) // warm-up and first sample of the baseline

	log.Printf("opening %d subscribers", *subscribers)
	subs := newSubscribers(svc.URL, *subscribers, "bench-events")

	log.Printf("latency: %d writes, one at a time", *writes)
	var lat []time.Duration
	for i := range *writes {
		id, answered := createPanel(hc, svc.URL, writer, fmt.Sprintf("latency %d", i))
		for _, at := range subs.await(id, 30*time.Second) {
			lat = append(lat, max(0, at.Sub(answered)))
		}
	}
	slices.Sort(lat)
	rssWith := svc.PeakRSS()

	missed := subs.missed.Load()
	for i := range *reps {
		if i > 0 {
			subs = newSubscribers(svc.URL, *subscribers, "bench-events")
		}
		run(fed)
		subs.close()
		others := newSubscribers(svc.URL, *subscribers, "bench-events-other")
		run(idle)
		others.close()
		time.Sleep(time.Second) // the service notices the streams are gone
		run(none)
	}
	report := fmt.Sprintf(`## Event stream (%s)

%d subscribers of one tenant on one instance (admins, every event), %d panels created one at a time.

| measure | value |
|---|---|
| commit-to-receipt latency p50 (from the write's answer) | %s |
| p99 | %s |
| deliveries measured | %d (missed: %d) |
| server peak RSS with the subscribers | %.1f MiB |
| POST /api/panels, no subscribers (median of %d runs of %s, %d writers) | %.0f/s |
| POST /api/panels, %d subscribers of another tenant (the tail reads and filters every event) | %.0f/s (ratio %.2f) |
| POST /api/panels, %d subscribers receiving every event (%d deliveries per write) | %.0f/s (ratio %.2f) |

`, time.Now().UTC().Format("2006-01-02"), *subscribers, *writes, pct(lat, 50), pct(lat, 99), len(lat), missed,
		float64(rssWith)/1024, len(throughput[none]), *d, *conns, harness.Median(throughput[none]),
		*subscribers, harness.Median(throughput[idle]), harness.Median(throughput[idle])/harness.Median(throughput[none]),
		*subscribers, *subscribers, harness.Median(throughput[fed]), harness.Median(throughput[fed])/harness.Median(throughput[none]))
	fmt.Print(report)
	if *out != "" {
		harness.Must(os.WriteFile(*out, []byte(report), 0o644))
	}
}

func mint(tenant, user string, role auth.Role) string {
	tok, err := auth.Mint([]byte(harness.Secret), auth.Principal{TenantID: tenant, UserID: user, Role: role}, 2*time.Hour, "", "")
	harness.Must(err)
	return tok
}

func createPanel(hc *http.Client, base, tok, name string) (int64, time.Time) {
	req, _ := http.NewRequest(http.MethodPost, base+"/api/panels", strings.NewReader(`{"name":"`+name+`"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	harness.Must(err)
	defer resp.Body.Close()
	var p struct{ ID int64 }
	harness.Must(json.NewDecoder(resp.Body).Decode(&p))
	if resp.StatusCode != http.StatusCreated {
		harness.Fatalf("create panel: %d", resp.StatusCode)
	}
	return p.ID, time.Now()
}

// postRate is the rate of successful creates by conns writers during d.
func postRate(hc *http.Client, base, tok string, conns int, d time.Duration) float64 {
	var ok atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				req, _ := http.NewRequest(http.MethodPost, base+"/api/panels", strings.NewReader(fmt.Sprintf(`{"name":"load %d-%d"}`, w, i)))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					continue
				}
				var sink bytes.Buffer
				_, _ = sink.ReadFrom(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusCreated {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(ok.Load()) / d.Seconds()
}

// subscribers are open streams recording when each panel_created event reached them.
type subscribers struct {
	cancel context.CancelFunc
	mu     sync.Mutex
	cond   *sync.Cond
	seen   map[int64][]time.Time // panel id → receipt times
	missed atomic.Int64
	n      int
}

func newSubscribers(base string, n int, tenant string) *subscribers {
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscribers{cancel: cancel, seen: map[int64][]time.Time{}, n: n}
	s.cond = sync.NewCond(&s.mu)
	var ready sync.WaitGroup
	for i := range n {
		ready.Add(1)
		tok := mint(tenant, fmt.Sprintf("subscriber-%d", i), auth.RoleAdmin)
		go s.follow(ctx, base, tok, &ready)
	}
	ready.Wait()
	return s
}

func (s *subscribers) follow(ctx context.Context, base, tok string, ready *sync.WaitGroup) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/events?types=panel_created", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := (&http.Transport{}).RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		harness.Fatalf("open a stream: %v", err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	once := sync.OnceFunc(ready.Done)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if strings.HasPrefix(line, ": live") {
			once()
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var c struct{ PanelID int64 }
		if json.Unmarshal([]byte(data), &c) != nil {
			continue
		}
		if strings.Contains(data, `"panelName":"latency `) {
			now := time.Now()
			s.mu.Lock()
			s.seen[c.PanelID] = append(s.seen[c.PanelID], now)
			s.cond.Broadcast()
			s.mu.Unlock()
		}
	}
}

// await waits until every subscriber has the panel's event, or the timeout; the receipt times.
func (s *subscribers) await(panel int64, timeout time.Duration) []time.Time {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { s.mu.Lock(); s.cond.Broadcast(); s.mu.Unlock() })
	defer timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.seen[panel]) < s.n && time.Now().Before(deadline) {
		s.cond.Wait()
	}
	s.missed.Add(int64(s.n - len(s.seen[panel])))
	return s.seen[panel]
}

func (s *subscribers) close() { s.cancel() }

func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "n/a"
	}
	return ds[(len(ds)-1)*p/100].Round(100 * time.Microsecond).String()
}
