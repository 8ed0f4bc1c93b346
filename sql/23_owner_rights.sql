-- Definer rights: no code of another role runs with the extension owner's rights.
-- On Supabase, auth.uid() belongs to supabase_auth_admin, a role that is not a superuser and
-- may replace the function at any time. The row-level security policies ask who the current
-- owner is through auth.uid(); in 1.3 they did so inside a SECURITY DEFINER function, so a
-- replaced auth.uid() ran as the extension's owner (a superuser) the first time a client read
-- a dashboard table. Here supabase_auth_admin replaces auth.uid() after installation by a body
-- that tries to become superuser and to write a table only a superuser may write, and records
-- as whom it ran. Every client path runs it with the client's rights, or not at all.
-- Own databases (ct_owner_rights: a fresh install; ct_owner_rights_up: 1.3 updated in place).
\set VERBOSITY terse
SET client_min_messages = warning;
DROP DATABASE IF EXISTS ct_owner_rights;
DROP DATABASE IF EXISTS ct_owner_rights_up;
CREATE DATABASE ct_owner_rights;
CREATE DATABASE ct_owner_rights_up;
-- Roles are cluster-wide: create the missing ones, marked so that only those are dropped at the end.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES ('anon', 'NOBYPASSRLS'), ('authenticated', 'NOBYPASSRLS'),
                                   ('service_role', 'BYPASSRLS'), ('supabase_auth_admin', 'NOBYPASSRLS')) v(name, bypass)
              WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v.name)
    LOOP
        EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT %s', r.name, r.bypass);
        EXECUTE format('COMMENT ON ROLE %I IS %L', r.name, 'customer_tracking test 23_owner_rights');
    END LOOP;
END
$$;

-- The same Supabase-style setup in both databases: auth schema and auth.uid() owned by
-- supabase_auth_admin, the API roles' default privileges, the app's tables and policies, and
-- a record of every run of auth.uid() (ct_test.attempts) next to a table only a superuser may
-- write (ct_test.vault).
\c ct_owner_rights
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE SCHEMA auth AUTHORIZATION supabase_auth_admin;
SET ROLE supabase_auth_admin;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
$$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
RESET ROLE;
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
CREATE SCHEMA ct_test;
CREATE TABLE ct_test.attempts (phase text, run_as name, superuser boolean, alter_role text, vault text);
CREATE TABLE ct_test.vault (written_by name);
GRANT USAGE ON SCHEMA ct_test TO PUBLIC;
GRANT INSERT ON ct_test.attempts TO PUBLIC;
CREATE EXTENSION customer_tracking;
-- The owner lookup calls auth.uid() (its owner's name says it is Supabase's).
SELECT prosrc LIKE '%auth.uid()%' AS calls_auth_uid FROM pg_proc WHERE oid = 'customer_tracking_current_owner()'::regprocedure;
-- Nothing the policies call runs with its owner's rights.
SELECT p.oid::regprocedure AS function, p.prosecdef AS security_definer
  FROM pg_proc p WHERE p.proname IN ('customer_tracking_owned_shops', 'customer_tracking_current_owner') ORDER BY 1;
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('a2300000-0000-0000-0000-00000000000a', 'b2300000-0000-0000-0000-00000000000a', 'kofi-data'),
  ('a2300000-0000-0000-0000-00000000000b', 'b2300000-0000-0000-0000-00000000000b', 'ama-bundles');
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c2300000-0000-0000-0000-000000000001', 'a2300000-0000-0000-0000-00000000000a', 'Ama',  '0241234567', 'MTN', 10.00, 'paid', 'kofi-data', '2024-03-01 10:00+00'),
  ('c2300000-0000-0000-0000-000000000002', 'a2300000-0000-0000-0000-00000000000a', 'Ama',  '0241234567', 'MTN', 20.00, 'paid', 'kofi-data', '2024-03-02 10:00+00'),
  ('c2300000-0000-0000-0000-000000000003', 'a2300000-0000-0000-0000-00000000000b', 'Efua', '0551234567', 'MTN', 50.00, 'paid', NULL,        '2024-03-03 10:00+00');

--------------------------------------------------------------------------------
-- supabase_auth_admin replaces auth.uid() after installation.
--------------------------------------------------------------------------------
SET ROLE supabase_auth_admin;
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog AS $$
DECLARE
    v_alter text := 'done';
    v_vault text := 'done';
BEGIN
    BEGIN
        ALTER ROLE supabase_auth_admin SUPERUSER;
    EXCEPTION WHEN OTHERS THEN
        v_alter := 'failed: ' || SQLERRM;
    END;
    BEGIN
        INSERT INTO ct_test.vault VALUES (current_user);
    EXCEPTION WHEN OTHERS THEN
        v_vault := 'failed: ' || SQLERRM;
    END;
    INSERT INTO ct_test.attempts
    VALUES (current_setting('ct.phase', true), current_user,
            (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), v_alter, v_vault);
    RETURN (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid;
END
$$;
RESET ROLE;

--------------------------------------------------------------------------------
-- Every client path.
--------------------------------------------------------------------------------
-- anon places an order (the trigger writes as the tables' owner; no owner lookup), and reads
-- nothing.
SET ct.phase = 'anon';
SET ROLE anon;
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c2300000-0000-0000-0000-000000000004', 'a2300000-0000-0000-0000-00000000000a', 'Kwame', '0201112222', 'Telecel', 5.00, 'paid', 'kofi-data', '2024-03-04 10:00+00');
SELECT count(*) FROM shop_customers;
RESET ROLE;
-- authenticated, the owner of kofi-data: tables and dashboards go through the policies, which
-- call the replaced auth.uid() with authenticated's rights: it sees its own shop, and gains
-- nothing.
SET ct.phase = 'authenticated';
SET ROLE authenticated;
SET request.jwt.claims = '{"sub": "b2300000-0000-0000-0000-00000000000a", "role": "authenticated"}';
SELECT customer_tracking_current_owner(), customer_tracking_owned_shops();
SELECT phone_number, total_purchases, total_spent FROM shop_customers ORDER BY 1;
SELECT count(*) AS tracking_rows FROM customer_tracking;
SELECT total_customers, repeat_customers, total_revenue
  FROM shop_customer_metrics('a2300000-0000-0000-0000-00000000000a', '2024-03-31 23:00+00');
SELECT count(*) FROM shop_customer_list('a2300000-0000-0000-0000-00000000000a');
SELECT count(*) FROM shop_slug_analytics('a2300000-0000-0000-0000-00000000000a');
SELECT count(*) FROM customer_purchase_history(customer_tracking_customer_id('a2300000-0000-0000-0000-00000000000a', '+233241234567'));
SELECT count(*) AS other_shop FROM shop_customers WHERE shop_id = 'a2300000-0000-0000-0000-00000000000b';
RESET request.jwt.claims;
RESET ROLE;
-- service_role bypasses row-level security: no policy, no owner lookup.
SET ct.phase = 'service_role';
SET ROLE service_role;
SELECT count(*) FROM shop_customers;
SELECT total_customers FROM shop_customer_metrics('a2300000-0000-0000-0000-00000000000b', '2024-03-31 23:00+00');
RESET ROLE;
-- The superuser: reads bypass row-level security; asked directly who the owner is, the lookup
-- does not run auth.uid(), which a non-superuser owns, as superuser: nobody.
SET ct.phase = 'superuser';
SET request.jwt.claims = '{"sub": "b2300000-0000-0000-0000-00000000000a", "role": "authenticated"}';
SELECT count(*) FROM shop_customers;
SELECT total_customers FROM shop_customer_metrics('a2300000-0000-0000-0000-00000000000a', '2024-03-31 23:00+00');
SELECT customer_tracking_current_owner(), customer_tracking_owned_shops();
-- ... nor from inside a SECURITY DEFINER function a superuser owns, called by a client.
CREATE FUNCTION ct_test.definer_owned_shops() RETURNS uuid[] LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog AS $$ SELECT public.customer_tracking_owned_shops() $$;
GRANT EXECUTE ON FUNCTION ct_test.definer_owned_shops() TO authenticated;
SET ROLE authenticated;
SELECT ct_test.definer_owned_shops();
RESET ROLE;
RESET request.jwt.claims;
RESET ct.phase;
-- What the replaced auth.uid() did: it ran as authenticated only, and failed at both.
SELECT phase, run_as, superuser, alter_role, vault, count(*) > 0 AS ran FROM ct_test.attempts
 GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2;
SELECT rolsuper AS auth_admin_is_superuser FROM pg_roles WHERE rolname = 'supabase_auth_admin';
SELECT count(*) AS vault_rows FROM ct_test.vault;
SELECT count(*) AS problems FROM customer_tracking_verify();

--------------------------------------------------------------------------------
-- The same after ALTER EXTENSION ... UPDATE from 1.3 (where the lookup ran as superuser).
--------------------------------------------------------------------------------
\c ct_owner_rights_up
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE SCHEMA auth AUTHORIZATION supabase_auth_admin;
SET ROLE supabase_auth_admin;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid
$$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
RESET ROLE;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
\set ECHO none
\i test/fixtures/host-schema.sql
\set ECHO all
GRANT SELECT ON user_shops TO authenticated;
CREATE SCHEMA ct_test;
CREATE TABLE ct_test.attempts (phase text, run_as name, superuser boolean, alter_role text, vault text);
CREATE TABLE ct_test.vault (written_by name);
GRANT USAGE ON SCHEMA ct_test TO PUBLIC;
GRANT INSERT ON ct_test.attempts TO PUBLIC;
CREATE EXTENSION customer_tracking VERSION '1.3';
SELECT p.prosecdef AS owned_shops_security_definer_in_1_3 FROM pg_proc p WHERE p.proname = 'customer_tracking_owned_shops';
ALTER EXTENSION customer_tracking UPDATE TO '1.4';
SELECT p.oid::regprocedure AS function, p.prosecdef AS security_definer, (SELECT l.lanname FROM pg_language l WHERE l.oid = p.prolang) AS language
  FROM pg_proc p WHERE p.proname IN ('customer_tracking_owned_shops', 'customer_tracking_current_owner') ORDER BY 1;
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('a2300000-0000-0000-0000-00000000000a', 'b2300000-0000-0000-0000-00000000000a', 'kofi-data');
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c2300000-0000-0000-0000-000000000001', 'a2300000-0000-0000-0000-00000000000a', 'Ama', '0241234567', 'MTN', 10.00, 'paid', 'kofi-data', '2024-03-01 10:00+00');
SET ROLE supabase_auth_admin;
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog AS $$
DECLARE
    v_alter text := 'done';
    v_vault text := 'done';
BEGIN
    BEGIN
        ALTER ROLE supabase_auth_admin SUPERUSER;
    EXCEPTION WHEN OTHERS THEN
        v_alter := 'failed: ' || SQLERRM;
    END;
    BEGIN
        INSERT INTO ct_test.vault VALUES (current_user);
    EXCEPTION WHEN OTHERS THEN
        v_vault := 'failed: ' || SQLERRM;
    END;
    INSERT INTO ct_test.attempts VALUES ('updated', current_user,
            (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), v_alter, v_vault);
    RETURN (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid;
END
$$;
RESET ROLE;
SET ROLE authenticated;
SET request.jwt.claims = '{"sub": "b2300000-0000-0000-0000-00000000000a", "role": "authenticated"}';
SELECT phone_number, total_purchases, total_spent FROM shop_customers ORDER BY 1;
SELECT total_customers, total_revenue FROM shop_customer_metrics('a2300000-0000-0000-0000-00000000000a', '2024-03-31 23:00+00');
RESET request.jwt.claims;
RESET ROLE;
SELECT phase, run_as, superuser, alter_role, vault, count(*) > 0 AS ran FROM ct_test.attempts
 GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2;
SELECT rolsuper AS auth_admin_is_superuser FROM pg_roles WHERE rolname = 'supabase_auth_admin';
SELECT count(*) AS vault_rows FROM ct_test.vault;

-- Clean up: the databases, then the roles this test created (a superuser attribute a failed
-- run may have given supabase_auth_admin goes with it).
\c contrib_regression
\set VERBOSITY terse
SET client_min_messages = warning;
DROP DATABASE ct_owner_rights;
DROP DATABASE ct_owner_rights_up;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles
              WHERE shobj_description(oid, 'pg_authid') = 'customer_tracking test 23_owner_rights'
    LOOP
        EXECUTE format('DROP ROLE %I', r.rolname);
    END LOOP;
END
$$;
SELECT count(*) AS leftover_roles FROM pg_roles
 WHERE shobj_description(oid, 'pg_authid') = 'customer_tracking test 23_owner_rights';
