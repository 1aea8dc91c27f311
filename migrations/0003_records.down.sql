DROP TABLE IF EXISTS source_syncs;
DROP TABLE IF EXISTS source_records;
DROP TABLE IF EXISTS record_sets;
