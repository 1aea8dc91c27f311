package store

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/uptrace/bun"
)

// The change history and the notifications are the event stream's outbox
// (docs/data-flow.md#event-order): a row is written in the transaction of the mutation it
// records, so it exists if and only if that mutation committed. Ids come from a sequence, which
// hands them out in no relation to commit order, so the stream is not ordered by id: it is
// ordered by (transaction id, event id), and holds only rows whose transaction is older than every
// transaction still running (pg_snapshot_xmin). A transaction that can still commit has an id at
// least that horizon, above every row already published, so whatever it commits sorts after the
// reader's position: nothing is skipped. Rows from before migration 0008 have no transaction id
// and sort first.

// ErrUnknownEvent is a position that names no event of the tenant (a forged id, or one whose row
// is gone): the reader cannot resume from it.
var ErrUnknownEvent = errors.New("no event of the tenant has this id")

// EventPosition is a place in the stream: the transaction and event id of the last event a reader
// has (the zero position is the start). Readers carry it from one read to the next
// (Change.Position, Notification.Position); EventPositionOf finds it for a resumed event id.
type EventPosition struct {
	XID string // the transaction id, as text ("0" for rows from before migration 0008)
	ID  int64
}

// Compare orders two positions as the stream does: -1, 0 or +1.
func (p EventPosition) Compare(q EventPosition) int {
	if c := compareXID(p.XID, q.XID); c != 0 {
		return c
	}
	switch {
	case p.ID < q.ID:
		return -1
	case p.ID > q.ID:
		return 1
	}
	return 0
}

// compareXID compares two xid8 texts by value ("" is the start, as "0").
func compareXID(a, b string) int {
	x, _ := strconv.ParseUint(a, 10, 64)
	y, _ := strconv.ParseUint(b, 10, 64)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// Position is the change's place in the stream, for a change ChangesAfter returned (no other read
// fills XID).
func (c Change) Position() EventPosition { return EventPosition{XID: c.XID, ID: c.ID} }

// Position is the notification's place in the stream, for one NotificationsAfter returned (no
// other read fills XID).
func (n Notification) Position() EventPosition { return EventPosition{XID: n.XID, ID: n.EventID} }

// EventFilter selects events after a position of the stream.
type EventFilter struct {
	After    EventPosition
	Until    EventPosition // the last position included; the zero position: no bound
	PanelIDs []int64       // empty: every panel the actor may read the history of
	Types    []string
	Limit    int
}

// streamXID is a row's transaction id as the stream orders it (rows from before migration 0008 first).
func streamXID(alias string) string { return "COALESCE(" + alias + ".xid, '0'::xid8)" }

// ChangesAfter returns, in stream order, up to f.Limit change rows after the position f.After whose
// transactions have ended, of the panels whose history the actor may read (admins: the whole
// tenant, deleted panels included; others: the panels granted to them, as listPanelChanges).
func (s *Store) ChangesAfter(ctx context.Context, a Actor, f EventFilter) ([]Change, error) {
	var out []Change
	q := s.db.NewSelect().Model(&out).ColumnExpr("?TableColumns, "+streamXID("ch")+"::text AS xid").
		Where("ch.tenant_id = ?", a.TenantID).
		Where(completeIn("ch")).
		OrderExpr(streamXID("ch") + ", ch.id").Limit(int64(f.Limit))
	q = between(q, f, "ch", "ch.id")
	if !a.Admin {
		q = q.Where(`ch.panel_id IN (`+grantedPanelsSQL+`)`, a.TenantID, bun.List(a.principals()))
	}
	if len(f.PanelIDs) > 0 {
		q = q.Where("ch.panel_id IN (?)", bun.List(f.PanelIDs))
	}
	if len(f.Types) > 0 {
		q = q.Where("ch.change_type IN (?)", bun.List(f.Types))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// NotificationsAfter returns, in stream order, up to f.Limit of the actor's own notifications
// after the position f.After whose transactions have ended (f.PanelIDs narrows them to those panels' views).
func (s *Store) NotificationsAfter(ctx context.Context, a Actor, f EventFilter) ([]Notification, error) {
	var out []Notification
	q := s.db.NewSelect().Model(&out).ColumnExpr("?TableColumns, vn.event_id, "+streamXID("vn")+"::text AS xid").
		Apply(withNotifiedView).
		Where("vn.tenant_id = ?", a.TenantID).
		Where("vn.user_id IN (?)", bun.List(a.recipientIDs())).
		Where(completeIn("vn")).
		OrderExpr(streamXID("vn") + ", vn.event_id").Limit(int64(f.Limit))
	q = between(q, f, "vn", "vn.event_id")
	if len(f.PanelIDs) > 0 {
		q = q.Where("vn.view_id IN (SELECT v.id FROM views AS v WHERE v.tenant_id = ? AND v.panel_id IN (?))",
			a.TenantID, bun.List(f.PanelIDs))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// between keeps the rows of q after f.After and up to f.Until, in stream order.
func between(q *bun.SelectQuery, f EventFilter, alias, idCol string) *bun.SelectQuery {
	q = after(q, f.After, alias, idCol)
	if f.Until != (EventPosition{}) {
		q = q.Where("("+streamXID(alias)+", "+idCol+") <= (?::xid8, ?)", f.Until.XID, f.Until.ID)
	}
	return q
}

// after keeps the rows of q after the position p, in stream order.
func after(q *bun.SelectQuery, p EventPosition, alias, idCol string) *bun.SelectQuery {
	if p == (EventPosition{}) {
		return q
	}
	return q.Where("("+streamXID(alias)+", "+idCol+") > (?::xid8, ?)", p.XID, p.ID)
}

// withNotifiedView joins the view a notification concerns, as its API shape carries it.
func withNotifiedView(q *bun.SelectQuery) *bun.SelectQuery {
	return q.ColumnExpr("view.name AS view_name, view.panel_id AS view_panel_id, view.published_by AS view_published_by").
		Join("JOIN views AS view ON view.tenant_id = vn.tenant_id AND view.id = vn.view_id")
}

// EventPositionOf is the stream position of the event id, a change's or a notification's, of the
// actor's tenant, and when the event was written; ErrUnknownEvent when the tenant has none with it.
func (s *Store) EventPositionOf(ctx context.Context, a Actor, id int64) (EventPosition, time.Time, error) {
	var rows []struct {
		XID string
		ID  int64
		At  time.Time
	}
	err := s.db.NewRaw(`SELECT `+streamXID("ch")+`::text AS xid, ch.id, ch.changed_at AS at FROM panel_changes AS ch WHERE ch.tenant_id = ? AND ch.id = ?
		UNION ALL
		SELECT `+streamXID("vn")+`::text, vn.event_id, vn.created_at FROM view_notifications AS vn WHERE vn.tenant_id = ? AND vn.event_id = ?`,
		a.TenantID, id, a.TenantID, id).Scan(ctx, &rows)
	if err != nil {
		return EventPosition{}, time.Time{}, mapErr(err)
	}
	if len(rows) == 0 {
		return EventPosition{}, time.Time{}, ErrUnknownEvent
	}
	return EventPosition{XID: rows[0].XID, ID: rows[0].ID}, rows[0].At, nil
}

// StreamEvent is one event of the stream: a change or a notification (exactly one is set).
type StreamEvent struct {
	Position     EventPosition
	Change       *Change
	Notification *Notification
}

// TenantID is the tenant the event belongs to.
func (e StreamEvent) TenantID() string {
	if e.Change != nil {
		return e.Change.TenantID
	}
	return e.Notification.TenantID
}

// NotificationEvent is the stream's name for a notification (changes go by their change type).
const NotificationEvent = "notification"

// EventHorizon is the oldest transaction still running: every event row of an older transaction
// is final, committed or gone with a rollback. It only grows, so a reader may use an old one.
func (s *Store) EventHorizon(ctx context.Context) (string, error) {
	var h string
	if err := s.db.NewRaw(`SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(ctx, &h); err != nil {
		return "", mapErr(err)
	}
	return h, nil
}

// LatestEventPosition is the last final event of the whole stream below horizon: where a tail
// that starts now begins (the zero position when there is none).
func (s *Store) LatestEventPosition(ctx context.Context, horizon string) (EventPosition, error) {
	var pos []EventPosition
	err := s.db.NewRaw(`(SELECT `+streamXID("ch")+`::text AS xid, ch.id FROM panel_changes AS ch
			WHERE `+streamXID("ch")+` < ?::xid8 ORDER BY `+streamXID("ch")+` DESC, ch.id DESC LIMIT 1)
		UNION ALL
		(SELECT `+streamXID("vn")+`::text, vn.event_id FROM view_notifications AS vn
			WHERE `+streamXID("vn")+` < ?::xid8 ORDER BY `+streamXID("vn")+` DESC, vn.event_id DESC LIMIT 1)`,
		horizon, horizon).Scan(ctx, &pos)
	if err != nil {
		return EventPosition{}, mapErr(err)
	}
	var last EventPosition
	for _, p := range pos {
		if p.Compare(last) > 0 {
			last = p
		}
	}
	return last, nil
}

// TailEvents returns, in stream order, up to limit events of every tenant after the position
// whose transactions are older than horizon (an EventHorizon): what each instance's tail fans
// out to its subscribers, who filter it.
func (s *Store) TailEvents(ctx context.Context, pos EventPosition, horizon string, limit int) ([]StreamEvent, error) {
	var changes []Change
	q := s.db.NewSelect().Model(&changes).ColumnExpr("?TableColumns, "+streamXID("ch")+"::text AS xid").
		Where(streamXID("ch")+" < ?::xid8", horizon).OrderExpr(streamXID("ch") + ", ch.id").Limit(int64(limit))
	if err := after(q, pos, "ch", "ch.id").Scan(ctx); err != nil {
		return nil, mapErr(err)
	}
	var notes []Notification
	q = s.db.NewSelect().Model(&notes).ColumnExpr("?TableColumns, vn.event_id, "+streamXID("vn")+"::text AS xid").
		Apply(withNotifiedView).
		Where(streamXID("vn")+" < ?::xid8", horizon).OrderExpr(streamXID("vn") + ", vn.event_id").Limit(int64(limit))
	if err := after(q, pos, "vn", "vn.event_id").Scan(ctx); err != nil {
		return nil, mapErr(err)
	}
	return mergeEvents(changes, notes, limit), nil
}

// ReplayEvents returns, in stream order, up to f.Limit of the events the actor may see in
// (f.After, f.Until]: its changes (ChangesAfter) and its notifications (NotificationsAfter), of
// the types f.Types names (change types, and NotificationEvent; none: every type).
func (s *Store) ReplayEvents(ctx context.Context, a Actor, f EventFilter) ([]StreamEvent, error) {
	var changeTypes []string
	notifications := len(f.Types) == 0
	for _, t := range f.Types {
		if t == NotificationEvent {
			notifications = true
		} else {
			changeTypes = append(changeTypes, t)
		}
	}
	var changes []Change
	if len(f.Types) == 0 || len(changeTypes) > 0 {
		cf := f
		cf.Types = changeTypes
		var err error
		if changes, err = s.ChangesAfter(ctx, a, cf); err != nil {
			return nil, err
		}
	}
	var notes []Notification
	if notifications {
		var err error
		if notes, err = s.NotificationsAfter(ctx, a, f); err != nil {
			return nil, err
		}
	}
	return mergeEvents(changes, notes, f.Limit), nil
}

// mergeEvents merges two lists in stream order and keeps the first limit: every row either list
// left out (its own limit) sorts after the last one kept, so a reader continuing from there
// misses nothing.
func mergeEvents(changes []Change, notes []Notification, limit int) []StreamEvent {
	out := make([]StreamEvent, 0, len(changes)+len(notes))
	for i := range changes {
		out = append(out, StreamEvent{Position: changes[i].Position(), Change: &changes[i]})
	}
	for i := range notes {
		out = append(out, StreamEvent{Position: notes[i].Position(), Notification: &notes[i]})
	}
	slices.SortFunc(out, func(x, y StreamEvent) int { return x.Position.Compare(y.Position) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// PanelGrants maps each ACL principal of the tenant (a sub, an email, or "_all") to the panels it
// has a row on: what a plain user's change events are filtered by, as ChangesAfter filters them.
func (s *Store) PanelGrants(ctx context.Context, tenant string) (map[string][]int64, error) {
	var rows []struct {
		Principal string `bun:"user_email"`
		PanelID   int64  `bun:"resource_id"`
	}
	err := s.db.NewRaw(`SELECT user_email, resource_id FROM acls WHERE tenant_id = ? AND resource_type = 'panel'`, tenant).Scan(ctx, &rows)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make(map[string][]int64)
	for _, r := range rows {
		out[r.Principal] = append(out[r.Principal], r.PanelID)
	}
	return out, nil
}

// Principals are the ACL principals that match the actor (its sub, its email and "_all").
func (a Actor) Principals() []string { return a.principals() }

// RecipientIDs are the user ids the actor's notifications are stored under.
func (a Actor) RecipientIDs() []string { return a.recipientIDs() }

func completeIn(alias string) string {
	return streamXID(alias) + " < pg_snapshot_xmin(pg_current_snapshot())"
}
