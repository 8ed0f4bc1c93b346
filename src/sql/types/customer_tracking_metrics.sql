-- The metrics of a shop: shop_customer_metrics() returns one row of this type (a row in every
-- driver, an object in PostgREST / Supabase rpc()).
CREATE TYPE customer_tracking_metrics AS (
    total_customers bigint, repeat_customers bigint, repeat_rate numeric, new_customers_30d bigint,
    new_customers_this_month bigint, average_ltv numeric, total_revenue numeric);
COMMENT ON TYPE customer_tracking_metrics IS 'One row of shop_customer_metrics().';
