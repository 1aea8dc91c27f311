DROP INDEX view_notifications_recipient_event_idx;
DROP INDEX view_notifications_event_idx;
ALTER TABLE view_notifications DROP COLUMN xid, DROP COLUMN event_id;
DROP INDEX panel_changes_tenant_event_idx;
ALTER TABLE panel_changes DROP COLUMN xid;
