-- The change history and the notifications become the outbox of the event stream: each row
-- records the transaction that wrote it, so that a reader publishes a row only once every
-- transaction that could still commit a lower id has ended (docs/data-flow.md#event-order).
-- Notifications take their event id from the change history's sequence, so that both kinds of
-- event share one order. Rows written before this migration keep a NULL xid: their transactions
-- ended long ago.
ALTER TABLE panel_changes ADD COLUMN xid xid8;
ALTER TABLE panel_changes ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX panel_changes_tenant_event_idx ON panel_changes (tenant_id, id);

ALTER TABLE view_notifications ADD COLUMN event_id bigint, ADD COLUMN xid xid8;
UPDATE view_notifications SET event_id = nextval('panel_changes_id_seq');
ALTER TABLE view_notifications
    ALTER COLUMN event_id SET DEFAULT nextval('panel_changes_id_seq'),
    ALTER COLUMN event_id SET NOT NULL,
    ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE UNIQUE INDEX view_notifications_event_idx ON view_notifications (event_id);
CREATE INDEX view_notifications_recipient_event_idx ON view_notifications (tenant_id, user_id, event_id);
