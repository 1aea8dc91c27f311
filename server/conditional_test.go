package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"testing"

	client "github.com/panels/panels/clients/go"
	"github.com/panels/panels/server/auth"
)

// TestConcurrentUpdatesWithIfMatch: clients that all read the same ETag and update at once: one
// wins, every other gets 412, and the stored state is the winner's.
func TestConcurrentUpdatesWithIfMatch(t *testing.T) {
	c := newCaller(t, newTenant("ifmatch"), "u1", auth.RoleAdmin)
	p := fxPanel(t, c, "Contested")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeCustom, map[string]any{})
	col := fxCalc(t, c, p.Id, "Contested column", `"x"`, map[string]any{})
	vr, err := c.api.CreateViewWithResponse(t.Context(), nil, client.ViewCreate{Name: "Contested view", PanelId: p.Id, VisibleColumns: []string{}})
	if err != nil || vr.JSON201 == nil {
		t.Fatalf("create view: %v %s", err, vr.Body)
	}
	pid := strconv.FormatInt(p.Id, 10)
	cases := []struct {
		kind, path string
		body       func(i int) map[string]any
		field      func(body []byte) string
	}{
		{"panel", "/api/panels/" + pid, func(i int) map[string]any { return map[string]any{"name": fmt.Sprint("panel-", i)} }, jsonField("name")},
		{"data source", fxDSPath(ds.Id), func(i int) map[string]any { return map[string]any{"config": map[string]any{"writer": i}} }, jsonField("config")},
		{"column", fxColPath(p.Id, col.Id), func(i int) map[string]any { return map[string]any{"name": fmt.Sprint("column-", i)} }, jsonField("name")},
		{"view", "/api/views/" + strconv.FormatInt(vr.JSON201.Id, 10), func(i int) map[string]any { return map[string]any{"name": fmt.Sprint("view-", i)} }, jsonField("name")},
	}
	const writers = 8
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			read, _ := raw(t, "GET", tc.path, c.token, nil, nil)
			etag := read.Header.Get("ETag")
			if etag == "" {
				t.Fatalf("GET %s has no ETag", tc.path)
			}
			type result struct {
				i, status int
				etag      string
				body      []byte
			}
			results := make(chan result, writers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := 0; i < writers; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					resp, b := fxJSON(t, "PUT", tc.path, c.token, tc.body(i), map[string]string{"If-Match": etag})
					results <- result{i, resp.StatusCode, resp.Header.Get("ETag"), b}
				}()
			}
			close(start)
			wg.Wait()
			close(results)
			var winners []result
			failed := 0
			for r := range results {
				switch r.status {
				case http.StatusOK:
					winners = append(winners, r)
				case http.StatusPreconditionFailed:
					failed++
				default:
					t.Errorf("writer %d: %d %s", r.i, r.status, r.body)
				}
			}
			if len(winners) != 1 || failed != writers-1 {
				t.Fatalf("%d winners and %d 412s among %d writers, want 1 and %d", len(winners), failed, writers, writers-1)
			}
			t.Logf("%s: %d writers with one If-Match: %d won, %d got 412", tc.kind, writers, len(winners), failed)
			now, nowBody := raw(t, "GET", tc.path, c.token, nil, nil)
			if now.Header.Get("ETag") != winners[0].etag || tc.field(nowBody) != tc.field(winners[0].body) {
				t.Errorf("stored state %s (ETag %s) is not the winner's %s (ETag %s)", tc.field(nowBody), now.Header.Get("ETag"),
					tc.field(winners[0].body), winners[0].etag)
			}
		})
	}
}

// TestConcurrentUpdatesWithoutIfMatch: without preconditions every write applies, one after the
// other under the row lock: the history shows each write starting from the previous one's
// result, so none was lost silently, and the last one is what is stored.
func TestConcurrentUpdatesWithoutIfMatch(t *testing.T) {
	c := newCaller(t, newTenant("noifmatch"), "u1", auth.RoleAdmin)
	p := fxPanel(t, c, "writer-start")
	path := "/api/panels/" + strconv.FormatInt(p.Id, 10)
	const writers = 10
	var wg sync.WaitGroup
	start := make(chan struct{})
	statuses := make(chan int, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, _ := fxJSON(t, "PUT", path, c.token, map[string]any{"name": fmt.Sprint("writer-", i)}, nil)
			statuses <- resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("a write without If-Match answered %d", s)
		}
	}
	updates := fxChangesOf(fxChanges(t, c, p.Id), client.PanelUpdated)
	if len(updates) != writers {
		t.Fatalf("%d panel_updated changes for %d writes", len(updates), writers)
	}
	// Ids follow the order in which the writes took the row lock (timestamps are each
	// transaction's start, so they need not).
	sort.Slice(updates, func(i, j int) bool { return updates[i].Id < updates[j].Id })
	prev := "writer-start"
	seen := map[string]bool{}
	for i := range updates {
		oldName := fxValues(updates[i].OldValues)["name"]
		newName := fxValues(updates[i].NewValues)["name"]
		if oldName != prev {
			t.Fatalf("change %d started from %v, but the previous write left %q: an update was lost", updates[i].Id, oldName, prev)
		}
		prev, _ = newName.(string)
		seen[prev] = true
	}
	if len(seen) != writers {
		t.Errorf("%d distinct writes in the history, want %d", len(seen), writers)
	}
	_, body := raw(t, "GET", path, c.token, nil, nil)
	if got := jsonField("name")(body); got != strconv.Quote(prev) {
		t.Errorf("stored name %s, last change wrote %s", got, prev)
	}
}

func jsonField(name string) func([]byte) string {
	return func(body []byte) string {
		var m map[string]json.RawMessage
		_ = json.Unmarshal(body, &m)
		return string(m[name])
	}
}
