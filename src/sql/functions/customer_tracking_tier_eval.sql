-- Tiers computed at read: each customer's purchases in each window and the tier
-- they reach, from the ledger (customer_tracking: one row per linked order, exact at commit),
-- so refunds, deletions, moves and edits count at once and windows move with time without a
-- write. p_tiers: tiers as customer_tracking_tier_config() / _parse_tiers() give them (a JSON
-- array of {rank, min_spent, min_purchases, window, time_zone}). p_customers NULL: every
-- customer of the shop with a purchase, at p_at[1]; else the pairs (p_customers[i], p_at[i]).
-- Windows at instant t (each a function of t alone, never of the session's TimeZone):
--   lifetime       purchases at or before t;
--   rolling_12m    purchases in (t - 12 months, t], months counted in UTC;
--   calendar_year  purchases in [1 January of t's year, t], the year in the tiers' time_zone.
-- rank: the highest tier whose min_spent and min_purchases the customer's purchases in that
-- tier's window both reach; 0 (no tier) for none, or without any purchase at or before t.
-- With the caller's rights: row-level security applies.
CREATE OR REPLACE FUNCTION customer_tracking_tier_eval(p_shop_id uuid, p_tiers jsonb,
                                                       p_customers uuid[], p_at timestamptz[])
RETURNS TABLE (customer_id uuid, as_of timestamptz, rank integer, lifetime_spent numeric,
               lifetime_purchases bigint, rolling_spent numeric, rolling_purchases bigint,
               year_spent numeric, year_purchases bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_zone text := coalesce(p_tiers -> 0 ->> 'time_zone', 'UTC');
    v_rank text;
    v_at timestamptz;
BEGIN
    v_rank := @extschema@.customer_tracking_tier_rank_sql(p_tiers);

    IF p_customers IS NULL THEN
        -- Every customer: most need only their row in shop_customers (its totals and first and
        -- last purchase, exact like the ledger they come from). All their purchases are at or
        -- before t, so lifetime = the totals; a window holds none of them (last purchase before
        -- it) or all of them (first purchase in it). The others (a purchase after t, or purchases
        -- on both sides of a window's start) are summed from their ledger rows.
        v_at := p_at[1];
        RETURN QUERY EXECUTE format('SELECT cid, $2, (%s)::integer, ls, lp, rs, rp, ys, yp FROM (%s) s',
                                    v_rank, @extschema@.customer_tracking_tier_stats_sql())
        USING p_shop_id, v_at,
              ((v_at AT TIME ZONE 'UTC') - interval '12 months') AT TIME ZONE 'UTC',
              date_trunc('year', v_at AT TIME ZONE v_zone) AT TIME ZONE v_zone,
              coalesce(p_tiers @> '[{"window": "rolling_12m"}]', false),
              coalesce(p_tiers @> '[{"window": "calendar_year"}]', false);
    ELSE
        RETURN QUERY EXECUTE format($q$
            SELECT cid, t_at, (%s)::integer, ls, lp, rs, rp, ys, yp
              FROM (SELECT p.cid, p.t_at, coalesce(s.ls, 0) AS ls, s.lp, s.rs, s.rp, s.ys, s.yp
                      FROM (SELECT DISTINCT u.cid, u.t_at,
                                   ((u.t_at AT TIME ZONE 'UTC') - interval '12 months') AT TIME ZONE 'UTC' AS r_from,
                                   date_trunc('year', u.t_at AT TIME ZONE $3) AT TIME ZONE $3 AS y_from
                              FROM unnest($1::uuid[], $2::timestamptz[]) u(cid, t_at)
                             WHERE u.cid IS NOT NULL AND u.t_at IS NOT NULL) p,
                           LATERAL (SELECT sum(t.purchase_amount) AS ls, count(*) AS lp,
                                           coalesce(sum(t.purchase_amount) FILTER (WHERE t.accessed_at > p.r_from), 0) AS rs,
                                           count(*) FILTER (WHERE t.accessed_at > p.r_from) AS rp,
                                           coalesce(sum(t.purchase_amount) FILTER (WHERE t.accessed_at >= p.y_from), 0) AS ys,
                                           count(*) FILTER (WHERE t.accessed_at >= p.y_from) AS yp
                                      FROM @extschema@.customer_tracking t
                                     WHERE t.shop_customer_id = p.cid AND t.shop_id = $4
                                       AND t.purchase_completed AND t.accessed_at <= p.t_at) s) x
            $q$, v_rank)
        USING p_customers, p_at, v_zone, p_shop_id;
    END IF;
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_tier_eval(uuid, jsonb, uuid[], timestamptz[])', 'dashboard');
