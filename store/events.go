package store

import (
	"context"

	"github.com/uptrace/bun"
)

// The change history and the notifications are the event stream's outbox
// (docs/data-flow.md#event-order): a row is written in
// the transaction of the mutation it records, so it exists if and only if that mutation
// committed. Event ids come from one sequence (the changes'), but a sequence hands out ids before
// commit: a transaction holding a lower id may commit after one holding a higher id. A reader
// that moved past the higher id would then never see the lower one. So a row is published only
// once its transaction is older than every transaction still running (pg_snapshot_xmin): by then
// no running transaction can commit an id below it. Every transaction writing a change row has
// its transaction id before it draws an event id (recordChange), which is what makes the rule
// hold for transactions whose first write is the change row.
// EventFilter selects events after a position of the stream.
type EventFilter struct {
	After    int64   // the last event id the reader has
	PanelIDs []int64 // empty: every panel the actor may read the history of
	Types    []string
	Limit    int
}

// ChangesAfter returns, in event-id order, up to f.Limit change rows after f.After whose
// transactions have ended, of the panels whose history the actor may read (admins: the whole
// tenant, deleted panels included; others: the panels granted to them, as listPanelChanges).
func (s *Store) ChangesAfter(ctx context.Context, a Actor, f EventFilter) ([]Change, error) {
	var out []Change
	q := s.db.NewSelect().Model(&out).
		Where("ch.tenant_id = ?", a.TenantID).
		Where("ch.id > ?", f.After).
		Where(completeIn("ch")).
		OrderExpr("ch.id").Limit(int64(f.Limit))
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

// NotificationsAfter returns, in event-id order, up to f.Limit of the actor's own notifications
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

func completeIn(alias string) string {
	return "(" + alias + ".xid IS NULL OR " + alias + ".xid < pg_snapshot_xmin(pg_current_snapshot()))"
}
