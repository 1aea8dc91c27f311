package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Notification impacts (closed enum of the contract).
const (
	ImpactBreaking = "breaking"
	ImpactWarning  = "warning"
	ImpactInfo     = "info"
)

// Notification tells one person that a change affected a view they can see.
type Notification struct {
	bun.BaseModel `bun:"table:view_notifications,alias:vn"`

	ID        int64      `bun:"id,pk,autoincrement"`
	TenantID  string     `bun:"tenant_id,notnull"`
	ViewID    int64      `bun:"view_id,notnull"`
	ChangeID  *int64     `bun:"change_id"`
	UserID    string     `bun:"user_id,notnull"` // the recipient's sub when known, else the principal as written
	Impact    string     `bun:"impact,notnull"`
	Message   string     `bun:"message,notnull"`
	IsRead    bool       `bun:"is_read,notnull"`
	ReadAt    *time.Time `bun:"read_at"`
	CreatedAt time.Time  `bun:"created_at,nullzero,notnull,default:current_timestamp"`
	// EventID places it in the event stream's order, shared with the change history (its default
	// draws from the changes' sequence).
	EventID int64 `bun:"event_id,scanonly"`
	// XID is the writing transaction, as NotificationsAfter reads it for the row's stream position.
	XID string `bun:"xid,scanonly"`

	// The view it concerns, joined by ListNotifications.
	ViewName        string  `bun:"view_name,scanonly"`
	ViewPanelID     int64   `bun:"view_panel_id,scanonly"`
	ViewPublishedBy *string `bun:"view_published_by,scanonly"`

	// WebhookID is set, and ViewID zero, on a notification about a webhook (it was disabled).
	WebhookID *int64 `bun:"webhook_id,scanonly"`
}

// viewEventKind is what happened to a panel, as far as its views are concerned.
type viewEventKind int

const (
	eventColumnModified viewEventKind = iota + 1
	eventColumnRemoved
	eventCohortChanged
	eventSourceChanged
	eventSourceRemoved
)

// viewEvent describes the change notifyViews tells views about.
type viewEvent struct {
	Kind viewEventKind
	// Column events: the column's id and name (its name after the change, for modifications) and
	// the view references that name it (the id as a decimal string, the name).
	ColumnID int64
	Column   string
	Refs     []string
	// Data source events.
	Source *DataSource
}

// columnModified is the event of a modified column c (after the change, view references renamed).
func columnModified(c *Column) viewEvent {
	return viewEvent{Kind: eventColumnModified, ColumnID: c.ID, Column: c.Name,
		Refs: []string{strconv.FormatInt(c.ID, 10), c.Name}}
}

// columnRemoved is the event of a removed column; refs are the references the removal strips from
// views (the id, and the name unless a surviving column still carries it).
func columnRemoved(c *Column, refs []string) viewEvent {
	return viewEvent{Kind: eventColumnRemoved, ColumnID: c.ID, Column: c.Name, Refs: refs}
}

func cohortChangedEvent() viewEvent { return viewEvent{Kind: eventCohortChanged} }

func sourceChangedEvent(ds *DataSource) viewEvent {
	return viewEvent{Kind: eventSourceChanged, Source: ds}
}

func sourceRemovedEvent(ds *DataSource) viewEvent {
	return viewEvent{Kind: eventSourceRemoved, Source: ds}
}

// impact is how badly the event hurts a view that it affects.
func (ev viewEvent) impact() string {
	switch ev.Kind {
	case eventColumnRemoved:
		return ImpactBreaking // the view shows, sorts or filters on a column that is gone
	case eventColumnModified:
		return ImpactWarning
	}
	return ImpactInfo
}

// message describes the event to the people of view v.
func (ev viewEvent) message(p *Panel, change *Change, viewName string) string {
	switch ev.Kind {
	case eventColumnRemoved:
		return fmt.Sprintf("Column %q was removed from panel %q; view %q can no longer render as saved", ev.Column, p.Name, viewName)
	case eventColumnModified:
		what := ""
		if change != nil {
			keys := make([]string, 0, len(change.NewValues)+len(change.OldValues))
			for _, m := range []map[string]any{change.OldValues, change.NewValues} {
				for k := range m {
					if !slices.Contains(keys, k) {
						keys = append(keys, k)
					}
				}
			}
			slices.Sort(keys)
			if len(keys) > 0 {
				what = " (" + strings.Join(keys, ", ") + ")"
			}
		}
		return fmt.Sprintf("Column %q of panel %q was modified%s; view %q uses it", ev.Column, p.Name, what, viewName)
	case eventCohortChanged:
		return fmt.Sprintf("The cohort rule of panel %q changed; view %q may show different records", p.Name, viewName)
	case eventSourceChanged:
		return fmt.Sprintf("Data source %d (%s) of panel %q was changed; view %q may show different records", ev.Source.ID, ev.Source.Type, p.Name, viewName)
	case eventSourceRemoved:
		return fmt.Sprintf("Data source %d (%s) was removed from panel %q; view %q may show different records", ev.Source.ID, ev.Source.Type, p.Name, viewName)
	}
	return fmt.Sprintf("Panel %q changed; view %q may be affected", p.Name, viewName)
}

// notifMember is a known member of the tenant, as far as notifications need one.
type notifMember struct {
	UserID string  `bun:"user_id"`
	Email  *string `bun:"email"`
}

// notifyViews writes, in the caller's transaction (the one that recorded change), one notification
// per recipient and affected view of panel p. Syncs never call it.
//
// Affected views are the panel's views that are published or shared and, for column events, use
// the column: a visibleColumns entry, a sort or a filter names it by id (decimal string) or by name
// (ev.Refs). For a removal this must run before removeViewReferences strips those references.
//
// "Shared" means precisely: the view has an ACL row that is an `_all` row or names a principal other
// than the view's owner. A row names the owner when its principal resolves to the owner's sub (see
// below); the owner row CreateView writes (with the owner's email) thus never makes a view shared.
// ACL rows of the panel alone do not make its views shared: a private view stays private.
//
// Recipients of an affected view: its owner; every principal named by an ACL row of the view or of
// its panel (`_all` itself names nobody); and every known member of the tenant when the view is
// published or an `_all` row of the view or its panel lets every member read it. Never the actor
// (sub, or email compared case-insensitively).
//
// One person gets one notification per view: a principal resolves to a sub through the members
// table (user id, or email compared lower-cased), the actor's own token, or the creator row of the
// panel or the view (ACL.Creator: the owner row written with the resource, which names its
// creator). user_id stores the sub when known, else the principal as written.
func notifyViews(ctx context.Context, tx bun.IDB, a Actor, p *Panel, change *Change, ev viewEvent) error {
	views, err := affectedViews(ctx, tx, p, ev)
	if err != nil || len(views) == 0 {
		return err
	}
	viewIDs := make([]int64, len(views))
	for i, v := range views {
		viewIDs[i] = v.ID
	}
	var acls []ACL
	if err := tx.NewSelect().Model(&acls).Where("acl.tenant_id = ?", p.TenantID).
		Where("(acl.view_id IN (?) OR acl.panel_id = ?)", bun.List(viewIDs), p.ID).
		OrderExpr("acl.id").Scan(ctx); err != nil {
		return mapErr(err)
	}
	aud := newAudience(views, acls)
	members, err := audienceMembers(ctx, tx, p.TenantID, aud)
	if err != nil {
		return err
	}
	resolve := principalResolver(a, p, views, acls, members)
	var out []Notification
	for _, v := range views {
		msg := ev.message(p, change, v.Name)
		for _, who := range aud.recipients(v, acls, members, resolve) {
			if who == "" || a.is(who) {
				continue
			}
			n := Notification{TenantID: p.TenantID, ViewID: v.ID, UserID: who, Impact: ev.impact(), Message: msg}
			if change != nil {
				id := change.ID
				n.ChangeID = &id
			}
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil
	}
	_, err = tx.NewInsert().Model(&out).Exec(ctx)
	return err
}

// affectedViews reads the panel's views the event may concern: those published or with ACL rows
// (whether those rows really share the view is decided by the audience), and for column events
// only those naming the column.
func affectedViews(ctx context.Context, tx bun.IDB, p *Panel, ev viewEvent) ([]View, error) {
	var views []View
	q := tx.NewSelect().Model(&views).
		Column("view.id", "view.name", "view.owner_user_id", "view.is_published").
		Where("view.tenant_id = ?", p.TenantID).Where("view.panel_id = ?", p.ID).
		Where("(view.is_published OR EXISTS (SELECT 1 FROM acls AS sacl WHERE sacl.tenant_id = view.tenant_id AND sacl.view_id = view.id))").
		OrderExpr("view.id")
	if ev.Kind == eventColumnModified || ev.Kind == eventColumnRemoved {
		if len(ev.Refs) == 0 {
			return nil, nil
		}
		refs := bun.List(ev.Refs)
		q = q.Where(`(EXISTS (SELECT 1 FROM jsonb_array_elements_text(view.visible_columns) AS r(e) WHERE r.e IN (?))
			OR EXISTS (SELECT 1 FROM view_sorts AS rs WHERE rs.view_id = view.id AND rs.column_name IN (?))
			OR EXISTS (SELECT 1 FROM view_filters AS rf WHERE rf.view_id = view.id AND rf.column_name IN (?)))`,
			refs, refs, refs)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, mapErr(err)
	}
	return views, nil
}

// audience is who the ACL rows of the affected views and their panel let read them.
type audience struct {
	panelAll   bool           // an _all row of the panel
	viewAll    map[int64]bool // views with an _all row
	principals []string       // owners and principals named by rows, as written and lower-cased
	everyone   bool           // some view reaches every member of the tenant
}

func newAudience(views []View, acls []ACL) *audience {
	aud := &audience{viewAll: map[int64]bool{}, principals: []string{}}
	aud.panelAll = slices.ContainsFunc(acls, func(r ACL) bool { return r.PanelID != nil && r.UserEmail == allPrincipal })
	for _, v := range views {
		aud.principals = append(aud.principals, v.OwnerUserID)
	}
	for _, r := range acls {
		if r.UserEmail == allPrincipal {
			if r.ViewID != nil {
				aud.viewAll[*r.ViewID] = true
			}
			continue
		}
		aud.principals = append(aud.principals, r.UserEmail, strings.ToLower(r.UserEmail))
	}
	aud.everyone = aud.panelAll || slices.ContainsFunc(views, func(v View) bool { return v.IsPublished || aud.viewAll[v.ID] })
	return aud
}

// audienceMembers reads the tenant's members: all of them when some view reaches every member,
// else those the principals name.
func audienceMembers(ctx context.Context, tx bun.IDB, tenantID string, aud *audience) ([]notifMember, error) {
	var members []notifMember
	mq := tx.NewSelect().TableExpr("members AS m").ColumnExpr("m.user_id, lower(m.email) AS email").
		Where("m.tenant_id = ?", tenantID).OrderExpr("m.first_seen_at, m.user_id")
	if !aud.everyone {
		mq = mq.Where("(m.user_id IN (?) OR lower(m.email) IN (?))", bun.List(aud.principals), bun.List(aud.principals))
	}
	if err := mq.Scan(ctx, &members); err != nil {
		return nil, mapErr(err)
	}
	return members, nil
}

// principalResolver maps a principal to the sub of the person it names, when known: a member's
// user id as is, else through a member's email, the actor's own token, or the creator row of the
// panel or a view (which names the resource's owner); otherwise the principal as written.
func principalResolver(a Actor, p *Panel, views []View, acls []ACL, members []notifMember) func(string) string {
	isMember := make(map[string]bool, len(members))
	alias := map[string]string{} // lower-cased email (or other principal) -> sub
	setAlias := func(principal, sub string) {
		if k := strings.ToLower(principal); k != "" && sub != "" {
			if _, ok := alias[k]; !ok {
				alias[k] = sub
			}
		}
	}
	for _, m := range members {
		isMember[m.UserID] = true
		if m.Email != nil {
			setAlias(*m.Email, m.UserID)
		}
	}
	setAlias(a.Email, a.UserID)
	for _, r := range acls {
		if r.UserEmail == allPrincipal || !r.Creator {
			continue
		}
		if r.PanelID != nil && *r.PanelID == p.ID {
			setAlias(r.UserEmail, p.OwnerUserID)
		}
		if r.ViewID != nil {
			if i := slices.IndexFunc(views, func(v View) bool { return v.ID == *r.ViewID }); i >= 0 {
				setAlias(r.UserEmail, views[i].OwnerUserID)
			}
		}
	}
	return func(principal string) string {
		if isMember[principal] {
			return principal
		}
		if sub, ok := alias[strings.ToLower(principal)]; ok {
			return sub
		}
		return principal
	}
}

// recipients lists, sorted and once each, who hears about a change to view v; nil when the view
// is neither published nor shared.
func (aud *audience) recipients(v View, acls []ACL, members []notifMember, resolve func(string) string) []string {
	shared := aud.viewAll[v.ID] || slices.ContainsFunc(acls, func(r ACL) bool {
		return r.ViewID != nil && *r.ViewID == v.ID && resolve(r.UserEmail) != v.OwnerUserID
	})
	if !v.IsPublished && !shared {
		return nil
	}
	recipients := []string{v.OwnerUserID}
	for _, r := range acls {
		if r.UserEmail != allPrincipal && (r.PanelID != nil || *r.ViewID == v.ID) {
			recipients = append(recipients, resolve(r.UserEmail))
		}
	}
	if v.IsPublished || aud.viewAll[v.ID] || aud.panelAll {
		for _, m := range members {
			recipients = append(recipients, m.UserID)
		}
	}
	slices.Sort(recipients)
	return slices.Compact(recipients)
}

// NotificationFilter selects the caller's notifications.
type NotificationFilter struct {
	IsRead *bool
	Impact string // "" for every impact
	Since  *time.Time
	Limit  int
	Offset int
	After  *NotificationCursor // keyset position; Offset is ignored when set
}

// NotificationCursor is a keyset position in the newest-first notification order.
type NotificationCursor struct {
	CreatedAt time.Time
	ID        int64
}

// NotificationPage is one page of the caller's notifications.
type NotificationPage struct {
	Notifications []Notification
	Total         int
	TotalCapped   bool
	UnreadCount   int // every unread notification of the caller, whatever the filters (capped like Total)
	HasMore       bool
}

// recipientIDs are the user_id values under which the actor's notifications are stored.
func (a Actor) recipientIDs() []string {
	ids := []string{a.UserID}
	if a.Email != "" {
		ids = append(ids, strings.ToLower(a.Email))
	}
	return ids
}

// ListNotifications returns the actor's own notifications, newest first, each with its view.
func (s *Store) ListNotifications(ctx context.Context, a Actor, f NotificationFilter) (NotificationPage, error) {
	// Notifications about webhooks (view_id NULL) are not view notifications: ListWebhookNotifications.
	own := func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("vn.tenant_id = ?", a.TenantID).Where("vn.user_id IN (?)", bun.List(a.recipientIDs())).
			Where("vn.view_id IS NOT NULL")
	}
	base := func(q *bun.SelectQuery) *bun.SelectQuery {
		q = q.Apply(own)
		if f.IsRead != nil {
			q = q.Where("vn.is_read = ?", *f.IsRead)
		}
		if f.Impact != "" {
			q = q.Where("vn.impact = ?", f.Impact)
		}
		if f.Since != nil {
			q = q.Where("vn.created_at >= ?", *f.Since)
		}
		return q
	}
	page := NotificationPage{Notifications: []Notification{}}
	// The actor's notifications may be stored under its sub and under its email: one branch per
	// recipient id, each read in the order of the recipient index and cut at the page's end, so
	// PostgreSQL merges them instead of sorting every notification of the actor.
	var branches []any
	var union string
	for i, id := range a.recipientIDs() {
		b := s.db.NewSelect().TableExpr("view_notifications AS vn").ColumnExpr("vn.*").
			Where("vn.tenant_id = ?", a.TenantID).Where("vn.user_id = ?", id)
		if f.IsRead != nil {
			b = b.Where("vn.is_read = ?", *f.IsRead)
		}
		if f.Impact != "" {
			b = b.Where("vn.impact = ?", f.Impact)
		}
		if f.Since != nil {
			b = b.Where("vn.created_at >= ?", *f.Since)
		}
		if f.After != nil {
			b = b.Where("(vn.created_at, vn.id) < (?, ?)", f.After.CreatedAt, f.After.ID)
		}
		end := f.Limit + 1
		if f.After == nil {
			end += f.Offset
		}
		branches = append(branches, b.OrderExpr("vn.created_at DESC, vn.id DESC").Limit(int64(end)))
		if i > 0 {
			union += " UNION ALL "
		}
		union += "(?)"
	}
	q := s.db.NewSelect().Model(&page.Notifications).ModelTableExpr("("+union+") AS vn", branches...).ColumnExpr("vn.*").
		ColumnExpr("view.name AS view_name, view.panel_id AS view_panel_id, view.published_by AS view_published_by").
		Join("JOIN views AS view ON view.tenant_id = ? AND view.id = vn.view_id", a.TenantID).
		OrderExpr("vn.created_at DESC, vn.id DESC").Limit(int64(f.Limit + 1))
	if f.After == nil && f.Offset > 0 {
		q = q.Offset(int64(f.Offset))
	}
	if err := q.Scan(ctx); err != nil {
		return NotificationPage{}, mapErr(err)
	}
	if len(page.Notifications) > f.Limit {
		page.HasMore = true
		page.Notifications = page.Notifications[:f.Limit]
	}
	total, capped, err := cappedCount(ctx, s.db, s.db.NewSelect().Model((*Notification)(nil)).Apply(base))
	if err != nil {
		return NotificationPage{}, err
	}
	page.Total, page.TotalCapped = total, capped
	unread, _, err := cappedCount(ctx, s.db, s.db.NewSelect().Model((*Notification)(nil)).Apply(own).Where("NOT vn.is_read"))
	if err != nil {
		return NotificationPage{}, err
	}
	page.UnreadCount = unread
	return page, nil
}

// MarkNotificationsRead marks the actor's own unread notifications among ids as read and returns
// how many changed. Ids of other people's notifications (or another tenant's) change nothing.
func (s *Store) MarkNotificationsRead(ctx context.Context, a Actor, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	res, err := s.db.NewUpdate().Model((*Notification)(nil)).
		Set("is_read = true").Set("read_at = now()").
		Where("vn.tenant_id = ?", a.TenantID).Where("vn.user_id IN (?)", bun.List(a.recipientIDs())).
		Where("vn.id IN (?)", bun.List(ids)).Where("NOT vn.is_read").
		Exec(ctx)
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, mapErr(err)
	}
	return int(n), nil
}

// is reports whether who names the actor: its sub, or its email compared case-insensitively.
func (a Actor) is(who string) bool {
	return who == a.UserID || (a.Email != "" && strings.EqualFold(who, a.Email))
}

// maxWebhookNotifications bounds the webhook notifications one list answer carries.
const maxWebhookNotifications = 100

// ListWebhookNotifications returns the actor's unread notifications about its webhooks, newest
// first, at most maxWebhookNotifications.
func (s *Store) ListWebhookNotifications(ctx context.Context, a Actor) ([]Notification, error) {
	out := []Notification{}
	err := s.db.NewSelect().Model(&out).ColumnExpr("vn.id, vn.tenant_id, vn.user_id, vn.impact, vn.message, vn.is_read, vn.created_at, vn.webhook_id").
		Where("vn.tenant_id = ?", a.TenantID).Where("vn.user_id IN (?)", bun.List(a.recipientIDs())).
		Where("vn.webhook_id IS NOT NULL").Where("NOT vn.is_read").
		OrderExpr("vn.created_at DESC, vn.id DESC").Limit(maxWebhookNotifications).Scan(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}
