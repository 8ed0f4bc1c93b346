-- Every stored value that differs from a recomputation from shop_orders: links, tracking rows
-- and customer stats (when p_customers), and rollup rows (sums over stripes). One pass over the
-- orders serves both, so customer_tracking_verify() recomputes them once.
CREATE OR REPLACE FUNCTION customer_tracking_problems(p_shop_id uuid, p_customers boolean)
RETURNS TABLE (shop_id uuid, shop_customer_id uuid, shop_order_id uuid, problem text,
               stored text, expected text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
BEGIN
    IF NOT @extschema@.customer_tracking_orders_distributed() THEN
        -- One node: set-based over the shop's (or every) orders.
        RETURN QUERY
        SELECT * FROM @extschema@.customer_tracking_problems_of(
            CASE WHEN p_shop_id IS NOT NULL THEN ARRAY[p_shop_id] END, p_customers)
        UNION ALL
        SELECT NULL, NULL, NULL, 'host_drift', h.detail, 'a readable column'
          FROM @extschema@.customer_tracking_host_state() h
         WHERE p_customers AND h.state IN ('drift', 'ignored');
        RETURN;
    END IF;
    -- Citus: through the coordinator, one statement the nodes run on their shards.
    RETURN QUERY
    WITH o AS MATERIALIZED (
        SELECT * FROM @extschema@.customer_tracking_expected_orders(p_shop_id)
    ), l AS (
        SELECT o.shop_id, o.expected_customer_id AS cid, o.shop_order_id AS id, o.purchased_at AS at,
               o.purchase AS p, o.amount, o.network, o.slug
          FROM o WHERE o.expected_customer_id IS NOT NULL
    ),
#include "fragments/customer_stats.sql"
    , expected AS (
        SELECT a.cid AS id, a.shop_id, a.orders AS total_orders, a.purchases AS total_purchases,
               a.spent AS total_spent, a.first_at AS first_purchase_at, a.last_at AS last_purchase_at,
               a.first_id AS first_order_id, a.first_slug AS first_source_slug,
               a.preferred AS preferred_network, a.networks AS network_purchases
          FROM agg a
    ), stored AS (
        SELECT c.* FROM @extschema@.shop_customers c WHERE p_shop_id IS NULL OR c.shop_id = p_shop_id
    ), customers AS (
        -- Columns, not whole rows: on Citus the parts become intermediate results, which carry
        -- no anonymous record types.
        SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, coalesce(e.id, s.id) AS id,
               e.id IS NULL AS stale, s.id IS NULL AS missing,
               e.total_orders AS e_total_orders, s.total_orders AS s_total_orders,
               e.total_purchases AS e_total_purchases, s.total_purchases AS s_total_purchases,
               e.total_spent AS e_total_spent, s.total_spent AS s_total_spent,
               e.first_purchase_at AS e_first_purchase_at, s.first_purchase_at AS s_first_purchase_at,
               e.last_purchase_at AS e_last_purchase_at, s.last_purchase_at AS s_last_purchase_at,
               e.first_order_id AS e_first_order_id, s.first_order_id AS s_first_order_id,
               e.first_source_slug AS e_first_source_slug, s.first_source_slug AS s_first_source_slug,
               e.preferred_network AS e_preferred_network, s.preferred_network AS s_preferred_network,
               e.network_purchases AS e_network_purchases, s.network_purchases AS s_network_purchases,
               s.repeat_customer AS s_repeat_customer
          FROM expected e FULL JOIN stored s ON s.id = e.id
    ), ro AS (
        -- Tracked orders, by slug and UTC day, for the rollups.
        SELECT e.*, coalesce(e.slug, '') AS slug_key, (e.purchased_at AT TIME ZONE 'UTC')::date AS day
          FROM o e
         WHERE e.expected_customer_id IS NOT NULL
    ), rc AS MATERIALIZED (
        SELECT a.shop_id, a.cid AS id, a.purchases, a.first_at, a.last_at,
               coalesce(a.first_slug, '') AS first_slug, a.preferred
          FROM agg a WHERE a.purchases > 0
    ), rollup_expected AS (
        SELECT ro.shop_id, 'totals' AS kind, '' AS k, 'checkouts' AS stat, count(*)::numeric AS v FROM ro GROUP BY 1
        UNION ALL SELECT ro.shop_id, 'totals', '', 'purchases', count(*) FROM ro WHERE ro.purchase GROUP BY 1
        UNION ALL SELECT ro.shop_id, 'totals', '', 'revenue', sum(ro.amount) FROM ro WHERE ro.purchase GROUP BY 1
        UNION ALL SELECT rc.shop_id, 'totals', '', 'customers', count(*) FROM rc GROUP BY 1
        UNION ALL SELECT rc.shop_id, 'totals', '', 'repeat_customers', count(*) FROM rc WHERE rc.purchases >= 2 GROUP BY 1
        UNION ALL SELECT ro.shop_id, 'daily', to_char(ro.day, 'YYYY-MM-DD'), 'checkouts', count(*) FROM ro GROUP BY 1, 3
        UNION ALL SELECT ro.shop_id, 'daily', to_char(ro.day, 'YYYY-MM-DD'), 'purchases', count(*) FROM ro WHERE ro.purchase GROUP BY 1, 3
        UNION ALL SELECT ro.shop_id, 'daily', to_char(ro.day, 'YYYY-MM-DD'), 'revenue', sum(ro.amount) FROM ro WHERE ro.purchase GROUP BY 1, 3
        UNION ALL SELECT rc.shop_id, 'daily', to_char(rc.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'new_customers', count(*) FROM rc GROUP BY 1, 3
        UNION ALL SELECT rc.shop_id, 'daily', to_char(rc.last_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'last_purchasers', count(*) FROM rc GROUP BY 1, 3
        UNION ALL SELECT ro.shop_id, 'slug_daily', ro.slug_key || '|' || to_char(ro.day, 'YYYY-MM-DD'), 'checkouts', count(*) FROM ro GROUP BY 1, 3
        UNION ALL SELECT ro.shop_id, 'slug_daily', ro.slug_key || '|' || to_char(ro.day, 'YYYY-MM-DD'), 'purchases', count(*) FROM ro WHERE ro.purchase GROUP BY 1, 3
        UNION ALL SELECT ro.shop_id, 'slug_daily', ro.slug_key || '|' || to_char(ro.day, 'YYYY-MM-DD'), 'revenue', sum(ro.amount) FROM ro WHERE ro.purchase GROUP BY 1, 3
        UNION ALL SELECT rc.shop_id, 'slug_daily', rc.first_slug || '|' || to_char(rc.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'new_customers', count(*) FROM rc GROUP BY 1, 3
        UNION ALL SELECT rc.shop_id, 'slug_daily', rc.first_slug || '|' || to_char(rc.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'repeat_customers', count(*) FROM rc WHERE rc.purchases >= 2 GROUP BY 1, 3
        UNION ALL SELECT p.shop_id, 'slug_daily', p.slug_key || '|' || to_char(p.f AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'customers', count(*)
                    FROM (SELECT ro.shop_id, ro.slug_key, ro.expected_customer_id, min(ro.purchased_at) AS f
                            FROM ro WHERE ro.purchase GROUP BY 1, 2, 3) p GROUP BY 1, 3
        UNION ALL SELECT ro.shop_id, 'network', ro.network, 'purchases', count(*) FROM ro WHERE ro.purchase AND ro.network IS NOT NULL GROUP BY 1, 3
        UNION ALL SELECT ro.shop_id, 'network', ro.network, 'revenue', sum(ro.amount) FROM ro WHERE ro.purchase AND ro.network IS NOT NULL GROUP BY 1, 3
        UNION ALL SELECT rc.shop_id, 'network', rc.preferred, 'customers_preferring', count(*) FROM rc WHERE rc.preferred IS NOT NULL GROUP BY 1, 3
        UNION ALL SELECT rc.shop_id, 'frequency', rc.purchases::text, 'customers', count(*) FROM rc GROUP BY 1, 3
    ), rollup_stored AS (
        SELECT r.shop_id, 'totals' AS kind, '' AS k, x.stat, sum(x.v) AS v
          FROM @extschema@.customer_tracking_shop_totals r
         CROSS JOIN LATERAL (VALUES ('checkouts', r.checkouts::numeric), ('purchases', r.purchases),
                                    ('revenue', r.revenue), ('customers', r.customers),
                                    ('repeat_customers', r.repeat_customers)) x(stat, v)
         WHERE p_shop_id IS NULL OR r.shop_id = p_shop_id GROUP BY 1, 4
        UNION ALL
        SELECT r.shop_id, 'daily', to_char(r.day, 'YYYY-MM-DD'), x.stat, sum(x.v)
          FROM @extschema@.customer_tracking_daily r
         CROSS JOIN LATERAL (VALUES ('checkouts', r.checkouts::numeric), ('purchases', r.purchases),
                                    ('revenue', r.revenue), ('new_customers', r.new_customers),
                                    ('last_purchasers', r.last_purchasers)) x(stat, v)
         WHERE p_shop_id IS NULL OR r.shop_id = p_shop_id GROUP BY 1, 3, 4
        UNION ALL
        SELECT r.shop_id, 'slug_daily', r.slug || '|' || to_char(r.day, 'YYYY-MM-DD'), x.stat, sum(x.v)
          FROM @extschema@.customer_tracking_slug_daily r
         CROSS JOIN LATERAL (VALUES ('checkouts', r.checkouts::numeric), ('purchases', r.purchases),
                                    ('revenue', r.revenue), ('new_customers', r.new_customers),
                                    ('repeat_customers', r.repeat_customers), ('customers', r.customers)) x(stat, v)
         WHERE p_shop_id IS NULL OR r.shop_id = p_shop_id GROUP BY 1, 3, 4
        UNION ALL
        SELECT r.shop_id, 'network', r.network, x.stat, sum(x.v)
          FROM @extschema@.customer_tracking_network_totals r
         CROSS JOIN LATERAL (VALUES ('purchases', r.purchases::numeric), ('revenue', r.revenue),
                                    ('customers_preferring', r.customers_preferring)) x(stat, v)
         WHERE p_shop_id IS NULL OR r.shop_id = p_shop_id GROUP BY 1, 3, 4
        UNION ALL
        SELECT r.shop_id, 'frequency', r.purchases::text, 'customers', sum(r.customers)
          FROM @extschema@.customer_tracking_frequency r
         WHERE p_shop_id IS NULL OR r.shop_id = p_shop_id GROUP BY 1, 3
    ), rollups (shop_id, problem, stored, expected) AS (
        SELECT coalesce(e.shop_id, s.shop_id), 'rollup ' || coalesce(e.kind, s.kind) || ' ' ||
               coalesce(e.k, s.k) || ' ' || coalesce(e.stat, s.stat),
               coalesce(s.v, 0)::text, coalesce(e.v, 0)::text
          FROM rollup_expected e
          FULL JOIN rollup_stored s ON s.shop_id = e.shop_id AND s.kind = e.kind AND s.k = e.k AND s.stat = e.stat
         WHERE coalesce(s.v, 0) <> coalesce(e.v, 0)
    )
    SELECT o.shop_id, o.expected_customer_id, o.shop_order_id, 'order_link',
           o.stored_customer_id::text, o.expected_customer_id::text
      FROM o WHERE p_customers AND o.stored_customer_id IS DISTINCT FROM o.expected_customer_id
    UNION ALL
    SELECT c.shop_id, c.id, NULL, CASE WHEN c.missing THEN 'customer_missing' ELSE 'customer_stale' END,
           CASE WHEN c.missing THEN NULL ELSE 'exists' END, CASE WHEN c.missing THEN 'exists' END
      FROM customers c WHERE p_customers AND (c.missing OR c.stale)
    UNION ALL
    SELECT c.shop_id, c.id, NULL, d.stat, d.stored, d.expected
      FROM customers c
     CROSS JOIN LATERAL (VALUES
        ('total_orders', c.s_total_orders::text, c.e_total_orders::text),
        ('total_purchases', c.s_total_purchases::text, c.e_total_purchases::text),
        ('total_spent', c.s_total_spent::text, c.e_total_spent::text),
        ('first_purchase_at', c.s_first_purchase_at::text, c.e_first_purchase_at::text),
        ('last_purchase_at', c.s_last_purchase_at::text, c.e_last_purchase_at::text),
        ('first_order_id', c.s_first_order_id::text, c.e_first_order_id::text),
        ('first_source_slug', c.s_first_source_slug::text, c.e_first_source_slug),
        ('preferred_network', c.s_preferred_network::text, c.e_preferred_network),
        ('network_purchases', c.s_network_purchases::text, c.e_network_purchases::text),
        ('repeat_customer', c.s_repeat_customer::text, (c.e_total_purchases >= 2)::text)
     ) AS d(stat, stored, expected)
     WHERE p_customers AND NOT c.missing AND NOT c.stale
       AND CASE WHEN d.stat = 'total_spent' THEN c.s_total_spent <> c.e_total_spent
                ELSE d.stored IS DISTINCT FROM d.expected END
    UNION ALL
    SELECT o.shop_id, o.expected_customer_id, o.shop_order_id, 'tracking_row',
           CASE WHEN t.id IS NULL THEN NULL
                ELSE format('customer=%s purchase=%s amount=%s at=%s', t.shop_customer_id,
                            t.purchase_completed, t.purchase_amount, t.accessed_at) END,
           format('customer=%s purchase=%s amount=%s at=%s', o.expected_customer_id, o.purchase,
                  o.amount, o.purchased_at)
      FROM o
      LEFT JOIN @extschema@.customer_tracking t ON t.id = o.shop_order_id AND t.shop_id = o.shop_id
     WHERE p_customers AND o.expected_customer_id IS NOT NULL
       AND (t.id IS NULL OR t.shop_customer_id <> o.expected_customer_id
            OR t.purchase_completed <> o.purchase OR t.purchase_amount <> o.amount
            OR t.accessed_at <> o.purchased_at)
    UNION ALL
    SELECT r.shop_id, NULL, NULL, r.problem, r.stored, r.expected FROM rollups r
    UNION ALL
    SELECT t.shop_id, t.shop_customer_id, t.id, 'tracking_orphan', 'exists', NULL
      FROM @extschema@.customer_tracking t
     WHERE p_customers AND (p_shop_id IS NULL OR t.shop_id = p_shop_id)
       AND NOT EXISTS (SELECT 1 FROM o WHERE o.shop_order_id = t.id AND o.shop_id = t.shop_id
                                         AND o.expected_customer_id IS NOT NULL)
    UNION ALL
    -- The host table no longer has what a field is read from.
    SELECT NULL, NULL, NULL, 'host_drift', h.detail, 'a readable column'
      FROM @extschema@.customer_tracking_host_state() h
     WHERE p_customers AND h.state IN ('drift', 'ignored');
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_problems(uuid, boolean)', 'dba');
