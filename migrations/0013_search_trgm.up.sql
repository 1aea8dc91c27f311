-- pg_trgm, for the rows search's trigram index (docs/search-index.md).
--
-- Only the extension, where it can be had: the index itself is an operator's choice, because it
-- makes every sync several times slower (measured: 100,000 records in 6.3 s instead of 1.1 s)
-- to make a selective search at 1,000,000 records twenty times faster. With the extension in
-- place the service's own role can build it (CREATE INDEX CONCURRENTLY, docs/search-index.md);
-- the engine notices the index and uses it, and searches as before without it.
--
-- pg_trgm is a contrib extension: PostgreSQL packages without contrib lack it, and a role without
-- CREATE on the database may not install it (it is trusted since PostgreSQL 13, so a database
-- owner needs no superuser). Neither may fail the migration.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')
       AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION pg_trgm;
        EXCEPTION WHEN OTHERS THEN
            -- insufficient_privilege above all; any other refusal leaves the search unindexed too.
            RAISE NOTICE 'pg_trgm not installed (%: %): the rows search cannot have a trigram index', SQLSTATE, SQLERRM;
        END;
    END IF;
END $$;
