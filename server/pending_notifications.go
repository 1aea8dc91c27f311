package server

// Operations of the contract that later work implements. Each answers 501 problem+json, as the
// spec documents, until then.

import (
	"context"

	"github.com/panels/panels/gen"
)

func (s *Server) ListViewNotifications(context.Context, gen.ListViewNotificationsRequestObject) (gen.ListViewNotificationsResponseObject, error) {
	return nil, notImplemented("listViewNotifications")
}

func (s *Server) MarkViewNotificationsRead(context.Context, gen.MarkViewNotificationsReadRequestObject) (gen.MarkViewNotificationsReadResponseObject, error) {
	return nil, notImplemented("markViewNotificationsRead")
}
