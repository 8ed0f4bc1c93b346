--------------------------------------------------------------------------------
-- Recomputation, verification and backfill
--------------------------------------------------------------------------------
#include "functions/customer_tracking_recompute.sql"

--------------------------------------------------------------------------------
-- Backfill and verify of a store with history: src/backfill.cpp.
-- Set-based, in chunks of whole shops; progress in customer_tracking_progress.
--------------------------------------------------------------------------------
#include "functions/customer_tracking_backfill_decode.sql"

#include "functions/customer_tracking_backfill_orders.sql"

#include "functions/customer_tracking_lock_shops.sql"

#include "functions/customer_tracking_progress_begin.sql"
#include "functions/customer_tracking_progress_set.sql"
#include "functions/customer_tracking_progress_end.sql"
#include "functions/customer_tracking_progress_info.sql"

-- In the style of pg_stat_progress_*: one row per backend running a backfill or verify (values
-- NULL for backends of roles the caller may not see, as there).
CREATE VIEW customer_tracking_progress AS
    SELECT p.pid, p.datid, d.datname, p.relid, p.command, p.phase, p.shops_total, p.shops_done,
           p.orders_total, p.orders_done, p.chunks_total, p.chunks_done, p.started_at
      FROM customer_tracking_progress_info() p
      LEFT JOIN pg_catalog.pg_database d ON d.oid = p.datid;
COMMENT ON VIEW customer_tracking_progress IS
    'Running customer_tracking_backfill(), customer_tracking_backfill_all() and '
    'customer_tracking_verify() calls: phase, shops and orders done of the totals, chunks.';

-- Where customer_tracking_backfill_all() is: a resumed run goes on after last_shop_id.
CREATE TABLE customer_tracking_backfill_state (
    id                 boolean PRIMARY KEY DEFAULT true CHECK (id),
    started_at         timestamptz NOT NULL,
    finished_at        timestamptz,
    chunk_orders       integer NOT NULL,
    last_shop_id       uuid,
    chunks_done        bigint NOT NULL DEFAULT 0,
    shops_done         bigint NOT NULL DEFAULT 0,
    orders_done        bigint NOT NULL DEFAULT 0,
    orders_retracked   bigint NOT NULL DEFAULT 0,
    customers_repaired bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE customer_tracking_backfill_state IS
    'The last run of customer_tracking_backfill_all(): committed with each chunk, so that a run '
    'cancelled or failed goes on after last_shop_id when called again.';
-- Maintenance only: no role but the owner reads or writes either (default privileges included).
REVOKE ALL ON customer_tracking_backfill_state, customer_tracking_progress FROM PUBLIC;
DO $revoke$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT DISTINCT c.oid::regclass AS rel, a.grantee::regrole AS grantee
          FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) a
         WHERE c.relnamespace = '@extschema@'::regnamespace AND a.grantee <> 0 AND a.grantee <> c.relowner
           AND c.relname IN ('customer_tracking_backfill_state', 'customer_tracking_progress')
    LOOP
        EXECUTE format('REVOKE ALL ON %s FROM %s', r.rel, r.grantee);
    END LOOP;
END
$revoke$;

#include "functions/customer_tracking_tracked_shops.sql"

#include "functions/customer_tracking_backfill_chunks.sql"

#include "functions/customer_tracking_backfill_customers.sql"

#include "functions/customer_tracking_orders_distributed.sql"

#include "functions/customer_tracking_problems_of.sql"


#include "functions/customer_tracking_expected_orders.sql"

#include "functions/customer_tracking_problems.sql"

#include "functions/customer_tracking_verify_rollups.sql"

#include "functions/customer_tracking_verify.sql"

#include "functions/customer_tracking_repair_rollups.sql"

#include "functions/customer_tracking_backfill_shop.sql"

#include "functions/customer_tracking_backfill.sql"

#include "functions/customer_tracking_backfill_all.sql"


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
