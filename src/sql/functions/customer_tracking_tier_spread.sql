-- How a shop's customers with a purchase spread over tiers p_tiers (customer_tracking_tier_eval's
-- form) at p_as_of: per tier (and "no tier", rank 0, when anyone is in it) customers, their
-- revenue (everything they spent up to p_as_of) and share of the customers (%, 1 decimal).
CREATE OR REPLACE FUNCTION customer_tracking_tier_spread(p_shop_id uuid, p_tiers jsonb, p_as_of timestamptz)
RETURNS TABLE (tier text, rank bigint, customers bigint, revenue numeric, share numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF p_as_of IS NULL THEN
        RAISE EXCEPTION 'customer_tracking tiers: p_as_of must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH a AS (SELECT * FROM @extschema@.customer_tracking_tier_counts(p_shop_id, p_tiers, p_as_of)),
    total AS (SELECT coalesce(sum(a.customers), 0) AS n FROM a),
    tiers AS (SELECT 0 AS rank, NULL::text AS name
              UNION ALL
              SELECT c.rank, c.name FROM jsonb_to_recordset(p_tiers) AS c(rank integer, name text))
    SELECT tiers.name, tiers.rank::bigint, coalesce(a.customers, 0)::bigint, coalesce(a.revenue, 0),
           CASE WHEN total.n = 0 THEN 0.0 ELSE round(100.0 * coalesce(a.customers, 0) / total.n, 1) END
      FROM tiers CROSS JOIN total LEFT JOIN a ON a.rank = tiers.rank
     WHERE tiers.rank > 0 OR a.customers > 0
     ORDER BY tiers.rank;
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_tier_spread(uuid, jsonb, timestamptz)', 'dashboard');
