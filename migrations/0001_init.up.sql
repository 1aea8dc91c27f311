-- Panels schema. Every table carries tenant_id so that each query can be scoped by tenant
-- without a join; child rows go away with their parent through ON DELETE CASCADE, while the
-- change history deliberately has no foreign key to panels, so it survives a panel's deletion.

CREATE TABLE panels (
    id            bigserial PRIMARY KEY,
    tenant_id     text        NOT NULL,
    owner_user_id text        NOT NULL,
    name          text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    description   text,
    metadata      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    cohort_rule   jsonb       NOT NULL DEFAULT '{"conditions": [], "logic": "AND"}'::jsonb,
    version       bigint      NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Keyset order of GET /api/panels (newest first) within a tenant.
CREATE INDEX panels_tenant_created_idx ON panels (tenant_id, created_at DESC, id DESC);
CREATE INDEX panels_tenant_owner_idx ON panels (tenant_id, owner_user_id);

CREATE TABLE data_sources (
    id         bigserial PRIMARY KEY,
    tenant_id  text        NOT NULL,
    panel_id   bigint      NOT NULL REFERENCES panels (id) ON DELETE CASCADE,
    type       text        NOT NULL CHECK (type IN ('database', 'api', 'file', 'custom')),
    config     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    last_sync  timestamptz,
    version    bigint      NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX data_sources_panel_idx ON data_sources (panel_id, id);
CREATE INDEX data_sources_tenant_idx ON data_sources (tenant_id, id);

-- Base and calculated columns share one table and one id space, so a column id is never ambiguous.
CREATE TABLE columns (
    id             bigserial PRIMARY KEY,
    tenant_id      text        NOT NULL,
    panel_id       bigint      NOT NULL REFERENCES panels (id) ON DELETE CASCADE,
    column_type    text        NOT NULL CHECK (column_type IN ('base', 'calculated')),
    name           text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    type           text        NOT NULL CHECK (type IN ('text', 'number', 'date', 'datetime', 'boolean', 'select', 'multi_select', 'user', 'file', 'custom')),
    source_field   varchar(1024),
    -- A detached base column (its source deleted with force=true) keeps existing.
    data_source_id bigint REFERENCES data_sources (id) ON DELETE SET NULL,
    -- Stored with references resolved to column ids ({12}); rendered by current name on read.
    formula        text,
    dependencies   bigint[]    NOT NULL DEFAULT '{}',
    properties     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    metadata       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    tags           jsonb       NOT NULL DEFAULT '[]'::jsonb,
    version        bigint      NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((column_type = 'base' AND formula IS NULL) OR (column_type = 'calculated' AND formula IS NOT NULL AND data_source_id IS NULL))
);
CREATE INDEX columns_panel_idx ON columns (panel_id, id);
CREATE INDEX columns_data_source_idx ON columns (data_source_id) WHERE data_source_id IS NOT NULL;
CREATE INDEX columns_dependencies_idx ON columns USING gin (dependencies);
CREATE INDEX columns_tags_idx ON columns USING gin (tags jsonb_path_ops);

CREATE TABLE views (
    id              bigserial PRIMARY KEY,
    tenant_id       text        NOT NULL,
    panel_id        bigint      NOT NULL REFERENCES panels (id) ON DELETE CASCADE,
    owner_user_id   text        NOT NULL,
    name            text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    is_published    boolean     NOT NULL DEFAULT false,
    published_at    timestamptz,
    published_by    text,
    visible_columns jsonb       NOT NULL DEFAULT '[]'::jsonb,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    version         bigint      NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX views_tenant_updated_idx ON views (tenant_id, updated_at DESC, id DESC);
CREATE INDEX views_panel_idx ON views (panel_id, id);
CREATE INDEX views_tenant_owner_idx ON views (tenant_id, owner_user_id);
CREATE INDEX views_tenant_published_idx ON views (tenant_id, is_published) WHERE is_published;

CREATE TABLE view_sorts (
    id          bigserial PRIMARY KEY,
    view_id     bigint  NOT NULL REFERENCES views (id) ON DELETE CASCADE,
    column_name text    NOT NULL,
    direction   text    NOT NULL CHECK (direction IN ('asc', 'desc')),
    sort_order  integer NOT NULL
);
CREATE INDEX view_sorts_view_idx ON view_sorts (view_id, sort_order, id);

CREATE TABLE view_filters (
    id               bigserial PRIMARY KEY,
    view_id          bigint  NOT NULL REFERENCES views (id) ON DELETE CASCADE,
    column_name      text    NOT NULL,
    operator         text    NOT NULL CHECK (operator IN ('eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'contains', 'startsWith', 'endsWith', 'in', 'notIn', 'between', 'isNull', 'isNotNull')),
    value            jsonb,
    logical_operator text    NOT NULL DEFAULT 'and' CHECK (logical_operator IN ('and', 'or')),
    position         integer NOT NULL
);
CREATE INDEX view_filters_view_idx ON view_filters (view_id, position, id);

-- An ACL row names a principal: a lower-cased email, a sub, or '_all'. The resource is polymorphic,
-- but each row also points at its panel or view through a real foreign key, so that the row
-- disappears with its resource and can never name another tenant's resource by accident.
CREATE TABLE acls (
    id            bigserial PRIMARY KEY,
    tenant_id     text        NOT NULL,
    resource_type text        NOT NULL CHECK (resource_type IN ('panel', 'view')),
    resource_id   bigint      NOT NULL,
    panel_id      bigint REFERENCES panels (id) ON DELETE CASCADE,
    view_id       bigint REFERENCES views (id) ON DELETE CASCADE,
    user_email    text        NOT NULL CHECK (char_length(user_email) BETWEEN 1 AND 320),
    permission    text        NOT NULL CHECK (permission IN ('viewer', 'editor', 'owner')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((resource_type = 'panel' AND panel_id = resource_id AND view_id IS NULL)
        OR (resource_type = 'view' AND view_id = resource_id AND panel_id IS NULL)),
    UNIQUE (tenant_id, resource_type, resource_id, user_email)
);
CREATE INDEX acls_tenant_principal_idx ON acls (tenant_id, user_email, resource_type);
CREATE INDEX acls_panel_idx ON acls (panel_id) WHERE panel_id IS NOT NULL;
CREATE INDEX acls_view_idx ON acls (view_id) WHERE view_id IS NOT NULL;

CREATE TABLE panel_changes (
    id               bigserial PRIMARY KEY,
    tenant_id        text        NOT NULL,
    panel_id         bigint      NOT NULL,
    panel_name       text        NOT NULL,
    change_type      text        NOT NULL CHECK (change_type IN ('panel_created', 'panel_updated', 'panel_deleted', 'cohort_changed', 'source_added', 'source_changed', 'source_removed', 'source_synced', 'column_added', 'column_modified', 'column_removed', 'view_created', 'view_changed', 'view_deleted', 'view_published', 'view_unpublished', 'acl_changed')),
    entity_type      text        NOT NULL CHECK (entity_type IN ('panel', 'datasource', 'column', 'view', 'acl')),
    entity_id        bigint      NOT NULL,
    action           text        NOT NULL CHECK (action IN ('create', 'update', 'delete', 'sync', 'publish', 'unpublish')),
    description      text        NOT NULL,
    changed_by       text        NOT NULL,
    changed_by_email text,
    changed_at       timestamptz NOT NULL DEFAULT now(),
    old_values       jsonb,
    new_values       jsonb,
    affected_column  text
);
CREATE INDEX panel_changes_tenant_idx ON panel_changes (tenant_id, changed_at DESC, id DESC);
CREATE INDEX panel_changes_panel_idx ON panel_changes (tenant_id, panel_id, changed_at DESC, id DESC);
CREATE INDEX panel_changes_type_idx ON panel_changes (tenant_id, change_type, changed_at DESC);

CREATE TABLE view_notifications (
    id         bigserial PRIMARY KEY,
    tenant_id  text        NOT NULL,
    view_id    bigint      NOT NULL REFERENCES views (id) ON DELETE CASCADE,
    change_id  bigint REFERENCES panel_changes (id) ON DELETE SET NULL,
    user_id    text        NOT NULL,
    impact     text        NOT NULL CHECK (impact IN ('breaking', 'warning', 'info')),
    message    text        NOT NULL,
    is_read    boolean     NOT NULL DEFAULT false,
    read_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX view_notifications_recipient_idx ON view_notifications (tenant_id, user_id, created_at DESC, id DESC);
CREATE INDEX view_notifications_unread_idx ON view_notifications (tenant_id, user_id) WHERE NOT is_read;
CREATE INDEX view_notifications_view_idx ON view_notifications (view_id);

-- Principals seen per tenant, recorded once, so members and notifications can name people.
CREATE TABLE members (
    tenant_id     text        NOT NULL,
    user_id       text        NOT NULL,
    email         text,
    name          text,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);
