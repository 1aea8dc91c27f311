package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// KindWebhook and KindDelivery are the NotFoundError kinds of webhooks and their deliveries.
const (
	KindWebhook  = "webhook"
	KindDelivery = "webhook delivery"
)

// Delivery statuses (closed enum of the contract).
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// AllEvents is the events entry that subscribes a webhook to every change type.
const AllEvents = "*"

// Webhook is a subscription of a URL to the changes of one panel (PanelID) or of the tenant.
type Webhook struct {
	bun.BaseModel `bun:"table:webhooks,alias:w"`

	ID                  int64     `bun:"id,pk,autoincrement"`
	TenantID            string    `bun:"tenant_id,notnull"`
	PanelID             *int64    `bun:"panel_id"`
	URL                 string    `bun:"url,notnull"`
	Events              []string  `bun:"events,array,notnull"`
	Description         string    `bun:"description,notnull"`
	Secret              string    `bun:"secret,notnull"`
	Enabled             bool      `bun:"enabled,notnull"`
	ConsecutiveFailures int       `bun:"consecutive_failures,notnull"`
	DisabledReason      *string   `bun:"disabled_reason"`
	CreatedBy           string    `bun:"created_by,notnull"`
	CreatedByEmail      *string   `bun:"created_by_email"`
	CreatedByAdmin      bool      `bun:"created_by_admin,notnull"`
	CreatedAt           time.Time `bun:"created_at,nullzero,notnull,default:current_timestamp"`
	UpdatedAt           time.Time `bun:"updated_at,nullzero,notnull,default:current_timestamp"`
}

// Delivery is one change queued for one webhook, with the outcome of its last attempt.
type Delivery struct {
	bun.BaseModel `bun:"table:webhook_deliveries,alias:d"`

	ID             int64      `bun:"id,pk,autoincrement"`
	TenantID       string     `bun:"tenant_id,notnull"`
	WebhookID      int64      `bun:"webhook_id,notnull"`
	ChangeID       int64      `bun:"change_id,notnull"`
	Status         string     `bun:"status,notnull"`
	Attempts       int        `bun:"attempts,notnull"`
	NextAttemptAt  time.Time  `bun:"next_attempt_at,notnull"`
	LeaseExpiresAt *time.Time `bun:"lease_expires_at"`
	LastStatusCode *int       `bun:"last_status_code"`
	LastLatencyMS  *int       `bun:"last_latency_ms"`
	LastError      *string    `bun:"last_error"`
	CreatedAt      time.Time  `bun:"created_at,nullzero,notnull,default:current_timestamp"`
	UpdatedAt      time.Time  `bun:"updated_at,nullzero,notnull,default:current_timestamp"`
	DeliveredAt    *time.Time `bun:"delivered_at"`
}

// enqueueDeliveriesSQL queues, for every change row of the relation %s (id, tenant_id, panel_id,
// change_type; all of the tenant given twice as arguments), one delivery per enabled webhook of the tenant that matches the change's panel
// and type and whose creator could read the panel's history: an admin any panel, anyone else a
// panel an ACL row names it on (grantedPanelsSQL, with the creator's principals). It runs in the
// change's transaction, so a delivery exists if and only if its change committed.
const enqueueDeliveriesSQL = `INSERT INTO webhook_deliveries (tenant_id, webhook_id, change_id)
	SELECT w.tenant_id, w.id, ch.id FROM %s AS ch
	JOIN webhooks AS w ON w.tenant_id = ? AND w.tenant_id = ch.tenant_id AND w.enabled
		AND (w.panel_id IS NULL OR w.panel_id = ch.panel_id)
		AND ('*' = ANY(w.events) OR ch.change_type = ANY(w.events))
	WHERE w.created_by_admin OR EXISTS (SELECT 1 FROM acls AS wa WHERE wa.tenant_id = ?
		AND wa.resource_type = 'panel' AND wa.panel_id = ch.panel_id
		AND wa.user_email IN (w.created_by, w.created_by_email, '_all'))`

// enqueueDeliveries queues the deliveries of change c (written in db's transaction).
func enqueueDeliveries(ctx context.Context, db bun.IDB, c *Change) error {
	_, err := db.NewRaw(fmt.Sprintf(enqueueDeliveriesSQL,
		"(SELECT ?::bigint AS id, ?::text AS tenant_id, ?::bigint AS panel_id, ?::text AS change_type)"),
		c.ID, c.TenantID, c.PanelID, c.ChangeType, c.TenantID, c.TenantID).Exec(ctx)
	return err
}

// webhookSecret draws a Standard Webhooks secret: whsec_ and the base64 of 32 random bytes.
func webhookSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// webhookAccess loads webhook id of the actor's tenant and checks op on it: a panel's webhook by
// the actor's level on the panel (a missing panel leaves only admins), a tenant-wide one the
// admin role, as creating it does (403 to anyone else).
func webhookAccess(ctx context.Context, db bun.IDB, a Actor, op Operation, id int64, lock bool) (*Webhook, error) {
	w := new(Webhook)
	q := db.NewSelect().Model(w).Where("w.tenant_id = ?", a.TenantID).Where("w.id = ?", id)
	if lock {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, mapErrOf(KindWebhook, err)
	}
	if a.Admin {
		return w, nil
	}
	if w.PanelID == nil {
		return nil, Forbidden("a tenant-wide webhook (without panelId) needs the admin role")
	}
	level, err := panelLevel(ctx, db, a, *w.PanelID)
	if err != nil {
		return nil, err
	}
	if err := authorize(op, level, KindWebhook); err != nil {
		return nil, err
	}
	return w, nil
}

// panelLevel is the actor's level on panel id, PermNone for a panel it cannot see or that is gone.
func panelLevel(ctx context.Context, db bun.IDB, a Actor, id int64) (Permission, error) {
	expr, args := panelLevelExpr(a)
	var level []Permission
	err := db.NewSelect().TableExpr("panels AS panel").ColumnExpr("("+expr+")", args...).
		Where("panel.tenant_id = ?", a.TenantID).Where("panel.id = ?", id).Scan(ctx, &level)
	if err != nil {
		return PermNone, mapErr(err)
	}
	if len(level) == 0 {
		return PermNone, nil
	}
	return level[0], nil
}

// WebhookInput is what a client sets on a webhook.
type WebhookInput struct {
	URL         string
	Events      []string
	Description string
}

// CreateWebhook creates w for the actor: on a panel it needs editor on it, tenant-wide the admin
// role. The secret is drawn here and returned in w.
// check runs once the actor is allowed, before anything is written (the URL's check).
func (s *Store) CreateWebhook(ctx context.Context, a Actor, panelID *int64, in WebhookInput, check func() error) (*Webhook, error) {
	w := &Webhook{TenantID: a.TenantID, PanelID: panelID, URL: in.URL, Events: in.Events, Description: in.Description,
		Secret: webhookSecret(), Enabled: true, CreatedBy: a.UserID, CreatedByEmail: lowerPtr(a.emailPtr()), CreatedByAdmin: a.Admin}
	err := s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if panelID == nil {
			if !a.Admin {
				return Forbidden("a tenant-wide webhook (without panelId) needs the admin role")
			}
		} else if _, err := panelAccess(ctx, tx, a, "createWebhook", *panelID, false); err != nil {
			return err
		}
		if err := check(); err != nil {
			return err
		}
		_, err := tx.NewInsert().Model(w).Returning("*").Exec(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

func lowerPtr(s *string) *string {
	if s == nil {
		return nil
	}
	l := strings.ToLower(*s)
	return &l
}

// GetWebhook returns webhook id.
func (s *Store) GetWebhook(ctx context.Context, a Actor, id int64) (*Webhook, error) {
	return webhookAccess(ctx, s.db, a, "getWebhook", id, false)
}

// WebhookPatch is a partial update; nil fields keep their values. Enabling a webhook resets its
// failure count, so that it gets the whole limit again.
type WebhookPatch struct {
	URL         *string
	Events      []string
	Description *string
	Enabled     *bool
}

// UpdateWebhook applies patch to webhook id under a row lock; check runs once the
// actor is allowed, before anything changes.
func (s *Store) UpdateWebhook(ctx context.Context, a Actor, id int64, patch WebhookPatch, check func() error) (*Webhook, error) {
	var out *Webhook
	err := s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		w, err := webhookAccess(ctx, tx, a, "updateWebhook", id, true)
		if err != nil {
			return err
		}
		if err := check(); err != nil {
			return err
		}
		if patch.URL != nil {
			w.URL = *patch.URL
		}
		if patch.Events != nil {
			w.Events = patch.Events
		}
		if patch.Description != nil {
			w.Description = *patch.Description
		}
		if patch.Enabled != nil {
			if *patch.Enabled && !w.Enabled {
				w.ConsecutiveFailures, w.DisabledReason = 0, nil
			}
			w.Enabled = *patch.Enabled
		}
		_, err = tx.NewUpdate().Model(w).Column("url", "events", "description", "enabled", "consecutive_failures", "disabled_reason").
			Set("updated_at = now()").Where("w.tenant_id = ?", a.TenantID).WherePK().Returning("*").Exec(ctx)
		out = w
		return err
	})
	return out, err
}

// DeleteWebhook deletes webhook id with its queue.
func (s *Store) DeleteWebhook(ctx context.Context, a Actor, id int64) error {
	return s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		w, err := webhookAccess(ctx, tx, a, "deleteWebhook", id, true)
		if err != nil {
			return err
		}
		_, err = tx.NewDelete().Model(w).Where("w.tenant_id = ?", a.TenantID).WherePK().Exec(ctx)
		return err
	})
}

// WebhookPage is one page of webhooks or of deliveries.
type WebhookPage struct {
	Webhooks    []Webhook
	Total       int
	TotalCapped bool
	HasMore     bool
}

// ListWebhooks lists, newest first, the webhooks the actor manages: every one for an admin, else
// those of the panels it has editor or owner on. AfterID is a keyset position (0: none).
func (s *Store) ListWebhooks(ctx context.Context, a Actor, panelID *int64, limit, offset int, afterID int64) (WebhookPage, error) {
	base := func(q *bun.SelectQuery) *bun.SelectQuery {
		q = q.Where("w.tenant_id = ?", a.TenantID)
		if panelID != nil {
			q = q.Where("w.panel_id = ?", *panelID)
		}
		if !a.Admin {
			q = q.Where(`w.panel_id IN (SELECT ge.panel_id FROM acls AS ge WHERE ge.tenant_id = ? AND ge.user_email IN (?)
				AND ge.resource_type = 'panel' AND ge.permission IN ('editor', 'owner'))`, a.TenantID, bun.List(a.principals()))
		}
		return q
	}
	page := WebhookPage{Webhooks: []Webhook{}}
	q := base(s.db.NewSelect().Model(&page.Webhooks)).OrderExpr("w.id DESC").Limit(int64(limit + 1))
	if afterID > 0 {
		q = q.Where("w.id < ?", afterID)
	} else if offset > 0 {
		q = q.Offset(int64(offset))
	}
	if err := q.Scan(ctx); err != nil {
		return WebhookPage{}, mapErr(err)
	}
	if len(page.Webhooks) > limit {
		page.HasMore, page.Webhooks = true, page.Webhooks[:limit]
	}
	total, capped, err := cappedCount(ctx, s.db, base(s.db.NewSelect().Model((*Webhook)(nil))))
	if err != nil {
		return WebhookPage{}, err
	}
	page.Total, page.TotalCapped = total, capped
	return page, nil
}

// DeliveryPage is one page of a webhook's deliveries.
type DeliveryPage struct {
	Deliveries  []Delivery
	Total       int
	TotalCapped bool
	HasMore     bool
}

// ListDeliveries lists the deliveries of webhook id, newest first.
func (s *Store) ListDeliveries(ctx context.Context, a Actor, id int64, status string, limit, offset int, afterID int64) (DeliveryPage, error) {
	if _, err := webhookAccess(ctx, s.db, a, "listWebhookDeliveries", id, false); err != nil {
		return DeliveryPage{}, err
	}
	base := func(q *bun.SelectQuery) *bun.SelectQuery {
		q = q.Where("d.tenant_id = ?", a.TenantID).Where("d.webhook_id = ?", id)
		if status != "" {
			q = q.Where("d.status = ?", status)
		}
		return q
	}
	page := DeliveryPage{Deliveries: []Delivery{}}
	q := base(s.db.NewSelect().Model(&page.Deliveries)).OrderExpr("d.id DESC").Limit(int64(limit + 1))
	if afterID > 0 {
		q = q.Where("d.id < ?", afterID)
	} else if offset > 0 {
		q = q.Offset(int64(offset))
	}
	if err := q.Scan(ctx); err != nil {
		return DeliveryPage{}, mapErr(err)
	}
	if len(page.Deliveries) > limit {
		page.HasMore, page.Deliveries = true, page.Deliveries[:limit]
	}
	total, capped, err := cappedCount(ctx, s.db, base(s.db.NewSelect().Model((*Delivery)(nil))))
	if err != nil {
		return DeliveryPage{}, err
	}
	page.Total, page.TotalCapped = total, capped
	return page, nil
}

// Redeliver queues delivery deliveryID of webhook id again, due now, with a fresh retry schedule.
// A delivery a worker holds right now is a 409: its attempt is still under way.
func (s *Store) Redeliver(ctx context.Context, a Actor, id, deliveryID int64) (*Delivery, error) {
	d := new(Delivery)
	err := s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := webhookAccess(ctx, tx, a, "redeliverWebhookDelivery", id, false); err != nil {
			return err
		}
		err := tx.NewSelect().Model(d).Where("d.tenant_id = ?", a.TenantID).Where("d.webhook_id = ?", id).
			Where("d.id = ?", deliveryID).For("UPDATE").Scan(ctx)
		if err != nil {
			return mapErrOf(KindDelivery, err)
		}
		if d.Status == DeliveryPending && d.LeaseExpiresAt != nil && d.LeaseExpiresAt.After(time.Now()) {
			return &ConflictError{Message: "the delivery is being attempted right now; retry after its attempt"}
		}
		_, err = tx.NewUpdate().Model(d).Set("status = ?", DeliveryPending).Set("attempts = 0").
			Set("next_attempt_at = now()").Set("lease_expires_at = NULL").Set("updated_at = now()").
			Where("d.tenant_id = ?", a.TenantID).WherePK().Returning("*").Exec(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Claim is a delivery a worker holds until LeaseExpiresAt, with what it sends.
type Claim struct {
	Delivery
	URL    string `bun:"url"`
	Secret string `bun:"secret"`
	// Change is the event it carries, as the change history stores it.
	Change Change `bun:"-"`
}

// ClaimDeliveries leases up to n due deliveries of enabled webhooks for lease. Rows another worker
// holds are skipped (SKIP LOCKED), and a delivery is due only when it is the oldest pending one
// of its webhook (by id: the order of the changes' transactions' inserts), so that each webhook's
// events leave in order. A worker that dies leaves its
// claims to be taken again once the lease has expired; Attempts counts the claim.
func (s *Store) ClaimDeliveries(ctx context.Context, n int, lease time.Duration) ([]Claim, error) {
	var claims []Claim
	err := s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		// Candidates: the oldest pending delivery of each enabled webhook (one index probe per
		// webhook), when it is due and not leased. Walking the pending deliveries instead would read
		// every queued delivery of the webhooks whose head is in flight, on every claim.
		var candidates []int64
		err := tx.NewRaw(`SELECT head.id FROM webhooks AS w
			CROSS JOIN LATERAL (SELECT e.id, e.next_attempt_at, e.lease_expires_at FROM webhook_deliveries AS e
				WHERE e.webhook_id = w.id AND e.status = 'pending' ORDER BY e.id LIMIT 1) AS head
			WHERE w.enabled AND head.next_attempt_at <= now()
			AND (head.lease_expires_at IS NULL OR head.lease_expires_at <= now())
			ORDER BY head.next_attempt_at, head.id LIMIT ?`, n).Scan(ctx, &candidates)
		if err != nil || len(candidates) == 0 {
			return err
		}
		// Then lock them, skipping the ones another worker holds; under the lock the conditions are
		// checked again on the row's latest version, so a claim that just committed is not taken twice.
		var ids []int64
		err = tx.NewRaw(`SELECT d.id FROM webhook_deliveries AS d WHERE d.id IN (?) AND d.status = 'pending'
			AND d.next_attempt_at <= now() AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= now())
			FOR UPDATE SKIP LOCKED`, bun.List(candidates)).Scan(ctx, &ids)
		if err != nil || len(ids) == 0 {
			return err
		}
		if err := tx.NewRaw(`UPDATE webhook_deliveries AS d SET lease_expires_at = now() + ?::interval,
			attempts = d.attempts + 1, updated_at = now()
			FROM webhooks AS w WHERE w.id = d.webhook_id AND d.id IN (?)
			RETURNING d.*, w.url, w.secret`, lease.String(), bun.List(ids)).Scan(ctx, &claims); err != nil {
			return err
		}
		changeIDs := make([]int64, len(claims))
		for i := range claims {
			changeIDs[i] = claims[i].ChangeID
		}
		var changes []Change
		if err := tx.NewSelect().Model(&changes).Where("ch.id IN (?)", bun.List(changeIDs)).Scan(ctx); err != nil {
			return err
		}
		byID := make(map[int64]Change, len(changes))
		for _, c := range changes {
			byID[c.ID] = c
		}
		for i := range claims {
			claims[i].Change = byID[claims[i].ChangeID]
		}
		return nil
	})
	return claims, err
}

// Attempt is the outcome of one delivery attempt.
type Attempt struct {
	OK         bool
	StatusCode int // 0: no answer
	Latency    time.Duration
	Error      string
}

// FinishDelivery records the outcome of claim c's attempt. A 2xx delivers it and resets the
// webhook's failure count. A failure schedules the next attempt after schedule[attempts-1], or
// gives the delivery up when the schedule has run out; either way it counts against the webhook,
// which is disabled after maxFailures consecutive failures and its creator notified. An attempt
// whose lease another worker has since taken over (same attempts count no longer) changes nothing.
func (s *Store) FinishDelivery(ctx context.Context, c *Claim, at Attempt, schedule []time.Duration, maxFailures int) error {
	return s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var code *int
		if at.StatusCode != 0 {
			code = &at.StatusCode
		}
		var msg *string
		if at.Error != "" {
			e := strings.ToValidUTF8(strings.ReplaceAll(at.Error, "\x00", ""), "?")
			if len(e) > 1000 {
				e = e[:1000]
			}
			msg = &e
		}
		latency := int(at.Latency.Milliseconds())
		q := tx.NewUpdate().Model((*Delivery)(nil)).
			Set("last_status_code = ?", code).Set("last_latency_ms = ?", latency).Set("last_error = ?", msg).
			Set("lease_expires_at = NULL").Set("updated_at = now()").
			Where("d.tenant_id = ?", c.TenantID).Where("d.id = ?", c.ID).Where("d.attempts = ?", c.Attempts).Where("d.status = 'pending'")
		switch {
		case at.OK:
			q = q.Set("status = ?", DeliveryDelivered).Set("delivered_at = now()")
		case c.Attempts > len(schedule):
			q = q.Set("status = ?", DeliveryFailed)
		default:
			q = q.Set("next_attempt_at = now() + ?::interval", schedule[c.Attempts-1].String())
		}
		res, err := q.Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // redelivered, or taken over after the lease: the newer attempt decides
		}
		if at.OK {
			_, err = tx.NewUpdate().Model((*Webhook)(nil)).Set("consecutive_failures = 0").
				Where("w.tenant_id = ?", c.TenantID).Where("w.id = ?", c.WebhookID).Where("w.consecutive_failures <> 0").Exec(ctx)
			return err
		}
		w := new(Webhook)
		err = tx.NewUpdate().Model(w).Set("consecutive_failures = w.consecutive_failures + 1").
			Where("w.tenant_id = ?", c.TenantID).Where("w.id = ?", c.WebhookID).Returning("*").Scan(ctx)
		if err != nil {
			if errors.Is(mapErr(err), ErrNotFound) {
				return nil // deleted meanwhile
			}
			return err
		}
		if !w.Enabled || w.ConsecutiveFailures < maxFailures {
			return nil
		}
		reason := fmt.Sprintf("disabled after %d consecutive failed deliveries; the last: %s", w.ConsecutiveFailures, describeAttempt(at))
		if _, err := tx.NewUpdate().Model(w).Set("enabled = false").Set("disabled_reason = ?", reason).
			Set("updated_at = now()").Where("w.tenant_id = ?", w.TenantID).WherePK().Exec(ctx); err != nil {
			return err
		}
		_, err = tx.NewRaw(`INSERT INTO view_notifications (tenant_id, webhook_id, user_id, impact, message)
			VALUES (?, ?, ?, ?, ?)`, w.TenantID, w.ID, w.CreatedBy, ImpactBreaking,
			fmt.Sprintf("Webhook %d (%s) was %s. Fix the receiver, then enable it again (PUT /api/webhooks/%d with enabled: true)",
				w.ID, w.URL, reason, w.ID)).Exec(ctx)
		return err
	})
}

func describeAttempt(at Attempt) string {
	if at.StatusCode != 0 {
		return fmt.Sprintf("HTTP %d", at.StatusCode)
	}
	return at.Error
}
