-- Slug performance the plain way: GROUP BY over the shop's customer_tracking rows (one per
-- order: slug, paid or not, amount, customer; indexed on (shop_id, accessed_at DESC)) and
-- shop_customers (first_source_slug). Same columns and semantics as shop_slug_analytics():
-- checkouts / purchases / revenue of orders placed via the slug on the UTC days
-- [lo_day, hi_day]; customers = distinct customers whose first purchase via the slug falls in
-- those days; new_customers = customers acquired via it (first purchase overall) in those days,
-- repeat_customers = how many of those have 2+ purchases.
-- psql variables: shop, lo_day, hi_day (dates; '-infinity' / 'infinity' for all time).
WITH b AS (
    SELECT (:'lo_day'::date)::timestamp AT TIME ZONE 'UTC' AS lo,
           (:'hi_day'::date + 1)::timestamp AT TIME ZONE 'UTC' AS hi
), o AS (
    SELECT coalesce(t.accessed_via_slug, '') AS slug, count(*) AS checkouts,
           count(*) FILTER (WHERE t.purchase_completed) AS purchases,
           coalesce(sum(t.purchase_amount) FILTER (WHERE t.purchase_completed), 0.00) AS revenue
      FROM customer_tracking t, b
     WHERE t.shop_id = :'shop' AND t.accessed_at >= b.lo AND t.accessed_at < b.hi
     GROUP BY 1
), f AS (
    SELECT x.slug, count(*) AS customers
      FROM (SELECT coalesce(t.accessed_via_slug, '') AS slug, t.shop_customer_id, min(t.accessed_at) AS first_at
              FROM customer_tracking t
             WHERE t.shop_id = :'shop' AND t.purchase_completed
             GROUP BY 1, 2) x, b
     WHERE x.first_at >= b.lo AND x.first_at < b.hi
     GROUP BY 1
), n AS (
    SELECT coalesce(c.first_source_slug, '') AS slug, count(*) AS new_customers,
           count(*) FILTER (WHERE c.repeat_customer) AS repeat_customers
      FROM shop_customers c, b
     WHERE c.shop_id = :'shop' AND c.total_purchases > 0
       AND c.first_purchase_at >= b.lo AND c.first_purchase_at < b.hi
     GROUP BY 1
)
SELECT nullif(slug, '') AS slug, coalesce(o.checkouts, 0) AS checkouts, coalesce(o.purchases, 0) AS purchases,
       CASE WHEN coalesce(o.checkouts, 0) = 0 THEN 0.0 ELSE round(100.0 * o.purchases / o.checkouts, 1) END AS conversion_rate,
       coalesce(o.revenue, 0.00) AS revenue, coalesce(f.customers, 0) AS customers,
       coalesce(n.new_customers, 0) AS new_customers, coalesce(n.repeat_customers, 0) AS repeat_customers
  FROM o FULL JOIN f USING (slug) FULL JOIN n USING (slug)
 ORDER BY 5 DESC, slug
