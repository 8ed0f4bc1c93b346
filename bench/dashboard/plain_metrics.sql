-- The plan's dashboard numbers computed the plain way: one aggregate over the shop's rows of
-- shop_customers (the plan's "KEY METRICS" table: COUNT / COUNT repeat / AVG / SUM / new in 30
-- days / new this month). Same 7 columns, types and rounding as shop_customer_metrics().
-- psql variables: shop, as_of.
SELECT count(*) AS total_customers,
       count(*) FILTER (WHERE c.repeat_customer) AS repeat_customers,
       CASE WHEN count(*) = 0 THEN 0.0
            ELSE round(100.0 * count(*) FILTER (WHERE c.repeat_customer) / count(*), 1) END AS repeat_rate,
       count(*) FILTER (WHERE c.first_purchase_at > :'as_of'::timestamptz - interval '30 days'
                          AND c.first_purchase_at <= :'as_of'::timestamptz) AS new_customers_30d,
       count(*) FILTER (WHERE c.first_purchase_at >= date_trunc('month', :'as_of'::timestamptz)
                          AND c.first_purchase_at <= :'as_of'::timestamptz) AS new_customers_this_month,
       CASE WHEN count(*) = 0 THEN 0.00 ELSE round(avg(c.total_spent), 2) END AS average_ltv,
       coalesce(sum(c.total_spent), 0.00) AS total_revenue
  FROM shop_customers c
 WHERE c.shop_id = :'shop' AND c.total_purchases > 0
