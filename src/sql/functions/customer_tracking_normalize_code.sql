-- A code as it is matched, the same rule as the trigger's (ct_code_normalize, src/codes.cpp):
-- spaces and dashes dropped, ASCII letters upper-cased; NULL unless 1 to 32 letters and digits.
-- Inlined where it is called (no SET clause: every name is schema-qualified).
CREATE OR REPLACE FUNCTION customer_tracking_normalize_code(p_code text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE WHEN pg_catalog.length(p_code) OPERATOR(pg_catalog.<=) 200
                 AND pg_catalog.translate(p_code, E' -\t\n\r\f' OPERATOR(pg_catalog.||) pg_catalog.chr(11), '')
                     OPERATOR(pg_catalog.~) '^[A-Za-z0-9]{1,32}$'
                THEN pg_catalog.upper(pg_catalog.translate(p_code, E' -\t\n\r\f' OPERATOR(pg_catalog.||) pg_catalog.chr(11), '')) END
$$;
COMMENT ON FUNCTION customer_tracking_normalize_code(text) IS
    'A loyalty or referral code as matched: spaces and dashes dropped, upper case; NULL when it '
    'cannot be a code.';
SELECT customer_tracking_set_audience('customer_tracking_normalize_code(text)', 'storefront');
