-- panels_float8: a number text read as Go's strconv.ParseFloat reads it, for the rows engine's
-- SQL (store/rows/sql.go), which must type every cell exactly as the Go evaluator does.
--
-- float8 input rounds to the nearest double as ParseFloat does, but where ParseFloat gives
-- +-Inf (too large: the engine then holds no number, NULL) or +-0 (too small), float8 input
-- raises numeric_value_out_of_range, and numeric input fails for exponents past its range: a
-- request would end in a 500. This function decides those cases from the text itself, before
-- float8 input can fail: no exception block, whose subtransaction would cost every call and
-- which PostgreSQL refuses inside a parallel query. The engine's SQL calls it only for the
-- texts it cannot prove in range cheaply (longer than 250 characters, or with an exponent).
--
-- The decimal magnitude mag places the value in [10^(mag-1), 10^mag). Below 10^-324 it rounds
-- to zero and from 10^309 up to Inf; between 10^-323 and 10^308 float8 input cannot fail. In
-- the two decades left the value is compared, as numeric, with the exact bounds: it is Inf
-- from 2^1024 - 2^970 (halfway between the largest double and 2^1024; the tie rounds to even,
-- which is 2^1024) and zero up to 2^-1075 (half the smallest double; the tie rounds to zero).
-- 1200 significant digits decide both exactly (the bounds have 309 and 752).
CREATE FUNCTION panels_float8(t text) RETURNS float8
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    m text[];
    sig text;
    expo text;
    mag bigint;
    v numeric;
    zero float8;
BEGIN
    m := regexp_match(t, '^[ \t\n\f\r]*([-+]?)([0-9]*)\.?([0-9]*)(?:[eE]([-+]?)([0-9]+))?[ \t\n\f\r]*$');
    IF m IS NULL OR m[2] || m[3] = '' THEN
        RETURN NULL;
    END IF;
    zero := CASE WHEN m[1] = '-' THEN '-0'::float8 ELSE 0::float8 END;
    IF ltrim(m[2], '0') <> '' THEN
        sig := ltrim(m[2], '0') || m[3];
        mag := length(ltrim(m[2], '0'));
    ELSE
        sig := ltrim(m[3], '0');
        mag := length(sig) - length(m[3]);
    END IF;
    sig := rtrim(sig, '0');
    IF sig = '' THEN
        RETURN zero;
    END IF;
    expo := ltrim(coalesce(m[5], ''), '0');
    IF length(expo) > 15 THEN
        -- Beyond any digit count a text can have: the exponent's sign decides.
        mag := CASE WHEN m[4] = '-' THEN -1e17 ELSE 1e17 END;
    ELSIF expo <> '' THEN
        mag := mag + CASE WHEN m[4] = '-' THEN -expo::bigint ELSE expo::bigint END;
    END IF;
    IF mag > 309 THEN
        RETURN NULL;
    ELSIF mag < -323 THEN
        RETURN zero;
    ELSIF mag BETWEEN -322 AND 308 THEN
        RETURN t::float8;
    END IF;
    v := (left(sig, 1200) || 'e' || (mag - least(length(sig), 1200)))::numeric;
    IF mag = 309 THEN
        IF v >= 179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792 THEN
            RETURN NULL;
        END IF;
    ELSIF v < '24703282292062327208828439643411068618252990130716238221279284125033775363510437593264991818081799618989828234772285886546332835517796989819938739800539093906315035659515570226392290858392449105184435931802849936536152500319370457678249219365623669863658480757001585769269903706311928279558551332927834338409351978015531246597263579574622766465272827220056374006485499977096599470454020828166226237857393450736339007967761930577506740176324673600968951340535537458516661134223766678604162159680461914467291840300530057530849048765391711386591646239524912623653881879636239373280423891018672348497668235089863388587925628302755995657524455507255189313690836254779186948667994968324049705821028513185451396213837722826145437693412532098591327667236328125e-1075'::numeric OR (v = '24703282292062327208828439643411068618252990130716238221279284125033775363510437593264991818081799618989828234772285886546332835517796989819938739800539093906315035659515570226392290858392449105184435931802849936536152500319370457678249219365623669863658480757001585769269903706311928279558551332927834338409351978015531246597263579574622766465272827220056374006485499977096599470454020828166226237857393450736339007967761930577506740176324673600968951340535537458516661134223766678604162159680461914467291840300530057530849048765391711386591646239524912623653881879636239373280423891018672348497668235089863388587925628302755995657524455507255189313690836254779186948667994968324049705821028513185451396213837722826145437693412532098591327667236328125e-1075'::numeric AND length(sig) <= 1200) THEN
        RETURN zero;
    END IF;
    RETURN t::float8;
END $$;
