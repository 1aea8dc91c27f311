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

// visiblePanels restricts a panel query to panels the actor can read. For a plain user, the three
// ways to read a panel (creating it, an ACL row naming one of its principals, a published view of
// it) are tested against sets each read from its own index (the set queries below): under OR, PostgreSQL
// builds each set once as a hashed subplan while it walks the panels in the list's index order,
// instead of running correlated subqueries, or reading every ACL row, for each panel it passes.
func visiblePanels(q *bun.SelectQuery, a Actor) *bun.SelectQuery {
	q = q.Where("panel.tenant_id = ?", a.TenantID)
	if a.Admin {
		return q
	}
	return q.Where(`(panel.owner_user_id = ? OR panel.id IN (`+grantedPanelsSQL+`) OR panel.id IN (`+publishedPanelsSQL+`))`,
		a.UserID, a.TenantID, bun.List(a.Principals()), a.TenantID)
}

// The sets of panels and views a plain user reads, each answered by one index (the tenant and
// principal index of acls, the owner and published indexes of panels and views). Arguments:
// grantedPanelsSQL and grantedViewsSQL take the tenant and the principals, ownedPanelsSQL and
// ownedViewsSQL the tenant and the sub, publishedPanelsSQL and publishedViewsSQL the tenant.
const (
	ownedPanelsSQL     = `SELECT op.id FROM panels AS op WHERE op.tenant_id = ? AND op.owner_user_id = ?`
	grantedPanelsSQL   = `SELECT gp.panel_id FROM acls AS gp WHERE gp.tenant_id = ? AND gp.user_email IN (?) AND gp.resource_type = 'panel'`
	publishedPanelsSQL = `SELECT pp.panel_id FROM views AS pp WHERE pp.tenant_id = ? AND pp.is_published`
	ownedViewsSQL      = `SELECT ov.id FROM views AS ov WHERE ov.tenant_id = ? AND ov.owner_user_id = ?`
	grantedViewsSQL    = `SELECT gv.view_id FROM acls AS gv WHERE gv.tenant_id = ? AND gv.user_email IN (?) AND gv.resource_type = 'view'`
	publishedViewsSQL  = `SELECT pv.id FROM views AS pv WHERE pv.tenant_id = ? AND pv.is_published`
)

// readablePanelsArray is an array of the ids of the panels a plain user reads, for counting rows
// of those panels: "col = ANY(" + expr + ")". PostgreSQL computes it once, from the indexes of its
// three sets, and then looks each id up in the counted table's index; a join to the same sets
// would let it read the whole counted table instead, since it cannot know how few ids there are.
func readablePanelsArray(a Actor) (string, []any) {
	return `ARRAY(` + ownedPanelsSQL + ` UNION ` + grantedPanelsSQL + ` UNION ` + publishedPanelsSQL + `)`,
		[]any{a.TenantID, a.UserID, a.TenantID, bun.List(a.Principals()), a.TenantID}
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

// visibleViews restricts a view query to views the actor can read (viewLevelExpr >= 1): for a
// plain user, its own views, published ones, those an ACL row shares with it, and those of the
// panels it has a permission on (owns or is named on), each tested against a set read from an
// index, as in visiblePanels. It needs no join to the panel.
func visibleViews(q *bun.SelectQuery, a Actor) *bun.SelectQuery {
	q = q.Where("view.tenant_id = ?", a.TenantID)
	if a.Admin {
		return q
	}
	return q.Where(`(view.owner_user_id = ? OR view.is_published OR view.id IN (`+grantedViewsSQL+`)
		OR view.panel_id IN (`+ownedPanelsSQL+`) OR view.panel_id IN (`+grantedPanelsSQL+`))`,
		a.UserID, a.TenantID, bun.List(a.Principals()), a.TenantID, a.UserID, a.TenantID, bun.List(a.Principals()))
}

// readableViewsSQL is the ids of the views a plain user reads (visibleViews), each set read from
// its index, without duplicates.
func readableViewsSQL(a Actor) (string, []any) {
	ps := bun.List(a.Principals())
	return ownedViewsSQL + ` UNION ` + grantedViewsSQL + ` UNION ` + publishedViewsSQL + `
		UNION SELECT dv.id FROM views AS dv WHERE dv.panel_id IN (` + ownedPanelsSQL + ` UNION ` + grantedPanelsSQL + `)`,
		[]any{a.TenantID, a.UserID, a.TenantID, ps, a.TenantID, a.TenantID, a.UserID, a.TenantID, ps}
}

// countableViews is visibleViews for counting: every readable view must be visited, so the ids
// come from the indexes of the sets (readablePanelsArray explains the array) rather than from a
// pass over all the tenant's views.
func countableViews(q *bun.SelectQuery, a Actor) *bun.SelectQuery {
	q = q.Where("view.tenant_id = ?", a.TenantID)
	if a.Admin {
		return q
	}
	ids, args := readableViewsSQL(a)
	return q.Where(`view.id = ANY(ARRAY(`+ids+`))`, args...)
}
