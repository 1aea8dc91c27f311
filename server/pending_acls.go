package server

// Operations of the contract that later work implements. Each answers 501 problem+json, as the
// spec documents, until then.

import (
	"context"

	"github.com/panels/panels/gen"
)

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
