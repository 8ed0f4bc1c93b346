-- customer_tracking 1.1 -> 1.2: faster dashboard calls: shop_customer_metrics() in C, and the
-- owner lookup of the row-level security policies in PL/pgSQL (plans kept per session);
-- customer_tracking_verify() and _verify_rollups() in time linear in the orders.

\echo Use "ALTER EXTENSION customer_tracking UPDATE TO '1.2'" to load this file. \quit

-- Same signature, result and numbers; one statement over the rollups, planned once per
-- session instead of three SQL functions planned on every call (src/metrics.cpp).
CREATE OR REPLACE FUNCTION shop_customer_metrics(p_shop_id uuid, p_as_of timestamptz DEFAULT now())
RETURNS TABLE (total_customers bigint, repeat_customers bigint, repeat_rate numeric,
               new_customers_30d bigint, new_customers_this_month bigint, average_ltv numeric,
               total_revenue numeric)
LANGUAGE c STABLE PARALLEL SAFE ROWS 1
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'ct_shop_customer_metrics';

-- The owner source chosen at CREATE EXTENSION stays: only the JWT-claim variant (SQL in 1.1)
-- is replaced; the auth.uid() variant already was PL/pgSQL.
DO $owner$
BEGIN
    IF (SELECT l.lanname = 'sql'
          FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang
         WHERE p.oid = '@extschema@.customer_tracking_current_owner()'::regprocedure) THEN
        CREATE OR REPLACE FUNCTION customer_tracking_current_owner()
        RETURNS uuid
        LANGUAGE plpgsql STABLE
        SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE
            v_claims text := pg_catalog.current_setting('request.jwt.claims', true);
            v_sub text;
        BEGIN
            IF v_claims ~ '^\s*\{' THEN
                v_sub := v_claims::jsonb ->> 'sub';
            END IF;
            v_sub := coalesce(v_sub, nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''));
            IF v_sub ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
                RETURN v_sub::uuid;
            END IF;
            RETURN NULL;
        END
        $$;
    END IF;
END
$owner$;

CREATE OR REPLACE FUNCTION customer_tracking_owned_shops()
RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(s.id), '{}')
              FROM @extschema@.user_shops s
             WHERE s.user_id = (SELECT @extschema@.customer_tracking_current_owner()));  -- once, not per shop
END
$$;

-- Preferred networks from one grouped pass over the orders instead of a lookup per customer
-- (which read every order of the shop once per customer).
CREATE OR REPLACE FUNCTION customer_tracking_verify_rollups(p_shop_id uuid DEFAULT NULL)
RETURNS TABLE (shop_id uuid, problem text, stored text, expected text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    WITH o AS MATERIALIZED (
        SELECT e.*, coalesce(e.slug, '') AS slug_key, (e.purchased_at AT TIME ZONE 'UTC')::date AS day
          FROM @extschema@.customer_tracking_expected_orders(p_shop_id) e
         WHERE e.expected_customer_id IS NOT NULL
    ), preferred AS (
        -- One pass over the orders (a lookup per customer into o would read o once per customer).
        SELECT x.id, (array_agg(x.network ORDER BY x.n DESC, x.network COLLATE "C"))[1] AS network
          FROM (SELECT o.expected_customer_id AS id, o.network, count(*) AS n
                  FROM o WHERE o.purchase AND o.network IS NOT NULL GROUP BY 1, 2) x
         GROUP BY x.id
    ), c AS MATERIALIZED (
        SELECT a.*, p.network AS preferred
          FROM (SELECT o.shop_id, o.expected_customer_id AS id,
                       count(*) FILTER (WHERE o.purchase) AS purchases,
                       min(o.purchased_at) FILTER (WHERE o.purchase) AS first_at,
                       max(o.purchased_at) FILTER (WHERE o.purchase) AS last_at,
                       (array_agg(o.slug_key ORDER BY o.purchased_at, o.shop_order_id) FILTER (WHERE o.purchase))[1] AS first_slug
                  FROM o GROUP BY o.shop_id, o.expected_customer_id
                HAVING count(*) FILTER (WHERE o.purchase) > 0) a
          LEFT JOIN preferred p ON p.id = a.id
    ), expected AS (
        SELECT o.shop_id, 'totals' AS kind, '' AS k, 'checkouts' AS stat, count(*)::numeric AS v FROM o GROUP BY 1
        UNION ALL SELECT o.shop_id, 'totals', '', 'purchases', count(*) FROM o WHERE o.purchase GROUP BY 1
        UNION ALL SELECT o.shop_id, 'totals', '', 'revenue', sum(o.amount) FROM o WHERE o.purchase GROUP BY 1
        UNION ALL SELECT c.shop_id, 'totals', '', 'customers', count(*) FROM c GROUP BY 1
        UNION ALL SELECT c.shop_id, 'totals', '', 'repeat_customers', count(*) FROM c WHERE c.purchases >= 2 GROUP BY 1
        UNION ALL SELECT o.shop_id, 'daily', to_char(o.day, 'YYYY-MM-DD'), 'checkouts', count(*) FROM o GROUP BY 1, 3
        UNION ALL SELECT o.shop_id, 'daily', to_char(o.day, 'YYYY-MM-DD'), 'purchases', count(*) FROM o WHERE o.purchase GROUP BY 1, 3
        UNION ALL SELECT o.shop_id, 'daily', to_char(o.day, 'YYYY-MM-DD'), 'revenue', sum(o.amount) FROM o WHERE o.purchase GROUP BY 1, 3
        UNION ALL SELECT c.shop_id, 'daily', to_char(c.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'new_customers', count(*) FROM c GROUP BY 1, 3
        UNION ALL SELECT c.shop_id, 'daily', to_char(c.last_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'last_purchasers', count(*) FROM c GROUP BY 1, 3
        UNION ALL SELECT o.shop_id, 'slug_daily', o.slug_key || '|' || to_char(o.day, 'YYYY-MM-DD'), 'checkouts', count(*) FROM o GROUP BY 1, 3
        UNION ALL SELECT o.shop_id, 'slug_daily', o.slug_key || '|' || to_char(o.day, 'YYYY-MM-DD'), 'purchases', count(*) FROM o WHERE o.purchase GROUP BY 1, 3
        UNION ALL SELECT o.shop_id, 'slug_daily', o.slug_key || '|' || to_char(o.day, 'YYYY-MM-DD'), 'revenue', sum(o.amount) FROM o WHERE o.purchase GROUP BY 1, 3
        UNION ALL SELECT c.shop_id, 'slug_daily', c.first_slug || '|' || to_char(c.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'new_customers', count(*) FROM c GROUP BY 1, 3
        UNION ALL SELECT c.shop_id, 'slug_daily', c.first_slug || '|' || to_char(c.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'repeat_customers', count(*) FROM c WHERE c.purchases >= 2 GROUP BY 1, 3
        UNION ALL SELECT p.shop_id, 'slug_daily', p.slug_key || '|' || to_char(p.f AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'customers', count(*)
                    FROM (SELECT o.shop_id, o.slug_key, o.expected_customer_id, min(o.purchased_at) AS f
                            FROM o WHERE o.purchase GROUP BY 1, 2, 3) p GROUP BY 1, 3
        UNION ALL SELECT o.shop_id, 'network', o.network, 'purchases', count(*) FROM o WHERE o.purchase AND o.network IS NOT NULL GROUP BY 1, 3
        UNION ALL SELECT o.shop_id, 'network', o.network, 'revenue', sum(o.amount) FROM o WHERE o.purchase AND o.network IS NOT NULL GROUP BY 1, 3
        UNION ALL SELECT c.shop_id, 'network', c.preferred, 'customers_preferring', count(*) FROM c WHERE c.preferred IS NOT NULL GROUP BY 1, 3
        UNION ALL SELECT c.shop_id, 'frequency', c.purchases::text, 'customers', count(*) FROM c GROUP BY 1, 3
    ), stored AS (
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
    )
    SELECT coalesce(e.shop_id, s.shop_id), 'rollup ' || coalesce(e.kind, s.kind) || ' ' ||
           coalesce(e.k, s.k) || ' ' || coalesce(e.stat, s.stat),
           coalesce(s.v, 0)::text, coalesce(e.v, 0)::text
      FROM expected e
      FULL JOIN stored s ON s.shop_id = e.shop_id AND s.kind = e.kind AND s.k = e.k AND s.stat = e.stat
     WHERE coalesce(s.v, 0) <> coalesce(e.v, 0)
$$;

CREATE OR REPLACE FUNCTION customer_tracking_verify(p_shop_id uuid DEFAULT NULL)
RETURNS TABLE (shop_id uuid, shop_customer_id uuid, shop_order_id uuid, problem text,
               stored text, expected text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    WITH o AS MATERIALIZED (
        SELECT * FROM @extschema@.customer_tracking_expected_orders(p_shop_id)
    ), networks AS (
        -- One pass over the orders (a lookup per customer into o would read o once per customer).
        SELECT x.id, (array_agg(x.network ORDER BY x.n DESC, x.network COLLATE "C"))[1] AS preferred_network,
               jsonb_object_agg(x.network, x.n) AS network_purchases
          FROM (SELECT o.expected_customer_id AS id, o.network, count(*) AS n
                  FROM o WHERE o.expected_customer_id IS NOT NULL AND o.purchase AND o.network IS NOT NULL
                 GROUP BY 1, 2) x
         GROUP BY x.id
    ), expected AS (
        SELECT a.*, n.preferred_network, coalesce(n.network_purchases, '{}'::jsonb) AS network_purchases
          FROM (SELECT o.expected_customer_id AS id, min(o.shop_id::text)::uuid AS shop_id,
                       count(*)::int AS total_orders,
                       count(*) FILTER (WHERE o.purchase)::int AS total_purchases,
                       coalesce(sum(o.amount) FILTER (WHERE o.purchase), 0) AS total_spent,
                       min(o.purchased_at) FILTER (WHERE o.purchase) AS first_purchase_at,
                       max(o.purchased_at) FILTER (WHERE o.purchase) AS last_purchase_at,
                       (array_agg(o.shop_order_id ORDER BY o.purchased_at, o.shop_order_id) FILTER (WHERE o.purchase))[1] AS first_order_id,
                       (array_agg(o.slug ORDER BY o.purchased_at, o.shop_order_id) FILTER (WHERE o.purchase))[1] AS first_source_slug
                  FROM o WHERE o.expected_customer_id IS NOT NULL
                 GROUP BY o.expected_customer_id) a
          LEFT JOIN networks n ON n.id = a.id
    ), stored AS (
        SELECT c.* FROM @extschema@.shop_customers c WHERE p_shop_id IS NULL OR c.shop_id = p_shop_id
    ), customers AS (
        SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, coalesce(e.id, s.id) AS id, e AS e, s AS s,
               e.id IS NULL AS stale, s.id IS NULL AS missing
          FROM expected e FULL JOIN stored s ON s.id = e.id
    )
    SELECT o.shop_id, o.expected_customer_id, o.shop_order_id, 'order_link',
           o.stored_customer_id::text, o.expected_customer_id::text
      FROM o WHERE o.stored_customer_id IS DISTINCT FROM o.expected_customer_id
    UNION ALL
    SELECT c.shop_id, c.id, NULL, CASE WHEN c.missing THEN 'customer_missing' ELSE 'customer_stale' END,
           CASE WHEN c.missing THEN NULL ELSE 'exists' END, CASE WHEN c.missing THEN 'exists' END
      FROM customers c WHERE c.missing OR c.stale
    UNION ALL
    SELECT c.shop_id, c.id, NULL, d.stat, d.stored, d.expected
      FROM customers c
     CROSS JOIN LATERAL (VALUES
        ('total_orders', (c.s).total_orders::text, (c.e).total_orders::text),
        ('total_purchases', (c.s).total_purchases::text, (c.e).total_purchases::text),
        ('total_spent', (c.s).total_spent::text, (c.e).total_spent::text),
        ('first_purchase_at', (c.s).first_purchase_at::text, (c.e).first_purchase_at::text),
        ('last_purchase_at', (c.s).last_purchase_at::text, (c.e).last_purchase_at::text),
        ('first_order_id', (c.s).first_order_id::text, (c.e).first_order_id::text),
        ('first_source_slug', (c.s).first_source_slug::text, (c.e).first_source_slug),
        ('preferred_network', (c.s).preferred_network::text, (c.e).preferred_network),
        ('network_purchases', (c.s).network_purchases::text, (c.e).network_purchases::text),
        ('repeat_customer', (c.s).repeat_customer::text, ((c.e).total_purchases >= 2)::text)
     ) AS d(stat, stored, expected)
     WHERE NOT c.missing AND NOT c.stale
       AND CASE WHEN d.stat = 'total_spent' THEN (c.s).total_spent <> (c.e).total_spent
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
     WHERE o.expected_customer_id IS NOT NULL
       AND (t.id IS NULL OR t.shop_customer_id <> o.expected_customer_id
            OR t.purchase_completed <> o.purchase OR t.purchase_amount <> o.amount
            OR t.accessed_at <> o.purchased_at)
    UNION ALL
    SELECT r.shop_id, NULL, NULL, r.problem, r.stored, r.expected
      FROM @extschema@.customer_tracking_verify_rollups(p_shop_id) r
    UNION ALL
    SELECT t.shop_id, t.shop_customer_id, t.id, 'tracking_orphan', 'exists', NULL
      FROM @extschema@.customer_tracking t
     WHERE (p_shop_id IS NULL OR t.shop_id = p_shop_id)
       AND NOT EXISTS (SELECT 1 FROM o WHERE o.shop_order_id = t.id AND o.shop_id = t.shop_id
                                         AND o.expected_customer_id IS NOT NULL)
$$;
