-- Definer safety: whatever runs with more rights than its caller (the trigger, which writes as
-- the tables' owner; SECURITY DEFINER functions; the DBA's maintenance functions; dashboard
-- functions called by a privileged role) must not pick up objects planted by a hostile user.
-- A hostile role gets a schema `evil` first on its search_path, full of look-alikes that record
-- in evil.hits whenever they run (and temp tables shadowing the extension's relation names).
-- Every phase ends with the hits it caused: none, and every result is the right one.
-- Own database (ct_definer), so nothing planted here leaks into other tests.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP DATABASE IF EXISTS ct_definer;
CREATE DATABASE ct_definer;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ct_hostile') THEN
        CREATE ROLE ct_hostile LOGIN;
        COMMENT ON ROLE ct_hostile IS 'customer_tracking test 22_definer_safety';
    END IF;
END
$$;

\c ct_definer
\set VERBOSITY terse
SET client_min_messages = warning;
\set ECHO none
\i test/fixtures/host-schema.sql
\set ECHO all
CREATE EXTENSION customer_tracking;
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('a2200000-0000-0000-0000-00000000000a', 'b2200000-0000-0000-0000-00000000000a', 'kofi-data'),
  ('a2200000-0000-0000-0000-00000000000b', 'b2200000-0000-0000-0000-00000000000b', 'ama-bundles');
-- The hostile role: a client that places and updates orders and reads like any client (row-level
-- security decides). It may create schemas in this database (so also one named auth).
GRANT SELECT ON user_shops TO ct_hostile;
GRANT SELECT, INSERT, UPDATE, DELETE ON shop_orders TO ct_hostile;
GRANT SELECT ON shop_customers, customer_tracking, customer_tracking_shop_totals, customer_tracking_daily,
    customer_tracking_slug_daily, customer_tracking_slug_customers, customer_tracking_network_totals,
    customer_tracking_frequency TO ct_hostile;
GRANT CREATE ON DATABASE ct_definer TO ct_hostile;
CREATE SCHEMA evil AUTHORIZATION ct_hostile;
ALTER ROLE ct_hostile IN DATABASE ct_definer SET search_path = evil, public;

--------------------------------------------------------------------------------
-- The hostile user plants its look-alikes.
--------------------------------------------------------------------------------
\c - ct_hostile
\set VERBOSITY terse
SET client_min_messages = warning;
SHOW search_path;
CREATE TABLE evil.hits (phase text, object text, run_as name, superuser boolean);
GRANT USAGE ON SCHEMA evil TO PUBLIC;
GRANT INSERT, SELECT ON evil.hits TO PUBLIC;
CREATE FUNCTION evil.hit(obj text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO evil.hits VALUES (current_setting('ct.phase', true), obj, current_user,
                                  (SELECT rolsuper FROM pg_roles WHERE rolname = current_user));
    RETURN true;
END
$$;
-- Functions that are, or could be, called unqualified: a better match than pg_catalog's for
-- some argument types, or a name the extension also uses.
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('now()'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION evil.jsonb_build_object(text, integer) RETURNS jsonb LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('jsonb_build_object(text,integer)'); RETURN pg_catalog.jsonb_build_object($1, $2); END $$;
CREATE FUNCTION evil."greatest"(integer, integer) RETURNS integer LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('greatest(integer,integer)'); RETURN 0; END $$;
CREATE FUNCTION evil."coalesce"(numeric, integer) RETURNS numeric LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('coalesce(numeric,integer)'); RETURN 0; END $$;
CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('lower(text)'); RETURN pg_catalog.lower($1); END $$;
CREATE FUNCTION evil.lower(varchar) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('lower(varchar)'); RETURN pg_catalog.lower($1); END $$;
CREATE FUNCTION evil.btrim(varchar) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('btrim(varchar)'); RETURN pg_catalog.btrim($1); END $$;
CREATE FUNCTION evil.normalize_phone(text, text) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('normalize_phone(text,text)'); RETURN '+233200000000'; END $$;
CREATE FUNCTION evil.normalize_phone(text) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('normalize_phone(text)'); RETURN '+233200000000'; END $$;
CREATE FUNCTION evil.customer_tracking_current_owner() RETURNS uuid LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('customer_tracking_current_owner()'); RETURN 'e2200000-0000-0000-0000-000000000001'; END $$;
CREATE FUNCTION evil.customer_tracking_owned_shops() RETURNS uuid[] LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('customer_tracking_owned_shops()'); RETURN ARRAY(SELECT id FROM public.user_shops); END $$;
CREATE FUNCTION evil.customer_tracking_customer_id(uuid, text) RETURNS uuid LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('customer_tracking_customer_id(uuid,text)'); RETURN 'e2200000-0000-0000-0000-000000000002'; END $$;
CREATE FUNCTION evil.generate_series(date, date, interval) RETURNS SETOF timestamptz LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('generate_series(date,date,interval)'); RETURN QUERY SELECT pg_catalog.generate_series($1::timestamptz, $2::timestamptz, $3); END $$;
-- Operators: exact matches where pg_catalog's need an implicit cast, and same-signature ones.
CREATE FUNCTION evil.f_num_big(numeric, bigint, text) RETURNS numeric LANGUAGE plpgsql AS $$
BEGIN
    PERFORM evil.hit('operator ' || $3 || '(numeric,bigint)');
    RETURN CASE $3 WHEN '*' THEN $1 * $2::numeric ELSE $1 / $2::numeric END;
END
$$;
CREATE FUNCTION evil.mul_num_big(numeric, bigint) RETURNS numeric LANGUAGE sql AS $$ SELECT evil.f_num_big($1, $2, '*') $$;
CREATE FUNCTION evil.div_num_big(numeric, bigint) RETURNS numeric LANGUAGE sql AS $$ SELECT evil.f_num_big($1, $2, '/') $$;
CREATE OPERATOR evil.* (LEFTARG = numeric, RIGHTARG = bigint, FUNCTION = evil.mul_num_big);
CREATE OPERATOR evil./ (LEFTARG = numeric, RIGHTARG = bigint, FUNCTION = evil.div_num_big);
CREATE FUNCTION evil.eq_vc_text(varchar, text) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('operator =(varchar,text)'); RETURN $1::text = $2; END $$;
CREATE OPERATOR evil.= (LEFTARG = varchar, RIGHTARG = text, FUNCTION = evil.eq_vc_text);
CREATE FUNCTION evil.ilike_vc_text(varchar, text) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('operator ~~*(varchar,text)'); RETURN $1::text ~~* $2; END $$;
CREATE OPERATOR evil.~~* (LEFTARG = varchar, RIGHTARG = text, FUNCTION = evil.ilike_vc_text);
CREATE FUNCTION evil.eq_uuid(uuid, uuid) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('operator =(uuid,uuid)'); RETURN true; END $$;
CREATE OPERATOR evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = evil.eq_uuid);
CREATE FUNCTION evil.eq_uuid_arr(uuid, uuid[]) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('operator =(uuid,uuid[])'); RETURN true; END $$;
CREATE OPERATOR evil.= (LEFTARG = uuid, RIGHTARG = uuid[], FUNCTION = evil.eq_uuid_arr);
-- Relations named like the host's and the extension's: each records a hit when read; user_shops
-- makes the hostile user the owner of every shop, the settings would count pending orders.
CREATE VIEW evil.user_shops AS
    SELECT s.id, 'e2200000-0000-0000-0000-000000000001'::uuid AS user_id, s.shop_name, s.shop_slug, s.created_at
      FROM public.user_shops s WHERE (SELECT evil.hit('evil.user_shops'));
CREATE VIEW evil.customer_tracking_settings AS
    SELECT * FROM (VALUES ('paid_statuses', 'pending'), ('column:total_price', 'base_price')) v(setting, value)
     WHERE (SELECT evil.hit('evil.customer_tracking_settings'));
CREATE VIEW evil.shop_orders AS SELECT * FROM public.shop_orders WHERE (SELECT evil.hit('evil.shop_orders'));
CREATE VIEW evil.shop_customers AS SELECT * FROM public.shop_customers WHERE (SELECT evil.hit('evil.shop_customers'));
CREATE VIEW evil.customer_tracking AS SELECT * FROM public.customer_tracking WHERE (SELECT evil.hit('evil.customer_tracking'));
CREATE VIEW evil.customer_tracking_shop_totals AS
    SELECT * FROM public.customer_tracking_shop_totals WHERE (SELECT evil.hit('evil.customer_tracking_shop_totals'));
CREATE VIEW evil.customer_tracking_daily AS
    SELECT * FROM public.customer_tracking_daily WHERE (SELECT evil.hit('evil.customer_tracking_daily'));
-- The traps work: called unqualified on this search_path, they are the ones that run.
SET ct.phase = 'self-test';
SELECT now() IS NOT NULL AS t, normalize_phone('0241234567') AS normalized, count(*) AS shops FROM user_shops;
SELECT 1.0 * 2::bigint AS product, 'x'::varchar = 'x'::text AS eq, generate_series('2024-01-01'::date, '2024-01-01'::date, '1 day') IS NOT NULL AS gs;
SELECT object FROM evil.hits ORDER BY 1;
TRUNCATE evil.hits;

--------------------------------------------------------------------------------
-- Phase 1, as the hostile user in a fresh session, with temp tables shadowing the extension's
-- relation names as well: orders go through every trigger path; the dashboards show nothing.
--------------------------------------------------------------------------------
\c - ct_hostile
\set VERBOSITY terse
SET client_min_messages = warning;
SET ct.phase = 'hostile: orders';
CREATE TEMP TABLE user_shops AS SELECT id, 'e2200000-0000-0000-0000-000000000001'::uuid AS user_id FROM public.user_shops;
CREATE TEMP TABLE customer_tracking_settings (setting text, value text);
INSERT INTO customer_tracking_settings VALUES ('paid_statuses', 'pending'), ('column:total_price', 'base_price');
CREATE TEMP TABLE shop_customers AS SELECT * FROM public.shop_customers;
CREATE TEMP TABLE customer_tracking AS SELECT * FROM public.customer_tracking;
INSERT INTO public.shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, base_price, payment_status, shop_slug, created_at) VALUES
  ('c2200000-0000-0000-0000-000000000001', 'a2200000-0000-0000-0000-00000000000a', 'Ama',   '0241234567',   'MTN',        10.00, 1, 'paid',      'kofi-data',   '2024-03-01 10:00+00'),
  ('c2200000-0000-0000-0000-000000000002', 'a2200000-0000-0000-0000-00000000000a', 'Ama',   '024 123 4567', 'MTN',        20.00, 1, 'completed', 'promo',       '2024-03-05 10:00+00'),
  ('c2200000-0000-0000-0000-000000000003', 'a2200000-0000-0000-0000-00000000000a', 'Kwame', '0201112222',   'Telecel',     5.00, 1, 'pending',   'kofi-data',   '2024-03-06 10:00+00'),
  ('c2200000-0000-0000-0000-000000000004', 'a2200000-0000-0000-0000-00000000000b', 'Efua',  '0551234567',   'AirtelTigo', 50.00, 1, 'paid',      'ama-bundles', '2024-03-02 10:00+00'),
  ('c2200000-0000-0000-0000-000000000005', 'a2200000-0000-0000-0000-00000000000a', 'Yaw',   '0271234567',   'MTN',         8.00, 1, 'paid',      NULL,          '2024-03-04 10:00+00');
UPDATE public.shop_orders SET payment_status = 'paid' WHERE id = 'c2200000-0000-0000-0000-000000000003';
UPDATE public.shop_orders SET payment_status = 'refunded' WHERE id = 'c2200000-0000-0000-0000-000000000001';
UPDATE public.shop_orders SET customer_phone = '0271234999' WHERE id = 'c2200000-0000-0000-0000-000000000005';
DELETE FROM public.shop_orders WHERE id = 'c2200000-0000-0000-0000-000000000005';
-- A trigger, or a replaced extension function, would be the easy way in: both refused.
CREATE FUNCTION pg_temp.grab() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER grab AFTER INSERT ON public.shop_customers FOR EACH ROW EXECUTE FUNCTION pg_temp.grab();
CREATE OR REPLACE FUNCTION public.customer_tracking_current_owner() RETURNS uuid LANGUAGE sql AS $$ SELECT NULL::uuid $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT NULL::timestamptz $$;
SET ct.phase = 'hostile: reads';
SET request.jwt.claims = '{"sub": "e2200000-0000-0000-0000-000000000001"}';
SELECT public.customer_tracking_owned_shops();
SELECT count(*) AS customers FROM public.shop_customers;
SELECT count(*) AS tracking_rows FROM public.customer_tracking;
SELECT * FROM shop_customer_metrics('a2200000-0000-0000-0000-00000000000a', '2024-03-31 23:00+00');
SELECT count(*) FROM shop_slug_analytics('a2200000-0000-0000-0000-00000000000a');
SELECT count(*) FROM shop_customer_list('a2200000-0000-0000-0000-00000000000a');
SELECT count(*) FROM shop_customer_list('a2200000-0000-0000-0000-00000000000a', '024 123 4567');
SELECT count(*) FROM customer_purchase_history(public.customer_tracking_customer_id('a2200000-0000-0000-0000-00000000000a', '+233241234567'));
SELECT count(*) FROM shop_network_analytics('a2200000-0000-0000-0000-00000000000a');
SELECT count(*) FROM shop_purchase_frequency('a2200000-0000-0000-0000-00000000000a');
SELECT sum(customers) FROM shop_last_purchase_decay('a2200000-0000-0000-0000-00000000000a', '2024-03-31 23:00+00');
SELECT sum(purchases) FROM shop_daily_series('a2200000-0000-0000-0000-00000000000a', '2024-03-01', '2024-03-07');
SELECT shop_customer_overview('a2200000-0000-0000-0000-00000000000a') LIKE '%Total Customers: 0 %' AS overview_shows_nothing;
RESET request.jwt.claims;
SELECT phase, object, run_as, superuser, count(*) > 0 AS called FROM evil.hits GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3;

--------------------------------------------------------------------------------
-- Phase 2, an `auth` schema that appears after installation: its uid() must not run with the
-- extension owner's rights (customer_tracking_owned_shops() is SECURITY DEFINER).
--------------------------------------------------------------------------------
SET ct.phase = 'hostile: auth.uid()';
CREATE SCHEMA auth;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('auth.uid()'); RETURN 'b2200000-0000-0000-0000-00000000000a'; END $$;
SELECT count(*) >= 0 AS queried FROM public.shop_customers;
SELECT count(*) >= 0 AS queried FROM public.customer_tracking_owned_shops();
SELECT object, run_as, superuser FROM evil.hits
 WHERE phase = 'hostile: auth.uid()' AND run_as <> 'ct_hostile' GROUP BY 1, 2, 3 ORDER BY 1, 2;
DROP SCHEMA auth CASCADE;

--------------------------------------------------------------------------------
-- Phase 3, the DBA (superuser) with the hostile search_path and temp look-alikes: a new order in
-- a fresh session, then every maintenance function.
--------------------------------------------------------------------------------
\c - postgres
\set VERBOSITY terse
SET client_min_messages = warning;
SET search_path = evil, public;
SET ct.phase = 'superuser: maintenance';
CREATE TEMP TABLE user_shops AS SELECT id, 'e2200000-0000-0000-0000-000000000001'::uuid AS user_id FROM public.user_shops;
CREATE TEMP TABLE customer_tracking_settings (setting text, value text);
INSERT INTO customer_tracking_settings VALUES ('paid_statuses', 'pending');
INSERT INTO public.shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, base_price, payment_status, shop_slug, created_at) VALUES
  ('c2200000-0000-0000-0000-000000000006', 'a2200000-0000-0000-0000-00000000000a', 'Kwame', '0201112222', 'Telecel', 12.00, 1, 'success', 'kofi-data', '2024-03-10 10:00+00'),
  ('c2200000-0000-0000-0000-000000000007', 'a2200000-0000-0000-0000-00000000000b', 'Esi',   '0551112222', 'MTN',      4.00, 1, 'pending', 'ama-bundles', '2024-03-11 10:00+00');
-- Orders saved while tracking was off, then the DBA's tools.
ALTER TABLE public.shop_orders DISABLE TRIGGER customer_tracking_link;
ALTER TABLE public.shop_orders DISABLE TRIGGER customer_tracking_track;
INSERT INTO public.shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, base_price, payment_status, shop_slug, created_at) VALUES
  ('c2200000-0000-0000-0000-000000000008', 'a2200000-0000-0000-0000-00000000000b', 'Efua', '+233 55 123 4567', 'AirtelTigo', 30.00, 1, 'paid', 'ama-bundles', '2024-03-12 10:00+00');
ALTER TABLE public.shop_orders ENABLE TRIGGER customer_tracking_link;
ALTER TABLE public.shop_orders ENABLE TRIGGER customer_tracking_track;
SELECT count(*) > 0 AS has_problems, count(*) FILTER (WHERE problem = 'order_link') AS unlinked FROM customer_tracking_verify();
SELECT s.shop_slug, b.orders_retracked, b.orders_linked, b.orders_untracked, b.customers_repaired
  FROM customer_tracking_backfill() b JOIN public.user_shops s ON s.id = b.shop_id ORDER BY 1;
SELECT count(*) AS problems FROM customer_tracking_verify();
SELECT count(*) AS problems FROM customer_tracking_verify_rollups();
SELECT count(*) AS orders, count(*) FILTER (WHERE purchase) AS purchases, sum(amount) FILTER (WHERE purchase) AS revenue
  FROM customer_tracking_expected_orders();
SELECT customer_tracking_check_host(), customer_tracking_attach();
SELECT customer_tracking_map_column('shop_slug', 'shop_slug');
SELECT customer_tracking_set_statuses('completed, paid, success');
SELECT customer_tracking_recompute('a2200000-0000-0000-0000-00000000000a', public.customer_tracking_customer_id('a2200000-0000-0000-0000-00000000000a', '+233201112222'));
SELECT * FROM customer_tracking_statuses();
SELECT field, column_name FROM customer_tracking_columns() WHERE field IN ('total_price', 'shop_slug') ORDER BY 1;
SELECT s.shop_slug, b.orders_retracked, b.customers_repaired
  FROM customer_tracking_backfill() b JOIN public.user_shops s ON s.id = b.shop_id ORDER BY 1;
SELECT phase, object, run_as, superuser, count(*) > 0 AS called FROM evil.hits
 WHERE phase = 'superuser: maintenance' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3;

--------------------------------------------------------------------------------
-- Phase 4, the superuser (or any privileged role) reading dashboards with that search_path:
-- the numbers are the real ones, and nothing of evil runs with its rights.
--------------------------------------------------------------------------------
SET ct.phase = 'superuser: dashboards';
\set shop '''a2200000-0000-0000-0000-00000000000a'''
SELECT * FROM shop_customer_metrics(:shop, '2024-03-31 23:00+00');
SELECT * FROM shop_slug_analytics(:shop);
SELECT customer_name, phone_number, total_purchases, total_spent, repeat_customer FROM shop_customer_list(:shop);
SELECT customer_name FROM shop_customer_list(:shop, '024 123 4567');
SELECT customer_name FROM shop_customer_list(:shop, 'kwa');
SELECT order_id, amount, payment_status, purchase_completed
  FROM customer_purchase_history(public.customer_tracking_customer_id(:shop, '+233241234567'));
SELECT * FROM shop_network_analytics(:shop);
SELECT * FROM shop_purchase_frequency(:shop);
SELECT * FROM shop_last_purchase_decay(:shop, '2024-03-31 23:00+00');
SELECT * FROM shop_daily_series(:shop, '2024-03-04', '2024-03-10');
SELECT shop_customer_overview(:shop);
SELECT phase, object, run_as, superuser, count(*) > 0 AS called FROM evil.hits
 WHERE phase = 'superuser: dashboards' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3;

-- With the default search_path (temp tables still shadow): the same state, consistent with the orders.
RESET search_path;
RESET ct.phase;
SELECT s.shop_slug, c.customer_name, c.phone_number, c.total_orders, c.total_purchases, c.total_spent,
       c.first_purchase_at AT TIME ZONE 'UTC' AS first_purchase_utc
  FROM public.shop_customers c JOIN public.user_shops s ON s.id = c.shop_id ORDER BY 1, 3;
SELECT count(*) AS problems FROM public.customer_tracking_verify();
SELECT count(*) AS hits_in_all FROM evil.hits;

-- Clean up: the database, then the role this test created.
\c contrib_regression postgres
\set VERBOSITY terse
SET client_min_messages = warning;
DROP DATABASE ct_definer;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ct_hostile'
                  AND shobj_description(oid, 'pg_authid') = 'customer_tracking test 22_definer_safety') THEN
        DROP ROLE ct_hostile;
    END IF;
END
$$;
