-- In C (src/metrics.cpp): one statement over the rollups, planned once per session.
CREATE OR REPLACE FUNCTION shop_customer_metrics(p_shop_id uuid, p_as_of timestamptz DEFAULT now())
RETURNS TABLE (total_customers bigint, repeat_customers bigint, repeat_rate numeric,
               new_customers_30d bigint, new_customers_this_month bigint, average_ltv numeric,
               total_revenue numeric)
LANGUAGE c STABLE PARALLEL SAFE ROWS 1
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'ct_shop_customer_metrics';
COMMENT ON FUNCTION shop_customer_metrics(uuid, timestamptz) IS
    'Dashboard numbers of a shop: customers (at least one purchase), repeat customers (2+), repeat '
    'rate (%, 1 decimal), customers whose first purchase is in (p_as_of - 30 days, p_as_of] and in '
    'p_as_of''s calendar month (session time zone), average LTV (2 decimals) and revenue.';
SELECT customer_tracking_set_audience('shop_customer_metrics(uuid, timestamptz)', 'dashboard');
