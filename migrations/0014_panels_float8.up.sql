-- panels_float8: a number text read as Go's strconv.ParseFloat reads it, for the rows engine's
-- SQL (store/rows/sql.go), which must type every cell exactly as the Go evaluator does.
--
-- float8 input rounds to the nearest double as ParseFloat does, but where ParseFloat gives
-- +-Inf (too large: the engine then holds no number, NULL) or +-0 (too small), float8 input
-- raises numeric_value_out_of_range, and numeric input fails for exponents past its range: a
-- request would end in a 500. The engine's SQL calls this only for the texts it cannot prove in
-- range cheaply (longer than 250 characters, or with an exponent), so the exception block's
-- subtransaction stays off the common path.
--
-- t is already known to match formula.NumberPattern.
CREATE FUNCTION panels_float8(t text) RETURNS float8
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    m text[];
    digits text;
    expo text;
    mag bigint;
BEGIN
    RETURN t::float8;
EXCEPTION WHEN numeric_value_out_of_range THEN
    m := regexp_match(t, '^[ \t\n\f\r]*([-+]?)([0-9]*)\.?([0-9]*)(?:[eE]([-+]?)([0-9]+))?[ \t\n\f\r]*$');
    IF m IS NULL THEN
        RETURN NULL;
    END IF;
    -- The error means overflow or underflow; the sign of the decimal magnitude says which. The
    -- value is not zero (zero never fails), so some digit is not 0.
    digits := ltrim(m[2], '0');
    IF digits <> '' THEN
        mag := length(digits);
    ELSE
        mag := -(length(m[3]) - length(ltrim(m[3], '0')));
    END IF;
    expo := ltrim(coalesce(m[5], ''), '0');
    IF length(expo) > 15 THEN
        -- Beyond any digit count a text can have: the exponent's sign decides.
        mag := CASE WHEN m[4] = '-' THEN -1 ELSE 1 END;
    ELSIF expo <> '' THEN
        mag := mag + CASE WHEN m[4] = '-' THEN -expo::bigint ELSE expo::bigint END;
    END IF;
    IF mag > 0 THEN
        RETURN NULL;
    END IF;
    RETURN CASE WHEN m[1] = '-' THEN '-0'::float8 ELSE 0::float8 END;
END $$;
