-- bench/analytics/load.sql: one shop with :customers customers and ~1.3 orders each over the
-- last :days days (before :as_of), written with the triggers off and then counted by
-- customer_tracking_backfill() (the set-based path; much faster than the trigger for a load).
-- Order g <= N: customer g's first order (paid, so the shop has exactly N customers); g > N: a
-- random customer's later order, 80 % paid, 12 % refunded, 8 % pending. Amounts 5.00 .. 150.00,
-- networks by phone prefix, a few slugs. psql variables: shop, customers, days, as_of.
SET client_min_messages = warning;
SET synchronous_commit = off;
SET session_replication_role = replica;
INSERT INTO user_shops (id, user_id, shop_slug) VALUES (:'shop', gen_random_uuid(), 'bench-' || :'shop');
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status,
                         shop_slug, created_at)
SELECT :'shop'::uuid, 'Customer ' || s.c,
       '0' || (ARRAY['24', '54', '20', '27'])[1 + s.c % 4] || lpad(s.c::text, 7, '0'),
       (ARRAY['MTN', 'MTN', 'Telecel', 'AirtelTigo'])[1 + s.c % 4],
       (500 + (s.h % 14501)) / 100.0,
       CASE WHEN s.g <= :customers OR s.h % 100 < 80 THEN 'completed'
            WHEN s.h % 100 < 92 THEN 'refunded' ELSE 'pending' END,
       (ARRAY[NULL, 'main', 'promo', 'ig', 'wa'])[1 + s.h % 5],
       -- first orders spread over the whole period, later ones after the customer's first
       CASE WHEN s.g <= :customers
            THEN :'as_of'::timestamptz - (s.g::float8 / :customers) * :days * interval '1 day'
            ELSE :'as_of'::timestamptz - ((s.h % 1000000)::float8 / 1000000 * (s.c::float8 / :customers))
                                         * :days * interval '1 day' END
  FROM (SELECT g, CASE WHEN g <= :customers THEN g ELSE 1 + (hashint8(g) & 2147483647) % :customers END AS c,
               hashint8(g * 7 + 3) & 2147483647 AS h
          FROM generate_series(1, (:customers * 13 / 10)::bigint) g) s;
RESET session_replication_role;
SELECT shop_id, orders_linked, orders_untracked, customers_repaired FROM customer_tracking_backfill(:'shop');
ANALYZE;
