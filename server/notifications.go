package server

import (
	"context"
	"strconv"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/panels/panels/clients/go/apitime"
	"github.com/panels/panels/gen"
	curs "github.com/panels/panels/server/cursor"
	"github.com/panels/panels/server/problem"
	"github.com/panels/panels/store"
)

// ListViewNotifications lists the caller's own view notifications, newest first.
func (s *Server) ListViewNotifications(ctx context.Context, req gen.ListViewNotificationsRequestObject) (gen.ListViewNotificationsResponseObject, error) {
	a := actorFrom(ctx)
	p := req.Params
	f := store.NotificationFilter{IsRead: p.IsRead, Since: p.Since, Limit: limitOr(p.Limit, defaultLimit), Offset: limitOr(p.Offset, 0)}
	if p.NotificationType != nil {
		f.Impact = string(*p.NotificationType)
	}
	// A cursor is only valid for the caller and the filters it was issued with.
	scope := a.TenantID + "|" + a.UserID + "|" + f.Impact
	if p.IsRead != nil {
		scope += "|read=" + strconv.FormatBool(*p.IsRead)
	}
	if p.Since != nil {
		scope += "|" + p.Since.UTC().Format(time.RFC3339Nano)
	}
	after, err := curs.DecodeOptional[curs.Key](s.cursors, p.Cursor, "notifications", scope)
	if err != nil {
		return nil, err
	}
	if after != nil {
		f.After = &store.NotificationCursor{CreatedAt: time.UnixMicro(after.Time), ID: after.ID}
	}
	page, err := s.store.ListNotifications(ctx, a, f)
	if err != nil {
		return nil, err
	}
	out := gen.ListViewNotifications200JSONResponse{Notifications: make([]gen.ViewNotification, len(page.Notifications)),
		Total: page.Total, TotalCapped: page.TotalCapped, UnreadCount: page.UnreadCount, HasMore: page.HasMore}
	for i := range page.Notifications {
		out.Notifications[i] = notificationToAPI(&page.Notifications[i])
	}
	if page.HasMore && len(page.Notifications) > 0 {
		last := page.Notifications[len(page.Notifications)-1]
		next := s.cursors.Encode("notifications", scope, &curs.Key{Time: last.CreatedAt.UnixMicro(), ID: last.ID})
		out.NextCursor = &next
	}
	if after == nil && f.Offset == 0 {
		hooks, err := s.store.ListWebhookNotifications(ctx, a)
		if err != nil {
			return nil, err
		}
		if len(hooks) > 0 {
			list := make([]gen.WebhookNotification, len(hooks))
			for i, n := range hooks {
				list[i] = gen.WebhookNotification{Id: n.ID, WebhookId: *n.WebhookID, Impact: gen.NotificationImpact(n.Impact),
					Message: n.Message, IsRead: n.IsRead, CreatedAt: apiTime(n.CreatedAt)}
			}
			out.WebhookNotifications = list
		}
	}
	return out, nil
}

// MarkViewNotificationsRead marks the caller's own notifications read; others' ids count nothing.
func (s *Server) MarkViewNotificationsRead(ctx context.Context, req gen.MarkViewNotificationsReadRequestObject) (gen.MarkViewNotificationsReadResponseObject, error) {
	if req.Body == nil {
		return nil, problem.BadRequest("body", "is required")
	}
	n, err := s.store.MarkNotificationsRead(ctx, actorFrom(ctx), req.Body.NotificationIds)
	if err != nil {
		return nil, err
	}
	return gen.MarkViewNotificationsRead200JSONResponse{Updated: n}, nil
}

func notificationToAPI(n *store.Notification) gen.ViewNotification {
	out := gen.ViewNotification{
		Id:        n.ID,
		ViewId:    n.ViewID,
		UserId:    n.UserID,
		TenantId:  n.TenantID,
		Impact:    gen.NotificationImpact(n.Impact),
		Message:   n.Message,
		IsRead:    n.IsRead,
		CreatedAt: apiTime(n.CreatedAt),
		ChangeId:  nullableOf(n.ChangeID),
		View: gen.NotificationView{
			Id:          n.ViewID,
			Name:        n.ViewName,
			PanelId:     n.ViewPanelID,
			PublishedBy: nullableOf(n.ViewPublishedBy),
		},
	}
	out.ReadAt = nullable.NewNullNullable[apitime.Time]()
	if n.ReadAt != nil {
		out.ReadAt = nullable.NewNullableWithValue(apiTime(*n.ReadAt))
	}
	return out
}
