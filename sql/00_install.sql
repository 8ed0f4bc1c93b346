-- Installing on a database without the host tables fails with one message naming all of them.
SET client_min_messages = warning;
CREATE SCHEMA empty_app;
CREATE EXTENSION customer_tracking SCHEMA empty_app;
CREATE TABLE empty_app.user_shops (id uuid PRIMARY KEY);
CREATE TABLE empty_app.shop_orders (id uuid PRIMARY KEY, shop_id uuid, total_price numeric);
CREATE EXTENSION customer_tracking SCHEMA empty_app;
DROP SCHEMA empty_app CASCADE;

-- The host application's schema, then the extension on top of it.
\i test/fixtures/host-schema.sql
CREATE EXTENSION customer_tracking;
SELECT extname, extversion, nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'customer_tracking';

-- What it created and attached.
SELECT c.relname, c.relrowsecurity
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'customer_tracking')
   AND d.classid = 'pg_class'::regclass AND c.relkind IN ('r', 'v')
 ORDER BY 1;
SELECT indexrelid::regclass AS index FROM pg_index
 WHERE indrelid IN ('shop_customers'::regclass, 'customer_tracking'::regclass, 'shop_orders'::regclass)
 ORDER BY 1::text;
SELECT conname, conrelid::regclass, confrelid::regclass, condeferred
  FROM pg_constraint WHERE contype = 'f' AND conrelid IN ('shop_orders'::regclass, 'customer_tracking'::regclass)
 ORDER BY 1;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'shop_orders'::regclass AND NOT tgisinternal ORDER BY 1;
SELECT polname, polrelid::regclass, polcmd FROM pg_policy ORDER BY polname, polrelid::regclass::text;
-- Data of the extension's tables is dumped.
SELECT extconfig::regclass[] FROM pg_extension WHERE extname = 'customer_tracking';
-- Attaching again is a no-op.
SELECT customer_tracking_attach();

-- Customer ids are name-based UUIDs (v5) of (shop, E.164 phone).
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
SELECT customer_tracking_customer_id('11111111-1111-1111-1111-111111111111', '+233241234567')
     = uuid_generate_v5('11111111-1111-1111-1111-111111111111', '+233241234567') AS matches_uuid_v5;
DROP EXTENSION "uuid-ossp";
RESET client_min_messages;

-- Before their first ANALYZE the extension's tables look large to the planner
-- (src/estimates.cpp), so the trigger's keyed lookups, planned once per session, use the
-- primary key and not an index that starts with shop_id (which would cost O(customers of the
-- shop) per order through a first backfill or the first hours after install).
SELECT relname, reltuples < 0 AS never_analyzed FROM pg_class
 WHERE relname IN ('shop_customers', 'customer_tracking') ORDER BY 1;
SELECT normalize_phone('0241234567') IS NOT NULL AS library_loaded;
SET plan_cache_mode = force_generic_plan;
PREPARE ct_customer(uuid, uuid) AS SELECT id FROM shop_customers WHERE id = $1 AND shop_id = $2 FOR UPDATE;
EXPLAIN (COSTS OFF) EXECUTE ct_customer('11111111-1111-1111-1111-111111111111', '11111111-1111-1111-1111-111111111111');
PREPARE ct_ledger(uuid, uuid) AS SELECT id FROM customer_tracking WHERE id = $1 AND shop_id = $2;
EXPLAIN (COSTS OFF) EXECUTE ct_ledger('11111111-1111-1111-1111-111111111111', '11111111-1111-1111-1111-111111111111');
PREPARE ct_history(uuid, uuid) AS SELECT id FROM customer_tracking WHERE shop_customer_id = $1 AND shop_id = $2;
EXPLAIN (COSTS OFF) EXECUTE ct_history('11111111-1111-1111-1111-111111111111', '11111111-1111-1111-1111-111111111111');
DEALLOCATE ALL;
RESET plan_cache_mode;
