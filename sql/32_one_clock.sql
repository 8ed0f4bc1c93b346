-- One clock: a creation time without a zone (timestamp or date column) is read
-- in one fixed zone, the setting naive_time_zone (default UTC), never in the session's TimeZone.
-- Orders written and verified from sessions in different zones give the same stored times and UTC
-- days. Runs in a database of its own (ct_one_clock).
SET client_min_messages = warning;
DROP DATABASE IF EXISTS ct_one_clock;
CREATE DATABASE ct_one_clock;
\c ct_one_clock
SET client_min_messages = warning;
\set SHOW_CONTEXT never
\set shop '''a3200000-0000-0000-0000-000000000001'''
\i test/fixtures/host-schema.sql
-- The host keeps local times without a zone.
ALTER TABLE shop_orders ALTER COLUMN created_at TYPE timestamp;
CREATE EXTENSION customer_tracking;
INSERT INTO user_shops (id, user_id, shop_slug) VALUES (:shop, 'b3200000-0000-0000-0000-000000000001', 'ct32');
\set times 'SELECT right(o.id::text, 2) AS ord, o.created_at, t.accessed_at AT TIME ZONE ''UTC'' AS accessed_at_utc FROM shop_orders o JOIN customer_tracking t ON t.id = o.id ORDER BY 1'
\set days 'SELECT day, sum(checkouts) AS checkouts, sum(purchases) AS purchases FROM customer_tracking_daily GROUP BY day HAVING sum(checkouts) <> 0 ORDER BY day'

-- The same naive time written from three sessions in three zones.
SET TimeZone = 'Pacific/Kiritimati';   -- UTC+14
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at) VALUES
  ('c3200000-0000-0000-0000-000000000001', :shop, '0241234567', 10, 'paid', '2026-01-05 23:30');
\c ct_one_clock
SET client_min_messages = warning;
SET TimeZone = 'America/Los_Angeles';  -- UTC-8
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at) VALUES
  ('c3200000-0000-0000-0000-000000000002', :shop, '0241234567', 20, 'paid', '2026-01-05 23:30');
\c ct_one_clock
SET client_min_messages = warning;
SET TimeZone = 'UTC';
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at) VALUES
  ('c3200000-0000-0000-0000-000000000003', :shop, '0241234567', 30, 'paid', '2026-01-05 23:30');
-- One instant, one UTC day, whoever wrote them.
:times;
:days;
SELECT first_purchase_at AT TIME ZONE 'UTC' AS first_utc, last_purchase_at AT TIME ZONE 'UTC' AS last_utc
  FROM shop_customers;

-- Verify and backfill from sessions in other zones agree with what is stored.
\c ct_one_clock
SET client_min_messages = warning;
SET TimeZone = 'Asia/Tokyo';
SELECT count(*) AS verify_rows FROM customer_tracking_verify();
SELECT orders_retracked, customers_repaired FROM customer_tracking_backfill();
\c ct_one_clock
SET client_min_messages = warning;
SET TimeZone = 'America/Los_Angeles';
SELECT count(*) AS verify_rows FROM customer_tracking_verify();
SELECT orders_retracked, customers_repaired FROM customer_tracking_backfill();
SELECT field, column_type, state FROM customer_tracking_host_state() WHERE field IN ('created_at', 'naive_time_zone');

-- Another zone for naive times: an unknown name is refused; a known one re-derives the orders on
-- the next backfill (from any session), and every session then reads the same.
SELECT customer_tracking_set_naive_time_zone('Mars/Olympus');
SELECT customer_tracking_set_naive_time_zone('Africa/Lagos');   -- UTC+1
SELECT count(*) AS verify_rows FROM customer_tracking_verify();
SELECT orders_retracked FROM customer_tracking_backfill();
\c ct_one_clock
SET client_min_messages = warning;
SET TimeZone = 'Pacific/Kiritimati';
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at) VALUES
  ('c3200000-0000-0000-0000-000000000004', :shop, '0241234567', 40, 'paid', '2026-01-06 00:30');
SET TimeZone = 'UTC';
:times;
:days;
SELECT count(*) AS verify_rows FROM customer_tracking_verify();

-- A date column: midnight in the same zone.
SELECT customer_tracking_set_naive_time_zone('UTC');
UPDATE shop_orders SET created_at = date_trunc('day', created_at);
ALTER TABLE shop_orders ALTER COLUMN created_at TYPE date;
SET TimeZone = 'Asia/Tokyo';
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at) VALUES
  ('c3200000-0000-0000-0000-000000000005', :shop, '0241234567', 50, 'paid', '2026-01-07');
SET TimeZone = 'UTC';
:times;
SET TimeZone = 'America/Los_Angeles';
SELECT count(*) AS verify_rows FROM customer_tracking_verify();

\c contrib_regression
SET client_min_messages = warning;
DROP DATABASE ct_one_clock;
RESET client_min_messages;
