-- The write behind customer_tracking_set_tiers(), run by customer_tracking_tiers_write() with
-- the extension owner's rights once the caller's right to the shop is checked. Not for PUBLIC.
CREATE OR REPLACE FUNCTION customer_tracking_store_tiers(p_shop_id uuid, p_tiers jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    -- Checked before anything is removed: bad input leaves the tiers as they were.
    v_new jsonb := (SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.rank), '[]')
                      FROM @extschema@.customer_tracking_parse_tiers(p_tiers) p);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM @extschema@.user_shops s WHERE s.id = p_shop_id) THEN
        RAISE EXCEPTION 'customer_tracking_set_tiers: no shop %', p_shop_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    DELETE FROM @extschema@.customer_tracking_tiers t WHERE t.shop_id = p_shop_id;
    INSERT INTO @extschema@.customer_tracking_tiers
           (shop_id, rank, name, min_spent, min_purchases, tier_window, time_zone)
    SELECT p_shop_id, n.rank, n.name, n.min_spent, n.min_purchases, n."window", n.time_zone
      FROM jsonb_to_recordset(v_new) AS n(rank integer, name text, min_spent numeric,
                                          min_purchases integer, "window" text, time_zone text);
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_store_tiers(uuid, jsonb)', 'dba');
