CREATE OR REPLACE FUNCTION shop_loyalty_tiers(p_shop_id uuid)
RETURNS TABLE (rank bigint, name text, min_spent numeric, min_purchases bigint, "window" text,
               time_zone text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT t.rank::bigint, t.name, @extschema@.customer_tracking_money(t.min_spent), t.min_purchases::bigint, t.tier_window, t.time_zone
      FROM @extschema@.customer_tracking_tiers t
     WHERE t.shop_id = p_shop_id
     ORDER BY t.rank;
END
$$;
COMMENT ON FUNCTION shop_loyalty_tiers(uuid) IS
    'A shop''s loyalty tiers, lowest first (rank 1): name, thresholds (both must be met), window '
    'and the time zone of calendar years.';
SELECT customer_tracking_set_audience('shop_loyalty_tiers(uuid)', 'dashboard');
