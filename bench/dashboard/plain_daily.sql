-- Daily series the plain way: GROUP BY UTC day over the shop's customer_tracking rows in the
-- range (index (shop_id, accessed_at DESC)) and shop_customers.first_purchase_at (index
-- (shop_id, first_purchase_at)), zeros included. Same columns as shop_daily_series().
-- psql variables: shop, lo_day, hi_day.
WITH b AS (
    SELECT (:'lo_day'::date)::timestamp AT TIME ZONE 'UTC' AS lo,
           (:'hi_day'::date + 1)::timestamp AT TIME ZONE 'UTC' AS hi
)
SELECT g.day::date AS day, coalesce(o.purchases, 0) AS purchases, coalesce(o.revenue, 0.00) AS revenue,
       coalesce(n.new_customers, 0) AS new_customers, coalesce(o.checkouts, 0) AS checkouts
  FROM generate_series(:'lo_day'::date, :'hi_day'::date, interval '1 day') AS g(day)
  LEFT JOIN (SELECT (t.accessed_at AT TIME ZONE 'UTC')::date AS day,
                    count(*) FILTER (WHERE t.purchase_completed) AS purchases,
                    coalesce(sum(t.purchase_amount) FILTER (WHERE t.purchase_completed), 0.00) AS revenue,
                    count(*) AS checkouts
               FROM customer_tracking t, b
              WHERE t.shop_id = :'shop' AND t.accessed_at >= b.lo AND t.accessed_at < b.hi
              GROUP BY 1) o ON o.day = g.day::date
  LEFT JOIN (SELECT (c.first_purchase_at AT TIME ZONE 'UTC')::date AS day, count(*) AS new_customers
               FROM shop_customers c, b
              WHERE c.shop_id = :'shop' AND c.total_purchases > 0
                AND c.first_purchase_at >= b.lo AND c.first_purchase_at < b.hi
              GROUP BY 1) n ON n.day = g.day::date
 ORDER BY 1
