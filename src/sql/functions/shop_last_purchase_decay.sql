CREATE OR REPLACE FUNCTION shop_last_purchase_decay(p_shop_id uuid, p_as_of timestamptz DEFAULT now())
RETURNS TABLE (bucket text, min_days bigint, max_days bigint, customers bigint, churn_risk text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @extschema@.customer_tracking_require_read('shop_last_purchase_decay', '@extschema@.customer_tracking_daily');
    RETURN QUERY
    WITH b(bucket, min_days, max_days, churn_risk, n) AS (VALUES
        ('0-7 days', 0, 7, 'low', 1), ('8-30 days', 8, 30, 'medium', 2),
        ('31-90 days', 31, 90, 'high', 3), ('91+ days', 91, NULL, 'lost', 4))
    SELECT b.bucket, b.min_days::bigint, b.max_days::bigint,
           coalesce((SELECT sum(d.last_purchasers) FROM @extschema@.customer_tracking_daily d
                      WHERE d.shop_id = p_shop_id
                        AND d.day <= (p_as_of AT TIME ZONE 'UTC')::date - b.min_days
                        AND (b.max_days IS NULL OR d.day >= (p_as_of AT TIME ZONE 'UTC')::date - b.max_days)), 0)::bigint,
           b.churn_risk
      FROM b ORDER BY b.n;
END
$$;
COMMENT ON FUNCTION shop_last_purchase_decay(uuid, timestamptz) IS
    'Customers by whole UTC days since their last purchase, in churn-risk buckets.';
SELECT customer_tracking_set_audience('shop_last_purchase_decay(uuid, timestamptz)', 'dashboard');
