-- Orders are counted when their transaction commits. A transaction that changes more than
-- customer_tracking.apply_batch orders (a bulk load) has them counted in batches as it goes, so
-- that what it keeps in memory stays bounded. Either way the numbers are those of a
-- recomputation once it commits; inside a subtransaction the batches wait for the commit.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('a8000000-0000-0000-0000-000000000001', 'b8000000-0000-0000-0000-000000000001', 'ct08');
CREATE FUNCTION pg_temp.ct08_counted() RETURNS TABLE (customers bigint, purchases bigint, spent numeric)
LANGUAGE sql AS $$
  SELECT count(*), coalesce(sum(total_purchases), 0), coalesce(sum(total_spent), 0)
    FROM shop_customers WHERE shop_id = 'a8000000-0000-0000-0000-000000000001' $$;
CREATE FUNCTION pg_temp.ct08_orders(p_from int, p_to int) RETURNS void LANGUAGE sql AS $$
  INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
  SELECT 'a8000000-0000-0000-0000-000000000001', '024800' || lpad((g % 7)::text, 4, '0'), 'MTN', g, 'paid', 'ct08',
         '2026-04-01 10:00+00'::timestamptz + g * interval '1 hour'
    FROM generate_series(p_from, p_to) g $$;

-- Default (100,000): nothing is counted before commit.
BEGIN;
SELECT pg_temp.ct08_orders(1, 25);
SELECT * FROM pg_temp.ct08_counted();
COMMIT;
SELECT * FROM pg_temp.ct08_counted();

-- A batch of 10: 25 changed orders, counted 10 and 20 on the way, the rest at commit.
SET customer_tracking.apply_batch = 10;
BEGIN;
SELECT pg_temp.ct08_orders(26, 50);
SELECT * FROM pg_temp.ct08_counted();
UPDATE shop_orders SET payment_status = 'refunded'
 WHERE shop_id = 'a8000000-0000-0000-0000-000000000001' AND total_price > 45;
COMMIT;
SELECT * FROM pg_temp.ct08_counted();
SELECT count(*) AS verify_rows FROM customer_tracking_verify('a8000000-0000-0000-0000-000000000001');

-- Inside a subtransaction: kept for the commit (a rollback to the savepoint leaves nothing behind).
BEGIN;
SAVEPOINT s;
SELECT pg_temp.ct08_orders(51, 75);
SELECT * FROM pg_temp.ct08_counted();
ROLLBACK TO SAVEPOINT s;
SELECT pg_temp.ct08_orders(76, 80);
COMMIT;
SELECT * FROM pg_temp.ct08_counted();
SELECT count(*) AS verify_rows FROM customer_tracking_verify('a8000000-0000-0000-0000-000000000001');
RESET customer_tracking.apply_batch;
