package store

import (
	"fmt"
	"strings"

	"github.com/uptrace/bun"
)

// Permission levels, ordered so that a higher level implies the lower ones.
type Permission int

// The permission ladder (docs/permissions.md). PermViewReader is below every ACL permission: it is what a
// caller has on a panel it reads only through a view (a published one, or one shared with it),
// and on a view it reads only because the view is published. Only the tables' rules (Permissions)
// say what it allows.
const (
	PermNone Permission = iota
	PermViewReader
	PermViewer
	PermEditor
	PermOwner
)

// parsePermission maps an ACL permission name to its level.
func parsePermission(s string) Permission {
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
	return [...]string{"none", "view reader", "viewer", "editor", "owner"}[p]
}

// allPrincipal is the ACL principal meaning every member of the tenant.
const allPrincipal = "_all"

// Actor is the authenticated caller on whose behalf the store acts.
type Actor struct {
	TenantID string
	UserID   string // sub
	Email    string // lower-cased, may be empty
	Admin    bool
	// PlainUser is the user role, which may not create panels; builders and admins may.
	PlainUser bool
}

// principals are the ACL principals that match the actor: email, sub and "_all".
func (a Actor) principals() []string {
	ps := []string{a.UserID, allPrincipal}
	if a.Email != "" {
		ps = append(ps, strings.ToLower(a.Email))
	}
	return ps
}

// ownerPrincipal is how the actor is written into an owner ACL row: the email, or the sub without one.
func (a Actor) ownerPrincipal() string {
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

// aclLevelSQL is an ACL row's permission (alias %s) as a Permission.
const aclLevelSQL = `CASE %[1]s.permission WHEN 'owner' THEN 4 WHEN 'editor' THEN 3 ELSE 2 END`

// panelDirectLevelExpr computes the actor's permission on the panel aliased "panel" from its ACL
// rows alone: admins own every panel; otherwise the best row naming one of the actor's principals
// (ownership is only what the rows say, not who created the panel), NULL without one.
func panelDirectLevelExpr(a Actor) (string, []any) {
	if a.Admin {
		return "4", nil
	}
	return `(SELECT max(` + fmt.Sprintf(aclLevelSQL, "acl") + `)
		FROM acls AS acl
		WHERE acl.tenant_id = ? AND acl.panel_id = panel.id AND acl.user_email IN (?))`, []any{a.TenantID, bun.List(a.principals())}
}

// panelLevelExpr is panelDirectLevelExpr, or view reader when the actor has no row on the panel
// but reads one of its views (published, or shared with one of its principals).
func panelLevelExpr(a Actor) (string, []any) {
	direct, args := panelDirectLevelExpr(a)
	if a.Admin {
		return direct, args
	}
	return `COALESCE(` + direct + `, CASE WHEN EXISTS (
		SELECT 1 FROM views AS pv WHERE pv.tenant_id = ? AND pv.panel_id = panel.id
		AND (pv.is_published OR pv.id IN (` + grantedViewsSQL + `))) THEN 1 ELSE 0 END)`,
		append(args, a.TenantID, a.TenantID, bun.List(a.principals()))
}

// visiblePanels restricts a panel query to panels the actor has a permission on (a view reader
// finds its views in the view list instead). For a plain user, the ids come from the tenant and
// principal index of acls, built once as a hashed subplan while PostgreSQL walks the panels in
// the list's index order and stops after the page. "IS TRUE" keeps it a subplan: a bare IN at the
// top of WHERE becomes a semi-join, which PostgreSQL prices as a hash join over every panel of
// the tenant followed by a sort.
func visiblePanels(q *bun.SelectQuery, a Actor) *bun.SelectQuery {
	q = q.Where("panel.tenant_id = ?", a.TenantID)
	if a.Admin {
		return q
	}
	return q.Where(`(panel.id IN (`+grantedPanelsSQL+`)) IS TRUE`, a.TenantID, bun.List(a.principals()))
}

// The sets of panels and views a plain user reads, each answered by one index (the tenant and
// principal index of acls, the published index of views). Arguments: grantedPanelsSQL and
// grantedViewsSQL take the tenant and the principals, publishedViewsSQL the tenant.
const (
	grantedPanelsSQL  = `SELECT gp.panel_id FROM acls AS gp WHERE gp.tenant_id = ? AND gp.user_email IN (?) AND gp.resource_type = 'panel'`
	grantedViewsSQL   = `SELECT gv.view_id FROM acls AS gv WHERE gv.tenant_id = ? AND gv.user_email IN (?) AND gv.resource_type = 'view'`
	publishedViewsSQL = `SELECT pv.id FROM views AS pv WHERE pv.tenant_id = ? AND pv.is_published`
)

// readablePanelsArray is an array of the ids of the panels a plain user has a permission on, for
// counting rows of those panels: "col = ANY(" + expr + ")". PostgreSQL computes it once from the
// acls index and then looks each id up in the counted table's index; a join to the same set
// would let it read the whole counted table instead, since it cannot know how few ids there are.
func readablePanelsArray(a Actor) (string, []any) {
	return `ARRAY(` + grantedPanelsSQL + `)`, []any{a.TenantID, bun.List(a.principals())}
}

// viewLevelExpr computes the actor's permission on the view aliased "view": the best of its ACL
// rows and of panelLevel, the actor's own level on the view's panel (an expression with its
// arguments, such as panelDirectLevelExpr's); view reader when the view is published and neither
// names the actor.
func viewLevelExpr(a Actor, panelLevel string, panelArgs []any) (string, []any) {
	if a.Admin {
		return "4", nil
	}
	return `GREATEST(
		(SELECT max(` + fmt.Sprintf(aclLevelSQL, "vacl") + `)
			FROM acls AS vacl
			WHERE vacl.tenant_id = ? AND vacl.view_id = view.id AND vacl.user_email IN (?)),
		` + panelLevel + `,
		CASE WHEN view.is_published THEN 1 ELSE 0 END)`,
		append([]any{a.TenantID, bun.List(a.principals())}, panelArgs...)
}

// visibleViews restricts a view query to views the actor can read (viewLevelExpr >= 1): for a
// plain user, published ones, those an ACL row shares with it, and those of the panels an ACL
// row names it on, each tested against a set read from an index, as in visiblePanels. It needs
// no join to the panel.
func visibleViews(q *bun.SelectQuery, a Actor) *bun.SelectQuery {
	q = q.Where("view.tenant_id = ?", a.TenantID)
	if a.Admin {
		return q
	}
	return q.Where(`(view.is_published OR view.id IN (`+grantedViewsSQL+`) OR view.panel_id IN (`+grantedPanelsSQL+`))`,
		a.TenantID, bun.List(a.principals()), a.TenantID, bun.List(a.principals()))
}

// readableViewsSQL is the ids of the views a plain user reads (visibleViews), each set read from
// its index, without duplicates. The views of its panels are looked up by panel id (the array
// is computed once), where a join would read every view of the tenant.
func readableViewsSQL(a Actor) (string, []any) {
	ps := bun.List(a.principals())
	return grantedViewsSQL + ` UNION ` + publishedViewsSQL + `
		UNION SELECT dv.id FROM views AS dv WHERE dv.tenant_id = ? AND dv.panel_id = ANY(ARRAY(` + grantedPanelsSQL + `))`,
		[]any{a.TenantID, ps, a.TenantID, a.TenantID, a.TenantID, ps}
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
