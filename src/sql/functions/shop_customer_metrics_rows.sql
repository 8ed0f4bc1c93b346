-- Deprecated (1.4; dropped in 1.5): 1.3's set-returning form of shop_customer_metrics, for
-- clients that rely on getting an array (PostgREST) or a set. Same C function.
CREATE OR REPLACE FUNCTION shop_customer_metrics_rows(p_shop_id uuid, p_as_of timestamptz DEFAULT now())
RETURNS SETOF customer_tracking_metrics
LANGUAGE c STABLE PARALLEL SAFE ROWS 1
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'ct_shop_customer_metrics';
COMMENT ON FUNCTION shop_customer_metrics_rows(uuid, timestamptz) IS
    'Deprecated, dropped in 1.5: shop_customer_metrics() as a set of one row (its form before 1.4).';
SELECT customer_tracking_set_audience('shop_customer_metrics_rows(uuid, timestamptz)', 'dashboard');
