// Command rows is the rows-engine benchmark of `make bench` (issue 15): 1,000,000 records in one
// source, and through the HTTP API
//
//	(a) a first page with a nested filter, a relative-date filter and a sort,
//	(b) a group count,
//	(c) a search: a rare needle, and one that a tenth of the records hold,
//	(e) a first page filtered and sorted by a calculated column whose formula runs in SQL,
//
// each against the same query written by hand in SQL, run from this process on the same database
// in the same run, request by request alternately; and (d) the service's peak RSS (VmHWM) over
// the run. Where pg_trgm is installed, (c) runs again with the trigram index an operator may
// build (docs/search-index.md), by a service started after the index was built.
//
//	go run ./tools/bench/rows [-n 15] [-records 1000000] [-o tools/bench/rows-results.md]
//
// It creates a fresh database, migrates it, builds and starts the release binary (response cache
// and rate limiting off), mints a token with `panels token`, creates the panel, its columns and
// views through the API, uploads a first record set and then bulk-loads the million records into
// that record set with one INSERT ... SELECT (a sync of a million records through the API would
// time the ingest, which tools/bench/dataflow measures). Each case checks that the service and
// the SQL return the same rows or counts before it is timed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/panels/panels/store"
	"github.com/panels/panels/tools/bench/internal/harness"
)

// The targets: each case within 3× of its hand-written SQL, the peak RSS within 150 MB.
const (
	targetRatio = 3.0
	targetRSSMB = 150.0
)

const limit = 50

type result struct {
	reference   bool // no target: shows the API's fixed cost per request
	name        string
	svc, sql    time.Duration
	rows        int
	description string
}

func main() {
	n := flag.Int("n", 15, "timed requests per case and side (after 2 warm-up requests)")
	records := flag.Int("records", 1000000, "records in the source")
	out := flag.String("o", "tools/bench/rows-results.md", "results file")
	flag.Parse()
	log.SetFlags(0)
	began := time.Now()
	ctx := context.Background()

	log.Print("building the release binary")
	fresh, done := harness.NewSetup("rows")
	defer done()
	bin, dsn := fresh.Bin, fresh.DSN
	harness.Migrate(dsn)

	env := harness.ServiceEnv(dsn, "CACHE_TTL=0", "RATE_LIMIT_USER_RPS=0", "RATE_LIMIT_TENANT_RPS=0")
	svc := harness.StartService(bin, env)
	harness.AtExit(svc.Stop)
	c := &harness.API{Base: svc.URL, Token: harness.Token(bin, "bench-rows", "u1", "u1@bench-rows.example", "admin"),
		Client: &http.Client{Timeout: 120 * time.Second}}

	conn, err := pgx.Connect(ctx, dsn)
	harness.Must(err)
	defer func() { _ = conn.Close(ctx) }()
	var trgm bool
	harness.Must(conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')`).Scan(&trgm))

	b := setup(ctx, c, conn, *records)
	today := time.Now().UTC().Format(time.DateOnly)
	var results []result
	run := func(cs []benchCase, suffix string) {
		for _, x := range cs {
			x.name += suffix
			r := measure(ctx, c, conn, x, *n)
			log.Printf("%-70s service %9s  SQL %9s  %.2f×  (%d rows)", r.name, harness.Ms(r.svc, 1), harness.Ms(r.sql, 1), ratio(r), r.rows)
			results = append(results, r)
		}
	}
	all := cases(b, today)
	run(all, "")
	rss := float64(svc.PeakRSS()) / 1024
	svc.Stop()

	// The search again with the trigram index an operator may build (docs/search-index.md), by a
	// service started after it: the store looks for the index at its first search.
	var build time.Duration
	if trgm {
		log.Print("building the trigram index")
		start := time.Now()
		_, err = conn.Exec(ctx, store.SearchIndexDDL)
		harness.Must(err)
		build = time.Since(start)
		_, err = conn.Exec(ctx, `ANALYZE source_records`)
		harness.Must(err)
		svc = harness.StartService(bin, env)
		harness.AtExit(svc.Stop)
		c.Base = svc.URL
		run(all[2:4], ", with the trigram index")
		rss = max(rss, float64(svc.PeakRSS())/1024)
		svc.Stop()
	}

	text := report(results, rss, *records, *n, trgm, build, began)
	fmt.Print(text)
	harness.Must(os.WriteFile(*out, []byte(text), 0o644))
	log.Printf("wrote %s", *out)
}

// bench is the loaded panel as the cases see it.
type bench struct {
	panel, ds, gen     int64
	pageView, wideView int64 // (a)'s view; the view of (b) and (c): text columns, no filters
	calcView           int64 // (e)'s view
	records            int
}

// setup creates the panel, its columns and views through the API, uploads two records (the record
// set the load joins) and loads the rest with SQL.
func setup(ctx context.Context, c *harness.API, conn *pgx.Conn, n int) *bench {
	b := &bench{records: n}
	b.panel = c.ID("POST", "/api/panels", `{"name":"Rows bench"}`)
	b.ds = c.ID("POST", fmt.Sprintf("/api/panels/%d/datasources", b.panel), `{"type":"file","config":{"format":"ndjson","keyField":"id"}}`)
	for _, col := range []struct{ name, typ, field string }{
		{"Name", "text", "name"}, {"Status", "select", "status"}, {"City", "text", "address.city"}, {"Note", "text", "note"},
		{"Age", "number", "age"}, {"Score", "number", "score"}, {"Due", "date", "due"},
	} {
		c.ID("POST", fmt.Sprintf("/api/panels/%d/columns/base", b.panel),
			fmt.Sprintf(`{"name":%q,"type":%q,"sourceField":%q,"dataSourceId":%d,"properties":{}}`, col.name, col.typ, col.field, b.ds))
	}
	b.pageView = c.ID("POST", "/api/views", fmt.Sprintf(`{"name":"Page","panelId":%d,"visibleColumns":["Name","Status","City","Age","Score","Due"]}`, b.panel))
	// Status is active AND (Score > 50 OR City is London) AND Due within the next 7 days, by Age descending.
	c.Do("PUT", fmt.Sprintf("/api/views/%d/filters", b.pageView), "application/json", []byte(`{"filters":[
		{"columnName":"Status","operator":"eq","value":"active"},
		{"conjunction":"or","logicalOperator":"and","filters":[
			{"columnName":"Score","operator":"gt","value":50},{"columnName":"City","operator":"eq","value":"London"}]},
		{"columnName":"Due","operator":"isWithin","value":{"mode":"nextNumberOfDays","numberOfDays":7},"logicalOperator":"and"}]}`))
	c.Do("PUT", fmt.Sprintf("/api/views/%d/sorts", b.pageView), "application/json", []byte(`{"sorts":[{"columnName":"Age","direction":"desc","order":0}]}`))
	c.ID("POST", fmt.Sprintf("/api/panels/%d/columns/calculated", b.panel), `{"name":"Priority","type":"number","formula":"[Score] * 2 + [Age]","properties":{}}`)
	b.calcView = c.ID("POST", "/api/views", fmt.Sprintf(`{"name":"Calc","panelId":%d,"visibleColumns":["Name","Age","Score","Priority"]}`, b.panel))
	c.Do("PUT", fmt.Sprintf("/api/views/%d/filters", b.calcView), "application/json", []byte(`{"filters":[{"columnName":"Priority","operator":"gt","value":250}]}`))
	c.Do("PUT", fmt.Sprintf("/api/views/%d/sorts", b.calcView), "application/json", []byte(`{"sorts":[{"columnName":"Priority","direction":"desc","order":0}]}`))
	b.wideView = c.ID("POST", "/api/views", fmt.Sprintf(`{"name":"Text","panelId":%d,"visibleColumns":["Name","Status","City","Note"]}`, b.panel))
	c.Do("POST", fmt.Sprintf("/api/datasources/%d/upload", b.ds), "application/x-ndjson",
		[]byte(`{"id":"seed1","name":"seed one"}`+"\n"+`{"id":"seed2","name":"seed two"}`+"\n"))

	harness.Must(conn.QueryRow(ctx, `SELECT rows_generation FROM record_sets WHERE data_source_id = $1`, b.ds).Scan(&b.gen))
	log.Printf("loading %d records", n)
	start := time.Now()
	// Deterministic, spread values: i * 7919 walks the residues of each modulus in another order.
	_, err := conn.Exec(ctx, `INSERT INTO source_records (data_source_id, generation, record_key, ord, doc)
		SELECT $1, $2, 'p' || lpad(i::text, 7, '0'), 100 + i, jsonb_build_object(
			'id', 'p' || lpad(i::text, 7, '0'),
			'name', (ARRAY['Ada','Alan','Grace','Edsger','Barbara','Donald','Frances','John','Margaret','Ken'])[1 + i % 10] || ' ' ||
				(ARRAY['Lovelace','Turing','Hopper','Dijkstra','Liskov','Knuth','Allen','Backus','Hamilton','Thompson'])[1 + (i / 10) % 10] || ' ' || i,
			'status', (ARRAY['active','pending','inactive','discharged','active'])[1 + ((i::bigint * 7919) % 5)::int],
			'address', jsonb_build_object('city', (ARRAY['London','Paris','Berlin','Madrid','Rome','Oslo','Vienna','Lisbon'])[1 + (i * 31) % 8],
				'zip', lpad(((i::bigint * 7919) % 99999)::text, 5, '0')),
			'note', CASE WHEN i % 10 = 3 THEN 'call back about results' ELSE 'routine' END,
			'age', (i::bigint * 7919) % 100,
			'score', ((i::bigint * 104729) % 10000) / 100.0,
			'due', to_char(current_date + ((i * 13) % 120 - 60), 'YYYY-MM-DD'))
		FROM generate_series(1, $3::int) AS i`, b.ds, b.gen, n)
	harness.Must(err)
	_, err = conn.Exec(ctx, `DELETE FROM source_records WHERE data_source_id = $1 AND generation = $2 AND record_key LIKE 'seed%'`, b.ds, b.gen)
	harness.Must(err)
	_, err = conn.Exec(ctx, `UPDATE record_sets SET record_count = $2::bigint, next_ord = 101 + $2::bigint WHERE data_source_id = $1`, b.ds, n)
	harness.Must(err)
	_, err = conn.Exec(ctx, `VACUUM ANALYZE source_records`)
	harness.Must(err)
	log.Printf("loaded in %s", time.Since(start).Round(100*time.Millisecond))
	return b
}

type benchCase struct {
	reference         bool
	name, description string
	path              string // the service's request
	groups            bool   // the answer is a group count (else a rows page)
	sql               string // the hand-written query, with $1 the source and $2 the generation
	args              []any
}

func cases(b *bench, today string) []benchCase {
	rows := func(view int64, extra string) string {
		return fmt.Sprintf("/api/panels/%d/rows?viewId=%d&limit=%d%s", b.panel, view, limit, extra)
	}
	dsGen := []any{b.ds, b.gen}
	search := func(q string) benchCase {
		return benchCase{name: fmt.Sprintf("(c) search %q over 4 text columns", q),
			path: rows(b.wideView, "&search="+url.QueryEscape(q)),
			sql: `SELECT record_key, doc->>'name', doc->>'status', doc#>>'{address,city}', doc->>'note' FROM source_records
				WHERE data_source_id = $1 AND generation = $2 AND (doc->>'name' ILIKE $3 OR doc->>'status' ILIKE $3 OR doc#>>'{address,city}' ILIKE $3 OR doc->>'note' ILIKE $3)
				ORDER BY ord LIMIT 51`,
			args: append(slices.Clone(dsGen), "%"+q+"%")}
	}
	selective, broad := search("hopper 4242"), search("call back")
	selective.description = "20 records of 1,000,000 hold it"
	broad.description = "a tenth of the records hold it: the first page comes early in the source order"
	return []benchCase{
		{name: "(a) first page: nested filter + relative date + sort",
			description: "Status = active AND (Score > 50 OR City = London) AND Due within the next 7 days, by Age descending",
			path:        rows(b.pageView, ""),
			sql: `SELECT record_key, doc->>'name', doc->>'status', doc#>>'{address,city}', doc->'age', doc->'score', doc->>'due'
				FROM source_records WHERE data_source_id = $1 AND generation = $2 AND doc->>'status' = 'active' AND ((doc->'score')::numeric > 50 OR doc#>>'{address,city}' = 'London')
				AND (doc->>'due')::date >= $3::date AND (doc->>'due')::date < $3::date + 8
				ORDER BY (doc->'age')::numeric DESC NULLS LAST, ord LIMIT 51`,
			args: append(slices.Clone(dsGen), today)},
		{name: "(b) group count by City", description: "every record, 8 groups", groups: true,
			path: fmt.Sprintf("/api/panels/%d/rows/groups?viewId=%d&by=City", b.panel, b.wideView),
			sql: `SELECT city, n FROM (SELECT doc#>>'{address,city}' AS city, count(*) AS n FROM source_records
				WHERE data_source_id = $1 AND generation = $2 GROUP BY 1) AS g ORDER BY n DESC, city COLLATE "C" NULLS LAST LIMIT 1000`,
			args: dsGen},
		selective,
		broad,
		{name: "(e) first page: calculated column filter + sort",
			description: "Priority = [Score] * 2 + [Age] > 250, by Priority descending (the formula runs in SQL, as float8)",
			path:        rows(b.calcView, ""),
			sql: `SELECT record_key, doc->>'name', doc->'age', doc->'score', (doc->>'score')::float8 * 2 + (doc->>'age')::float8
				FROM source_records WHERE data_source_id = $1 AND generation = $2 AND (doc->>'score')::float8 * 2 + (doc->>'age')::float8 > 250
				ORDER BY (doc->>'score')::float8 * 2 + (doc->>'age')::float8 DESC NULLS LAST, ord LIMIT 51`,
			args: dsGen},
		{reference: true, name: "reference: first page, no filter, no search",
			description: "what a request costs beyond its query (authentication, access checks, the panel's definitions, JSON)",
			path:        rows(b.wideView, ""),
			sql: `SELECT record_key, doc->>'name', doc->>'status', doc#>>'{address,city}', doc->>'note' FROM source_records
				WHERE data_source_id = $1 AND generation = $2 ORDER BY ord LIMIT 51`,
			args: dsGen},
	}
}

// measure checks that both sides answer alike, then times n requests of each, alternating.
func measure(ctx context.Context, c *harness.API, conn *pgx.Conn, cs benchCase, n int) result {
	svc := func() []string {
		body := c.Do("GET", cs.path, "", nil)
		if cs.groups {
			var g struct {
				Groups []struct {
					Value any   `json:"value"`
					Count int64 `json:"count"`
				} `json:"groups"`
			}
			harness.Must(json.Unmarshal(body, &g))
			var out []string
			for _, x := range g.Groups {
				out = append(out, fmt.Sprintf("%v=%d", x.Value, x.Count))
			}
			return out
		}
		var p struct {
			Rows []struct {
				Key string `json:"key"`
			} `json:"rows"`
		}
		harness.Must(json.Unmarshal(body, &p))
		var out []string
		for _, r := range p.Rows {
			out = append(out, r.Key)
		}
		return out
	}
	hand := func() []string {
		rs, err := conn.Query(ctx, cs.sql, cs.args...)
		harness.Must(err)
		defer rs.Close()
		var out []string
		for rs.Next() {
			if cs.groups {
				var v *string
				var k int64
				harness.Must(rs.Scan(&v, &k))
				s := "<nil>"
				if v != nil {
					s = *v
				}
				out = append(out, fmt.Sprintf("%s=%d", s, k))
				continue
			}
			vals, err := rs.Values() // the key and the answer's values, decoded as the service reads them
			harness.Must(err)
			out = append(out, vals[0].(string))
		}
		harness.Must(rs.Err())
		if !cs.groups && len(out) > limit {
			out = out[:limit] // the 51st row tells the service whether another page follows
		}
		return out
	}
	got, want := svc(), hand()
	if !slices.Equal(got, want) {
		harness.Fatalf("%s: the service answered %v, the SQL %v", cs.name, got, want)
	}
	var svcT, sqlT []time.Duration
	for i := range n + 2 {
		first, second := hand, svc
		if i%2 == 1 {
			first, second = svc, hand
		}
		var d [2]time.Duration
		for j, f := range []func() []string{first, second} {
			start := time.Now()
			f()
			d[j] = time.Since(start)
		}
		if i < 2 {
			continue
		}
		if i%2 == 1 {
			d[0], d[1] = d[1], d[0]
		}
		sqlT, svcT = append(sqlT, d[0]), append(svcT, d[1])
	}
	return result{reference: cs.reference, name: cs.name, description: cs.description, svc: harness.Median(svcT), sql: harness.Median(sqlT), rows: len(got)}
}

func report(results []result, rssMB float64, records, n int, trgm bool, build time.Duration, began time.Time) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "# Rows engine at %d records: the API against hand-written SQL\n\n", records)
	fmt.Fprintf(&sb, "%s, `go run ./tools/bench/rows -n %d`: %d records in one source; per case %d timed requests on each side after 2 warm-up "+
		"requests, alternating the service and the hand-written SQL request by request (medians). Release binary, CACHE_TTL=0, no rate "+
		"limiting; the SQL runs from the benchmark's process over one connection and reads the keys and the answer's values (or the groups). "+
		"(c) runs twice: first as installed (migration 0013 installs pg_trgm, no index), then with the trigram index an operator "+
		"may build (docs/search-index.md) and a restarted service. %s\n\n", time.Now().UTC().Format(time.RFC3339), n, records, n, indexNote(trgm, build, records))
	sb.WriteString("| case | service (median) | hand-written SQL (median) | ratio | target | met |\n|---|---:|---:|---:|---:|:---:|\n")
	for _, r := range results {
		x := ratio(r)
		if r.reference {
			fmt.Fprintf(&sb, "| %s — %s (%d rows) | %s | %s | %.2f× | — | — |\n", r.name, r.description, r.rows, harness.Ms(r.svc, 1), harness.Ms(r.sql, 1), x)
			continue
		}
		fmt.Fprintf(&sb, "| %s — %s (%d rows) | %s | %s | %.2f× | ≤ %.0f× | %s |\n", r.name, r.description, r.rows, harness.Ms(r.svc, 1), harness.Ms(r.sql, 1), x, targetRatio, yes(x <= targetRatio))
	}
	fmt.Fprintf(&sb, "| (d) service peak RSS (VmHWM over the run) | %.1f MB | — | — | ≤ %.0f MB | %s |\n", rssMB, targetRSSMB, yes(rssMB <= targetRSSMB))
	fmt.Fprintf(&sb, "\nWhole run %s.\n", time.Since(began).Round(time.Second))
	sb.WriteString("\nThe hand-written search is the ILIKE over the same four columns, without the trigram index: PostgreSQL reads the " +
		"source in its order until it has the page, or to its end for a rare needle. With the index, the service adds " +
		"`lower(doc::text) LIKE` where the search implies it (store/rows/sql.go searchPrefilter), so a rare needle reads a " +
		"few candidates and beats its baseline; the index's price is paid by every sync (docs/search-index.md).\n")
	return sb.String()
}

func indexNote(trgm bool, build time.Duration, records int) string {
	if !trgm {
		return "pg_trgm is not available here: no run with the index."
	}
	return fmt.Sprintf("Building the index over %d records took %s.", records, build.Round(100*time.Millisecond))
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func ratio(r result) float64 {
	if r.sql <= 0 {
		return 0
	}
	return float64(r.svc) / float64(r.sql)
}
