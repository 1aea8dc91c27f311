package server

import (
	"context"
	"net/http"
	"strconv"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/store"
)

// ListColumns lists a readable panel's base and calculated columns.
func (s *Server) ListColumns(ctx context.Context, req gen.ListColumnsRequestObject) (gen.ListColumnsResponseObject, error) {
	set, err := s.store.ListColumns(ctx, actorFrom(ctx), req.PanelId, req.Params.Ids, req.Params.Tags)
	if err != nil {
		return nil, err
	}
	out := gen.ListColumns200JSONResponse{BaseColumns: []gen.Column{}, CalculatedColumns: []gen.Column{}}
	for i := range set.Columns {
		c := columnToAPI(&set.Columns[i], set.Names)
		if set.Columns[i].ColumnType == store.ColumnBase {
			out.BaseColumns = append(out.BaseColumns, c)
		} else {
			out.CalculatedColumns = append(out.CalculatedColumns, c)
		}
	}
	return out, nil
}

// GetColumn returns one column of a readable panel.
func (s *Server) GetColumn(ctx context.Context, req gen.GetColumnRequestObject) (gen.GetColumnResponseObject, error) {
	col, names, err := s.store.GetColumn(ctx, actorFrom(ctx), req.PanelId, req.ColumnId)
	if err != nil {
		return nil, err
	}
	resp, err := prepareJSON(http.StatusOK, columnToAPI(col, names))
	if err == nil && notModified(req.Params.IfNoneMatch, resp.etag) {
		return gen.GetColumn304Response{Headers: gen.NotModifiedResponseHeaders{ETag: &resp.etag}}, nil
	}
	return resp, err
}

// CreateBaseColumn adds a column reading a field of one of the panel's data sources.
func (s *Server) CreateBaseColumn(ctx context.Context, req gen.CreateBaseColumnRequestObject) (gen.CreateBaseColumnResponseObject, error) {
	b := req.Body
	sf, ds := b.SourceField, b.DataSourceId
	col := &store.Column{Name: b.Name, Type: string(b.Type), SourceField: &sf, DataSourceID: &ds,
		Properties: nonNilMap(b.Properties), Metadata: mapOrEmpty(b.Metadata), Tags: tagsOf(b.Tags)}
	body, etag, loc, err := s.createColumn(ctx, req.PanelId, col, nil)
	if err != nil {
		return nil, err
	}
	return gen.CreateBaseColumn201JSONResponse{Body: body, Headers: gen.CreateBaseColumn201ResponseHeaders{ETag: &etag, Location: &loc}}, nil
}

// CreateCalculatedColumn adds a column computed by a formula over the panel's other columns.
func (s *Server) CreateCalculatedColumn(ctx context.Context, req gen.CreateCalculatedColumnRequestObject) (gen.CreateCalculatedColumnResponseObject, error) {
	b := req.Body
	col := &store.Column{Name: b.Name, Type: string(b.Type), Properties: nonNilMap(b.Properties),
		Metadata: mapOrEmpty(b.Metadata), Tags: tagsOf(b.Tags)}
	f := &store.FormulaInput{Source: b.Formula, Dependencies: b.Dependencies, HasDependencies: b.Dependencies != nil, Limits: s.compute.Formula}
	body, etag, loc, err := s.createColumn(ctx, req.PanelId, col, f)
	if err != nil {
		return nil, err
	}
	return gen.CreateCalculatedColumn201JSONResponse{Body: body, Headers: gen.CreateCalculatedColumn201ResponseHeaders{ETag: &etag, Location: &loc}}, nil
}

func (s *Server) createColumn(ctx context.Context, panelID int64, col *store.Column, f *store.FormulaInput) (gen.Column, string, string, error) {
	names, err := s.store.CreateColumn(ctx, actorFrom(ctx), panelID, col, f)
	if err != nil {
		return gen.Column{}, "", "", err
	}
	body := columnToAPI(col, names)
	loc := "/api/panels/" + strconv.FormatInt(panelID, 10) + "/columns/" + strconv.FormatInt(col.ID, 10)
	return body, etagOf(body), loc, nil
}

// UpdateColumn partially updates a column of a panel the caller may edit.
func (s *Server) UpdateColumn(ctx context.Context, req gen.UpdateColumnRequestObject) (gen.UpdateColumnResponseObject, error) {
	b := req.Body
	if err := checkEchoedID(b.Id, req.ColumnId); err != nil {
		return nil, err
	}
	patch := store.ColumnPatch{Name: b.Name, SourceField: b.SourceField}
	if b.Type != nil {
		t := string(*b.Type)
		patch.Type = &t
	}
	if b.DataSourceId.IsSpecified() {
		patch.SetDataSource = true
		if !b.DataSourceId.IsNull() {
			id := b.DataSourceId.MustGet()
			patch.DataSourceID = &id
		}
	}
	if b.Formula != nil || b.Dependencies != nil {
		patch.Formula = &store.FormulaInput{Dependencies: b.Dependencies, HasDependencies: b.Dependencies != nil, Limits: s.compute.Formula}
		if b.Formula != nil {
			patch.Formula.Source = *b.Formula
		}
	}
	if b.Properties != nil {
		patch.Properties = nonNilMap(*b.Properties)
	}
	if b.Metadata != nil {
		patch.Metadata = map[string]any(*b.Metadata)
	}
	if b.Tags != nil {
		patch.Tags = tagsOf(b.Tags)
	}
	col, names, err := s.store.UpdateColumn(ctx, actorFrom(ctx), req.PanelId, req.ColumnId, columnMatches(req.Params.IfMatch), patch)
	if err != nil {
		return nil, err
	}
	return prepareJSON(http.StatusOK, columnToAPI(col, names))
}

// DeleteColumn deletes a column (and, with force, the calculated columns depending on it).
func (s *Server) DeleteColumn(ctx context.Context, req gen.DeleteColumnRequestObject) (gen.DeleteColumnResponseObject, error) {
	force := req.Params.Force != nil && *req.Params.Force
	if err := s.store.DeleteColumn(ctx, actorFrom(ctx), req.PanelId, req.ColumnId, force, columnMatches(req.Params.IfMatch)); err != nil {
		return nil, err
	}
	return gen.DeleteColumn204Response{}, nil
}

// columnMatches is the If-Match precondition of a column change.
func columnMatches(ifMatch *string) func(*store.Column, map[int64]string) error {
	return func(c *store.Column, names map[int64]string) error {
		return precondition(ifMatch, columnToAPI(c, names))
	}
}

func tagsOf(t *gen.Tags) []string {
	if t == nil {
		return []string{}
	}
	return *t
}
