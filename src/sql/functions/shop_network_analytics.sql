CREATE OR REPLACE FUNCTION shop_network_analytics(p_shop_id uuid)
RETURNS TABLE (network text, customers_preferring bigint, purchases bigint, revenue numeric)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @extschema@.customer_tracking_require_read('shop_network_analytics', '@extschema@.customer_tracking_network_totals');
    RETURN QUERY
    SELECT r.network, sum(r.customers_preferring)::bigint, sum(r.purchases)::bigint,
           @extschema@.customer_tracking_money(sum(r.revenue))
      FROM @extschema@.customer_tracking_network_totals r
     WHERE r.shop_id = p_shop_id
     GROUP BY r.network
    HAVING sum(r.customers_preferring) <> 0 OR sum(r.purchases) <> 0
     ORDER BY 2 DESC, 3 DESC, 1;
END
$$;
COMMENT ON FUNCTION shop_network_analytics(uuid) IS
    'Per network: customers whose preferred network it is, purchases and revenue.';
SELECT customer_tracking_set_audience('shop_network_analytics(uuid)', 'dashboard');
