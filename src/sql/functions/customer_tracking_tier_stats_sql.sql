-- Every customer of a shop with a purchase at or before an instant, with their purchases per
-- window (customer_tracking_tier_eval()): the text of one statement, columns cid, ls, lp, rs, rp,
-- ys, yp, parameters $1 shop, $2 the instant, $3 the start of the rolling window (purchases
-- after it count), $4 the start of the calendar year (purchases from it count), $5 / $6 whether
-- rolling / calendar windows are used.
-- Most customers need only their row in shop_customers (totals, first and last purchase: exact
-- like the ledger they come from): all their purchases are at or before the instant, so lifetime
-- = the totals, and a window holds none of them (last purchase before it) or all of them (first
-- purchase in it). The others (a purchase after the instant, or purchases on both sides of a
-- window's start) are summed from their ledger rows.
CREATE OR REPLACE FUNCTION customer_tracking_tier_stats_sql()
RETURNS text
LANGUAGE sql IMMUTABLE
AS $f$
    SELECT $q$
        SELECT c.id AS cid, c.total_spent AS ls, c.total_purchases::bigint AS lp,
               CASE WHEN c.last_purchase_at <= $3 THEN 0 ELSE c.total_spent END AS rs,
               CASE WHEN c.last_purchase_at <= $3 THEN 0 ELSE c.total_purchases END::bigint AS rp,
               CASE WHEN c.last_purchase_at < $4 THEN 0 ELSE c.total_spent END AS ys,
               CASE WHEN c.last_purchase_at < $4 THEN 0 ELSE c.total_purchases END::bigint AS yp
          FROM @extschema@.shop_customers c
         WHERE c.shop_id = $1 AND c.total_purchases > 0 AND c.first_purchase_at <= $2
           AND NOT (c.last_purchase_at > $2
                    OR $5 AND c.first_purchase_at <= $3 AND c.last_purchase_at > $3
                    OR $6 AND c.first_purchase_at < $4 AND c.last_purchase_at >= $4)
        UNION ALL
        SELECT t.shop_customer_id, sum(t.purchase_amount), count(*),
               coalesce(sum(t.purchase_amount) FILTER (WHERE t.accessed_at > $3), 0),
               count(*) FILTER (WHERE t.accessed_at > $3),
               coalesce(sum(t.purchase_amount) FILTER (WHERE t.accessed_at >= $4), 0),
               count(*) FILTER (WHERE t.accessed_at >= $4)
          FROM @extschema@.shop_customers c
          JOIN @extschema@.customer_tracking t
            ON t.shop_customer_id = c.id AND t.shop_id = $1 AND t.purchase_completed AND t.accessed_at <= $2
         WHERE c.shop_id = $1 AND c.total_purchases > 0 AND c.first_purchase_at <= $2
           AND (c.last_purchase_at > $2
                OR $5 AND c.first_purchase_at <= $3 AND c.last_purchase_at > $3
                OR $6 AND c.first_purchase_at < $4 AND c.last_purchase_at >= $4)
         GROUP BY t.shop_customer_id
    $q$
$f$;
SELECT customer_tracking_set_audience('customer_tracking_tier_stats_sql()', 'dashboard');
