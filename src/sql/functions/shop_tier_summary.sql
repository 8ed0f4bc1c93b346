CREATE OR REPLACE FUNCTION shop_tier_summary(p_shop_id uuid, p_as_of timestamptz DEFAULT now())
RETURNS TABLE (tier text, rank bigint, customers bigint, revenue numeric, share numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    RETURN QUERY SELECT * FROM @extschema@.customer_tracking_tier_spread(
        p_shop_id, @extschema@.customer_tracking_tier_config(p_shop_id), p_as_of);
END
$$;
COMMENT ON FUNCTION shop_tier_summary(uuid, timestamptz) IS
    'Customers (with a purchase) per loyalty tier at p_as_of (default now), lowest first, and a row '
    'for those in no tier (rank 0) when there are any: customers, revenue (all they spent up to '
    'p_as_of) and share of customers (%, 1 decimal).';
SELECT customer_tracking_set_audience('shop_tier_summary(uuid, timestamptz)', 'dashboard');
