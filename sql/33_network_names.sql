-- Network names: names that differ only in the case of ASCII letters or in
-- blanks around them are one network, shown in one spelling: trimmed, ASCII letters upper-cased
-- ("mtn ", " Mtn" -> "MTN"); a blank name is no network. network_purchases, preferred_network,
-- the network rollup and customer_purchase_history() use that spelling, and a recomputation from
-- shop_orders (verify, backfill) gives the same.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
\set shop '''a3300000-0000-0000-0000-000000000001'''
INSERT INTO user_shops (id, user_id, shop_slug) VALUES (:shop, 'b3300000-0000-0000-0000-000000000001', 'ct33');

SELECT n AS raw, customer_tracking_network_name(n) AS shown
  FROM unnest(ARRAY['MTN', 'mtn', E' Mtn\t', 'AirtelTigo', '   ', 'Écobank', 'écobank', NULL]) n;

INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('c3300000-0000-0000-0000-000000000001', :shop, '0241234567', 'mtn',        10, 'paid', '2026-01-01 10:00+00'),
  ('c3300000-0000-0000-0000-000000000002', :shop, '0241234567', ' MTN ',      10, 'paid', '2026-01-02 10:00+00'),
  ('c3300000-0000-0000-0000-000000000003', :shop, '0241234567', 'Telecel',    10, 'paid', '2026-01-03 10:00+00'),
  ('c3300000-0000-0000-0000-000000000004', :shop, '0241234567', E'TELECEL\t', 10, 'paid', '2026-01-04 10:00+00'),
  ('c3300000-0000-0000-0000-000000000005', :shop, '0241234567', 'telecel',    10, 'paid', '2026-01-05 10:00+00'),
  ('c3300000-0000-0000-0000-000000000006', :shop, '0501234567', 'Mtn',        7,  'paid', '2026-01-06 10:00+00'),
  ('c3300000-0000-0000-0000-000000000007', :shop, '0501234567', '  ',         7,  'paid', '2026-01-07 10:00+00'),
  ('c3300000-0000-0000-0000-000000000008', :shop, '0501234567', 'Écobank',    7,  'paid', '2026-01-08 10:00+00'),
  ('c3300000-0000-0000-0000-000000000009', :shop, '0501234567', 'écobank',    7,  'pending', '2026-01-09 10:00+00');
SELECT phone_number, preferred_network, network_purchases FROM shop_customers WHERE shop_id = :shop ORDER BY 1;
SELECT * FROM shop_network_analytics(:shop);
SELECT right(order_id::text, 2) AS ord, network FROM shop_customers c, LATERAL customer_purchase_history(c.id)
 WHERE c.shop_id = :shop ORDER BY 1;
SELECT count(*) AS verify_rows FROM customer_tracking_verify(:shop);

-- Another spelling of the same network changes nothing; another network is a change.
UPDATE shop_orders SET network = 'MTN' WHERE id = 'c3300000-0000-0000-0000-000000000001';
UPDATE shop_orders SET network = 'TeleCel ' WHERE id = 'c3300000-0000-0000-0000-000000000002';
SELECT phone_number, preferred_network, network_purchases FROM shop_customers WHERE shop_id = :shop ORDER BY 1;
SELECT * FROM shop_network_analytics(:shop);
SELECT count(*) AS verify_rows FROM customer_tracking_verify(:shop);
SELECT orders_retracked, customers_repaired FROM customer_tracking_backfill(:shop);
RESET client_min_messages;
