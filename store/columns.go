package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/panels/panels/store/formula"
)

// maxColumnsPerPanel bounds a panel's columns, so column lists are bounded by construction.
const maxColumnsPerPanel = 1000

// ColumnSet is a panel's columns (possibly filtered) with the names of all its columns, which
// formulas need to render their references.
type ColumnSet struct {
	Columns []Column
	Names   map[int64]string
}

// ListColumns returns the columns of a readable panel ordered by display order, then id. ids and
// tags filter when non-empty (a column with any of the tags matches). A view reader gets only the
// columns its views show.
func (s *Store) ListColumns(ctx context.Context, a Actor, panelID int64, ids []int64, tags []string) (ColumnSet, error) {
	all, names, err := s.readableColumns(ctx, a, "listColumns", panelID)
	if err != nil {
		return ColumnSet{}, err
	}
	set := ColumnSet{Columns: []Column{}, Names: names}
	for _, c := range all {
		if len(ids) > 0 && !slices.Contains(ids, c.ID) {
			continue
		}
		if len(tags) > 0 && !slices.ContainsFunc(c.Tags, func(t string) bool { return slices.Contains(tags, t) }) {
			continue
		}
		set.Columns = append(set.Columns, c)
	}
	return set, nil
}

// GetColumn loads one column of a readable panel.
func (s *Store) GetColumn(ctx context.Context, a Actor, panelID, id int64) (*Column, map[int64]string, error) {
	all, names, err := s.readableColumns(ctx, a, "getColumn", panelID)
	if err != nil {
		return nil, nil, err
	}
	for i := range all {
		if all[i].ID == id {
			return &all[i], names, nil
		}
	}
	return nil, nil, notFound(KindColumn)
}

// readableColumns is the panel's columns the actor may read, with the names formulas render
// their references with. A view reader reads only the columns the panel's views it reads show,
// and only their names: a formula referring to a column it may not read shows no name for it.
func (s *Store) readableColumns(ctx context.Context, a Actor, op Operation, panelID int64) ([]Column, map[int64]string, error) {
	p, err := panelAccess(ctx, s.db, a, op, panelID, false)
	if err != nil {
		return nil, nil, err
	}
	all, err := columnsOf(ctx, s.db, p.TenantID, p.ID)
	if err != nil || p.Level >= PermViewer {
		return all, columnNames(all), err
	}
	var views []*View
	if err := visibleViews(s.db.NewSelect().Model(&views).Column("view.id", "view.visible_columns"), a).
		Where("view.panel_id = ?", panelID).Scan(ctx); err != nil {
		return nil, nil, mapErr(err)
	}
	shown := map[int64]bool{}
	for _, v := range views {
		for _, ref := range v.VisibleColumns {
			if c, err := resolveColumnRef(all, ref); err == nil {
				shown[c.ID] = true
			}
		}
	}
	out := all[:0]
	for _, c := range all {
		if shown[c.ID] {
			out = append(out, c)
		}
	}
	return out, columnNames(out), nil
}

// columnsOf loads every column of a panel of the tenant (at most maxColumnsPerPanel) in display
// order.
func columnsOf(ctx context.Context, db bun.IDB, tenantID string, panelID int64) ([]Column, error) {
	cols := []Column{}
	err := db.NewSelect().Model(&cols).Where("col.tenant_id = ?", tenantID).Where("col.panel_id = ?", panelID).
		OrderExpr(columnOrder).
		Scan(ctx)
	return cols, mapErr(err)
}

const columnOrder = `CASE WHEN jsonb_typeof(col.properties->'display'->'order') = 'number'
			THEN (col.properties->'display'->>'order')::numeric END ASC NULLS LAST, col.id ASC`

func columnNames(cols []Column) map[int64]string {
	names := make(map[int64]string, len(cols))
	for _, c := range cols {
		names[c.ID] = c.Name
	}
	return names
}

func formulaColumns(cols []Column) []formula.Column {
	out := make([]formula.Column, len(cols))
	for i, c := range cols {
		fc := formula.Column{ID: c.ID, Name: c.Name, Calculated: c.ColumnType == ColumnCalculated, DependsOn: c.Dependencies}
		if c.SourceField != nil {
			fc.SourceField = *c.SourceField
		}
		if c.Formula != nil {
			fc.Formula = *c.Formula
		}
		out[i] = fc
	}
	return out
}

// formulaInvalid turns the formula package's problems into the store's 422 vocabulary.
func formulaInvalid(field string, err error) error {
	var fe *formula.Error
	if !errors.As(err, &fe) {
		return err
	}
	ie := &InvalidError{Message: "invalid formula: " + fe.Error()}
	for _, p := range fe.Problems {
		reason := p.Reason
		if p.Ref != "" {
			reason = p.Ref + ": " + p.Reason
		}
		ie.Problems = append(ie.Problems, Problem{Field: field, Reason: reason})
	}
	return ie
}

// FormulaInput is a calculated column's formula as sent, with its optional dependencies list.
type FormulaInput struct {
	Source          string
	Dependencies    []string
	HasDependencies bool
	// Limits bound the column's static growth (zero: the defaults); see checkGrowth.
	Limits formula.Limits
}

// checkGrowth refuses (422, naming the chain) a calculated column selfID (0 while it is being
// created) with the stored formula res whose static growth bound (formula.CheckGrowth: the
// product of the repeats along its reference chains times the longest source value, which
// counts as the text limit) exceeds lim.MaxGrowth, and likewise for every column depending on
// it, whose bound grows with it.
func checkGrowth(lim formula.Limits, cols []Column, selfID int64, name string, res formula.Resolved) error {
	fcols := formulaColumns(cols)
	self := formula.Column{ID: selfID, Name: name, Calculated: true, DependsOn: res.Dependencies, Formula: res.Stored}
	if i := slices.IndexFunc(fcols, func(c formula.Column) bool { return c.ID == selfID }); selfID != 0 && i >= 0 {
		fcols[i] = self
	} else {
		fcols = append(fcols, self)
	}
	ids := []int64{selfID}
	if selfID != 0 {
		ids = append(ids, formula.Dependents(fcols, selfID)...)
	}
	return formulaInvalid("formula", formula.CheckGrowth(fcols, ids, lim))
}

func resolveFormula(in FormulaInput, cols []Column, selfID int64) (formula.Resolved, error) {
	fcols := formulaColumns(cols)
	res, err := formula.Resolve(in.Source, fcols, selfID)
	if err != nil {
		return res, formulaInvalid("formula", err)
	}
	if in.HasDependencies {
		if err := formula.CheckDependencies(in.Dependencies, res, fcols); err != nil {
			return res, formulaInvalid("dependencies", err)
		}
	}
	return res, nil
}

// CreateColumn adds a base column (col.DataSourceID set) or a calculated one (f non-nil) to the panel.
func (s *Store) CreateColumn(ctx context.Context, a Actor, panelID int64, col *Column, f *FormulaInput) (map[int64]string, error) {
	op := Operation("createBaseColumn")
	if f != nil {
		op = "createCalculatedColumn"
	}
	var names map[int64]string
	err := s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		// The panel lock serialises column changes of one panel: the cap and cycle checks see a stable set.
		p, err := panelAccess(ctx, tx, a, op, panelID, true)
		if err != nil {
			return err
		}
		cols, err := columnsOf(ctx, tx, p.TenantID, p.ID)
		if err != nil {
			return err
		}
		if len(cols) >= maxColumnsPerPanel {
			return invalid("panelId", fmt.Sprintf("a panel has at most %d columns", maxColumnsPerPanel))
		}
		col.TenantID, col.PanelID = a.TenantID, p.ID
		if err := checkTimeZone(col.Properties); err != nil {
			return err
		}
		if f != nil {
			res, err := resolveFormula(*f, cols, 0)
			if err != nil {
				return err
			}
			if err := checkGrowth(f.Limits, cols, 0, col.Name, res); err != nil {
				return err
			}
			col.ColumnType, col.Formula, col.Dependencies = ColumnCalculated, &res.Stored, res.Dependencies
		} else {
			col.ColumnType = ColumnBase
			if err := checkPanelDataSource(ctx, tx, p, *col.DataSourceID); err != nil {
				return err
			}
		}
		normalizeColumn(col)
		if _, err := tx.NewInsert().Model(col).Returning("*").Exec(ctx); err != nil {
			return err
		}
		names = columnNames(append(cols, *col))
		name := col.Name
		return record(ctx, tx, a, p, Change{ChangeType: ChangeColumnAdded, EntityType: EntityColumn, EntityID: col.ID,
			Action: ActionCreate, AffectedColumn: &name, Description: fmt.Sprintf("Column %q added", col.Name),
			NewValues: columnValues(col, names)})
	})
	return names, err
}

func checkPanelDataSource(ctx context.Context, db bun.IDB, p *Panel, dsID int64) error {
	ok, err := db.NewSelect().Model((*DataSource)(nil)).Where("ds.id = ?", dsID).
		Where("ds.panel_id = ?", p.ID).Where("ds.tenant_id = ?", p.TenantID).Exists(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return invalid("dataSourceId", fmt.Sprintf("data source %d does not belong to panel %d", dsID, p.ID))
	}
	return nil
}

func normalizeColumn(c *Column) {
	if c.Properties == nil {
		c.Properties = map[string]any{}
	}
	if c.Metadata == nil {
		c.Metadata = map[string]any{}
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
	if c.Dependencies == nil {
		c.Dependencies = []int64{}
	}
}

// ColumnPatch is a partial update of a column.
type ColumnPatch struct {
	Name          *string
	Type          *string
	SourceField   *string
	SetDataSource bool
	DataSourceID  *int64
	Formula       *FormulaInput // Source "" with HasDependencies: re-check dependencies of the stored formula
	Properties    map[string]any
	Metadata      map[string]any
	Tags          []string
}

// UpdateColumn applies patch to a column under the panel lock and records column_modified.
func (s *Store) UpdateColumn(ctx context.Context, a Actor, panelID, id int64, precondition func(*Column, map[int64]string) error, patch ColumnPatch) (*Column, map[int64]string, error) {
	var (
		out   *Column
		names map[int64]string
	)
	err := s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		p, err := panelAccess(ctx, tx, a, "updateColumn", panelID, true)
		if err != nil {
			return err
		}
		cols, err := columnsOf(ctx, tx, p.TenantID, p.ID)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(cols, func(c Column) bool { return c.ID == id })
		if i < 0 {
			return notFound(KindColumn)
		}
		col := &cols[i]
		if err := precondition(col, columnNames(cols)); err != nil {
			return err
		}
		before := *col
		beforeNames := columnNames(cols)
		if err := applyColumnPatch(ctx, tx, p, cols, col, patch); err != nil {
			return err
		}
		normalizeColumn(col) // a formula without references has nil dependencies: store '{}', not NULL
		names = columnNames(cols)
		out = col
		oldV, newV := diffValues(columnValues(&before, beforeNames), columnValues(col, names))
		if len(oldV) == 0 && len(newV) == 0 {
			return nil
		}
		if _, err := tx.NewUpdate().Model(col).
			Column("name", "type", "source_field", "data_source_id", "formula", "dependencies", "properties", "metadata", "tags").
			Set("updated_at = now()").WherePK().Where("col.tenant_id = ?", col.TenantID).Returning("updated_at").Exec(ctx); err != nil {
			return err
		}
		if p.HasViews && before.Name != col.Name && !nameShared(cols, col.ID, before.Name) {
			if err := renameViewReferences(ctx, tx, p.TenantID, p.ID, before.Name, col.Name); err != nil {
				return err
			}
		}
		name := col.Name
		ch, err := recordChange(ctx, tx, a, p, Change{ChangeType: ChangeColumnChanged, EntityType: EntityColumn, EntityID: col.ID,
			Action: ActionUpdate, AffectedColumn: &name, Description: fmt.Sprintf("Column %q modified", col.Name),
			OldValues: oldV, NewValues: newV})
		if err != nil || !p.HasViews { // without views there is nothing to rewrite or notify
			return err
		}
		return notifyViews(ctx, tx, a, p, ch, columnModified(col))
	})
	return out, names, err
}

// applyColumnPatch changes col (one of cols, the panel's columns) as patch asks, after checking
// that the fields apply to the column's kind, that a new data source is the panel's and that a new
// formula resolves and stays within its limits.
func applyColumnPatch(ctx context.Context, tx bun.IDB, p *Panel, cols []Column, col *Column, patch ColumnPatch) error {
	calculated := col.ColumnType == ColumnCalculated
	if calculated && (patch.SourceField != nil || patch.SetDataSource) {
		return invalid("sourceField", "sourceField and dataSourceId apply to base columns only")
	}
	if !calculated && patch.Formula != nil {
		return invalid("formula", "formula and dependencies apply to calculated columns only")
	}
	if patch.Name != nil {
		col.Name = *patch.Name
	}
	if patch.Type != nil {
		col.Type = *patch.Type
	}
	if patch.SourceField != nil {
		col.SourceField = patch.SourceField
	}
	if patch.SetDataSource {
		if patch.DataSourceID != nil {
			if err := checkPanelDataSource(ctx, tx, p, *patch.DataSourceID); err != nil {
				return err
			}
		}
		col.DataSourceID = patch.DataSourceID
	}
	if patch.Formula != nil {
		in := *patch.Formula
		if in.Source == "" {
			in.Source = *col.Formula
		}
		res, err := resolveFormula(in, cols, col.ID)
		if err != nil {
			return err
		}
		if err := checkGrowth(in.Limits, cols, col.ID, col.Name, res); err != nil {
			return err
		}
		col.Formula, col.Dependencies = &res.Stored, res.Dependencies
	}
	if patch.Properties != nil {
		// Only a zone the patch sends is checked: one saved before zones were read (when it was an
		// opaque property) must not block an unrelated change; the engine reads an unknown one as UTC.
		if err := checkTimeZone(patch.Properties); err != nil {
			return err
		}
		col.Properties = mergeProperties(col.Properties, patch.Properties)
	}
	if patch.Metadata != nil {
		col.Metadata = patch.Metadata
	}
	if patch.Tags != nil {
		col.Tags = patch.Tags
	}
	return nil
}

// maxTimeZone bounds properties.timeZone (the spec's maxLength).
const maxTimeZone = 64

// checkTimeZone refuses a properties.timeZone that is not an IANA time zone name this service
// knows (the tz database is compiled in, see store/rows): the rows engine would otherwise read the
// column's dates in UTC without a word. "Local" names the server's own zone, which no client can
// see, and is refused too; absent means UTC.
func checkTimeZone(props map[string]any) error {
	v, ok := props["timeZone"]
	if !ok {
		return nil
	}
	const field = "properties.timeZone"
	name, isText := v.(string)
	switch {
	case !isText:
		return invalid(field, "must be an IANA time zone name such as America/New_York")
	case name == "" || len(name) > maxTimeZone || name == "Local":
		return invalid(field, fmt.Sprintf("%q is not an IANA time zone name such as America/New_York", clip(name, maxTimeZone)))
	}
	if _, err := time.LoadLocation(name); err != nil {
		return invalid(field, fmt.Sprintf("%q is not a known IANA time zone (such as America/New_York)", clip(name, maxTimeZone)))
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// mergeProperties merges like the original service: top-level keys replace, `display` merges one level.
func mergeProperties(cur, patch map[string]any) map[string]any {
	out := make(map[string]any, len(cur)+len(patch))
	for k, v := range cur {
		out[k] = v
	}
	for k, v := range patch {
		if k == "display" {
			curD, ok1 := cur["display"].(map[string]any)
			newD, ok2 := v.(map[string]any)
			if ok1 && ok2 {
				merged := make(map[string]any, len(curD)+len(newD))
				for dk, dv := range curD {
					merged[dk] = dv
				}
				for dk, dv := range newD {
					merged[dk] = dv
				}
				out[k] = merged
				continue
			}
		}
		out[k] = v
	}
	return out
}

// DeleteColumn removes a column. Calculated columns depending on it block the delete (ConflictError)
// unless force is set: then they go too, transitively. References in views go with them.
func (s *Store) DeleteColumn(ctx context.Context, a Actor, panelID, id int64, force bool, precondition func(*Column, map[int64]string) error) error {
	return s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		p, err := panelAccess(ctx, tx, a, "deleteColumn", panelID, true)
		if err != nil {
			return err
		}
		cols, err := columnsOf(ctx, tx, p.TenantID, p.ID)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(cols, func(c Column) bool { return c.ID == id })
		if i < 0 {
			return notFound(KindColumn)
		}
		if err := precondition(&cols[i], columnNames(cols)); err != nil {
			return err
		}
		names := columnNames(cols)
		dependents := formula.Dependents(formulaColumns(cols), id)
		if len(dependents) > 0 && !force {
			ce := &ConflictError{Message: fmt.Sprintf("column %q is used by %d calculated column(s); delete them first or use force=true", cols[i].Name, len(dependents))}
			for _, d := range dependents {
				ce.Dependents = append(ce.Dependents, Dependent{ID: d, Name: names[d], Kind: "column"})
			}
			return ce
		}
		doomed := append([]int64{id}, dependents...)
		for _, d := range doomed {
			c := &cols[slices.IndexFunc(cols, func(c Column) bool { return c.ID == d })]
			name := c.Name
			desc := fmt.Sprintf("Column %q removed", c.Name)
			if d != id {
				desc = fmt.Sprintf("Column %q removed with column %q it depended on", c.Name, cols[i].Name)
			}
			ch, err := recordChange(ctx, tx, a, p, Change{ChangeType: ChangeColumnRemoved, EntityType: EntityColumn, EntityID: c.ID,
				Action: ActionDelete, AffectedColumn: &name, Description: desc, OldValues: columnValues(c, names)})
			if err != nil {
				return err
			}
			refs := []string{strconv.FormatInt(c.ID, 10)}
			if !slices.ContainsFunc(cols, func(o Column) bool { return o.Name == c.Name && !slices.Contains(doomed, o.ID) }) {
				refs = append(refs, c.Name) // no surviving column carries the name any more
			}
			// Before removeViewReferences: the affected views are those still referencing the column.
			if err := notifyViews(ctx, tx, a, p, ch, columnRemoved(c, refs)); err != nil {
				return err
			}
			if err := removeViewReferences(ctx, tx, p.TenantID, p.ID, refs); err != nil {
				return err
			}
		}
		_, err = tx.NewDelete().Model((*Column)(nil)).Where("tenant_id = ?", p.TenantID).Where("id IN (?)", bun.List(doomed)).Where("panel_id = ?", p.ID).Exec(ctx)
		return err
	})
}

// nameShared reports whether another column than id carries name (then name references stay).
func nameShared(cols []Column, id int64, name string) bool {
	return slices.ContainsFunc(cols, func(c Column) bool { return c.ID != id && c.Name == name })
}

// removeViewReferences drops references (ids as strings or names) from the panel's views.
func removeViewReferences(ctx context.Context, db bun.IDB, tenantID string, panelID int64, refs []string) error {
	if _, err := db.NewUpdate().Model((*View)(nil)).
		Set(`visible_columns = (SELECT COALESCE(jsonb_agg(e ORDER BY n), '[]'::jsonb)
			FROM jsonb_array_elements_text(view.visible_columns) WITH ORDINALITY AS t(e, n) WHERE e NOT IN (?))`, bun.List(refs)).
		Set("updated_at = now()").
		Where("view.tenant_id = ?", tenantID).Where("view.panel_id = ?", panelID).
		Where("EXISTS (SELECT 1 FROM jsonb_array_elements_text(view.visible_columns) AS r(e) WHERE r.e IN (?))", bun.List(refs)).
		Exec(ctx); err != nil {
		return err
	}
	for _, table := range []string{"view_sorts", "view_filters"} {
		if _, err := db.NewDelete().TableExpr(table).Where("view_id IN (SELECT id FROM views WHERE tenant_id = ? AND panel_id = ?)", tenantID, panelID).
			Where("column_name IN (?)", bun.List(refs)).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// renameViewReferences rewrites name references of the panel's views after a rename.
func renameViewReferences(ctx context.Context, db bun.IDB, tenantID string, panelID int64, from, to string) error {
	// One statement for the three tables: the sorts and filters of the panel's views are found
	// through views, which the visible-columns update does not move between panels.
	visible := db.NewUpdate().Model((*View)(nil)).
		Set(`visible_columns = (SELECT COALESCE(jsonb_agg(CASE WHEN e = ? THEN ? ELSE e END ORDER BY n), '[]'::jsonb)
			FROM jsonb_array_elements_text(view.visible_columns) WITH ORDINALITY AS t(e, n))`, from, to).
		Set("updated_at = now()").
		Where("view.tenant_id = ?", tenantID).Where("view.panel_id = ?", panelID).
		Where("EXISTS (SELECT 1 FROM jsonb_array_elements_text(view.visible_columns) AS r(e) WHERE r.e = ?)", from)
	sorts := db.NewUpdate().TableExpr("view_sorts").Set("column_name = ?", to).
		Where("view_id IN (SELECT id FROM views WHERE tenant_id = ? AND panel_id = ?)", tenantID, panelID).Where("column_name = ?", from)
	_, err := db.NewUpdate().With("visible", visible).With("sorts", sorts).
		TableExpr("view_filters").Set("column_name = ?", to).
		Where("view_id IN (SELECT id FROM views WHERE tenant_id = ? AND panel_id = ?)", tenantID, panelID).Where("column_name = ?", from).
		Exec(ctx)
	return err
}

// columnValues is what a change row records of a column; formulas are rendered by name.
func columnValues(c *Column, names map[int64]string) map[string]any {
	v := map[string]any{
		"name": c.Name, "type": c.Type, "columnType": c.ColumnType,
		"properties": c.Properties, "metadata": c.Metadata, "tags": c.Tags,
	}
	if c.ColumnType == ColumnBase {
		v["sourceField"] = c.SourceField
		v["dataSourceId"] = c.DataSourceID
	} else if c.Formula != nil {
		rendered, err := formula.Render(*c.Formula, names)
		if err != nil {
			rendered = *c.Formula
		}
		v["formula"] = rendered
	}
	return v
}
