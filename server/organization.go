package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/oapi-codegen/nullable"
	"golang.org/x/sync/singleflight"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/server/auth"
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

// recordMember is an apiGate afterAuth hook. A failure is logged and retried on a later request;
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
			"request_id", requestIDFrom(c.Request().Context()))
	}
	return nil
}

// ListOrganizationMembers lists the tenant's members: from Stytch's member search when configured,
// otherwise the principals the service has seen.
func (s *Server) ListOrganizationMembers(ctx context.Context, _ gen.ListOrganizationMembersRequestObject) (gen.ListOrganizationMembersResponseObject, error) {
	p := principalFrom(ctx)
	if s.stytch != nil {
		org := p.OrganizationID
		if org == "" {
			org = p.TenantID
		}
		members, err := s.stytch.searchMembers(ctx, org)
		if err != nil {
			s.log.Warn("Stytch member search failed", "error", err.Error(), "request_id", requestIDFrom(ctx))
			return nil, problem.New(http.StatusBadGateway, "bad-gateway", "the member directory (Stytch) did not answer usefully; retry later")
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

// stytchClient calls Stytch's B2B API with the project's credentials.
type stytchClient struct {
	baseURL   string
	projectID string
	secret    string
	http      *http.Client
}

// newStytchClient is nil unless the configuration enables Stytch.
func newStytchClient(cfg Config) *stytchClient {
	if !cfg.StytchEnabled() {
		return nil
	}
	return &stytchClient{baseURL: cfg.StytchBaseURL, projectID: cfg.StytchProjectID, secret: cfg.StytchSecretKey,
		http: &http.Client{Timeout: 5 * time.Second}}
}

// stytchMaxBody bounds what is read from Stytch.
const stytchMaxBody = 16 << 20

// searchMembers runs POST /v1/b2b/organizations/members/search for one organization (its first
// page, like the original service). Errors never carry the secret.
func (c *stytchClient) searchMembers(ctx context.Context, org string) ([]gen.Member, error) {
	payload, err := json.Marshal(map[string]any{"organization_ids": []string{org}})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+"/v1/b2b/organizations/members/search", bytes.NewReader(payload))
	if err != nil {
		return nil, errors.New("build the Stytch request")
	}
	req.SetBasicAuth(c.projectID, c.secret)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // keep the cause, not the URL
		}
		return nil, fmt.Errorf("stytch unreachable: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, stytchMaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read the Stytch answer: %v", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("stytch answered %d", resp.StatusCode)
	}
	if len(body) > stytchMaxBody {
		return nil, errors.New("the Stytch answer is too large")
	}
	var out struct {
		Members []struct {
			MemberID     *string `json:"member_id"`
			Name         *string `json:"name"`
			EmailAddress *string `json:"email_address"`
		} `json:"members"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("the Stytch answer is not the expected JSON: %v", err)
	}
	members := make([]gen.Member, 0, len(out.Members))
	for i, m := range out.Members {
		if m.MemberID == nil || *m.MemberID == "" {
			return nil, fmt.Errorf("the Stytch answer's member %d has no member_id", i)
		}
		gm := gen.Member{MemberId: *m.MemberID, Name: nullable.NewNullNullable[string]()}
		if m.Name != nil {
			gm.Name = nullable.NewNullableWithValue(*m.Name)
		}
		if m.EmailAddress != nil {
			gm.EmailAddress = *m.EmailAddress
		}
		members = append(members, gm)
	}
	return members, nil
}
