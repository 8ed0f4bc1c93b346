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
        -- Without customers (CREATE EXTENSION) every link is such a link: no join, which Citus
        -- could not run between a distributed shop_orders and a still local shop_customers.
        IF NOT EXISTS (SELECT 1 FROM @extschema@.shop_customers) THEN
            UPDATE @extschema@.shop_orders o SET shop_customer_id = NULL
             WHERE o.shop_customer_id IS NOT NULL;
        ELSE
            UPDATE @extschema@.shop_orders o SET shop_customer_id = NULL
             WHERE o.shop_customer_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM @extschema@.shop_customers c WHERE c.id = o.shop_customer_id);
        END IF;
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
DO $attach$
BEGIN
    IF to_regclass('@extschema@.shop_orders') IS NOT NULL THEN
        ALTER TABLE @extschema@.shop_orders DROP CONSTRAINT IF EXISTS shop_orders_shop_customer_id_fkey;
        DROP TRIGGER IF EXISTS customer_tracking_flush ON @extschema@.shop_orders;
    END IF;
END
$attach$;

--------------------------------------------------------------------------------
-- Citus: which node this is. NULL without Citus in this database; 'worker' on a
-- node Citus gave a group other than 0 (the coordinator's). CREATE EXTENSION
-- (and ALTER EXTENSION) on the coordinator runs on every worker too, and adding
-- a worker creates the extension there (Citus sets the node's group first, and
-- creates the extension before any table). A worker holds no host tables of its
-- own, at most Citus's shell tables, which the coordinator's DDL changes: there
-- the extension installs only its own objects. Its tables become the workers'
-- copies of the extension's distributed tables (Citus creates none for tables an
-- extension owns), its functions are what the triggers on the shards of
-- shop_orders call. On the coordinator, where shop_orders may already be
-- distributed, attaching creates triggers on it, which Citus accepts only with
-- citus.enable_unsafe_triggers (it then creates them on every shard), and Citus
-- propagates CREATE EXTENSION to the workers only if the transaction used one
-- connection per node (citus.multi_shard_modify_mode = sequential): the install
-- sets both for its own transaction.
--------------------------------------------------------------------------------
CREATE FUNCTION customer_tracking_citus_node()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_group integer;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_local_group') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO v_group;
    RETURN CASE WHEN coalesce(v_group, 0) = 0 THEN 'coordinator' ELSE 'worker' END;
END
$$;
COMMENT ON FUNCTION customer_tracking_citus_node() IS
    'Citus role of this node: coordinator, worker, or NULL when Citus is not installed in this database.';

-- Joins shop_orders on the shop too (Citus joins distributed tables on their distribution column).
CREATE OR REPLACE FUNCTION customer_purchase_history(p_customer_id uuid)
RETURNS TABLE (order_id uuid, created_at timestamptz, amount numeric, network text, slug text,
               payment_status text, purchase_completed boolean, completed_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_shop uuid;
    v_id name := (SELECT c.column_name FROM @extschema@.customer_tracking_columns() c WHERE c.field = 'id');
    v_status name := (SELECT c.column_name FROM @extschema@.customer_tracking_columns() c WHERE c.field = 'payment_status');
    v_shop_col name := (SELECT c.column_name FROM @extschema@.customer_tracking_columns() c WHERE c.field = 'shop_id');
    v_has_status boolean;
BEGIN
    SELECT c.shop_id INTO v_shop FROM @extschema@.shop_customers c WHERE c.id = p_customer_id;
    IF v_shop IS NULL THEN
        RETURN;   -- no such customer, or not the caller's
    END IF;
    v_has_status := v_status <> '' AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = '@extschema@.shop_orders'::regclass AND a.attname = v_status AND NOT a.attisdropped);
    RETURN QUERY EXECUTE format($q$
        SELECT t.shop_order_id, t.accessed_at, t.purchase_amount, t.network::text, t.accessed_via_slug::text,
               %s, t.purchase_completed, t.completed_at
          FROM @extschema@.customer_tracking t
          LEFT JOIN @extschema@.shop_orders o ON o.%I = t.shop_order_id AND o.%I = t.shop_id
         WHERE t.shop_customer_id = $1 AND t.shop_id = $2
         ORDER BY t.accessed_at DESC, t.id DESC$q$,
        CASE WHEN v_has_status THEN format('o.%I::text', v_status) ELSE 'NULL::text' END, v_id, v_shop_col)
    USING p_customer_id, v_shop;
END
$$;

--------------------------------------------------------------------------------
-- Citus: distributing the host tables and the extension's by shop
-- (issue 11; groundwork). On a Citus coordinator, customer_tracking_distribute()
-- makes user_shops a reference table, distributes shop_orders by its shop
-- column and the extension's tables by shop_id colocated with it
-- (customer_tracking_settings, which holds no shop, becomes a reference table).
-- customer_tracking_distribution_problems() lists what must change first.
--------------------------------------------------------------------------------
-- The extension's tables and how each is distributed: 'reference' or 'shop' (by shop_id,
-- colocated with shop_orders), in the order customer_tracking_distribute() distributes them.
CREATE FUNCTION customer_tracking_distributed_tables(OUT table_name name, OUT method text)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    VALUES ('customer_tracking_settings'::name, 'reference'),
           ('shop_customers', 'shop'),
           ('customer_tracking', 'shop'),
           ('customer_tracking_slug_customers', 'shop'),
           ('customer_tracking_issues', 'shop'),
           ('customer_tracking_shop_totals', 'shop'),
           ('customer_tracking_daily', 'shop'),
           ('customer_tracking_slug_daily', 'shop'),
           ('customer_tracking_network_totals', 'shop'),
           ('customer_tracking_frequency', 'shop')
$$;

-- Everything that keeps customer_tracking_distribute() from distributing, one row per change to
-- make (fix: the statement, or what to do). Empty when it can run. Only on a Citus coordinator.
CREATE FUNCTION customer_tracking_distribution_problems()
RETURNS TABLE (table_name regclass, problem text, fix text)
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_orders regclass := to_regclass('@extschema@.shop_orders');
    v_shops regclass := to_regclass('@extschema@.user_shops');
    v_shop_col name := (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'shop_id');
    v_rel regclass;
    v_method text;
    v_col name;
    v_kind text;
    v_dist_col name;
    v_ext regclass[];
    v_colocated regclass[];
    r record;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        table_name := NULL;
        problem := 'Citus is not installed in this database';
        fix := 'CREATE EXTENSION citus; (with citus in shared_preload_libraries), then add the workers';
        RETURN NEXT;
        RETURN;
    END IF;
    IF (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g) <> 0 THEN
        table_name := NULL;
        problem := 'this node is a Citus worker';
        fix := 'run customer_tracking_distribute() on the coordinator';
        RETURN NEXT;
        RETURN;
    END IF;
    IF v_orders IS NULL OR v_shops IS NULL THEN
        table_name := NULL;
        problem := 'the host tables are missing';
        fix := 'create user_shops and shop_orders and run SELECT customer_tracking_attach();';
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT array_agg(format('%I.%I', '@extschema@', d.table_name)::regclass) INTO v_ext
      FROM customer_tracking_distributed_tables() d;
    -- Tables that are (or will be) distributed by shop, colocated with shop_orders.
    v_colocated := v_ext || v_orders;

    -- What each table is now, and must become.
    FOR v_rel, v_method, v_col IN
        SELECT v_shops, 'reference', NULL::name
        UNION ALL SELECT v_orders, 'shop', v_shop_col
        UNION ALL SELECT format('%I.%I', '@extschema@', d.table_name)::regclass, d.method,
                         CASE WHEN d.method = 'shop' THEN 'shop_id'::name END
                    FROM customer_tracking_distributed_tables() d
    LOOP
        SELECT CASE WHEN p.partmethod = 'h' THEN 'distributed'
                    WHEN p.partmethod = 'n' AND p.repmodel = 't' THEN 'reference'
                    WHEN p.partmethod = 'n' THEN 'citus local'
                    ELSE 'distributed (' || p.partmethod::text || ')' END,
               CASE WHEN p.partmethod = 'h' THEN column_to_column_name(p.logicalrelid, p.partkey)::name END
          INTO v_kind, v_dist_col
          FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = v_rel;
        IF v_method = 'reference' AND v_kind IS NOT NULL AND v_kind NOT IN ('reference', 'citus local') THEN
            RETURN QUERY SELECT v_rel, format('%s is a %s table; it must be a reference table', v_rel, v_kind),
                                format('SELECT undistribute_table(%L);', v_rel::text);
        END IF;
        IF v_method = 'shop' AND v_kind IS NOT NULL AND v_kind NOT IN ('citus local')
           AND (v_kind <> 'distributed' OR v_dist_col <> v_col) THEN
            RETURN QUERY SELECT v_rel, format('%s is a %s table%s; it must be distributed by %I', v_rel, v_kind,
                                              CASE WHEN v_dist_col IS NOT NULL THEN format(' by %I', v_dist_col) ELSE '' END, v_col),
                                CASE WHEN v_kind = 'distributed' THEN format('SELECT alter_distributed_table(%L, %L);', v_rel::text, v_col)
                                     ELSE format('SELECT undistribute_table(%L);', v_rel::text) END;
        END IF;
        CONTINUE WHEN v_method <> 'shop' OR v_kind = 'distributed';

        -- Citus: every unique constraint, unique index and exclusion constraint of a distributed
        -- table includes the distribution column.
        FOR r IN
            SELECT i.indexrelid::regclass AS idx, c.conname, c.contype,
                   (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
                      FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(att, n)
                      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.att
                     WHERE k.n <= i.indnkeyatts) AS cols,
                   (SELECT bool_or(k.att = 0) FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(att, n)
                     WHERE k.n <= i.indnkeyatts) AS has_expression
              FROM pg_catalog.pg_index i
              LEFT JOIN pg_catalog.pg_constraint c
                ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')
             WHERE i.indrelid = v_rel AND (i.indisunique OR c.contype = 'x')
               AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(att, n)
                                WHERE k.n <= i.indnkeyatts
                                  AND k.att = (SELECT a.attnum FROM pg_catalog.pg_attribute a
                                                WHERE a.attrelid = v_rel AND a.attname = v_col AND NOT a.attisdropped))
             ORDER BY c.contype = 'p' DESC, 1::text
        LOOP
            table_name := v_rel;
            problem := format('%s %s (%s) does not include %I (Citus: every unique key of a distributed table includes its distribution column)',
                              CASE r.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique constraint'
                                             WHEN 'x' THEN 'exclusion constraint' ELSE 'unique index' END,
                              coalesce(quote_ident(r.conname), r.idx::text), r.cols, v_col);
            IF v_rel <> v_orders THEN
                fix := 'a customer_tracking version whose keys include shop_id (ALTER EXTENSION customer_tracking UPDATE)';
            ELSIF r.contype = 'p' THEN
                -- Two statements: Citus refuses ADD CONSTRAINT with other subcommands once the table is in its metadata.
                fix := format('ALTER TABLE %s DROP CONSTRAINT %I; ALTER TABLE %s ADD PRIMARY KEY (%s, %I);',
                              v_rel, r.conname, v_rel, r.cols, v_col);
            ELSIF r.contype = 'u' THEN
                fix := format('ALTER TABLE %s DROP CONSTRAINT %I; ALTER TABLE %s ADD CONSTRAINT %I UNIQUE (%s, %I);',
                              v_rel, r.conname, v_rel, r.conname, r.cols, v_col);
            ELSIF r.contype = 'x' THEN
                fix := format('recreate %I with %I WITH = among its elements, or drop it', r.conname, v_col);
            ELSIF r.has_expression THEN
                fix := format('DROP INDEX %s; then create it again with %I among its key columns', r.idx, v_col);
            ELSE
                fix := format('DROP INDEX %s; CREATE UNIQUE INDEX %I ON %s (%s, %I);',
                              r.idx, (SELECT relname FROM pg_catalog.pg_class WHERE oid = r.idx), v_rel, r.cols, v_col);
            END IF;
            RETURN NEXT;
        END LOOP;

        -- Citus: no subqueries in the policies of a distributed table.
        FOR r IN
            SELECT p.polname FROM pg_catalog.pg_policy p
             WHERE p.polrelid = v_rel
               AND (p.polqual::text LIKE '%{SUBLINK %' OR p.polwithcheck::text LIKE '%{SUBLINK %')
             ORDER BY 1
        LOOP
            table_name := v_rel;
            problem := format('policy %I has a subquery (Citus: subqueries are not supported in policies on distributed tables)',
                              r.polname);
            fix := CASE WHEN v_rel = v_orders
                        THEN format('rewrite policy %I without a subquery (e.g. call a function)', r.polname)
                        ELSE 'a customer_tracking version whose policies have no subquery (ALTER EXTENSION customer_tracking UPDATE)' END;
            RETURN NEXT;
        END LOOP;
    END LOOP;

    -- The distribution column's type: colocation needs the same type everywhere.
    IF (SELECT a.atttypid FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_orders AND a.attname = v_shop_col AND NOT a.attisdropped) <> 'uuid'::regtype THEN
        RETURN QUERY SELECT v_orders,
            format('shop_orders.%I is not a uuid: the extension''s tables, colocated with shop_orders, are distributed by uuid shop_id', v_shop_col),
            format('ALTER TABLE %s ALTER COLUMN %I TYPE uuid USING %I::uuid;', v_orders, v_shop_col, v_shop_col);
    END IF;

    -- Foreign keys. Citus: a key between distributed tables joins colocated tables on the
    -- distribution column; a distributed or reference table may reference a reference table
    -- (and so may a local table, which Citus then adds to its metadata); nothing references a
    -- distributed table from outside its colocation group; a reference table references only
    -- reference tables; and a key including the distribution column neither SETs NULL/DEFAULT on
    -- delete nor SETs or CASCADEs on update.
    FOR r IN
        SELECT c.conname, c.conrelid::regclass AS src, c.confrelid::regclass AS dst, c.confdeltype, c.confupdtype,
               (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
                  FROM unnest(c.conkey) WITH ORDINALITY k(att, n)
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att) AS cols,
               (SELECT p.partmethod::text || p.repmodel::text FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = c.confrelid) AS dst_kind,
               (SELECT p.partmethod::text || p.repmodel::text FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = c.conrelid) AS src_kind
          FROM pg_catalog.pg_constraint c
         WHERE c.contype = 'f'
           AND (c.conrelid IN (v_orders, v_shops) OR c.confrelid = v_orders
                OR c.conrelid = ANY (v_ext) OR c.confrelid = ANY (v_ext))
         ORDER BY 2::text, 1
    LOOP
        table_name := r.src;
        IF r.src = v_shops AND r.dst <> v_shops AND r.dst <> ALL (v_ext) AND coalesce(r.dst_kind, '') <> 'nt' THEN
            problem := format('foreign key %I references %s, which is not a reference table (Citus: a reference table references only reference tables)',
                              r.conname, r.dst);
            fix := format('SELECT create_reference_table(%L); or ALTER TABLE %s DROP CONSTRAINT %I;', r.dst::text, r.src, r.conname);
            RETURN NEXT;
        ELSIF r.dst = v_orders AND r.src <> ALL (v_colocated) AND coalesce(r.src_kind, '') NOT LIKE 'h%' THEN
            problem := format('foreign key %I references shop_orders (Citus: only tables distributed by shop, colocated with shop_orders, may reference it)',
                              r.conname);
            fix := format('distribute %s by its shop column with colocate_with => %L and make the key include it, or ALTER TABLE %s DROP CONSTRAINT %I;',
                          r.src, v_orders::text, r.src, r.conname);
            RETURN NEXT;
        ELSIF r.src = ANY (v_colocated) AND r.dst <> v_shops AND r.dst <> ALL (v_colocated)
              AND coalesce(r.dst_kind, '') NOT IN ('nt') AND coalesce(r.dst_kind, '') NOT LIKE 'h%' THEN
            problem := format('foreign key %I references %s, a local table (Citus: a distributed table references only reference tables and colocated tables)',
                              r.conname, r.dst);
            fix := format('SELECT create_reference_table(%L); or ALTER TABLE %s DROP CONSTRAINT %I;', r.dst::text, r.src, r.conname);
            RETURN NEXT;
        ELSIF r.src = ANY (v_colocated) AND r.dst = ANY (v_colocated)
              AND NOT (CASE WHEN r.src = v_orders THEN v_shop_col ELSE 'shop_id' END)::text = ANY (string_to_array(replace(r.cols, '"', ''), ', ')) THEN
            problem := format('foreign key %I (%s) between tables distributed by shop does not include the shop column', r.conname, r.cols);
            fix := CASE WHEN r.src = ANY (v_ext) THEN 'a customer_tracking version whose keys include shop_id (ALTER EXTENSION customer_tracking UPDATE)'
                        ELSE format('ALTER TABLE %s DROP CONSTRAINT %I; then add it again with the shop column', r.src, r.conname) END;
            RETURN NEXT;
        END IF;
        IF r.src = ANY (v_colocated)
           AND (CASE WHEN r.src = v_orders THEN v_shop_col ELSE 'shop_id' END)::text = ANY (string_to_array(replace(r.cols, '"', ''), ', '))
           AND (r.confdeltype IN ('n', 'd') OR r.confupdtype IN ('n', 'd', 'c')) THEN
            problem := format('foreign key %I (%s) includes the shop column and has ON %s %s (Citus: not with the distribution column)',
                              r.conname, r.cols, CASE WHEN r.confdeltype IN ('n', 'd') THEN 'DELETE' ELSE 'UPDATE' END,
                              CASE WHEN r.confdeltype = 'n' OR (r.confdeltype NOT IN ('n', 'd') AND r.confupdtype = 'n') THEN 'SET NULL'
                                   WHEN r.confdeltype = 'd' OR r.confupdtype = 'd' THEN 'SET DEFAULT' ELSE 'CASCADE' END);
            fix := CASE WHEN r.src = ANY (v_ext) THEN 'a customer_tracking version without that action (ALTER EXTENSION customer_tracking UPDATE)'
                        ELSE format('ALTER TABLE %s DROP CONSTRAINT %I; then add it again with ON DELETE CASCADE, RESTRICT or NO ACTION (and no ON UPDATE action)', r.src, r.conname) END;
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_tracking_distribution_problems() IS
    'What keeps customer_tracking_distribute() from distributing on this Citus cluster: one row per change '
    'to make first, with the statement (or what to do). No rows when it can run.';

-- Distributes, on a Citus coordinator, whatever of the host tables and the extension's is still
-- local, in one transaction: user_shops (reference table), customer_tracking_settings
-- (reference), shop_orders (by its shop column), then the extension's tables by shop_id,
-- colocated with shop_orders. Fails with one message naming every change needed first.
CREATE FUNCTION customer_tracking_distribute()
RETURNS TABLE (table_name regclass, distribution text, action text)
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    -- By name, never by OID: Citus replaces a table by a new one of the same name when it adds
    -- it to its metadata (making user_shops a reference table turns shop_orders, which
    -- references it, into a "Citus local" table: the old OID is then its shard).
    v_orders text := format('%I.shop_orders', '@extschema@');
    v_shops text := format('%I.user_shops', '@extschema@');
    v_shop_col name := (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'shop_id');
    v_problems text;
    v_rel text;
    v_method text;
    v_kind text;
    v_done text[] := '{}';
    v_triggers text[];
    v_trigger text;
BEGIN
    SELECT string_agg(format('%s- %s%s: %s', E'\n', coalesce(p.table_name::text || ': ', ''), p.problem, p.fix), '' ORDER BY n)
      INTO v_problems
      FROM customer_tracking_distribution_problems() WITH ORDINALITY AS p(table_name, problem, fix, n);
    IF v_problems IS NOT NULL THEN
        RAISE EXCEPTION 'customer_tracking: cannot distribute yet; change first:%', v_problems
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'SELECT * FROM customer_tracking_distribution_problems(); lists them. Nothing was changed.';
    END IF;

    -- No order, shop or tracking write while the tables move: the derived rows are copied
    -- consistent with the orders. shop_orders first: a transaction writing orders writes the
    -- extension's tables at its commit.
    EXECUTE format('LOCK TABLE %s, %s IN EXCLUSIVE MODE', v_shops, v_orders);
    FOR v_rel IN SELECT format('%I.%I', '@extschema@', d.table_name) FROM customer_tracking_distributed_tables() d LOOP
        EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE', v_rel);
    END LOOP;

    -- Citus refuses triggers on distributed tables without it (and creates them on every shard).
    PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
    -- The tracking triggers stay off while the tables move: copying the orders into the shards
    -- of shop_orders would fire them there, and truncating the coordinator's local copy of
    -- shop_orders (truncate_local_data_after_distributing_table) would fire the TRUNCATE trigger,
    -- which empties the (then distributed) tracking tables. The copied extension tables already
    -- count every order.
    SELECT array_agg(t.tgname::text) INTO v_triggers
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid = v_orders::regclass AND t.tgenabled <> 'D'
       AND t.tgname IN ('customer_tracking_link', 'customer_tracking_track', 'customer_tracking_truncate');
    FOREACH v_trigger IN ARRAY coalesce(v_triggers, '{}') LOOP
        EXECUTE format('ALTER TABLE %s DISABLE TRIGGER %I', v_orders, v_trigger);
    END LOOP;

    FOR v_rel, v_method IN
        SELECT v_shops, 'reference'
        UNION ALL
        SELECT format('%I.%I', '@extschema@', d.table_name), d.method
          FROM customer_tracking_distributed_tables() d WHERE d.method = 'reference'
        UNION ALL SELECT v_orders, 'shop'
        UNION ALL
        SELECT format('%I.%I', '@extschema@', d.table_name), d.method
          FROM customer_tracking_distributed_tables() d WHERE d.method = 'shop'
    LOOP
        SELECT CASE WHEN p.partmethod = 'h' THEN 'shop' WHEN p.repmodel = 't' THEN 'reference' END
          INTO v_kind FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = v_rel::regclass;
        distribution := CASE WHEN v_method = 'reference' THEN 'reference'
                             WHEN v_rel = v_orders THEN format('by %I', v_shop_col)
                             ELSE format('by shop_id, colocated with %s', v_orders) END;
        IF v_kind IS NOT DISTINCT FROM v_method THEN
            action := 'already';
        ELSIF v_method = 'reference' THEN
            PERFORM create_reference_table(v_rel::regclass);
            v_done := v_done || v_rel;
            action := 'distributed';
        ELSIF v_rel = v_orders THEN
            PERFORM create_distributed_table(v_rel::regclass, v_shop_col::text);
            v_done := v_done || v_rel;
            action := 'distributed';
        ELSE
            PERFORM create_distributed_table(v_rel::regclass, 'shop_id', colocate_with => v_orders);
            v_done := v_done || v_rel;
            action := 'distributed';
        END IF;
        table_name := v_rel::regclass;
        RETURN NEXT;
    END LOOP;

    -- The coordinator's local copies of the moved rows (Citus leaves them on disk, unread).
    -- Referencing tables first (truncating user_shops's copy cascades to shop_orders's).
    FOR v_rel IN SELECT u.t FROM unnest(v_done) WITH ORDINALITY u(t, n) ORDER BY u.t = v_shops, u.n DESC LOOP
        PERFORM truncate_local_data_after_distributing_table(v_rel::regclass);
    END LOOP;

    FOREACH v_trigger IN ARRAY coalesce(v_triggers, '{}') LOOP
        EXECUTE format('ALTER TABLE %s ENABLE TRIGGER %I', v_orders, v_trigger);
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_tracking_distribute() IS
    'On a Citus coordinator: makes user_shops and customer_tracking_settings reference tables, distributes '
    'shop_orders by shop and the extension''s tables by shop_id colocated with it (those still local), '
    'in one transaction. Fails with one message naming every change needed first '
    '(customer_tracking_distribution_problems()).';
REVOKE EXECUTE ON FUNCTION customer_tracking_distribution_problems(), customer_tracking_distribute() FROM PUBLIC;
DO $revoke$
DECLARE
    r record;
BEGIN
    -- Also from roles that default privileges granted EXECUTE to.
    FOR r IN
        SELECT DISTINCT p.oid::regprocedure AS fn, a.grantee::regrole AS grantee
          FROM pg_catalog.pg_proc p, LATERAL pg_catalog.aclexplode(p.proacl) a
         WHERE p.pronamespace = '@extschema@'::regnamespace AND a.grantee <> 0 AND a.grantee <> p.proowner
           AND p.proname IN ('customer_tracking_distribution_problems', 'customer_tracking_distribute')
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %s', r.fn, r.grantee);
    END LOOP;
END
$revoke$;
