package server

import (
	"context"
	"strconv"
	"time"

	"github.com/panels/panels/gen"
	curs "github.com/panels/panels/server/cursor"
	"github.com/panels/panels/store"
)

// ListPanelChanges lists the change history of panels the caller can read.
func (s *Server) ListPanelChanges(ctx context.Context, req gen.ListPanelChangesRequestObject) (gen.ListPanelChangesResponseObject, error) {
	a := actorFrom(ctx)
	p := req.Params
	f := store.ChangeFilter{Since: p.Since, Limit: limitOr(p.Limit, defaultLimit), Offset: limitOr(p.Offset, 0)}
	if p.PanelId != nil {
		f.PanelID = *p.PanelId
	}
	if p.ChangeType != nil {
		f.ChangeType = string(*p.ChangeType)
	}
	// A cursor is only valid for the same filters it was issued with.
	scope := a.TenantID + "|" + f.ChangeType
	if p.PanelId != nil {
		scope += "|" + strconv.FormatInt(*p.PanelId, 10)
	}
	if p.Since != nil {
		scope += "|" + p.Since.UTC().Format(time.RFC3339Nano)
	}
	after, err := curs.DecodeOptional[curs.Key](s.cursors, p.Cursor, "changes", scope)
	if err != nil {
		return nil, err
	}
	if after != nil {
		f.After = &store.ChangeCursor{ChangedAt: time.UnixMicro(after.Time), ID: after.ID}
	}
	page, err := s.store.ListChanges(ctx, a, f)
	if err != nil {
		return nil, err
	}
	out := gen.ListPanelChanges200JSONResponse{Changes: make([]gen.PanelChange, len(page.Changes)),
		Total: page.Total, TotalCapped: page.TotalCapped, HasMore: page.HasMore}
	for i := range page.Changes {
		out.Changes[i] = changeToAPI(&page.Changes[i])
	}
	if page.HasMore && len(page.Changes) > 0 {
		last := page.Changes[len(page.Changes)-1]
		next := s.cursors.Encode("changes", scope, &curs.Key{Time: last.ChangedAt.UnixMicro(), ID: last.ID})
		out.NextCursor = &next
	}
	return out, nil
}
