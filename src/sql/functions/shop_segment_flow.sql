-- How customers moved between RFM segments from p_from to p_to: from_segment NULL for
-- customers whose first purchase is after p_from.
CREATE OR REPLACE FUNCTION shop_segment_flow(p_shop_id uuid, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (from_segment text, to_segment text, customers bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @extschema@.customer_tracking_require_read('shop_segment_flow', '@extschema@.customer_tracking', '@extschema@.shop_customers');
    IF p_from IS NULL OR p_to IS NULL OR NOT isfinite(p_from) OR NOT isfinite(p_to) OR p_from > p_to THEN
        RAISE EXCEPTION 'shop_segment_flow: p_from and p_to must be finite times, p_from <= p_to'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH o AS (
        SELECT n.segment, n.k FROM unnest(ARRAY['champions', 'loyal', 'potential_loyalist', 'new', 'promising',
            'needs_attention', 'at_risk', 'cannot_lose', 'hibernating', 'lost']) WITH ORDINALITY n(segment, k)
    )
    SELECT a.segment, b.segment, count(*)::bigint
      FROM @extschema@.shop_customer_rfm(p_shop_id, p_to) b
      LEFT JOIN @extschema@.shop_customer_rfm(p_shop_id, p_from) a ON a.customer_id = b.customer_id
     GROUP BY a.segment, b.segment
     ORDER BY (SELECT o.k FROM o WHERE o.segment = a.segment) NULLS FIRST,
              (SELECT o.k FROM o WHERE o.segment = b.segment);
END
$$;
COMMENT ON FUNCTION shop_segment_flow(uuid, timestamptz, timestamptz) IS
    'Customers per (RFM segment as of p_from, RFM segment as of p_to); from_segment NULL: first '
    'purchase after p_from.';
SELECT customer_tracking_set_audience('shop_segment_flow(uuid, timestamptz, timestamptz)', 'dashboard');
