-- When a shop sells: purchases in [p_from, p_to) by day of week, hour, day of month or
-- month, in the zone p_time_zone (default customer_tracking_time_zone()).
CREATE OR REPLACE FUNCTION shop_seasonality(p_shop_id uuid, p_by text, p_from timestamptz, p_to timestamptz,
                                            p_time_zone text DEFAULT NULL)
RETURNS TABLE (bucket bigint, orders bigint, revenue numeric, customers bigint, new_customers bigint,
               index_vs_mean numeric)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_zone text := coalesce(p_time_zone, @extschema@.customer_tracking_time_zone());
    v_field text;
    v_unit text;
    v_lo integer;
    v_hi integer;
BEGIN
    PERFORM @extschema@.customer_tracking_require_read('shop_seasonality', '@extschema@.customer_tracking', '@extschema@.shop_customers');
    IF p_by IS NULL OR p_by NOT IN ('dow', 'hour', 'day_of_month', 'month') THEN
        RAISE EXCEPTION 'shop_seasonality: p_by must be dow, hour, day_of_month or month'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_from IS NULL OR p_to IS NULL OR NOT isfinite(p_from) OR NOT isfinite(p_to) OR p_from >= p_to THEN
        RAISE EXCEPTION 'shop_seasonality: p_from and p_to must be finite times, p_from < p_to'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT @extschema@.customer_tracking_valid_time_zone(v_zone) THEN
        RAISE EXCEPTION 'shop_seasonality: "%" is not a time zone name', v_zone
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a name from pg_timezone_names, e.g. UTC or Africa/Accra.';
    END IF;
    SELECT f, u, lo, hi INTO v_field, v_unit, v_lo, v_hi
      FROM (VALUES ('dow', 'isodow', 'day', 1, 7), ('hour', 'hour', 'hour', 0, 23),
                   ('day_of_month', 'day', 'day', 1, 31), ('month', 'month', 'month', 1, 12)) v(b, f, u, lo, hi)
     WHERE v.b = p_by;
    RETURN QUERY
    WITH p AS (
        SELECT date_part(v_field, t.accessed_at AT TIME ZONE v_zone)::integer AS b,
               count(*) AS orders, sum(t.purchase_amount) AS revenue,
               count(DISTINCT t.shop_customer_id) AS customers
          FROM @extschema@.customer_tracking t
         WHERE t.shop_id = p_shop_id AND t.purchase_completed
           AND t.accessed_at >= p_from AND t.accessed_at < p_to
         GROUP BY 1
    ), n AS (
        SELECT date_part(v_field, c.first_purchase_at AT TIME ZONE v_zone)::integer AS b, count(*) AS new_customers
          FROM @extschema@.shop_customers c
         WHERE c.shop_id = p_shop_id AND c.first_purchase_at >= p_from AND c.first_purchase_at < p_to
         GROUP BY 1
    ), occ AS (
        -- How often each bucket occurs in the range: the local days, hours or months that overlap it.
        SELECT date_part(v_field, u.s)::integer AS b, count(*) AS occurrences
          FROM generate_series(date_trunc(v_unit, p_from AT TIME ZONE v_zone),
                               (p_to AT TIME ZONE v_zone) - interval '1 microsecond',
                               ('1 ' || v_unit)::interval) u(s)
         GROUP BY 1
    ), t AS (
        SELECT sum(p.orders) AS orders FROM p
    ), o AS (
        SELECT sum(occ.occurrences) AS occurrences FROM occ
    )
    SELECT g.b::bigint, coalesce(p.orders, 0)::bigint, @extschema@.customer_tracking_money(coalesce(p.revenue, 0)),
           coalesce(p.customers, 0)::bigint,
           coalesce(n.new_customers, 0)::bigint,
           CASE WHEN coalesce(occ.occurrences, 0) = 0 OR coalesce(t.orders, 0) = 0 THEN NULL
                ELSE round((coalesce(p.orders, 0)::numeric / occ.occurrences) / (t.orders::numeric / o.occurrences), 2) END
      FROM generate_series(v_lo, v_hi) g(b)
      CROSS JOIN t CROSS JOIN o
      LEFT JOIN p ON p.b = g.b
      LEFT JOIN n ON n.b = g.b
      LEFT JOIN occ ON occ.b = g.b
     ORDER BY g.b;
END
$$;
COMMENT ON FUNCTION shop_seasonality(uuid, text, timestamptz, timestamptz, text) IS
    'Purchases in [p_from, p_to) per bucket of p_by (dow: 1 = Monday .. 7; hour 0-23; day_of_month '
    '1-31; month 1-12), local time in p_time_zone (default customer_tracking_time_zone()): orders, '
    'revenue, distinct customers, customers whose first purchase it was, and the bucket''s orders per '
    'occurrence over the range''s mean (1.00 = average; NULL when the bucket does not occur or there '
    'are no orders).';
SELECT customer_tracking_set_audience('shop_seasonality(uuid, text, timestamptz, timestamptz, text)', 'dashboard');
