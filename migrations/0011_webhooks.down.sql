DROP INDEX view_notifications_recipient_view_idx;
DELETE FROM view_notifications WHERE view_id IS NULL;
ALTER TABLE view_notifications DROP CONSTRAINT view_notifications_subject_check, DROP COLUMN webhook_id,
    ALTER COLUMN view_id SET NOT NULL;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
