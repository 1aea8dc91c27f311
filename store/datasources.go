package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/uptrace/bun"

	"github.com/panels/panels/store/dsconfig"
)

// ListDataSources returns up to limit data sources of a readable panel, oldest first, after id afterID.
func (s *Store) ListDataSources(ctx context.Context, a Actor, panelID, afterID int64, limit int) ([]DataSource, error) {
	if _, err := panelAccess(ctx, s.db, a, "listDataSources", panelID, false); err != nil {
		return nil, err
	}
	out := []DataSource{}
	q := s.db.NewSelect().Model(&out).Where("ds.panel_id = ?", panelID).Where("ds.tenant_id = ?", a.TenantID).
		OrderExpr("ds.id ASC").Limit(int64(limit))
	if afterID > 0 {
		q = q.Where("ds.id > ?", afterID)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// GetDataSource loads a data source of a panel the actor can read, with that panel.
func (s *Store) GetDataSource(ctx context.Context, a Actor, id int64) (*DataSource, *Panel, error) {
	return dataSourceAccess(ctx, s.db, a, "getDataSource", id, 0, false)
}

// dataSourceAccess loads the data source and its panel (with the actor's Level) for op. panelID,
// when not 0, must be the source's panel (the original service's nested paths).
func dataSourceAccess(ctx context.Context, db bun.IDB, a Actor, op Operation, id, panelID int64, lock bool) (*DataSource, *Panel, error) {
	ds := new(DataSource)
	if err := db.NewSelect().Model(ds).Where("ds.id = ?", id).Where("ds.tenant_id = ?", a.TenantID).Scan(ctx); err != nil {
		return nil, nil, fmt.Errorf("data source %d: %w", id, mapErrOf(KindDataSource, err))
	}
	if panelID != 0 && ds.PanelID != panelID {
		return nil, nil, notFound(KindDataSource)
	}
	p, err := panelAccess(ctx, db, a, op, ds.PanelID, lock)
	if errors.Is(err, ErrNotFound) { // a source of an unreadable panel is as invisible as the panel
		return nil, nil, notFound(KindDataSource)
	}
	if err != nil {
		return nil, nil, err
	}
	if lock { // re-read under the panel lock, so the row cannot have changed in between
		if err := db.NewSelect().Model(ds).WherePK().Where("ds.tenant_id = ?", ds.TenantID).Scan(ctx); err != nil {
			return nil, nil, mapErr(err)
		}
	}
	return ds, p, nil
}

// CreateDataSource attaches ds to the panel.
func (s *Store) CreateDataSource(ctx context.Context, a Actor, panelID int64, ds *DataSource) error {
	return s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		p, err := panelAccess(ctx, tx, a, "createDataSource", panelID, true)
		if err != nil {
			return err
		}
		ds.TenantID, ds.PanelID, ds.LastSync = a.TenantID, p.ID, nil
		if _, err := tx.NewInsert().Model(ds).Returning("*").Exec(ctx); err != nil {
			return err
		}
		return record(ctx, tx, a, p, Change{ChangeType: ChangeSourceAdded, EntityType: EntityDataSource,
			EntityID: ds.ID, Action: ActionCreate, Description: fmt.Sprintf("Data source %d (%s) added", ds.ID, ds.Type),
			NewValues: dataSourceValues(ds)})
	})
}

// DataSourcePatch is a partial update of a data source.
type DataSourcePatch struct {
	Type   *string
	Config map[string]any // as sent; masked secrets keep their stored values
}

// UpdateDataSource applies patch under the panel's lock; panelID is 0 on the seed's path, or the
// panel of the original service's nested path. validate runs on the merged result.
func (s *Store) UpdateDataSource(ctx context.Context, a Actor, id, panelID int64, precondition func(*DataSource) error,
	patch DataSourcePatch, validate func(typ string, cfg map[string]any) error) (*DataSource, error) {
	op := Operation("updateDataSource")
	if panelID != 0 {
		op = "updatePanelDataSource"
	}
	var out *DataSource
	err := s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		ds, p, err := dataSourceAccess(ctx, tx, a, op, id, panelID, true)
		if err != nil {
			return err
		}
		if err := precondition(ds); err != nil {
			return err
		}
		before := *ds
		if patch.Type != nil {
			ds.Type = *patch.Type
		}
		if patch.Config != nil {
			ds.Config = dsconfig.MergeMasked(patch.Config, before.Config)
		}
		if err := validate(ds.Type, ds.Config); err != nil {
			return err
		}
		out = ds
		// Compare unmasked configs: a changed secret is a change even though its record looks the same.
		if before.Type == ds.Type && reflect.DeepEqual(normalJSON(before.Config), normalJSON(ds.Config)) {
			return nil
		}
		if _, err := tx.NewUpdate().Model(ds).Column("type", "config").Set("updated_at = now()").
			WherePK().Where("ds.tenant_id = ?", ds.TenantID).Returning("updated_at").Exec(ctx); err != nil {
			return err
		}
		ch, err := recordChange(ctx, tx, a, p, Change{ChangeType: ChangeSourceChanged, EntityType: EntityDataSource,
			EntityID: ds.ID, Action: ActionUpdate, Description: fmt.Sprintf("Data source %d (%s) changed", ds.ID, ds.Type),
			OldValues: dataSourceValues(&before), NewValues: dataSourceValues(ds)})
		if err != nil {
			return err
		}
		return notifyViews(ctx, tx, a, p, ch, sourceChangedEvent(ds))
	})
	return out, err
}

// DeleteDataSource removes a data source. Base columns using it block the delete (ConflictError)
// unless force is set: then they are detached and each detachment is recorded.
func (s *Store) DeleteDataSource(ctx context.Context, a Actor, id, panelID int64, force bool, precondition func(*DataSource) error) error {
	op := Operation("deleteDataSource")
	if panelID != 0 {
		op = "deletePanelDataSource"
	}
	return s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		ds, p, err := dataSourceAccess(ctx, tx, a, op, id, panelID, true)
		if err != nil {
			return err
		}
		if err := precondition(ds); err != nil {
			return err
		}
		var users []Column
		if err := tx.NewSelect().Model(&users).Where("col.tenant_id = ?", ds.TenantID).Where("col.data_source_id = ?", ds.ID).OrderExpr("col.id").Scan(ctx); err != nil {
			return err
		}
		if len(users) > 0 && !force {
			ce := &ConflictError{Message: fmt.Sprintf("data source %d is used by %d column(s); delete them first or use force=true", ds.ID, len(users))}
			for _, c := range users {
				ce.Dependents = append(ce.Dependents, Dependent{ID: c.ID, Name: c.Name, Kind: "column"})
			}
			return ce
		}
		for i := range users {
			c := &users[i]
			c.DataSourceID = nil
			if _, err := tx.NewUpdate().Model(c).Column("data_source_id").Set("updated_at = now()").WherePK().
				Where("col.tenant_id = ?", c.TenantID).Exec(ctx); err != nil {
				return err
			}
			name := c.Name
			ch, err := recordChange(ctx, tx, a, p, Change{ChangeType: ChangeColumnChanged, EntityType: EntityColumn,
				EntityID: c.ID, Action: ActionUpdate, AffectedColumn: &name,
				Description: fmt.Sprintf("Column %q detached from deleted data source %d", c.Name, ds.ID),
				OldValues:   map[string]any{"dataSourceId": ds.ID}, NewValues: map[string]any{"dataSourceId": nil}})
			if err != nil {
				return err
			}
			if err := notifyViews(ctx, tx, a, p, ch, columnModified(c)); err != nil {
				return err
			}
		}
		ch, err := recordChange(ctx, tx, a, p, Change{ChangeType: ChangeSourceRemoved, EntityType: EntityDataSource,
			EntityID: ds.ID, Action: ActionDelete, Description: fmt.Sprintf("Data source %d (%s) removed", ds.ID, ds.Type),
			OldValues: dataSourceValues(ds)})
		if err != nil {
			return err
		}
		if err := notifyViews(ctx, tx, a, p, ch, sourceRemovedEvent(ds)); err != nil {
			return err
		}
		_, err = tx.NewDelete().Model(ds).WherePK().Where("ds.tenant_id = ?", ds.TenantID).Exec(ctx)
		return err
	})
}

// dataSourceValues is what a change row records of a data source; secrets are masked.
func dataSourceValues(ds *DataSource) map[string]any {
	return map[string]any{"type": ds.Type, "config": dsconfig.Masked(ds.Config)}
}
