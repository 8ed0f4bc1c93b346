-- Column mapping: a host whose shop_orders names columns differently (and has no slug column).
-- CREATE EXTENSION names every missing column in one error; customer_tracking.column_map maps
-- them at install; customer_tracking_map_column() changes the mapping later. Runs in a database
-- of its own (ct_mapping), since the extension is installed here already.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS ct_mapping;
CREATE DATABASE ct_mapping;
\c ct_mapping
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
\set shop '''a4000000-0000-0000-0000-000000000001'''
\set customers 'SELECT phone_number, customer_name, total_orders, total_purchases, total_spent, first_purchase_at, last_purchase_at, first_source_slug, preferred_network FROM shop_customers ORDER BY phone_number'
\set verify 'SELECT problem, right(shop_order_id::text, 2) AS ord, stored, expected FROM customer_tracking_verify() WHERE problem NOT LIKE ''rollup %'' ORDER BY 1, 2, 3'

CREATE TABLE user_shops (id uuid PRIMARY KEY, user_id uuid NOT NULL);
CREATE TABLE shop_orders (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  shop_id       uuid NOT NULL REFERENCES user_shops (id),
  customer_name text,
  customer_email text,
  buyer_phone   text,
  network       text,
  amount        numeric(12,2) NOT NULL,
  status        text NOT NULL DEFAULT 'pending',
  placed_at     timestamptz NOT NULL DEFAULT now(),
  note          text
);
INSERT INTO user_shops VALUES (:shop, 'b4000000-0000-0000-0000-000000000001');
-- Orders taken before the extension is installed.
INSERT INTO shop_orders (id, shop_id, customer_name, buyer_phone, network, amount, status, placed_at) VALUES
  ('c4000000-0000-0000-0000-000000000001', :shop, 'Kojo', '0241234567',       'MTN',     10.00, 'paid',    '2026-01-01 10:00+00'),
  ('c4000000-0000-0000-0000-000000000002', :shop, 'Kojo', '+233 24 123 4567', 'MTN',     15.00, 'pending', '2026-01-02 10:00+00'),
  ('c4000000-0000-0000-0000-000000000003', :shop, 'Esi',  'ring the bell',    'Telecel', 20.00, 'paid',    '2026-01-03 10:00+00'),
  ('c4000000-0000-0000-0000-000000000004', :shop, 'Esi',  '0501234567',       'Telecel',  5.00, 'success', '2026-01-04 10:00+00');

--------------------------------------------------------------------------------
-- 1. Without a mapping: one error naming every missing column; nothing is left behind.
--------------------------------------------------------------------------------
CREATE EXTENSION customer_tracking;
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'customer_tracking';
SELECT count(*) AS link_column FROM pg_attribute WHERE attrelid = 'shop_orders'::regclass AND attname = 'shop_customer_id';
-- A partial mapping: the error names what is still missing.
SET customer_tracking.column_map = 'customer_phone=buyer_phone, total_price=amount';
CREATE EXTENSION customer_tracking;
-- A mapping to a column that does not exist names the column and its field; a required field
-- cannot be mapped to nothing.
SET customer_tracking.column_map = 'customer_phone=phone_no, total_price=, payment_status=status, created_at=placed_at, shop_slug=';
CREATE EXTENSION customer_tracking;
-- An unknown field in the mapping is an error of its own.
SET customer_tracking.column_map = 'customer_phone=buyer_phone, phone=buyer_phone';
CREATE EXTENSION customer_tracking;
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'customer_tracking';

--------------------------------------------------------------------------------
-- 2. With the mapping it installs, and orders are tracked through the mapped columns.
--------------------------------------------------------------------------------
SET customer_tracking.column_map = 'customer_phone=buyer_phone, total_price=amount, payment_status=status, created_at=placed_at, shop_slug=';
CREATE EXTENSION customer_tracking;
RESET customer_tracking.column_map;
SELECT setting, value FROM customer_tracking_settings ORDER BY 1;
SELECT field, column_name, required, mapped FROM customer_tracking_columns() ORDER BY field;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'shop_orders'::regclass AND NOT tgisinternal ORDER BY 1;
-- Orders taken before the install are linked and counted by backfill; the untrackable one is
-- left unlinked and listed with its reason (whether backfill also warns about it is not shown).
:verify;
SET client_min_messages = error;
SELECT orders_linked, orders_untracked FROM customer_tracking_backfill();
SET client_min_messages = warning;
SELECT right(shop_order_id::text, 2) AS ord, reason, detail FROM customer_tracking_untracked ORDER BY 1;
SELECT orders_retracked, orders_linked, orders_untracked, customers_repaired FROM customer_tracking_backfill();
:verify;
:customers;
-- New orders (one with its status in capitals), a pending order paid, the bad phone fixed, an
-- unrelated update of every order.
INSERT INTO shop_orders (id, shop_id, customer_name, buyer_phone, network, amount, status, placed_at) VALUES
  ('c4000000-0000-0000-0000-000000000005', :shop, 'Kojo', '024-123-4567', 'Telecel', 7.50, 'completed', '2026-01-05 10:00+00'),
  ('c4000000-0000-0000-0000-000000000006', :shop, 'Ama',  '0551112222',   'MTN',     9.00, 'PAID',      '2026-01-06 10:00+00');
UPDATE shop_orders SET status = 'paid' WHERE id = 'c4000000-0000-0000-0000-000000000002';
UPDATE shop_orders SET buyer_phone = '050 123 4567' WHERE id = 'c4000000-0000-0000-0000-000000000003';
UPDATE shop_orders SET note = 'left at the gate';
SELECT right(id::text, 2) AS ord, shop_customer_id = customer_tracking_customer_id(shop_id, normalize_phone(buyer_phone)) AS linked
  FROM shop_orders ORDER BY id;
SELECT count(*) AS untracked FROM customer_tracking_untracked;
:customers;
:verify;

-- The mapping is stored with the extension, not taken from the session: a new session (with no
-- customer_tracking.column_map) tracks the same way.
\c ct_mapping
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
SELECT coalesce(current_setting('customer_tracking.column_map', true), '') AS column_map;
INSERT INTO shop_orders (id, shop_id, customer_name, buyer_phone, network, amount, status, placed_at) VALUES
  ('c4000000-0000-0000-0000-000000000007', :shop, 'Ama', '+233551112222', 'MTN', 1.00, 'paid', '2026-01-07 10:00+00');
SELECT total_orders, total_purchases, total_spent FROM shop_customers WHERE phone_number = '+233551112222';

--------------------------------------------------------------------------------
-- 3. customer_tracking_map_column(): later changes.
--------------------------------------------------------------------------------
-- Unknown fields and missing columns are errors; the mapping stays as it was.
SELECT customer_tracking_map_column('phone', 'buyer_phone');
SELECT customer_tracking_map_column('customer_phone', 'msisdn');
SELECT customer_tracking_map_column('network', 'carrier');
SELECT setting, value FROM customer_tracking_settings ORDER BY 1;
-- The host renames its phone column and maps it: tracking goes on.
ALTER TABLE shop_orders RENAME COLUMN buyer_phone TO msisdn;
SELECT customer_tracking_map_column('customer_phone', 'msisdn');
INSERT INTO shop_orders (id, shop_id, customer_name, msisdn, network, amount, status, placed_at) VALUES
  ('c4000000-0000-0000-0000-000000000008', :shop, 'Ama', '0551112222', 'MTN', 2.00, 'paid', '2026-01-08 10:00+00');
SELECT total_orders, total_purchases, total_spent FROM shop_customers WHERE phone_number = '+233551112222';
:verify;
-- An optional field mapped to nothing ('') is treated as absent; backfill re-derives the
-- existing orders, so verify agrees with the stats.
SELECT customer_tracking_map_column('network', '');
SELECT orders_linked, orders_untracked FROM customer_tracking_backfill();
SELECT phone_number, preferred_network, network_purchases FROM shop_customers ORDER BY 1;
:verify;
SELECT customer_tracking_map_column('network', 'network');
SELECT orders_linked, orders_untracked FROM customer_tracking_backfill();
SELECT phone_number, preferred_network, network_purchases FROM shop_customers ORDER BY 1;
:verify;

\c contrib_regression
SET client_min_messages = warning;
DROP DATABASE ct_mapping;
RESET client_min_messages;
