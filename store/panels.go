package store

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/uptrace/bun"
)

// PanelCursor is a keyset position in the newest-first panel order.
type PanelCursor struct {
	CreatedAt time.Time
	ID        int64
}

// ListPanels returns up to limit panels the actor can read, newest first, after the cursor.
func (s *Store) ListPanels(ctx context.Context, a Actor, after *PanelCursor, limit int) ([]Panel, error) {
	panels := []Panel{}
	q := visiblePanels(s.db.NewSelect().Model(&panels), a).
		OrderExpr("panel.created_at DESC, panel.id DESC").Limit(int64(limit))
	if after != nil {
		q = q.Where("(panel.created_at, panel.id) < (?, ?)", after.CreatedAt, after.ID)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, mapErr(err)
	}
	return panels, nil
}

// PanelAccess loads a panel for getPanel, with the actor's permission in Level. A view reader
// (Level PermViewReader) may only be shown its name and description.
func (s *Store) PanelAccess(ctx context.Context, a Actor, id int64) (*Panel, error) {
	return panelAccess(ctx, s.db, a, "getPanel", id, false)
}

// panelAccess loads a panel of the actor's tenant with the actor's permission in Level, and
// applies op's requirement: a panel the actor may not see is ErrNotFound, exactly like a missing
// one. lock takes the panel's row lock for a change.
func panelAccess(ctx context.Context, db bun.IDB, a Actor, op Operation, id int64, lock bool) (*Panel, error) {
	p := new(Panel)
	q := panelAccessQuery(db, a, id).Model(p)
	if lock {
		q = q.ColumnExpr("EXISTS (SELECT 1 FROM views AS pv WHERE pv.tenant_id = panel.tenant_id AND pv.panel_id = panel.id) AS has_views").For("UPDATE OF panel")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("panel %d: %w", id, mapErrOf(KindPanel, err))
	}
	if err := authorize(op, p.Level, KindPanel); err != nil {
		return nil, fmt.Errorf("panel %d: %w", id, err)
	}
	return p, nil
}

// panelAccessQuery selects the panel of the actor's tenant with the actor's level on it; PlanRows
// runs it as part of a larger statement, so that both decide from the same SQL.
func panelAccessQuery(db bun.IDB, a Actor, id int64) *bun.SelectQuery {
	expr, args := panelLevelExpr(a)
	return db.NewSelect().Model((*Panel)(nil)).ColumnExpr("panel.*").ColumnExpr("("+expr+") AS level", args...).
		Where("panel.id = ?", id).Where("panel.tenant_id = ?", a.TenantID)
}

// CreatePanel inserts p for the actor with its owner ACL row and a panel_created change.
func (s *Store) CreatePanel(ctx context.Context, a Actor, p *Panel) error {
	if a.PlainUser {
		return Forbidden("creating panels needs the builder or admin role")
	}
	p.TenantID, p.OwnerUserID = a.TenantID, a.UserID
	if p.Metadata == nil {
		p.Metadata = map[string]any{}
	}
	if p.CohortRule.Logic == "" {
		p.CohortRule = DefaultCohortRule()
	}
	if err := checkCohortRule(p.CohortRule); err != nil {
		return err
	}
	// The panel, its owner ACL row and its change row are one statement: atomic on its own, and
	// one round trip instead of five (BEGIN, three INSERTs, COMMIT) on the busiest write.
	return s.oneStatement(ctx, func(ctx context.Context, db bun.IDB) error {
		values, err := json.Marshal(panelValues(p))
		if err != nil {
			return err
		}
		q := db.NewSelect().
			With("p", db.NewInsert().Model(p).Returning("*")).
			With("owner", db.NewRaw(`INSERT INTO acls (tenant_id, resource_type, resource_id, panel_id, user_email, permission, creator)
				SELECT tenant_id, 'panel', id, id, ?, 'owner', true FROM p`, a.ownerPrincipal())).
			With("change", db.NewRaw(`INSERT INTO panel_changes (tenant_id, panel_id, panel_name, change_type, entity_type,
				entity_id, action, description, changed_by, changed_by_email, new_values)
				SELECT tenant_id, id, name, ?, ?, id, ?, ?, ?, ?, ?::jsonb FROM p
				RETURNING id, tenant_id, panel_id, change_type`,
				ChangePanelCreated, EntityPanel, ActionCreate, fmt.Sprintf("Panel %q created", p.Name), a.UserID, a.emailPtr(), string(values))).
			With("hooks", db.NewRaw(fmt.Sprintf(enqueueDeliveriesSQL, "change"), a.TenantID, a.TenantID)).
			Model(p).ModelTableExpr("p AS panel").Column("panel.*")
		if err := q.Scan(ctx); err != nil {
			return err
		}
		p.Level = PermOwner
		return nil
	})
}

// PanelPatch is a partial update of a panel; nil fields keep their values.
type PanelPatch struct {
	Name           *string
	SetDescription bool
	Description    *string
	Metadata       map[string]any
	CohortRule     *CohortRule
	// EchoedUserID is a userId the body carried (the web UI echoes the panel's creator): see checkEcho.
	EchoedUserID *string
}

// checkEcho accepts a userId a PUT body carries when it is the caller's or the resource's stored
// creator (the web UI echoes what it read); any other value is a 403: a client may not rewrite who created a resource.
func checkEcho(a Actor, echoed *string, creator string) error {
	if echoed == nil || *echoed == a.UserID || *echoed == creator {
		return nil
	}
	return Forbidden("userId does not match the token's user or the resource's creator")
}

// UpdatePanel applies patch to the panel under a row lock. precondition runs on the locked panel
// once the actor is allowed, before anything changes, and may refuse with ErrPrecondition.
func (s *Store) UpdatePanel(ctx context.Context, a Actor, id int64, precondition func(*Panel) error, patch PanelPatch) (*Panel, error) {
	var out *Panel
	err := s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		p, err := panelAccess(ctx, tx, a, "updatePanel", id, true)
		if err != nil {
			return err
		}
		if patch.CohortRule != nil {
			if err := checkCohortRule(*patch.CohortRule); err != nil {
				return err
			}
		}
		if err := checkEcho(a, patch.EchoedUserID, p.OwnerUserID); err != nil {
			return err
		}
		if err := precondition(p); err != nil {
			return err
		}
		before := *p
		if patch.Name != nil {
			p.Name = *patch.Name
		}
		if patch.SetDescription {
			p.Description = patch.Description
		}
		if patch.Metadata != nil {
			p.Metadata = patch.Metadata
		}
		cohortChanged := patch.CohortRule != nil && !reflect.DeepEqual(normalJSON(p.CohortRule), normalJSON(*patch.CohortRule))
		if cohortChanged {
			p.CohortRule = *patch.CohortRule
		}
		oldV, newV := diffValues(panelValues(&before), panelValues(p))
		out = p
		if len(newV) == 0 && len(oldV) == 0 {
			return nil // nothing changed: no history row, updated_at stays
		}
		if _, err := tx.NewUpdate().Model(p).Column("name", "description", "metadata", "cohort_rule").
			Set("updated_at = now()").WherePK().Where("panel.tenant_id = ?", p.TenantID).Returning("updated_at").Exec(ctx); err != nil {
			return err
		}
		if cohortChanged {
			ch, err := recordChange(ctx, tx, a, p, Change{ChangeType: ChangeCohortChanged, EntityType: EntityPanel,
				EntityID: p.ID, Action: ActionUpdate, Description: fmt.Sprintf("Cohort rule of panel %q changed", p.Name),
				OldValues: map[string]any{"cohortRule": oldV["cohortRule"]}, NewValues: map[string]any{"cohortRule": newV["cohortRule"]}})
			if err != nil {
				return err
			}
			if err := notifyViews(ctx, tx, a, p, ch, cohortChangedEvent()); err != nil {
				return err
			}
			delete(oldV, "cohortRule")
			delete(newV, "cohortRule")
		}
		if len(newV) > 0 || len(oldV) > 0 {
			return record(ctx, tx, a, p, Change{ChangeType: ChangePanelUpdated, EntityType: EntityPanel,
				EntityID: p.ID, Action: ActionUpdate, Description: fmt.Sprintf("Panel %q updated", p.Name),
				OldValues: oldV, NewValues: newV})
		}
		return nil
	})
	return out, err
}

// DeletePanel removes the panel and, through the schema's cascades, its data sources, columns,
// views (with sorts, filters, notifications) and ACL rows, in one transaction. Its change rows stay.
func (s *Store) DeletePanel(ctx context.Context, a Actor, id int64, precondition func(*Panel) error) error {
	return s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		p, err := panelAccess(ctx, tx, a, "deletePanel", id, true)
		if err != nil {
			return err
		}
		if err := precondition(p); err != nil {
			return err
		}
		if err := record(ctx, tx, a, p, Change{ChangeType: ChangePanelDeleted, EntityType: EntityPanel,
			EntityID: p.ID, Action: ActionDelete, Description: fmt.Sprintf("Panel %q deleted", p.Name),
			OldValues: panelValues(p)}); err != nil {
			return err
		}
		_, err = tx.NewDelete().Model(p).WherePK().Where("panel.tenant_id = ?", p.TenantID).Exec(ctx)
		return err
	})
}

func panelValues(p *Panel) map[string]any {
	return map[string]any{
		"name":        p.Name,
		"description": p.Description,
		"metadata":    p.Metadata,
		"cohortRule":  p.CohortRule,
	}
}
