-- Rollup rows that differ from a recomputation from shop_orders (sums over stripes).
CREATE OR REPLACE FUNCTION customer_tracking_verify_rollups(p_shop_id uuid DEFAULT NULL)
RETURNS TABLE (shop_id uuid, problem text, stored text, expected text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    SELECT r.shop_id, r.problem, r.stored, r.expected
      FROM @extschema@.customer_tracking_problems(p_shop_id, false) r
$$;
SELECT customer_tracking_set_audience('customer_tracking_verify_rollups(uuid)', 'dba');
