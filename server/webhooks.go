package server

import (
	"context"
	"log/slog"
	"net/url"
	"strconv"

	"github.com/oapi-codegen/nullable"

	"github.com/panels/panels/clients/go/apitime"
	"github.com/panels/panels/gen"
	curs "github.com/panels/panels/server/cursor"
	"github.com/panels/panels/server/problem"
	"github.com/panels/panels/server/webhook"
	"github.com/panels/panels/store"
)

// newWebhookWorker builds the delivery worker of cfg, sending through the outbound guard of syncs.
func newWebhookWorker(cfg Config, st *store.Store, flow *dataFlow, log *slog.Logger) *webhook.Worker {
	return webhook.New(st, flow.guard.HTTPClient(), log, webhook.Options{
		Schedule: cfg.WebhookRetrySchedule, MaxFailures: cfg.WebhookMaxFailures, Poll: cfg.WebhookPollInterval,
		Timeout: cfg.WebhookTimeout, Workers: cfg.WebhookWorkers,
	}, func(c *store.Change) any { return changeToAPI(c) })
}

// checkWebhookURL refuses (422) a URL the worker could never deliver to: not http(s), with
// credentials or a fragment, or whose host the outbound guard refuses. The worker's dialer checks
// the address again at every attempt, so a later DNS change cannot open a refused address.
func (s *Server) checkWebhookURL(ctx context.Context, raw string) error {
	bad := func(reason string) error {
		return &store.InvalidError{Message: "url: " + reason, Problems: []store.Problem{{Field: "url", Reason: reason}}}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return bad("must be an absolute http or https URL")
	}
	if u.User != nil || u.Fragment != "" {
		return bad("must not carry credentials or a fragment")
	}
	if _, err := s.flow.guard.Resolve(ctx, u.Hostname()); err != nil {
		return bad(err.Error())
	}
	return nil
}

// checkEvents refuses (422) an entry that is not a change type, and "*" mixed with types.
func checkEvents(events []string) error {
	for i, e := range events {
		if e == store.AllEvents {
			if len(events) > 1 {
				return &store.InvalidError{Message: `events: "*" stands alone`, Problems: []store.Problem{{Field: "events", Reason: `"*" must be the only entry`}}}
			}
			continue
		}
		if !gen.ChangeType(e).Valid() {
			field := "events." + strconv.Itoa(i)
			return &store.InvalidError{Message: field + ": not a change type", Problems: []store.Problem{{Field: field, Reason: "is not a changeType value or \"*\""}}}
		}
	}
	return nil
}

// CreateWebhook creates a webhook; its answer is the only one that shows the secret.
func (s *Server) CreateWebhook(ctx context.Context, req gen.CreateWebhookRequestObject) (gen.CreateWebhookResponseObject, error) {
	if req.Body == nil {
		return nil, problem.BadRequest("body", "is required")
	}
	b := req.Body
	in := store.WebhookInput{URL: b.Url, Events: dedupe(b.Events)}
	if b.Description != nil {
		in.Description = *b.Description
	}
	// The body is checked once the store has found the caller allowed (404/403 come before 422),
	// so that a caller who may not create the webhook learns nothing about which addresses resolve.
	w, err := s.store.CreateWebhook(ctx, actorFrom(ctx), b.PanelId, in, func() error {
		if err := checkEvents(b.Events); err != nil {
			return err
		}
		return s.checkWebhookURL(ctx, b.Url)
	})
	if err != nil {
		return nil, err
	}
	api := webhookToAPI(w)
	loc := "/api/webhooks/" + strconv.FormatInt(w.ID, 10)
	return gen.CreateWebhook201JSONResponse{Body: gen.WebhookWithSecret{
		Id: api.Id, PanelId: api.PanelId, Url: api.Url, Events: api.Events, Description: api.Description, Enabled: api.Enabled,
		ConsecutiveFailures: api.ConsecutiveFailures, DisabledReason: api.DisabledReason, CreatedBy: api.CreatedBy,
		CreatedAt: api.CreatedAt, UpdatedAt: api.UpdatedAt, Secret: w.Secret,
	}, Headers: gen.CreateWebhook201ResponseHeaders{Location: &loc}}, nil
}

func dedupe(xs []string) []string {
	out := make([]string, 0, len(xs))
	seen := map[string]bool{}
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// ListWebhooks lists the webhooks the caller manages.
func (s *Server) ListWebhooks(ctx context.Context, req gen.ListWebhooksRequestObject) (gen.ListWebhooksResponseObject, error) {
	a := actorFrom(ctx)
	p := req.Params
	scope := a.TenantID + "|" + a.UserID
	if p.PanelId != nil {
		scope += "|" + strconv.FormatInt(*p.PanelId, 10)
	}
	after, err := curs.DecodeOptional[curs.Key](s.cursors, p.Cursor, "webhooks", scope)
	if err != nil {
		return nil, err
	}
	var afterID int64
	if after != nil {
		afterID = after.ID
	}
	page, err := s.store.ListWebhooks(ctx, a, p.PanelId, limitOr(p.Limit, defaultLimit), limitOr(p.Offset, 0), afterID)
	if err != nil {
		return nil, err
	}
	out := gen.ListWebhooks200JSONResponse{Webhooks: make([]gen.Webhook, len(page.Webhooks)), Total: page.Total,
		TotalCapped: page.TotalCapped, HasMore: page.HasMore}
	for i := range page.Webhooks {
		out.Webhooks[i] = webhookToAPI(&page.Webhooks[i])
	}
	if page.HasMore && len(page.Webhooks) > 0 {
		next := s.cursors.Encode("webhooks", scope, &curs.Key{ID: page.Webhooks[len(page.Webhooks)-1].ID})
		out.NextCursor = &next
	}
	return out, nil
}

// GetWebhook returns one webhook, without its secret.
func (s *Server) GetWebhook(ctx context.Context, req gen.GetWebhookRequestObject) (gen.GetWebhookResponseObject, error) {
	w, err := s.store.GetWebhook(ctx, actorFrom(ctx), req.WebhookId)
	if err != nil {
		return nil, err
	}
	return gen.GetWebhook200JSONResponse(webhookToAPI(w)), nil
}

// UpdateWebhook changes a webhook; enabling it again resets its failure count.
func (s *Server) UpdateWebhook(ctx context.Context, req gen.UpdateWebhookRequestObject) (gen.UpdateWebhookResponseObject, error) {
	if req.Body == nil {
		return nil, problem.BadRequest("body", "is required")
	}
	b := req.Body
	patch := store.WebhookPatch{URL: b.Url, Description: b.Description, Enabled: b.Enabled}
	if b.Events != nil {
		patch.Events = dedupe(*b.Events)
	}
	w, err := s.store.UpdateWebhook(ctx, actorFrom(ctx), req.WebhookId, patch, func() error {
		if b.Events != nil {
			if err := checkEvents(*b.Events); err != nil {
				return err
			}
		}
		if b.Url != nil {
			return s.checkWebhookURL(ctx, *b.Url)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return gen.UpdateWebhook200JSONResponse(webhookToAPI(w)), nil
}

// DeleteWebhook deletes a webhook and its queue.
func (s *Server) DeleteWebhook(ctx context.Context, req gen.DeleteWebhookRequestObject) (gen.DeleteWebhookResponseObject, error) {
	if err := s.store.DeleteWebhook(ctx, actorFrom(ctx), req.WebhookId); err != nil {
		return nil, err
	}
	return gen.DeleteWebhook204Response{}, nil
}

// ListWebhookDeliveries lists a webhook's deliveries, newest first.
func (s *Server) ListWebhookDeliveries(ctx context.Context, req gen.ListWebhookDeliveriesRequestObject) (gen.ListWebhookDeliveriesResponseObject, error) {
	a := actorFrom(ctx)
	p := req.Params
	status := ""
	if p.Status != nil {
		status = string(*p.Status)
	}
	scope := a.TenantID + "|" + strconv.FormatInt(req.WebhookId, 10) + "|" + status
	after, err := curs.DecodeOptional[curs.Key](s.cursors, p.Cursor, "deliveries", scope)
	if err != nil {
		return nil, err
	}
	var afterID int64
	if after != nil {
		afterID = after.ID
	}
	page, err := s.store.ListDeliveries(ctx, a, req.WebhookId, status, limitOr(p.Limit, defaultLimit), limitOr(p.Offset, 0), afterID)
	if err != nil {
		return nil, err
	}
	out := gen.ListWebhookDeliveries200JSONResponse{Deliveries: make([]gen.WebhookDelivery, len(page.Deliveries)),
		Total: page.Total, TotalCapped: page.TotalCapped, HasMore: page.HasMore}
	for i := range page.Deliveries {
		out.Deliveries[i] = deliveryToAPI(&page.Deliveries[i])
	}
	if page.HasMore && len(page.Deliveries) > 0 {
		next := s.cursors.Encode("deliveries", scope, &curs.Key{ID: page.Deliveries[len(page.Deliveries)-1].ID})
		out.NextCursor = &next
	}
	return out, nil
}

// RedeliverWebhookDelivery queues a delivery again.
func (s *Server) RedeliverWebhookDelivery(ctx context.Context, req gen.RedeliverWebhookDeliveryRequestObject) (gen.RedeliverWebhookDeliveryResponseObject, error) {
	d, err := s.store.Redeliver(ctx, actorFrom(ctx), req.WebhookId, req.DeliveryId)
	if err != nil {
		return nil, err
	}
	return gen.RedeliverWebhookDelivery202JSONResponse(deliveryToAPI(d)), nil
}

func webhookToAPI(w *store.Webhook) gen.Webhook {
	return gen.Webhook{Id: w.ID, PanelId: nullableOf(w.PanelID), Url: w.URL, Events: w.Events, Description: w.Description,
		Enabled: w.Enabled, ConsecutiveFailures: w.ConsecutiveFailures, DisabledReason: nullableOf(w.DisabledReason),
		CreatedBy: w.CreatedBy, CreatedAt: apiTime(w.CreatedAt), UpdatedAt: apiTime(w.UpdatedAt)}
}

func deliveryToAPI(d *store.Delivery) gen.WebhookDelivery {
	out := gen.WebhookDelivery{Id: d.ID, WebhookId: d.WebhookID, EventId: d.ChangeID, Status: gen.DeliveryStatus(d.Status),
		Attempts: d.Attempts, NextAttemptAt: apiTime(d.NextAttemptAt), LastStatusCode: nullableOf(d.LastStatusCode),
		LastLatencyMs: nullableOf(d.LastLatencyMS), LastError: nullableOf(d.LastError), CreatedAt: apiTime(d.CreatedAt),
		DeliveredAt: nullable.NewNullNullable[apitime.Time]()}
	if d.DeliveredAt != nil {
		out.DeliveredAt = nullable.NewNullableWithValue(apiTime(*d.DeliveredAt))
	}
	return out
}
