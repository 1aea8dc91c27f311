package store

import (
	"strings"

	"github.com/uptrace/bun"
)

// Permission levels, ordered so that a higher level implies the lower ones.
type Permission int

// The permission ladder of api.md §2.
const (
	PermNone Permission = iota
	PermViewer
	PermEditor
	PermOwner
)

// ParsePermission maps an ACL permission name to its level.
func ParsePermission(s string) Permission {
	switch s {
	case "viewer":
		return PermViewer
	case "editor":
		return PermEditor
	case "owner":
		return PermOwner
	}
	return PermNone
}

func (p Permission) String() string {
	return [...]string{"none", "viewer", "editor", "owner"}[p]
}

// AllPrincipal is the ACL principal meaning every member of the tenant.
const AllPrincipal = "_all"

// Actor is the authenticated caller on whose behalf the store acts.
type Actor struct {
	TenantID string
	UserID   string // sub
	Email    string // lower-cased, may be empty
	Admin    bool
}

// Principals are the ACL principals that match the actor: email, sub and "_all".
func (a Actor) Principals() []string {
	ps := []string{a.UserID, AllPrincipal}
	if a.Email != "" {
		ps = append(ps, strings.ToLower(a.Email))
	}
	return ps
}

// OwnerPrincipal is how the actor is written into an owner ACL row: the email, or the sub without one.
func (a Actor) OwnerPrincipal() string {
	if a.Email != "" {
		return strings.ToLower(a.Email)
	}
	return a.UserID
}

func (a Actor) emailPtr() *string {
	if a.Email == "" {
		return nil
	}
	e := a.Email
	return &e
}

// panelDirectLevelExpr computes the actor's own permission on the panel aliased "panel": admins and
// the creator own it; otherwise the best ACL row naming one of the actor's principals.
func panelDirectLevelExpr(a Actor) (string, []any) {
	if a.Admin {
		return "3", nil
	}
	return `CASE WHEN panel.owner_user_id = ? THEN 3 ELSE COALESCE((
		SELECT max(CASE acl.permission WHEN 'owner' THEN 3 WHEN 'editor' THEN 2 ELSE 1 END)
		FROM acls AS acl
		WHERE acl.tenant_id = panel.tenant_id AND acl.panel_id = panel.id AND acl.user_email IN (?)
	), 0) END`, []any{a.UserID, bun.List(a.Principals())}
}

// panelLevelExpr is panelDirectLevelExpr raised to viewer when the panel has a published view:
// reading a published view grants read-only access to its panel, data sources and columns.
func panelLevelExpr(a Actor) (string, []any) {
	direct, args := panelDirectLevelExpr(a)
	if a.Admin {
		return direct, args
	}
	return `GREATEST((` + direct + `), CASE WHEN EXISTS (
		SELECT 1 FROM views AS pv WHERE pv.panel_id = panel.id AND pv.is_published) THEN 1 ELSE 0 END)`, args
}

// visiblePanels restricts a panel query to panels the actor can read.
func visiblePanels(q *bun.SelectQuery, a Actor) *bun.SelectQuery {
	q = q.Where("panel.tenant_id = ?", a.TenantID)
	if a.Admin {
		return q
	}
	return q.Where(`(panel.owner_user_id = ? OR EXISTS (
		SELECT 1 FROM acls AS acl
		WHERE acl.tenant_id = panel.tenant_id AND acl.panel_id = panel.id AND acl.user_email IN (?))
		OR EXISTS (SELECT 1 FROM views AS pv WHERE pv.panel_id = panel.id AND pv.is_published))`,
		a.UserID, bun.List(a.Principals()))
}

// viewLevelExpr computes the actor's permission on the view aliased "view" (joined to its panel
// aliased "panel"): the view's owner owns it; otherwise the best of its ACL rows, the actor's own
// permission on the panel, and viewer when it is published.
func viewLevelExpr(a Actor) (string, []any) {
	if a.Admin {
		return "3", nil
	}
	direct, args := panelDirectLevelExpr(a)
	return `CASE WHEN view.owner_user_id = ? THEN 3 ELSE GREATEST(
		COALESCE((SELECT max(CASE vacl.permission WHEN 'owner' THEN 3 WHEN 'editor' THEN 2 ELSE 1 END)
			FROM acls AS vacl
			WHERE vacl.tenant_id = view.tenant_id AND vacl.view_id = view.id AND vacl.user_email IN (?)), 0),
		(` + direct + `),
		CASE WHEN view.is_published THEN 1 ELSE 0 END) END`,
		append([]any{a.UserID, bun.List(a.Principals())}, args...)
}

// visibleViews restricts a view query (view joined to panel) to views the actor can read.
func visibleViews(q *bun.SelectQuery, a Actor) *bun.SelectQuery {
	q = q.Where("view.tenant_id = ?", a.TenantID)
	if a.Admin {
		return q
	}
	expr, args := viewLevelExpr(a)
	return q.Where("("+expr+") >= 1", args...)
}
