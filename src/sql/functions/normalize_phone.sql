CREATE OR REPLACE FUNCTION normalize_phone(p_phone text, p_region text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'ct_normalize_phone'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION normalize_phone(text, text) IS
    'E.164 form of p_phone (p_region: default region for numbers without a country code; '
    'NULL = customer_tracking.default_region), or NULL when it is not a valid number.';
