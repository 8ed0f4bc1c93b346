-- The zone the calendar of the analytics functions (cohorts, seasonality) is read in when the
-- caller gives none: the stored setting naive_time_zone (default UTC), the store's clock. A
-- definer function: the settings table is the extension owner's; it returns one zone name.
CREATE OR REPLACE FUNCTION customer_tracking_time_zone()
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    SELECT coalesce((SELECT s.value FROM @extschema@.customer_tracking_settings s
                      WHERE s.setting = 'naive_time_zone'), 'UTC')
$$;
COMMENT ON FUNCTION customer_tracking_time_zone() IS
    'The zone the analytics functions read calendars in by default: the stored setting '
    'naive_time_zone (customer_tracking_set_naive_time_zone(), default UTC).';
SELECT customer_tracking_set_audience('customer_tracking_time_zone()', 'dashboard');
