DROP TRIGGER IF EXISTS data_sources_delete_records ON data_sources;
DROP FUNCTION IF EXISTS delete_source_records();
DROP TABLE IF EXISTS source_syncs;
DROP TABLE IF EXISTS source_records;
DROP TABLE IF EXISTS record_sets;
