// Command dataflow benchmarks the data flow (docs/data-flow.md#syncs) in one process against the local PostgreSQL:
// syncing 100,000 records (from an API source and from an uploaded file), and a rows page of a
// 100,000-record panel with a cohort rule, two filters and a sort, measured against a
// hand-written SQL query doing the same filtering and sorting on the same data, in the same run.
//
//	go run ./tools/bench/dataflow [-n 100000] [-reps 15] [-o tools/bench/dataflow/results.md]
//
// The service runs in-process (server.New, the production wiring) behind a real listener on a
// fresh database; requests go over HTTP with a real token. Only ratios measured in one run mean
// much on a shared machine.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/servertest"
	"github.com/panels/panels/tools/bench/internal/harness"
)

func main() {
	n := flag.Int("n", 100000, "records")
	reps := flag.Int("reps", 15, "repetitions of each rows case (syncs run 3 times)")
	out := flag.String("o", "", "also write the results table to this file")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()

	records := makeRecords(*n)
	arrayJSON, _ := json.Marshal(records)
	var ndjson bytes.Buffer
	for _, r := range records {
		b, _ := json.Marshal(r)
		ndjson.Write(b)
		ndjson.WriteByte('\n')
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(arrayJSON)
	}))
	defer upstream.Close()

	svc, err := servertest.Start(ctx, servertest.Options{DBPrefix: "panels_bench_flow", Getenv: os.Getenv, Env: map[string]string{
		"JWT_SECRET":            harness.Secret,
		"SYNC_ALLOW_HOSTS":      "127.0.0.1",
		"RATE_LIMIT_USER_RPS":   "0",
		"RATE_LIMIT_TENANT_RPS": "0",
	}})
	harness.Must(err)
	defer svc.Close()
	harness.AtExit(svc.Close) // a failed run drops its database too
	tok, err := auth.Mint([]byte(harness.Secret), auth.Principal{TenantID: "bench", UserID: "bench", Email: "bench@example.com", Role: auth.RoleAdmin}, 24*time.Hour, "", "")
	harness.Must(err)
	c := &harness.API{Base: svc.URL, Token: tok}

	log.Printf("%d records: %.1f MB as a JSON array", *n, float64(len(arrayJSON))/1e6)
	panel, ds, apiRow := syncAPISource(c, upstream.URL, *n)
	rows := []string{apiRow, syncUpload(c, ndjson.Bytes(), *n)}
	baseView, calcView := rowsPageViews(c, panel, ds)
	conn, err := pgx.Connect(ctx, svc.DSN)
	harness.Must(err)
	defer conn.Close(ctx)
	rows = append(rows, rowsPages(ctx, c, conn, rowsPage{panel, ds, baseView, calcView}, *n, *reps)...)

	table := "| Case | Service (median) | Hand-written SQL (median) | Ratio / rate | Target |\n|---|---|---|---|---|\n" + strings.Join(rows, "\n") + "\n"
	fmt.Print(table)
	if *out != "" {
		harness.Must(os.WriteFile(*out, []byte(table), 0o600))
	}
}

// syncAPISource syncs n records from the upstream API three times, on a new panel, and returns
// the panel, its data source and the result row.
func syncAPISource(c *harness.API, upstreamURL string, n int) (panel, ds int64, row string) {
	panel = c.ID("POST", "/api/panels", `{"name":"Bench"}`)
	ds = c.ID("POST", fmt.Sprintf("/api/panels/%d/datasources", panel), fmt.Sprintf(`{"type":"api","config":{"url":%q,"keyField":"id"}}`, upstreamURL))
	var syncTimes []time.Duration
	for range 3 {
		start := time.Now()
		res := c.Do("POST", fmt.Sprintf("/api/datasources/%d/sync", ds), "", nil)
		syncTimes = append(syncTimes, time.Since(start))
		if !strings.Contains(string(res), `"syncStatus":"success"`) || !strings.Contains(string(res), fmt.Sprintf(`"recordsProcessed":%d`, n)) {
			harness.Fatalf("sync: %s", res)
		}
	}
	med := harness.Median(syncTimes)
	return panel, ds, fmt.Sprintf("| sync, api source, %d records | %s | — | %.0f records/s | ≥ 20,000 records/s |", n, harness.Ms(med, 1), float64(n)/med.Seconds())
}

// syncUpload uploads the NDJSON file three times to a file source of its own panel.
func syncUpload(c *harness.API, ndjson []byte, n int) string {
	filePanel := c.ID("POST", "/api/panels", `{"name":"Bench file"}`)
	fileDS := c.ID("POST", fmt.Sprintf("/api/panels/%d/datasources", filePanel), `{"type":"file","config":{"format":"ndjson","keyField":"id"}}`)
	var upTimes []time.Duration
	for range 3 {
		start := time.Now()
		res := c.Do("POST", fmt.Sprintf("/api/datasources/%d/upload", fileDS), "application/x-ndjson", ndjson)
		upTimes = append(upTimes, time.Since(start))
		if !strings.Contains(string(res), `"syncStatus":"success"`) {
			harness.Fatalf("upload: %s", res)
		}
	}
	med := harness.Median(upTimes)
	return fmt.Sprintf("| sync, file upload (NDJSON, %.1f MB), %d records | %s | — | %.0f records/s | ≥ 20,000 records/s |",
		float64(len(ndjson))/1e6, n, harness.Ms(med, 1), float64(n)/med.Seconds())
}

// rowsPageViews gives the panel its columns and cohort rule, and returns two views with the same
// two filters, sorted on a base column and on a calculated one.
func rowsPageViews(c *harness.API, panel, ds int64) (baseView, calcView int64) {
	col := func(kind, body string) int64 {
		return c.ID("POST", fmt.Sprintf("/api/panels/%d/columns/%s", panel, kind), body)
	}
	col("base", fmt.Sprintf(`{"name":"Name","type":"text","sourceField":"name","dataSourceId":%d,"properties":{}}`, ds))
	col("base", fmt.Sprintf(`{"name":"Age","type":"number","sourceField":"age","dataSourceId":%d,"properties":{}}`, ds))
	col("base", fmt.Sprintf(`{"name":"Status","type":"select","sourceField":"status","dataSourceId":%d,"properties":{}}`, ds))
	col("base", fmt.Sprintf(`{"name":"Score","type":"number","sourceField":"score","dataSourceId":%d,"properties":{}}`, ds))
	col("base", fmt.Sprintf(`{"name":"City","type":"text","sourceField":"address.city","dataSourceId":%d,"properties":{}}`, ds))
	col("calculated", `{"name":"Risk","type":"number","formula":"ROUND([Age] * [Score] / 10, 1)","properties":{}}`)
	c.Do("PUT", fmt.Sprintf("/api/panels/%d", panel), "application/json",
		[]byte(`{"cohortRule":{"logic":"AND","conditions":[{"field":"Age","operator":"gte","value":18}]}}`))
	view := func(sort string) int64 {
		v := c.ID("POST", "/api/views", fmt.Sprintf(`{"name":"Bench","panelId":%d,"visibleColumns":["Name","Age","Status","Score","City","Risk"]}`, panel))
		c.Do("PUT", fmt.Sprintf("/api/views/%d/filters", v), "application/json",
			[]byte(`{"filters":[{"columnName":"Status","operator":"eq","value":"active"},{"columnName":"Score","operator":"gt","value":50}]}`))
		c.Do("PUT", fmt.Sprintf("/api/views/%d/sorts", v), "application/json",
			[]byte(`{"sorts":[{"columnName":"`+sort+`","direction":"desc","order":0}]}`))
		return v
	}
	return view("Name"), view("Risk")
}

// rowsPage is what the rows cases read.
type rowsPage struct{ panel, ds, baseView, calcView int64 }

// rowsPages times each view's rows page against the hand-written SQL doing the same, alternately.
func rowsPages(ctx context.Context, c *harness.API, conn *pgx.Conn, rp rowsPage, n, reps int) []string {
	panel, ds := rp.panel, rp.ds
	const limit = 50
	handBase := `SELECT record_key, doc FROM source_records WHERE data_source_id = $1
		AND (doc->>'age')::numeric >= 18 AND doc->>'status' = 'active' AND (doc->>'score')::numeric > 50
		ORDER BY doc->>'name' COLLATE "C" DESC, ord LIMIT $2`
	handCalc := `SELECT record_key, doc FROM source_records WHERE data_source_id = $1
		AND (doc->>'age')::numeric >= 18 AND doc->>'status' = 'active' AND (doc->>'score')::numeric > 50
		ORDER BY round((doc->>'age')::numeric * (doc->>'score')::numeric / 10, 1) DESC, ord LIMIT $2`
	hand := func(q string) func() int {
		return func() int {
			rs, err := conn.Query(ctx, q, ds, limit)
			harness.Must(err)
			k := 0
			for rs.Next() {
				var key string
				var doc []byte
				harness.Must(rs.Scan(&key, &doc))
				k++
			}
			harness.Must(rs.Err())
			return k
		}
	}
	page := func(v int64) func() int {
		return func() int {
			var p struct {
				Rows []json.RawMessage `json:"rows"`
			}
			harness.Must(json.Unmarshal(c.Do("GET", fmt.Sprintf("/api/panels/%d/rows?viewId=%d&limit=%d", panel, v, limit), "", nil), &p))
			return len(p.Rows)
		}
	}
	cases := []struct {
		name, target string
		svc, sql     func() int
	}{
		{"rows page: cohort rule, 2 filters, sort on a base column", "≤ 3 ×", page(rp.baseView), hand(handBase)},
		{"rows page: cohort rule, 2 filters, sort on a calculated column", "≤ 10 ×", page(rp.calcView), hand(handCalc)},
	}
	var rows []string
	for _, cs := range cases {
		if a, b := cs.svc(), cs.sql(); a != b {
			harness.Fatalf("%s: the service returned %d rows, the SQL %d", cs.name, a, b)
		}
		var svcT, sqlT []time.Duration
		for range reps { // alternate, so both see the same machine
			start := time.Now()
			cs.sql()
			sqlT = append(sqlT, time.Since(start))
			start = time.Now()
			cs.svc()
			svcT = append(svcT, time.Since(start))
		}
		s, q := harness.Median(svcT), harness.Median(sqlT)
		rows = append(rows, fmt.Sprintf("| %s (%d of %d records, page of %d) | %s | %s | %.1f × | %s |", cs.name, n, n, limit, harness.Ms(s, 1), harness.Ms(q, 1),
			float64(s)/float64(q), cs.target))
	}
	return rows
}

// makeRecords builds n deterministic patient records.
func makeRecords(n int) []map[string]any {
	r := rand.New(rand.NewPCG(8, 8)) //nolint:gosec // deterministic test data, not a secret
	statuses := []string{"active", "pending", "inactive", "discharged", "active"}
	cities := []string{"London", "Paris", "Berlin", "Madrid", "Rome", "Oslo", "Vienna", "Lisbon"}
	first := []string{"Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret", "Ken"}
	last := []string{"Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus", "Hamilton", "Thompson"}
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{
			"id":      fmt.Sprintf("p%07d", i+1),
			"name":    fmt.Sprintf("%s %s %d", first[r.IntN(len(first))], last[r.IntN(len(last))], r.IntN(1000)),
			"age":     r.IntN(100),
			"status":  statuses[r.IntN(len(statuses))],
			"score":   float64(r.IntN(10000)) / 100,
			"address": map[string]any{"city": cities[r.IntN(len(cities))], "zip": fmt.Sprintf("%05d", r.IntN(99999))},
			"created": time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(2000)).Format(time.DateOnly),
		}
	}
	return out
}
