-- When a purchase made at p_at leaves the rolling_12m window: the first instant t with
-- p_at <= t - 12 months (months counted in UTC). p + 12 months, except for 29 February, whose
-- purchases stay until the end of 28 February a year later.
CREATE OR REPLACE FUNCTION customer_tracking_rolling_leave(p_at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE WHEN (p_at AT TIME ZONE 'UTC') + interval '12 months' - interval '12 months' = (p_at AT TIME ZONE 'UTC')
                THEN ((p_at AT TIME ZONE 'UTC') + interval '12 months') AT TIME ZONE 'UTC'
                ELSE (date_trunc('day', (p_at AT TIME ZONE 'UTC') + interval '12 months') + interval '1 day') AT TIME ZONE 'UTC'
           END
$$;
SELECT customer_tracking_set_audience('customer_tracking_rolling_leave(timestamptz)', 'storefront');
