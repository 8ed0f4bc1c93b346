CREATE OR REPLACE FUNCTION shop_tier_preview(p_shop_id uuid, p_tiers jsonb, p_as_of timestamptz DEFAULT now())
RETURNS TABLE (tier text, rank bigint, customers bigint, revenue numeric, share numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    RETURN QUERY SELECT * FROM @extschema@.customer_tracking_tier_spread(
        p_shop_id,
        (SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.rank), '[]')
           FROM @extschema@.customer_tracking_parse_tiers(p_tiers) p),
        p_as_of);
END
$$;
COMMENT ON FUNCTION shop_tier_preview(uuid, jsonb, timestamptz) IS
    'shop_tier_summary() for tiers not stored (p_tiers as customer_tracking_set_tiers() takes them): '
    'how the shop''s customers would spread, before committing to thresholds.';
SELECT customer_tracking_set_audience('shop_tier_preview(uuid, jsonb, timestamptz)', 'dashboard');
