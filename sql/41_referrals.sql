-- Referrals: stable referral codes, referrals made by first paid orders that
-- carry a code (referral_code column, or ref=<code> in utm_source / referrer), pending until the
-- review period ends, voided by a refund within it, blocked with a reason; bad input; the
-- summary against a recomputation; row-level security.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set VERBOSITY terse
\set SHOW_CONTEXT never
\set s1 '''a5000000-0000-0000-0000-000000000001'''
\set s2 '''a5000000-0000-0000-0000-000000000002'''
\set claims_1 '{"sub": "b5000000-0000-0000-0000-000000000001", "role": "authenticated"}'
\set claims_2 '{"sub": "b5000000-0000-0000-0000-000000000002", "role": "authenticated"}'
\set refs 'SELECT right(order_id::text, 2) AS ord, referred_phone, advocate_phone, status, blocked_reason, review_ends_at - paid_at AS review FROM shop_referrals(:s1) ORDER BY ord'
\set verify 'SELECT * FROM customer_tracking_verify_loyalty() UNION ALL SELECT shop_id, problem, shop_order_id::text, stored FROM customer_tracking_verify()'

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['ct41_owner', 'ct41_anon'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('DROP OWNED BY %I', r);
            EXECUTE format('DROP ROLE %I', r);
        END IF;
    END LOOP;
END
$$;
CREATE ROLE ct41_owner NOLOGIN;
CREATE ROLE ct41_anon NOLOGIN;

ALTER TABLE shop_orders ADD COLUMN referral_code text, ADD COLUMN referrer text, ADD COLUMN utm_source text;
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  (:s1, 'b5000000-0000-0000-0000-000000000001', 'ct41-one'),
  (:s2, 'b5000000-0000-0000-0000-000000000002', 'ct41-two');
-- Advocates Ama and Yaw have bought; Kofi has bought too (he cannot be referred any more).
INSERT INTO shop_orders (id, shop_id, customer_name, customer_email, customer_phone, total_price, payment_status, created_at) VALUES
  ('c5000000-0000-0000-0000-000000000001', :s1, 'Ama',  'ama@example.com', '0241234567', 10, 'paid', '2026-01-01'),
  ('c5000000-0000-0000-0000-000000000002', :s1, 'Yaw',  NULL,              '0271234567', 10, 'paid', '2026-01-01'),
  ('c5000000-0000-0000-0000-000000000003', :s1, 'Kofi', NULL,              '0201234567', 50, 'paid', '2026-01-02'),
  ('c5000000-0000-0000-0000-000000000004', :s2, 'Ama',  NULL,              '0241234567', 10, 'paid', '2026-01-02');
SELECT customer_tracking_customer_id(:s1, '+233241234567') AS ama,
       customer_tracking_customer_id(:s1, '+233271234567') AS yaw,
       customer_tracking_customer_id(:s2, '+233241234567') AS ama2 \gset

-- A stable code per customer: the same on every call, 8 characters, another for another customer.
SELECT customer_tracking_referral_code(:s1, :'ama') AS ref_ama \gset
SELECT customer_tracking_referral_code(:s1, :'yaw') AS ref_yaw \gset
SELECT customer_tracking_referral_code(:s1, :'ama') = :'ref_ama' AS stable, length(:'ref_ama') AS length,
       :'ref_ama' ~ '^[A-HJ-NP-Z2-9]{8}$' AS alphabet, :'ref_ama' <> :'ref_yaw' AS distinct_codes;
-- Bad input.
SELECT customer_tracking_referral_code(NULL, :'ama');
SELECT customer_tracking_referral_code(:s1, NULL);
SELECT customer_tracking_referral_code(:s1, :'ama2');
SELECT customer_tracking_referral_code(:s1, 'f0000000-0000-0000-0000-000000000000');
SELECT customer_tracking_set_referral_settings(NULL, 7, 10);
SELECT customer_tracking_set_referral_settings(:s1, -1, 10);
SELECT customer_tracking_set_referral_settings(:s1, 366, 10);
SELECT customer_tracking_set_referral_settings(:s1, NULL, 10);
SELECT customer_tracking_set_referral_settings(:s1, 7, -1);
SELECT customer_tracking_set_referral_settings(:s1, 7, NULL);
SELECT count(*) FROM shop_referrals(:s1, 'bogus');
-- Two referrals per advocate per day in shop 1; the default review period (7 days).
SELECT customer_tracking_set_referral_settings(:s1, p_daily_limit => 2);
SELECT review_days, daily_limit FROM customer_tracking_referral_settings WHERE shop_id = :s1;

-- Esi is referred by Ama through the referral_code column (any case, dashes): pending.
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, referral_code)
VALUES ('c5000000-0000-0000-0000-000000000011', :s1, '0551000001', 20, 'paid', '2026-02-01', lower(left(:'ref_ama', 4)) || '-' || right(:'ref_ama', 4));
-- Abena through a ref= parameter in the referrer URL, on a checkout paid later: made at payment.
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, referrer)
VALUES ('c5000000-0000-0000-0000-000000000012', :s1, '0551000002', 20, 'pending', '2026-02-01',
        'https://shop.example/shop/ct41-one?utm_medium=social&ref=' || :'ref_yaw' || '#top');
:refs;
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c5000000-0000-0000-0000-000000000012';
-- Kwame through utm_source = 'ref=<code>'; his second paid order makes no second referral.
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, utm_source) VALUES
  ('c5000000-0000-0000-0000-000000000013', :s1, '0551000003', 20, 'paid', '2026-02-01', 'ref=' || :'ref_yaw');
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, utm_source) VALUES
  ('c5000000-0000-0000-0000-000000000014', :s1, '0551000003', 20, 'paid', '2026-02-02', 'ref=' || :'ref_ama');
:refs;
-- Blocked: Kofi already bought; Ama referring herself (same phone); a friend with Ama's email.
INSERT INTO shop_orders (id, shop_id, customer_email, customer_phone, total_price, payment_status, created_at, referral_code) VALUES
  ('c5000000-0000-0000-0000-000000000015', :s1, NULL,               '0201234567', 20, 'paid', '2026-02-03', :'ref_ama'),
  ('c5000000-0000-0000-0000-000000000016', :s1, NULL,               '+233 24 123 4567', 20, 'paid', '2026-02-03', :'ref_ama'),
  ('c5000000-0000-0000-0000-000000000017', :s1, ' AMA@example.com', '0551000007', 20, 'paid', '2026-02-03', :'ref_ama');
-- Ama's daily limit (2, Esi counts; blocked ones do not): one more friend passes, the next is blocked.
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, referral_code) VALUES
  ('c5000000-0000-0000-0000-000000000018', :s1, '0551000008', 20, 'paid', '2026-02-03', :'ref_ama');
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, referral_code) VALUES
  ('c5000000-0000-0000-0000-000000000019', :s1, '0551000009', 20, 'paid', '2026-02-03', :'ref_ama');
-- Unknown codes are listed as issues (the order is saved and counted); another shop's code is unknown
-- here; a value that cannot be a code is no referral.
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, referral_code) VALUES
  ('c5000000-0000-0000-0000-000000000020', :s1, '0551000010', 20, 'paid', '2026-02-03', 'NOSUCH'),
  ('c5000000-0000-0000-0000-000000000021', :s2, '0551000010', 20, 'paid', '2026-02-03', :'ref_ama'),
  ('c5000000-0000-0000-0000-000000000022', :s1, '0551000011', 20, 'paid', '2026-02-03', '%%%');
SELECT right(shop_order_id::text, 2) AS ord, issue, replace(detail, :'ref_ama', '<Ama''s code>') AS detail
  FROM customer_tracking_issues WHERE shop_id IN (:s1, :s2) AND resolved_at IS NULL ORDER BY 1;
:refs;
-- The next day (the earlier referrals moved a day back): Ama may refer again.
UPDATE customer_tracking_referrals SET paid_at = paid_at - interval '1 day' WHERE shop_id = :s1;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, referral_code) VALUES
  ('c5000000-0000-0000-0000-000000000023', :s1, '0551000012', 20, 'paid', '2026-02-04', :'ref_ama');
SELECT status, blocked_reason FROM shop_referrals(:s1) WHERE referred_phone = '+233551000012';
:verify;

-- Review: a refund within the period voids the referral (also cancel, delete, a move to another
-- phone); once the period is over the referral is approved and stays so.
UPDATE shop_orders SET payment_status = 'refunded' WHERE id = 'c5000000-0000-0000-0000-000000000011';
DELETE FROM shop_orders WHERE id = 'c5000000-0000-0000-0000-000000000012';
UPDATE shop_orders SET customer_phone = '0551000099' WHERE id = 'c5000000-0000-0000-0000-000000000018';
UPDATE customer_tracking_referrals SET review_ends_at = now() - interval '1 second'
 WHERE shop_id = :s1 AND order_id = 'c5000000-0000-0000-0000-000000000013';
UPDATE shop_orders SET payment_status = 'refunded' WHERE id = 'c5000000-0000-0000-0000-000000000013';
-- Paid again within the period: a voided referral stays voided.
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c5000000-0000-0000-0000-000000000011';
SELECT right(order_id::text, 2) AS ord, status, approved_at = review_ends_at AS approved_at_review_end,
       voided_at IS NOT NULL AS voided
  FROM shop_referrals(:s1) WHERE status IN ('voided', 'approved') ORDER BY 1;
SELECT status, count(*) FROM shop_referrals(:s1) GROUP BY 1 ORDER BY 1;
SELECT count(*) AS pending_listed FROM shop_referrals(:s1, 'pending');
-- A review period of 0 days: approved at once.
SELECT customer_tracking_set_referral_settings(:s1, 0, 10);
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, referral_code) VALUES
  ('c5000000-0000-0000-0000-000000000024', :s1, '0551000013', 20, 'paid', '2026-02-05', :'ref_yaw');
SELECT status FROM shop_referrals(:s1) WHERE referred_phone = '+233551000013';
:verify;

-- The summary against a recomputation from the referrals and shop_customers.
SELECT * FROM shop_referral_summary(:s1);
WITH r AS (SELECT * FROM shop_referrals(:s1)),
     c AS (SELECT c.*, c.id IN (SELECT referred_customer_id FROM r WHERE status IN ('pending', 'approved')) AS referred
             FROM shop_customers c WHERE c.shop_id = :s1 AND c.total_purchases > 0)
SELECT (SELECT count(DISTINCT advocate_customer_id) FROM r WHERE status <> 'blocked') AS advocates,
       (SELECT count(*) FROM r) AS referrals,
       (SELECT count(*) FROM c WHERE referred) AS referred_customers,
       (SELECT round(avg(total_spent), 2) FROM c WHERE referred) AS referred_average_ltv,
       (SELECT count(*) FROM c WHERE NOT referred) AS other_customers,
       (SELECT round(100.0 * count(*) FILTER (WHERE total_purchases >= 2) / count(*), 1) FROM c WHERE NOT referred) AS other_repeat_rate;

-- Row-level security: the owner sees and manages their shop only; a storefront role nothing.
GRANT SELECT ON user_shops TO ct41_owner;
SET ROLE ct41_owner;
SELECT set_config('request.jwt.claims', :'claims_1', false) IS NOT NULL AS claims;
SELECT count(*) > 0 AS own_referrals, count(*) = (SELECT count(*) FROM customer_tracking_referrals) AS table_agrees
  FROM shop_referrals(:s1);
SELECT count(*) AS other_shop FROM shop_referrals(:s2);
SELECT referrals FROM shop_referral_summary(:s2);
SELECT customer_tracking_referral_code(:s1, :'yaw') = :'ref_yaw' AS same_code;
SELECT customer_tracking_referral_code(:s2, :'ama2');
SELECT customer_tracking_set_referral_settings(:s2, 1, 1);
UPDATE customer_tracking_referrals SET voided_at = NULL;
SELECT set_config('request.jwt.claims', :'claims_2', false) IS NOT NULL AS claims;
SELECT count(*) AS codes_seen FROM customer_tracking_referral_codes;
SELECT count(*) AS referrals_seen FROM shop_referrals(:s1);
RESET ROLE;
SELECT set_config('request.jwt.claims', '', false) IS NOT NULL AS claims;
SET ROLE ct41_anon;
SELECT count(*) FROM customer_tracking_referrals;
SELECT count(*) FROM shop_referrals(:s1);
SELECT customer_tracking_referral_code(:s1, :'ama');
RESET ROLE;

-- Clean up.
DELETE FROM user_shops WHERE id IN (:s1, :s2);
DELETE FROM customer_tracking_referrals WHERE shop_id IN (:s1, :s2);
DELETE FROM customer_tracking_referral_codes WHERE shop_id IN (:s1, :s2);
DELETE FROM customer_tracking_referral_settings WHERE shop_id IN (:s1, :s2);
DELETE FROM customer_tracking_issues WHERE shop_id IN (:s1, :s2);
ALTER TABLE shop_orders DROP COLUMN referral_code, DROP COLUMN referrer, DROP COLUMN utm_source;
REVOKE ALL ON user_shops FROM ct41_owner;
DROP OWNED BY ct41_owner, ct41_anon;
DROP ROLE ct41_owner;
DROP ROLE ct41_anon;
:verify;
RESET client_min_messages;
