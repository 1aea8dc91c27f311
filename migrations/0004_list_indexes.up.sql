-- Indexes for the list queries at scale (100,000 panels, 1,000,000 columns and change rows in one
-- tenant; store/scale_test.go checks every list's plan). Each replaces an index of 0001 whose
-- columns it starts with, so no query loses its index; the added columns let PostgreSQL answer
-- from the index alone (an index-only scan) where a list tests or counts many rows.

-- The panels a user created (visiblePanels, readablePanelsArray) come with their ids, in the
-- newest-first order of the panel list.
DROP INDEX panels_tenant_owner_idx;
CREATE INDEX panels_tenant_owner_idx ON panels (tenant_id, owner_user_id, created_at DESC, id DESC);

-- The views a user created, with their ids, in the most-recently-updated-first order of the view list.
DROP INDEX views_tenant_owner_idx;
CREATE INDEX views_tenant_owner_idx ON views (tenant_id, owner_user_id, updated_at DESC, id DESC);

-- published=true and published=false pages and counts walk this index in list order; the published
-- views (and, through panel_id, their panels, which every member may read) come from it alone.
DROP INDEX views_tenant_published_idx;
CREATE INDEX views_tenant_published_idx ON views (tenant_id, is_published, updated_at DESC, id DESC) INCLUDE (panel_id);

-- The resources an ACL row grants a principal, from the index alone.
DROP INDEX acls_tenant_principal_idx;
CREATE INDEX acls_tenant_principal_idx ON acls (tenant_id, user_email, resource_type) INCLUDE (panel_id, view_id);

-- A plain user's change count by type visits the changes of each panel it reads: the type comes
-- with the index entry.
DROP INDEX panel_changes_panel_idx;
CREATE INDEX panel_changes_panel_idx ON panel_changes (tenant_id, panel_id, changed_at DESC, id DESC) INCLUDE (change_type);

-- changeType pages in list order without a sort step: the id breaks ties of changed_at, as in
-- the tenant's and the panel's indexes.
DROP INDEX panel_changes_type_idx;
CREATE INDEX panel_changes_type_idx ON panel_changes (tenant_id, change_type, changed_at DESC, id DESC);
