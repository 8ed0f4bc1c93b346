CREATE OR REPLACE FUNCTION customer_tracking_set_tiers(p_shop_id uuid, p_tiers jsonb)
RETURNS TABLE (rank bigint, name text, min_spent numeric, min_purchases bigint, "window" text,
               time_zone text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.customer_tracking_tiers_write(p_shop_id, p_tiers);
    RETURN QUERY SELECT * FROM @extschema@.shop_loyalty_tiers(p_shop_id);
END
$$;
COMMENT ON FUNCTION customer_tracking_set_tiers(uuid, jsonb) IS
    'Replaces a shop''s loyalty tiers (the shop''s owner, or a role that sees every shop): a JSON '
    'array, lowest tier first, of {"name", "min_spent", "min_purchases", "window": lifetime | '
    'rolling_12m | calendar_year}, or {"tiers": [...], "time_zone": "<zone of calendar years>"}; '
    '[] removes them. Returns the tiers as stored.';
SELECT customer_tracking_set_audience('customer_tracking_set_tiers(uuid, jsonb)', 'dashboard');
