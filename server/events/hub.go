// Package events is the tail of the event stream (docs/data-flow.md#event-order): one reader per
// instance follows the outbox of every tenant in stream order and hands each event to the
// subscribers that may see it, each through a bounded buffer.
package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/panels/panels/store"
)

// Event is one event as a subscriber receives it.
type Event struct {
	Position  store.EventPosition
	Tenant    string
	ID        int64  // the SSE id: the change's id, or the notification's event id
	Name      string // the change type, or store.NotificationEvent
	PanelID   int64  // the change's panel, or the panel of the notification's view
	Recipient string // a notification's user id ("" for a change)
	Data      []byte // the JSON of one item of listPanelChanges or listViewNotifications
	// Frame is the event as the stream writes it, formatted once for every subscriber.
	Frame []byte
}

// NewFrame formats an event for the stream: its id, its name and its data on one line.
func NewFrame(id int64, name string, data []byte) []byte {
	return fmt.Appendf(nil, "id: %d\nevent: %s\ndata: %s\n\n", id, name, data)
}

// Source is what the tail reads: the outbox, with each event already in its API shape.
type Source interface {
	Horizon(ctx context.Context) (string, error)
	Latest(ctx context.Context, horizon string) (store.EventPosition, error)
	Tail(ctx context.Context, after store.EventPosition, horizon string, limit int) ([]Event, error)
	// Grants maps each ACL principal of the tenant to the panels it has a row on.
	Grants(ctx context.Context, tenant string) (map[string][]int64, error)
}

// Options tune a Hub.
type Options struct {
	Poll       time.Duration // the tail reads at least this often, wake-ups or not
	Buffer     int           // events a subscriber may have waiting before it is cut off
	MaxPerUser int           // open subscriptions per user on this instance
	// Listen, when set, runs until its context ends and calls wake whenever another transaction
	// may have written events (a signal only: the tail reads the rows).
	Listen func(ctx context.Context, wake func())
	Log    *slog.Logger
}

// Errors of Subscribe.
var (
	ErrTooManyStreams = errors.New("too many open event streams for this user")
	ErrClosed         = errors.New("the event stream is shutting down")
	// ErrUnavailable: the tail could not read the outbox in time (the database is down or slow).
	ErrUnavailable = errors.New("the event stream cannot read the outbox right now")
)

// subscribeWait bounds how long Subscribe waits for the tail to catch up.
const subscribeWait = 10 * time.Second

// tailBatch is how many events one read of the tail takes.
const tailBatch = 500

// coalesce is the shortest time between two reads of the tail: under a stream of commits, each
// waking the tail, one read takes them all instead of one read per commit.
const coalesce = 10 * time.Millisecond

// grantChanging are the change types after which a tenant's ACL rows may differ: the tail reloads
// them before it decides who sees that event and the ones after it.
var grantChanging = map[string]bool{"acl_changed": true, "panel_created": true, "panel_deleted": true}

// Hub is one instance's tail and its subscribers.
type Hub struct {
	src  Source
	opt  Options
	wake chan struct{}

	ready     chan struct{} // closed once the tail knows where the stream ends
	done      chan struct{} // closed by Shutdown
	closeOnce sync.Once

	mu  sync.Mutex
	pos store.EventPosition // the last event handed out (or skipped) by the tail
	// polls counts the reads of the tail begun and ended; polled is closed and replaced at the end
	// of each, so that Subscribe can wait for one that began after it was called.
	begun, ended uint64
	polled       chan struct{}
	pollFailed   bool // the last read of the tail failed
	tenants      map[string]map[*Subscription]struct{}
	perUser      map[string]int

	// grants is the tail's own cache of each subscribed tenant's panel grants (nil entry: reload),
	// touched only by the tail goroutine.
	grants map[string]map[string]map[int64]bool
}

// New builds a hub; Run starts its tail.
func New(src Source, opt Options) *Hub {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Hub{src: src, opt: opt, wake: make(chan struct{}, 1), ready: make(chan struct{}), done: make(chan struct{}), polled: make(chan struct{}),
		tenants: map[string]map[*Subscription]struct{}{}, perUser: map[string]int{}, grants: map[string]map[string]map[int64]bool{}}
}

// Wake asks the tail to read now.
func (h *Hub) Wake() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Done is closed when the hub shuts down: streams end, telling their clients where they were.
func (h *Hub) Done() <-chan struct{} { return h.done }

// Shutdown ends every stream (each says where it stopped) and refuses new ones.
func (h *Hub) Shutdown() { h.closeOnce.Do(func() { close(h.done) }) }

// Run follows the outbox until ctx ends.
func (h *Hub) Run(ctx context.Context) {
	if h.opt.Listen != nil {
		go h.opt.Listen(ctx, h.Wake)
	}
	tick := time.NewTicker(h.opt.Poll)
	defer tick.Stop()
	started := false
	var lastErr string
	for {
		var err error
		if !started {
			if err = h.start(ctx); err == nil {
				started = true
				close(h.ready)
			}
		} else {
			err = h.poll(ctx)
		}
		if err != nil && ctx.Err() == nil && err.Error() != lastErr {
			h.opt.Log.Warn("event stream: reading the outbox failed; retrying", "error", err.Error())
		}
		if err != nil {
			lastErr = err.Error()
		} else {
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			h.Shutdown()
			return
		case <-tick.C:
		case <-h.wake:
		}
		select {
		case <-ctx.Done():
		case <-time.After(coalesce):
		}
	}
}

// start places the tail at the end of the stream: a subscriber gets what happens from now on
// (and what it resumes, from the store).
func (h *Hub) start(ctx context.Context) error {
	horizon, err := h.src.Horizon(ctx)
	if err != nil {
		return err
	}
	pos, err := h.src.Latest(ctx, horizon)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.pos = pos
	h.mu.Unlock()
	return nil
}

// poll hands out every final event after the tail's position.
func (h *Hub) poll(ctx context.Context) (err error) {
	h.mu.Lock()
	h.begun++
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.ended++
		h.pollFailed = err != nil
		close(h.polled)
		h.polled = make(chan struct{})
		h.mu.Unlock()
	}()
	horizon, err := h.src.Horizon(ctx)
	if err != nil {
		return err
	}
	for {
		h.mu.Lock()
		pos := h.pos
		h.mu.Unlock()
		evs, err := h.src.Tail(ctx, pos, horizon, tailBatch)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if err := h.dispatch(ctx, ev); err != nil {
				return err
			}
		}
		if len(evs) < tailBatch {
			h.dropUnusedGrants()
			return nil
		}
	}
}

// dispatch hands one event to every subscriber that may see it, then moves the tail past it.
func (h *Hub) dispatch(ctx context.Context, ev Event) error {
	if grantChanging[ev.Name] {
		delete(h.grants, ev.Tenant)
	}
	var grants map[string]map[int64]bool
	for {
		h.mu.Lock()
		if grants != nil || ev.Name == store.NotificationEvent || len(h.tenants[ev.Tenant]) == 0 {
			break // with h.mu held
		}
		h.mu.Unlock()
		var err error
		if grants, err = h.tenantGrants(ctx, ev.Tenant); err != nil {
			return err // the tail stays before this event and retries it
		}
	}
	defer h.mu.Unlock()
	shared := &ev
	for s := range h.tenants[ev.Tenant] {
		if !s.wants(shared, grants) {
			continue
		}
		select {
		case s.events <- shared:
		default:
			h.cutOff(s)
		}
	}
	h.pos = ev.Position
	return nil
}

func (h *Hub) tenantGrants(ctx context.Context, tenant string) (map[string]map[int64]bool, error) {
	if g, ok := h.grants[tenant]; ok {
		return g, nil
	}
	rows, err := h.src.Grants(ctx, tenant)
	if err != nil {
		return nil, err
	}
	g := make(map[string]map[int64]bool, len(rows))
	for principal, panels := range rows {
		set := make(map[int64]bool, len(panels))
		for _, p := range panels {
			set[p] = true
		}
		g[principal] = set
	}
	h.grants[tenant] = g
	return g, nil
}

// dropUnusedGrants forgets the grants of tenants nobody follows any more: a cache kept without
// subscribers would miss the ACL events it no longer sees the need of.
func (h *Hub) dropUnusedGrants() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for t := range h.grants {
		if len(h.tenants[t]) == 0 {
			delete(h.grants, t)
		}
	}
}

// Subscriber is who follows the stream and what it asks for.
type Subscriber struct {
	Tenant     string
	UserID     string
	Admin      bool
	Principals []string // the ACL principals that match the caller
	Recipients []string // the user ids its notifications are stored under
	Panels     []int64  // only these panels' events; none: every panel
	Types      []string // only these change types and store.NotificationEvent; none: every type
}

// Subscription is one open stream. Events receives, in stream order, every event after Start
// that the subscriber may see; CutOff is closed instead when it fell too far behind.
type Subscription struct {
	hub     *Hub
	who     Subscriber
	panels  map[int64]bool
	types   map[string]bool
	events  chan *Event // shared by every subscriber it went to: read-only
	cut     chan struct{}
	removed bool // under hub.mu

	// Start is the tail's position when the subscription began: what follows reaches Events,
	// what came before is read from the store.
	Start store.EventPosition
}

// Subscribe opens a subscription, once the tail has started.
func (h *Hub) Subscribe(ctx context.Context, who Subscriber) (*Subscription, error) {
	giveUp := time.NewTimer(subscribeWait)
	defer giveUp.Stop()
	select {
	case <-h.ready:
	case <-h.done:
		return nil, ErrClosed
	case <-giveUp.C:
		return nil, ErrUnavailable
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// The stream starts after everything that committed before the call: wait for a read of the
	// tail that began after it, so that Start is past those events.
	h.mu.Lock()
	target := h.begun + 1
	h.mu.Unlock()
	h.Wake()
	for {
		h.mu.Lock()
		caught, failed, polled := h.ended >= target, h.pollFailed, h.polled
		h.mu.Unlock()
		if caught && failed {
			return nil, ErrUnavailable
		}
		if caught {
			break
		}
		select {
		case <-polled:
		case <-h.done:
			return nil, ErrClosed
		case <-giveUp.C:
			return nil, ErrUnavailable
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s := &Subscription{hub: h, who: who, events: make(chan *Event, h.opt.Buffer), cut: make(chan struct{})}
	if len(who.Panels) > 0 {
		s.panels = make(map[int64]bool, len(who.Panels))
		for _, p := range who.Panels {
			s.panels[p] = true
		}
	}
	if len(who.Types) > 0 {
		s.types = make(map[string]bool, len(who.Types))
		for _, t := range who.Types {
			s.types[t] = true
		}
	}
	user := who.Tenant + "\x00" + who.UserID
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.done:
		return nil, ErrClosed
	default:
	}
	if h.perUser[user] >= h.opt.MaxPerUser {
		return nil, ErrTooManyStreams
	}
	h.perUser[user]++
	if h.tenants[who.Tenant] == nil {
		h.tenants[who.Tenant] = map[*Subscription]struct{}{}
	}
	h.tenants[who.Tenant][s] = struct{}{}
	s.Start = h.pos
	return s, nil
}

// Events is the subscription's buffer of live events.
func (s *Subscription) Events() <-chan *Event { return s.events }

// CutOff is closed when the subscriber's buffer overflowed: it has lost events and must reset.
func (s *Subscription) CutOff() <-chan struct{} { return s.cut }

// Close ends the subscription.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.remove(s)
}

// cutOff drops a subscriber that cannot keep up, under h.mu: the tail never waits for anyone.
func (h *Hub) cutOff(s *Subscription) {
	if !s.removed {
		close(s.cut)
	}
	h.remove(s)
}

func (h *Hub) remove(s *Subscription) {
	if s.removed {
		return
	}
	s.removed = true
	subs := h.tenants[s.who.Tenant]
	delete(subs, s)
	if len(subs) == 0 {
		delete(h.tenants, s.who.Tenant)
	}
	user := s.who.Tenant + "\x00" + s.who.UserID
	if h.perUser[user]--; h.perUser[user] <= 0 {
		delete(h.perUser, user)
	}
}

// wants reports whether the subscriber may see ev and asked for it: its own notifications, and
// the changes of the panels whose history it may read (admins: every panel of the tenant), as
// listViewNotifications and listPanelChanges answer them.
func (s *Subscription) wants(ev *Event, grants map[string]map[int64]bool) bool {
	if s.types != nil && !s.types[ev.Name] {
		return false
	}
	if s.panels != nil && !s.panels[ev.PanelID] {
		return false
	}
	if ev.Name == store.NotificationEvent {
		return slices.Contains(s.who.Recipients, ev.Recipient)
	}
	if s.who.Admin {
		return true
	}
	for _, p := range s.who.Principals {
		if grants[p][ev.PanelID] {
			return true
		}
	}
	return false
}
