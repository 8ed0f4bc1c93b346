CREATE OR REPLACE FUNCTION shop_purchase_frequency(p_shop_id uuid)
RETURNS TABLE (purchases bigint, customers bigint, share numeric)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @extschema@.customer_tracking_require_read('shop_purchase_frequency', '@extschema@.customer_tracking_frequency');
    RETURN QUERY
    SELECT f.purchases::bigint, f.customers,
           round(100.0 * f.customers / nullif(sum(f.customers) OVER (), 0), 1)
      FROM (SELECT r.purchases, sum(r.customers)::bigint AS customers
              FROM @extschema@.customer_tracking_frequency r
             WHERE r.shop_id = p_shop_id
             GROUP BY r.purchases HAVING sum(r.customers) <> 0) f
     ORDER BY f.purchases;
END
$$;
COMMENT ON FUNCTION shop_purchase_frequency(uuid) IS
    'How many customers have made 1, 2, 3, ... purchases, and their share (%).';
SELECT customer_tracking_set_audience('shop_purchase_frequency(uuid)', 'dashboard');
