-- Cohorts by first purchase: per cohort (the week or month of the first purchase, in
-- the zone p_time_zone, default customer_tracking_time_zone()) and period since, the customers
-- who bought again and their revenue, as of p_as_of.
CREATE OR REPLACE FUNCTION shop_cohort_retention(p_shop_id uuid, p_grain text DEFAULT 'month',
                                                 p_periods integer DEFAULT 12,
                                                 p_as_of timestamptz DEFAULT now(),
                                                 p_first_slug text DEFAULT NULL,
                                                 p_first_network text DEFAULT NULL,
                                                 p_time_zone text DEFAULT NULL)
RETURNS TABLE (cohort_start date, period bigint, cohort_size bigint, mature boolean,
               active_customers bigint, retention_pct numeric, revenue numeric,
               cumulative_revenue_per_customer numeric)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_zone text := coalesce(p_time_zone, @extschema@.customer_tracking_time_zone());
    v_step interval;
    v_last timestamp;       -- start of p_as_of's period, local time
    v_first timestamp;      -- start of the oldest cohort shown, local time
    v_network text := @extschema@.customer_tracking_network_name(p_first_network);
BEGIN
    PERFORM @extschema@.customer_tracking_require_read('shop_cohort_retention', '@extschema@.customer_tracking', '@extschema@.shop_customers');
    IF p_grain IS NULL OR p_grain NOT IN ('week', 'month') THEN
        RAISE EXCEPTION 'shop_cohort_retention: p_grain must be week or month'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_periods IS NULL OR p_periods < 1 OR p_periods > 240 THEN
        RAISE EXCEPTION 'shop_cohort_retention: p_periods must be between 1 and 240'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_as_of IS NULL OR NOT isfinite(p_as_of) THEN
        RAISE EXCEPTION 'shop_cohort_retention: p_as_of must be a finite time'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT @extschema@.customer_tracking_valid_time_zone(v_zone) THEN
        RAISE EXCEPTION 'shop_cohort_retention: "%" is not a time zone name', v_zone
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a name from pg_timezone_names, e.g. UTC or Africa/Accra.';
    END IF;
    v_step := CASE p_grain WHEN 'week' THEN interval '1 week' ELSE interval '1 month' END;
    v_last := date_trunc(p_grain, p_as_of AT TIME ZONE v_zone);
    v_first := v_last - (p_periods - 1) * v_step;
    RETURN QUERY
    WITH cust AS (
        SELECT c.id AS cid, date_trunc(p_grain, c.first_purchase_at AT TIME ZONE v_zone) AS cohort
          FROM @extschema@.shop_customers c
         WHERE c.shop_id = p_shop_id
           AND c.first_purchase_at >= (v_first AT TIME ZONE v_zone) AND c.first_purchase_at <= p_as_of
           AND (p_first_slug IS NULL AND p_first_network IS NULL
                OR EXISTS (SELECT 1 FROM @extschema@.customer_tracking f
                            WHERE f.id = c.first_order_id AND f.shop_id = c.shop_id
                              AND (p_first_slug IS NULL OR coalesce(f.accessed_via_slug, '') = p_first_slug)
                              AND (p_first_network IS NULL OR f.network IS NOT DISTINCT FROM v_network)))
    ), sizes AS (
        SELECT u.cohort, count(*) AS size FROM cust u GROUP BY u.cohort
    ), buys AS (
        SELECT b.cohort, b.k, count(DISTINCT b.cid) AS active, sum(b.amount) AS revenue
          FROM (SELECT u.cohort, u.cid, t.purchase_amount AS amount,
                       CASE WHEN p_grain = 'week'
                            THEN ((date_trunc('week', t.accessed_at AT TIME ZONE v_zone)::date - u.cohort::date) / 7)
                            ELSE ((extract(year FROM t.accessed_at AT TIME ZONE v_zone)
                                   - extract(year FROM u.cohort)) * 12
                                  + extract(month FROM t.accessed_at AT TIME ZONE v_zone)
                                  - extract(month FROM u.cohort))::integer END AS k
                  FROM cust u
                  JOIN @extschema@.customer_tracking t ON t.shop_customer_id = u.cid AND t.shop_id = p_shop_id
                 WHERE t.purchase_completed AND t.accessed_at <= p_as_of
                   -- implied by the cohorts (a customer's purchases start with their first one)
                   AND t.accessed_at >= (v_first AT TIME ZONE v_zone)) b
         WHERE b.k < p_periods
         GROUP BY b.cohort, b.k
    )
    SELECT s.cohort::date, g.k::bigint, s.size::bigint,
           ((s.cohort + (g.k + 1) * v_step) AT TIME ZONE v_zone) <= p_as_of,
           coalesce(b.active, 0)::bigint,
           round(100.0 * coalesce(b.active, 0) / s.size, 1),
           @extschema@.customer_tracking_money(coalesce(b.revenue, 0)),
           round(sum(coalesce(b.revenue, 0)) OVER (PARTITION BY s.cohort ORDER BY g.k) / s.size, 2)
      FROM sizes s
     CROSS JOIN LATERAL generate_series(0, p_periods - 1) g(k)
      LEFT JOIN buys b ON b.cohort = s.cohort AND b.k = g.k
     WHERE s.cohort + g.k * v_step <= v_last
     ORDER BY s.cohort, g.k;
END
$$;
COMMENT ON FUNCTION shop_cohort_retention(uuid, text, integer, timestamptz, text, text, text) IS
    'Per cohort (customers whose first purchase falls in a week or month, the last p_periods of them '
    'up to p_as_of) and period since (0 = the first purchase''s): cohort size, whether the period '
    'is over (mature), customers who bought in it, their share (%), its revenue and the revenue per '
    'customer so far. Purchases after p_as_of are ignored. p_first_slug / p_first_network: only '
    'customers whose first purchase came through that slug ('''' = none) or network. Calendar in '
    'p_time_zone (default customer_tracking_time_zone()).';
SELECT customer_tracking_set_audience('shop_cohort_retention(uuid, text, integer, timestamptz, text, text, text)', 'dashboard');
