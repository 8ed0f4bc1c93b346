-- Order lifecycle: every change to shop_orders is reflected exactly once.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set verify 'SELECT problem, stored, expected FROM customer_tracking_verify() ORDER BY 1, 2'
\set show 'SELECT phone_number, customer_name, total_orders, total_purchases, total_spent, repeat_customer, first_purchase_at, last_purchase_at, first_source_slug, preferred_network, network_purchases FROM shop_customers WHERE shop_id = ''a0000000-0000-0000-0000-000000000001'' ORDER BY phone_number'

INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000001', 'kofi-data'),
  ('a0000000-0000-0000-0000-000000000002', 'b0000000-0000-0000-0000-000000000002', 'ama-bundles');

-- Inserted already paid; the same person typing the number four ways is one customer.
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001', 'Ama', '0241234567',       'MTN',     10.50, 'completed', 'kofi-data', '2026-01-05 10:00+00'),
  ('c0000000-0000-0000-0000-000000000002', 'a0000000-0000-0000-0000-000000000001', 'Ama', '024 123 4567',     'MTN',     20.00, 'paid',      'promo',     '2026-01-06 10:00+00'),
  ('c0000000-0000-0000-0000-000000000003', 'a0000000-0000-0000-0000-000000000001', 'Ama', '+233 24 123 4567', 'Telecel',  5.25, 'SUCCESS',   'kofi-data', '2026-01-07 10:00+00'),
  ('c0000000-0000-0000-0000-000000000004', 'a0000000-0000-0000-0000-000000000001', 'Ama', '233241234567',     'Telecel',  1.00, 'pending',   'kofi-data', '2026-01-08 10:00+00');
:show;
-- Linked in the BEFORE trigger: no second UPDATE, the row is linked as inserted.
SELECT id, shop_customer_id = customer_tracking_customer_id(shop_id, '+233241234567') AS linked
  FROM shop_orders ORDER BY id;
SELECT shop_order_id, accessed_via_slug, purchase_completed, purchase_amount, network
  FROM customer_tracking ORDER BY shop_order_id;

-- Payment webhook: pending -> paid counts once, even if the webhook is retried.
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c0000000-0000-0000-0000-000000000004';
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c0000000-0000-0000-0000-000000000004';
UPDATE shop_orders SET payment_status = 'paid', updated_at = now() WHERE id = 'c0000000-0000-0000-0000-000000000004';
:show;
-- An INSERT retried with ON CONFLICT DO NOTHING leaves no trace.
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at)
VALUES ('c0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001', '0241234567', 'MTN', 10.50, 'completed', '2026-01-05 10:00+00')
ON CONFLICT (id) DO NOTHING;
-- ... and an upsert that turns into an UPDATE counts as that update.
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at)
VALUES ('c0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001', '0241234567', 'MTN', 10.50, 'completed', '2026-01-05 10:00+00')
ON CONFLICT (id) DO UPDATE SET payment_status = EXCLUDED.payment_status;
:show;
:verify;

-- Refund of the first purchase: first purchase, first slug and totals move.
UPDATE shop_orders SET payment_status = 'refunded' WHERE id = 'c0000000-0000-0000-0000-000000000001';
:show;
-- Flapping back to paid restores it.
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c0000000-0000-0000-0000-000000000001';
UPDATE shop_orders SET payment_status = 'cancelled' WHERE id = 'c0000000-0000-0000-0000-000000000001';
UPDATE shop_orders SET payment_status = 'completed' WHERE id = 'c0000000-0000-0000-0000-000000000001';
:show;
-- Amount corrected; network changed on the last purchase.
UPDATE shop_orders SET total_price = 12.00 WHERE id = 'c0000000-0000-0000-0000-000000000002';
UPDATE shop_orders SET network = 'AirtelTigo', created_at = '2026-01-04 09:00+00' WHERE id = 'c0000000-0000-0000-0000-000000000004';
:show;
:verify;

-- The phone of one order was mistyped: correcting it moves the order to another customer.
UPDATE shop_orders SET customer_phone = '0501112222' WHERE id = 'c0000000-0000-0000-0000-000000000003';
:show;
-- Moving an order to another shop moves it to that shop's customer.
UPDATE shop_orders SET shop_id = 'a0000000-0000-0000-0000-000000000002' WHERE id = 'c0000000-0000-0000-0000-000000000003';
:show;
SELECT phone_number, total_purchases, total_spent FROM shop_customers WHERE shop_id = 'a0000000-0000-0000-0000-000000000002';
:verify;

-- Deleting orders: the customer disappears with its last order.
DELETE FROM shop_orders WHERE id = 'c0000000-0000-0000-0000-000000000003';
SELECT count(*) AS customers_in_shop_2 FROM shop_customers WHERE shop_id = 'a0000000-0000-0000-0000-000000000002';
DELETE FROM shop_orders WHERE id IN ('c0000000-0000-0000-0000-000000000001', 'c0000000-0000-0000-0000-000000000002');
:show;
:verify;

-- Multi-row INSERT ... SELECT and COPY.
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT 'a0000000-0000-0000-0000-000000000001', 'Bulk ' || (i % 7), '020' || lpad((i % 7)::text, 7, '0'),
       CASE WHEN i % 3 = 0 THEN 'MTN' ELSE 'Telecel' END, i, CASE WHEN i % 5 = 0 THEN 'pending' ELSE 'paid' END,
       'bulk', '2026-02-01 00:00+00'::timestamptz + i * interval '1 hour'
  FROM generate_series(1, 70) i;
COPY shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) FROM stdin;
a0000000-0000-0000-0000-000000000001	Copy	0200000001	MTN	7.00	paid	copy	2026-03-01 00:00:00+00
a0000000-0000-0000-0000-000000000001	Copy	0200000001	MTN	8.00	paid	copy	2026-03-02 00:00:00+00
a0000000-0000-0000-0000-000000000001	Copy	0200000009	MTN	9.00	failed	copy	2026-03-03 00:00:00+00
\.
:show;
:verify;
-- A bulk status change (e.g. a batch of refunds).
UPDATE shop_orders SET payment_status = 'refunded' WHERE shop_slug = 'bulk' AND total_price > 60;
:verify;
SELECT count(*) AS customers, sum(total_purchases) AS purchases, sum(total_spent) AS spent,
       count(*) FILTER (WHERE repeat_customer) AS repeaters
  FROM shop_customers WHERE shop_id = 'a0000000-0000-0000-0000-000000000001';
SELECT count(*) FILTER (WHERE payment_status IN ('paid', 'completed')) AS paid_orders,
       sum(total_price) FILTER (WHERE payment_status IN ('paid', 'completed')) AS paid_amount
  FROM shop_orders WHERE shop_id = 'a0000000-0000-0000-0000-000000000001';

-- Unrelated updates do not touch the extension's tables.
BEGIN;
UPDATE shop_orders SET order_status = 'delivered' WHERE shop_slug = 'copy';
SELECT (SELECT count(*) FROM shop_customers WHERE xmin = pg_current_xact_id()::xid) AS customers_written,
       (SELECT count(*) FROM customer_tracking WHERE xmin = pg_current_xact_id()::xid) AS tracking_written;
COMMIT;

-- TRUNCATE clears what was derived from the orders.
BEGIN;
TRUNCATE shop_orders;
SELECT (SELECT count(*) FROM shop_customers) AS customers, (SELECT count(*) FROM customer_tracking) AS tracking;
ROLLBACK;
:verify;
-- Rollup deltas are written per statement: a statement that fails part-way, a rolled-back
-- savepoint and an exception block leave no trace; committed work is counted once.
BEGIN;
SAVEPOINT before_bulk;
INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT 'a0000000-0000-0000-0000-000000000001', '0277' || lpad(i::text, 6, '0'), 'MTN', 10, 'paid', 'sp', '2026-04-01 00:00+00'
  FROM generate_series(1, 20) i;
ROLLBACK TO SAVEPOINT before_bulk;
INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
VALUES ('a0000000-0000-0000-0000-000000000001', '0277000001', 'MTN', 10, 'paid', 'sp', '2026-04-01 00:00+00');
DO $$
BEGIN
    BEGIN
        INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
        VALUES ('a0000000-0000-0000-0000-000000000001', '0277000002', 'MTN', 10, 'paid', 'sp', '2026-04-01 00:00+00');
        RAISE EXCEPTION 'payment provider said no';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
END
$$;
-- A second row that fails after the first row's tracking ran: the whole statement goes.
SAVEPOINT before_duplicate;
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
VALUES ('c0000000-0000-0000-0000-0000000000a1', 'a0000000-0000-0000-0000-000000000001', '0277000003', 'MTN', 10, 'paid', 'sp', '2026-04-01 00:00+00'),
       ('c0000000-0000-0000-0000-0000000000a1', 'a0000000-0000-0000-0000-000000000001', '0277000004', 'MTN', 10, 'paid', 'sp', '2026-04-01 00:00+00');
ROLLBACK TO SAVEPOINT before_duplicate;
COMMIT;
SELECT slug, checkouts, purchases, revenue, customers FROM shop_slug_analytics('a0000000-0000-0000-0000-000000000001') WHERE slug = 'sp';
:verify;
RESET client_min_messages;
