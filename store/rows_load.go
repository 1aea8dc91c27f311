package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/uptrace/bun"
)

// rowsDefs is what a rows request reads before it touches records: the panel and the view with
// the actor's levels on them, the panel's columns and sources, the view's sorts and filters.
type rowsDefs struct {
	panel   *Panel
	view    *View // nil without a viewId
	cols    []Column
	sources []int64 // ascending: the primary source is the lowest id
}

// rowsDefsRow is loadRowsDefs' one row: the panel and the view as the access queries select
// them, scanned by Bun into their models, and the lists as JSON arrays of their rows (one
// subquery each: PostgreSQL plans those as cheaply as the separate queries, where joining the
// lists into rows costs more planning than the round trips it saves).
type rowsDefsRow struct {
	Panel   Panel           `bun:"embed:p__"`
	Cols    json.RawMessage `bun:"cols"`
	Sources []int64         `bun:"sources,array"`
	HasView bool            `bun:"has_view"`
	View    View            `bun:"embed:v__"`
	Sorts   json.RawMessage `bun:"sorts"`
	Filters json.RawMessage `bun:"filters"`
}

// loadRowsDefs reads the definitions of a rows request in one statement (one round trip instead
// of three, six with a view), then makes panelAccess's and viewAccess's decisions, in their
// order and with their errors, from the same access SQL (panelAccessQuery, viewAccessQuery).
// The view and the lists are read whatever the decisions and dropped on a refusal: nothing
// leaves this function unless the actor may read it. viewID 0: no view.
func loadRowsDefs(ctx context.Context, db bun.IDB, a Actor, op Operation, panelID, viewID int64) (*rowsDefs, error) {
	// OFFSET 0 keeps each access query a subquery of its own, planned apart: pulled up into one
	// join with the other's relations, the view's statement took a third longer to plan.
	q := db.NewSelect().TableExpr("(? OFFSET 0) AS p", panelAccessQuery(db, a, panelID))
	for _, c := range modelColumnsAs(db, (*Panel)(nil), "p", "p__", "level") {
		q = q.ColumnExpr(c)
	}
	q = q.ColumnExpr(`(SELECT json_agg(col ORDER BY `+columnOrder+`) FROM columns AS col
			WHERE col.tenant_id = ? AND col.panel_id = p.id) AS cols`, a.TenantID).
		ColumnExpr(`(SELECT array_agg(ds.id ORDER BY ds.id) FROM data_sources AS ds
			WHERE ds.tenant_id = ? AND ds.panel_id = p.id) AS sources`, a.TenantID)
	if viewID != 0 {
		// Sorts and filters have no tenant_id: they are reached through the view as viewAccess
		// selects it, scoped to the tenant.
		q = q.Join("LEFT JOIN LATERAL (? OFFSET 0) AS v ON true", viewAccessQuery(db, a, viewID)).
			ColumnExpr("v.id IS NOT NULL AS has_view").
			ColumnExpr(`(SELECT json_agg(vs ORDER BY ` + viewSortOrder + `) FROM view_sorts AS vs WHERE vs.view_id = v.id) AS sorts`).
			ColumnExpr(`(SELECT json_agg(vf ORDER BY ` + viewFilterOrder + `) FROM view_filters AS vf WHERE vf.view_id = v.id) AS filters`)
		for _, c := range modelColumnsAs(db, (*View)(nil), "v", "v__", "level", "panel_level") {
			q = q.ColumnExpr(c)
		}
	}
	if pool, ok := db.(*bun.DB); ok {
		// Outside a transaction: the same text comes back on every page and poll of the view.
		q = q.Conn(preparedConn{pool.DB})
	}
	var r rowsDefsRow
	if err := q.Scan(ctx, &r); err != nil { // no row: no panel, as panelAccess says it
		return nil, fmt.Errorf("panel %d: %w", panelID, mapErrOf(KindPanel, err))
	}
	d := &rowsDefs{panel: &r.Panel, sources: r.Sources}
	if err := authorize(op, d.panel.Level, KindPanel); err != nil {
		return nil, fmt.Errorf("panel %d: %w", panelID, err)
	}
	if viewID != 0 {
		if !r.HasView {
			return nil, fmt.Errorf("view %d: %w", viewID, notFound(KindView))
		}
		d.view = &r.View
		if err := authorize(op, d.view.Level, KindView); err != nil {
			return nil, fmt.Errorf("view %d: %w", viewID, err)
		}
	}
	var err error
	if d.cols, err = decodeRowsJSON[columnRow, Column](r.Cols); err != nil {
		return nil, err
	}
	if d.view != nil {
		sorts, err := decodeRowsJSON[viewSortRow, ViewSort](r.Sorts)
		if err != nil {
			return nil, err
		}
		filters, err := decodeRowsJSON[viewFilterRow, ViewFilter](r.Filters)
		if err != nil {
			return nil, err
		}
		attachViewDetails([]*View{d.view}, sorts, filters)
	}
	return d, nil
}

// modelColumnsAs selects the table columns of model (a nil pointer to a model struct), and the
// computed columns extra, from alias as prefix+name: the names rowsDefsRow's embedded fields
// scan.
func modelColumnsAs(db bun.IDB, model any, alias, prefix string, extra ...string) []string {
	t := db.Dialect().Tables().Get(reflect.TypeOf(model).Elem())
	names := make([]string, 0, len(t.Fields)+len(extra))
	for _, f := range t.Fields {
		names = append(names, f.Name)
	}
	out := make([]string, 0, len(names))
	for _, n := range append(names, extra...) {
		out = append(out, alias+`."`+n+`" AS "`+prefix+n+`"`)
	}
	return out
}

// decodeRowsJSON decodes a json_agg of table rows (NULL: none) into models, through J, the
// rows' JSON form. Numbers inside JSON values stay json.Number, as Bun's json_use_number scans
// them.
func decodeRowsJSON[J interface{ model() M }, M any](b json.RawMessage) ([]M, error) {
	out := []M{}
	if len(b) == 0 || string(b) == "null" {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var rows []J
	if err := dec.Decode(&rows); err != nil {
		return nil, fmt.Errorf("rows definitions: %w", err)
	}
	for _, r := range rows {
		out = append(out, r.model())
	}
	return out, nil
}

// columnRow, viewSortRow and viewFilterRow are rows of columns, view_sorts and view_filters as
// row_to_json writes them (keys are the column names). Each lists every column of its model:
// TestRowsDefsMatchTheSeparateQueries compares the models with those Bun scans.
type columnRow struct {
	ID           int64          `json:"id"`
	TenantID     string         `json:"tenant_id"`
	PanelID      int64          `json:"panel_id"`
	ColumnType   string         `json:"column_type"`
	Name         string         `json:"name"`
	Type         string         `json:"type"`
	SourceField  *string        `json:"source_field"`
	DataSourceID *int64         `json:"data_source_id"`
	Formula      *string        `json:"formula"`
	Dependencies []int64        `json:"dependencies"`
	Properties   map[string]any `json:"properties"`
	Metadata     map[string]any `json:"metadata"`
	Tags         []string       `json:"tags"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
}

func (r columnRow) model() Column {
	return Column{ID: r.ID, TenantID: r.TenantID, PanelID: r.PanelID, ColumnType: r.ColumnType, Name: r.Name, Type: r.Type,
		SourceField: r.SourceField, DataSourceID: r.DataSourceID, Formula: r.Formula, Dependencies: r.Dependencies,
		Properties: r.Properties, Metadata: r.Metadata, Tags: r.Tags, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

type viewSortRow struct {
	ID         int64  `json:"id"`
	ViewID     int64  `json:"view_id"`
	ColumnName string `json:"column_name"`
	Direction  string `json:"direction"`
	Order      int    `json:"sort_order"`
}

func (r viewSortRow) model() ViewSort {
	return ViewSort{ID: r.ID, ViewID: r.ViewID, ColumnName: r.ColumnName, Direction: r.Direction, Order: r.Order}
}

type viewFilterRow struct {
	ID              int64   `json:"id"`
	ViewID          int64   `json:"view_id"`
	ColumnName      string  `json:"column_name"`
	Operator        string  `json:"operator"`
	Value           any     `json:"value"`
	LogicalOperator string  `json:"logical_operator"`
	Position        int     `json:"position"`
	ParentID        *int64  `json:"parent_id"`
	Conjunction     *string `json:"conjunction"`
}

func (r viewFilterRow) model() ViewFilter {
	return ViewFilter{ID: r.ID, ViewID: r.ViewID, ColumnName: r.ColumnName, Operator: r.Operator, Value: r.Value,
		LogicalOperator: r.LogicalOperator, Position: r.Position, ParentID: r.ParentID, Conjunction: r.Conjunction}
}
