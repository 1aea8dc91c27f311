package auth

import (
	"errors"
	"strings"
	"time"
)

// Role gates only panel creation and tenant-wide admin rights; everything else
// is decided by ACLs.
type Role string

const (
	RoleAdmin   Role = "admin"
	RoleBuilder Role = "builder"
	RoleUser    Role = "user"
)

// Principal is the caller identity taken from a verified token.
type Principal struct {
	TenantID       string
	UserID         string // sub
	Email          string // lower-cased; may be ""
	Role           Role
	OrganizationID string // Stytch organization_id, when present (members proxy)
	// Expires is when the token stops being honoured (exp plus the leeway): what an open event
	// stream closes at. Zero for principals not made from a token.
	Expires time.Time
}

// Stytch B2B session JWTs carry tenant and roles in these namespaced claims;
// the original web UI sends them, so they are accepted alongside ours.
const (
	stytchOrgClaim     = "https://stytch.com/organization"
	stytchSessionClaim = "https://stytch.com/session"
)

var roleRank = map[Role]int{RoleUser: 0, RoleBuilder: 1, RoleAdmin: 2}

// ClaimsPrincipal maps verified claims to a Principal. It trusts its input, so
// it must only see claims whose signature has been checked.
func ClaimsPrincipal(claims map[string]any) (Principal, error) {
	// PostgreSQL cannot store a NUL, and a claim ends up in SQL (tenant, sub, email): a token
	// carrying one anywhere is not a credential this service can honour (docs/data-flow.md#storable-input).
	if hasNUL(claims) {
		return Principal{}, errors.New("a claim contains a NUL character")
	}
	var p Principal
	p.UserID, _ = claims["sub"].(string)
	if p.UserID == "" {
		return Principal{}, errors.New("token has no sub")
	}
	email, _ := claims["email"].(string)
	p.Email = strings.ToLower(strings.TrimSpace(email))

	org, _ := claims[stytchOrgClaim].(map[string]any)
	p.OrganizationID, _ = org["organization_id"].(string)
	p.TenantID, _ = claims["tenant_id"].(string)
	if p.TenantID == "" {
		p.TenantID, _ = org["slug"].(string)
	}
	if p.TenantID == "" {
		return Principal{}, errors.New("token has no tenant")
	}

	p.Role = RoleUser
	raise := func(r Role) {
		if roleRank[r] > roleRank[p.Role] {
			p.Role = r
		}
	}
	for _, s := range stringList(claims["roles"]) {
		raise(ourRole(s))
	}
	if s, ok := claims["role"].(string); ok {
		raise(ourRole(s))
	}
	session, _ := claims[stytchSessionClaim].(map[string]any)
	for _, s := range stringList(session["roles"]) {
		raise(stytchRole(s))
	}
	return p, nil
}

// ourRole maps our own role names; unknown names grant nothing beyond user.
func ourRole(s string) Role {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case RoleAdmin, RoleBuilder:
		return r
	}
	return RoleUser
}

func stytchRole(s string) Role {
	switch s {
	case "Panels Admin", "Org Admin":
		return RoleAdmin
	case "Panels Builder":
		return RoleBuilder
	}
	return RoleUser
}

// stringList accepts both decoded JSON ([]any) and hand-built ([]string) lists.
func stringList(v any) []string {
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// hasNUL reports a NUL in any string of v, keys included, at any depth.
func hasNUL(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.IndexByte(x, 0) >= 0
	case []string:
		for _, e := range x {
			if strings.IndexByte(e, 0) >= 0 {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range x {
			if strings.IndexByte(k, 0) >= 0 || hasNUL(e) {
				return true
			}
		}
	}
	return false
}
