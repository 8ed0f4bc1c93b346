-- The storefront funnel per slug over the UTC days from p_from's to p_to's (NULL = unbounded):
-- visits and unique visitors (customer_tracking_slug_visits; over several days the sum of the
-- daily uniques), then checkouts, paid orders, revenue and customers as shop_slug_analytics()
-- counts them (called here: one source of truth). Rates in %, 1 decimal, 0 when the
-- denominator is 0; money with 2 decimals. CTEs materialized so that Citus runs each as a query of its own.
CREATE OR REPLACE FUNCTION shop_slug_funnel(p_shop_id uuid, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (slug text, visits bigint, unique_visitors bigint, checkouts bigint, paid_orders bigint,
               visit_to_checkout numeric, checkout_to_paid numeric, visit_to_paid numeric,
               revenue numeric, revenue_per_visit numeric, new_customers bigint,
               returning_customers bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @extschema@.customer_tracking_require_read('shop_slug_funnel', '@extschema@.customer_tracking_slug_visits', '@extschema@.customer_tracking_slug_daily');
    RETURN QUERY
    WITH a AS MATERIALIZED (
        SELECT * FROM @extschema@.shop_slug_analytics(p_shop_id, p_from, p_to)
    ), v AS MATERIALIZED (
        SELECT r.slug, sum(r.visits)::bigint AS visits, sum(r.unique_visitors)::bigint AS unique_visitors
          FROM @extschema@.customer_tracking_slug_visits r
         WHERE r.shop_id = p_shop_id
           AND (p_from IS NULL OR r.day >= (p_from AT TIME ZONE 'UTC')::date)
           AND (p_to IS NULL OR r.day <= (p_to AT TIME ZONE 'UTC')::date)
         GROUP BY r.slug
    ), f AS (
        SELECT coalesce(a.slug, v.slug) AS slug,
               coalesce(v.visits, 0) AS visits, coalesce(v.unique_visitors, 0) AS unique_visitors,
               coalesce(a.checkouts, 0) AS checkouts, coalesce(a.purchases, 0) AS paid_orders,
               @extschema@.customer_tracking_money(coalesce(a.revenue, 0)) AS revenue,
               coalesce(a.new_customers, 0) AS new_customers,
               coalesce(a.customers - a.new_customers, 0) AS returning_customers
          FROM a FULL JOIN v ON v.slug = a.slug
    )
    SELECT f.slug, f.visits, f.unique_visitors, f.checkouts, f.paid_orders,
           CASE WHEN f.visits = 0 THEN 0.0 ELSE round(100.0 * f.checkouts / f.visits, 1) END,
           CASE WHEN f.checkouts = 0 THEN 0.0 ELSE round(100.0 * f.paid_orders / f.checkouts, 1) END,
           CASE WHEN f.visits = 0 THEN 0.0 ELSE round(100.0 * f.paid_orders / f.visits, 1) END,
           f.revenue,
           CASE WHEN f.visits = 0 THEN 0.00 ELSE round(f.revenue / f.visits, 2) END,
           f.new_customers, f.returning_customers
      FROM f
     ORDER BY f.visits DESC, f.revenue DESC, f.slug;
END
$$;
COMMENT ON FUNCTION shop_slug_funnel(uuid, timestamptz, timestamptz) IS
    'Per slug, over the UTC days from p_from''s to p_to''s (NULL = unbounded): visits, unique visitors '
    '(sum of the daily uniques), checkouts, paid orders, visit->checkout, checkout->paid and visit->paid '
    'rates (%, 1 decimal), revenue, revenue per visit, new customers (first purchase at the shop via '
    'the slug) and returning customers (first purchase via the slug in the period, not their first at '
    'the shop). Orders'' figures are shop_slug_analytics()''s. NULL slug = orders without one.';
SELECT customer_tracking_set_audience('shop_slug_funnel(uuid, timestamptz, timestamptz)', 'dashboard');
