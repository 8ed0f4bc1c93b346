-- Shopify's returning customer rate and the repeat purchase rate over [p_from, p_to).
CREATE OR REPLACE FUNCTION shop_retention_rates(p_shop_id uuid, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (customers bigint, returning_customers bigint, returning_customer_rate numeric,
               repeat_customers bigint, repeat_purchase_rate numeric)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @extschema@.customer_tracking_require_read('shop_retention_rates', '@extschema@.customer_tracking', '@extschema@.shop_customers');
    IF p_from IS NULL OR p_to IS NULL OR NOT isfinite(p_from) OR NOT isfinite(p_to) OR p_from >= p_to THEN
        RAISE EXCEPTION 'shop_retention_rates: p_from and p_to must be finite times, p_from < p_to'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT count(*)::bigint,
           count(*) FILTER (WHERE x.earlier OR x.purchases >= 2)::bigint,
           CASE WHEN count(*) = 0 THEN 0.0
                ELSE round(100.0 * count(*) FILTER (WHERE x.earlier OR x.purchases >= 2) / count(*), 1) END,
           count(*) FILTER (WHERE x.purchases >= 2)::bigint,
           CASE WHEN count(*) = 0 THEN 0.0
                ELSE round(100.0 * count(*) FILTER (WHERE x.purchases >= 2) / count(*), 1) END
      FROM (SELECT g.purchases,
                   -- a purchase before the range: the customer's first one is (refunds netted)
                   c.first_purchase_at < p_from AS earlier
              FROM (SELECT t.shop_customer_id AS cid, count(*) AS purchases
                      FROM @extschema@.customer_tracking t
                     WHERE t.shop_id = p_shop_id AND t.purchase_completed
                       AND t.accessed_at >= p_from AND t.accessed_at < p_to
                     GROUP BY t.shop_customer_id) g
              JOIN @extschema@.shop_customers c ON c.id = g.cid AND c.shop_id = p_shop_id) x;
END
$$;
COMMENT ON FUNCTION shop_retention_rates(uuid, timestamptz, timestamptz) IS
    'Over purchases in [p_from, p_to): customers who bought, those with more than one purchase '
    'before p_to (returning, Shopify''s returning customer rate) and those with two or more in the '
    'range (repeat purchase rate); rates in %, 1 decimal, 0 without customers.';
SELECT customer_tracking_set_audience('shop_retention_rates(uuid, timestamptz, timestamptz)', 'dashboard');
