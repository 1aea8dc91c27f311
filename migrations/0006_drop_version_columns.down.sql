-- The counters come back at 1: what they had counted is not recoverable, and nothing read it.
ALTER TABLE panels ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE data_sources ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE columns ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE views ADD COLUMN version bigint NOT NULL DEFAULT 1;
