-- Repair JSON values that a NUL mangled (docs/data-flow.md#storable-input).
--
-- Before the API gate refused NULs, a string holding U+0000 in metadata, config, properties (or
-- any jsonb column Bun wrote from a model) reached PostgreSQL as the escape \\u0000: Bun's JSON
-- quoting doubled the backslash, so jsonb stored the six characters \u0000 (backslash, u, four
-- zeros) in place of the NUL, and every later write of the row failed (the same quoting turned
-- the stored text back into a NUL escape, which jsonb refuses: 22P05, a 500).
--
-- Through the service those six characters could only come from a NUL: sent on purpose, they
-- failed the same way and were never stored. So each of them is replaced with U+FFFD, the
-- replacement character, which PostgreSQL can store: the original NUL cannot be, dropping it
-- could merge two keys of an object ("a" and "a\u0000"), and U+FFFD still shows that a character
-- was there. Keys and values, at any depth, are repaired alike.
--
-- In jsonb's text form the stored backslash is itself escaped, so the text searched for is
-- \\u0000 (two backslashes in this standard-conforming literal). Backslashes before it come in
-- pairs in that form (each stands for one stored backslash), so the match is always the stored
-- \u0000 and never part of another escape. Only rows that hold it are rewritten.
--
-- Not repaired: source_records.doc (written by COPY and as text, never through Bun's JSON quoting:
-- a NUL there was refused, so a \u0000 there is the source's own text) and idempotency_keys
-- (bodies are bytea; rows expire within a day).

UPDATE panels SET metadata = replace(metadata::text, '\\u0000', U&'\FFFD')::jsonb
    WHERE strpos(metadata::text, '\\u0000') > 0;
UPDATE panels SET cohort_rule = replace(cohort_rule::text, '\\u0000', U&'\FFFD')::jsonb
    WHERE strpos(cohort_rule::text, '\\u0000') > 0;
UPDATE data_sources SET config = replace(config::text, '\\u0000', U&'\FFFD')::jsonb
    WHERE strpos(config::text, '\\u0000') > 0;
UPDATE columns SET properties = replace(properties::text, '\\u0000', U&'\FFFD')::jsonb
    WHERE strpos(properties::text, '\\u0000') > 0;
UPDATE columns SET metadata = replace(metadata::text, '\\u0000', U&'\FFFD')::jsonb
    WHERE strpos(metadata::text, '\\u0000') > 0;
UPDATE columns SET tags = replace(tags::text, '\\u0000', U&'\FFFD')::jsonb
    WHERE strpos(tags::text, '\\u0000') > 0;
UPDATE views SET metadata = replace(metadata::text, '\\u0000', U&'\FFFD')::jsonb
    WHERE strpos(metadata::text, '\\u0000') > 0;
UPDATE views SET visible_columns = replace(visible_columns::text, '\\u0000', U&'\FFFD')::jsonb
    WHERE strpos(visible_columns::text, '\\u0000') > 0;
UPDATE view_filters SET value = replace(value::text, '\\u0000', U&'\FFFD')::jsonb
    WHERE strpos(value::text, '\\u0000') > 0;
UPDATE panel_changes SET old_values = replace(old_values::text, '\\u0000', U&'\FFFD')::jsonb
    WHERE strpos(old_values::text, '\\u0000') > 0;
UPDATE panel_changes SET new_values = replace(new_values::text, '\\u0000', U&'\FFFD')::jsonb
    WHERE strpos(new_values::text, '\\u0000') > 0;
