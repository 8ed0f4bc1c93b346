-- Every stored value of shops (NULL: all) that differs from a recomputation from shop_orders:
-- links, tracking rows and customer stats (when p_customers), and rollup rows (sums over
-- stripes). One pass over the orders (decoded as the trigger reads them) serves all; stored
-- and expected rows are compared by their keys, and only differences are spelled out.
CREATE OR REPLACE FUNCTION customer_tracking_problems_of(p_shops uuid[], p_customers boolean)
RETURNS TABLE (shop_id uuid, shop_customer_id uuid, shop_order_id uuid, problem text,
               stored text, expected text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
SET jit = off
AS $f$
BEGIN
    -- Planned with the shops known ($1), so that each table is read through its shop index.
    RETURN QUERY EXECUTE $q$
    WITH o AS MATERIALIZED (
        SELECT d.shop_order_id, d.shop_id, d.stored_customer_id, d.expected_customer_id AS cid,
               d.purchase AS p, d.amount, d.purchased_at AS at, d.network, d.slug,
               coalesce(d.slug, '') AS slug_key, (d.purchased_at AT TIME ZONE 'UTC')::date AS day
          FROM @extschema@.customer_tracking_backfill_decode($1) d
    ), l AS (
        SELECT o.*, o.shop_order_id AS id FROM o WHERE o.cid IS NOT NULL
    ),
#include "fragments/customer_stats.sql"
    , customers AS MATERIALIZED (
        SELECT coalesce(a.shop_id, c.shop_id) AS shop_id, coalesce(a.cid, c.id) AS cid,
               a.cid IS NULL AS stale, c.id IS NULL AS missing, a.orders, a.purchases, a.spent, a.first_at,
               a.last_at, a.first_id, a.first_slug, a.networks, a.preferred, c.total_orders,
               c.total_purchases, c.total_spent, c.first_purchase_at, c.last_purchase_at, c.first_order_id,
               c.first_source_slug::text AS first_source_slug, c.preferred_network::text AS preferred_network,
               c.network_purchases, c.repeat_customer
          FROM agg a
          FULL JOIN (SELECT c.* FROM @extschema@.shop_customers c WHERE $1 IS NULL OR c.shop_id = ANY ($1)) c
            ON c.id = a.cid AND c.shop_id = a.shop_id
         WHERE $2
    ),
#include "fragments/rollups_expected.sql"
    , s_totals AS (
        SELECT r.shop_id, sum(r.customers) AS customers, sum(r.repeat_customers) AS repeat_customers,
               sum(r.purchases) AS purchases, sum(r.revenue) AS revenue, sum(r.checkouts) AS checkouts
          FROM @extschema@.customer_tracking_shop_totals r WHERE $1 IS NULL OR r.shop_id = ANY ($1) GROUP BY 1
    ), s_daily AS (
        SELECT r.shop_id, r.day, sum(r.checkouts) AS checkouts, sum(r.purchases) AS purchases,
               sum(r.revenue) AS revenue, sum(r.new_customers) AS new_customers,
               sum(r.last_purchasers) AS last_purchasers
          FROM @extschema@.customer_tracking_daily r WHERE $1 IS NULL OR r.shop_id = ANY ($1) GROUP BY 1, 2
    ), s_slug_daily AS (
        SELECT r.shop_id, r.slug, r.day, sum(r.checkouts) AS checkouts, sum(r.purchases) AS purchases,
               sum(r.revenue) AS revenue, sum(r.new_customers) AS new_customers,
               sum(r.repeat_customers) AS repeat_customers, sum(r.customers) AS customers
          FROM @extschema@.customer_tracking_slug_daily r WHERE $1 IS NULL OR r.shop_id = ANY ($1) GROUP BY 1, 2, 3
    ), s_networks AS (
        SELECT r.shop_id, r.network, sum(r.customers_preferring) AS preferring, sum(r.purchases) AS purchases,
               sum(r.revenue) AS revenue
          FROM @extschema@.customer_tracking_network_totals r WHERE $1 IS NULL OR r.shop_id = ANY ($1) GROUP BY 1, 2
    ), s_frequency AS (
        SELECT r.shop_id, r.purchases, sum(r.customers) AS customers
          FROM @extschema@.customer_tracking_frequency r WHERE $1 IS NULL OR r.shop_id = ANY ($1) GROUP BY 1, 2
    ), rollups (shop_id, problem, stored, expected) AS (
        SELECT x.shop_id, 'rollup totals  ' || v.stat, coalesce(v.s, 0)::text, coalesce(v.e, 0)::text
          FROM (SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, e.customers AS e_customers,
                       e.repeat_customers AS e_repeat, e.purchases AS e_purchases, e.revenue AS e_revenue,
                       e.checkouts AS e_checkouts, s.customers AS s_customers, s.repeat_customers AS s_repeat,
                       s.purchases AS s_purchases, s.revenue AS s_revenue, s.checkouts AS s_checkouts
                  FROM e_totals e FULL JOIN s_totals s ON s.shop_id = e.shop_id) x
         CROSS JOIN LATERAL (VALUES ('checkouts', x.s_checkouts::numeric, x.e_checkouts::numeric),
                                    ('purchases', x.s_purchases, x.e_purchases), ('revenue', x.s_revenue, x.e_revenue),
                                    ('customers', x.s_customers, x.e_customers),
                                    ('repeat_customers', x.s_repeat, x.e_repeat)) v(stat, s, e)
         WHERE coalesce(v.s, 0) <> coalesce(v.e, 0)
        UNION ALL
        SELECT x.shop_id, 'rollup daily ' || to_char(x.day, 'YYYY-MM-DD') || ' ' || v.stat,
               coalesce(v.s, 0)::text, coalesce(v.e, 0)::text
          FROM (SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, coalesce(e.day, s.day) AS day,
                       e.checkouts AS e_checkouts, e.purchases AS e_purchases, e.revenue AS e_revenue,
                       e.new_customers AS e_new, e.last_purchasers AS e_last,
                       s.checkouts AS s_checkouts, s.purchases AS s_purchases, s.revenue AS s_revenue,
                       s.new_customers AS s_new, s.last_purchasers AS s_last
                  FROM e_daily e FULL JOIN s_daily s ON s.shop_id = e.shop_id AND s.day = e.day
                 WHERE (coalesce(e.checkouts, 0), coalesce(e.purchases, 0), coalesce(e.revenue, 0),
                        coalesce(e.new_customers, 0), coalesce(e.last_purchasers, 0))
                       IS DISTINCT FROM (coalesce(s.checkouts, 0), coalesce(s.purchases, 0), coalesce(s.revenue, 0),
                                         coalesce(s.new_customers, 0), coalesce(s.last_purchasers, 0))) x
         CROSS JOIN LATERAL (VALUES ('checkouts', x.s_checkouts::numeric, x.e_checkouts::numeric),
                                    ('purchases', x.s_purchases, x.e_purchases), ('revenue', x.s_revenue, x.e_revenue),
                                    ('new_customers', x.s_new, x.e_new),
                                    ('last_purchasers', x.s_last, x.e_last)) v(stat, s, e)
         WHERE coalesce(v.s, 0) <> coalesce(v.e, 0)
        UNION ALL
        SELECT x.shop_id, 'rollup slug_daily ' || x.slug || '|' || to_char(x.day, 'YYYY-MM-DD') || ' ' || v.stat,
               coalesce(v.s, 0)::text, coalesce(v.e, 0)::text
          FROM (SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, coalesce(e.slug, s.slug) AS slug,
                       coalesce(e.day, s.day) AS day, e.checkouts AS e_checkouts, e.purchases AS e_purchases,
                       e.revenue AS e_revenue, e.new_customers AS e_new, e.repeat_customers AS e_repeat,
                       e.customers AS e_customers, s.checkouts AS s_checkouts, s.purchases AS s_purchases,
                       s.revenue AS s_revenue, s.new_customers AS s_new, s.repeat_customers AS s_repeat,
                       s.customers AS s_customers
                  FROM e_slug_daily e
                  FULL JOIN s_slug_daily s ON s.shop_id = e.shop_id AND s.slug = e.slug AND s.day = e.day
                 WHERE (coalesce(e.checkouts, 0), coalesce(e.purchases, 0), coalesce(e.revenue, 0),
                        coalesce(e.new_customers, 0), coalesce(e.repeat_customers, 0), coalesce(e.customers, 0))
                       IS DISTINCT FROM (coalesce(s.checkouts, 0), coalesce(s.purchases, 0), coalesce(s.revenue, 0),
                                         coalesce(s.new_customers, 0), coalesce(s.repeat_customers, 0),
                                         coalesce(s.customers, 0))) x
         CROSS JOIN LATERAL (VALUES ('checkouts', x.s_checkouts::numeric, x.e_checkouts::numeric),
                                    ('purchases', x.s_purchases, x.e_purchases), ('revenue', x.s_revenue, x.e_revenue),
                                    ('new_customers', x.s_new, x.e_new),
                                    ('repeat_customers', x.s_repeat, x.e_repeat),
                                    ('customers', x.s_customers, x.e_customers)) v(stat, s, e)
         WHERE coalesce(v.s, 0) <> coalesce(v.e, 0)
        UNION ALL
        SELECT x.shop_id, 'rollup network ' || x.network || ' ' || v.stat, coalesce(v.s, 0)::text,
               coalesce(v.e, 0)::text
          FROM (SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, coalesce(e.network, s.network) AS network,
                       e.preferring AS e_preferring, e.purchases AS e_purchases, e.revenue AS e_revenue,
                       s.preferring AS s_preferring, s.purchases AS s_purchases, s.revenue AS s_revenue
                  FROM e_networks e FULL JOIN s_networks s ON s.shop_id = e.shop_id AND s.network = e.network) x
         CROSS JOIN LATERAL (VALUES ('purchases', x.s_purchases::numeric, x.e_purchases::numeric),
                                    ('revenue', x.s_revenue, x.e_revenue),
                                    ('customers_preferring', x.s_preferring, x.e_preferring)) v(stat, s, e)
         WHERE coalesce(v.s, 0) <> coalesce(v.e, 0)
        UNION ALL
        SELECT coalesce(e.shop_id, s.shop_id), 'rollup frequency ' || coalesce(e.purchases, s.purchases) || ' customers',
               coalesce(s.customers, 0)::text, coalesce(e.customers, 0)::text
          FROM e_frequency e FULL JOIN s_frequency s ON s.shop_id = e.shop_id AND s.purchases = e.purchases
         WHERE coalesce(s.customers, 0) <> coalesce(e.customers, 0)
    )
    SELECT o.shop_id, o.cid, o.shop_order_id, 'order_link', o.stored_customer_id::text, o.cid::text
      FROM o WHERE $2 AND o.stored_customer_id IS DISTINCT FROM o.cid
    UNION ALL
    SELECT c.shop_id, c.cid, NULL, CASE WHEN c.missing THEN 'customer_missing' ELSE 'customer_stale' END,
           CASE WHEN c.missing THEN NULL ELSE 'exists' END, CASE WHEN c.missing THEN 'exists' END
      FROM customers c WHERE c.missing OR c.stale
    UNION ALL
    SELECT c.shop_id, c.cid, NULL, d.stat, d.stored, d.expected
      FROM customers c
     CROSS JOIN LATERAL (VALUES
        ('total_orders', c.total_orders::text, c.orders::text),
        ('total_purchases', c.total_purchases::text, c.purchases::text),
        ('total_spent', c.total_spent::text, c.spent::text),
        ('first_purchase_at', c.first_purchase_at::text, c.first_at::text),
        ('last_purchase_at', c.last_purchase_at::text, c.last_at::text),
        ('first_order_id', c.first_order_id::text, c.first_id::text),
        ('first_source_slug', c.first_source_slug, c.first_slug),
        ('preferred_network', c.preferred_network, c.preferred),
        ('network_purchases', c.network_purchases::text, c.networks::text),
        ('repeat_customer', c.repeat_customer::text, (c.purchases >= 2)::text)
     ) AS d(stat, stored, expected)
     WHERE NOT c.missing AND NOT c.stale
       AND ((c.total_orders, c.total_purchases, c.first_purchase_at, c.last_purchase_at, c.first_order_id,
             c.first_source_slug, c.preferred_network)
            IS DISTINCT FROM (c.orders, c.purchases, c.first_at, c.last_at, c.first_id, c.first_slug, c.preferred)
            OR c.total_spent <> c.spent OR c.network_purchases <> c.networks
            OR c.repeat_customer <> (c.purchases >= 2))
       AND CASE WHEN d.stat = 'total_spent' THEN c.total_spent <> c.spent
                ELSE d.stored IS DISTINCT FROM d.expected END
    UNION ALL
    SELECT l.shop_id, l.cid, l.shop_order_id, 'tracking_row',
           CASE WHEN t.id IS NULL THEN NULL
                ELSE format('customer=%s purchase=%s amount=%s at=%s', t.shop_customer_id,
                            t.purchase_completed, t.purchase_amount, t.accessed_at) END,
           format('customer=%s purchase=%s amount=%s at=%s', l.cid, l.p, l.amount, l.at)
      FROM l
      LEFT JOIN (SELECT t.* FROM @extschema@.customer_tracking t WHERE $1 IS NULL OR t.shop_id = ANY ($1)) t
        ON t.id = l.shop_order_id AND t.shop_id = l.shop_id
     WHERE $2 AND (t.id IS NULL OR t.shop_customer_id <> l.cid OR t.purchase_completed <> l.p
                   OR t.purchase_amount <> l.amount OR t.accessed_at <> l.at)
    UNION ALL
    SELECT r.shop_id, NULL, NULL, r.problem, r.stored, r.expected FROM rollups r
    UNION ALL
    SELECT t.shop_id, t.shop_customer_id, t.id, 'tracking_orphan', 'exists', NULL
      FROM @extschema@.customer_tracking t
     WHERE $2 AND ($1 IS NULL OR t.shop_id = ANY ($1))
       AND NOT EXISTS (SELECT 1 FROM l WHERE l.shop_order_id = t.id AND l.shop_id = t.shop_id)
    $q$ USING p_shops, p_customers;
END
$f$;
SELECT customer_tracking_set_audience('customer_tracking_problems_of(uuid[], boolean)', 'dba');
