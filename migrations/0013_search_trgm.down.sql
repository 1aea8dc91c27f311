-- The extension stays: it may predate 0013 or serve other objects, and dropping it needs the
-- privilege 0013 may have lacked.
DROP INDEX IF EXISTS source_records_doc_trgm_idx;
