package server

import (
	"context"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/store"
)

// ListUserAcls lists a person's ACL rows and the tenant's "_all" rows; only admins may ask about
// someone else.
func (s *Server) ListUserAcls(ctx context.Context, req gen.ListUserAclsRequestObject) (gen.ListUserAclsResponseObject, error) {
	var typ *string
	if req.Params.ResourceType != nil {
		t := string(*req.Params.ResourceType)
		typ = &t
	}
	rows, err := s.store.ListUserACLs(ctx, actorFrom(ctx), store.NormalizePrincipal(req.UserEmail), typ)
	if err != nil {
		return nil, err
	}
	return gen.ListUserAcls200JSONResponse{Acls: aclsToAPI(rows)}, nil
}

// ListAcls lists a readable resource's ACL rows.
func (s *Server) ListAcls(ctx context.Context, req gen.ListAclsRequestObject) (gen.ListAclsResponseObject, error) {
	rows, err := s.store.ListACLs(ctx, actorFrom(ctx), string(req.ResourceType), req.ResourceId)
	if err != nil {
		return nil, err
	}
	return gen.ListAcls200JSONResponse{Acls: aclsToAPI(rows)}, nil
}

// CreateAcl grants a permission to an email, a sub or "_all".
func (s *Server) CreateAcl(ctx context.Context, req gen.CreateAclRequestObject) (gen.CreateAclResponseObject, error) {
	row, err := s.store.CreateACL(ctx, actorFrom(ctx), string(req.ResourceType), req.ResourceId,
		store.NormalizePrincipal(req.Body.UserEmail), string(req.Body.Permission))
	if err != nil {
		return nil, err
	}
	return gen.CreateAcl201JSONResponse{Acl: aclToAPI(row)}, nil
}

// ShareAclPublic creates (201) or updates (200) the resource's "_all" row.
func (s *Server) ShareAclPublic(ctx context.Context, req gen.ShareAclPublicRequestObject) (gen.ShareAclPublicResponseObject, error) {
	row, created, err := s.store.SharePublic(ctx, actorFrom(ctx), string(req.ResourceType), req.ResourceId, string(req.Body.Permission))
	if err != nil {
		return nil, err
	}
	if created {
		return gen.ShareAclPublic201JSONResponse{Acl: aclToAPI(row)}, nil
	}
	return gen.ShareAclPublic200JSONResponse{Acl: aclToAPI(row)}, nil
}

// UpdateAcl changes the permission of the principal the path names.
func (s *Server) UpdateAcl(ctx context.Context, req gen.UpdateAclRequestObject) (gen.UpdateAclResponseObject, error) {
	row, err := s.store.UpdateACL(ctx, actorFrom(ctx), string(req.ResourceType), req.ResourceId,
		store.NormalizePrincipal(req.UserEmail), string(req.Body.Permission))
	if err != nil {
		return nil, err
	}
	return gen.UpdateAcl200JSONResponse{Acl: aclToAPI(row)}, nil
}

// DeleteAcl revokes the row of the principal the path names.
func (s *Server) DeleteAcl(ctx context.Context, req gen.DeleteAclRequestObject) (gen.DeleteAclResponseObject, error) {
	if err := s.store.DeleteACL(ctx, actorFrom(ctx), string(req.ResourceType), req.ResourceId, store.NormalizePrincipal(req.UserEmail)); err != nil {
		return nil, err
	}
	return gen.DeleteAcl204Response{}, nil
}

func aclToAPI(a *store.ACL) gen.Acl {
	return gen.Acl{
		Id:           a.ID,
		TenantId:     a.TenantID,
		ResourceType: gen.ResourceType(a.ResourceType),
		ResourceId:   a.ResourceID,
		UserEmail:    a.UserEmail,
		Permission:   gen.Permission(a.Permission),
		CreatedAt:    apiTime(a.CreatedAt),
		UpdatedAt:    apiTime(a.UpdatedAt),
	}
}

func aclsToAPI(rows []store.ACL) []gen.Acl {
	out := make([]gen.Acl, len(rows))
	for i := range rows {
		out[i] = aclToAPI(&rows[i])
	}
	return out
}
