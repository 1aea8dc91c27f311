-- A trigram index for the rows search (GET /api/panels/{panelId}/rows?search=, and group counts
-- with a search). Columns are dynamic paths into the jsonb documents, so the index covers the
-- whole document's text: the engine adds lower(doc::text) LIKE '%q%' beside the exact per-column
-- match, only where that is implied by it (store/rows/sql.go, searchPrefilter), and the planner
-- combines this index with the (data_source_id, generation) ones through a bitmap AND when a
-- source is a small part of the table. docs/search-index.md has the measured write cost.
--
-- pg_trgm is a contrib extension: PostgreSQL packages without contrib lack it, and a role without
-- CREATE on the database may not install it. Neither may fail the migration: without the
-- extension there is no index, and the engine (which checks for the index) searches as before.
-- The extension is trusted since PostgreSQL 13, so a database owner without superuser can install it.
DO $$
DECLARE
    ext_schema name;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')
       AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION pg_trgm;
        EXCEPTION WHEN OTHERS THEN
            -- insufficient_privilege above all; any other refusal leaves the search unindexed too.
            RAISE NOTICE 'pg_trgm not installed (%: %): the rows search runs without a trigram index', SQLSTATE, SQLERRM;
        END;
    END IF;
    SELECT n.nspname INTO ext_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    IF ext_schema IS NULL THEN
        RETURN;
    END IF;
    -- The operator class lives in the extension's schema, which need not be on the search_path.
    EXECUTE format('CREATE INDEX IF NOT EXISTS source_records_doc_trgm_idx ON source_records USING gin (lower(doc::text) %I.gin_trgm_ops)',
        ext_schema);
END $$;
