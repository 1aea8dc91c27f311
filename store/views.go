package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"github.com/panels/panels/store/rows"
)

// View change types.
const (
	ChangeViewCreated     = "view_created"
	ChangeViewChanged     = "view_changed"
	ChangeViewDeleted     = "view_deleted"
	ChangeViewPublished   = "view_published"
	ChangeViewUnpublished = "view_unpublished"

	EntityView = "view"

	ActionPublish   = "publish"
	ActionUnpublish = "unpublish"
)

// viewAccess loads a view of the actor's tenant with the actor's permission in Level and applies
// op's requirement: a view the actor cannot read is ErrNotFound, exactly like a missing one.
func viewAccess(ctx context.Context, db bun.IDB, a Actor, op Operation, id int64, lock bool) (*View, error) {
	v := new(View)
	q := viewAccessQuery(db, a, id).Model(v)
	if lock {
		q = q.For("UPDATE OF view")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("view %d: %w", id, mapErrOf(KindView, err))
	}
	if err := authorize(op, v.Level, KindView); err != nil {
		return nil, fmt.Errorf("view %d: %w", id, err)
	}
	return v, nil
}

// viewAccessQuery selects the view of the actor's tenant with the actor's levels on it and on its
// panel; PlanRows runs it as part of a larger statement, so that both decide from the same SQL.
func viewAccessQuery(db bun.IDB, a Actor, id int64) *bun.SelectQuery {
	// The actor's level on the panel is computed once (pl) and read by both columns.
	panelExpr, panelArgs := panelDirectLevelExpr(a)
	expr, args := viewLevelExpr(a, "pl.level", nil)
	return db.NewSelect().Model((*View)(nil)).ColumnExpr("view.*").ColumnExpr("("+expr+") AS level", args...).
		ColumnExpr("pl.level AS panel_level").
		Join("JOIN panels AS panel ON panel.id = view.panel_id AND panel.tenant_id = view.tenant_id").
		Join("CROSS JOIN LATERAL (SELECT COALESCE("+panelExpr+", 0) AS level) AS pl", panelArgs...).
		Where("view.id = ?", id).Where("view.tenant_id = ?", a.TenantID)
}

// loadPanel reads a panel of the actor's tenant without any permission decision (the caller made it).
func loadPanel(ctx context.Context, db bun.IDB, a Actor, id int64) (*Panel, error) {
	p := new(Panel)
	if err := db.NewSelect().Model(p).Where("panel.id = ?", id).Where("panel.tenant_id = ?", a.TenantID).Scan(ctx); err != nil {
		return nil, fmt.Errorf("panel %d: %w", id, mapErrOf(KindPanel, err))
	}
	return p, nil
}

// Resource is the panel or view an ACL route names, with the actor's permission on it and the
// panel whose history records changes to it.
type Resource struct {
	Type  string // "panel" or "view"
	ID    int64
	Level Permission
	Panel *Panel
	View  *View // nil for panels
}

// resourceAccess loads an ACL route's resource for op; lock serialises changes to its ACL rows.
func resourceAccess(ctx context.Context, db bun.IDB, a Actor, op Operation, typ string, id int64, lock bool) (*Resource, error) {
	switch typ {
	case "panel":
		p, err := panelAccess(ctx, db, a, op, id, lock)
		if err != nil {
			return nil, err
		}
		return &Resource{Type: typ, ID: id, Level: p.Level, Panel: p}, nil
	case "view":
		v, err := viewAccess(ctx, db, a, op, id, lock)
		if err != nil {
			return nil, err
		}
		p, err := loadPanel(ctx, db, a, v.PanelID)
		if err != nil {
			return nil, err
		}
		return &Resource{Type: typ, ID: id, Level: v.Level, Panel: p, View: v}, nil
	}
	return nil, notFound("resource type " + strconv.Quote(typ))
}

// resolveColumnRef finds the column a view reference names: a column id as a decimal string wins
// over a name; a name shared by several columns is ambiguous.
func resolveColumnRef(cols []Column, ref string) (*Column, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		if i := slices.IndexFunc(cols, func(c Column) bool { return c.ID == id }); i >= 0 {
			return &cols[i], nil
		}
	}
	var found *Column
	for i := range cols {
		if cols[i].Name == ref {
			if found != nil {
				return nil, errors.New("ambiguous column name, use the column id")
			}
			found = &cols[i]
		}
	}
	if found == nil {
		return nil, errors.New("no such column on the panel")
	}
	return found, nil
}

// checkColumnRefs collects a problem for every reference that does not resolve on the panel.
func checkColumnRefs(ctx context.Context, db bun.IDB, tenantID string, panelID int64, field string, refs []string) error {
	if len(refs) == 0 {
		return nil
	}
	// Column changes hold the panel row FOR UPDATE while they rename and rewrite views; sharing
	// that lock until commit keeps a view from being saved with a name renamed meanwhile.
	if _, err := db.NewSelect().Table("panels").Column("id").Where("tenant_id = ?", tenantID).Where("id = ?", panelID).
		For("SHARE").Exec(ctx); err != nil {
		return err
	}
	cols, err := columnsOf(ctx, db, tenantID, panelID)
	if err != nil {
		return err
	}
	ie := &InvalidError{Message: "unknown or ambiguous column reference"}
	for i, ref := range refs {
		if _, err := resolveColumnRef(cols, ref); err != nil {
			ie.Problems = append(ie.Problems, Problem{Field: fmt.Sprintf("%s[%d]", field, i), Reason: fmt.Sprintf("%q: %v", ref, err)})
		}
	}
	if len(ie.Problems) > 0 {
		ie.Message = ie.Problems[0].Field + ": " + ie.Problems[0].Reason
		return ie
	}
	return nil
}

// loadViewDetails fills the sorts (by order) and filters (by position) of views.
func loadViewDetails(ctx context.Context, db bun.IDB, views []*View) error {
	if len(views) == 0 {
		return nil
	}
	ids := make([]int64, len(views))
	for i, v := range views {
		ids[i] = v.ID
	}
	var sorts []ViewSort
	if err := db.NewSelect().Model(&sorts).Where("vs.view_id IN (?)", bun.List(ids)).
		OrderExpr(viewSortOrder).Scan(ctx); err != nil {
		return mapErr(err)
	}
	var filters []ViewFilter
	if err := db.NewSelect().Model(&filters).Where("vf.view_id IN (?)", bun.List(ids)).
		OrderExpr(viewFilterOrder).Scan(ctx); err != nil {
		return mapErr(err)
	}
	attachViewDetails(views, sorts, filters)
	return nil
}

// The orders of a view's sorts and filters (aliases vs and vf), which attachViewDetails expects.
const (
	viewSortOrder   = "vs.sort_order, vs.id"
	viewFilterOrder = "vf.position, vf.id"
)

// attachViewDetails hands each view its sorts and its filter tree, from the rows of the views'
// sorts and filters in their orders.
func attachViewDetails(views []*View, sorts []ViewSort, filters []ViewFilter) {
	byID := make(map[int64]*View, len(views))
	for _, v := range views {
		byID[v.ID] = v
		v.Sorts, v.Filters = []ViewSort{}, []ViewFilter{}
	}
	for _, s := range sorts {
		byID[s.ViewID].Sorts = append(byID[s.ViewID].Sorts, s)
	}
	byView := map[int64][]ViewFilter{}
	for _, f := range filters {
		byView[f.ViewID] = append(byView[f.ViewID], f)
	}
	for id, fs := range byView {
		byID[id].Filters = filterTree(fs, nil)
	}
}

// filterTree assembles the filters whose parent is parent (nil: top level), in position order,
// with their children; rows arrive ordered by position.
func filterTree(rows []ViewFilter, parent *int64) []ViewFilter {
	out := []ViewFilter{}
	for _, f := range rows {
		if (f.ParentID == nil) != (parent == nil) || parent != nil && *f.ParentID != *parent {
			continue
		}
		if f.Operator == FilterGroup {
			f.Children = filterTree(rows, &f.ID)
		}
		out = append(out, f)
	}
	return out
}

// ViewListFilter selects views.
type ViewListFilter struct {
	PanelID   int64
	Published *bool
	Limit     int
	Offset    int
	After     *ViewCursor
}

// ViewCursor is a keyset position in the most-recently-updated-first view order.
type ViewCursor struct {
	UpdatedAt time.Time
	ID        int64
}

// ViewPage is one page of views.
type ViewPage struct {
	Views       []*View
	Total       int
	TotalCapped bool
	HasMore     bool
}

// ListViews returns the views the actor can read, most recently updated first.
func (s *Store) ListViews(ctx context.Context, a Actor, f ViewListFilter) (ViewPage, error) {
	filters := func(q *bun.SelectQuery) *bun.SelectQuery {
		if f.PanelID != 0 {
			q = q.Where("view.panel_id = ?", f.PanelID)
		}
		if f.Published != nil {
			q = q.Where("view.is_published = ?", *f.Published)
		}
		return q
	}
	var page ViewPage
	panelExpr, panelArgs := panelDirectLevelExpr(a)
	expr, args := viewLevelExpr(a, panelExpr, panelArgs)
	// The panel is joined for the level of the page's views only; the count needs no join.
	q := visibleViews(s.db.NewSelect().Model(&page.Views).ColumnExpr("view.*").ColumnExpr("("+expr+") AS level", args...).
		Join("JOIN panels AS panel ON panel.id = view.panel_id AND panel.tenant_id = view.tenant_id"), a).
		Apply(filters).OrderExpr("view.updated_at DESC, view.id DESC").Limit(int64(f.Limit + 1))
	if f.After != nil {
		q = q.Where("(view.updated_at, view.id) < (?, ?)", f.After.UpdatedAt, f.After.ID)
	} else if f.Offset > 0 {
		q = q.Offset(int64(f.Offset))
	}
	if err := q.Scan(ctx); err != nil {
		return ViewPage{}, mapErr(err)
	}
	if len(page.Views) > f.Limit {
		page.HasMore, page.Views = true, page.Views[:f.Limit]
	}
	if page.Views == nil {
		page.Views = []*View{}
	}
	if err := loadViewDetails(ctx, s.db, page.Views); err != nil {
		return ViewPage{}, err
	}
	var count *bun.SelectQuery
	switch {
	case a.Admin:
		// In the list's order, the count walks an index and stops after totalCap+1 entries (see
		// ListChanges).
		count = countableViews(s.db.NewSelect().Model((*View)(nil)), a).Apply(filters).OrderExpr("view.updated_at DESC")
	case f.PanelID == 0 && f.Published == nil:
		// Every readable view is one of the tenant's: counting the ids is enough.
		ids, args := readableViewsSQL(a)
		count = s.db.NewSelect().TableExpr("("+ids+") AS readable", args...)
	default:
		// A plain user's views are looked up by id (countableViews) for the filters.
		count = countableViews(s.db.NewSelect().Model((*View)(nil)), a).Apply(filters)
	}
	total, capped, err := cappedCount(ctx, s.db, count)
	if err != nil {
		return ViewPage{}, err
	}
	page.Total, page.TotalCapped = total, capped
	return page, nil
}

// GetView returns a readable view with its sorts and filters, for op (getView, getViewSorts or
// getViewFilters).
func (s *Store) GetView(ctx context.Context, a Actor, op Operation, id int64) (*View, error) {
	v, err := viewAccess(ctx, s.db, a, op, id, false)
	if err != nil {
		return nil, err
	}
	return v, loadViewDetails(ctx, s.db, []*View{v})
}

// CreateView creates a view owned by the actor on a panel the actor can read.
func (s *Store) CreateView(ctx context.Context, a Actor, v *View) error {
	return s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		p, err := panelAccess(ctx, tx, a, "createView", v.PanelID, false)
		if err != nil {
			return err
		}
		if err := checkColumnRefs(ctx, tx, p.TenantID, p.ID, "visibleColumns", v.VisibleColumns); err != nil {
			return err
		}
		v.TenantID, v.OwnerUserID = a.TenantID, a.UserID
		v.IsPublished, v.PublishedAt, v.PublishedBy = false, nil, nil
		if v.Metadata == nil {
			v.Metadata = map[string]any{}
		}
		if v.VisibleColumns == nil {
			v.VisibleColumns = []string{}
		}
		if _, err := tx.NewInsert().Model(v).Returning("*").Exec(ctx); err != nil {
			return err
		}
		owner := &ACL{TenantID: a.TenantID, ResourceType: "view", ResourceID: v.ID, ViewID: &v.ID,
			UserEmail: a.ownerPrincipal(), Permission: "owner", Creator: true}
		if _, err := tx.NewInsert().Model(owner).Exec(ctx); err != nil {
			return err
		}
		v.Level, v.Sorts, v.Filters = PermOwner, []ViewSort{}, []ViewFilter{}
		return record(ctx, tx, a, p, Change{ChangeType: ChangeViewCreated, EntityType: EntityView, EntityID: v.ID,
			Action: ActionCreate, Description: fmt.Sprintf("View %q created", v.Name), NewValues: viewValues(v)})
	})
}

// ViewPatch is a partial update of a view; nil fields keep their values.
type ViewPatch struct {
	Name           *string
	VisibleColumns []string
	Metadata       map[string]any
	// EchoedUserID is a userId the body carried: see checkEcho.
	EchoedUserID *string
}

// mutateView runs change on a locked view once op allows the actor and precondition holds, then
// moves its updated_at and records changeType when change reports a difference.
func (s *Store) mutateView(ctx context.Context, a Actor, op Operation, id int64, precondition func(*View) error,
	change func(ctx context.Context, tx bun.Tx, v *View) (Change, bool, error)) (*View, error) {
	var out *View
	err := s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		v, err := viewAccess(ctx, tx, a, op, id, true)
		if err != nil {
			return err
		}
		if err := loadViewDetails(ctx, tx, []*View{v}); err != nil {
			return err
		}
		if err := precondition(v); err != nil {
			return err
		}
		c, changed, err := change(ctx, tx, v)
		if err != nil {
			return err
		}
		out = v
		if !changed {
			return nil
		}
		if _, err := tx.NewUpdate().Model(v).
			Column("name", "visible_columns", "metadata", "is_published", "published_at", "published_by").
			Set("updated_at = now()").WherePK().Where("view.tenant_id = ?", v.TenantID).Returning("updated_at").Exec(ctx); err != nil {
			return err
		}
		p, err := loadPanel(ctx, tx, a, v.PanelID)
		if err != nil {
			return err
		}
		c.EntityType, c.EntityID = EntityView, v.ID
		return record(ctx, tx, a, p, c)
	})
	return out, err
}

// UpdateView applies patch to a view.
func (s *Store) UpdateView(ctx context.Context, a Actor, id int64, precondition func(*View) error, patch ViewPatch) (*View, error) {
	return s.mutateView(ctx, a, "updateView", id, precondition, func(ctx context.Context, tx bun.Tx, v *View) (Change, bool, error) {
		if err := checkEcho(a, patch.EchoedUserID, v.OwnerUserID); err != nil {
			return Change{}, false, err
		}
		if patch.VisibleColumns != nil {
			if err := needPanelColumns(v, "changing a view's visible columns"); err != nil {
				return Change{}, false, err
			}
		}
		before := viewValues(v)
		if patch.Name != nil {
			v.Name = *patch.Name
		}
		if patch.VisibleColumns != nil {
			if err := checkColumnRefs(ctx, tx, v.TenantID, v.PanelID, "visibleColumns", patch.VisibleColumns); err != nil {
				return Change{}, false, err
			}
			v.VisibleColumns = patch.VisibleColumns
		}
		if patch.Metadata != nil {
			v.Metadata = patch.Metadata
		}
		oldV, newV := diffValues(before, viewValues(v))
		return Change{ChangeType: ChangeViewChanged, Action: ActionUpdate, Description: fmt.Sprintf("View %q changed", v.Name),
			OldValues: oldV, NewValues: newV}, len(oldV)+len(newV) > 0, nil
	})
}

// ReplaceSorts replaces every sort of a view atomically.
func (s *Store) ReplaceSorts(ctx context.Context, a Actor, id int64, precondition func(*View) error, sorts []ViewSort) (*View, error) {
	return s.mutateView(ctx, a, "replaceViewSorts", id, precondition, func(ctx context.Context, tx bun.Tx, v *View) (Change, bool, error) {
		if err := needPanelColumns(v, "changing a view's sorts"); err != nil {
			return Change{}, false, err
		}
		refs := make([]string, len(sorts))
		for i, so := range sorts {
			refs[i] = so.ColumnName
		}
		if err := checkColumnRefs(ctx, tx, v.TenantID, v.PanelID, "sorts.columnName", refs); err != nil {
			return Change{}, false, err
		}
		old := sortValues(v.Sorts)
		if _, err := tx.NewDelete().Model((*ViewSort)(nil)).Where("view_id = ?", v.ID).Exec(ctx); err != nil {
			return Change{}, false, err
		}
		for i := range sorts {
			sorts[i].ID, sorts[i].ViewID = 0, v.ID
		}
		if len(sorts) > 0 {
			if _, err := tx.NewInsert().Model(&sorts).Returning("*").Exec(ctx); err != nil {
				return Change{}, false, err
			}
		}
		slices.SortStableFunc(sorts, func(x, y ViewSort) int { return x.Order - y.Order })
		v.Sorts = append([]ViewSort{}, sorts...)
		return Change{ChangeType: ChangeViewChanged, Action: ActionUpdate, Description: fmt.Sprintf("Sorts of view %q replaced", v.Name),
			OldValues: map[string]any{"sorts": old}, NewValues: map[string]any{"sorts": sortValues(v.Sorts)}}, true, nil
	})
}

// ReplaceFilters replaces every filter of a view atomically.
func (s *Store) ReplaceFilters(ctx context.Context, a Actor, id int64, precondition func(*View) error, filters []ViewFilter) (*View, error) {
	return s.mutateView(ctx, a, "replaceViewFilters", id, precondition, func(ctx context.Context, tx bun.Tx, v *View) (Change, bool, error) {
		if err := needPanelColumns(v, "changing a view's filters"); err != nil {
			return Change{}, false, err
		}
		var refs []string
		ie := &InvalidError{Message: "invalid filter"}
		count := 0
		var check func(fs []ViewFilter, field string, depth int)
		check = func(fs []ViewFilter, field string, depth int) {
			for i, f := range fs {
				at := fmt.Sprintf("%s[%d]", field, i)
				count++
				if f.Operator != FilterGroup {
					refs = append(refs, f.ColumnName)
					if reason := filterValueProblem(f.Operator, f.Value); reason != "" {
						ie.Problems = append(ie.Problems, Problem{Field: at + ".value", Reason: reason})
					}
					continue
				}
				if depth >= MaxFilterDepth {
					ie.Problems = append(ie.Problems, Problem{Field: at, Reason: fmt.Sprintf("filter groups nest at most %d levels deep", MaxFilterDepth)})
					continue
				}
				check(f.Children, at+".filters", depth+1)
			}
		}
		check(filters, "filters", 0)
		if count > MaxFilters {
			ie.Problems = append(ie.Problems, Problem{Field: "filters", Reason: fmt.Sprintf("at most %d filters and groups in all", MaxFilters)})
		}
		if len(ie.Problems) > 0 {
			ie.Message = ie.Problems[0].Field + ": " + ie.Problems[0].Reason
			return Change{}, false, ie
		}
		if err := checkColumnRefs(ctx, tx, v.TenantID, v.PanelID, "filters.columnName", refs); err != nil {
			return Change{}, false, err
		}
		old := filterValues(v.Filters)
		if _, err := tx.NewDelete().Model((*ViewFilter)(nil)).Where("view_id = ?", v.ID).Exec(ctx); err != nil {
			return Change{}, false, err
		}
		saved, err := insertFilters(ctx, tx, v.ID, nil, filters)
		if err != nil {
			return Change{}, false, err
		}
		v.Filters = saved
		return Change{ChangeType: ChangeViewChanged, Action: ActionUpdate, Description: fmt.Sprintf("Filters of view %q replaced", v.Name),
			OldValues: map[string]any{"filters": old}, NewValues: map[string]any{"filters": filterValues(v.Filters)}}, true, nil
	})
}

// SetPublished publishes or unpublishes a view.
func (s *Store) SetPublished(ctx context.Context, a Actor, id int64, precondition func(*View) error, publish bool) (*View, error) {
	op := Operation("unpublishView")
	if publish {
		op = "publishView"
	}
	return s.mutateView(ctx, a, op, id, precondition, func(_ context.Context, _ bun.Tx, v *View) (Change, bool, error) {
		if v.IsPublished == publish {
			return Change{}, false, nil
		}
		v.IsPublished = publish
		c := Change{ChangeType: ChangeViewUnpublished, Action: ActionUnpublish, Description: fmt.Sprintf("View %q unpublished", v.Name),
			OldValues: map[string]any{"isPublished": true, "publishedBy": v.PublishedBy}, NewValues: map[string]any{"isPublished": false}}
		v.PublishedAt, v.PublishedBy = nil, nil
		if publish {
			now, by := time.Now().UTC(), a.UserID
			v.PublishedAt, v.PublishedBy = &now, &by
			c = Change{ChangeType: ChangeViewPublished, Action: ActionPublish, Description: fmt.Sprintf("View %q published", v.Name),
				OldValues: map[string]any{"isPublished": false}, NewValues: map[string]any{"isPublished": true, "publishedBy": by}}
		}
		return c, true, nil
	})
}

// DeleteView removes a view; its sorts, filters, notifications and ACL rows go with it (cascades).
func (s *Store) DeleteView(ctx context.Context, a Actor, id int64, precondition func(*View) error) error {
	return s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		v, err := viewAccess(ctx, tx, a, "deleteView", id, true)
		if err != nil {
			return err
		}
		if err := precondition(v); err != nil {
			return err
		}
		p, err := loadPanel(ctx, tx, a, v.PanelID)
		if err != nil {
			return err
		}
		if err := record(ctx, tx, a, p, Change{ChangeType: ChangeViewDeleted, EntityType: EntityView, EntityID: v.ID,
			Action: ActionDelete, Description: fmt.Sprintf("View %q deleted", v.Name), OldValues: viewValues(v)}); err != nil {
			return err
		}
		_, err = tx.NewDelete().Model(v).WherePK().Where("view.tenant_id = ?", v.TenantID).Exec(ctx)
		return err
	})
}

// needPanelColumns refuses a change of the columns a view names (visible, sorted, filtered) to
// an editor of the view who cannot read its panel: naming another column would show it, or let
// filters probe it, to every reader of the view, the editor included.
func needPanelColumns(v *View, action string) error {
	if v.PanelLevel < PermViewer {
		return Forbidden("%s needs viewer permission on its panel; you have %s", action, v.PanelLevel)
	}
	return nil
}

// filterValueProblem says why a filter value does not fit its operator ("" when it fits).
func filterValueProblem(op string, value any) string {
	scalar := func(x any) bool {
		switch x.(type) {
		case string, bool, float64, int, int64, interface{ String() string }:
			return true
		}
		return false
	}
	list, isList := value.([]any)
	switch op {
	case "isNull", "isNotNull", "isEmpty", "isNotEmpty":
		if value != nil {
			return op + " takes no value"
		}
	case "containsAny", "containsAll":
		isText := func(x any) bool { _, ok := x.(string); return ok }
		if !isList || len(list) == 0 || len(list) > MaxFilterValues || slices.ContainsFunc(list, func(x any) bool { return !isText(x) }) {
			return fmt.Sprintf("%s needs a list of 1 to %d texts", op, MaxFilterValues)
		}
	case "isWithin", "before", "after", "onOrBefore", "onOrAfter":
		if _, err := rows.ParseDateSpec(op, value); err != nil {
			return err.Error()
		}
	case "in", "notIn":
		if !isList || len(list) == 0 || !slices.ContainsFunc(list, scalar) || slices.ContainsFunc(list, func(x any) bool { return !scalar(x) }) {
			return op + " needs a non-empty list of values"
		}
	case "between":
		if !isList || len(list) != 2 || !scalar(list[0]) || !scalar(list[1]) {
			return "between needs a list of exactly two values"
		}
	case "contains", "startsWith", "endsWith", "notContains":
		if _, ok := value.(string); !ok {
			return op + " needs a text value"
		}
	default:
		if value == nil || !scalar(value) {
			return op + " needs a single value"
		}
	}
	return ""
}

func viewValues(v *View) map[string]any {
	return map[string]any{"name": v.Name, "visibleColumns": v.VisibleColumns, "metadata": v.Metadata}
}

func sortValues(sorts []ViewSort) []map[string]any {
	out := make([]map[string]any, len(sorts))
	for i, s := range sorts {
		out[i] = map[string]any{"columnName": s.ColumnName, "direction": s.Direction, "order": s.Order}
	}
	return out
}

func filterValues(filters []ViewFilter) []map[string]any {
	out := make([]map[string]any, len(filters))
	for i, f := range filters {
		if f.Operator == FilterGroup {
			out[i] = map[string]any{"conjunction": *f.Conjunction, "filters": filterValues(f.Children), "logicalOperator": f.LogicalOperator}
			continue
		}
		out[i] = map[string]any{"columnName": f.ColumnName, "operator": f.Operator, "value": f.Value, "logicalOperator": f.LogicalOperator}
	}
	return out
}

// Filter groups: the operator of a group row, how deep groups nest and how many filters and
// groups a view holds in all.
const (
	FilterGroup    = "group"
	MaxFilterDepth = 3
	MaxFilters     = 100
	// MaxFilterValues bounds the list of containsAny and containsAll.
	MaxFilterValues = 100
)

// insertFilters saves a list of filters under parent, groups before their children (a child
// needs its group's id), and returns them as saved.
func insertFilters(ctx context.Context, tx bun.Tx, viewID int64, parent *int64, filters []ViewFilter) ([]ViewFilter, error) {
	saved := make([]ViewFilter, len(filters))
	for i, f := range filters {
		f.ID, f.ViewID, f.Position, f.ParentID, f.Children = 0, viewID, i, parent, nil
		if f.LogicalOperator == "" {
			f.LogicalOperator = "and"
		}
		if f.Operator == FilterGroup {
			f.ColumnName, f.Value = "", nil
			if f.Conjunction == nil {
				and := "and"
				f.Conjunction = &and
			}
		} else {
			f.Conjunction = nil
		}
		saved[i] = f
	}
	if len(saved) > 0 {
		if _, err := tx.NewInsert().Model(&saved).Returning("*").Exec(ctx); err != nil {
			return nil, err
		}
	}
	for i, f := range filters {
		if saved[i].Operator != FilterGroup {
			continue
		}
		kids, err := insertFilters(ctx, tx, viewID, &saved[i].ID, f.Children)
		if err != nil {
			return nil, err
		}
		saved[i].Children = kids
	}
	return saved, nil
}
