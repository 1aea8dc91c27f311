package store

import (
	"context"
	"errors"

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

// Position is the change's place in the stream, for a change ChangesAfter returned (no other read
// fills XID).
func (c Change) Position() EventPosition { return EventPosition{XID: c.XID, ID: c.ID} }

// Position is the notification's place in the stream, for one NotificationsAfter returned (no
// other read fills XID).
func (n Notification) Position() EventPosition { return EventPosition{XID: n.XID, ID: n.EventID} }

// EventFilter selects events after a position of the stream.
type EventFilter struct {
	After    EventPosition
	PanelIDs []int64 // empty: every panel the actor may read the history of
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
	q = after(q, f.After, "ch", "ch.id")
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
		Where("vn.tenant_id = ?", a.TenantID).
		Where("vn.user_id IN (?)", bun.List(a.recipientIDs())).
		Where(completeIn("vn")).
		OrderExpr(streamXID("vn") + ", vn.event_id").Limit(int64(f.Limit))
	q = after(q, f.After, "vn", "vn.event_id")
	if len(f.PanelIDs) > 0 {
		q = q.Where("vn.view_id IN (SELECT v.id FROM views AS v WHERE v.tenant_id = ? AND v.panel_id IN (?))",
			a.TenantID, bun.List(f.PanelIDs))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// after keeps the rows of q after the position p, in stream order.
func after(q *bun.SelectQuery, p EventPosition, alias, idCol string) *bun.SelectQuery {
	if p == (EventPosition{}) {
		return q
	}
	return q.Where("("+streamXID(alias)+", "+idCol+") > (?::xid8, ?)", p.XID, p.ID)
}

// EventPositionOf is the stream position of the event id, a change's or a notification's, of the
// actor's tenant; ErrUnknownEvent when the tenant has none with it.
func (s *Store) EventPositionOf(ctx context.Context, a Actor, id int64) (EventPosition, error) {
	var pos []EventPosition
	err := s.db.NewRaw(`SELECT `+streamXID("ch")+`::text AS xid, ch.id FROM panel_changes AS ch WHERE ch.tenant_id = ? AND ch.id = ?
		UNION ALL
		SELECT `+streamXID("vn")+`::text, vn.event_id FROM view_notifications AS vn WHERE vn.tenant_id = ? AND vn.event_id = ?`,
		a.TenantID, id, a.TenantID, id).Scan(ctx, &pos)
	if err != nil {
		return EventPosition{}, mapErr(err)
	}
	if len(pos) == 0 {
		return EventPosition{}, ErrUnknownEvent
	}
	return pos[0], nil
}

func completeIn(alias string) string {
	return streamXID(alias) + " < pg_snapshot_xmin(pg_current_snapshot())"
}
