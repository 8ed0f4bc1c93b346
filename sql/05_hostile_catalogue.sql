-- A catalogue of hostile and broken orders: none is lost, none corrupts a stat, each is
-- reported (WARNINGs are silenced here; the record is queried instead).
SET client_min_messages = error;
SET TimeZone = 'UTC';
\set shop '''a5000000-0000-0000-0000-000000000001'''
INSERT INTO user_shops (id, user_id, shop_slug) VALUES (:shop, 'b5000000-0000-0000-0000-000000000001', 'ct05');

CREATE TEMP TABLE catalogue (n serial, label text, name text, email text, phone text, network text,
                             amount numeric, status text, slug text, created timestamptz);
INSERT INTO catalogue (label, name, email, phone, network, amount, status, slug, created) VALUES
  ('nulls everywhere',            NULL, NULL, NULL, NULL, 0, '', NULL, '2026-01-01'),
  ('injection in every column',   $$'); DROP TABLE shop_customers; --$$, $$" OR 1=1 --$$,
                                  $$0241234567'; DELETE FROM customer_tracking; --$$, $q$$$; SELECT pg_sleep(10); $$$q$,
                                  10, $$paid'; --$$, $$x'; TRUNCATE shop_orders; --$$, '2026-01-02'),
  ('injection, valid phone',      $$Robert'); DROP TABLE user_shops;--$$, $$a@b.c'--$$, '0241234567',
                                  $$MTN'||(SELECT 1)||'$$, 12.5, 'paid', $$slug"; DROP SCHEMA public CASCADE; --$$, '2026-01-03'),
  ('10,000-character name/slug',  repeat('x', 10000), repeat('e', 10000) || '@x.com', '0241234567',
                                  repeat('N', 10000), 3, 'paid', repeat('s', 10000), '2026-01-04'),
  ('10,000-character phone',      'Long', NULL, repeat('0', 10000), 'MTN', 3, 'paid', 'ct05', '2026-01-05'),
  ('non-UTF-8-looking text',      E'Ã©Ã¨Ã¼ \u202e\u200d \x01\x02\t\n', E'\uFEFFmail@x.com', '０２４１２３４５６７',
                                  E'📱MTN\u0301', 4, 'paid', E'slug\u00a0\u200b', '2026-01-06'),
  ('zero amount, paid',           'Zero', NULL, '0201110001', 'MTN', 0, 'paid', 'ct05', '2026-01-07'),
  ('negative zero amount',        'NegZero', NULL, '0201110001', 'MTN', -0.00, 'paid', 'ct05', '2026-01-08'),
  ('huge amount',                 'Huge', NULL, '0201110002', 'MTN', 9999999999.99, 'paid', 'ct05', '2026-01-09'),
  ('huge amount again',           'Huge', NULL, '0201110002', 'MTN', 9999999999.99, 'paid', 'ct05', '2026-01-10'),
  ('negative amount',             'Neg', NULL, '0201110003', 'MTN', -1, 'paid', 'ct05', '2026-01-11'),
  ('unknown status',              'Odd', NULL, '0201110004', 'MTN', 5, 'weird', 'ct05', '2026-01-12'),
  ('padded mixed-case status',    'Pad', NULL, '0201110004', 'MTN', 5, E'  PAID\t', 'ct05', '2026-01-13'),
  ('empty status',                'Empty', NULL, '0201110004', 'MTN', 5, '', 'ct05', '2026-01-14'),
  ('far future',                  'Future', NULL, '0201110005', 'MTN', 5, 'paid', 'ct05', '9999-12-31'),
  ('far past',                    'Past', NULL, '0201110005', 'MTN', 5, 'paid', 'ct05', '1900-01-01'),
  ('foreign number',              'Abroad', NULL, '+44 20 7946 0958', 'MTN', 5, 'paid', 'ct05', '2026-01-15'),
  ('letters in phone',            'Vanity', NULL, '024-ABC-DEFG', 'MTN', 5, 'paid', 'ct05', '2026-01-16'),
  ('blank phone',                 'Blank', NULL, '   ', 'MTN', 5, 'paid', 'ct05', '2026-01-17');

INSERT INTO shop_orders (id, shop_id, customer_name, customer_email, customer_phone, network, total_price,
                         payment_status, shop_slug, created_at)
SELECT ('c5000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid, :shop, name, email, phone, network,
       amount, status, slug, created
  FROM catalogue ORDER BY n;

-- Status flapping on one order.
UPDATE shop_orders SET payment_status = 'refunded' WHERE id = 'c5000000-0000-0000-0000-000000000003';
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c5000000-0000-0000-0000-000000000003';
UPDATE shop_orders SET payment_status = 'cancelled' WHERE id = 'c5000000-0000-0000-0000-000000000003';
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c5000000-0000-0000-0000-000000000003';

-- Every order is saved; each is linked or recorded as untracked, with its reasons.
SELECT c.n, c.label, o.id IS NOT NULL AS saved, o.shop_customer_id IS NOT NULL AS linked,
       (SELECT string_agg(i.issue, ', ' ORDER BY i.issue) FROM customer_tracking_issues i
         WHERE i.shop_id = :shop AND i.shop_order_id = o.id AND i.resolved_at IS NULL) AS reported
  FROM catalogue c
  LEFT JOIN shop_orders o ON o.id = ('c5000000-0000-0000-0000-' || lpad(c.n::text, 12, '0'))::uuid
 ORDER BY c.n;
SELECT count(*) AS unlinked_and_unreported FROM shop_orders o
 WHERE o.shop_id = :shop AND o.shop_customer_id IS NULL
   AND NOT EXISTS (SELECT 1 FROM customer_tracking_untracked u WHERE u.shop_order_id = o.id);
-- Nothing was executed from the text, texts are clipped, and every stat is exact.
SELECT to_regclass('shop_customers') IS NOT NULL AS customers_table_still_there,
       (SELECT count(*) FROM user_shops WHERE id = :shop) AS shop_still_there;
SELECT max(length(customer_name)) AS name, max(length(email)) AS email, max(length(first_source_slug)) AS slug,
       max(length(preferred_network)) AS network FROM shop_customers WHERE shop_id = :shop;
SELECT phone_number, total_purchases, total_spent FROM shop_customers WHERE shop_id = :shop ORDER BY phone_number;
SELECT count(*) AS verify_rows FROM customer_tracking_verify(:shop);

DELETE FROM shop_orders WHERE shop_id = :shop;
DELETE FROM user_shops WHERE id = :shop;
SELECT count(*) AS verify_rows_after_cleanup FROM customer_tracking_verify(:shop);
RESET client_min_messages;
