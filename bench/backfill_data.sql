-- bench/backfill_data.sql: a store with history, for bench/backfill.sh.
-- psql variables: orders (number of orders), shops (number of shops). Deterministic.
-- customers = 0.3 x orders, each belonging to one shop; a customer types the phone in a usual
-- format (0241234567, 024 123 4567, +233 24 123 4567 or 233241234567), and in a random one of
-- them in a quarter of the orders; 0.5% of
-- orders have an unreadable phone; ~8% are not paid (pending, failed, refunded); paid statuses
-- and networks in mixed case and spacing; 6 slugs per shop and orders without one; two years of
-- order times.
SELECT setseed(0.42);
INSERT INTO user_shops (id, user_id, shop_slug)
SELECT md5('bf-shop-' || s)::uuid, md5('bf-owner-' || (s % 300))::uuid, 'bf-shop-' || s
  FROM generate_series(0, :shops - 1) s;
INSERT INTO shop_orders (id, shop_id, customer_name, customer_email, customer_phone, network, total_price,
                         payment_status, shop_slug, created_at)
SELECT md5('bf-order-' || i)::uuid,
       md5('bf-shop-' || (c % :shops))::uuid,
       'Customer ' || c,
       CASE WHEN i % 3 = 0 THEN 'c' || c || '@example.com' END,
       CASE WHEN r < 0.005 THEN (ARRAY['n/a', '12345', '', 'call me'])[1 + (i % 4)]
            ELSE CASE (CASE WHEN i % 4 = 0 THEN (i / 13) % 4 ELSE c % 4 END)
                   WHEN 0 THEN '0' || p
                   WHEN 1 THEN '0' || substr(p, 1, 2) || ' ' || substr(p, 3, 3) || ' ' || substr(p, 6)
                   WHEN 2 THEN '+233 ' || substr(p, 1, 2) || ' ' || substr(p, 3, 3) || ' ' || substr(p, 6)
                   ELSE '233' || p END END,
       (ARRAY['MTN', 'mtn', ' Telecel', 'AirtelTigo', 'MTN ', NULL])[1 + (c + i / 7) % 6],
       round((1 + (i * 7919 % 20000) / 100.0)::numeric, 2),
       CASE WHEN r2 < 0.03 THEN 'pending' WHEN r2 < 0.055 THEN 'failed' WHEN r2 < 0.08 THEN 'refunded'
            ELSE (ARRAY['paid', 'completed', 'Success', ' PAID '])[1 + i % 4] END,
       CASE WHEN i % 10 = 0 THEN NULL ELSE 'slug-' || (i % 6) END,
       timestamptz '2024-01-01 00:00+00' + (i * 104729 % 63072000) * interval '1 second'
  FROM (SELECT i, c, lpad(((ARRAY[24, 54, 20, 27, 50, 55])[1 + c % 6] * 10000000 + c % 9999991)::text, 9, '0') AS p,
               random() AS r, random() AS r2
          FROM (SELECT i, (i * 2654435761 % (:orders * 3 / 10)) AS c FROM generate_series(1::bigint, :orders) i) x) y;
