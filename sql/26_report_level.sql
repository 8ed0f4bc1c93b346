-- Quiet by choice: customer_tracking.report_level says how orders saved untracked
-- (or tracked with a caveat) are reported: warning (the default), notice, log (server log
-- only) or off. Whatever the level, each is recorded in customer_tracking_issues. A report is
-- one line, no DETAIL (1.3 added a two-line DETAIL to every one). Errors and notices are shown
-- in full here (VERBOSITY default), so a DETAIL would show.
SET client_min_messages = notice;
SET TimeZone = 'UTC';
\set VERBOSITY default
\set SHOW_CONTEXT never
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('a2600000-0000-0000-0000-00000000000a', 'b2600000-0000-0000-0000-00000000000a', 'quiet-shop');
LOAD 'customer_tracking';
SHOW customer_tracking.report_level;
-- warning (the default)
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2600000-0000-0000-0000-000000000001', 'a2600000-0000-0000-0000-00000000000a', 'not a phone', 5, 'paid', '2024-03-01 10:00+00');
-- notice
SET customer_tracking.report_level = notice;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2600000-0000-0000-0000-000000000002', 'a2600000-0000-0000-0000-00000000000a', 'not a phone', 5, 'paid', '2024-03-01 10:00+00');
-- ... also for an order tracked with a caveat (a network name longer than the column).
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at)
VALUES ('c2600000-0000-0000-0000-000000000003', 'a2600000-0000-0000-0000-00000000000a', '0241234567', repeat('N', 60), 5, 'paid', '2024-03-01 10:00+00');
-- ... and a client that hides notices sees nothing.
SET client_min_messages = warning;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2600000-0000-0000-0000-000000000004', 'a2600000-0000-0000-0000-00000000000a', NULL, 5, 'paid', '2024-03-01 10:00+00');
SET client_min_messages = notice;
-- log: to the server log, not to the client (unless it asks for LOG messages).
SET customer_tracking.report_level = log;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2600000-0000-0000-0000-000000000005', 'a2600000-0000-0000-0000-00000000000a', 'not a phone', 5, 'paid', '2024-03-01 10:00+00');
SET client_min_messages = log;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2600000-0000-0000-0000-000000000006', 'a2600000-0000-0000-0000-00000000000a', 'not a phone', 5, 'paid', '2024-03-01 10:00+00');
SET client_min_messages = notice;
-- off
SET customer_tracking.report_level = off;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2600000-0000-0000-0000-000000000007', 'a2600000-0000-0000-0000-00000000000a', 'not a phone', 5, 'paid', '2024-03-01 10:00+00');
-- A multi-row statement: one line per order (off: none).
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
SELECT ('c2600000-0000-0000-0000-00000000001' || i)::uuid, 'a2600000-0000-0000-0000-00000000000a', 'bad ' || i, 5, 'paid', '2024-03-02 10:00+00'
  FROM generate_series(0, 2) i;
SET customer_tracking.report_level = warning;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
SELECT ('c2600000-0000-0000-0000-00000000002' || i)::uuid, 'a2600000-0000-0000-0000-00000000000a', 'bad ' || i, 5, 'paid', '2024-03-02 10:00+00'
  FROM generate_series(0, 2) i;
-- Strict mode rejects the order, whatever the level.
SET customer_tracking.report_level = off;
SET customer_tracking.strict = on;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2600000-0000-0000-0000-000000000008', 'a2600000-0000-0000-0000-00000000000a', 'not a phone', 5, 'paid', '2024-03-01 10:00+00');
RESET customer_tracking.strict;
-- Levels are spelt case-insensitively; anything else is refused, naming the levels.
SET customer_tracking.report_level = 'NOTICE';
SHOW customer_tracking.report_level;
SET customer_tracking.report_level = error;
RESET customer_tracking.report_level;
-- Every one of them is recorded, whatever was reported.
SELECT shop_order_id, issue, untracked FROM customer_tracking_issues
 WHERE shop_id = 'a2600000-0000-0000-0000-00000000000a' ORDER BY 1, 2;
SELECT count(*) AS problems FROM customer_tracking_verify('a2600000-0000-0000-0000-00000000000a');

-- Clean up: the orders (through the trigger), their issues, the shop.
SET client_min_messages = warning;
DELETE FROM shop_orders WHERE shop_id = 'a2600000-0000-0000-0000-00000000000a';
DELETE FROM customer_tracking_issues WHERE shop_id = 'a2600000-0000-0000-0000-00000000000a';
DELETE FROM user_shops WHERE id = 'a2600000-0000-0000-0000-00000000000a';
SELECT count(*) AS problems FROM customer_tracking_verify('a2600000-0000-0000-0000-00000000000a');
