package server

import (
	"context"
	"net/http"
	"strconv"

	"github.com/panels/panels/gen"
	curs "github.com/panels/panels/server/cursor"
	"github.com/panels/panels/server/problem"
	"github.com/panels/panels/store"
	"github.com/panels/panels/store/dsconfig"
)

// ListDataSources lists a readable panel's data sources, oldest first, with keyset paging.
func (s *Server) ListDataSources(ctx context.Context, req gen.ListDataSourcesRequestObject) (gen.ListDataSourcesResponseObject, error) {
	a := actorFrom(ctx)
	scope := a.TenantID + "/" + strconv.FormatInt(req.PanelId, 10)
	after, err := curs.DecodeOptional[curs.Key](s.cursors, req.Params.Cursor, "datasources", scope)
	if err != nil {
		return nil, err
	}
	var afterID int64
	if after != nil {
		afterID = after.ID
	}
	limit := limitOr(req.Params.Limit, defaultLimit)
	list, err := s.store.ListDataSources(ctx, a, req.PanelId, afterID, limit+1)
	if err != nil {
		return nil, err
	}
	resp := gen.ListDataSources200JSONResponse{Body: make([]gen.DataSource, 0, min(len(list), limit))}
	if len(list) > limit {
		list = list[:limit]
		path := "/api/panels/" + strconv.FormatInt(req.PanelId, 10) + "/datasources"
		resp.Headers.Link = nextLink(path, limit, s.cursors.Encode("datasources", scope, &curs.Key{ID: list[len(list)-1].ID}))
	}
	for i := range list {
		resp.Body = append(resp.Body, dataSourceToAPI(&list[i]))
	}
	return resp, nil
}

// CreateDataSource attaches a data source to a panel the caller may edit.
func (s *Server) CreateDataSource(ctx context.Context, req gen.CreateDataSourceRequestObject) (gen.CreateDataSourceResponseObject, error) {
	typ, cfg := string(req.Body.Type), map[string]any(req.Body.Config)
	if err := configProblem(typ, cfg); err != nil {
		return nil, err
	}
	ds := &store.DataSource{Type: typ, Config: nonNilMap(cfg)}
	if err := s.store.CreateDataSource(ctx, actorFrom(ctx), req.PanelId, ds); err != nil {
		return nil, err
	}
	body := dataSourceToAPI(ds)
	etag, loc := etagOf(body), "/api/datasources/"+strconv.FormatInt(ds.ID, 10)
	return gen.CreateDataSource201JSONResponse{Body: body, Headers: gen.CreateDataSource201ResponseHeaders{ETag: &etag, Location: &loc}}, nil
}

// GetDataSource returns a data source of a readable panel.
func (s *Server) GetDataSource(ctx context.Context, req gen.GetDataSourceRequestObject) (gen.GetDataSourceResponseObject, error) {
	ds, _, err := s.store.GetDataSource(ctx, actorFrom(ctx), req.DataSourceId)
	if err != nil {
		return nil, err
	}
	body := dataSourceToAPI(ds)
	etag := etagOf(body)
	if notModified(req.Params.IfNoneMatch, etag) {
		return gen.GetDataSource304Response{Headers: gen.NotModifiedResponseHeaders{ETag: &etag}}, nil
	}
	return gen.GetDataSource200JSONResponse{Body: body, Headers: gen.GetDataSource200ResponseHeaders{ETag: &etag}}, nil
}

// UpdateDataSource is the seed's path of a data-source update.
func (s *Server) UpdateDataSource(ctx context.Context, req gen.UpdateDataSourceRequestObject) (gen.UpdateDataSourceResponseObject, error) {
	body, etag, err := s.updateDataSource(ctx, req.DataSourceId, 0, req.Body, req.Params.IfMatch)
	if err != nil {
		return nil, err
	}
	return gen.UpdateDataSource200JSONResponse{Body: body, Headers: gen.UpdateDataSource200ResponseHeaders{ETag: &etag}}, nil
}

// UpdatePanelDataSource is the original service's path of a data-source update.
func (s *Server) UpdatePanelDataSource(ctx context.Context, req gen.UpdatePanelDataSourceRequestObject) (gen.UpdatePanelDataSourceResponseObject, error) {
	body, etag, err := s.updateDataSource(ctx, req.DataSourceId, req.PanelId, req.Body, req.Params.IfMatch)
	if err != nil {
		return nil, err
	}
	return gen.UpdatePanelDataSource200JSONResponse{Body: body, Headers: gen.UpdatePanelDataSource200ResponseHeaders{ETag: &etag}}, nil
}

func (s *Server) updateDataSource(ctx context.Context, id, panelID int64, b *gen.DataSourceUpdate, ifMatch *string) (gen.DataSource, string, error) {
	if err := checkEchoedID(b.Id, id); err != nil {
		return gen.DataSource{}, "", err
	}
	var patch store.DataSourcePatch
	if b.Type != nil {
		t := string(*b.Type)
		patch.Type = &t
	}
	if b.Config != nil {
		patch.Config = nonNilMap(map[string]any(*b.Config))
	}
	matches := func(ds *store.DataSource) error { return precondition(ifMatch, dataSourceToAPI(ds)) }
	ds, err := s.store.UpdateDataSource(ctx, actorFrom(ctx), id, panelID, matches, patch, configProblem)
	if err != nil {
		return gen.DataSource{}, "", err
	}
	body := dataSourceToAPI(ds)
	return body, etagOf(body), nil
}

// DeleteDataSource is the seed's path of a data-source delete.
func (s *Server) DeleteDataSource(ctx context.Context, req gen.DeleteDataSourceRequestObject) (gen.DeleteDataSourceResponseObject, error) {
	if err := s.deleteDataSource(ctx, req.DataSourceId, 0, req.Params.Force, req.Params.IfMatch); err != nil {
		return nil, err
	}
	return gen.DeleteDataSource204Response{}, nil
}

// DeletePanelDataSource is the original service's path of a data-source delete.
func (s *Server) DeletePanelDataSource(ctx context.Context, req gen.DeletePanelDataSourceRequestObject) (gen.DeletePanelDataSourceResponseObject, error) {
	if err := s.deleteDataSource(ctx, req.DataSourceId, req.PanelId, req.Params.Force, req.Params.IfMatch); err != nil {
		return nil, err
	}
	return gen.DeletePanelDataSource204Response{}, nil
}

func (s *Server) deleteDataSource(ctx context.Context, id, panelID int64, force *bool, ifMatch *string) error {
	matches := func(ds *store.DataSource) error { return precondition(ifMatch, dataSourceToAPI(ds)) }
	return s.store.DeleteDataSource(ctx, actorFrom(ctx), id, panelID, force != nil && *force, matches)
}

// configProblem checks a data source's config for its type: a malformed config is a 400 naming the fields.
func configProblem(typ string, cfg map[string]any) error {
	problems := dsconfig.Validate(typ, cfg)
	if len(problems) == 0 {
		return nil
	}
	p := &problem.Problem{Status: http.StatusBadRequest, Slug: "validation", Detail: "invalid data source config: " + problems[0].Field + ": " + problems[0].Reason}
	for _, pr := range problems {
		p.Errors = append(p.Errors, gen.FieldError{Field: "body." + pr.Field, Reason: pr.Reason})
	}
	return p
}
