package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/singleflight"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/pipeline"
	"github.com/panels/panels/server/problem"
)

// memberRecorder records each principal of a tenant once per process (docs/permissions.md#principals-and-members): an
// in-process set in front of store.RecordMember, so only a principal's first request (or a new
// email) reaches the database.
type memberRecorder struct {
	seen sync.Map // tenant + "\x00" + sub + "\x00" + email → struct{}
	// flight makes a principal's concurrent first requests share one INSERT: otherwise each one
	// waits on the others' row lock (tens of milliseconds with a few dozen at once).
	flight singleflight.Group
}

// recordMember is a hook of the gate, run once the caller is authenticated (pipeline.Gate.AfterAuth). A failure is logged and retried on a later request;
// it never fails the request.
func (s *Server) recordMember(c echo.Context, p auth.Principal) error {
	key := p.TenantID + "\x00" + p.UserID + "\x00" + p.Email
	if _, ok := s.members.seen.Load(key); ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), 2*time.Second)
	defer cancel()
	_, err, _ := s.members.flight.Do(key, func() (any, error) {
		if err := s.store.RecordMember(ctx, p.TenantID, p.UserID, p.Email); err != nil {
			return nil, err
		}
		s.members.seen.Store(key, struct{}{})
		return nil, nil
	})
	if err != nil {
		s.log.Warn("could not record a tenant member; retrying on a later request", "error", err.Error(),
			"request_id", pipeline.RequestID(c.Request().Context()))
	}
	return nil
}

// ListOrganizationMembers lists the tenant's members: from Stytch's member search when configured,
// otherwise the principals the service has seen.
func (s *Server) ListOrganizationMembers(ctx context.Context, _ gen.ListOrganizationMembersRequestObject) (gen.ListOrganizationMembersResponseObject, error) {
	p := pipeline.Principal(ctx)
	if s.stytch != nil {
		org := p.OrganizationID
		if org == "" {
			org = p.TenantID
		}
		found, err := s.stytch.SearchMembers(ctx, org)
		if err != nil {
			s.log.Warn("Stytch member search failed", "error", err.Error(), "request_id", pipeline.RequestID(ctx))
			return nil, problem.New(http.StatusBadGateway, "bad-gateway", "the member directory (Stytch) did not answer usefully; retry later")
		}
		members := make([]gen.Member, len(found))
		for i, m := range found {
			members[i] = gen.Member{MemberId: m.ID, Name: nullableOf(m.Name), EmailAddress: m.Email}
		}
		return gen.ListOrganizationMembers200JSONResponse{Members: members}, nil
	}
	rows, err := s.store.ListMembers(ctx, p.TenantID)
	if err != nil {
		return nil, err
	}
	out := make([]gen.Member, len(rows))
	for i, m := range rows {
		out[i] = gen.Member{MemberId: m.UserID, Name: nullableOf(m.Name)}
		if m.Email != nil {
			out[i].EmailAddress = *m.Email
		}
	}
	return gen.ListOrganizationMembers200JSONResponse{Members: out}, nil
}
