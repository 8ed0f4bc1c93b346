-- In C (src/metrics.cpp): one statement over the rollups, planned once per session. One
-- composite row: a row in every driver, an object in PostgREST / Supabase rpc().
CREATE OR REPLACE FUNCTION shop_customer_metrics(p_shop_id uuid, p_as_of timestamptz DEFAULT now())
RETURNS customer_tracking_metrics
LANGUAGE c STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'ct_shop_customer_metrics';
COMMENT ON FUNCTION shop_customer_metrics(uuid, timestamptz) IS
    'Dashboard numbers of a shop, one row: customers (at least one purchase), repeat customers (2+), '
    'repeat rate (%, 1 decimal), customers whose first purchase is in (p_as_of - 30 days, p_as_of] '
    'and in p_as_of''s calendar month (session time zone), average LTV (2 decimals) and revenue '
    '(2 decimals or more).';
SELECT customer_tracking_set_audience('shop_customer_metrics(uuid, timestamptz)', 'dashboard');
