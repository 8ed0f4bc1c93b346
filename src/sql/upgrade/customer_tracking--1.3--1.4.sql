-- customer_tracking 1.3 -> 1.4.

\echo Use "ALTER EXTENSION customer_tracking UPDATE TO '1.4'" to load this file. \quit

#include "functions/customer_tracking_set_audience.sql"
#include "functions/customer_tracking_set_table_audience.sql"
#include "functions/customer_tracking_require_read.sql"

--------------------------------------------------------------------------------
-- Write path: orders are counted at commit, customers locked in id order (no
-- deadlock, no wait on another transaction's open order). The foreign keys to
-- shop_customers (from shop_orders and customer_tracking) and the statement-level
-- flush trigger go: a customer's row is written at commit.
--------------------------------------------------------------------------------
#include "functions/customer_tracking_apply_pending.sql"

#include "functions/customer_tracking_attach.sql"

DO $attach$
BEGIN
    IF to_regclass('@extschema@.shop_orders') IS NOT NULL THEN
        ALTER TABLE @extschema@.shop_orders DROP CONSTRAINT IF EXISTS shop_orders_shop_customer_id_fkey;
        DROP TRIGGER IF EXISTS customer_tracking_flush ON @extschema@.shop_orders;
    END IF;
END
$attach$;
ALTER TABLE @extschema@.customer_tracking DROP CONSTRAINT IF EXISTS customer_tracking_shop_customer_id_fkey;

-- Keys include shop_id, so that the tables can be distributed by shop (Citus).
ALTER TABLE @extschema@.shop_customers DROP CONSTRAINT shop_customers_pkey,
    ADD CONSTRAINT shop_customers_pkey PRIMARY KEY (id, shop_id);
ALTER TABLE @extschema@.customer_tracking DROP CONSTRAINT customer_tracking_pkey,
    ADD CONSTRAINT customer_tracking_pkey PRIMARY KEY (id, shop_id);

--------------------------------------------------------------------------------
-- Host DDL never crashes nor silently changes what
-- counts (DDL guard, drift reported by customer_tracking_host_state() and _health()),
-- one parser of every setting (customer_tracking_decode_order(): the trigger's own
-- reading of an order, used by verify, backfill and the expected orders), one clock
-- for naive creation times (setting naive_time_zone, default UTC), one spelling of
-- network names (trimmed, ASCII upper case). Run customer_tracking_backfill() after
-- the update if a status list has inner spaces or empty entries or created_at is a
-- timestamp/date column (see the README's upgrade notes).
--------------------------------------------------------------------------------
ALTER TABLE customer_tracking_settings DROP CONSTRAINT customer_tracking_settings_setting_check;
ALTER TABLE customer_tracking_settings ADD CONSTRAINT customer_tracking_settings_setting_check
    CHECK (setting IN ('paid_statuses', 'unpaid_statuses', 'naive_time_zone') OR setting LIKE 'column:%');
COMMENT ON TABLE customer_tracking_settings IS
    'customer_tracking configuration: column:<field> maps a shop_orders field to a column '
    '(empty value = the column does not exist); paid_statuses / unpaid_statuses are '
    'comma-separated, case-insensitive status lists; naive_time_zone is the zone timestamp/date '
    'creation times are read in (default UTC). Change through customer_tracking_map_column() / '
    'customer_tracking_set_statuses() / customer_tracking_set_naive_time_zone().';

#include "functions/customer_tracking_decode_order.sql"

#include "functions/customer_tracking_host_state.sql"

#include "functions/customer_tracking_status_list.sql"

#include "functions/customer_tracking_status_class.sql"

#include "functions/customer_tracking_network_name.sql"

#include "functions/customer_tracking_valid_time_zone.sql"

#include "functions/customer_tracking_ddl_guard.sql"

#include "functions/customer_tracking_statuses.sql"

#include "functions/customer_tracking_check_host.sql"

#include "functions/customer_tracking_set_statuses.sql"

#include "functions/customer_tracking_set_naive_time_zone.sql"

#include "functions/customer_tracking_expected_orders.sql"

-- Every stored value that differs from a recomputation from shop_orders: links, tracking rows
-- and customer stats (when p_customers), and rollup rows (sums over stripes). One pass over the
-- orders serves both, so customer_tracking_verify() recomputes them once.

-- Links and counts orders that are unlinked or inconsistent; idempotent.
#include "functions/customer_tracking_backfill_shop.sql"

COMMENT ON FUNCTION customer_tracking_backfill(uuid) IS
    'Links and counts orders that predate the extension or were left unlinked, and repairs any '
    'customer whose stats disagree with its orders. Idempotent; safe while orders arrive. '
    'Returns per shop: orders re-tracked now, orders linked and untracked in total, customers repaired.';

-- A new result column (host_drift): replaced, not altered.
DROP FUNCTION customer_tracking_health();
#include "functions/customer_tracking_health.sql"

-- The DDL guard (src/host_guard.cpp).
CREATE EVENT TRIGGER customer_tracking_ddl_guard_start ON ddl_command_start
    EXECUTE FUNCTION customer_tracking_ddl_guard();
CREATE EVENT TRIGGER customer_tracking_ddl_guard_end ON ddl_command_end
    EXECUTE FUNCTION customer_tracking_ddl_guard();

-- Network names in their one spelling: the tracking rows, then the customers and rollups derived
-- from them (exact afterwards, as a recomputation from shop_orders gives them).
DO $networks$
DECLARE
    v_pairs text[];
    v_pair text;
    v_shop uuid;
BEGIN
    IF to_regclass('@extschema@.shop_orders') IS NULL THEN
        RETURN;
    END IF;
    WITH changed AS (
        UPDATE @extschema@.customer_tracking t
           SET network = @extschema@.customer_tracking_network_name(t.network)
         WHERE t.network IS DISTINCT FROM @extschema@.customer_tracking_network_name(t.network)
        RETURNING t.shop_id, t.shop_customer_id
    )
    SELECT coalesce(array_agg(DISTINCT c.shop_id::text || ' ' || c.shop_customer_id::text), '{}')
      INTO v_pairs FROM changed c;
    FOREACH v_pair IN ARRAY v_pairs LOOP
        PERFORM @extschema@.customer_tracking_recompute(split_part(v_pair, ' ', 1)::uuid,
                                                        split_part(v_pair, ' ', 2)::uuid);
    END LOOP;
    FOR v_shop IN SELECT DISTINCT split_part(p, ' ', 1)::uuid FROM unnest(v_pairs) p LOOP
        PERFORM @extschema@.customer_tracking_repair_rollups(v_shop);
    END LOOP;
END
$networks$;

--------------------------------------------------------------------------------
-- Definer rights and roles.
--   * customer_tracking_owned_shops() (what every row-level security policy calls) is no
--     longer SECURITY DEFINER: the owner lookup (Supabase's auth.uid(), which another role
--     owns and may replace) runs with the caller's rights, then user_shops is read with the
--     rights of the function's owner (C, src/owner.cpp). A superuser caller runs auth.uid()
--     only while a superuser owns it.
--   * Dashboard functions are callable by the roles that may read the extension's tables
--     (Supabase: authenticated, service_role; elsewhere everyone), so any other role gets a
--     permission error naming the function. shop_customer_list() and
--     customer_purchase_history() (PL/pgSQL: an error inside would quote their statements as
--     context) check up front that the caller may read what they read, the latter also the
--     shop_orders columns it shows, with the same kind of error.
--------------------------------------------------------------------------------
-- The Supabase variant of the owner lookup (the JWT variant calls nothing of another role).
#include "functions/customer_tracking_current_owner.sql"

#include "functions/customer_tracking_owned_shops.sql"

#include "functions/customer_tracking_customer_page.sql"
#include "functions/shop_customer_list.sql"

-- customer_purchase_history(): replaced below (Citus section), with these checks.

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
#include "functions/customer_tracking_citus_node.sql"

-- Joins shop_orders on the shop too (Citus joins distributed tables on their distribution column).
#include "functions/customer_purchase_history.sql"

--------------------------------------------------------------------------------
-- Citus: distributing the host tables and the extension's by shop. On a Citus coordinator, customer_tracking_distribute()
-- makes user_shops a reference table, distributes shop_orders by its shop
-- column and the extension's tables by shop_id colocated with it
-- (customer_tracking_settings, which holds no shop, becomes a reference table).
-- customer_tracking_distribution_problems() lists what must change first.
--------------------------------------------------------------------------------
#include "functions/customer_tracking_distributed_tables.sql"

#include "functions/customer_tracking_distribution_problems.sql"

#include "functions/customer_tracking_distribute.sql"

--------------------------------------------------------------------------------
-- Citus: the row-level security policies call
-- customer_tracking_owned_shops() as an expression, without a subquery (Citus
-- refuses subqueries in the policies of distributed tables); the function keeps
-- its result for the rest of the statement (src/owner.cpp), so a scan still
-- looks the owner up once, and has no SET clause (replaced above).
--------------------------------------------------------------------------------
ALTER POLICY shop_customers_owner_select ON shop_customers
    USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
ALTER POLICY customer_tracking_owner_select ON customer_tracking
    USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
ALTER POLICY customer_tracking_issues_owner_select ON customer_tracking_issues
    USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
ALTER POLICY owner_select ON customer_tracking_slug_customers
    USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
ALTER POLICY owner_select ON customer_tracking_shop_totals
    USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
ALTER POLICY owner_select ON customer_tracking_daily
    USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
ALTER POLICY owner_select ON customer_tracking_slug_daily
    USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
ALTER POLICY owner_select ON customer_tracking_network_totals
    USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
ALTER POLICY owner_select ON customer_tracking_frequency
    USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));

--------------------------------------------------------------------------------
-- Citus: the dashboard functions written in SQL and customer_tracking_problems()
-- (what verify reads) are PL/pgSQL: Citus cannot plan a SQL function's statements with
-- parameters through the coordinator; PL/pgSQL's plans it can (same statements, same results;
-- also no planning at every call on one node). Like shop_customer_list(), they check up front
-- that the caller may read what they read. customer_tracking_problems() compares customer
-- columns one by one instead of whole rows (Citus moves no anonymous record types between nodes).
--------------------------------------------------------------------------------
#include "functions/customer_tracking_new_customers.sql"
#include "functions/shop_customer_overview.sql"
#include "functions/shop_slug_analytics.sql"
#include "functions/shop_network_analytics.sql"
-- Their whole numbers are bigint (were integer): a new result type.
DROP FUNCTION shop_purchase_frequency(uuid);
#include "functions/shop_purchase_frequency.sql"
DROP FUNCTION shop_last_purchase_decay(uuid, timestamptz);
#include "functions/shop_last_purchase_decay.sql"
#include "functions/shop_daily_series.sql"

-- Citus: applies the caller's transaction's orders on a worker, when the initiator of a
-- distributed transaction asks for it just before the nodes prepare (src/pending.cpp).
#include "functions/customer_tracking_apply_pending_here.sql"

--------------------------------------------------------------------------------
-- Backfill and verify of a store with history: set-based, in
-- chunks of whole shops, resumable (customer_tracking_backfill_all()), with
-- progress (customer_tracking_progress). Objects as src/sql
-- creates them (same bodies; test/t/001_upgrade.pl compares).
--------------------------------------------------------------------------------

#include "functions/customer_tracking_backfill_decode.sql"

#include "functions/customer_tracking_backfill_orders.sql"

#include "functions/customer_tracking_lock_shops.sql"

#include "functions/customer_tracking_progress_begin.sql"

#include "functions/customer_tracking_progress_set.sql"

#include "functions/customer_tracking_progress_end.sql"

#include "functions/customer_tracking_progress_info.sql"

#include "tables/customer_tracking_progress.sql"

#include "tables/customer_tracking_backfill_state.sql"

#include "functions/customer_tracking_tracked_shops.sql"

#include "functions/customer_tracking_backfill_chunks.sql"

#include "functions/customer_tracking_backfill_customers.sql"

#include "functions/customer_tracking_orders_distributed.sql"

#include "functions/customer_tracking_problems_of.sql"

#include "functions/customer_tracking_problems.sql"

#include "functions/customer_tracking_verify.sql"

#include "functions/customer_tracking_backfill.sql"

#include "functions/customer_tracking_backfill_all.sql"

-- Functions kept from 1.3: the audience 1.4 gives them (the others get theirs from their files).
SELECT customer_tracking_set_audience(f::regprocedure, 'dba')
  FROM unnest(ARRAY['customer_tracking_repair_rollups(uuid)', 'customer_tracking_recompute(uuid, uuid)',
                    'customer_tracking_verify_rollups(uuid)', 'customer_tracking_invalidate()',
                    'customer_tracking_map_column(text, name)']) f;

--------------------------------------------------------------------------------
-- The dashboard surface as PostgREST and client drivers see it. shop_customer_metrics() returns
-- one composite row (1.3's set of one row stays for one version as shop_customer_metrics_rows());
-- shop_customer_list() takes an opaque p_cursor and a tier filter p_tier (its result gained the
-- cursor and tier columns, total_purchases is bigint; it was created above, beside 1.3's signature, dropped here);
-- normalize_phone() names its arguments p_phone and p_region; money has 2 decimals
-- (customer_tracking_money()); the overview as JSON. A function whose result type or argument
-- names change is dropped and created again; its file gives it its audience again.
--------------------------------------------------------------------------------
#include "functions/customer_tracking_money.sql"

#include "types/customer_tracking_metrics.sql"

DROP FUNCTION shop_customer_metrics(uuid, timestamptz);
#include "functions/shop_customer_metrics.sql"

#include "functions/shop_customer_metrics_rows.sql"

#include "functions/shop_customer_overview_json.sql"

DROP FUNCTION normalize_phone(text, text);
#include "functions/normalize_phone.sql"

DROP FUNCTION shop_customer_list(uuid, text, boolean, text, integer, text, uuid);


-- Loyalty codes and referrals (new in 1.4): two optional shop_orders fields, their tables,
-- functions and policies (src/sql/80_codes.sql as a whole: nothing of it existed in 1.3).
#include "functions/customer_tracking_fields.sql"
#include "80_codes.sql"

-- Storefront visits and the funnel per slug (new in 1.4; the install
-- script's concern file, whole: tables, row-level security, grants and functions).
#include "85_visits.sql"

-- Segments, rates, cohorts and seasons (new in 1.4; the install script's concern file, whole:
-- functions and their audience).
#include "75_analytics.sql"

--------------------------------------------------------------------------------
-- Loyalty tiers (the table, its policy and grants, the functions; computed
-- at read, nothing on the write path). customer_tracking_distributed_tables() lists the table
-- above (included earlier in this script).
--------------------------------------------------------------------------------
#include "95_tiers.sql"
