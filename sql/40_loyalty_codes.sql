-- Loyalty codes: issuing, the storefront check, uses taken when an order is
-- paid and given back when it is not any more, bad input on every argument, exactness against a
-- recomputation, row-level security, and enumeration attempts by a storefront role.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set VERBOSITY terse
\set SHOW_CONTEXT never
\set s1 '''a4000000-0000-0000-0000-000000000001'''
\set s2 '''a4000000-0000-0000-0000-000000000002'''
\set claims_1 '{"sub": "b4000000-0000-0000-0000-000000000001", "role": "authenticated"}'
\set claims_2 '{"sub": "b4000000-0000-0000-0000-000000000002", "role": "authenticated"}'
\set uses 'SELECT k.code = :''code'' AS is_code, k.uses, k.max_uses, (SELECT array_agg(right(u.order_id::text, 2) ORDER BY u.order_id) FROM customer_tracking_code_uses u WHERE u.shop_id = k.shop_id AND u.code = k.code) AS held_by FROM customer_tracking_codes k WHERE k.shop_id = :s1 ORDER BY k.created_at, k.code'
\set issues 'SELECT right(shop_order_id::text, 2) AS ord, issue, regexp_replace(detail, ''"[A-Z0-9]{10}"'', ''"<code>"'') AS detail, resolved_at IS NOT NULL AS resolved FROM customer_tracking_issues WHERE shop_id = :s1 AND issue LIKE ''discount%'' ORDER BY 1, 2'
\set verify 'SELECT * FROM customer_tracking_verify_loyalty() UNION ALL SELECT shop_id, problem, shop_order_id::text, stored FROM customer_tracking_verify()'

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['ct40_owner', 'ct40_other', 'ct40_anon'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('DROP OWNED BY %I', r);
            EXECUTE format('DROP ROLE %I', r);
        END IF;
    END LOOP;
END
$$;
CREATE ROLE ct40_owner NOLOGIN;
CREATE ROLE ct40_other NOLOGIN;
CREATE ROLE ct40_anon NOLOGIN;
GRANT INSERT, SELECT, UPDATE ON shop_orders TO ct40_anon;

-- The host's optional column for codes (any name: customer_tracking_map_column('discount_code', ...)).
ALTER TABLE shop_orders ADD COLUMN discount_code text;
SELECT field, column_name, state FROM customer_tracking_host_state() WHERE field IN ('discount_code', 'referral_code');

INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  (:s1, 'b4000000-0000-0000-0000-000000000001', 'ct40-one'),
  (:s2, 'b4000000-0000-0000-0000-000000000002', 'ct40-two');
-- Ama (3 purchases), Kofi (1), Esi (none paid) in shop 1; Ama also buys in shop 2.
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, total_price, payment_status, created_at) VALUES
  ('c4000000-0000-0000-0000-000000000001', :s1, 'Ama',  '0241234567', 10, 'paid',    '2026-01-01'),
  ('c4000000-0000-0000-0000-000000000002', :s1, 'Ama',  '0241234567', 20, 'paid',    '2026-01-02'),
  ('c4000000-0000-0000-0000-000000000003', :s1, 'Ama',  '0241234567', 30, 'paid',    '2026-01-03'),
  ('c4000000-0000-0000-0000-000000000004', :s1, 'Kofi', '0201234567', 50, 'paid',    '2026-01-04'),
  ('c4000000-0000-0000-0000-000000000005', :s1, 'Esi',  '0551234567',  5, 'pending', '2026-01-05'),
  ('c4000000-0000-0000-0000-000000000006', :s2, 'Ama',  '0241234567', 10, 'paid',    '2026-01-06');
SELECT customer_tracking_customer_id(:s1, '+233241234567') AS ama,
       customer_tracking_customer_id(:s1, '+233201234567') AS kofi,
       customer_tracking_customer_id(:s1, '+233551234567') AS esi,
       customer_tracking_customer_id(:s2, '+233241234567') AS ama2 \gset

-- Issuing: 10 characters of a 32-letter alphabet without look-alikes, unique in the shop.
SELECT customer_tracking_issue_code(:s1, :'ama', 'percent', 10, NULL, 2) AS code \gset
SELECT length(:'code') AS length, :'code' ~ '^[A-HJ-NP-Z2-9]{10}$' AS alphabet;
SELECT count(*) AS issued, count(DISTINCT c) AS distinct_codes,
       bool_and(c ~ '^[A-HJ-NP-Z2-9]{10}$') AS alphabet
  FROM (SELECT customer_tracking_issue_code(:s1, :'esi', 'fixed', 1.5) AS c FROM generate_series(1, 300)) x;
DELETE FROM customer_tracking_codes WHERE shop_id = :s1 AND customer_id = :'esi';
-- The random source: 50 bits per code, letters spread evenly (each of the 32 about 1/32 of 30,000).
SELECT count(DISTINCT ch) AS letters, min(n) > 700 AND max(n) < 1200 AS even
  FROM (SELECT ch, count(*) AS n
          FROM generate_series(1, 3000) g, regexp_split_to_table(customer_tracking_random_code(10 + 0 * g), '') ch
         GROUP BY ch) x;

-- Bad input on every argument (errors name the argument; nothing is issued).
SELECT customer_tracking_issue_code(NULL, :'ama', 'percent', 10);
SELECT customer_tracking_issue_code(:s1, NULL, 'percent', 10);
SELECT customer_tracking_issue_code(:s1, :'ama2', 'percent', 10);
SELECT customer_tracking_issue_code(:s1, 'f0000000-0000-0000-0000-000000000000', 'percent', 10);
SELECT customer_tracking_issue_code(:s1, :'ama', NULL, 10);
SELECT customer_tracking_issue_code(:s1, :'ama', 'bogus', 10);
SELECT customer_tracking_issue_code(:s1, :'ama', 'percent', NULL);
SELECT customer_tracking_issue_code(:s1, :'ama', 'percent', 0);
SELECT customer_tracking_issue_code(:s1, :'ama', 'fixed', -1);
SELECT customer_tracking_issue_code(:s1, :'ama', 'fixed', 'NaN');
SELECT customer_tracking_issue_code(:s1, :'ama', 'fixed', 'Infinity');
SELECT customer_tracking_issue_code(:s1, :'ama', 'percent', 100.01);
SELECT customer_tracking_issue_code(:s1, :'ama', 'percent', 10, '2020-01-01');
SELECT customer_tracking_issue_code(:s1, :'ama', 'percent', 10, '-infinity');
SELECT customer_tracking_issue_code(:s1, :'ama', 'percent', 10, NULL, NULL);
SELECT customer_tracking_issue_code(:s1, :'ama', 'percent', 10, NULL, 0);
SELECT customer_tracking_issue_code(:s1, :'ama', 'percent', 10, NULL, 1000001);
SELECT customer_tracking_issue_code(:s1, :'ama', ' Fixed ', 2, 'infinity', 1000000) IS NOT NULL AS spelled_loosely;
SELECT count(*) AS codes_of_shop_1 FROM customer_tracking_codes WHERE shop_id = :s1;

-- Bulk issue: repeat customers (2 purchases or more), a minimum spend, an id list (a tier's or a
-- segment's customers); one new code each.
SELECT customer_id = :'ama' AS ama, length(code) FROM customer_tracking_issue_codes(:s1, 'fixed', 5, p_min_purchases => 2);
SELECT count(*) FROM customer_tracking_issue_codes(:s1, 'fixed', 5, p_min_spent => 50);
SELECT count(*) FROM customer_tracking_issue_codes(:s1, 'percent', 5, ARRAY[:'kofi', :'esi']::uuid[], p_min_purchases => 1);
SELECT count(*) FROM customer_tracking_issue_codes(:s1, 'fixed', 5);
SELECT count(*) FROM customer_tracking_issue_codes(:s1, 'fixed', 5, ARRAY[:'ama2']::uuid[]);
SELECT count(*) FROM customer_tracking_issue_codes(:s1, 'fixed', 5, ARRAY[NULL]::uuid[]);
SELECT count(*) FROM customer_tracking_issue_codes(:s1, 'fixed', 5, p_min_purchases => -1);
SELECT count(*) FROM customer_tracking_issue_codes(:s1, 'fixed', 5, p_min_spent => 'NaN');
SELECT count(*) FROM customer_tracking_issue_codes(:s1, 'fixed', 0, p_min_spent => 1);
SELECT count(*) FROM customer_tracking_issue_codes(NULL, 'fixed', 5, p_min_spent => 1);
-- By tier (current tier, shop_loyalty_tiers) and by RFM segment (now): the same customers as
-- those functions give; an unknown tier or segment is refused.
SELECT count(*) FROM customer_tracking_set_tiers(:s1, '[{"name": "Regular", "min_purchases": 2}]');
SELECT (SELECT count(*) FROM customer_tracking_issue_codes(:s1, 'fixed', 5, p_tier => 'Regular'))
     = (SELECT count(*) FROM shop_customers WHERE shop_id = :s1 AND total_purchases >= 2) AS tier_customers;
SELECT (SELECT count(*) FROM customer_tracking_issue_codes(:s1, 'fixed', 5, p_segment => s.segment))
     = s.customers AS segment_customers, s.customers > 0 AS some
  FROM shop_customer_segments(:s1) s WHERE s.customers > 0 ORDER BY s.segment LIMIT 1;
SELECT count(*) FROM customer_tracking_issue_codes(:s1, 'fixed', 5, p_tier => 'Gold');
SELECT count(*) FROM customer_tracking_issue_codes(:s1, 'fixed', 5, p_segment => 'whales');
SELECT count(*) FROM customer_tracking_set_tiers(:s1, '[]');
DELETE FROM customer_tracking_codes WHERE shop_id = :s1 AND code <> :'code';

-- How codes are matched: spaces and dashes dropped, upper case; anything else is no code.
SELECT c AS written, customer_tracking_normalize_code(c) AS matched
  FROM unnest(ARRAY['k7qm-v2 pa', E'\tab\n', 'V-V', 'ab_c', E'\u00e9t\u00e9', '', ' - ', repeat('a', 33)]) c;

-- The storefront check: the phone in any spelling, the code in any case, with spaces or dashes.
SELECT * FROM shop_check_code('ct40-one', '+233 24 123 4567', :'code');
SELECT * FROM shop_check_code('ct40-one', '0241234567', lower(left(:'code', 5)) || '-' || right(:'code', 5));
-- The same answer for everything else: another customer's phone, another shop, unknown code,
-- unreadable phone, unknown shop, NULLs, oversized input.
SELECT DISTINCT valid, kind, value, reason FROM (
  SELECT (shop_check_code(s, p, c)).* FROM (VALUES
    ('ct40-one', '0201234567', :'code'), ('ct40-two', '0241234567', :'code'),
    ('ct40-one', '0241234567', 'AAAAAAAAAA'), ('ct40-one', 'not a phone', :'code'),
    ('no-such-shop', '0241234567', :'code'), (NULL, '0241234567', :'code'),
    ('ct40-one', NULL, :'code'), ('ct40-one', '0241234567', NULL), ('ct40-one', '0241234567', ''),
    ('ct40-one', '0241234567', repeat('A', 65)), (repeat('x', 300), '0241234567', :'code'),
    ('ct40-one', repeat('1', 70), :'code'), ('ct40-one', '0241234567', :'code' || '%'),
    ('ct40-one', '0241234567', E'\u00e9' || :'code')) v(s, p, c)) x;

-- Uses. A pending order carrying the code takes nothing; paid, it takes one.
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, discount_code)
VALUES ('c4000000-0000-0000-0000-000000000011', :s1, '024 123 4567', 9, 'pending', '2026-02-01', lower(:'code'));
:uses;
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c4000000-0000-0000-0000-000000000011';
:uses;
-- Webhook retried: still one.
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c4000000-0000-0000-0000-000000000011';
UPDATE shop_orders SET total_price = 8 WHERE id = 'c4000000-0000-0000-0000-000000000011';
:uses;
-- Two more paid orders in one statement with one use left: one takes it, the other is saved,
-- counted, and listed (WARNING + customer_tracking_issues).
SET client_min_messages = warning;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, discount_code) VALUES
  ('c4000000-0000-0000-0000-000000000012', :s1, '0241234567', 7, 'paid', '2026-02-02', :'code'),
  ('c4000000-0000-0000-0000-000000000013', :s1, '0241234567', 6, 'paid', '2026-02-03', :'code');
:uses;
:issues;
SELECT * FROM shop_check_code('ct40-one', '0241234567', :'code');
-- Refund, cancel, delete: the use comes back; paid again, it is taken again.
UPDATE shop_orders SET payment_status = 'refunded' WHERE id = 'c4000000-0000-0000-0000-000000000011';
:uses;
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c4000000-0000-0000-0000-000000000011';
:uses;
UPDATE shop_orders SET payment_status = 'cancelled' WHERE id = 'c4000000-0000-0000-0000-000000000012';
DELETE FROM shop_orders WHERE id = 'c4000000-0000-0000-0000-000000000011';
:uses;
-- A paid order whose code is removed gives its use back; one whose code is changed takes the new one.
SELECT customer_tracking_issue_code(:s1, :'ama', 'fixed', 3) AS code2 \gset
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, discount_code)
VALUES ('c4000000-0000-0000-0000-000000000014', :s1, '0241234567', 5, 'paid', '2026-02-04', :'code');
:uses;
UPDATE shop_orders SET discount_code = :'code2' WHERE id = 'c4000000-0000-0000-0000-000000000014';
:uses;
UPDATE shop_orders SET discount_code = NULL WHERE id = 'c4000000-0000-0000-0000-000000000014';
:uses;
-- Moved to another customer (phone corrected): the use goes back; Kofi may not use Ama's code.
UPDATE shop_orders SET discount_code = :'code' WHERE id = 'c4000000-0000-0000-0000-000000000014';
UPDATE shop_orders SET customer_phone = '0201234567', discount_code = :'code2' WHERE id = 'c4000000-0000-0000-0000-000000000014';
:uses;
-- Codes that cannot be codes, blank codes, codes on orders that cannot be tracked, never paid.
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, discount_code) VALUES
  ('c4000000-0000-0000-0000-000000000015', :s1, '0241234567', 1, 'paid',    '2026-02-05', 'DROP TABLE;'),
  ('c4000000-0000-0000-0000-000000000016', :s1, '0241234567', 1, 'paid',    '2026-02-05', '  - '),
  ('c4000000-0000-0000-0000-000000000017', :s1, 'nope',       1, 'paid',    '2026-02-05', :'code2'),
  ('c4000000-0000-0000-0000-000000000018', :s1, '0241234567', 1, 'pending', '2026-02-05', :'code2'),
  ('c4000000-0000-0000-0000-000000000019', :s1, '0241234567', 1, 'paid',    '2026-02-05', repeat('Z', 5000));
DELETE FROM shop_orders WHERE id = 'c4000000-0000-0000-0000-000000000018';
:uses;
:issues;
-- Voided, expired: refused at payment (the order is saved and counted); uses held stay.
SELECT customer_tracking_void_code(:s1, :'code2') AS voided, customer_tracking_void_code(:s1, lower(:'code2')) AS again;
SELECT customer_tracking_void_code(:s1, 'NOSUCHCODE');
SELECT customer_tracking_void_code(:s1, NULL);
SELECT customer_tracking_void_code(NULL, :'code2');
SELECT customer_tracking_issue_code(:s1, :'ama', 'fixed', 4, now() + interval '1 hour') AS code3 \gset
UPDATE customer_tracking_codes SET expires_at = now() - interval '1 second' WHERE shop_id = :s1 AND code = :'code3';
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, discount_code) VALUES
  ('c4000000-0000-0000-0000-000000000020', :s1, '0241234567', 1, 'paid', '2026-02-06', :'code2'),
  ('c4000000-0000-0000-0000-000000000021', :s1, '0241234567', 1, 'paid', '2026-02-06', :'code3');
:issues;
SELECT reason FROM shop_check_code('ct40-one', '0241234567', :'code2')
UNION ALL SELECT reason FROM shop_check_code('ct40-one', '0241234567', :'code3');
SELECT is_code, kind, value, max_uses, uses, uses_left, status, last_used_at IS NOT NULL AS used
  FROM (SELECT code = :'code' AS is_code, * FROM shop_loyalty_codes(:s1)) x ORDER BY created_at;
SELECT count(*) FROM shop_loyalty_codes(:s1, :'ama', 'used_up');
SELECT count(*) FROM shop_loyalty_codes(:s1, p_status => 'bogus');
-- An issue stays open while the order stays paid with the refused code, whatever else changes.
UPDATE shop_orders SET total_price = 2 WHERE id = 'c4000000-0000-0000-0000-000000000020';
:issues;
-- Strict mode: an order with a refused code is rejected (at commit), not saved.
SET customer_tracking.strict = on;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, discount_code)
VALUES ('c4000000-0000-0000-0000-000000000022', :s1, '0241234567', 1, 'paid', '2026-02-07', :'code2');
RESET customer_tracking.strict;
SELECT count(*) AS saved FROM shop_orders WHERE id = 'c4000000-0000-0000-0000-000000000022';
-- A savepoint rolled back after an early apply, and applied twice: counted once.
BEGIN;
UPDATE customer_tracking_codes SET max_uses = 5 WHERE shop_id = :s1 AND code = :'code';
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, discount_code)
VALUES ('c4000000-0000-0000-0000-000000000023', :s1, '0241234567', 1, 'paid', '2026-02-08', :'code');
SAVEPOINT a;
SELECT customer_tracking_apply_pending();
ROLLBACK TO SAVEPOINT a;
SELECT customer_tracking_apply_pending();
COMMIT;
:uses;
:verify;

-- Exactness: 400 orders of 8 customers with random codes, statuses and edits, then every use
-- recomputed from shop_orders and the ledger.
SELECT setseed(0.15);
SET client_min_messages = error;
CREATE TEMP TABLE ct40_codes AS
SELECT p.phone, customer_tracking_issue_code(:s1, customer_tracking_customer_id(:s1, p.phone), 'fixed', 1, NULL, 1 + i % 4) AS code
  FROM (SELECT '+23324000000' || n AS phone FROM generate_series(1, 8) n) p, generate_series(1, 3) i
 WHERE false;
INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status, created_at)
SELECT :s1, '+23324000000' || n, 1, 'paid', '2026-03-01' FROM generate_series(1, 8) n;
INSERT INTO ct40_codes
SELECT p.phone, customer_tracking_issue_code(:s1, customer_tracking_customer_id(:s1, p.phone), 'fixed', 1, NULL, 1 + i % 4)
  FROM (SELECT '+23324000000' || n AS phone FROM generate_series(1, 8) n) p, generate_series(1, 3) i;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, discount_code)
SELECT ('c4100000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, :s1, p.phone, 1,
       (ARRAY['paid', 'pending', 'paid', 'failed'])[1 + (random() * 3)::int], '2026-03-02',
       CASE WHEN random() < 0.8 THEN (SELECT c.code FROM ct40_codes c WHERE c.phone = p.phone OR random() < 0.1 ORDER BY random() LIMIT 1) END
  FROM generate_series(1, 400) g, LATERAL (SELECT '+23324000000' || (1 + (g * 7) % 8) AS phone) p;
UPDATE shop_orders SET payment_status = (ARRAY['paid', 'refunded', 'pending'])[1 + (random() * 2)::int]
 WHERE id::text LIKE 'c4100000%' AND random() < 0.5;
UPDATE shop_orders SET customer_phone = '+23324000000' || (1 + (random() * 7)::int)
 WHERE id::text LIKE 'c4100000%' AND random() < 0.1;
UPDATE shop_orders SET discount_code = (SELECT c.code FROM ct40_codes c ORDER BY random() LIMIT 1)
 WHERE id::text LIKE 'c4100000%' AND random() < 0.1;
DELETE FROM shop_orders WHERE id::text LIKE 'c4100000%' AND random() < 0.1;
SET client_min_messages = warning;
:verify;
-- The same by hand: every code's uses equal the paid orders of its customer carrying it that
-- hold one, and no code holds more than its limit.
SELECT count(*) AS codes, sum(k.uses) = (SELECT count(*) FROM customer_tracking_code_uses u JOIN ct40_codes c USING (code)
                                          WHERE u.shop_id = :s1) AS uses_equal,
       bool_and(k.uses <= k.max_uses) AS within_limits,
       bool_and(k.uses = (SELECT count(*) FROM shop_orders o JOIN customer_tracking t ON t.id = o.id AND t.shop_id = o.shop_id
                           JOIN customer_tracking_code_uses u ON u.shop_id = o.shop_id AND u.order_id = o.id
                          WHERE o.shop_id = k.shop_id AND upper(o.discount_code) = k.code AND t.purchase_completed
                            AND t.shop_customer_id = k.customer_id)) AS each_equal
  FROM customer_tracking_codes k JOIN ct40_codes c ON c.code = k.code WHERE k.shop_id = :s1;
-- Every paid order carrying a code holds a use of it or has it listed as not used.
SELECT count(*) AS unaccounted
  FROM shop_orders o JOIN customer_tracking t ON t.id = o.id AND t.shop_id = o.shop_id AND t.purchase_completed
 WHERE o.shop_id = :s1 AND o.discount_code IS NOT NULL AND btrim(o.discount_code, ' -') <> ''
   AND NOT EXISTS (SELECT 1 FROM customer_tracking_code_uses u WHERE u.shop_id = o.shop_id AND u.order_id = o.id)
   AND NOT EXISTS (SELECT 1 FROM customer_tracking_issues i WHERE i.shop_id = o.shop_id AND i.shop_order_id = o.id
                     AND i.issue = 'discount_code_not_used' AND i.resolved_at IS NULL);

-- Row-level security: an owner sees and manages their own shop's codes only.
GRANT SELECT ON user_shops TO ct40_owner, ct40_other;
SET ROLE ct40_owner;
SELECT set_config('request.jwt.claims', :'claims_1', false) IS NOT NULL AS claims;
SELECT count(*) > 0 AS own_codes FROM customer_tracking_codes;
SELECT count(DISTINCT shop_id) AS shops_seen FROM customer_tracking_codes;
SELECT count(*) > 0 AS own_listed FROM shop_loyalty_codes(:s1);
SELECT length(customer_tracking_issue_code(:s1, :'kofi', 'fixed', 1)) AS issued_as_owner;
SELECT count(*) AS others_listed FROM shop_loyalty_codes(:s2);
SELECT customer_tracking_issue_code(:s2, :'ama2', 'fixed', 1);
SELECT customer_tracking_void_code(:s2, 'ANYTHING');
INSERT INTO customer_tracking_codes (shop_id, code, customer_id, kind, value, max_uses)
VALUES (:s1, 'FORGED', :'ama', 'fixed', 1, 1);
UPDATE customer_tracking_codes SET uses = 0;
SELECT set_config('request.jwt.claims', :'claims_2', false) IS NOT NULL AS claims;
SELECT count(*) AS codes_seen FROM customer_tracking_codes;
SELECT count(*) AS uses_seen FROM customer_tracking_code_uses;
SELECT customer_tracking_void_code(:s1, :'code');
RESET ROLE;
SELECT set_config('request.jwt.claims', '', false) IS NOT NULL AS claims;

-- Enumeration attempts by a storefront role (anon: no claims, no table rights): 2,000 guesses,
-- well-formed and not, against a phone that holds codes; every answer is the same row.
SET ROLE ct40_anon;
SELECT count(*) AS guesses, count(DISTINCT (r.valid, r.kind, r.value, r.reason)) AS distinct_answers,
       min(r.reason) AS reason
  FROM generate_series(1, 2000) g,
       LATERAL shop_check_code('ct40-one', '0241234567',
                               CASE WHEN g % 4 = 0 THEN md5(g::text) ELSE translate(upper(left(md5('x' || g), 10)), '01', 'YZ') END) r;
-- The real code still answers (the check needs the code and the phone together).
SELECT valid, reason FROM shop_check_code('ct40-one', '0241234567', :'code');
SELECT count(*) FROM customer_tracking_codes;
SELECT count(*) FROM customer_tracking_code_uses;
SELECT customer_tracking_issue_code(:s1, :'ama', 'fixed', 1);
SELECT count(*) FROM shop_loyalty_codes(:s1);
-- A storefront order carrying a code, inserted as anon: the use is taken all the same.
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, discount_code)
VALUES ('c4000000-0000-0000-0000-000000000030', :s1, '0241234567', 1, 'paid', '2026-02-09', :'code');
RESET ROLE;
SELECT uses, max_uses, (SELECT array_agg(right(u.order_id::text, 2) ORDER BY u.order_id) FROM customer_tracking_code_uses u
                         WHERE u.shop_id = k.shop_id AND u.code = k.code) AS held_by
  FROM customer_tracking_codes k WHERE k.shop_id = :s1 AND k.code = :'code';
:verify;

-- Clean up: the shops (their orders cascade), their codes, the column, the roles.
DELETE FROM user_shops WHERE id IN (:s1, :s2);
SELECT count(*) AS uses_left_over FROM customer_tracking_code_uses WHERE shop_id IN (:s1, :s2);
DELETE FROM customer_tracking_codes WHERE shop_id IN (:s1, :s2);
DELETE FROM customer_tracking_issues WHERE shop_id IN (:s1, :s2);
ALTER TABLE shop_orders DROP COLUMN discount_code;
REVOKE ALL ON shop_orders, user_shops FROM ct40_owner, ct40_other, ct40_anon;
DROP OWNED BY ct40_owner, ct40_other, ct40_anon;
DROP ROLE ct40_owner;
DROP ROLE ct40_other;
DROP ROLE ct40_anon;
:verify;
RESET client_min_messages;
