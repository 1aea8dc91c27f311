package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/panels/panels/clients/go/apitime"

	"github.com/panels/panels/gen"
	curs "github.com/panels/panels/server/cursor"
	"github.com/panels/panels/store"
)

// ListViews lists the views the caller can read, most recently updated first.
func (s *Server) ListViews(ctx context.Context, req gen.ListViewsRequestObject) (gen.ListViewsResponseObject, error) {
	a := actorFrom(ctx)
	p := req.Params
	f := store.ViewListFilter{Published: p.Published, Limit: limitOr(p.Limit, uiDefaultLimit), Offset: limitOr(p.Offset, 0)}
	scope := a.TenantID + "|"
	if p.PanelId != nil {
		f.PanelID = *p.PanelId
		scope += strconv.FormatInt(*p.PanelId, 10)
	}
	if p.Published != nil {
		scope += "|" + strconv.FormatBool(*p.Published)
	}
	after, err := curs.DecodeOptional[curs.Key](s.cursors, p.Cursor, "views", scope)
	if err != nil {
		return nil, err
	}
	if after != nil {
		f.After = &store.ViewCursor{UpdatedAt: time.UnixMicro(after.Time), ID: after.ID}
	}
	page, err := s.store.ListViews(ctx, a, f)
	if err != nil {
		return nil, err
	}
	out := gen.ListViews200JSONResponse{Views: make([]gen.View, len(page.Views)), Total: page.Total, HasMore: page.HasMore}
	if page.TotalCapped {
		out.TotalCapped = &page.TotalCapped
	}
	for i, v := range page.Views {
		out.Views[i] = viewToAPI(v)
	}
	if page.HasMore && len(page.Views) > 0 {
		last := page.Views[len(page.Views)-1]
		next := s.cursors.Encode("views", scope, &curs.Key{Time: last.UpdatedAt.UnixMicro(), ID: last.ID})
		out.NextCursor = &next
	}
	return out, nil
}

// CreateView creates a personal view of a panel the caller can read.
func (s *Server) CreateView(ctx context.Context, req gen.CreateViewRequestObject) (gen.CreateViewResponseObject, error) {
	b := req.Body
	v := &store.View{PanelID: b.PanelId, Name: b.Name, VisibleColumns: b.VisibleColumns, Metadata: mapOrEmpty(b.Metadata)}
	if err := s.store.CreateView(ctx, actorFrom(ctx), v); err != nil {
		return nil, err
	}
	body := viewToAPI(v)
	etag, loc := etagOf(body), "/api/views/"+strconv.FormatInt(v.ID, 10)
	return gen.CreateView201JSONResponse{Body: body, Headers: gen.CreateView201ResponseHeaders{ETag: &etag, Location: &loc}}, nil
}

// GetView returns a readable view with its sorts and filters.
func (s *Server) GetView(ctx context.Context, req gen.GetViewRequestObject) (gen.GetViewResponseObject, error) {
	v, err := s.store.GetView(ctx, actorFrom(ctx), "getView", req.ViewId)
	if err != nil {
		return nil, err
	}
	resp, err := prepareJSON(http.StatusOK, viewToAPI(v))
	if err == nil && notModified(req.Params.IfNoneMatch, resp.etag) {
		return gen.GetView304Response{Headers: gen.NotModifiedResponseHeaders{ETag: &resp.etag}}, nil
	}
	return resp, err
}

// viewMatches is the If-Match precondition of every view mutation.
func viewMatches(ifMatch *string) func(*store.View) error {
	return func(v *store.View) error { return precondition(ifMatch, viewToAPI(v)) }
}

// UpdateView partially updates a view.
func (s *Server) UpdateView(ctx context.Context, req gen.UpdateViewRequestObject) (gen.UpdateViewResponseObject, error) {
	b := req.Body
	if err := checkEchoedID(b.Id, req.ViewId); err != nil {
		return nil, err
	}
	patch := store.ViewPatch{Name: b.Name, VisibleColumns: b.VisibleColumns, EchoedUserID: b.UserId}
	if b.Metadata != nil {
		patch.Metadata = map[string]any(*b.Metadata)
	}
	v, err := s.store.UpdateView(ctx, actorFrom(ctx), req.ViewId, viewMatches(req.Params.IfMatch), patch)
	if err != nil {
		return nil, err
	}
	body := viewToAPI(v)
	etag := etagOf(body)
	return gen.UpdateView200JSONResponse{Body: body, Headers: gen.UpdateView200ResponseHeaders{ETag: &etag}}, nil
}

// DeleteView deletes a view with its sorts, filters, notifications and ACL rows.
func (s *Server) DeleteView(ctx context.Context, req gen.DeleteViewRequestObject) (gen.DeleteViewResponseObject, error) {
	if err := s.store.DeleteView(ctx, actorFrom(ctx), req.ViewId, viewMatches(req.Params.IfMatch)); err != nil {
		return nil, err
	}
	return gen.DeleteView204Response{}, nil
}

// GetViewSorts returns a readable view's sorts, by order.
func (s *Server) GetViewSorts(ctx context.Context, req gen.GetViewSortsRequestObject) (gen.GetViewSortsResponseObject, error) {
	v, err := s.store.GetView(ctx, actorFrom(ctx), "getViewSorts", req.ViewId)
	if err != nil {
		return nil, err
	}
	return gen.GetViewSorts200JSONResponse{Sorts: sortsToAPI(v.Sorts)}, nil
}

// ReplaceViewSorts replaces a view's sorts atomically.
func (s *Server) ReplaceViewSorts(ctx context.Context, req gen.ReplaceViewSortsRequestObject) (gen.ReplaceViewSortsResponseObject, error) {
	sorts := make([]store.ViewSort, len(req.Body.Sorts))
	for i, in := range req.Body.Sorts {
		sorts[i] = store.ViewSort{ColumnName: in.ColumnName, Direction: string(in.Direction), Order: in.Order}
	}
	v, err := s.store.ReplaceSorts(ctx, actorFrom(ctx), req.ViewId, viewMatches(nil), sorts)
	if err != nil {
		return nil, err
	}
	return gen.ReplaceViewSorts200JSONResponse{Sorts: sortsToAPI(v.Sorts)}, nil
}

// GetViewFilters returns a readable view's filters.
func (s *Server) GetViewFilters(ctx context.Context, req gen.GetViewFiltersRequestObject) (gen.GetViewFiltersResponseObject, error) {
	v, err := s.store.GetView(ctx, actorFrom(ctx), "getViewFilters", req.ViewId)
	if err != nil {
		return nil, err
	}
	return gen.GetViewFilters200JSONResponse{Filters: filtersToAPI(v.Filters), FilterItems: filterItemsToAPI(v.Filters)}, nil
}

// ReplaceViewFilters replaces a view's filters atomically.
func (s *Server) ReplaceViewFilters(ctx context.Context, req gen.ReplaceViewFiltersRequestObject) (gen.ReplaceViewFiltersResponseObject, error) {
	filters, err := filtersFromAPI(req.Body.Filters)
	if err != nil {
		return nil, err
	}
	v, err := s.store.ReplaceFilters(ctx, actorFrom(ctx), req.ViewId, viewMatches(nil), filters)
	if err != nil {
		return nil, err
	}
	return gen.ReplaceViewFilters200JSONResponse{Filters: filtersToAPI(v.Filters), FilterItems: filterItemsToAPI(v.Filters)}, nil
}

// PublishView makes a view readable by the whole tenant.
func (s *Server) PublishView(ctx context.Context, req gen.PublishViewRequestObject) (gen.PublishViewResponseObject, error) {
	v, err := s.store.SetPublished(ctx, actorFrom(ctx), req.ViewId, viewMatches(nil), true)
	if err != nil {
		return nil, err
	}
	body := viewToAPI(v)
	etag := etagOf(body)
	return gen.PublishView200JSONResponse{Body: body, Headers: gen.PublishView200ResponseHeaders{ETag: &etag}}, nil
}

// UnpublishView withdraws a published view.
func (s *Server) UnpublishView(ctx context.Context, req gen.UnpublishViewRequestObject) (gen.UnpublishViewResponseObject, error) {
	v, err := s.store.SetPublished(ctx, actorFrom(ctx), req.ViewId, viewMatches(nil), false)
	if err != nil {
		return nil, err
	}
	body := viewToAPI(v)
	etag := etagOf(body)
	return gen.UnpublishView200JSONResponse{Body: body, Headers: gen.UnpublishView200ResponseHeaders{ETag: &etag}}, nil
}

func viewToAPI(v *store.View) gen.View {
	out := gen.View{
		Id:             v.ID,
		PanelId:        v.PanelID,
		Name:           v.Name,
		OwnerUserId:    v.OwnerUserID,
		TenantId:       v.TenantID,
		IsPublished:    v.IsPublished,
		PublishedBy:    nullableOf(v.PublishedBy),
		PublishedAt:    nullable.NewNullNullable[apitime.Time](),
		VisibleColumns: v.VisibleColumns,
		Metadata:       gen.Metadata(nonNilMap(v.Metadata)),
		CreatedAt:      apiTime(v.CreatedAt),
		UpdatedAt:      apiTime(v.UpdatedAt),
		Sort:           sortsToAPI(v.Sorts),
		Filters:        filtersToAPI(v.Filters),
		FilterItems:    filterItemsToAPI(v.Filters),
	}
	if v.PublishedAt != nil {
		out.PublishedAt = nullable.NewNullableWithValue(apiTime(*v.PublishedAt))
	}
	if out.VisibleColumns == nil {
		out.VisibleColumns = []string{}
	}
	return out
}

func sortsToAPI(sorts []store.ViewSort) []gen.ViewSort {
	out := make([]gen.ViewSort, len(sorts))
	for i, s := range sorts {
		out[i] = gen.ViewSort{Id: s.ID, ColumnName: s.ColumnName, Direction: gen.SortDirection(s.Direction), Order: s.Order}
	}
	return out
}

// filtersFromAPI reads a filter list whose items are filters or nested groups; the spec's oneOf
// tells them apart by their required properties (a group has conjunction, a filter operator).
func filtersFromAPI(items []gen.ViewFilterInputItem) ([]store.ViewFilter, error) {
	out := make([]store.ViewFilter, len(items))
	for i, item := range items {
		raw, err := item.MarshalJSON()
		if err != nil {
			return nil, err
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(raw, &keys); err != nil {
			return nil, err
		}
		if _, isGroup := keys["conjunction"]; isGroup {
			g, err := item.AsViewFilterGroupInput()
			if err != nil {
				return nil, err
			}
			kids, err := filtersFromAPI(g.Filters)
			if err != nil {
				return nil, err
			}
			conj := string(g.Conjunction)
			f := store.ViewFilter{Operator: store.FilterGroup, Conjunction: &conj, Children: kids}
			if g.LogicalOperator != nil {
				f.LogicalOperator = string(*g.LogicalOperator)
			}
			out[i] = f
			continue
		}
		in, err := item.AsViewFilterInput()
		if err != nil {
			return nil, err
		}
		f := store.ViewFilter{ColumnName: in.ColumnName, Operator: string(in.Operator)}
		if in.Value.IsSpecified() && !in.Value.IsNull() {
			f.Value = in.Value.MustGet()
		}
		if in.LogicalOperator != nil {
			f.LogicalOperator = string(*in.LogicalOperator)
		}
		out[i] = f
	}
	return out, nil
}

// filterItemsToAPI is the saved tree (filterItems).
func filterItemsToAPI(filters []store.ViewFilter) []gen.ViewFilterItem {
	out := make([]gen.ViewFilterItem, len(filters))
	for i, f := range filters {
		out[i] = gen.ViewFilterItem{Id: f.ID, ColumnName: f.ColumnName, Operator: gen.ViewFilterItemOperator(f.Operator),
			LogicalOperator: gen.LogicalOperator(f.LogicalOperator)}
		if f.Value != nil {
			out[i].Value = nullable.NewNullableWithValue(f.Value)
		}
		if f.Operator == store.FilterGroup {
			conj := gen.LogicalOperator(*f.Conjunction)
			out[i].Conjunction, out[i].Filters = &conj, filterItemsToAPI(f.Children)
		}
	}
	return out
}

// filtersToAPI is the released flat form (filters): the saved list when it is flat and uses only
// the released operators, else empty (the released schema cannot say it).
func filtersToAPI(filters []store.ViewFilter) []gen.ViewFilter {
	for _, f := range filters {
		if !gen.FlatFilterOperator(f.Operator).Valid() {
			return []gen.ViewFilter{}
		}
	}
	out := make([]gen.ViewFilter, len(filters))
	for i, f := range filters {
		out[i] = gen.ViewFilter{Id: f.ID, ColumnName: f.ColumnName, Operator: gen.FlatFilterOperator(f.Operator),
			LogicalOperator: gen.LogicalOperator(f.LogicalOperator)}
		if f.Value != nil {
			out[i].Value = nullable.NewNullableWithValue(f.Value)
		}
	}
	return out
}
