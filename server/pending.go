package server

// Operations of the contract that later work implements (views, ACLs, members, notifications,
// sync). Each answers 501 problem+json, as the spec documents, until then.

import (
	"context"

	"github.com/panels/panels/gen"
)

func (s *Server) ListViews(context.Context, gen.ListViewsRequestObject) (gen.ListViewsResponseObject, error) {
	return nil, notImplemented("listViews")
}

func (s *Server) CreateView(context.Context, gen.CreateViewRequestObject) (gen.CreateViewResponseObject, error) {
	return nil, notImplemented("createView")
}

func (s *Server) GetView(context.Context, gen.GetViewRequestObject) (gen.GetViewResponseObject, error) {
	return nil, notImplemented("getView")
}

func (s *Server) UpdateView(context.Context, gen.UpdateViewRequestObject) (gen.UpdateViewResponseObject, error) {
	return nil, notImplemented("updateView")
}

func (s *Server) DeleteView(context.Context, gen.DeleteViewRequestObject) (gen.DeleteViewResponseObject, error) {
	return nil, notImplemented("deleteView")
}

func (s *Server) GetViewSorts(context.Context, gen.GetViewSortsRequestObject) (gen.GetViewSortsResponseObject, error) {
	return nil, notImplemented("getViewSorts")
}

func (s *Server) ReplaceViewSorts(context.Context, gen.ReplaceViewSortsRequestObject) (gen.ReplaceViewSortsResponseObject, error) {
	return nil, notImplemented("replaceViewSorts")
}

func (s *Server) GetViewFilters(context.Context, gen.GetViewFiltersRequestObject) (gen.GetViewFiltersResponseObject, error) {
	return nil, notImplemented("getViewFilters")
}

func (s *Server) ReplaceViewFilters(context.Context, gen.ReplaceViewFiltersRequestObject) (gen.ReplaceViewFiltersResponseObject, error) {
	return nil, notImplemented("replaceViewFilters")
}

func (s *Server) PublishView(context.Context, gen.PublishViewRequestObject) (gen.PublishViewResponseObject, error) {
	return nil, notImplemented("publishView")
}

func (s *Server) UnpublishView(context.Context, gen.UnpublishViewRequestObject) (gen.UnpublishViewResponseObject, error) {
	return nil, notImplemented("unpublishView")
}

func (s *Server) ListUserAcls(context.Context, gen.ListUserAclsRequestObject) (gen.ListUserAclsResponseObject, error) {
	return nil, notImplemented("listUserAcls")
}

func (s *Server) ListAcls(context.Context, gen.ListAclsRequestObject) (gen.ListAclsResponseObject, error) {
	return nil, notImplemented("listAcls")
}

func (s *Server) CreateAcl(context.Context, gen.CreateAclRequestObject) (gen.CreateAclResponseObject, error) {
	return nil, notImplemented("createAcl")
}

func (s *Server) ShareAclPublic(context.Context, gen.ShareAclPublicRequestObject) (gen.ShareAclPublicResponseObject, error) {
	return nil, notImplemented("shareAclPublic")
}

func (s *Server) UpdateAcl(context.Context, gen.UpdateAclRequestObject) (gen.UpdateAclResponseObject, error) {
	return nil, notImplemented("updateAcl")
}

func (s *Server) DeleteAcl(context.Context, gen.DeleteAclRequestObject) (gen.DeleteAclResponseObject, error) {
	return nil, notImplemented("deleteAcl")
}

func (s *Server) ListOrganizationMembers(context.Context, gen.ListOrganizationMembersRequestObject) (gen.ListOrganizationMembersResponseObject, error) {
	return nil, notImplemented("listOrganizationMembers")
}

func (s *Server) ListViewNotifications(context.Context, gen.ListViewNotificationsRequestObject) (gen.ListViewNotificationsResponseObject, error) {
	return nil, notImplemented("listViewNotifications")
}

func (s *Server) MarkViewNotificationsRead(context.Context, gen.MarkViewNotificationsReadRequestObject) (gen.MarkViewNotificationsReadResponseObject, error) {
	return nil, notImplemented("markViewNotificationsRead")
}

func (s *Server) SyncDataSource(context.Context, gen.SyncDataSourceRequestObject) (gen.SyncDataSourceResponseObject, error) {
	return nil, notImplemented("syncDataSource")
}

func (s *Server) SyncPanelDataSource(context.Context, gen.SyncPanelDataSourceRequestObject) (gen.SyncPanelDataSourceResponseObject, error) {
	return nil, notImplemented("syncPanelDataSource")
}
