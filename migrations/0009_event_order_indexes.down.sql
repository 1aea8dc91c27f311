DROP INDEX view_notifications_recipient_stream_idx;
CREATE INDEX view_notifications_recipient_event_idx ON view_notifications (tenant_id, user_id, event_id);
DROP INDEX panel_changes_tenant_stream_idx;
CREATE INDEX panel_changes_tenant_event_idx ON panel_changes (tenant_id, id);
