package store

import (
	"context"
	"errors"
	"time"

	"github.com/uptrace/bun"
)

// Change types, entity types and actions of the change history (closed enums of the contract).
const (
	ChangePanelCreated  = "panel_created"
	ChangePanelUpdated  = "panel_updated"
	ChangePanelDeleted  = "panel_deleted"
	ChangeCohortChanged = "cohort_changed"
	ChangeSourceAdded   = "source_added"
	ChangeSourceChanged = "source_changed"
	ChangeSourceRemoved = "source_removed"
	ChangeColumnAdded   = "column_added"
	ChangeColumnChanged = "column_modified"
	ChangeColumnRemoved = "column_removed"

	EntityPanel      = "panel"
	EntityDataSource = "datasource"
	EntityColumn     = "column"

	ActionCreate = "create"
	ActionUpdate = "update"
	ActionDelete = "delete"
)

// record writes one change row of panel p in the caller's transaction.
func record(ctx context.Context, db bun.IDB, a Actor, p *Panel, c Change) error {
	_, err := recordChange(ctx, db, a, p, c)
	return err
}

// recordChange writes one change row and returns it (with its id), for notifications to point at.
func recordChange(ctx context.Context, db bun.IDB, a Actor, p *Panel, c Change) (*Change, error) {
	c.TenantID = a.TenantID
	c.PanelID = p.ID
	c.PanelName = p.Name
	c.ChangedBy = a.UserID
	c.ChangedByEmail = a.emailPtr()
	if _, err := db.NewInsert().Model(&c).Returning("id, changed_at").Exec(ctx); err != nil {
		return nil, err
	}
	// The change row is the outbox of webhooks too: their deliveries commit or roll back with it.
	if err := enqueueDeliveries(ctx, db, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// ChangeFilter selects change rows.
type ChangeFilter struct {
	PanelID    int64 // 0: every readable panel
	ChangeType string
	Since      *time.Time
	Limit      int
	Offset     int
	After      *ChangeCursor // keyset position; Offset is ignored when set
}

// ChangeCursor is a keyset position in the newest-first change order.
type ChangeCursor struct {
	ChangedAt time.Time
	ID        int64
}

// totalCap bounds counts so that large tenants stay fast; past it the total is reported as capped.
const totalCap = 10000

// ChangePage is one page of changes.
type ChangePage struct {
	Changes     []Change
	Total       int
	TotalCapped bool
	HasMore     bool
}

// ListChanges returns changes of panels the actor can read, newest first. Admins also see the
// history of deleted panels. A PanelID the actor cannot read is ErrNotFound.
func (s *Store) ListChanges(ctx context.Context, a Actor, f ChangeFilter) (ChangePage, error) {
	if f.PanelID != 0 {
		if _, err := panelAccess(ctx, s.db, a, opListPanelChangesOfPanel, f.PanelID, false); err != nil {
			if !a.Admin || !errors.Is(err, ErrNotFound) {
				return ChangePage{}, err
			}
			// An admin also reads a deleted panel's history, but an id the tenant never had is 404.
			known, xerr := s.db.NewSelect().Model((*Change)(nil)).
				Where("ch.tenant_id = ?", a.TenantID).Where("ch.panel_id = ?", f.PanelID).Exists(ctx)
			if xerr != nil {
				return ChangePage{}, mapErr(xerr)
			}
			if !known {
				return ChangePage{}, err
			}
		}
	}
	// Without a panel, a plain user reads the changes of the panels it can read: the page tests
	// each change, in the list's index order, against the sets of visiblePanels; the count looks
	// up the changes of each readable panel (readablePanelsArray).
	base := func(q *bun.SelectQuery, counting bool) *bun.SelectQuery {
		q = q.Where("ch.tenant_id = ?", a.TenantID)
		switch {
		case f.PanelID != 0:
			q = q.Where("ch.panel_id = ?", f.PanelID)
		case a.Admin:
		case counting:
			readable, args := readablePanelsArray(a)
			q = q.Where("ch.panel_id = ANY("+readable+")", args...)
		default:
			q = q.Where(`ch.panel_id IN (`+grantedPanelsSQL+`)`, a.TenantID, bun.List(a.principals()))
		}
		if f.ChangeType != "" {
			q = q.Where("ch.change_type = ?", f.ChangeType)
		}
		if f.Since != nil {
			q = q.Where("ch.changed_at >= ?", *f.Since)
		}
		return q
	}

	var page ChangePage
	q := base(s.db.NewSelect().Model(&page.Changes), false).
		OrderExpr("ch.changed_at DESC, ch.id DESC").Limit(int64(f.Limit + 1))
	if f.After != nil {
		q = q.Where("(ch.changed_at, ch.id) < (?, ?)", f.After.ChangedAt, f.After.ID)
	} else if f.Offset > 0 {
		q = q.Offset(int64(f.Offset))
	}
	if err := q.Scan(ctx); err != nil {
		return ChangePage{}, mapErr(err)
	}
	if len(page.Changes) > f.Limit {
		page.HasMore = true
		page.Changes = page.Changes[:f.Limit]
	}
	count := base(s.db.NewSelect().Model((*Change)(nil)), true)
	if a.Admin || f.PanelID != 0 {
		// In the list's order, a count can only come from an index that has it (every index of
		// panel_changes starts with the tenant and ends with changed_at): PostgreSQL then stops
		// after totalCap+1 index entries, where it could otherwise prefer reading the table.
		count = count.OrderExpr("ch.changed_at DESC")
	}
	total, capped, err := cappedCount(ctx, s.db, count)
	if err != nil {
		return ChangePage{}, err
	}
	page.Total, page.TotalCapped = total, capped
	return page, nil
}

// cappedCount counts up to totalCap rows of q.
func cappedCount(ctx context.Context, db bun.IDB, q *bun.SelectQuery) (int, bool, error) {
	var n int
	err := db.NewSelect().TableExpr("(?) AS capped", q.ColumnExpr("1").Limit(totalCap+1)).
		ColumnExpr("count(*)").Scan(ctx, &n)
	if err != nil {
		return 0, false, mapErr(err)
	}
	if n > totalCap {
		return totalCap, true, nil
	}
	return n, false, nil
}
