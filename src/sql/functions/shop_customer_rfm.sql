-- RFM scores and segments of a shop's customers as of p_as_of. Computed at read from
-- the ledger (customer_tracking): the purchases (orders in a paid status now; refunded ones
-- never count) created at or before p_as_of. The rules are in the README ("Segments, rates, cohorts and seasons").
CREATE OR REPLACE FUNCTION shop_customer_rfm(p_shop_id uuid, p_as_of timestamptz DEFAULT now(),
                                             p_segment text DEFAULT NULL)
RETURNS TABLE (customer_id uuid, recency_days bigint, frequency bigint, monetary numeric,
               r_score bigint, f_score bigint, m_score bigint, segment text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @extschema@.customer_tracking_require_read('shop_customer_rfm', '@extschema@.customer_tracking', '@extschema@.shop_customers');
    IF p_as_of IS NULL OR NOT isfinite(p_as_of) THEN
        RAISE EXCEPTION 'shop_customer_rfm: p_as_of must be a finite time'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_segment IS NOT NULL AND p_segment NOT IN ('champions', 'loyal', 'potential_loyalist', 'new',
            'promising', 'needs_attention', 'at_risk', 'cannot_lose', 'hibernating', 'lost') THEN
        RAISE EXCEPTION 'shop_customer_rfm: p_segment must be one of champions, loyal, potential_loyalist, new, promising, needs_attention, at_risk, cannot_lose, hibernating, lost (or NULL)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH c AS (
        -- Nothing created after p_as_of (the usual case, p_as_of = now()): the customers' own
        -- stats are the answer. Otherwise the purchases up to p_as_of, from the ledger. One
        -- statement, one snapshot: both branches see the same commits.
        SELECT cu.id AS cid, cu.total_purchases AS frequency, cu.total_spent AS monetary,
               floor(extract(epoch FROM p_as_of - cu.last_purchase_at) / 86400)::integer AS recency_days
          FROM @extschema@.shop_customers cu
         WHERE cu.shop_id = p_shop_id AND cu.total_purchases > 0
           AND NOT EXISTS (SELECT 1 FROM @extschema@.customer_tracking l
                            WHERE l.shop_id = p_shop_id AND l.accessed_at > p_as_of)
        UNION ALL
        SELECT t.shop_customer_id, count(*)::integer, sum(t.purchase_amount),
               floor(extract(epoch FROM p_as_of - max(t.accessed_at)) / 86400)::integer
          FROM @extschema@.customer_tracking t
         WHERE t.shop_id = p_shop_id AND t.purchase_completed AND t.accessed_at <= p_as_of
           AND EXISTS (SELECT 1 FROM @extschema@.customer_tracking l
                        WHERE l.shop_id = p_shop_id AND l.accessed_at > p_as_of)
         GROUP BY t.shop_customer_id
    ), n AS (
        SELECT count(*) AS n FROM c
    ), rh AS (
        -- Per distinct value, the customers with a strictly worse one (ties share a quintile):
        -- a histogram, so that a value most customers share (one purchase) costs one row.
        SELECT h.v, coalesce(sum(h.k) OVER (ORDER BY h.v DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::bigint AS below
          FROM (SELECT c.recency_days AS v, count(*) AS k FROM c GROUP BY c.recency_days) h
    ), fh AS (
        SELECT h.v, coalesce(sum(h.k) OVER (ORDER BY h.v ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::bigint AS below
          FROM (SELECT c.frequency AS v, count(*) AS k FROM c GROUP BY c.frequency) h
    ), mh AS (
        SELECT h.v, coalesce(sum(h.k) OVER (ORDER BY h.v ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::bigint AS below
          FROM (SELECT c.monetary AS v, count(*) AS k FROM c GROUP BY c.monetary) h
    ), ranked AS (
        SELECT c.*, n.n, rh.below AS r_below, fh.below AS f_below, mh.below AS m_below
          FROM c CROSS JOIN n
          JOIN rh ON rh.v = c.recency_days
          JOIN fh ON fh.v = c.frequency
          JOIN mh ON mh.v = c.monetary
    ), small AS (
        -- Fixed cutoffs for shops with fewer than 100 customers, evaluated only for them: the
        -- median gap between a customer's consecutive purchases (days, 1 to 365; 30 without any
        -- repeat purchase) and the mean purchase amount.
        SELECT least(greatest(coalesce(
                   (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY g.gap)
                      FROM (SELECT extract(epoch FROM t.accessed_at - lag(t.accessed_at)
                                   OVER (PARTITION BY t.shop_customer_id ORDER BY t.accessed_at)) / 86400 AS gap
                              FROM @extschema@.customer_tracking t
                             WHERE t.shop_id = p_shop_id AND t.purchase_completed
                               AND t.accessed_at <= p_as_of) g
                     WHERE g.gap IS NOT NULL), 30), 1), 365) AS interval_days,
               (SELECT avg(t.purchase_amount) FROM @extschema@.customer_tracking t
                 WHERE t.shop_id = p_shop_id AND t.purchase_completed AND t.accessed_at <= p_as_of) AS mean_amount
    ), scored AS (
        SELECT r.cid, r.recency_days, r.frequency, r.monetary,
               CASE WHEN r.n >= 100 THEN 1 + (5 * r.r_below / r.n)::integer
                    WHEN r.recency_days <= (SELECT s.interval_days FROM small s) THEN 5
                    WHEN r.recency_days <= 2 * (SELECT s.interval_days FROM small s) THEN 4
                    WHEN r.recency_days <= 3 * (SELECT s.interval_days FROM small s) THEN 3
                    WHEN r.recency_days <= 5 * (SELECT s.interval_days FROM small s) THEN 2
                    ELSE 1 END AS r_score,
               CASE WHEN r.n >= 100 THEN 1 + (5 * r.f_below / r.n)::integer
                    WHEN r.frequency >= 6 THEN 5 WHEN r.frequency >= 4 THEN 4
                    ELSE r.frequency END AS f_score,
               CASE WHEN r.n >= 100 THEN 1 + (5 * r.m_below / r.n)::integer
                    WHEN (SELECT s.mean_amount FROM small s) <= 0 THEN 1
                    WHEN r.monetary >= 5 * (SELECT s.mean_amount FROM small s) THEN 5
                    WHEN r.monetary >= 3 * (SELECT s.mean_amount FROM small s) THEN 4
                    WHEN r.monetary >= 2 * (SELECT s.mean_amount FROM small s) THEN 3
                    WHEN r.monetary >= (SELECT s.mean_amount FROM small s) THEN 2
                    ELSE 1 END AS m_score
          FROM ranked r
    ), segmented AS (
        SELECT s.*,
               CASE WHEN s.r_score >= 4 AND s.f_score >= 4 AND s.m_score >= 4 THEN 'champions'
                    WHEN s.r_score >= 3 AND s.f_score >= 4 THEN 'loyal'
                    WHEN s.r_score <= 2 AND s.f_score >= 4 AND s.m_score >= 4 THEN 'cannot_lose'
                    WHEN s.r_score <= 2 AND s.f_score >= 3 THEN 'at_risk'
                    WHEN s.r_score >= 4 AND s.f_score >= 2 THEN 'potential_loyalist'
                    WHEN s.r_score = 5 THEN 'new'
                    WHEN s.r_score = 4 THEN 'promising'
                    WHEN s.r_score = 3 THEN 'needs_attention'
                    WHEN s.r_score = 2 THEN 'hibernating'
                    ELSE 'lost' END AS segment
          FROM scored s
    )
    SELECT g.cid, g.recency_days::bigint, g.frequency::bigint, @extschema@.customer_tracking_money(g.monetary),
           g.r_score::bigint, g.f_score::bigint, g.m_score::bigint, g.segment
      FROM segmented g
     WHERE p_segment IS NULL OR g.segment = p_segment
     ORDER BY g.monetary DESC, g.cid;
END
$$;
COMMENT ON FUNCTION shop_customer_rfm(uuid, timestamptz, text) IS
    'Per customer with a purchase at or before p_as_of: days since the last purchase, purchases, '
    'amount spent, R/F/M scores 1-5 (the shop''s quintiles; fixed cutoffs from its repurchase '
    'interval below 100 customers) and the named segment; p_segment keeps one segment.';
SELECT customer_tracking_set_audience('shop_customer_rfm(uuid, timestamptz, text)', 'dashboard');
