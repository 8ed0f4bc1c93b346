-- Customers, revenue and share per RFM segment as of p_as_of: every segment, in a
-- fixed order, zeros included.
CREATE OR REPLACE FUNCTION shop_customer_segments(p_shop_id uuid, p_as_of timestamptz DEFAULT now())
RETURNS TABLE (segment text, customers bigint, revenue numeric, share numeric)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @extschema@.customer_tracking_require_read('shop_customer_segments', '@extschema@.customer_tracking', '@extschema@.shop_customers');
    IF p_as_of IS NULL OR NOT isfinite(p_as_of) THEN
        RAISE EXCEPTION 'shop_customer_segments: p_as_of must be a finite time'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH s AS (
        SELECT r.segment, count(*) AS customers, sum(r.monetary) AS revenue
          FROM @extschema@.shop_customer_rfm(p_shop_id, p_as_of) r
         GROUP BY r.segment
    )
    SELECT n.segment, coalesce(s.customers, 0)::bigint, @extschema@.customer_tracking_money(coalesce(s.revenue, 0)),
           coalesce(round(100.0 * s.customers / nullif(sum(s.customers) OVER (), 0), 1), 0.0)
      FROM unnest(ARRAY['champions', 'loyal', 'potential_loyalist', 'new', 'promising', 'needs_attention',
                        'at_risk', 'cannot_lose', 'hibernating', 'lost']) WITH ORDINALITY n(segment, k)
      LEFT JOIN s ON s.segment = n.segment
     ORDER BY n.k;
END
$$;
COMMENT ON FUNCTION shop_customer_segments(uuid, timestamptz) IS
    'Per RFM segment (shop_customer_rfm() as of p_as_of; all ten, fixed order): customers, their '
    'revenue up to p_as_of and their share of the customers (%, 1 decimal).';
SELECT customer_tracking_set_audience('shop_customer_segments(uuid, timestamptz)', 'dashboard');
