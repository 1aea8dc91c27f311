-- The event stream's tail: every instance reads the outbox of all tenants in stream order (docs/data-flow.md#event-order),
-- and each subscriber filters what it may see; the per-tenant indexes of 0009 serve resumes.
CREATE INDEX panel_changes_stream_idx ON panel_changes ((COALESCE(xid, '0'::xid8)), id);
CREATE INDEX view_notifications_stream_idx ON view_notifications ((COALESCE(xid, '0'::xid8)), event_id);

-- A commit that wrote events wakes every instance's tail at once (a signal only: the rows are
-- read from the tables). NOTIFY is delivered at commit and never for a rolled-back transaction,
-- and PostgreSQL folds the identical notifications of one transaction into one.
CREATE FUNCTION panels_events_wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('panels_events', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER panel_changes_wake AFTER INSERT ON panel_changes FOR EACH STATEMENT EXECUTE FUNCTION panels_events_wake();
CREATE TRIGGER view_notifications_wake AFTER INSERT ON view_notifications FOR EACH STATEMENT EXECUTE FUNCTION panels_events_wake();
