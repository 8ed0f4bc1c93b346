-- bench/dashboard/quick_check.sql: a fast, independent sanity check of one shop (linear in its
-- orders, unlike customer_tracking_verify()): the dashboard numbers recomputed from shop_orders
-- alone (paid = the default paid statuses, customer = the E.164 phone).
-- psql variable: shop. Returns one line: ok|mismatch, then the pairs (recomputed / stored).
WITH o AS (
    SELECT normalize_phone(customer_phone) AS phone, total_price
      FROM shop_orders
     WHERE shop_id = :'shop' AND lower(btrim(payment_status)) IN ('completed', 'paid', 'success')
), c AS (
    SELECT phone, count(*) AS n FROM o WHERE phone IS NOT NULL GROUP BY phone
), r AS (
    SELECT (SELECT count(*) FROM o WHERE phone IS NOT NULL) AS purchases,
           (SELECT coalesce(sum(total_price), 0) FROM o WHERE phone IS NOT NULL) AS revenue,
           (SELECT count(*) FROM c) AS customers,
           (SELECT count(*) FROM c WHERE n >= 2) AS repeaters
), s AS (
    SELECT (SELECT coalesce(sum(total_purchases), 0) FROM shop_customers WHERE shop_id = :'shop') AS purchases,
           m.total_revenue AS revenue, m.total_customers AS customers, m.repeat_customers AS repeaters
      FROM shop_customer_metrics(:'shop') m
)
SELECT CASE WHEN (r.purchases, r.revenue, r.customers, r.repeaters) = (s.purchases, s.revenue, s.customers, s.repeaters)
            THEN 'ok' ELSE 'MISMATCH' END
       || format(' (purchases %s/%s, revenue %s/%s, customers %s/%s, repeat %s/%s)',
                 r.purchases, s.purchases, r.revenue, s.revenue, r.customers, s.customers, r.repeaters, s.repeaters)
  FROM r, s
