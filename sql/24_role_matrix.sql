-- Roles, consistently: every dashboard, identity and maintenance function, called by
-- anon, authenticated, service_role, a BYPASSRLS backend login role and a plain login role.
-- Each call works (showing what the role may see) or fails with a permission error that names
-- the function, with no internal SQL text in CONTEXT: errors are shown here as a client sees
-- them (VERBOSITY default). In 1.3 a BYPASSRLS login role and anon calling
-- shop_customer_metrics got "permission denied for table customer_tracking_shop_totals" with
-- the function's 2 KB statement as CONTEXT.
-- Part 1: a Supabase-style database (ct_roles; the roles exist at CREATE EXTENSION, so
-- authenticated and service_role are the readers). Part 2: a database without Supabase's
-- roles (contrib_regression: every role is a reader, row-level security decides the rows).
\set VERBOSITY terse
SET client_min_messages = warning;
DROP DATABASE IF EXISTS ct_roles;
CREATE DATABASE ct_roles;
-- Roles are cluster-wide: create the missing ones, marked so that only those are dropped at the end.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES ('anon', 'NOLOGIN NOINHERIT NOBYPASSRLS'), ('authenticated', 'NOLOGIN NOINHERIT NOBYPASSRLS'),
                                   ('service_role', 'NOLOGIN NOINHERIT BYPASSRLS'), ('ct_backend', 'LOGIN BYPASSRLS'),
                                   ('ct_plain', 'LOGIN')) v(name, attributes)
              WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v.name)
    LOOP
        EXECUTE format('CREATE ROLE %I %s', r.name, r.attributes);
        EXECUTE format('COMMENT ON ROLE %I IS %L', r.name, 'customer_tracking test 24_role_matrix');
    END LOOP;
END
$$;

\c ct_roles
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE SCHEMA auth;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid
$$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
\set ECHO none
\i test/fixtures/host-schema.sql
\set ECHO all
ALTER TABLE user_shops ENABLE ROW LEVEL SECURITY;
CREATE POLICY shops_read ON user_shops FOR SELECT TO anon, authenticated USING (true);
ALTER TABLE shop_orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY orders_checkout ON shop_orders FOR INSERT TO anon, authenticated WITH CHECK (true);
CREATE POLICY orders_owner_read ON shop_orders FOR SELECT TO authenticated
    USING (shop_id IN (SELECT s.id FROM user_shops s WHERE s.user_id = auth.uid()));
CREATE EXTENSION customer_tracking;
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('a2400000-0000-0000-0000-00000000000a', 'b2400000-0000-0000-0000-00000000000a', 'kofi-data'),
  ('a2400000-0000-0000-0000-00000000000b', 'b2400000-0000-0000-0000-00000000000b', 'ama-bundles');
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c2400000-0000-0000-0000-000000000001', 'a2400000-0000-0000-0000-00000000000a', 'Ama',   '0241234567', 'MTN',     10.00, 'paid',    'kofi-data', '2024-03-01 10:00+00'),
  ('c2400000-0000-0000-0000-000000000002', 'a2400000-0000-0000-0000-00000000000a', 'Ama',   '0241234567', 'MTN',     20.00, 'paid',    'promo',     '2024-03-05 10:00+00'),
  ('c2400000-0000-0000-0000-000000000003', 'a2400000-0000-0000-0000-00000000000a', 'Kwame', '0201112222', 'Telecel',  5.00, 'pending', 'kofi-data', '2024-03-06 10:00+00'),
  ('c2400000-0000-0000-0000-000000000004', 'a2400000-0000-0000-0000-00000000000b', 'Efua',  '0551234567', 'MTN',     50.00, 'paid',    NULL,        '2024-03-02 10:00+00');

-- Who may execute what, as installed (trigger functions aside: they run only as triggers).
SELECT p.proname AS function,
       has_function_privilege('anon', p.oid, 'EXECUTE') AS anon,
       has_function_privilege('authenticated', p.oid, 'EXECUTE') AS authenticated,
       has_function_privilege('service_role', p.oid, 'EXECUTE') AS service_role,
       has_function_privilege('ct_backend', p.oid, 'EXECUTE') AS ct_backend,
       has_function_privilege('ct_plain', p.oid, 'EXECUTE') AS ct_plain
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'customer_tracking')
   AND p.prorettype <> 'trigger'::regtype
 ORDER BY 1;

-- The calls: one per function, each giving one value that shows what the caller may see of
-- kofi-data (shop a...a).
CREATE SCHEMA ct_test;
GRANT USAGE ON SCHEMA ct_test TO PUBLIC;
CREATE TABLE ct_test.calls (n int, call text);
GRANT SELECT ON ct_test.calls TO PUBLIC;
INSERT INTO ct_test.calls VALUES
  -- dashboard
  (1,  $$SELECT total_customers FROM shop_customer_metrics('a2400000-0000-0000-0000-00000000000a', '2024-03-31 23:00+00')$$),
  (2,  $$SELECT substring(shop_customer_overview('a2400000-0000-0000-0000-00000000000a') FROM 'Total Customers: [0-9]+')$$),
  (3,  $$SELECT count(*) FROM shop_slug_analytics('a2400000-0000-0000-0000-00000000000a')$$),
  (4,  $$SELECT count(*) FROM shop_customer_list('a2400000-0000-0000-0000-00000000000a')$$),
  (5,  $$SELECT count(*) FROM customer_purchase_history(customer_tracking_customer_id('a2400000-0000-0000-0000-00000000000a', '+233241234567'))$$),
  (6,  $$SELECT count(*) FROM shop_network_analytics('a2400000-0000-0000-0000-00000000000a')$$),
  (7,  $$SELECT count(*) FROM shop_purchase_frequency('a2400000-0000-0000-0000-00000000000a')$$),
  (8,  $$SELECT sum(customers) FROM shop_last_purchase_decay('a2400000-0000-0000-0000-00000000000a', '2024-03-31 23:00+00')$$),
  (9,  $$SELECT sum(purchases) FROM shop_daily_series('a2400000-0000-0000-0000-00000000000a', '2024-03-01', '2024-03-07')$$),
  -- identity
  (10, $$SELECT normalize_phone('024 123 4567')$$),
  (11, $$SELECT customer_tracking_customer_id('a2400000-0000-0000-0000-00000000000a', '+233241234567')$$),
  -- maintenance (never reached here: none of these roles may run them)
  (12, $$SELECT count(*) FROM customer_tracking_health()$$),
  (13, $$SELECT count(*) FROM customer_tracking_verify('a2400000-0000-0000-0000-00000000000a')$$),
  (14, $$SELECT count(*) FROM customer_tracking_verify_rollups('a2400000-0000-0000-0000-00000000000a')$$),
  (15, $$SELECT count(*) FROM customer_tracking_backfill('a2400000-0000-0000-0000-00000000000a')$$),
  (16, $$SELECT customer_tracking_recompute('a2400000-0000-0000-0000-00000000000a', customer_tracking_customer_id('a2400000-0000-0000-0000-00000000000a', '+233241234567'))$$),
  (17, $$SELECT customer_tracking_repair_rollups('a2400000-0000-0000-0000-00000000000a')$$),
  (18, $$SELECT customer_tracking_map_column('shop_slug', 'shop_slug')$$),
  (19, $$SELECT customer_tracking_set_statuses('completed, paid, success')$$),
  (20, $$SELECT customer_tracking_attach()$$),
  (21, $$SELECT customer_tracking_check_host()$$),
  (22, $$SELECT customer_tracking_invalidate()$$),
  (23, $$SELECT count(*) FROM customer_tracking_expected_orders('a2400000-0000-0000-0000-00000000000a')$$),
  (24, $$SELECT count(*) FROM customer_tracking_problems('a2400000-0000-0000-0000-00000000000a', true)$$),
  -- dashboard, 1.4
  (25, $$SELECT total_customers FROM shop_customer_metrics_rows('a2400000-0000-0000-0000-00000000000a', '2024-03-31 23:00+00')$$),
  (26, $$SELECT shop_customer_overview_json('a2400000-0000-0000-0000-00000000000a') ->> 'total_customers'$$);
\set VERBOSITY default
\set SHOW_CONTEXT errors
\set ECHO none
\echo '--- anon'
SET ROLE anon;
SELECT format('SELECT %s AS n, (%s)::text AS result', n, call) FROM ct_test.calls ORDER BY n \gexec
RESET ROLE;
\echo '--- authenticated, as the owner of kofi-data'
SET ROLE authenticated;
SET request.jwt.claims = '{"sub": "b2400000-0000-0000-0000-00000000000a", "role": "authenticated"}';
SELECT format('SELECT %s AS n, (%s)::text AS result', n, call) FROM ct_test.calls ORDER BY n \gexec
RESET request.jwt.claims;
RESET ROLE;
\echo '--- service_role'
SET ROLE service_role;
SELECT format('SELECT %s AS n, (%s)::text AS result', n, call) FROM ct_test.calls ORDER BY n \gexec
RESET ROLE;
\echo '--- ct_backend (LOGIN BYPASSRLS, no grants)'
SET ROLE ct_backend;
SELECT format('SELECT %s AS n, (%s)::text AS result', n, call) FROM ct_test.calls ORDER BY n \gexec
RESET ROLE;
\echo '--- ct_plain (LOGIN, no grants)'
SET ROLE ct_plain;
SELECT format('SELECT %s AS n, (%s)::text AS result', n, call) FROM ct_test.calls ORDER BY n \gexec
RESET ROLE;
\set ECHO all

-- A role given EXECUTE but not the tables (not what the extension grants): an error that names
-- the function for the metrics (the 1.3 report), the customer list and the purchase history;
-- the SQL functions name the table they read, with the function as context.
GRANT EXECUTE ON FUNCTION shop_customer_metrics(uuid, timestamptz), customer_purchase_history(uuid),
    shop_customer_list(uuid, text, boolean, text, integer, text, uuid, text, text), shop_slug_analytics(uuid, timestamptz, timestamptz) TO ct_backend;
SET ROLE ct_backend;
SELECT * FROM shop_customer_metrics('a2400000-0000-0000-0000-00000000000a');
SELECT * FROM customer_purchase_history(customer_tracking_customer_id('a2400000-0000-0000-0000-00000000000a', '+233241234567'));
SELECT * FROM shop_customer_list('a2400000-0000-0000-0000-00000000000a');
SELECT * FROM shop_slug_analytics('a2400000-0000-0000-0000-00000000000a');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION shop_customer_metrics(uuid, timestamptz), customer_purchase_history(uuid),
    shop_customer_list(uuid, text, boolean, text, integer, text, uuid, text, text), shop_slug_analytics(uuid, timestamptz, timestamptz) FROM ct_backend;
-- A role that may read the referrals but not the customers they name: the error names the
-- function and both tables.
GRANT EXECUTE ON FUNCTION shop_referrals(uuid, text) TO ct_backend;
GRANT SELECT ON customer_tracking_referrals TO ct_backend;
SET ROLE ct_backend;
SELECT * FROM shop_referrals('a2400000-0000-0000-0000-00000000000a');
RESET ROLE;
REVOKE SELECT ON customer_tracking_referrals FROM ct_backend;
REVOKE EXECUTE ON FUNCTION shop_referrals(uuid, text) FROM ct_backend;
-- An error from inside the metrics statement (here from auth.uid(), which a row-level security
-- policy calls) does not quote the statement either.
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE plpgsql STABLE AS $$ BEGIN RAISE EXCEPTION 'auth is down'; END $$;
SET ROLE authenticated;
SELECT * FROM shop_customer_metrics('a2400000-0000-0000-0000-00000000000a');
RESET ROLE;
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid
$$;
-- What the README says to do instead: make the backend role a member of service_role (it then
-- sees every shop), or a login role a member of authenticated (its own shops).
GRANT service_role TO ct_backend;
GRANT authenticated TO ct_plain;
SET ROLE ct_backend;
SELECT s.shop_slug, m.total_customers, m.total_revenue
  FROM user_shops s, shop_customer_metrics(s.id, '2024-03-31 23:00+00') m ORDER BY 1;
SELECT count(*) FROM customer_purchase_history(customer_tracking_customer_id('a2400000-0000-0000-0000-00000000000a', '+233241234567'));
SET ROLE ct_plain;
SET request.jwt.claims = '{"sub": "b2400000-0000-0000-0000-00000000000b"}';
SELECT s.shop_slug, m.total_customers, m.total_revenue
  FROM user_shops s, shop_customer_metrics(s.id, '2024-03-31 23:00+00') m ORDER BY 1;
RESET request.jwt.claims;
RESET ROLE;
REVOKE service_role FROM ct_backend;
REVOKE authenticated FROM ct_plain;
\set VERBOSITY terse
SELECT count(*) AS problems FROM customer_tracking_verify();

--------------------------------------------------------------------------------
-- Part 2: without Supabase's roles (installed in 00_install, before any of them existed).
--------------------------------------------------------------------------------
\c contrib_regression
\set VERBOSITY terse
SET client_min_messages = warning;
SET TimeZone = 'UTC';
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('a2400000-0000-0000-0000-00000000000a', 'b2400000-0000-0000-0000-00000000000a', 'matrix-a');
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c2400000-0000-0000-0000-000000000001', 'a2400000-0000-0000-0000-00000000000a', 'Ama',   '0241234567', 'MTN',     10.00, 'paid',    'kofi-data', '2024-03-01 10:00+00'),
  ('c2400000-0000-0000-0000-000000000002', 'a2400000-0000-0000-0000-00000000000a', 'Ama',   '0241234567', 'MTN',     20.00, 'paid',    'promo',     '2024-03-05 10:00+00');
CREATE SCHEMA ct_test_roles;
GRANT USAGE ON SCHEMA ct_test_roles TO PUBLIC;
CREATE TABLE ct_test_roles.calls (n int, call text);
GRANT SELECT ON ct_test_roles.calls TO PUBLIC;
INSERT INTO ct_test_roles.calls VALUES
  (1,  $$SELECT total_customers FROM shop_customer_metrics('a2400000-0000-0000-0000-00000000000a', '2024-03-31 23:00+00')$$),
  (2,  $$SELECT substring(shop_customer_overview('a2400000-0000-0000-0000-00000000000a') FROM 'Total Customers: [0-9]+')$$),
  (3,  $$SELECT count(*) FROM shop_slug_analytics('a2400000-0000-0000-0000-00000000000a')$$),
  (4,  $$SELECT count(*) FROM shop_customer_list('a2400000-0000-0000-0000-00000000000a')$$),
  (5,  $$SELECT count(*) FROM customer_purchase_history(customer_tracking_customer_id('a2400000-0000-0000-0000-00000000000a', '+233241234567'))$$),
  (6,  $$SELECT count(*) FROM shop_network_analytics('a2400000-0000-0000-0000-00000000000a')$$),
  (7,  $$SELECT count(*) FROM shop_purchase_frequency('a2400000-0000-0000-0000-00000000000a')$$),
  (8,  $$SELECT sum(customers) FROM shop_last_purchase_decay('a2400000-0000-0000-0000-00000000000a', '2024-03-31 23:00+00')$$),
  (9,  $$SELECT sum(purchases) FROM shop_daily_series('a2400000-0000-0000-0000-00000000000a', '2024-03-01', '2024-03-07')$$),
  (10, $$SELECT normalize_phone('024 123 4567')$$),
  (11, $$SELECT customer_tracking_customer_id('a2400000-0000-0000-0000-00000000000a', '+233241234567')$$),
  (12, $$SELECT count(*) FROM customer_tracking_health()$$),
  (13, $$SELECT count(*) FROM customer_tracking_verify('a2400000-0000-0000-0000-00000000000a')$$),
  (14, $$SELECT count(*) FROM customer_tracking_backfill('a2400000-0000-0000-0000-00000000000a')$$),
  (15, $$SELECT customer_tracking_set_statuses('completed, paid, success')$$);
\set VERBOSITY default
\set SHOW_CONTEXT errors
\set ECHO none
\echo '--- ct_backend (LOGIN BYPASSRLS, no grants): every shop'
SET ROLE ct_backend;
SELECT format('SELECT %s AS n, (%s)::text AS result', n, call) FROM ct_test_roles.calls ORDER BY n \gexec
RESET ROLE;
\echo '--- ct_plain (LOGIN, no grants), as the owner of matrix-a: its shop'
SET ROLE ct_plain;
SET request.jwt.claims = '{"sub": "b2400000-0000-0000-0000-00000000000a"}';
SELECT format('SELECT %s AS n, (%s)::text AS result', n, call) FROM ct_test_roles.calls ORDER BY n \gexec
RESET request.jwt.claims;
\echo '--- ct_plain, without a JWT: nothing'
SELECT format('SELECT %s AS n, (%s)::text AS result', n, call) FROM ct_test_roles.calls WHERE n <= 9 ORDER BY n \gexec
RESET ROLE;
\set ECHO all
-- The purchase history shows the orders' status from shop_orders: with SELECT on it, it works.
GRANT SELECT (id, payment_status) ON shop_orders TO ct_plain;
SET ROLE ct_plain;
SET request.jwt.claims = '{"sub": "b2400000-0000-0000-0000-00000000000a"}';
SELECT order_id, amount, payment_status FROM customer_purchase_history(customer_tracking_customer_id('a2400000-0000-0000-0000-00000000000a', '+233241234567'));
RESET request.jwt.claims;
RESET ROLE;
REVOKE SELECT (id, payment_status) ON shop_orders FROM ct_plain;
\set VERBOSITY terse

-- Clean up: this test's orders and shop (through the trigger), its schema, the database, then
-- the roles this test created.
DELETE FROM shop_orders WHERE shop_id = 'a2400000-0000-0000-0000-00000000000a';
DELETE FROM user_shops WHERE id = 'a2400000-0000-0000-0000-00000000000a';
DROP SCHEMA ct_test_roles CASCADE;
SELECT count(*) AS problems FROM customer_tracking_verify('a2400000-0000-0000-0000-00000000000a');
DROP DATABASE ct_roles;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles
              WHERE shobj_description(oid, 'pg_authid') = 'customer_tracking test 24_role_matrix'
    LOOP
        EXECUTE format('DROP OWNED BY %I', r.rolname);
        EXECUTE format('DROP ROLE %I', r.rolname);
    END LOOP;
END
$$;
SELECT count(*) AS leftover_roles FROM pg_roles
 WHERE shobj_description(oid, 'pg_authid') = 'customer_tracking test 24_role_matrix';
