-- Rollup rows are written directly through the table access method (src/row_writer.cpp) and,
-- when a rollup table has a trigger or columns the extension does not know, or when
-- customer_tracking.direct_writes is off, by SQL instead.
-- Either way the rollups equal a recomputation from the orders: after single orders, savepoints,
-- refunds and deletes, and after one statement big enough to be written in several flushes.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set shop '''a6000000-0000-0000-0000-000000000001'''
\set rollup_problems 'SELECT count(*) AS rollup_problems FROM customer_tracking_verify_rollups(''a6000000-0000-0000-0000-000000000001'')'
\set metrics 'SELECT * FROM shop_customer_metrics(''a6000000-0000-0000-0000-000000000001'', ''2026-03-01 00:00+00'')'
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('a6000000-0000-0000-0000-000000000001', 'b6000000-0000-0000-0000-000000000001', 'ct06');

-- 1. Direct writes.
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c6000000-0000-0000-0000-000000000001', :shop, '0246000001', 'MTN', 10.00, 'paid', 'ct06', '2026-02-01 10:00+00');
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c6000000-0000-0000-0000-000000000002', :shop, '0246000001', 'MTN', 20.00, 'paid', 'ct06', '2026-02-02 10:00+00'),
  ('c6000000-0000-0000-0000-000000000003', :shop, '0206000003', 'Telecel', 5.00, 'pending', NULL, '2026-02-02 11:00+00');
BEGIN;
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c6000000-0000-0000-0000-000000000004', :shop, '0206000003', 'Telecel', 7.50, 'paid', 'promo', '2026-02-03 10:00+00');
SAVEPOINT before_mistake;
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c6000000-0000-0000-0000-000000000005', :shop, '0276000005', 'AirtelTigo', 99.00, 'paid', 'promo', '2026-02-03 12:00+00');
ROLLBACK TO SAVEPOINT before_mistake;
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c6000000-0000-0000-0000-000000000003';
COMMIT;
UPDATE shop_orders SET payment_status = 'refunded' WHERE id = 'c6000000-0000-0000-0000-000000000002';
DELETE FROM shop_orders WHERE id = 'c6000000-0000-0000-0000-000000000001';
:rollup_problems;
:metrics;

-- One statement of 3,000 orders on 1,500 days: more rollup keys than are kept in memory, so
-- the statement writes them in several flushes, the same rows (shop totals) more than once.
INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT :shop, '024' || lpad((6100000 + g % 700)::text, 7, '0'), (ARRAY['MTN', 'Telecel'])[1 + g % 2],
       1 + g % 50, CASE WHEN g % 10 = 0 THEN 'pending' ELSE 'paid' END, 'bulk-' || g % 3,
       '2022-01-01 08:00+00'::timestamptz + (g / 2) * interval '1 day'
  FROM generate_series(1, 3000) g;
:rollup_problems;
SELECT count(*) AS stripes_of_this_session FROM customer_tracking_shop_totals WHERE shop_id = :shop;

-- 2. A trigger on a rollup table: its rows are written by SQL, so the trigger sees them.
CREATE TABLE ct06_seen (tg_op text);
CREATE FUNCTION ct06_note() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO ct06_seen VALUES (TG_OP); RETURN NULL; END $$;
CREATE TRIGGER ct06_daily AFTER INSERT OR UPDATE ON customer_tracking_daily
    FOR EACH ROW EXECUTE FUNCTION ct06_note();
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c6000000-0000-0000-0000-000000000006', :shop, '0246000001', 'MTN', 30.00, 'paid', 'ct06', '2026-02-04 10:00+00');
SELECT tg_op, count(*) FROM ct06_seen GROUP BY tg_op ORDER BY 1;
:rollup_problems;

-- Without the trigger, direct writes again (the trigger function is not called).
DROP TRIGGER ct06_daily ON customer_tracking_daily;
TRUNCATE ct06_seen;
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c6000000-0000-0000-0000-000000000007', :shop, '0246000001', 'MTN', 40.00, 'paid', 'ct06', '2026-02-05 10:00+00');
SELECT count(*) AS trigger_calls FROM ct06_seen;
:rollup_problems;

-- 3. customer_tracking.direct_writes = off (the kill switch): SQL statements, same rollups.
SET customer_tracking.direct_writes = off;
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c6000000-0000-0000-0000-000000000008', :shop, '0206000003', 'Telecel', 12.00, 'paid', 'promo', '2026-02-06 10:00+00'),
  ('c6000000-0000-0000-0000-000000000009', :shop, '0276000009', 'AirtelTigo', 8.00, 'paid', NULL, '2026-02-06 11:00+00');
UPDATE shop_orders SET payment_status = 'refunded' WHERE id = 'c6000000-0000-0000-0000-000000000004';
RESET customer_tracking.direct_writes;
:rollup_problems;
:metrics;
SELECT count(*) AS customer_problems FROM customer_tracking_verify(:shop);

DROP TABLE ct06_seen;
DROP FUNCTION ct06_note();
