-- A shop's stored tiers in the form customer_tracking_tier_eval() takes (with the caller's
-- rights: '[]' for a shop the caller may not see).
CREATE OR REPLACE FUNCTION customer_tracking_tier_config(p_shop_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.rank), '[]')
              FROM @extschema@.shop_loyalty_tiers(p_shop_id) t);
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_tier_config(uuid)', 'dashboard');
