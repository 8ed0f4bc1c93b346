CREATE OR REPLACE FUNCTION shop_network_analytics(p_shop_id uuid)
RETURNS TABLE (network text, customers_preferring bigint, purchases bigint, revenue numeric)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    -- A role that may not read what it reads gets an error naming this function (not the
    -- statement below as context).
    IF NOT has_table_privilege('@extschema@.customer_tracking_network_totals', 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for function shop_network_analytics'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('It reads customer_tracking_network_totals; role %s may not read it.', current_user);
    END IF;
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
