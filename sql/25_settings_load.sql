-- Settings cannot be believed on while off. Until a session first uses the
-- extension's library, PostgreSQL keeps any customer_tracking.* value as a placeholder: SET
-- accepts it and SHOW shows it, whoever set it and whatever it says. In 1.3, an application
-- role that ran SET customer_tracking.strict = on first saw "on", then at its first order the
-- library dropped the value with a WARNING (strict was for superusers) and saved a bad order
-- untracked. Now every setting behaves the same before and after loading, or the session's
-- first use of the library fails, naming what was not applied. Each case starts a fresh
-- session (\c), where the library is not loaded yet.
\set VERBOSITY terse
SET client_min_messages = warning;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ct_app') THEN
        CREATE ROLE ct_app LOGIN;
        COMMENT ON ROLE ct_app IS 'customer_tracking test 25_settings_load';
    END IF;
END
$$;
GRANT SELECT ON user_shops TO ct_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON shop_orders TO ct_app;
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('a2500000-0000-0000-0000-00000000000a', 'b2500000-0000-0000-0000-00000000000a', 'settings-shop');
-- Who may set what (context: user = any role, superuser = superusers and roles granted SET).
LOAD 'customer_tracking';
SELECT name, setting, context FROM pg_settings WHERE name LIKE 'customer_tracking.%' ORDER BY 1;

--------------------------------------------------------------------------------
-- strict, set by the application's role before loading: any role may set it, so it holds.
--------------------------------------------------------------------------------
\c - ct_app
\set VERBOSITY terse
SET customer_tracking.strict = on;
SHOW customer_tracking.strict;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2500000-0000-0000-0000-000000000001', 'a2500000-0000-0000-0000-00000000000a', 'not a phone', 5, 'paid', '2024-03-01 10:00+00');
SHOW customer_tracking.strict;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2500000-0000-0000-0000-000000000002', 'a2500000-0000-0000-0000-00000000000a', '0241234567', 5, 'paid', '2024-03-01 10:00+00');
-- After loading, the same.
SET customer_tracking.strict = off;
SET customer_tracking.strict = on;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2500000-0000-0000-0000-000000000001', 'a2500000-0000-0000-0000-00000000000a', 'not a phone', 5, 'paid', '2024-03-01 10:00+00');

--------------------------------------------------------------------------------
-- default_region (it decides who a customer is, so one value per database: superusers only),
-- set by the application's role before loading: refused at the first use of the library, as
-- the same SET is refused at once afterwards. Nothing is tracked with a region the session
-- did not believe in.
--------------------------------------------------------------------------------
\c - ct_app
\set VERBOSITY terse
SET customer_tracking.default_region = 'NG';
SHOW customer_tracking.default_region;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2500000-0000-0000-0000-000000000003', 'a2500000-0000-0000-0000-00000000000a', '08031234567', 7, 'paid', '2024-03-02 10:00+00');
SHOW customer_tracking.default_region;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2500000-0000-0000-0000-000000000003', 'a2500000-0000-0000-0000-00000000000a', '0241234567', 7, 'paid', '2024-03-02 10:00+00');
SET customer_tracking.default_region = 'NG';
-- The same for a value no role may set, and for a name that does not exist (a typo).
\c - ct_app
\set VERBOSITY terse
SET customer_tracking.strict = 'maybe';
SET customer_tracking.stirct = on;
SHOW customer_tracking.stirct;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2500000-0000-0000-0000-000000000004', 'a2500000-0000-0000-0000-00000000000a', 'not a phone', 5, 'paid', '2024-03-03 10:00+00');
SHOW customer_tracking.strict;
SET customer_tracking.stirct = on;
SET customer_tracking.strict = 'maybe';
-- A dashboard function, or normalize_phone(), is a first use as well.
\c - ct_app
\set VERBOSITY terse
SET customer_tracking.default_region = 'NG';
SELECT normalize_phone('08031234567');
SELECT normalize_phone('08031234567');
-- The same for a value asked for in the connection's options (PGOPTIONS).
\c "dbname=contrib_regression user=ct_app options=-ccustomer_tracking.default_region=NG"
\set VERBOSITY terse
SHOW customer_tracking.default_region;
SELECT normalize_phone('08031234567');
SHOW customer_tracking.default_region;
-- (psql keeps the options for later \c commands: connect anew without them.)
\c "dbname=contrib_regression user=ct_app"

--------------------------------------------------------------------------------
-- What applies before loading as well as after.
--------------------------------------------------------------------------------
-- report_level: any role.
\c - ct_app
\set VERBOSITY terse
SET customer_tracking.report_level = notice;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2500000-0000-0000-0000-000000000005', 'a2500000-0000-0000-0000-00000000000a', 'not a phone', 5, 'paid', '2024-03-04 10:00+00');
-- default_region set by a superuser (for a session only to show it here: orders of one
-- database must all be read in one region, so set it with ALTER DATABASE ... SET).
\c - postgres
\set VERBOSITY terse
SET customer_tracking.default_region = 'NG';
SELECT normalize_phone('08031234567');
SHOW customer_tracking.default_region;
RESET customer_tracking.default_region;
-- ... or by a role granted SET on it.
GRANT SET ON PARAMETER customer_tracking.default_region TO ct_app;
\c - ct_app
\set VERBOSITY terse
SET customer_tracking.default_region = 'NG';
SELECT normalize_phone('08031234567');
\c - postgres
\set VERBOSITY terse
REVOKE SET ON PARAMETER customer_tracking.default_region FROM ct_app;
-- Settings of the role (ALTER ROLE ... SET, made by a superuser) apply from the session's start.
ALTER ROLE ct_app SET customer_tracking.strict = on;
\c - ct_app
\set VERBOSITY terse
SHOW customer_tracking.strict;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2500000-0000-0000-0000-000000000008', 'a2500000-0000-0000-0000-00000000000a', 'not a phone', 5, 'paid', '2024-03-06 10:00+00');
\c - postgres
\set VERBOSITY terse
ALTER ROLE ct_app RESET customer_tracking.strict;

-- What was saved: the orders the sessions meant, read in the region they believed in.
SELECT o.id, o.customer_phone, c.phone_number, i.issue
  FROM shop_orders o
  LEFT JOIN shop_customers c ON c.id = o.shop_customer_id
  LEFT JOIN customer_tracking_issues i ON i.shop_order_id = o.id AND i.resolved_at IS NULL
 WHERE o.shop_id = 'a2500000-0000-0000-0000-00000000000a' ORDER BY 1;
SELECT count(*) AS problems FROM customer_tracking_verify('a2500000-0000-0000-0000-00000000000a');

-- Clean up: the orders (through the trigger), the shop, the role.
SET client_min_messages = warning;
DELETE FROM shop_orders WHERE shop_id = 'a2500000-0000-0000-0000-00000000000a';
DELETE FROM customer_tracking_issues WHERE shop_id = 'a2500000-0000-0000-0000-00000000000a';
DELETE FROM user_shops WHERE id = 'a2500000-0000-0000-0000-00000000000a';
SELECT count(*) AS problems FROM customer_tracking_verify('a2500000-0000-0000-0000-00000000000a');
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ct_app'
                  AND shobj_description(oid, 'pg_authid') = 'customer_tracking test 25_settings_load') THEN
        REVOKE ALL ON user_shops, shop_orders FROM ct_app;
        DROP ROLE ct_app;
    END IF;
END
$$;
