-- Customers whose first purchase falls in [p_from, p_to), in C (src/metrics.cpp): the rule
-- shop_customer_metrics() counts its new customers with (whole UTC days from the daily rollup,
-- the partial days at either end from the customer index). 0 when an argument is NULL.
CREATE OR REPLACE FUNCTION customer_tracking_new_customers(p_shop_id uuid, p_from timestamptz, p_to timestamptz)
RETURNS bigint
LANGUAGE c STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'ct_new_customers';
SELECT customer_tracking_set_audience('customer_tracking_new_customers(uuid, timestamptz, timestamptz)', 'dashboard');
