// Package stytch is the client of Stytch's B2B member search, the member directory the
// organization endpoints read when Stytch is configured (docs/permissions.md#principals-and-members).
package stytch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Client calls Stytch's B2B API with the project's credentials.
type Client struct {
	baseURL   string
	projectID string
	secret    string
	http      *http.Client
}

// New is the client of the project projectID at baseURL (Stytch's live or test API).
func New(baseURL, projectID, secret string) *Client {
	return &Client{baseURL: baseURL, projectID: projectID, secret: secret, http: &http.Client{Timeout: 5 * time.Second}}
}

// maxBody bounds what is read from Stytch.
const maxBody = 16 << 20

// Member is one member of an organization, as Stytch describes it.
type Member struct {
	ID    string
	Name  *string // nil when Stytch has none
	Email string
}

// SearchMembers runs POST /v1/b2b/organizations/members/search for one organization (its first
// page, like the original service). Errors never carry the secret.
func (c *Client) SearchMembers(ctx context.Context, org string) ([]Member, error) {
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
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read the Stytch answer: %v", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("stytch answered %d", resp.StatusCode)
	}
	if len(body) > maxBody {
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
	members := make([]Member, 0, len(out.Members))
	for i, m := range out.Members {
		if m.MemberID == nil || *m.MemberID == "" {
			return nil, fmt.Errorf("the Stytch answer's member %d has no member_id", i)
		}
		member := Member{ID: *m.MemberID, Name: m.Name}
		if m.EmailAddress != nil {
			member.Email = *m.EmailAddress
		}
		members = append(members, member)
	}
	return members, nil
}
