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

#include "tables/customer_tracking_progress.sql"

#include "tables/customer_tracking_backfill_state.sql"

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
