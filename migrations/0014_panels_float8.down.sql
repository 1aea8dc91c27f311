DROP FUNCTION IF EXISTS panels_float8(text);
