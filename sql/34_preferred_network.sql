-- The preferred network has the most purchases, ties going to the first name in byte order
-- (COLLATE "C", not the database's collation; a shorter name before a longer one it begins).
-- Two places decide it: the increment of one added purchase (add_order() in src/customers.cpp,
-- on the direct path and on the statement path) and the recomputation from the ledger
-- (src/sql/fragments/customer_stats.sql: recompute, backfill, verify). The same purchases, in
-- both arrival orders, must give the same customer rows on both paths, and verify() (the
-- fragment) must agree with them.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('a3400000-0000-0000-0000-000000000001', 'b3400000-0000-0000-0000-000000000001', 'ct34-direct'),
  ('a3400000-0000-0000-0000-000000000002', 'b3400000-0000-0000-0000-000000000002', 'ct34-sql');

-- Per customer (phone), the networks of its purchases in the order they arrive.
CREATE TABLE ct34_plays (phone text, networks text[]);
INSERT INTO ct34_plays VALUES
  ('0241000001', ARRAY['ZED', 'Éco']),              -- a tie: 'ZED' < 'ÉCO' in bytes, not in most locales
  ('0241000002', ARRAY['Éco', 'ZED']),              -- the same tie, the other way round
  ('0241000003', ARRAY['ABC', 'AB']),               -- a name before a longer one it begins
  ('0241000004', ARRAY['AB', 'ABC', 'ABC', 'AB']),  -- a tie of two each
  ('0241000005', ARRAY['éco', 'Éco']),              -- not ASCII: two names, 'ÉCO' < 'éCO' in bytes
  ('0241000006', ARRAY['MTN', 'Telecel', 'telecel', 'AirtelTigo']),        -- most purchases win
  ('0241000007', ARRAY['Telecel', 'MTN', 'MTN', NULL, 'Telecel']);         -- a purchase without one

-- Each order its own transaction, as from an application, so that each is one increment (the
-- statements are not echoed: their ids are md5 values).
\set ECHO none
SELECT format('INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at) '
              'VALUES (%L, %L, %L, %L, 1.00, %L, %L)',
              md5(s.shop || p.phone || n.i)::uuid, s.shop, p.phone, n.network, 'paid',
              timestamptz '2026-04-01 10:00+00' + n.i * interval '1 hour')
  FROM ct34_plays p, unnest(p.networks) WITH ORDINALITY n(network, i),
       (VALUES ('a3400000-0000-0000-0000-000000000001')) s(shop)
 ORDER BY p.phone, n.i
\gexec
SET customer_tracking.direct_writes = off;
SELECT format('INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at) '
              'VALUES (%L, %L, %L, %L, 1.00, %L, %L)',
              md5(s.shop || p.phone || n.i)::uuid, s.shop, p.phone, n.network, 'paid',
              timestamptz '2026-04-01 10:00+00' + n.i * interval '1 hour')
  FROM ct34_plays p, unnest(p.networks) WITH ORDINALITY n(network, i),
       (VALUES ('a3400000-0000-0000-0000-000000000002')) s(shop)
 ORDER BY p.phone, n.i
\gexec
RESET customer_tracking.direct_writes;
\set ECHO all

SELECT phone_number, total_purchases, preferred_network, network_purchases
  FROM shop_customers WHERE shop_id = 'a3400000-0000-0000-0000-000000000001' ORDER BY 1;
-- Both paths: the same rows.
SELECT (SELECT array_agg(ROW(phone_number, total_purchases, preferred_network, network_purchases)::text ORDER BY phone_number)
          FROM shop_customers WHERE shop_id = 'a3400000-0000-0000-0000-000000000001')
     = (SELECT array_agg(ROW(phone_number, total_purchases, preferred_network, network_purchases)::text ORDER BY phone_number)
          FROM shop_customers WHERE shop_id = 'a3400000-0000-0000-0000-000000000002') AS same_on_both_paths;
-- The recomputation agrees (verify() compares every customer with customer_stats.sql) ...
SELECT problem, stored, expected FROM customer_tracking_verify() ORDER BY 1, 2;
-- ... and gives the same rows when it writes them.
SELECT count(*) FILTER (WHERE customer_tracking_recompute(shop_id, id)) AS recomputed
  FROM shop_customers WHERE shop_id IN ('a3400000-0000-0000-0000-000000000001', 'a3400000-0000-0000-0000-000000000002');
SELECT phone_number, total_purchases, preferred_network, network_purchases
  FROM shop_customers WHERE shop_id = 'a3400000-0000-0000-0000-000000000001' ORDER BY 1;
SELECT problem, stored, expected FROM customer_tracking_verify() ORDER BY 1, 2;
RESET client_min_messages;
