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

// EventFilter selects events after a position of the stream.
type EventFilter struct {
	After    int64   // the id of the last event the reader has; 0: from the start
	PanelIDs []int64 // empty: every panel the actor may read the history of
	Types    []string
	Limit    int
}

// ChangesAfter returns, in stream order, up to f.Limit change rows after the event f.After whose
// transactions have ended, of the panels whose history the actor may read (admins: the whole
// tenant, deleted panels included; others: the panels granted to them, as listPanelChanges).
func (s *Store) ChangesAfter(ctx context.Context, a Actor, f EventFilter) ([]Change, error) {
	var out []Change
	q := s.db.NewSelect().Model(&out).
		Where("ch.tenant_id = ?", a.TenantID).
		Where(completeIn("ch")).
		OrderExpr("COALESCE(ch.xid, '0'::xid8), ch.id").Limit(int64(f.Limit))
	q, err := s.afterPosition(ctx, q, a.TenantID, f.After, "ch.xid", "ch.id")
	if err != nil {
		return nil, err
	}
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
// after f.After whose transactions have ended (f.PanelIDs narrows them to those panels' views).
func (s *Store) NotificationsAfter(ctx context.Context, a Actor, f EventFilter) ([]Notification, error) {
	var out []Notification
	q := s.db.NewSelect().Model(&out).ColumnExpr("vn.*"). // with event_id, which the model only scans
								Where("vn.tenant_id = ?", a.TenantID).
								Where("vn.user_id IN (?)", bun.List(a.recipientIDs())).
								Where("vn.event_id > ?", f.After).
								Where(completeIn("vn")).
								OrderExpr("vn.event_id").Limit(int64(f.Limit))
	if len(f.PanelIDs) > 0 {
		q = q.Where("vn.view_id IN (SELECT v.id FROM views AS v WHERE v.tenant_id = ? AND v.panel_id IN (?))",
			a.TenantID, bun.List(f.PanelIDs))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// afterPosition keeps the rows of q after the event after, a change's or a notification's id of
// the tenant (0: every row), in stream order.
func (s *Store) afterPosition(ctx context.Context, q *bun.SelectQuery, tenant string, after int64, xidCol, idCol string) (*bun.SelectQuery, error) {
	if after == 0 {
		return q, nil
	}
	var pos []struct {
		XID string `bun:"xid"`
		ID  int64  `bun:"id"`
	}
	err := s.db.NewRaw(`SELECT COALESCE(ch.xid, '0'::xid8)::text AS xid, ch.id FROM panel_changes AS ch WHERE ch.tenant_id = ? AND ch.id = ?
		UNION ALL
		SELECT COALESCE(vn.xid, '0'::xid8)::text, vn.event_id FROM view_notifications AS vn WHERE vn.tenant_id = ? AND vn.event_id = ?`,
		tenant, after, tenant, after).Scan(ctx, &pos)
	if err != nil {
		return nil, mapErr(err)
	}
	if len(pos) == 0 {
		return nil, ErrUnknownEvent
	}
	return q.Where("(COALESCE("+xidCol+", '0'::xid8), "+idCol+") > (?::xid8, ?)", pos[0].XID, pos[0].ID), nil
}

func completeIn(alias string) string {
	return "(" + alias + ".xid IS NULL OR " + alias + ".xid < pg_snapshot_xmin(pg_current_snapshot()))"
}
