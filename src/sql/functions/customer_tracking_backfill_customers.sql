-- The customer step of a backfill for a group of shops, which the caller has locked
-- (customer_tracking_lock_shops(), after the order step): ledger rows whose order is gone are
-- removed; customers, per-slug purchases and rollups are recomputed from the ledger in one
-- statement and only differences written. Returns the customers repaired (changed, though no
-- order of theirs was rewritten by the order step).
CREATE OR REPLACE FUNCTION customer_tracking_backfill_customers(p_shops uuid[])
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
SET jit = off
AS $$
DECLARE
    v_id name := (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'id');
    v_shop name := (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'shop_id');
    v_repaired bigint;
BEGIN
    EXECUTE format($q$
        DELETE FROM @extschema@.customer_tracking t USING pg_temp.customer_tracking_backfill_orphans x
         WHERE x.shop_id = ANY ($1) AND t.id = x.id AND t.shop_id = x.shop_id
           AND NOT EXISTS (SELECT 1 FROM @extschema@.shop_orders o WHERE o.%1$I = t.id AND o.%2$I = t.shop_id)$q$,
        v_id, v_shop)
    USING p_shops;

    WITH l AS MATERIALIZED (
        SELECT t.shop_id, t.shop_customer_id AS cid, t.id, t.accessed_at AS at, t.purchase_completed AS p,
               t.purchase_amount AS amount, t.network::text AS network, t.accessed_via_slug::text AS slug,
               coalesce(t.accessed_via_slug::text, '') AS slug_key, (t.accessed_at AT TIME ZONE 'UTC')::date AS day
          FROM @extschema@.customer_tracking t WHERE t.shop_id = ANY (p_shops)
    ),
#include "fragments/customer_stats.sql"
    ,
#include "fragments/rollups_expected.sql"
    , cmp AS MATERIALIZED (
        SELECT coalesce(a.shop_id, c.shop_id) AS shop_id, coalesce(a.cid, c.id) AS cid, a.orders, a.purchases,
               a.spent, a.first_at, a.last_at, a.first_id, a.first_slug, a.networks, a.preferred,
               CASE WHEN a.cid IS NULL THEN 'delete'
                    WHEN c.id IS NULL THEN 'insert'
                    WHEN (c.total_orders, c.total_purchases, c.first_purchase_at, c.last_purchase_at,
                          c.first_order_id, c.first_source_slug::text, c.preferred_network::text)
                         IS DISTINCT FROM (a.orders, a.purchases, a.first_at, a.last_at, a.first_id,
                                           a.first_slug, a.preferred)
                      OR c.total_spent <> a.spent OR c.network_purchases <> a.networks THEN 'update'
               END AS action
          FROM agg a
          FULL JOIN (SELECT c.* FROM @extschema@.shop_customers c WHERE c.shop_id = ANY (p_shops)) c
            ON c.id = a.cid AND c.shop_id = a.shop_id
    ), w_insert AS (
        INSERT INTO @extschema@.shop_customers AS c
            (id, shop_id, phone_number, email, customer_name, total_orders, total_purchases, total_spent,
             first_purchase_at, last_purchase_at, first_order_id, first_source_slug, network_purchases,
             preferred_network)
        SELECT m.cid, m.shop_id, x.phone, x.email, x.customer_name, m.orders, m.purchases, m.spent,
               m.first_at, m.last_at, m.first_id, m.first_slug, m.networks, m.preferred
          FROM cmp m
          JOIN pg_temp.customer_tracking_backfill_customers x ON x.id = m.cid AND x.shop_id = m.shop_id
         WHERE m.action = 'insert' AND x.phone IS NOT NULL
    ), w_update AS (
        UPDATE @extschema@.shop_customers c
           SET total_orders = m.orders, total_purchases = m.purchases, total_spent = m.spent,
               first_purchase_at = m.first_at, last_purchase_at = m.last_at, first_order_id = m.first_id,
               first_source_slug = m.first_slug, network_purchases = m.networks,
               preferred_network = m.preferred, updated_at = now()
          FROM cmp m
         WHERE m.action = 'update' AND c.id = m.cid AND c.shop_id = m.shop_id
    ), w_delete AS (
        DELETE FROM @extschema@.shop_customers c USING cmp m
         WHERE m.action = 'delete' AND c.id = m.cid AND c.shop_id = m.shop_id
    ), pcmp AS MATERIALIZED (
        SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, coalesce(e.slug, s.slug) AS slug,
               coalesce(e.cid, s.shop_customer_id) AS cid, e.purchases, e.first_at,
               CASE WHEN e.cid IS NULL THEN 'delete'
                    WHEN s.shop_customer_id IS NULL THEN 'insert'
                    WHEN (s.purchases, s.first_purchase_at) IS DISTINCT FROM (e.purchases, e.first_at) THEN 'update'
               END AS action
          FROM pe e
          FULL JOIN (SELECT s.* FROM @extschema@.customer_tracking_slug_customers s WHERE s.shop_id = ANY (p_shops)) s
            ON s.shop_id = e.shop_id AND s.slug = e.slug AND s.shop_customer_id = e.cid
    ), w_pairs AS (
        INSERT INTO @extschema@.customer_tracking_slug_customers
            (shop_id, slug, shop_customer_id, purchases, first_purchase_at)
        SELECT m.shop_id, m.slug, m.cid, m.purchases, m.first_at FROM pcmp m WHERE m.action = 'insert'
    ), w_repairs AS (
        UPDATE @extschema@.customer_tracking_slug_customers s
           SET purchases = m.purchases, first_purchase_at = m.first_at
          FROM pcmp m
         WHERE m.action = 'update' AND s.shop_id = m.shop_id AND s.slug = m.slug AND s.shop_customer_id = m.cid
    ), w_unpairs AS (
        DELETE FROM @extschema@.customer_tracking_slug_customers s USING pcmp m
         WHERE m.action = 'delete' AND s.shop_id = m.shop_id AND s.slug = m.slug AND s.shop_customer_id = m.cid
    ), s_totals AS (
        SELECT r.shop_id, sum(r.customers) AS customers, sum(r.repeat_customers) AS repeat_customers,
               sum(r.purchases) AS purchases, sum(r.revenue) AS revenue, sum(r.checkouts) AS checkouts
          FROM @extschema@.customer_tracking_shop_totals r WHERE r.shop_id = ANY (p_shops) GROUP BY 1
    ), w_totals AS (
        INSERT INTO @extschema@.customer_tracking_shop_totals AS r
            (shop_id, stripe, customers, repeat_customers, purchases, revenue, checkouts)
        SELECT coalesce(e.shop_id, s.shop_id), 0,
               coalesce(e.customers, 0) - coalesce(s.customers, 0),
               coalesce(e.repeat_customers, 0) - coalesce(s.repeat_customers, 0),
               coalesce(e.purchases, 0) - coalesce(s.purchases, 0),
               coalesce(e.revenue, 0) - coalesce(s.revenue, 0),
               coalesce(e.checkouts, 0) - coalesce(s.checkouts, 0)
          FROM e_totals e FULL JOIN s_totals s ON s.shop_id = e.shop_id
         WHERE (coalesce(e.customers, 0), coalesce(e.repeat_customers, 0), coalesce(e.purchases, 0),
                coalesce(e.revenue, 0), coalesce(e.checkouts, 0))
               IS DISTINCT FROM (coalesce(s.customers, 0), coalesce(s.repeat_customers, 0),
                                 coalesce(s.purchases, 0), coalesce(s.revenue, 0), coalesce(s.checkouts, 0))
        ON CONFLICT (shop_id, stripe) DO UPDATE SET customers = r.customers + EXCLUDED.customers,
            repeat_customers = r.repeat_customers + EXCLUDED.repeat_customers,
            purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue,
            checkouts = r.checkouts + EXCLUDED.checkouts
    ), s_daily AS (
        SELECT r.shop_id, r.day, sum(r.checkouts) AS checkouts, sum(r.purchases) AS purchases,
               sum(r.revenue) AS revenue, sum(r.new_customers) AS new_customers,
               sum(r.last_purchasers) AS last_purchasers
          FROM @extschema@.customer_tracking_daily r WHERE r.shop_id = ANY (p_shops) GROUP BY 1, 2
    ), d_daily AS MATERIALIZED (
        SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, coalesce(e.day, s.day) AS day,
               coalesce(e.checkouts, 0) - coalesce(s.checkouts, 0) AS checkouts,
               coalesce(e.purchases, 0) - coalesce(s.purchases, 0) AS purchases,
               coalesce(e.revenue, 0) - coalesce(s.revenue, 0) AS revenue,
               coalesce(e.new_customers, 0) - coalesce(s.new_customers, 0) AS new_customers,
               coalesce(e.last_purchasers, 0) - coalesce(s.last_purchasers, 0) AS last_purchasers,
               s.shop_id IS NULL AS fresh
          FROM e_daily e FULL JOIN s_daily s ON s.shop_id = e.shop_id AND s.day = e.day
         WHERE (coalesce(e.checkouts, 0), coalesce(e.purchases, 0), coalesce(e.revenue, 0),
                coalesce(e.new_customers, 0), coalesce(e.last_purchasers, 0))
               IS DISTINCT FROM (coalesce(s.checkouts, 0), coalesce(s.purchases, 0), coalesce(s.revenue, 0),
                                 coalesce(s.new_customers, 0), coalesce(s.last_purchasers, 0))
    ), w_daily_new AS (
        -- A day without a row (in any stripe): nobody else writes these shops now.
        INSERT INTO @extschema@.customer_tracking_daily
            (shop_id, day, stripe, checkouts, purchases, revenue, new_customers, last_purchasers)
        SELECT d.shop_id, d.day, 0, d.checkouts, d.purchases, d.revenue, d.new_customers, d.last_purchasers
          FROM d_daily d WHERE d.fresh
    ), w_daily AS (
        INSERT INTO @extschema@.customer_tracking_daily AS r
            (shop_id, day, stripe, checkouts, purchases, revenue, new_customers, last_purchasers)
        SELECT d.shop_id, d.day, 0, d.checkouts, d.purchases, d.revenue, d.new_customers, d.last_purchasers
          FROM d_daily d WHERE NOT d.fresh
        ON CONFLICT (shop_id, day, stripe) DO UPDATE SET checkouts = r.checkouts + EXCLUDED.checkouts,
            purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue,
            new_customers = r.new_customers + EXCLUDED.new_customers,
            last_purchasers = r.last_purchasers + EXCLUDED.last_purchasers
    ), s_slug_daily AS (
        SELECT r.shop_id, r.slug, r.day, sum(r.checkouts) AS checkouts, sum(r.purchases) AS purchases,
               sum(r.revenue) AS revenue, sum(r.new_customers) AS new_customers,
               sum(r.repeat_customers) AS repeat_customers, sum(r.customers) AS customers
          FROM @extschema@.customer_tracking_slug_daily r WHERE r.shop_id = ANY (p_shops) GROUP BY 1, 2, 3
    ), d_slug_daily AS MATERIALIZED (
        SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, coalesce(e.slug, s.slug) AS slug,
               coalesce(e.day, s.day) AS day,
               coalesce(e.checkouts, 0) - coalesce(s.checkouts, 0) AS checkouts,
               coalesce(e.purchases, 0) - coalesce(s.purchases, 0) AS purchases,
               coalesce(e.revenue, 0) - coalesce(s.revenue, 0) AS revenue,
               coalesce(e.new_customers, 0) - coalesce(s.new_customers, 0) AS new_customers,
               coalesce(e.repeat_customers, 0) - coalesce(s.repeat_customers, 0) AS repeat_customers,
               coalesce(e.customers, 0) - coalesce(s.customers, 0) AS customers,
               s.shop_id IS NULL AS fresh
          FROM e_slug_daily e
          FULL JOIN s_slug_daily s ON s.shop_id = e.shop_id AND s.slug = e.slug AND s.day = e.day
         WHERE (coalesce(e.checkouts, 0), coalesce(e.purchases, 0), coalesce(e.revenue, 0),
                coalesce(e.new_customers, 0), coalesce(e.repeat_customers, 0), coalesce(e.customers, 0))
               IS DISTINCT FROM (coalesce(s.checkouts, 0), coalesce(s.purchases, 0), coalesce(s.revenue, 0),
                                 coalesce(s.new_customers, 0), coalesce(s.repeat_customers, 0),
                                 coalesce(s.customers, 0))
    ), w_slug_daily_new AS (
        INSERT INTO @extschema@.customer_tracking_slug_daily
            (shop_id, slug, day, stripe, checkouts, purchases, revenue, new_customers, repeat_customers, customers)
        SELECT d.shop_id, d.slug, d.day, 0, d.checkouts, d.purchases, d.revenue, d.new_customers,
               d.repeat_customers, d.customers
          FROM d_slug_daily d WHERE d.fresh
    ), w_slug_daily AS (
        INSERT INTO @extschema@.customer_tracking_slug_daily AS r
            (shop_id, slug, day, stripe, checkouts, purchases, revenue, new_customers, repeat_customers, customers)
        SELECT d.shop_id, d.slug, d.day, 0, d.checkouts, d.purchases, d.revenue, d.new_customers,
               d.repeat_customers, d.customers
          FROM d_slug_daily d WHERE NOT d.fresh
        ON CONFLICT (shop_id, slug, day, stripe) DO UPDATE SET checkouts = r.checkouts + EXCLUDED.checkouts,
            purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue,
            new_customers = r.new_customers + EXCLUDED.new_customers,
            repeat_customers = r.repeat_customers + EXCLUDED.repeat_customers,
            customers = r.customers + EXCLUDED.customers
    ), s_networks AS (
        SELECT r.shop_id, r.network, sum(r.customers_preferring) AS preferring, sum(r.purchases) AS purchases,
               sum(r.revenue) AS revenue
          FROM @extschema@.customer_tracking_network_totals r WHERE r.shop_id = ANY (p_shops) GROUP BY 1, 2
    ), w_networks AS (
        INSERT INTO @extschema@.customer_tracking_network_totals AS r
            (shop_id, network, stripe, customers_preferring, purchases, revenue)
        SELECT coalesce(e.shop_id, s.shop_id), coalesce(e.network, s.network), 0,
               coalesce(e.preferring, 0) - coalesce(s.preferring, 0),
               coalesce(e.purchases, 0) - coalesce(s.purchases, 0),
               coalesce(e.revenue, 0) - coalesce(s.revenue, 0)
          FROM e_networks e FULL JOIN s_networks s ON s.shop_id = e.shop_id AND s.network = e.network
         WHERE (coalesce(e.preferring, 0), coalesce(e.purchases, 0), coalesce(e.revenue, 0))
               IS DISTINCT FROM (coalesce(s.preferring, 0), coalesce(s.purchases, 0), coalesce(s.revenue, 0))
        ON CONFLICT (shop_id, network, stripe) DO UPDATE SET
            customers_preferring = r.customers_preferring + EXCLUDED.customers_preferring,
            purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue
    ), s_frequency AS (
        SELECT r.shop_id, r.purchases, sum(r.customers) AS customers
          FROM @extschema@.customer_tracking_frequency r WHERE r.shop_id = ANY (p_shops) GROUP BY 1, 2
    ), w_frequency AS (
        INSERT INTO @extschema@.customer_tracking_frequency AS r (shop_id, purchases, stripe, customers)
        SELECT coalesce(e.shop_id, s.shop_id), coalesce(e.purchases, s.purchases), 0,
               coalesce(e.customers, 0) - coalesce(s.customers, 0)
          FROM e_frequency e FULL JOIN s_frequency s ON s.shop_id = e.shop_id AND s.purchases = e.purchases
         WHERE coalesce(e.customers, 0) <> coalesce(s.customers, 0)
        ON CONFLICT (shop_id, purchases, stripe) DO UPDATE SET customers = r.customers + EXCLUDED.customers
    ), repaired AS (
        SELECT r.shop_id, count(*) AS n
          FROM (SELECT m.shop_id, m.cid FROM cmp m WHERE m.action IS NOT NULL
                UNION SELECT m.shop_id, m.cid FROM pcmp m WHERE m.action IS NOT NULL) r
         WHERE NOT EXISTS (SELECT 1 FROM pg_temp.customer_tracking_backfill_customers x
                            WHERE x.id = r.cid AND x.shop_id = r.shop_id AND x.affected)
         GROUP BY 1
    ), w_repaired AS (
        UPDATE pg_temp.customer_tracking_backfill_shops b SET repaired = b.repaired + r.n
          FROM repaired r WHERE b.shop_id = r.shop_id
    )
    SELECT coalesce(sum(r.n), 0) INTO v_repaired FROM repaired r;

    DELETE FROM pg_temp.customer_tracking_backfill_customers x WHERE x.shop_id = ANY (p_shops);
    DELETE FROM pg_temp.customer_tracking_backfill_orphans x WHERE x.shop_id = ANY (p_shops);
    RETURN v_repaired;
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_backfill_customers(uuid[])', 'dba');
