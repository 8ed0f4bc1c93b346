CREATE OR REPLACE FUNCTION customer_tracking_network_name(p_network text)
RETURNS text
AS 'MODULE_PATHNAME', 'ct_network_name'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_tracking_network_name(text) IS
    'The one spelling of a network name: blanks at both ends removed, ASCII letters upper-cased; '
    'NULL when blank.';
