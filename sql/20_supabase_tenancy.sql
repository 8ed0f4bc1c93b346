-- Tenancy on a Supabase-style database: roles anon / authenticated / service_role, auth.uid(),
-- and Supabase's standard default privileges on schema public. The grants depend on the roles
-- existing at CREATE EXTENSION time, so this runs in its own database, ct_supabase.
--   anon places orders (they are tracked) and reads no customer data;
--   authenticated owners see their own shops only, through the tables and every function;
--   service_role sees everything; no client role writes the extension's tables.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP DATABASE IF EXISTS ct_supabase;
CREATE DATABASE ct_supabase;
-- Roles are cluster-wide: create the missing ones, marked so that only those are dropped at the end.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES ('anon', 'NOBYPASSRLS'), ('authenticated', 'NOBYPASSRLS'),
                                   ('service_role', 'BYPASSRLS')) v(name, bypass)
              WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v.name)
    LOOP
        EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT %s', r.name, r.bypass);
        EXECUTE format('COMMENT ON ROLE %I IS %L', r.name, 'customer_tracking test 20_supabase_tenancy');
    END LOOP;
END
$$;

\c ct_supabase
\set VERBOSITY terse
SET client_min_messages = warning;
-- Supabase's auth schema and auth.uid().
CREATE SCHEMA auth;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
$$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
-- Supabase's default privileges: everything created in public is granted to the API roles.
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
-- The app's tables, protected the way a Supabase app does it: anon may read shops and place
-- orders; owners read their own shops' orders.
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
  ('a2000000-0000-0000-0000-00000000000a', 'b2000000-0000-0000-0000-00000000000a', 'kofi-data'),
  ('a2000000-0000-0000-0000-00000000000b', 'b2000000-0000-0000-0000-00000000000b', 'ama-bundles');

-- Test helper (outside public): runs a statement as the current role and says what happened;
-- whatever it did is rolled back, so a hole shows up here without changing later results.
CREATE SCHEMA ct_test;
GRANT USAGE ON SCHEMA ct_test TO PUBLIC;
CREATE FUNCTION ct_test.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    msg text;
BEGIN
    IF q ~* '^\s*select' THEN
        EXECUTE 'SELECT count(*) FROM (' || q || ') s' INTO n;
        msg := n || ' rows';
    ELSE
        EXECUTE q;
        GET DIAGNOSTICS n = ROW_COUNT;
        msg := 'ALLOWED (' || n || ' rows)';
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'CT001', MESSAGE = msg;
EXCEPTION
    WHEN SQLSTATE 'CT001' THEN RETURN SQLERRM;   -- rolled back either way
    WHEN insufficient_privilege THEN RETURN 'permission denied';
END
$$;
CREATE VIEW ct_test.relations AS
    SELECT c.oid, c.relname FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
     WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'customer_tracking')
       AND d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND c.relkind IN ('r', 'v');
GRANT SELECT ON ct_test.relations TO PUBLIC;

-- Grants: anon has nothing on the extension's tables; authenticated and service_role may only
-- read the data tables (not the settings); nobody but the owner writes, truncates or adds triggers.
SELECT r.rolname AS role,
       coalesce(nullif(concat_ws(',',
           CASE WHEN has_table_privilege(r.oid, c.oid, 'SELECT') THEN 'select' END,
           CASE WHEN has_table_privilege(r.oid, c.oid, 'INSERT') THEN 'insert' END,
           CASE WHEN has_table_privilege(r.oid, c.oid, 'UPDATE') THEN 'update' END,
           CASE WHEN has_table_privilege(r.oid, c.oid, 'DELETE') THEN 'delete' END,
           CASE WHEN has_table_privilege(r.oid, c.oid, 'TRUNCATE') THEN 'truncate' END,
           CASE WHEN has_table_privilege(r.oid, c.oid, 'REFERENCES') THEN 'references' END,
           CASE WHEN has_table_privilege(r.oid, c.oid, 'TRIGGER') THEN 'trigger' END), ''), '-') AS privileges,
       string_agg(c.relname, ' ' ORDER BY c.relname) AS relations
  FROM pg_roles r CROSS JOIN ct_test.relations c
 WHERE r.rolname IN ('anon', 'authenticated', 'service_role')
 GROUP BY 1, 2 ORDER BY 1, 2;
-- Maintenance functions: for the DBA only (the default privileges granted them to the API roles).
SELECT r.rolname AS role, coalesce(string_agg(f.fn, ' ' ORDER BY f.fn)
           FILTER (WHERE has_function_privilege(r.oid, f.fn::regprocedure, 'EXECUTE')), '-') AS can_execute
  FROM pg_roles r CROSS JOIN (VALUES ('customer_tracking_attach()'), ('customer_tracking_check_host()'),
        ('customer_tracking_invalidate()'), ('customer_tracking_map_column(text,name)'),
        ('customer_tracking_set_statuses(text,text)'), ('customer_tracking_recompute(uuid,uuid)'),
        ('customer_tracking_backfill(uuid)'), ('customer_tracking_verify(uuid)'),
        ('customer_tracking_verify_rollups(uuid)'), ('customer_tracking_expected_orders(uuid)')) f(fn)
 WHERE r.rolname IN ('anon', 'authenticated', 'service_role')
 GROUP BY 1 ORDER BY 1;

--------------------------------------------------------------------------------
-- anon: a fresh connection (as PostgREST's) whose first statement is a checkout. The trigger
-- works whatever role inserts, from the very first order of a backend.
--------------------------------------------------------------------------------
\c ct_supabase
\set VERBOSITY terse
SET client_min_messages = warning;
SET ROLE anon;
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c2000000-0000-0000-0000-000000000001', 'a2000000-0000-0000-0000-00000000000a', 'Ama',   '0241234567',   'MTN',        10.00, 'completed', 'kofi-data',   '2024-03-01 10:00+00'),
  ('c2000000-0000-0000-0000-000000000002', 'a2000000-0000-0000-0000-00000000000a', 'Ama',   '024 123 4567', 'MTN',        20.00, 'paid',      'promo',       '2024-03-05 10:00+00'),
  ('c2000000-0000-0000-0000-000000000003', 'a2000000-0000-0000-0000-00000000000a', 'Kwame', '0201112222',   'Telecel',     5.00, 'success',   'kofi-data',   '2024-03-06 10:00+00'),
  ('c2000000-0000-0000-0000-000000000004', 'a2000000-0000-0000-0000-00000000000a', 'Kwame', '0201112222',   'Telecel',     7.00, 'pending',   'kofi-data',   '2024-03-07 10:00+00'),
  ('c2000000-0000-0000-0000-000000000005', 'a2000000-0000-0000-0000-00000000000b', 'Efua',  '0551234567',   'AirtelTigo', 50.00, 'paid',      'ama-bundles', '2024-03-02 10:00+00'),
  ('c2000000-0000-0000-0000-000000000006', 'a2000000-0000-0000-0000-00000000000b', 'Ama',   '0241234567',   'MTN',         3.00, 'paid',      NULL,          '2024-03-03 10:00+00');
-- ... and after the trigger's cache was dropped (ANALYZE, autovacuum, a column mapping).
RESET ROLE;
ANALYZE shop_orders;
SET ROLE anon;
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('c2000000-0000-0000-0000-000000000007', 'a2000000-0000-0000-0000-00000000000b', 'Yaw', '0271234567', 'MTN', 8.00, 'pending', '2024-03-04 10:00+00');
-- anon reads none of it, writes none of it, and may not run maintenance.
SELECT q, ct_test.try(q) FROM (VALUES
    ('SELECT * FROM shop_customers'), ('SELECT * FROM customer_tracking'),
    ('SELECT * FROM customer_tracking_issues'), ('SELECT * FROM customer_tracking_untracked'),
    ('SELECT * FROM customer_tracking_settings'), ('SELECT * FROM customer_tracking_shop_totals'),
    ('SELECT * FROM customer_tracking_daily'), ('SELECT * FROM customer_tracking_slug_daily'),
    ('SELECT * FROM customer_tracking_slug_customers'), ('SELECT * FROM customer_tracking_network_totals'),
    ('SELECT * FROM customer_tracking_frequency'),
    ('INSERT INTO shop_customers (id, shop_id, phone_number) VALUES (gen_random_uuid(), ''a2000000-0000-0000-0000-00000000000a'', ''+233200000000'')'),
    ('UPDATE shop_customers SET total_spent = 0'), ('DELETE FROM shop_customers'), ('TRUNCATE shop_customers CASCADE'),
    ('INSERT INTO customer_tracking (id, shop_order_id, shop_customer_id, shop_id, accessed_at) SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), now()'),
    ('UPDATE customer_tracking SET purchase_amount = 0'), ('DELETE FROM customer_tracking'),
    ('UPDATE customer_tracking_shop_totals SET revenue = 0'), ('DELETE FROM customer_tracking_daily'),
    ('UPDATE customer_tracking_settings SET value = ''pending'''),
    ('INSERT INTO customer_tracking_settings VALUES (''paid_statuses'', ''pending'')'),
    ('SELECT customer_tracking_set_statuses(''pending'')'),
    ('SELECT customer_tracking_map_column(''total_price'', ''base_price'')'),
    ('SELECT * FROM customer_tracking_backfill()'), ('SELECT * FROM customer_tracking_verify()'),
    ('SELECT customer_tracking_recompute(''a2000000-0000-0000-0000-00000000000a'', customer_tracking_customer_id(''a2000000-0000-0000-0000-00000000000a'', ''+233241234567''))'),
    ('SELECT customer_tracking_invalidate()'), ('SELECT customer_tracking_attach()')
) v(q);
-- ... and sees nothing through the dashboard functions.
SELECT f, ct_test.try(format(f, 'a2000000-0000-0000-0000-00000000000a')) FROM (VALUES
    ('SELECT * FROM shop_customer_metrics(%L)'), ('SELECT * FROM shop_slug_analytics(%L)'),
    ('SELECT * FROM shop_customer_list(%L)'), ('SELECT * FROM shop_network_analytics(%L)'),
    ('SELECT * FROM shop_purchase_frequency(%L)'), ('SELECT * FROM shop_last_purchase_decay(%L)'),
    ('SELECT * FROM shop_daily_series(%L)'), ('SELECT shop_customer_overview(%L)'),
    ('SELECT * FROM customer_purchase_history(customer_tracking_customer_id(%L, ''+233241234567''))')
) v(f);
-- A trigger on the extension's tables would run as their owner whenever an order is tracked.
CREATE FUNCTION pg_temp.grab() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER grab AFTER INSERT ON shop_customers FOR EACH ROW EXECUTE FUNCTION pg_temp.grab();
CREATE TRIGGER grab AFTER INSERT ON customer_tracking_daily FOR EACH ROW EXECUTE FUNCTION pg_temp.grab();
RESET ROLE;
-- Every checkout was tracked.
SELECT s.shop_slug, c.customer_name, c.phone_number, c.total_orders, c.total_purchases, c.total_spent
  FROM shop_customers c JOIN user_shops s ON s.id = c.shop_id ORDER BY 1, 3;
SELECT count(*) AS problems FROM customer_tracking_verify();

--------------------------------------------------------------------------------
-- service_role: the payment webhook; sees every shop; still cannot write the tables directly.
--------------------------------------------------------------------------------
SET ROLE service_role;
UPDATE shop_orders SET payment_status = 'paid' WHERE id IN ('c2000000-0000-0000-0000-000000000004', 'c2000000-0000-0000-0000-000000000007');
UPDATE shop_orders SET payment_status = 'refunded' WHERE id = 'c2000000-0000-0000-0000-000000000003';
SELECT s.shop_slug, count(*) AS customers, sum(c.total_purchases) AS purchases, sum(c.total_spent) AS spent
  FROM shop_customers c JOIN user_shops s ON s.id = c.shop_id GROUP BY 1 ORDER BY 1;
SELECT s.shop_slug, m.* FROM user_shops s, shop_customer_metrics(s.id, '2024-03-31 23:00+00') m ORDER BY 1;
SELECT order_id, amount, payment_status, purchase_completed
  FROM customer_purchase_history(customer_tracking_customer_id('a2000000-0000-0000-0000-00000000000b', '+233551234567'));
SELECT q, ct_test.try(q) FROM (VALUES
    ('INSERT INTO shop_customers (id, shop_id, phone_number) VALUES (gen_random_uuid(), ''a2000000-0000-0000-0000-00000000000a'', ''+233200000000'')'),
    ('UPDATE shop_customers SET total_spent = 0'), ('DELETE FROM shop_customers'), ('TRUNCATE shop_customers CASCADE'),
    ('UPDATE customer_tracking SET purchase_amount = 0'), ('DELETE FROM customer_tracking'),
    ('DELETE FROM customer_tracking_shop_totals'), ('UPDATE customer_tracking_settings SET value = ''pending''')
) v(q);
RESET ROLE;

--------------------------------------------------------------------------------
-- authenticated without a user (or with a sub that is not a uuid): nothing.
--------------------------------------------------------------------------------
SET ROLE authenticated;
SELECT relname, ct_test.try('SELECT * FROM ' || relname) FROM ct_test.relations ORDER BY 1;
SET request.jwt.claims = '{"sub": "not-a-uuid", "role": "authenticated"}';
SELECT * FROM shop_customer_metrics('a2000000-0000-0000-0000-00000000000a', '2024-03-31 23:00+00');
SELECT count(*) FROM shop_customers;
RESET request.jwt.claims;

--------------------------------------------------------------------------------
-- authenticated as the owner of kofi-data: their shop everywhere, nothing of ama-bundles.
--------------------------------------------------------------------------------
SET request.jwt.claims = '{"sub": "b2000000-0000-0000-0000-00000000000a", "role": "authenticated"}';
SELECT auth.uid(), customer_tracking_current_owner(), customer_tracking_owned_shops();
SELECT relname, ct_test.try('SELECT * FROM ' || relname) AS visible,
       ct_test.try('SELECT * FROM ' || relname || ' WHERE shop_id <> ''a2000000-0000-0000-0000-00000000000a''') AS other_shops
  FROM ct_test.relations
 WHERE relname NOT IN ('customer_tracking_settings', 'customer_tracking_backfill_state', 'customer_tracking_progress',
                       'customer_tracking_visit_salt')
 ORDER BY 1;
SELECT customer_name, phone_number, total_purchases, total_spent, repeat_customer FROM shop_customers ORDER BY phone_number;
\set shop '''a2000000-0000-0000-0000-00000000000a'''
SELECT * FROM shop_customer_metrics(:shop, '2024-03-31 23:00+00');
SELECT * FROM shop_slug_analytics(:shop);
SELECT customer_name, phone_number, total_purchases, total_spent FROM shop_customer_list(:shop);
SELECT customer_name FROM shop_customer_list(:shop, '024 123 4567');
SELECT order_id, amount, network, slug, payment_status, purchase_completed
  FROM customer_purchase_history(customer_tracking_customer_id(:shop, '+233241234567'));
SELECT * FROM shop_network_analytics(:shop);
SELECT * FROM shop_purchase_frequency(:shop);
SELECT * FROM shop_last_purchase_decay(:shop, '2024-03-31 23:00+00');
SELECT * FROM shop_daily_series(:shop, '2024-03-01', '2024-03-07');
SELECT shop_customer_overview(:shop);
-- Probing the other shop's id, and its customers' ids (one of them has the same phone).
\set shop '''a2000000-0000-0000-0000-00000000000b'''
SELECT * FROM shop_customer_metrics(:shop, '2024-03-31 23:00+00');
SELECT count(*) FROM shop_slug_analytics(:shop);
SELECT count(*) FROM shop_customer_list(:shop);
SELECT count(*) FROM shop_customer_list(:shop, '0241234567');
SELECT count(*) FROM customer_purchase_history(customer_tracking_customer_id(:shop, '+233551234567'));
SELECT count(*) FROM customer_purchase_history(customer_tracking_customer_id(:shop, '+233241234567'));
SELECT count(*) FROM shop_network_analytics(:shop);
SELECT count(*) FROM shop_purchase_frequency(:shop);
SELECT sum(customers) FROM shop_last_purchase_decay(:shop, '2024-03-31 23:00+00');
SELECT sum(purchases) AS purchases, sum(revenue) AS revenue, sum(checkouts) AS checkouts FROM shop_daily_series(:shop, '2024-03-01', '2024-03-07');
SELECT shop_customer_overview(:shop) = shop_customer_overview('a2000000-0000-0000-0000-0000000000ff') AS overview_is_empty;
SELECT count(*) FROM shop_customers WHERE id = customer_tracking_customer_id(:shop, '+233551234567');
-- An owner cannot write the tables either, not even their own shop's rows.
SELECT q, ct_test.try(q) FROM (VALUES
    ('INSERT INTO shop_customers (id, shop_id, phone_number) VALUES (gen_random_uuid(), ''a2000000-0000-0000-0000-00000000000a'', ''+233200000000'')'),
    ('UPDATE shop_customers SET total_spent = 1000000'), ('DELETE FROM shop_customers'), ('TRUNCATE shop_customers CASCADE'),
    ('UPDATE customer_tracking SET purchase_amount = 0'), ('DELETE FROM customer_tracking'),
    ('UPDATE customer_tracking_daily SET revenue = 0'), ('UPDATE customer_tracking_settings SET value = ''pending'''),
    ('SELECT * FROM customer_tracking_verify()'), ('SELECT * FROM customer_tracking_backfill()')
) v(q);
-- The older PostgREST setting request.jwt.claim.sub names the owner too.
RESET request.jwt.claims;
SET request.jwt.claim.sub = 'b2000000-0000-0000-0000-00000000000b';
SELECT s.shop_slug, m.total_customers, m.total_revenue
  FROM user_shops s, shop_customer_metrics(s.id, '2024-03-31 23:00+00') m ORDER BY 1;
SELECT customer_name, phone_number, total_purchases, total_spent FROM shop_customers ORDER BY phone_number;
RESET request.jwt.claim.sub;
RESET ROLE;
SELECT count(*) AS problems FROM customer_tracking_verify();

-- Clean up: the database, then the roles this test created.
\c contrib_regression
\set VERBOSITY terse
SET client_min_messages = warning;
DROP DATABASE ct_supabase;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles
              WHERE shobj_description(oid, 'pg_authid') = 'customer_tracking test 20_supabase_tenancy'
    LOOP
        EXECUTE format('DROP ROLE %I', r.rolname);
    END LOOP;
END
$$;
SELECT count(*) AS leftover_roles FROM pg_roles
 WHERE shobj_description(oid, 'pg_authid') = 'customer_tracking test 20_supabase_tenancy';
