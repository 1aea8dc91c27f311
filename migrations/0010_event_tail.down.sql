DROP TRIGGER view_notifications_wake ON view_notifications;
DROP TRIGGER panel_changes_wake ON panel_changes;
DROP FUNCTION panels_events_wake();
DROP INDEX view_notifications_stream_idx;
DROP INDEX panel_changes_stream_idx;
