-- The zone naive (timestamp / date) creation times are read in, whatever a session's TimeZone.
CREATE OR REPLACE FUNCTION customer_tracking_set_naive_time_zone(p_zone text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    IF p_zone IS NULL OR NOT customer_tracking_valid_time_zone(p_zone) THEN
        RAISE EXCEPTION 'customer_tracking: "%" is not a time zone name', p_zone
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a name from pg_timezone_names, e.g. UTC or Africa/Accra.';
    END IF;
    INSERT INTO customer_tracking_settings VALUES ('naive_time_zone', p_zone)
    ON CONFLICT (setting) DO UPDATE SET value = EXCLUDED.value;
    PERFORM customer_tracking_invalidate();
    RAISE NOTICE 'customer_tracking: naive creation times are now read in %; run customer_tracking_backfill() to re-derive existing orders',
        p_zone;
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_set_naive_time_zone(text)', 'dba');
