-- The event stream is ordered by (transaction id, event id), not by event id alone: ids are drawn
-- in no relation to commit order (docs/data-flow.md#event-order). The readers' indexes follow.
DROP INDEX panel_changes_tenant_event_idx;
CREATE INDEX panel_changes_tenant_stream_idx ON panel_changes (tenant_id, (COALESCE(xid, '0'::xid8)), id);
DROP INDEX view_notifications_recipient_event_idx;
CREATE INDEX view_notifications_recipient_stream_idx ON view_notifications (tenant_id, user_id, (COALESCE(xid, '0'::xid8)), event_id);
