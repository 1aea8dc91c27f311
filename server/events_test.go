package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	client "github.com/panels/panels/clients/go"
	"github.com/panels/panels/server"
	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/servertest"
)

// sseEvent is one event of a stream, or a comment (Event "" and Comment set).
type sseEvent struct {
	ID, Event, Data, Comment string
}

// eventStream is an open GET /api/events, read as it comes; Close validates the whole answer
// against the spec, as every other answer of the tests is.
type eventStream struct {
	t      testing.TB
	req    *http.Request
	resp   *http.Response
	cancel context.CancelFunc
	frames chan sseEvent
	ended  chan struct{}
	mu     sync.Mutex
	body   bytes.Buffer
	once   sync.Once
}

// streamWait bounds every wait of these tests for an event that must come: long, since any
// transaction running on the cluster holds events back, never a timing assertion.
const streamWait = 20 * time.Second

// openStream opens the stream of base (env.url for the shared instance) and fails unless it is 200.
func openStream(t testing.TB, base, tok, query string, headers map[string]string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/events"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		t.Fatalf("GET /api/events%s: %d %s", query, resp.StatusCode, b.String())
	}
	s := &eventStream{t: t, req: req, resp: resp, cancel: cancel, frames: make(chan sseEvent, 10000), ended: make(chan struct{})}
	go s.read()
	t.Cleanup(s.Close)
	return s
}

func (s *eventStream) read() {
	defer close(s.ended)
	r := bufio.NewReader(s.resp.Body)
	var ev sseEvent
	for {
		line, err := r.ReadString('\n')
		s.mu.Lock()
		s.body.WriteString(line)
		s.mu.Unlock()
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev != (sseEvent{}) {
				s.frames <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			ev.Comment = strings.TrimSpace(line[1:])
		default:
			field, value, _ := strings.Cut(line, ": ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Event = value
			case "data":
				ev.Data = value
			}
		}
	}
}

// Close ends the stream and validates what it answered.
func (s *eventStream) Close() {
	s.once.Do(func() {
		s.cancel()
		<-s.ended
		_ = s.resp.Body.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		(&validatingTransport{t: s.t}).check(s.req, nil, s.resp, s.body.Bytes())
	})
}

// next is the next event (comments skipped unless wantComment), or fails the test.
func (s *eventStream) next(wantComment bool) sseEvent {
	s.t.Helper()
	deadline := time.After(streamWait)
	for {
		select {
		case ev := <-s.frames:
			if ev.Event == "" && ev.ID == "" && !wantComment {
				continue
			}
			return ev
		case <-s.ended:
			select {
			case ev := <-s.frames:
				return ev
			default:
			}
			s.t.Fatalf("the stream ended while an event was awaited")
		case <-deadline:
			s.t.Fatalf("no event within %s", streamWait)
		}
	}
}

// untilLive skips to the ": live" comment that ends the replay, returning the events before it.
func (s *eventStream) untilLive() []sseEvent {
	s.t.Helper()
	var out []sseEvent
	for {
		ev := s.next(true)
		if ev.Comment == "live" {
			return out
		}
		if ev.Event != "" {
			out = append(out, ev)
		}
	}
}

// until reads events until one satisfies stop, returning every event read, that one included.
func (s *eventStream) until(stop func(sseEvent) bool) []sseEvent {
	s.t.Helper()
	var out []sseEvent
	for {
		ev := s.next(false)
		out = append(out, ev)
		if stop(ev) {
			return out
		}
	}
}

// ended reports whether the server ended the stream, waiting at most streamWait.
func (s *eventStream) waitEnd() bool {
	select {
	case <-s.ended:
		return true
	case <-time.After(streamWait):
		return false
	}
}

func eventIDs(evs []sseEvent) []int64 {
	var ids []int64
	for _, ev := range evs {
		if ev.ID != "" {
			id, _ := strconv.ParseInt(ev.ID, 10, 64)
			ids = append(ids, id)
		}
	}
	return ids
}

// evChange is the change JSON of an event.
func evChange(t testing.TB, ev sseEvent) client.PanelChange {
	t.Helper()
	var c client.PanelChange
	if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
		t.Fatalf("event %s %s: %v: %s", ev.ID, ev.Event, err, ev.Data)
	}
	return c
}

// renamePanel updates the panel's name: one panel_updated change.
func renamePanel(t testing.TB, c *caller, id int64, name string) {
	t.Helper()
	r, err := c.api.UpdatePanelWithResponse(t.Context(), id, nil, client.PanelUpdate{Name: &name})
	if err != nil || r.StatusCode() != http.StatusOK {
		t.Fatalf("rename panel %d: %v %d %s", id, err, r.StatusCode(), r.Body)
	}
}

// waitFinal waits until the change id's transaction is older than every transaction running on
// the cluster (other test packages' included), so that a stream opened now counts it as past:
// replayed on a resume, never sent live.
func waitFinal(t testing.TB, id int64) {
	t.Helper()
	for deadline := time.Now().Add(streamWait); ; time.Sleep(10 * time.Millisecond) {
		var final bool
		if err := secDB(t).QueryRowContext(t.Context(), `SELECT COALESCE(xid, '0'::xid8) < pg_snapshot_xmin(pg_current_snapshot())
			FROM panel_changes WHERE id = $1`, id).Scan(&final); err != nil {
			t.Fatal(err)
		}
		if final {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("change %d is still held back by a running transaction", id)
		}
	}
}

// lastChange is the newest change id of the panel.
func lastChange(t testing.TB, panel int64) int64 {
	t.Helper()
	var id int64
	if err := secDB(t).QueryRowContext(t.Context(), `SELECT max(id) FROM panel_changes WHERE panel_id = $1`, panel).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func isChangeOf(panel int64, typ string) func(sseEvent) bool {
	return func(ev sseEvent) bool {
		if ev.Event != typ {
			return false
		}
		var c struct{ PanelId int64 }
		_ = json.Unmarshal([]byte(ev.Data), &c)
		return c.PanelId == panel
	}
}

// An event's data is exactly the item listPanelChanges answers for it, and its id the change's.
func TestEventStreamCarriesWhatTheHistoryAnswers(t *testing.T) {
	tenant := newTenant("ev-shape")
	admin := newCaller(t, tenant, "admin", auth.RoleAdmin)
	s := openStream(t, env.url, admin.token, "", nil)
	s.untilLive()
	p := fxPanel(t, admin, "Streamed")
	ev := s.next(false)
	if ev.Event != "panel_created" {
		t.Fatalf("first event %+v, want panel_created", ev)
	}
	r, err := admin.api.ListPanelChangesWithResponse(t.Context(), &client.ListPanelChangesParams{PanelId: &p.Id})
	if err != nil || r.JSON200 == nil || len(r.JSON200.Changes) != 1 {
		t.Fatalf("list changes: %v %s", err, r.Body)
	}
	want, _ := json.Marshal(r.JSON200.Changes[0])
	var got, listed any
	_ = json.Unmarshal([]byte(ev.Data), &got)
	_ = json.Unmarshal(want, &listed)
	if fmt.Sprint(got) != fmt.Sprint(listed) || ev.ID != strconv.FormatInt(r.JSON200.Changes[0].Id, 10) {
		t.Errorf("event %s %s, want id %d and %s", ev.ID, ev.Data, r.JSON200.Changes[0].Id, want)
	}
}

// A client that reconnects with Last-Event-ID (header or parameter) gets what it missed, in
// order, then the live events: no gap, no duplicate.
func TestEventStreamResumesWithoutGapOrDuplicate(t *testing.T) {
	tenant := newTenant("ev-resume")
	admin := newCaller(t, tenant, "admin", auth.RoleAdmin)
	p := fxPanel(t, admin, "Resumed")
	s := openStream(t, env.url, admin.token, "", nil)
	s.untilLive()
	renamePanel(t, admin, p.Id, "one")
	seen := s.until(isChangeOf(p.Id, "panel_updated"))
	first := seen[len(seen)-1]
	s.Close()

	for i := range 3 { // written while nobody listens
		renamePanel(t, admin, p.Id, fmt.Sprintf("missed %d", i))
	}
	r, err := admin.api.ListPanelChangesWithResponse(t.Context(), &client.ListPanelChangesParams{PanelId: &p.Id})
	if err != nil || r.JSON200 == nil {
		t.Fatal(err)
	}
	var missed []int64 // newest first in the list
	for _, c := range r.JSON200.Changes {
		if strconv.FormatInt(c.Id, 10) == first.ID {
			break
		}
		missed = append([]int64{c.Id}, missed...)
	}
	if len(missed) != 3 {
		t.Fatalf("the history has %d changes after %s, want 3", len(missed), first.ID)
	}
	waitFinal(t, missed[2])
	for _, how := range []struct {
		query   string
		headers map[string]string
	}{
		{"", map[string]string{"Last-Event-ID": first.ID}},
		{"?lastEventId=" + first.ID, nil},
		// The header wins over the parameter.
		{"?lastEventId=" + strconv.FormatInt(missed[2], 10), map[string]string{"Last-Event-ID": first.ID}},
	} {
		s := openStream(t, env.url, admin.token, how.query, how.headers)
		if got := eventIDs(s.untilLive()); !slices.Equal(got, missed) {
			t.Errorf("%s %v: replayed %v, want %v", how.query, how.headers, got, missed)
		}
		renamePanel(t, admin, p.Id, "live "+how.query)
		waitFinal(t, lastChange(t, p.Id))
		live := s.next(false)
		if live.Event != "panel_updated" || slices.Contains(missed, eventIDs([]sseEvent{live})[0]) {
			t.Errorf("after the replay: %+v", live)
		}
		missed = append(missed, eventIDs([]sseEvent{live})[0])
		s.Close()
	}
}

// Resuming from an id the tenant never had, from one older than the replay window, or with more
// events to replay than the maximum, is one reset and then the live stream.
func TestEventStreamResetsWhatItCannotReplay(t *testing.T) {
	svc := servertest.New(t, servertest.Options{DSN: env.dsn, Log: servertest.Log(),
		Env: map[string]string{"JWT_SECRET": testSecret, "DB_MAX_CONNS": "2", "EVENTS_REPLAY_MAX": "2"}})
	tenant := newTenant("ev-reset")
	admin := newCaller(t, tenant, "admin", auth.RoleAdmin)
	p := fxPanel(t, admin, "Reset")
	list, err := admin.api.ListPanelChangesWithResponse(t.Context(), &client.ListPanelChangesParams{PanelId: &p.Id})
	if err != nil || list.JSON200 == nil || len(list.JSON200.Changes) != 1 {
		t.Fatal(err)
	}
	created := strconv.FormatInt(list.JSON200.Changes[0].Id, 10)
	other := newCaller(t, newTenant("ev-reset-other"), "admin", auth.RoleAdmin)
	otherPanel := fxPanel(t, other, "Theirs")
	theirs, _ := other.api.ListPanelChangesWithResponse(t.Context(), &client.ListPanelChangesParams{PanelId: &otherPanel.Id})

	for i := range 3 {
		renamePanel(t, admin, p.Id, fmt.Sprintf("r%d", i))
	}
	waitFinal(t, lastChange(t, p.Id))
	reset := func(id, reason string) {
		t.Helper()
		s := openStream(t, svc.URL, admin.token, "", map[string]string{"Last-Event-ID": id})
		evs := s.untilLive()
		if len(evs) != 1 || evs[0].Event != "reset" || evs[0].Data != `{"reason":"`+reason+`"}` || evs[0].ID != "" {
			t.Errorf("resume from %s: %+v, want one reset (%s)", id, evs, reason)
		}
		renamePanel(t, admin, p.Id, "after reset from "+id)
		want := lastChange(t, p.Id)
		if ev := s.next(false); ev.ID != strconv.FormatInt(want, 10) {
			t.Errorf("after the reset: %+v, want change %d", ev, want)
		}
		waitFinal(t, want)
		s.Close()
	}
	reset(created, "replay_max")                                                // 3 events follow, the maximum is 2
	reset("999999999999999", "unknown_event")                                   // no such event
	reset(strconv.FormatInt(theirs.JSON200.Changes[0].Id, 10), "unknown_event") // another tenant's event

	old := servertest.New(t, servertest.Options{DSN: env.dsn, Log: servertest.Log(),
		Env: map[string]string{"JWT_SECRET": testSecret, "DB_MAX_CONNS": "2", "EVENTS_REPLAY_WINDOW": "1ms"}})
	s := openStream(t, old.URL, admin.token, "", map[string]string{"Last-Event-ID": created})
	if evs := s.untilLive(); len(evs) != 1 || evs[0].Data != `{"reason":"replay_window"}` {
		t.Errorf("resume older than the window: %+v", evs)
	}
}

// A view reader gets none of the panel's changes but its own notifications; a user with a row on
// the panel gets its changes until the ACL change that removes the row, and none after it.
func TestEventStreamFollowsPermissionsMidStream(t *testing.T) {
	tenant := newTenant("ev-acl")
	owner := newCaller(t, tenant, "owner", auth.RoleBuilder)
	reader := newCaller(t, tenant, "reader", auth.RoleUser)
	p := fxPanel(t, owner, "Shared")
	mine := fxPanel(t, owner, "Marker")
	aclMust(t, "share", 201)(aclGrant(t, owner.token, "panel", p.Id, reader.email, "viewer"))
	aclMust(t, "share marker", 201)(aclGrant(t, owner.token, "panel", mine.Id, reader.email, "viewer"))

	s := openStream(t, env.url, reader.token, "", nil)
	s.untilLive()
	renamePanel(t, owner, p.Id, "seen")
	s.until(isChangeOf(p.Id, "panel_updated"))
	d, err := owner.api.DeleteAclWithResponse(t.Context(), client.ResourceTypePanel, p.Id, reader.email)
	if err != nil || d.StatusCode() != http.StatusNoContent {
		t.Fatalf("revoke: %v %s", err, d.Body)
	}
	renamePanel(t, owner, p.Id, "unseen")
	renamePanel(t, owner, mine.Id, "marker") // ordered after the revocation and the change above
	evs := s.until(isChangeOf(mine.Id, "panel_updated"))
	revoked := false
	for _, ev := range evs {
		c := evChange(t, ev)
		if revoked && c.PanelId == p.Id {
			t.Errorf("after the revocation the stream still sent %s of the panel", ev.Event)
		}
		if ev.Event == "acl_changed" && c.PanelId == p.Id {
			revoked = true
		}
		if c.PanelId == p.Id && ev.Event == "panel_updated" {
			t.Errorf("the change made after the revocation reached the revoked reader")
		}
	}
}

// A view reader (a row on a published view, none on its panel) gets its own notification and
// none of the panel's changes.
func TestEventStreamGivesAViewReaderOnlyItsNotifications(t *testing.T) {
	tenant := newTenant("ev-reader")
	owner := newCaller(t, tenant, "owner", auth.RoleBuilder)
	viewReader := newCaller(t, tenant, "viewreader", auth.RoleUser)
	p := fxPanel(t, owner, "Published")
	v := ntView(t, owner, p.Id, "Open view", true)
	ntViewACL(t, tenant, v, viewReader.email, "viewer")
	s := openStream(t, env.url, viewReader.token, "", nil)
	s.untilLive()
	renamePanel(t, owner, p.Id, "renamed under the view")
	if r, _ := owner.api.UpdatePanelWithResponse(t.Context(), p.Id, nil, client.PanelUpdate{CohortRule: &client.CohortRule{Logic: client.AND,
		Conditions: []client.CohortCondition{{Field: "age", Operator: client.CohortOperatorEq}}}}); r.StatusCode() != http.StatusOK {
		t.Fatalf("cohort: %d %s", r.StatusCode(), r.Body)
	}
	ev := s.next(false)
	if ev.Event != "notification" {
		t.Fatalf("a view reader got %s %s, want only its notification", ev.Event, ev.Data)
	}
	var n client.ViewNotification
	if err := json.Unmarshal([]byte(ev.Data), &n); err != nil || n.View.Id != v || n.UserId != viewReader.user && n.UserId != viewReader.email {
		t.Errorf("notification %s: %v", ev.Data, err)
	}
	listed := ntList(t, viewReader, "")
	if len(listed.Notifications) != 1 || listed.Notifications[0].Id != n.Id {
		t.Errorf("listed %+v, streamed %s", listed.Notifications, ev.Data)
	}
}

// Two tenants whose people share a sub and an email, and events whose ids the other names: no
// event, resume or filter crosses the tenant.
func TestEventStreamNeverCrossesTenants(t *testing.T) {
	a := newCaller(t, newTenant("ev-x"), "same", auth.RoleAdmin)
	b := newCaller(t, newTenant("ev-x"), "same", auth.RoleAdmin)
	b.email = a.email
	b.token = token(t, b.tenant, "same", a.email, auth.RoleAdmin)
	pa := fxPanel(t, a, "A's")
	sb := openStream(t, env.url, b.token, "?panelId="+strconv.FormatInt(pa.Id, 10), nil)
	sb.untilLive()
	all := openStream(t, env.url, b.token, "", nil)
	all.untilLive()
	renamePanel(t, a, pa.Id, "A only")
	pb := fxPanel(t, b, "B's marker")
	if ev := all.next(false); !isChangeOf(pb.Id, "panel_created")(ev) {
		t.Errorf("tenant B's stream got %s %s before its own marker", ev.Event, ev.Data)
	}
	renamePanel(t, b, pb.Id, "B marker 2")
	// sb filters on A's panel id: it must get nothing at all, reset or live.
	select {
	case ev := <-sb.frames:
		if ev.Event != "" {
			t.Errorf("tenant B's stream filtered on A's panel got %+v", ev)
		}
	default:
	}
}

// Sequence ids are drawn before commit: a transaction holding a lower id that commits after a
// higher one must not be skipped, and both arrive in stream order.
func TestEventStreamKeepsTheCommitOrderHole(t *testing.T) {
	tenant := newTenant("ev-hole")
	admin := newCaller(t, tenant, "admin", auth.RoleAdmin)
	p := fxPanel(t, admin, "Hole")
	s := openStream(t, env.url, admin.token, "", nil)
	s.untilLive()
	tx, err := secDB(t).BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	var low int64
	if err := tx.QueryRowContext(t.Context(), `INSERT INTO panel_changes (tenant_id, panel_id, panel_name, change_type, entity_type,
		entity_id, action, description, changed_by) VALUES ($1, $2, 'Hole', 'panel_updated', 'panel', $2, 'update', 'held open', 'admin')
		RETURNING id`, tenant, p.Id).Scan(&low); err != nil {
		t.Fatal(err)
	}
	renamePanel(t, admin, p.Id, "committed first") // a higher id, committed while the lower one is open
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var updates []sseEvent
	for len(updates) < 2 {
		if ev := s.next(false); isChangeOf(p.Id, "panel_updated")(ev) {
			updates = append(updates, ev)
		}
	}
	got := eventIDs(updates)
	if got[0] != low || got[1] <= low {
		t.Errorf("events %v, want the held-open %d first, then the later commit", got, low)
	}
}

// Every instance serves the stream: a write on A reaches a subscriber on B, and a subscriber of an
// instance that dies resumes on another without losing anything.
func TestEventStreamAcrossInstances(t *testing.T) {
	dsn := env.dsn
	start := func() *servertest.Service {
		svc, err := servertest.Start(context.Background(), servertest.Options{DSN: dsn, Log: servertest.Log(),
			Env: map[string]string{"JWT_SECRET": testSecret, "DB_MAX_CONNS": "2"}})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	a, b := start(), start()
	defer b.Close()
	tenant := newTenant("ev-two")
	admin := newCaller(t, tenant, "admin", auth.RoleAdmin)
	p := fxPanel(t, admin, "Two")
	onA := openStream(t, a.URL, admin.token, "", nil)
	onB := openStream(t, b.URL, admin.token, "", nil)
	onA.untilLive()
	onB.untilLive()
	// Writes go through the shared instance, a third one.
	renamePanel(t, admin, p.Id, "written elsewhere")
	upd := isChangeOf(p.Id, "panel_updated")
	fromA, fromB := onA.until(upd)[0], onB.until(upd)[0]
	if fromA.ID != fromB.ID || fromA.Event != "panel_updated" {
		t.Errorf("instance A sent %+v, B %+v", fromA, fromB)
	}
	// A dies; what is written meanwhile reaches its subscriber through B, from the last id it had.
	a.Close()
	if !onA.waitEnd() {
		t.Fatal("the stream of the instance that stopped is still open")
	}
	renamePanel(t, admin, p.Id, "while A is gone")
	waitFinal(t, lastChange(t, p.Id))
	again := openStream(t, b.URL, admin.token, "", map[string]string{"Last-Event-ID": fromA.ID})
	replayed := again.untilLive()
	if len(replayed) != 1 || replayed[0].Event != "panel_updated" || replayed[0].ID == fromA.ID {
		t.Errorf("resumed on B: %+v", replayed)
	}
	if ev := onB.next(false); ev.ID != replayed[0].ID {
		t.Errorf("B's own subscriber got %+v, want %s", ev, replayed[0].ID)
	}
}

// Without wake-ups (NOTIFY lost) and without Redis, each instance's polling still delivers.
func TestEventStreamPollsWithoutWakeupsOrRedis(t *testing.T) {
	svc := servertest.New(t, servertest.Options{DSN: env.dsn, Log: servertest.Log(),
		Env:       map[string]string{"JWT_SECRET": testSecret, "DB_MAX_CONNS": "2", "REDIS_URL": "redis://127.0.0.1:1"},
		Configure: func(c *server.Config) { c.EventsWithoutWakeups = true }})
	tenant := newTenant("ev-poll")
	admin := newCaller(t, tenant, "admin", auth.RoleAdmin)
	s := openStream(t, svc.URL, admin.token, "", nil)
	s.untilLive()
	p := fxPanel(t, admin, "Polled")
	if ev := s.next(false); !isChangeOf(p.Id, "panel_created")(ev) {
		t.Errorf("got %+v", ev)
	}
}

// Filters: only the panels and types asked for.
func TestEventStreamFilters(t *testing.T) {
	tenant := newTenant("ev-filter")
	admin := newCaller(t, tenant, "admin", auth.RoleAdmin)
	p, q := fxPanel(t, admin, "P"), fxPanel(t, admin, "Q")
	s := openStream(t, env.url, admin.token, fmt.Sprintf("?panelId=%d&types=panel_deleted&types=panel_updated", q.Id), nil)
	s.untilLive()
	renamePanel(t, admin, p.Id, "other panel")
	ntView(t, admin, q.Id, "other type", false)
	renamePanel(t, admin, q.Id, "wanted")
	if ev := s.next(false); !isChangeOf(q.Id, "panel_updated")(ev) {
		t.Errorf("filtered stream got %s %s", ev.Event, ev.Data)
	}
}

// Each user holds at most EVENTS_MAX_PER_USER streams per instance; bad resume ids are 400; no token is 401.
func TestEventStreamRefusals(t *testing.T) {
	svc := servertest.New(t, servertest.Options{DSN: env.dsn, Log: servertest.Log(),
		Env: map[string]string{"JWT_SECRET": testSecret, "DB_MAX_CONNS": "2", "EVENTS_MAX_PER_USER": "1"}})
	tenant := newTenant("ev-refuse")
	admin := newCaller(t, tenant, "admin", auth.RoleAdmin)
	s := openStream(t, svc.URL, admin.token, "", nil)
	s.untilLive()
	req, _ := http.NewRequest(http.MethodGet, svc.URL+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+admin.token)
	resp, err := (&validatingTransport{t: t}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second stream: %d %s", resp.StatusCode, body.String())
	}
	s.Close()
	// Closing the first frees the slot (the server notices the client left).
	for deadline := time.Now().Add(streamWait); ; time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, svc.URL+"/api/events", nil)
		req.Header.Set("Authorization", "Bearer "+admin.token)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slot of a closed stream is still taken: %d", resp.StatusCode)
		}
	}

	for _, q := range []string{"?lastEventId=abc", "?lastEventId=0", "?lastEventId=99999999999999999999", "?types=nope", "?panelId=0"} {
		resp, body := raw(t, http.MethodGet, "/api/events"+q, admin.token, nil, nil)
		wantProblem(t, "GET /api/events"+q, resp, body, http.StatusBadRequest)
	}
	resp2, body2 := raw(t, http.MethodGet, "/api/events", "", nil, nil)
	wantProblem(t, "no token", resp2, body2, http.StatusUnauthorized)
}

// The stream ends when the token expires, and a shutdown says where it stopped.
func TestEventStreamEndsWithTheTokenAndTheInstance(t *testing.T) {
	svc := servertest.New(t, servertest.Options{DSN: env.dsn, Log: servertest.Log(),
		Env: map[string]string{"JWT_SECRET": testSecret, "DB_MAX_CONNS": "2", "JWT_LEEWAY": "1ms"}})
	tenant := newTenant("ev-end")
	admin := newCaller(t, tenant, "admin", auth.RoleAdmin)
	short, err := auth.Mint([]byte(testSecret), auth.Principal{TenantID: tenant, UserID: "admin", Role: auth.RoleAdmin}, 2*time.Second, "", "")
	if err != nil {
		t.Fatal(err)
	}
	s := openStream(t, svc.URL, short, "", nil)
	s.untilLive()
	if !s.waitEnd() {
		t.Fatal("the stream outlived its token")
	}

	long := openStream(t, svc.URL, admin.token, "", nil)
	long.untilLive()
	p := fxPanel(t, admin, "Before shutdown")
	last := long.until(isChangeOf(p.Id, "panel_created"))[0]
	svc.App.StopStreams()
	if ev := long.next(false); ev.Event != "shutdown" || ev.Data != `{"lastEventId":`+last.ID+`}` {
		t.Errorf("at shutdown: %+v, want the last id %s", ev, last.ID)
	}
	if !long.waitEnd() {
		t.Error("the stream is still open after the shutdown event")
	}
	req, _ := http.NewRequest(http.MethodGet, svc.URL+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+admin.token)
	resp, err := (&validatingTransport{t: t}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a stream opened after the shutdown: %d, want 503", resp.StatusCode)
	}
}
