-- Records of data sources, their sync history, and the counters that pin pagination cursors.
--
-- A sync writes the new record set beside the current one under a new generation, then removes
-- the old one, in one transaction: readers see the old set until it commits, and the new rows
-- never meet the old rows' dead index entries (a replace in place was twice as slow to COPY).
-- record_sets.generation grows with every write of a source's records (sync, upload, push), so a
-- cursor issued on one generation can tell it was replaced; rows_generation is the generation
-- stamped on the current rows (pushes amend those rows in place).
-- Records carry no tenant_id: they are only ever read through their data source, which does.

CREATE TABLE record_sets (
    data_source_id  bigint PRIMARY KEY REFERENCES data_sources (id) ON DELETE CASCADE,
    tenant_id       text        NOT NULL,
    generation      bigint      NOT NULL,
    rows_generation bigint      NOT NULL,
    record_count    bigint      NOT NULL,
    -- Position given to the next pushed record, so pushes keep the source order stable.
    next_ord        bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- No foreign key: a sync COPYs its whole record set, and a per-row check of the same parent would
-- cost about a quarter of the sync's time. The trigger below removes a deleted source's records
-- instead, and a sync cannot add records to a source being deleted: it holds the source's
-- record_sets row (which has the foreign key) locked while it writes.
CREATE TABLE source_records (
    data_source_id bigint NOT NULL,
    generation     bigint NOT NULL,
    -- keyField's value, or the 1-based position when the source names no key field.
    record_key     text   NOT NULL,
    -- Position in the source: the default row order and the last tie-breaker of every sort.
    ord            bigint NOT NULL,
    doc            jsonb  NOT NULL,
    PRIMARY KEY (data_source_id, generation, record_key)
);
CREATE UNIQUE INDEX source_records_ord_idx ON source_records (data_source_id, generation, ord);

CREATE FUNCTION delete_source_records() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM source_records AS r USING gone AS g WHERE r.data_source_id = g.id;
    RETURN NULL;
END $$;
CREATE TRIGGER data_sources_delete_records AFTER DELETE ON data_sources
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION delete_source_records();

-- One row per finished sync, upload or push, successful or not.
CREATE TABLE source_syncs (
    id                bigserial PRIMARY KEY,
    tenant_id         text        NOT NULL,
    panel_id          bigint      NOT NULL,
    data_source_id    bigint      NOT NULL REFERENCES data_sources (id) ON DELETE CASCADE,
    trigger           text        NOT NULL CHECK (trigger IN ('sync', 'upload', 'push')),
    status            text        NOT NULL CHECK (status IN ('success', 'error')),
    message           text        NOT NULL,
    records_processed bigint      NOT NULL DEFAULT 0,
    records_deleted   bigint      NOT NULL DEFAULT 0,
    -- The record set generation the sync produced; null when it failed.
    generation        bigint,
    started_by        text        NOT NULL,
    started_at        timestamptz NOT NULL,
    finished_at       timestamptz NOT NULL,
    duration_ms       bigint      NOT NULL
);
CREATE INDEX source_syncs_source_idx ON source_syncs (data_source_id, id DESC);
CREATE INDEX source_syncs_tenant_idx ON source_syncs (tenant_id, started_at DESC);
