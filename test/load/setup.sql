-- Load/crash test data (test/t/003_load.pl, test/t/004_crash.pl, test/scripts/driver_concurrency.sh), loaded after
-- test/fixtures/host-schema.sql and CREATE EXTENSION customer_tracking, with psql -v ON_ERROR_STOP=1.
--
-- Few shops and a SMALL pool of customers, so that concurrent clients constantly collide on the
-- same customer: 4 shops x 16 people, each person typing the phone in 3 formats (48 strings),
-- plus one foreign number and one unreadable phone (orders left unlinked until edited): 50
-- phone strings, i.e. 17 customers per shop.
--
-- The pgbench scripts (test/load/*.pgbench) pick rows from these tables by number:
--   load_shops.n  1..4         load_phones.n  1..50
-- Orders get reference_code = a random key '1'..'200'; the scripts pick "a random order" of a
-- shop as the first one with a random key (index below), so concurrent clients also collide on
-- the same order. The crash test's own orders use reference_code 'rec', which no pgbench script
-- ever picks.

CREATE TABLE load_shops (
  n    int PRIMARY KEY,
  id   uuid NOT NULL UNIQUE,
  slug text NOT NULL
);
INSERT INTO user_shops (id, user_id, shop_name, shop_slug)
SELECT ('00000000-0000-4000-8000-00000000000' || n)::uuid,
       ('00000000-0000-4000-9000-00000000000' || n)::uuid,
       'Load shop ' || n, 'load-shop-' || n
  FROM generate_series(1, 4) n;
INSERT INTO load_shops (n, id, slug)
SELECT n, ('00000000-0000-4000-8000-00000000000' || n)::uuid, 'load-shop-' || n
  FROM generate_series(1, 4) n;

CREATE TABLE load_phones (
  n       int PRIMARY KEY,
  person  int NOT NULL,      -- 0 = unreadable, 17 = the foreign number
  phone   text NOT NULL,
  network text NOT NULL
);
-- Person p (1..16): 0 + prefix + 7 digits, as '0XX XXX XXXX', '+233 XX XXX XXXX', '233XXXXXXXXX'.
WITH people AS (
  SELECT p, (ARRAY['24', '54', '55', '20', '50', '26', '27', '57'])[1 + (p - 1) % 8] AS prefix,
         lpad((1234567 + p * 7919)::text, 7, '0') AS digits
    FROM generate_series(1, 16) p
)
INSERT INTO load_phones (n, person, phone, network)
SELECT (p - 1) * 3 + f, p,
       CASE f WHEN 1 THEN '0' || prefix || ' ' || substr(digits, 1, 3) || ' ' || substr(digits, 4)
              WHEN 2 THEN '+233 ' || prefix || ' ' || substr(digits, 1, 3) || ' ' || substr(digits, 4)
              ELSE '233' || prefix || digits END,
       CASE WHEN prefix IN ('24', '54', '55') THEN 'MTN'
            WHEN prefix IN ('20', '50') THEN 'Telecel' ELSE 'AirtelTigo' END
  FROM people CROSS JOIN generate_series(1, 3) f;
INSERT INTO load_phones (n, person, phone, network) VALUES
  (49, 17, '+44 7911 123456', 'MTN'),
  (50, 0, 'call me', 'MTN');

-- "A random order of shop S": the first order with a random key.
CREATE INDEX load_shop_orders_key ON shop_orders (shop_id, reference_code);
ANALYZE load_shops;
ANALYZE load_phones;
