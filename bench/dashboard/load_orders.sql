-- bench/dashboard/load_orders.sql: one load batch for bench/dashboard.sh, through the real
-- trigger (a plain INSERT ... SELECT into shop_orders).
--
-- psql variables (set by dashboard.sh with -v):
--   shop       shop id (uuid)           slug    the shop's slug (order slugs derive from it)
--   customers  customers of the shop N  salt    per-shop seed (different shops, different data)
--   lo, hi     order numbers g in [lo, hi)          as_of  newest order time
--   part, parts  this loader takes the orders of customers c with c % parts = part, so
--                parallel loaders never touch the same customer (no row-lock waits/deadlocks)
--   days       orders are spread uniformly over (as_of - days, as_of]
--
-- Order g (1 .. round(1.3 N)): g <= N is customer g's first order in the generator (always paid,
-- so the shop has exactly N customers with a purchase); g > N goes to a random customer
-- (~30 % extra orders => repeat customers), 72 % paid, 18 % pending, 10 % refunded.
-- Phones: a Ghana mobile prefix chosen by c (024/054 MTN, 020 Telecel, 027 AirtelTigo) + c in 7
-- digits, typed in one of four formats (so normalisation has to merge them). 10 % of orders
-- buy a network other than the phone's. Slugs: none 10 %, <slug> 40 %, <slug>-promo 20 %,
-- <slug>-ig 20 %, <slug>-wa 10 %. Amount 5.00 .. 150.00.
SET synchronous_commit = off;          -- load phase only (dashboard.sh says so in the report)
SET client_min_messages = warning;
INSERT INTO shop_orders (shop_id, customer_name, customer_email, customer_phone, network,
                         volume_gb, base_price, total_price, profit_amount, order_status,
                         payment_status, payment_method, reference_code, shop_slug,
                         created_at, updated_at)
SELECT :'shop'::uuid,
       'Customer ' || s.c,
       'c' || s.c || '@example.com',
       CASE WHEN s.h1 % 10 < 7 THEN '0' || s.local
            WHEN s.h1 % 10 = 7 THEN '+233 ' || substr(s.local, 1, 2) || ' ' || substr(s.local, 3, 3) || ' ' || substr(s.local, 6)
            WHEN s.h1 % 10 = 8 THEN '233' || s.local
            ELSE '0' || substr(s.local, 1, 2) || ' ' || substr(s.local, 3, 3) || ' ' || substr(s.local, 6) END,
       CASE WHEN s.h2 % 10 = 0 THEN (ARRAY['MTN', 'Telecel', 'AirtelTigo'])[1 + (s.h2 / 10) % 3]
            ELSE (ARRAY['MTN', 'MTN', 'Telecel', 'AirtelTigo'])[1 + s.c % 4] END,
       1 + s.h3 % 50,
       s.cents * 85 / 10000.0,
       s.cents / 100.0,
       (s.cents - s.cents * 85 / 100) / 100.0,
       'completed',
       CASE WHEN s.g <= :customers THEN (CASE WHEN s.h4 % 20 = 0 THEN 'paid' WHEN s.h4 % 20 = 1 THEN 'success' ELSE 'completed' END)
            WHEN s.h4 % 100 < 72 THEN 'completed'
            WHEN s.h4 % 100 < 90 THEN 'pending'
            ELSE 'refunded' END,
       'momo',
       'L' || :salt || '-' || s.g,
       CASE WHEN s.h5 % 10 = 0 THEN NULL
            WHEN s.h5 % 10 < 5 THEN :'slug'
            WHEN s.h5 % 10 < 7 THEN :'slug' || '-promo'
            WHEN s.h5 % 10 < 9 THEN :'slug' || '-ig'
            ELSE :'slug' || '-wa' END,
       s.at, s.at
  FROM (SELECT x.g, x.c, x.h1, x.h2, x.h3, x.h4, x.h5,
               (ARRAY['24', '54', '20', '27'])[1 + x.c % 4] || lpad(x.c::text, 7, '0') AS local,
               500 + x.h6 % 14501 AS cents,
               :'as_of'::timestamptz - (x.h7 % (:days * 86400000000::bigint)) * interval '1 microsecond' AS at
          FROM (SELECT g.g,
                       CASE WHEN g.g <= :customers THEN g.g
                            ELSE 1 + (hashint8extended(g.g, :salt * 16 + 0) & 9223372036854775807) % :customers END AS c,
                       (hashint8extended(g.g, :salt * 16 + 1) & 9223372036854775807) AS h1,
                       (hashint8extended(g.g, :salt * 16 + 2) & 9223372036854775807) AS h2,
                       (hashint8extended(g.g, :salt * 16 + 3) & 9223372036854775807) AS h3,
                       (hashint8extended(g.g, :salt * 16 + 4) & 9223372036854775807) AS h4,
                       (hashint8extended(g.g, :salt * 16 + 5) & 9223372036854775807) AS h5,
                       (hashint8extended(g.g, :salt * 16 + 6) & 9223372036854775807) AS h6,
                       (hashint8extended(g.g, :salt * 16 + 7) & 9223372036854775807) AS h7
                  FROM generate_series(:lo::bigint, :hi::bigint - 1) AS g(g)) x
         WHERE x.c % :parts = :part) s;
