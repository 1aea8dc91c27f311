-- Webhooks (docs/architecture.md#webhooks): a subscription of a URL to the change history of one
-- panel or of the whole tenant, and the queue of its deliveries. A delivery row is written in the
-- transaction of its change (store/changes.go), so it exists if and only if the change committed.
CREATE TABLE webhooks (
    id                   bigserial PRIMARY KEY,
    tenant_id            text        NOT NULL,
    -- No foreign key: a panel's webhooks outlive it long enough to deliver its panel_deleted.
    panel_id             bigint,
    url                  text        NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
    -- Change types, or {*} for every type.
    events               text[]      NOT NULL CHECK (cardinality(events) > 0),
    description          text        NOT NULL DEFAULT '',
    secret               text        NOT NULL,
    enabled              boolean     NOT NULL DEFAULT true,
    consecutive_failures integer     NOT NULL DEFAULT 0,
    disabled_reason      text,
    -- Who created it, as the enqueue query decides what the webhook may carry: an admin reads
    -- every panel, anyone else only the panels an ACL row names it on.
    created_by           text        NOT NULL,
    created_by_email     text,
    created_by_admin     boolean     NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
-- The list (newest first) and the enqueue query's lookup of a tenant's enabled webhooks.
CREATE INDEX webhooks_tenant_idx ON webhooks (tenant_id, id DESC);

CREATE TABLE webhook_deliveries (
    id               bigserial PRIMARY KEY,
    tenant_id        text        NOT NULL,
    webhook_id       bigint      NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    change_id        bigint      NOT NULL,
    -- pending: to be attempted; delivered: a 2xx answer; failed: the retry schedule ran out.
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- Set while a worker holds it: a worker that dies leaves it to be claimed again after this.
    lease_expires_at timestamptz,
    last_status_code integer,
    last_latency_ms  integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
-- The worker's claim (store.ClaimDeliveries): for each enabled webhook, its oldest pending delivery.
CREATE INDEX webhooks_enabled_idx ON webhooks (id) WHERE enabled;
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (webhook_id, id) WHERE status = 'pending';
-- The deliveries list of one webhook, newest first.
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id DESC);

-- A disabled webhook tells its creator through the notifications: such a notification names the
-- webhook instead of a view.
ALTER TABLE view_notifications ALTER COLUMN view_id DROP NOT NULL,
    ADD COLUMN webhook_id bigint REFERENCES webhooks (id) ON DELETE CASCADE,
    ADD CONSTRAINT view_notifications_subject_check CHECK ((view_id IS NULL) <> (webhook_id IS NULL));
-- The view notifications' counts now exclude those: an index that answers them without the table.
CREATE INDEX view_notifications_recipient_view_idx ON view_notifications (tenant_id, user_id, is_read) WHERE view_id IS NOT NULL;
