-- The version counters were written on every change and read by nothing: an ETag hashes the
-- representation itself, so a counter beside it only cost a column write per update.
ALTER TABLE panels DROP COLUMN version;
ALTER TABLE data_sources DROP COLUMN version;
ALTER TABLE columns DROP COLUMN version;
ALTER TABLE views DROP COLUMN version;
