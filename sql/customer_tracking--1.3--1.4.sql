-- customer_tracking 1.3 -> 1.4.

\echo Use "ALTER EXTENSION customer_tracking UPDATE TO '1.4'" to load this file. \quit

--------------------------------------------------------------------------------
-- Write path: orders are counted at commit, customers locked in id order (no
-- deadlock, no wait on another transaction's open order). The foreign keys to
-- shop_customers (from shop_orders and customer_tracking) and the statement-level
-- flush trigger go: a customer's row is written at commit.
--------------------------------------------------------------------------------
CREATE FUNCTION customer_tracking_apply_pending()
RETURNS void
AS 'MODULE_PATHNAME', 'ct_apply_pending'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION customer_tracking_apply_pending() IS
    'Counts the orders this transaction changed now instead of at its commit (their customers stay '
    'locked until the transaction ends). Used by customer_tracking_backfill().';
REVOKE EXECUTE ON FUNCTION customer_tracking_apply_pending() FROM PUBLIC;

CREATE OR REPLACE FUNCTION customer_tracking_attach()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_orders regclass;
BEGIN
    PERFORM customer_tracking_check_host();
    v_orders := '@extschema@.shop_orders'::regclass;

    ALTER TABLE @extschema@.shop_orders ADD COLUMN IF NOT EXISTS shop_customer_id uuid;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = v_orders AND tgname = 'customer_tracking_track') THEN
        -- Links left behind by an earlier installation (DROP EXTENSION ... CASCADE keeps the
        -- column) point at customers that no longer exist: clear them; backfill relinks.
        UPDATE @extschema@.shop_orders o SET shop_customer_id = NULL
         WHERE o.shop_customer_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM @extschema@.shop_customers c WHERE c.id = o.shop_customer_id);
    END IF;
    -- No foreign key to shop_customers: the customer's row is written when the order's
    -- transaction commits, so that two first orders of one customer never wait on each other.
    -- (Versions before 1.4 had one; customer_tracking_verify() checks every link.)
    ALTER TABLE @extschema@.shop_orders DROP CONSTRAINT IF EXISTS shop_orders_shop_customer_id_fkey;
    CREATE INDEX IF NOT EXISTS idx_shop_orders_customer_id
        ON @extschema@.shop_orders (shop_customer_id);

    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = v_orders AND tgname = 'customer_tracking_link') THEN
        CREATE TRIGGER customer_tracking_link
            BEFORE INSERT OR UPDATE ON @extschema@.shop_orders
            FOR EACH ROW EXECUTE FUNCTION @extschema@.customer_tracking_link_order();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = v_orders AND tgname = 'customer_tracking_track') THEN
        CREATE TRIGGER customer_tracking_track
            AFTER INSERT OR UPDATE OR DELETE ON @extschema@.shop_orders
            FOR EACH ROW EXECUTE FUNCTION @extschema@.customer_tracking_track_order();
    END IF;
    -- Rollups are written at commit with the rest (versions before 1.4 had a statement trigger).
    DROP TRIGGER IF EXISTS customer_tracking_flush ON @extschema@.shop_orders;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = v_orders AND tgname = 'customer_tracking_truncate') THEN
        CREATE TRIGGER customer_tracking_truncate
            AFTER TRUNCATE ON @extschema@.shop_orders
            FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.customer_tracking_truncate_orders();
    END IF;

END
$$;
COMMENT ON FUNCTION customer_tracking_attach() IS
    'Attaches customer_tracking to the host tables (column, index, triggers). '
    'Run by CREATE EXTENSION; idempotent.';

CREATE OR REPLACE FUNCTION customer_tracking_backfill(p_shop_id uuid DEFAULT NULL)
RETURNS TABLE (shop_id uuid, orders_retracked bigint, orders_linked bigint, orders_untracked bigint,
               customers_repaired bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_shop uuid;
    v_id name := (SELECT column_name FROM customer_tracking_columns() WHERE field = 'id');
    v_shop_col name := (SELECT column_name FROM customer_tracking_columns() WHERE field = 'shop_id');
    v_retracked bigint;
    v_repaired bigint;
    v_customer uuid;
BEGIN
    -- One shop per statement: each statement touches one shop's rows only.
    FOR v_shop IN
        EXECUTE format('SELECT DISTINCT %1$I FROM @extschema@.shop_orders WHERE %1$I IS NOT NULL AND ($1 IS NULL OR %1$I = $1)',
                       v_shop_col) USING p_shop_id
    LOOP
        -- 0. Tracking rows of customers deleted by hand: their orders are tracked again below.
        DELETE FROM @extschema@.customer_tracking t
         WHERE t.shop_id = v_shop
           AND NOT EXISTS (SELECT 1 FROM @extschema@.shop_customers c
                            WHERE c.id = t.shop_customer_id AND c.shop_id = v_shop);

        -- 1. Orders whose link or tracking row disagrees with the order go through the trigger again.
        PERFORM set_config('customer_tracking.retrack', 'on', true);
        EXECUTE format($q$
            UPDATE @extschema@.shop_orders o SET shop_customer_id = o.shop_customer_id
              FROM @extschema@.customer_tracking_expected_orders($1) e
              LEFT JOIN @extschema@.customer_tracking t ON t.id = e.shop_order_id AND t.shop_id = $1
             WHERE o.%1$I = e.shop_order_id AND o.%2$I = $1
               AND (e.stored_customer_id IS DISTINCT FROM e.expected_customer_id
                    OR (e.expected_customer_id IS NOT NULL
                        AND (t.id IS NULL OR t.shop_customer_id <> e.expected_customer_id
                             OR t.purchase_completed <> e.purchase OR t.purchase_amount <> e.amount
                             OR t.accessed_at <> e.purchased_at OR t.network IS DISTINCT FROM e.network
                             OR t.accessed_via_slug IS DISTINCT FROM e.slug))
                    OR (e.expected_customer_id IS NULL
                        AND NOT EXISTS (SELECT 1 FROM @extschema@.customer_tracking_issues i
                                         WHERE i.shop_id = $1 AND i.shop_order_id = e.shop_order_id
                                           AND i.untracked AND i.resolved_at IS NULL)))$q$, v_id, v_shop_col)
            USING v_shop;
        GET DIAGNOSTICS v_retracked = ROW_COUNT;
        PERFORM set_config('customer_tracking.retrack', 'off', true);
        PERFORM @extschema@.customer_tracking_apply_pending();

        -- 2. Tracking rows of orders that no longer exist (deleted while tracking was off).
        v_repaired := 0;
        FOR v_customer IN
            EXECUTE format($q$
                DELETE FROM @extschema@.customer_tracking t
                 WHERE t.shop_id = $1
                   AND NOT EXISTS (SELECT 1 FROM @extschema@.shop_orders o
                                    WHERE o.%1$I = t.id AND o.%2$I = $1 AND o.shop_customer_id = t.shop_customer_id)
                RETURNING t.shop_customer_id$q$, v_id, v_shop_col) USING v_shop
        LOOP
            PERFORM customer_tracking_recompute(v_shop, v_customer);
            v_repaired := v_repaired + 1;
        END LOOP;

        -- 3. Customers whose stats or purchases per slug disagree with their tracking rows.
        FOR v_customer IN
            SELECT c.id FROM @extschema@.shop_customers c
              LEFT JOIN LATERAL (
                  SELECT count(*)::int AS orders,
                         count(*) FILTER (WHERE t.purchase_completed)::int AS purchases,
                         coalesce(sum(t.purchase_amount) FILTER (WHERE t.purchase_completed), 0) AS spent,
                         min(t.accessed_at) FILTER (WHERE t.purchase_completed) AS first_at,
                         max(t.accessed_at) FILTER (WHERE t.purchase_completed) AS last_at,
                         (array_agg(t.id ORDER BY t.accessed_at, t.id) FILTER (WHERE t.purchase_completed))[1] AS first_id,
                         (array_agg(t.accessed_via_slug ORDER BY t.accessed_at, t.id) FILTER (WHERE t.purchase_completed))[1] AS first_slug,
                         (SELECT coalesce(jsonb_object_agg(n.network, n.k), '{}'::jsonb)
                            FROM (SELECT t2.network, count(*) AS k FROM @extschema@.customer_tracking t2
                                   WHERE t2.shop_customer_id = c.id AND t2.shop_id = v_shop AND t2.purchase_completed
                                     AND t2.network IS NOT NULL GROUP BY t2.network) n) AS networks,
                         (SELECT t2.network FROM @extschema@.customer_tracking t2
                           WHERE t2.shop_customer_id = c.id AND t2.shop_id = v_shop AND t2.purchase_completed
                             AND t2.network IS NOT NULL
                           GROUP BY t2.network ORDER BY count(*) DESC, t2.network::text COLLATE "C" LIMIT 1) AS preferred,
                         (SELECT coalesce(jsonb_object_agg(ps.slug, ps.k || '@' || ps.f), '{}'::jsonb)
                            FROM (SELECT coalesce(t2.accessed_via_slug, '') AS slug, count(*) AS k, min(t2.accessed_at) AS f
                                    FROM @extschema@.customer_tracking t2
                                   WHERE t2.shop_customer_id = c.id AND t2.shop_id = v_shop AND t2.purchase_completed
                                   GROUP BY 1) ps) AS pairs
                    FROM @extschema@.customer_tracking t
                   WHERE t.shop_customer_id = c.id AND t.shop_id = v_shop) a ON true
             WHERE c.shop_id = v_shop
               AND (c.total_orders <> a.orders OR c.total_purchases <> a.purchases
                    OR c.total_spent <> a.spent OR c.first_purchase_at IS DISTINCT FROM a.first_at
                    OR c.last_purchase_at IS DISTINCT FROM a.last_at OR c.first_order_id IS DISTINCT FROM a.first_id
                    OR c.first_source_slug IS DISTINCT FROM a.first_slug
                    OR c.preferred_network IS DISTINCT FROM a.preferred OR c.network_purchases <> a.networks
                    OR a.pairs <> (SELECT coalesce(jsonb_object_agg(p.slug, p.purchases || '@' || p.first_purchase_at), '{}'::jsonb)
                                     FROM @extschema@.customer_tracking_slug_customers p
                                    WHERE p.shop_id = v_shop AND p.shop_customer_id = c.id))
        LOOP
            PERFORM customer_tracking_recompute(v_shop, v_customer);
            v_repaired := v_repaired + 1;
        END LOOP;

        -- 4. Rollups that disagree with the customers and tracking rows.
        PERFORM customer_tracking_repair_rollups(v_shop);

        shop_id := v_shop;
        orders_retracked := v_retracked;
        EXECUTE format('SELECT count(*) FILTER (WHERE shop_customer_id IS NOT NULL), count(*) FILTER (WHERE shop_customer_id IS NULL)
                          FROM @extschema@.shop_orders WHERE %I = $1', v_shop_col)
            INTO orders_linked, orders_untracked USING v_shop;
        customers_repaired := v_repaired;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_tracking_backfill(uuid) IS
    'Links and counts orders that predate the extension or were left unlinked, and repairs any '
    'customer whose stats disagree with its orders. Idempotent; safe while orders arrive. '
    'Returns per shop: orders re-tracked now, orders linked and untracked in total, customers repaired.';

CREATE OR REPLACE FUNCTION customer_tracking_health()
RETURNS TABLE (version text, triggers_enabled boolean, shops bigint, customers bigint,
               tracked_orders bigint, untracked_orders bigint, open_issues jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    SELECT (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'customer_tracking'),
           (SELECT count(*) = 3 AND bool_and(t.tgenabled IN ('O', 'A'))
              FROM pg_catalog.pg_trigger t
             WHERE t.tgrelid = to_regclass('@extschema@.shop_orders')
               AND t.tgname IN ('customer_tracking_link', 'customer_tracking_track', 'customer_tracking_truncate')),
           (SELECT count(DISTINCT c.shop_id) FROM @extschema@.shop_customers c),
           (SELECT count(*) FROM @extschema@.shop_customers c WHERE c.total_purchases > 0),
           (SELECT count(*) FROM @extschema@.customer_tracking t),
           (SELECT count(*) FROM @extschema@.customer_tracking_issues i WHERE i.untracked AND i.resolved_at IS NULL),
           (SELECT coalesce(jsonb_object_agg(x.issue, x.n), '{}'::jsonb)
              FROM (SELECT i.issue, count(*) AS n FROM @extschema@.customer_tracking_issues i
                     WHERE i.resolved_at IS NULL GROUP BY i.issue) x)
$$;
COMMENT ON FUNCTION customer_tracking_health() IS
    'Tracking status for DBAs: version, whether the triggers are enabled, counts of shops, customers, '
    'tracked and untracked orders, and open issues by reason.';

ALTER TABLE @extschema@.customer_tracking DROP CONSTRAINT IF EXISTS customer_tracking_shop_customer_id_fkey;

-- Keys include shop_id, so that the tables can be distributed by shop (Citus).
ALTER TABLE @extschema@.shop_customers DROP CONSTRAINT shop_customers_pkey,
    ADD CONSTRAINT shop_customers_pkey PRIMARY KEY (id, shop_id);
ALTER TABLE @extschema@.customer_tracking DROP CONSTRAINT customer_tracking_pkey,
    ADD CONSTRAINT customer_tracking_pkey PRIMARY KEY (id, shop_id);
DO $attach$
BEGIN
    IF to_regclass('@extschema@.shop_orders') IS NOT NULL THEN
        ALTER TABLE @extschema@.shop_orders DROP CONSTRAINT IF EXISTS shop_orders_shop_customer_id_fkey;
        DROP TRIGGER IF EXISTS customer_tracking_flush ON @extschema@.shop_orders;
    END IF;
END
$attach$;
