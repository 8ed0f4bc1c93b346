-- A code as it is matched, the same rule as the trigger's (ct_code_normalize, src/codes.cpp):
-- spaces and dashes dropped, ASCII letters upper-cased; NULL unless 1 to 32 letters and digits.
CREATE OR REPLACE FUNCTION customer_tracking_normalize_code(p_code text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN s.c ~ '^[A-Za-z0-9]{1,32}$' THEN upper(s.c) END
      FROM (SELECT CASE WHEN length(p_code) <= 200
                        THEN translate(p_code, E' -\t\n\r\f' || chr(11), '') END AS c) s
$$;
COMMENT ON FUNCTION customer_tracking_normalize_code(text) IS
    'A loyalty or referral code as matched: spaces and dashes dropped, upper case; NULL when it '
    'cannot be a code.';
SELECT customer_tracking_set_audience('customer_tracking_normalize_code(text)', 'storefront');
