-- Tenancy without Supabase (no auth schema, no anon/authenticated/service_role): every role may
-- read the extension's tables, row-level security decides which rows by the sub of PostgREST's
-- request.jwt.claims; nobody but the owner writes them; the trigger works for any inserting role.
\set VERBOSITY terse
SET client_min_messages = warning;
SET TimeZone = 'UTC';
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['ct_rest_anon', 'ct_rest_user'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXECUTE format('COMMENT ON ROLE %I IS %L', r, 'customer_tracking test 21_postgrest_tenancy');
        END IF;
    END LOOP;
END
$$;
-- The host's grants: anyone may read shops and place orders; owners read orders.
GRANT SELECT ON user_shops TO ct_rest_anon, ct_rest_user;
GRANT INSERT ON shop_orders TO ct_rest_anon, ct_rest_user;
GRANT SELECT ON shop_orders TO ct_rest_user;
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('a2100000-0000-0000-0000-00000000000a', 'b2100000-0000-0000-0000-00000000000a', 'rest-a'),
  ('a2100000-0000-0000-0000-00000000000b', 'b2100000-0000-0000-0000-00000000000b', 'rest-b');

-- What a client role may do with the extension's relations and maintenance functions.
SELECT coalesce(nullif(concat_ws(',',
           CASE WHEN has_table_privilege('ct_rest_user', c.oid, 'SELECT') THEN 'select' END,
           CASE WHEN has_table_privilege('ct_rest_user', c.oid, 'INSERT') THEN 'insert' END,
           CASE WHEN has_table_privilege('ct_rest_user', c.oid, 'UPDATE') THEN 'update' END,
           CASE WHEN has_table_privilege('ct_rest_user', c.oid, 'DELETE') THEN 'delete' END,
           CASE WHEN has_table_privilege('ct_rest_user', c.oid, 'TRUNCATE') THEN 'truncate' END,
           CASE WHEN has_table_privilege('ct_rest_user', c.oid, 'REFERENCES') THEN 'references' END,
           CASE WHEN has_table_privilege('ct_rest_user', c.oid, 'TRIGGER') THEN 'trigger' END), ''), '-') AS privileges,
       string_agg(c.relname, ' ' ORDER BY c.relname) AS relations
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'customer_tracking')
   AND d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND c.relkind IN ('r', 'v')
 GROUP BY 1 ORDER BY 1;
SELECT coalesce(string_agg(f.fn, ' ' ORDER BY f.fn), '-') AS client_can_execute
  FROM (VALUES ('customer_tracking_attach()'), ('customer_tracking_check_host()'),
        ('customer_tracking_invalidate()'), ('customer_tracking_map_column(text,name)'),
        ('customer_tracking_set_statuses(text,text)'), ('customer_tracking_recompute(uuid,uuid)'),
        ('customer_tracking_backfill(uuid)'), ('customer_tracking_verify(uuid)'),
        ('customer_tracking_verify_rollups(uuid)'), ('customer_tracking_expected_orders(uuid)')) f(fn)
 WHERE has_function_privilege('ct_rest_user', f.fn::regprocedure, 'EXECUTE');

-- A fresh backend whose first statement is a client's checkout; then again after the
-- trigger's cache was dropped.
\c contrib_regression
\set VERBOSITY terse
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SET ROLE ct_rest_anon;
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c2100000-0000-0000-0000-000000000001', 'a2100000-0000-0000-0000-00000000000a', 'Ama',  '0241234567', 'MTN',     10.00, 'paid', 'rest-a', '2024-03-01 10:00+00'),
  ('c2100000-0000-0000-0000-000000000002', 'a2100000-0000-0000-0000-00000000000a', 'Ama',  '0241234567', 'MTN',     15.00, 'paid', 'rest-a', '2024-03-02 10:00+00'),
  ('c2100000-0000-0000-0000-000000000003', 'a2100000-0000-0000-0000-00000000000b', 'Efua', '0551234567', 'Telecel', 40.00, 'paid', 'rest-b', '2024-03-03 10:00+00');
RESET ROLE;
ANALYZE shop_orders;
SET ROLE ct_rest_anon;
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('c2100000-0000-0000-0000-000000000004', 'a2100000-0000-0000-0000-00000000000b', 'Ama', '0241234567', 'MTN', 2.00, 'paid', '2024-03-04 10:00+00');
-- Without a user: nothing visible, nothing writable, no maintenance, no triggers.
SELECT count(*) AS customers FROM shop_customers;
SELECT * FROM shop_customer_metrics('a2100000-0000-0000-0000-00000000000a', '2024-03-31 23:00+00');
SELECT count(*) FROM customer_purchase_history(customer_tracking_customer_id('a2100000-0000-0000-0000-00000000000a', '+233241234567'));
UPDATE shop_customers SET total_spent = 0;
DELETE FROM customer_tracking;
TRUNCATE customer_tracking_shop_totals;
INSERT INTO customer_tracking_settings VALUES ('paid_statuses', 'pending');
SELECT customer_tracking_set_statuses('pending');
SELECT count(*) FROM customer_tracking_verify();
CREATE FUNCTION pg_temp.grab() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER grab AFTER INSERT ON shop_customers FOR EACH ROW EXECUTE FUNCTION pg_temp.grab();
RESET ROLE;
SELECT s.shop_slug, c.customer_name, c.total_purchases, c.total_spent
  FROM shop_customers c JOIN user_shops s ON s.id = c.shop_id WHERE s.shop_slug LIKE 'rest-%' ORDER BY 1, 2;

-- The owner of rest-a: their shop through the tables and the functions, nothing of rest-b.
SET ROLE ct_rest_user;
SET request.jwt.claims = '{"sub": "b2100000-0000-0000-0000-00000000000a", "role": "ct_rest_user"}';
SELECT customer_tracking_owned_shops();
SELECT shop_id, phone_number, total_purchases, total_spent FROM shop_customers ORDER BY 1, 2;
SELECT count(*) FILTER (WHERE shop_id <> 'a2100000-0000-0000-0000-00000000000a') AS other_shops, count(*) FROM customer_tracking;
SELECT s.shop_slug, m.total_customers, m.repeat_customers, m.total_revenue
  FROM user_shops s, shop_customer_metrics(s.id, '2024-03-31 23:00+00') m WHERE s.shop_slug LIKE 'rest-%' ORDER BY 1;
SELECT order_id, amount, payment_status FROM customer_purchase_history(customer_tracking_customer_id('a2100000-0000-0000-0000-00000000000a', '+233241234567'));
SELECT count(*) FROM customer_purchase_history(customer_tracking_customer_id('a2100000-0000-0000-0000-00000000000b', '+233241234567'));
SELECT count(*) FROM shop_customer_list('a2100000-0000-0000-0000-00000000000b');
SELECT count(*) FROM shop_slug_analytics('a2100000-0000-0000-0000-00000000000b');
DELETE FROM shop_customers WHERE shop_id = 'a2100000-0000-0000-0000-00000000000a';
-- The other owner, and a claim that is not a uuid.
SET request.jwt.claims = '{"sub": "b2100000-0000-0000-0000-00000000000b"}';
SELECT shop_id, phone_number, total_purchases, total_spent FROM shop_customers ORDER BY 1, 2;
SET request.jwt.claims = '{"sub": "b2100000"}';
SELECT count(*) FROM shop_customers;
RESET request.jwt.claims;
RESET ROLE;
SELECT count(*) AS problems FROM customer_tracking_verify('a2100000-0000-0000-0000-00000000000a');
SELECT count(*) AS problems FROM customer_tracking_verify('a2100000-0000-0000-0000-00000000000b');

-- Clean up.
DELETE FROM user_shops WHERE id IN ('a2100000-0000-0000-0000-00000000000a', 'a2100000-0000-0000-0000-00000000000b');
SELECT count(*) AS left_behind FROM shop_customers WHERE shop_id IN ('a2100000-0000-0000-0000-00000000000a', 'a2100000-0000-0000-0000-00000000000b');
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles
              WHERE shobj_description(oid, 'pg_authid') = 'customer_tracking test 21_postgrest_tenancy'
    LOOP
        EXECUTE format('DROP OWNED BY %I', r.rolname);
        EXECUTE format('DROP ROLE %I', r.rolname);
    END LOOP;
END
$$;
