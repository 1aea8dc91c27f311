package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/server/events"
	"github.com/panels/panels/server/pipeline"
	"github.com/panels/panels/server/problem"
	"github.com/panels/panels/store"
)

// eventSource is the outbox as the tail reads it: store rows in their API shape.
type eventSource struct{ st *store.Store }

func (e eventSource) Horizon(ctx context.Context) (string, error) { return e.st.EventHorizon(ctx) }

func (e eventSource) Latest(ctx context.Context, horizon string) (store.EventPosition, error) {
	return e.st.LatestEventPosition(ctx, horizon)
}

func (e eventSource) Tail(ctx context.Context, after store.EventPosition, horizon string, limit int) ([]events.Event, error) {
	rows, err := e.st.TailEvents(ctx, after, horizon, limit)
	if err != nil {
		return nil, err
	}
	return apiEvents(rows)
}

func (e eventSource) Grants(ctx context.Context, tenant string) (map[string][]int64, error) {
	return e.st.PanelGrants(ctx, tenant)
}

// apiEvents gives each row its JSON, exactly as listPanelChanges and listViewNotifications answer one item.
func apiEvents(rows []store.StreamEvent) ([]events.Event, error) {
	out := make([]events.Event, 0, len(rows))
	for _, r := range rows {
		ev := events.Event{Position: r.Position, Tenant: r.TenantID()}
		var item any
		if c := r.Change; c != nil {
			ev.ID, ev.Name, ev.PanelID = c.ID, c.ChangeType, c.PanelID
			item = changeToAPI(c)
		} else {
			n := r.Notification
			ev.ID, ev.Name, ev.PanelID, ev.Recipient = n.EventID, store.NotificationEvent, n.ViewPanelID, n.UserID
			item = notificationToAPI(n)
		}
		data, err := json.Marshal(item)
		if err != nil {
			return nil, err
		}
		ev.Data, ev.Frame = data, events.NewFrame(ev.ID, ev.Name, data)
		out = append(out, ev)
	}
	return out, nil
}

// streamSettings are what an open stream needs from the configuration.
type streamSettings struct {
	replayWindow time.Duration
	replayMax    int
	heartbeat    time.Duration
	writeTimeout time.Duration
}

// StreamEvents opens a Server-Sent Events stream: the replay after Last-Event-ID, then the live
// events, each filtered by what the caller may read (events.Subscription.wants, store.ReplayEvents).
func (s *Server) StreamEvents(ctx context.Context, req gen.StreamEventsRequestObject) (gen.StreamEventsResponseObject, error) {
	resume, err := resumeID(req.Params)
	if err != nil {
		return nil, err
	}
	a := actorFrom(ctx)
	types := make([]string, len(req.Params.Types))
	for i, t := range req.Params.Types {
		types[i] = string(t)
	}
	sub, err := s.events.Subscribe(ctx, events.Subscriber{Tenant: a.TenantID, UserID: a.UserID, Admin: a.Admin,
		Principals: a.Principals(), Recipients: a.RecipientIDs(), Panels: req.Params.PanelId, Types: types})
	switch {
	case errors.Is(err, events.ErrTooManyStreams):
		p := problem.New(http.StatusTooManyRequests, "rate-limited",
			"this user already has %d open event streams on this instance (EVENTS_MAX_PER_USER); close one first", s.streams.maxPerUser)
		p.Header = http.Header{"Retry-After": {"5"}}
		return nil, p
	case errors.Is(err, events.ErrClosed):
		p := problem.New(http.StatusServiceUnavailable, "service-unavailable", "the instance is shutting down; reconnect")
		p.Header = http.Header{"Retry-After": {"1"}}
		return nil, p
	case errors.Is(err, events.ErrUnavailable):
		p := problem.New(http.StatusServiceUnavailable, "service-unavailable", "the event stream cannot read the database right now; retry later")
		p.Header = http.Header{"Retry-After": {"1"}}
		return nil, p
	case err != nil:
		return nil, err
	}
	st := &eventStream{ctx: ctx, sub: sub, hub: s.events, set: s.streams.streamSettings, expires: pipeline.Principal(ctx).Expires}
	if resume != nil {
		if err := st.prepareReplay(ctx, s.store, a, *resume, req.Params.PanelId, types); err != nil {
			sub.Close()
			return nil, err
		}
	}
	return st, nil
}

// resumeID is the Last-Event-ID header, else the lastEventId parameter (the spec bounds both to
// 19 digits); nil for a fresh stream.
func resumeID(p gen.StreamEventsParams) (*int64, error) {
	field, raw := "header.Last-Event-ID", p.LastEventID
	if raw == nil {
		field, raw = "query.lastEventId", p.LastEventId
	}
	if raw == nil {
		return nil, nil
	}
	id, err := strconv.ParseInt(*raw, 10, 64)
	if err != nil || id < 1 {
		return nil, problem.BadRequest(field, "must be the id of an event, from 1 to 9223372036854775807")
	}
	return &id, nil
}

// eventStream is one open stream, written by its Visit.
type eventStream struct {
	ctx     context.Context
	sub     *events.Subscription
	hub     *events.Hub
	set     streamSettings
	expires time.Time

	last   store.EventPosition // of the last event sent, or where the stream started
	lastID int64               // the SSE id of the last event sent (0: none yet)
	reset  string              // the reason for a reset before the live events ("" for none)
	replay []events.Event
}

// prepareReplay reads, before the answer starts, the events after the resumed id up to where the
// live ones begin; or decides that the client must reset.
func (st *eventStream) prepareReplay(ctx context.Context, db *store.Store, a store.Actor, id int64, panels []int64, types []string) error {
	pos, at, err := db.EventPositionOf(ctx, a, id)
	switch {
	case errors.Is(err, store.ErrUnknownEvent):
		st.reset = "unknown_event"
		return nil
	case err != nil:
		return err
	case time.Since(at) > st.set.replayWindow:
		st.reset = "replay_window"
		return nil
	}
	st.last, st.lastID = pos, id
	if pos.Compare(st.sub.Start) >= 0 {
		return nil // the client is ahead of this instance's tail: the live events catch up
	}
	rows, err := db.ReplayEvents(ctx, a, store.EventFilter{After: pos, Until: st.sub.Start, PanelIDs: panels, Types: types,
		Limit: st.set.replayMax + 1})
	if err != nil {
		return err
	}
	if len(rows) > st.set.replayMax {
		st.reset = "replay_max"
		return nil
	}
	st.replay, err = apiEvents(rows)
	return err
}

// VisitStreamEventsResponse writes the stream until the client leaves, the token expires, the
// subscriber falls behind or the instance shuts down.
func (st *eventStream) VisitStreamEventsResponse(w http.ResponseWriter) error {
	defer st.sub.Close()
	rc := http.NewResponseController(w)
	// The server's read and write deadlines bound ordinary requests; a stream is bounded by the
	// token's life instead, and each write by its own deadline.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx would otherwise hold the events back
	w.WriteHeader(http.StatusOK)
	write := func(frame []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(st.set.writeTimeout))
		if _, err := w.Write(frame); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte("retry: 2000\n\n")) {
		return nil
	}
	if st.reset != "" {
		if !write([]byte(resetFrame(st.reset))) {
			return nil
		}
	}
	for i := range st.replay {
		if !st.send(write, &st.replay[i]) {
			return nil
		}
	}
	st.replay = nil
	// A comment EventSource ignores, for clients that want to know the replay is over.
	if !write([]byte(": live\n\n")) {
		return nil
	}
	heartbeat := time.NewTicker(st.set.heartbeat)
	defer heartbeat.Stop()
	var expired <-chan time.Time
	if !st.expires.IsZero() {
		t := time.NewTimer(time.Until(st.expires))
		defer t.Stop()
		expired = t.C
	}
	for {
		select {
		case ev := <-st.sub.Events():
			if !st.send(write, ev) {
				return nil
			}
		case <-st.sub.CutOff():
			write([]byte(resetFrame("slow_consumer")))
			return nil
		case <-heartbeat.C:
			if !write([]byte(": heartbeat\n\n")) {
				return nil
			}
		case <-expired:
			write([]byte(": token expired; reconnect with a fresh token and Last-Event-ID\n\n"))
			return nil
		case <-st.hub.Done():
			last := "null"
			if st.lastID != 0 {
				last = strconv.FormatInt(st.lastID, 10)
			}
			write([]byte("event: shutdown\ndata: {\"lastEventId\":" + last + "}\n\n"))
			return nil
		case <-st.ctx.Done():
			return nil
		}
	}
}

// send writes ev unless the client already has it (a replayed event the tail also handed out).
func (st *eventStream) send(write func([]byte) bool, ev *events.Event) bool {
	if ev.Position.Compare(st.last) <= 0 {
		return true
	}
	if !write(ev.Frame) {
		return false
	}
	st.last, st.lastID = ev.Position, ev.ID
	return true
}

func resetFrame(reason string) string {
	return "event: reset\ndata: {\"reason\":\"" + reason + "\"}\n\n"
}
