CREATE OR REPLACE FUNCTION customer_tracking_status_list(p_list text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'ct_status_list'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_tracking_status_list(text) IS
    'A comma-separated status list as the trigger reads it: entries trimmed and lower-cased '
    '(ASCII letters), empty entries dropped.';
