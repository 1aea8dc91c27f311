package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/panels/panels/store/storetest"
)

// TestFormulaChainMemory reproduces unbounded formula values (docs/formulas.md#limits), against the
// real binary: C1 = [E]&[E]&… (100 times), C2 the same over C1, C3 over C2, C4 = [C3] five
// times. Before the bounds one row of C3 was 10 MB and C4 took the process from 39 MB to
// 391 MB. Now, with the default settings, C2 is refused with 422 naming the chain; with the
// growth check opened up (FORMULA_MAX_GROWTH_BYTES=1024GiB) the whole chain is created and
// every rows answer is 200 with error cells, while the process's peak RSS (VmHWM) stays under
// 100 MB. No answer is a 5xx. Skipped under -short (it builds and starts the binary twice).
func TestFormulaChainMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary: skipped under -short")
	}
	dsn, drop, err := storetest.CreateDatabase("panels_formula_rss")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(drop)
	redisURL := "redis://127.0.0.1:6379"
	if v := os.Getenv("TEST_REDIS_URL"); v != "" {
		redisURL = v
	}
	settings := func(extra ...string) map[string]string {
		m := map[string]string{"DATABASE_URL": dsn, "REDIS_URL": redisURL, "DB_MAX_CONNS": "4",
			"RATE_LIMIT_USER_RPS": "0", "RATE_LIMIT_TENANT_RPS": "0", "LOG_LEVEL": "warn"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	rep := func(ref string, n int) string { return strings.TrimSuffix(strings.Repeat(ref+"&", n), "&") }
	const rows, eBytes = 200, 600 // C1 is 60,000 bytes: within the 64 KiB limit

	// With the defaults: C1 is accepted, C2 (and so C3, C4) is 422.
	def := startService(t, settings())
	api := chainClient{t: t, url: def.url, token: faultToken(t, "rss-default-"+strconv.FormatInt(time.Now().UnixNano(), 36))}
	panel, _ := api.chainPanel(rows, eBytes)
	if st, body := api.calc(panel, "C1", rep("[E]", 100)); st != http.StatusCreated {
		t.Fatalf("C1: %d %s", st, body)
	}
	st, body := api.calc(panel, "C2", rep("[C1]", 100))
	if want := "C2 → C1 → E can grow to 655360000 bytes, the limit is 16777216"; st != http.StatusUnprocessableEntity || !strings.Contains(body, want) {
		t.Fatalf("C2 with the defaults: want 422 naming %q, got %d %s", want, st, body)
	}
	api.rowsAnswers(panel, "")
	t.Logf("defaults: C2 refused with 422 (%s); peak RSS %d KiB", want422(body), def.peakRSS())

	// With the growth check opened up: the whole chain exists, its values are error cells.
	open := startService(t, settings("FORMULA_MAX_GROWTH_BYTES", "1024GiB"))
	api = chainClient{t: t, url: open.url, token: faultToken(t, "rss-open-"+strconv.FormatInt(time.Now().UnixNano(), 36))}
	panel, _ = api.chainPanel(rows, eBytes)
	start := open.peakRSS()
	ids := map[string]string{}
	for _, c := range []struct{ name, src string }{
		{"C1", rep("[E]", 100)}, {"C2", rep("[C1]", 100)}, {"C3", rep("[C2]", 100)}, {"C4", rep("[C3]", 5)},
	} {
		st, body := api.calc(panel, c.name, c.src)
		if st != http.StatusCreated {
			t.Fatalf("%s: %d %s", c.name, st, body)
		}
		var col struct{ ID int64 }
		_ = json.Unmarshal([]byte(body), &col)
		ids[c.name] = strconv.FormatInt(col.ID, 10)
	}
	page := api.rowsAnswers(panel, "")
	// A view sorted by C4 (an error cell, so null) sorts in Go, keeping a page's rows in a
	// bounded heap: the same answers. (Not by C1: a Go-sorted cursor carries the last row's
	// sort keys, and a 60 KB key would not fit the cursor's 512 characters.)
	pid, _ := strconv.ParseInt(panel, 10, 64)
	view := api.json("POST", "/api/views", map[string]any{"name": "sorted", "panelId": pid, "visibleColumns": []string{}}, http.StatusCreated)
	viewID := strconv.FormatInt(int64(view["id"].(float64)), 10)
	api.json("PUT", "/api/views/"+viewID+"/sorts", map[string]any{"sorts": []map[string]any{
		{"columnName": "C4", "direction": "desc", "order": 0}}}, http.StatusOK)
	api.rowsAnswers(panel, "&viewId="+viewID)
	r0 := page.Rows[0]
	if s, _ := r0.Values[ids["C1"]].(string); len(s) != 100*eBytes {
		t.Errorf("C1 is computed: %d bytes", len(s))
	}
	for _, name := range []string{"C2", "C3", "C4"} {
		if r0.Values[ids[name]] != nil || !strings.Contains(r0.Errors[ids[name]], "longer than the limit of 65536 bytes") {
			t.Errorf("%s: want an error cell, got %v / %q", name, r0.Values[ids[name]] != nil, r0.Errors[ids[name]])
		}
	}
	peak := open.peakRSS()
	t.Logf("growth check opened: every rows answer 200 with error cells; peak RSS %d KiB after start-up and set-up, %d KiB after the rows requests", start, peak)
	if peak == 0 || peak > 100<<10 {
		t.Errorf("peak RSS %d KiB, want under 100 MB", peak)
	}
}

func want422(body string) string {
	var p struct{ Detail string }
	_ = json.Unmarshal([]byte(body), &p)
	return p.Detail
}

// peakRSS is the service's VmHWM in KiB (0 when unknown).
func (s *service) peakRSS() int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

type chainClient struct {
	t          *testing.T
	url, token string
}

func (c chainClient) do(method, path, ctype string, body []byte) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.url+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, string(b)
}

func (c chainClient) json(method, path string, v any, want int) map[string]any {
	c.t.Helper()
	b, _ := json.Marshal(v)
	st, body := c.do(method, path, "application/json", b)
	if st != want {
		c.t.Fatalf("%s %s: %d %s", method, path, st, body)
	}
	var out map[string]any
	_ = json.Unmarshal([]byte(body), &out)
	return out
}

// chainPanel makes a panel whose file source has rows records with an e of eBytes bytes, and
// its base column E.
func (c chainClient) chainPanel(rows, eBytes int) (panel, source string) {
	c.t.Helper()
	id := func(m map[string]any) string { return strconv.FormatInt(int64(m["id"].(float64)), 10) }
	panel = id(c.json("POST", "/api/panels", map[string]any{"name": "chain"}, http.StatusCreated))
	source = id(c.json("POST", "/api/panels/"+panel+"/datasources", map[string]any{"type": "file",
		"config": map[string]any{"format": "csv", "keyField": "id"}}, http.StatusCreated))
	var csv strings.Builder
	csv.WriteString("id,e\n")
	for i := range rows {
		fmt.Fprintf(&csv, "r%04d,%s\n", i, strings.Repeat("e", eBytes))
	}
	if st, body := c.do("POST", "/api/datasources/"+source+"/upload", "text/csv", []byte(csv.String())); st != http.StatusOK {
		c.t.Fatalf("upload: %d %s", st, body)
	}
	dsID, _ := strconv.ParseInt(source, 10, 64)
	c.json("POST", "/api/panels/"+panel+"/columns/base", map[string]any{"name": "E", "type": "text", "sourceField": "e",
		"dataSourceId": dsID, "properties": map[string]any{}}, http.StatusCreated)
	return panel, source
}

func (c chainClient) calc(panel, name, src string) (int, string) {
	b, _ := json.Marshal(map[string]any{"name": name, "type": "text", "formula": src, "properties": map[string]any{}})
	return c.do("POST", "/api/panels/"+panel+"/columns/calculated", "application/json", b)
}

type chainPage struct {
	Rows []struct {
		Values map[string]any
		Errors map[string]string
	}
	HasMore    bool
	NextCursor string
}

// rowsAnswers reads the limit=1 page, every page of 500, and the CSV export (all 200),
// with the extra query (a view), and returns the first page.
func (c chainClient) rowsAnswers(panel, extra string) chainPage {
	c.t.Helper()
	get := func(query string) chainPage {
		st, body := c.do("GET", "/api/panels/"+panel+"/rows?"+query+extra, "", nil)
		var p chainPage
		if st != http.StatusOK || json.Unmarshal([]byte(body), &p) != nil || len(p.Rows) == 0 {
			c.t.Fatalf("rows?%s: %d %.300s", query, st, body)
		}
		return p
	}
	first := get("limit=1")
	for q, n := "limit=500", 0; ; n++ {
		p := get(q)
		if !p.HasMore {
			break
		}
		if n > 300 {
			c.t.Fatal("pages do not end")
		}
		q = "limit=500&cursor=" + p.NextCursor
	}
	if st, body := c.do("GET", "/api/panels/"+panel+"/rows?format=csv"+extra, "", nil); st != http.StatusOK || !strings.HasPrefix(body, "E,") {
		c.t.Fatalf("csv: %d %.300s", st, body)
	}
	return first
}
