CREATE OR REPLACE FUNCTION shop_slug_analytics(p_shop_id uuid, p_from timestamptz DEFAULT NULL,
                                    p_to timestamptz DEFAULT NULL)
RETURNS TABLE (slug text, checkouts bigint, purchases bigint, conversion_rate numeric, revenue numeric,
               customers bigint, new_customers bigint, repeat_customers bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @extschema@.customer_tracking_require_read('shop_slug_analytics', '@extschema@.customer_tracking_slug_daily');
    RETURN QUERY
    SELECT nullif(s.slug, ''), s.checkouts, s.purchases,
           CASE WHEN s.checkouts = 0 THEN 0.0 ELSE round(100.0 * s.purchases / s.checkouts, 1) END,
           @extschema@.customer_tracking_money(s.revenue), s.customers, s.new_customers, s.repeat_customers
      FROM (SELECT r.slug, sum(r.checkouts)::bigint AS checkouts, sum(r.purchases)::bigint AS purchases,
                   sum(r.revenue) AS revenue, sum(r.customers)::bigint AS customers,
                   sum(r.new_customers)::bigint AS new_customers,
                   sum(r.repeat_customers)::bigint AS repeat_customers
              FROM @extschema@.customer_tracking_slug_daily r
             WHERE r.shop_id = p_shop_id
               AND (p_from IS NULL OR r.day >= (p_from AT TIME ZONE 'UTC')::date)
               AND (p_to IS NULL OR r.day <= (p_to AT TIME ZONE 'UTC')::date)
             GROUP BY r.slug) s
     WHERE s.checkouts <> 0 OR s.customers <> 0 OR s.new_customers <> 0
     ORDER BY s.revenue DESC, s.slug;
END
$$;
COMMENT ON FUNCTION shop_slug_analytics(uuid, timestamptz, timestamptz) IS
    'Per slug, over the UTC days from p_from''s to p_to''s (NULL = unbounded): checkouts (orders '
    'placed via it, any status), purchases, conversion rate (%), revenue, customers (distinct '
    'customers whose first purchase via the slug is in the period), new customers acquired (first '
    'purchase overall via the slug) and how many of those are repeat customers. NULL slug = orders '
    'without one.';
SELECT customer_tracking_set_audience('shop_slug_analytics(uuid, timestamptz, timestamptz)', 'dashboard');
