-- The owner row written together with a panel or a view names the person who created it, which
-- is how a notification recipient named by email is known to be the resource's owner (by sub).
-- The row says so itself instead of being recognised by sharing the resource's created_at, which
-- any row written later in the same transaction would share too. Existing rows are marked by the
-- rule they were recognised by until now.
ALTER TABLE acls ADD COLUMN creator boolean NOT NULL DEFAULT false;

UPDATE acls SET creator = true FROM panels
WHERE acls.panel_id = panels.id AND acls.created_at = panels.created_at;

UPDATE acls SET creator = true FROM views
WHERE acls.view_id = views.id AND acls.created_at = views.created_at;
