DROP INDEX panel_changes_type_idx;
CREATE INDEX panel_changes_type_idx ON panel_changes (tenant_id, change_type, changed_at DESC);

DROP INDEX panel_changes_panel_idx;
CREATE INDEX panel_changes_panel_idx ON panel_changes (tenant_id, panel_id, changed_at DESC, id DESC);

DROP INDEX acls_tenant_principal_idx;
CREATE INDEX acls_tenant_principal_idx ON acls (tenant_id, user_email, resource_type);

DROP INDEX views_tenant_published_idx;
CREATE INDEX views_tenant_published_idx ON views (tenant_id, is_published) WHERE is_published;

DROP INDEX views_tenant_owner_idx;
CREATE INDEX views_tenant_owner_idx ON views (tenant_id, owner_user_id);

DROP INDEX panels_tenant_owner_idx;
CREATE INDEX panels_tenant_owner_idx ON panels (tenant_id, owner_user_id);
