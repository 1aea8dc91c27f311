package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/panels/panels/gen"
	curs "github.com/panels/panels/server/cursor"
	"github.com/panels/panels/store"
)

// ListPanels lists readable panels, newest first, with keyset paging.
func (s *Server) ListPanels(ctx context.Context, req gen.ListPanelsRequestObject) (gen.ListPanelsResponseObject, error) {
	a := actorFrom(ctx)
	after, err := curs.DecodeOptional[curs.Key](s.cursors, req.Params.Cursor, "panels", a.TenantID)
	if err != nil {
		return nil, err
	}
	limit := limitOr(req.Params.Limit, uiDefaultLimit)
	var pos *store.PanelCursor
	if after != nil {
		pos = &store.PanelCursor{CreatedAt: time.UnixMicro(after.Time), ID: after.ID}
	}
	panels, err := s.store.ListPanels(ctx, a, pos, limit+1)
	if err != nil {
		return nil, err
	}
	resp := gen.ListPanels200JSONResponse{Body: make([]gen.Panel, 0, min(len(panels), limit))}
	if len(panels) > limit {
		panels = panels[:limit]
		last := panels[len(panels)-1]
		resp.Headers.Link = nextLink("/api/panels", limit, s.cursors.Encode("panels", a.TenantID, &curs.Key{Time: last.CreatedAt.UnixMicro(), ID: last.ID}))
	}
	for i := range panels {
		resp.Body = append(resp.Body, panelToAPI(&panels[i]))
	}
	return resp, nil
}

// CreatePanel creates a panel owned by the caller. Plain users may not create panels.
func (s *Server) CreatePanel(ctx context.Context, req gen.CreatePanelRequestObject) (gen.CreatePanelResponseObject, error) {
	b := req.Body
	p := &store.Panel{Name: b.Name, Metadata: mapOrEmpty(b.Metadata)}
	if b.Description.IsSpecified() && !b.Description.IsNull() {
		d := b.Description.MustGet()
		p.Description = &d
	}
	if b.CohortRule != nil {
		p.CohortRule = cohortFromAPI(*b.CohortRule)
	}
	if err := s.store.CreatePanel(ctx, actorFrom(ctx), p); err != nil {
		return nil, err
	}
	resp, err := prepareJSON(http.StatusCreated, panelToAPI(p))
	resp.location = "/api/panels/" + strconv.FormatInt(p.ID, 10)
	return resp, err
}

// GetPanel returns a readable panel.
func (s *Server) GetPanel(ctx context.Context, req gen.GetPanelRequestObject) (gen.GetPanelResponseObject, error) {
	p, err := s.store.PanelAccess(ctx, actorFrom(ctx), req.PanelId)
	if err != nil {
		return nil, err
	}
	resp, err := prepareJSON(http.StatusOK, panelToAPI(p))
	if err == nil && notModified(req.Params.IfNoneMatch, resp.etag) {
		return gen.GetPanel304Response{Headers: gen.NotModifiedResponseHeaders{ETag: &resp.etag}}, nil
	}
	return resp, err
}

// UpdatePanel partially updates a panel the caller may edit.
func (s *Server) UpdatePanel(ctx context.Context, req gen.UpdatePanelRequestObject) (gen.UpdatePanelResponseObject, error) {
	b := req.Body
	if err := checkEchoedID(b.Id, req.PanelId); err != nil {
		return nil, err
	}
	patch := store.PanelPatch{Name: b.Name, EchoedUserID: b.UserId}
	if b.Description.IsSpecified() {
		patch.SetDescription = true
		if !b.Description.IsNull() {
			d := b.Description.MustGet()
			patch.Description = &d
		}
	}
	if b.Metadata != nil {
		patch.Metadata = map[string]any(*b.Metadata)
	}
	if b.CohortRule != nil {
		r := cohortFromAPI(*b.CohortRule)
		patch.CohortRule = &r
	}
	p, err := s.store.UpdatePanel(ctx, actorFrom(ctx), req.PanelId, panelMatches(req.Params.IfMatch), patch)
	if err != nil {
		return nil, err
	}
	body := panelToAPI(p)
	etag := etagOf(body)
	return gen.UpdatePanel200JSONResponse{Body: body, Headers: gen.UpdatePanel200ResponseHeaders{ETag: &etag}}, nil
}

// DeletePanel deletes a panel the caller owns, with everything in it.
func (s *Server) DeletePanel(ctx context.Context, req gen.DeletePanelRequestObject) (gen.DeletePanelResponseObject, error) {
	if err := s.store.DeletePanel(ctx, actorFrom(ctx), req.PanelId, panelMatches(req.Params.IfMatch)); err != nil {
		return nil, err
	}
	return gen.DeletePanel204Response{}, nil
}

// panelMatches is the If-Match precondition of a panel change.
func panelMatches(ifMatch *string) func(*store.Panel) error {
	return func(p *store.Panel) error { return precondition(ifMatch, panelToAPI(p)) }
}

func mapOrEmpty[M ~map[string]any](m *M) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return map[string]any(*m)
}
