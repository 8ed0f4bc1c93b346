CREATE OR REPLACE FUNCTION shop_daily_series(p_shop_id uuid, p_from date DEFAULT NULL, p_to date DEFAULT NULL)
RETURNS TABLE (day date, purchases bigint, revenue numeric, new_customers bigint, checkouts bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @extschema@.customer_tracking_require_read('shop_daily_series', '@extschema@.customer_tracking_daily');
    RETURN QUERY
    WITH bounds AS (
        SELECT coalesce(p_to, (now() AT TIME ZONE 'UTC')::date) AS hi,
               coalesce(p_from, coalesce(p_to, (now() AT TIME ZONE 'UTC')::date) - 29) AS lo
    )
    SELECT g.day::date, coalesce(r.purchases, 0), @extschema@.customer_tracking_money(coalesce(r.revenue, 0)), coalesce(r.new_customers, 0),
           coalesce(r.checkouts, 0)
      FROM bounds, generate_series(bounds.lo, bounds.hi, interval '1 day') AS g(day)
      LEFT JOIN (SELECT d.day, sum(d.purchases)::bigint AS purchases, sum(d.revenue) AS revenue,
                        sum(d.new_customers)::bigint AS new_customers, sum(d.checkouts)::bigint AS checkouts
                   FROM @extschema@.customer_tracking_daily d, bounds
                  WHERE d.shop_id = p_shop_id AND d.day BETWEEN bounds.lo AND bounds.hi
                  GROUP BY d.day) r ON r.day = g.day::date
     ORDER BY 1;
END
$$;
COMMENT ON FUNCTION shop_daily_series(uuid, date, date) IS
    'Per UTC day from p_from to p_to (default: the last 30 days): purchases, revenue, new customers '
    'and checkouts, zeros included, for charts.';
SELECT customer_tracking_set_audience('shop_daily_series(uuid, date, date)', 'dashboard');
