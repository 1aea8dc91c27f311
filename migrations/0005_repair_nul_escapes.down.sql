-- Nothing to undo: 0005 replaced text that stood for a NUL with U+FFFD, and a NUL cannot be
-- stored, so the values before it cannot (and must not) be restored. The schema is unchanged.
SELECT 1;
