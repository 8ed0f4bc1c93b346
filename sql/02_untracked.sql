-- Bad input never loses an order. An order that cannot be tracked (missing, invalid or overlong
-- phone; NULL, negative or NaN amount; infinite created_at) is saved, left unlinked, reported
-- with one WARNING per new issue and recorded in customer_tracking_issues (listed by the view
-- customer_tracking_untracked). An order tracked with a caveat (unknown status, text longer than
-- the column) is linked and recorded too. Fixing the order links it and resolves the record.
-- customer_tracking.strict = on rejects such orders instead.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
\set shop1 '''a2000000-0000-0000-0000-000000000001'''
\set shop2 '''a2000000-0000-0000-0000-000000000002'''
\set issues 'SELECT shop_order_id, issue, detail, untracked, resolved_at IS NULL AS open FROM customer_tracking_issues WHERE shop_id IN (''a2000000-0000-0000-0000-000000000001'', ''a2000000-0000-0000-0000-000000000002'') ORDER BY shop_order_id, issue'
\set untracked 'SELECT shop_id = ''a2000000-0000-0000-0000-000000000001'' AS in_shop1, shop_order_id, reason, detail FROM customer_tracking_untracked WHERE shop_id IN (''a2000000-0000-0000-0000-000000000001'', ''a2000000-0000-0000-0000-000000000002'') ORDER BY shop_order_id, reason'
\set customers 'SELECT shop_id = ''a2000000-0000-0000-0000-000000000001'' AS in_shop1, phone_number, left(customer_name, 12) AS customer_name, total_orders, total_purchases, total_spent, first_source_slug, left(preferred_network, 12) AS preferred_network FROM shop_customers WHERE shop_id IN (''a2000000-0000-0000-0000-000000000001'', ''a2000000-0000-0000-0000-000000000002'') ORDER BY shop_id, phone_number'
\set verify 'SELECT problem, shop_order_id, stored, expected FROM customer_tracking_verify() ORDER BY 1, 2, 3'

-- The host app gains attribution columns and allows a NULL amount (the extension sees both).
ALTER TABLE shop_orders ADD COLUMN referrer text, ADD COLUMN utm_source text,
    ADD COLUMN utm_medium text, ADD COLUMN utm_campaign text,
    ALTER COLUMN total_price DROP NOT NULL;
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('a2000000-0000-0000-0000-000000000001', 'b2000000-0000-0000-0000-000000000001', 'ct02-one'),
  ('a2000000-0000-0000-0000-000000000002', 'b2000000-0000-0000-0000-000000000002', 'ct02-two');

--------------------------------------------------------------------------------
-- 1. Every kind of bad input is saved; what cannot be tracked is left unlinked.
--------------------------------------------------------------------------------
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c2000000-0000-0000-0000-000000000001', :shop1, 'No Phone', NULL,                 'MTN', 10.00, 'paid',    'ct02', '2026-01-01 10:00+00'),
  ('c2000000-0000-0000-0000-000000000002', :shop1, 'Typo',     'call me',            'MTN', 11.00, 'paid',    'ct02', '2026-01-02 10:00+00'),
  ('c2000000-0000-0000-0000-000000000003', :shop1, 'Long',     repeat('0244 ', 20),  'MTN', 12.00, 'paid',    'ct02', '2026-01-03 10:00+00'),
  ('c2000000-0000-0000-0000-000000000004', :shop1, 'Kwame',    '0261110004',         'MTN', NULL,  'paid',    'ct02', '2026-01-04 10:00+00'),
  ('c2000000-0000-0000-0000-000000000005', :shop1, 'Kwame',    '0261110004',         'MTN', -5.00, 'paid',    'ct02', '2026-01-05 10:00+00'),
  ('c2000000-0000-0000-0000-000000000006', :shop1, 'Kwame',    '0261110004',         'MTN', 'NaN', 'paid',    'ct02', '2026-01-06 10:00+00'),
  ('c2000000-0000-0000-0000-000000000007', :shop1, 'Kwame',    '0261110004',         'MTN', 7.00,  'paid',    'ct02', 'infinity');
-- Tracked with a caveat: an unknown status is an order but not a purchase ...
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c2000000-0000-0000-0000-000000000008', :shop1, 'Efua', '0271110008', 'Telecel', 4.00, 'on-hold', 'ct02', '2026-01-08 10:00+00'),
  ('c2000000-0000-0000-0000-000000000009', :shop1, 'Efua', '0271110008', 'Telecel', 5.00, 'paid',    'ct02', '2026-01-09 10:00+00');
-- ... and overlong text is cut to the column width (in characters) but the order is linked
-- (utm_source has exactly 255 characters: kept whole, no issue).
INSERT INTO shop_orders (id, shop_id, customer_name, customer_email, customer_phone, network, total_price, payment_status, shop_slug, utm_source, utm_campaign, created_at) VALUES
  ('c2000000-0000-0000-0000-000000000010', :shop1, repeat('é', 300), repeat('e', 300) || '@example.com', '0271110008',
   repeat('N', 60), 6.00, 'paid', repeat('s', 256), repeat('u', 255), repeat('ü', 400), '2026-01-10 10:00+00');

-- (strict is off by default)
SHOW customer_tracking.strict;
-- Nothing was lost: all ten orders are there; the untrackable ones are unlinked.
SELECT id, shop_customer_id IS NOT NULL AS linked FROM shop_orders WHERE shop_id = :shop1 ORDER BY id;
:issues;
:untracked;
-- The record says when: first and last seen (no later than now).
SELECT count(*) AS open_issues, bool_and(first_seen_at = last_seen_at AND last_seen_at <= now()) AS seen_once
  FROM customer_tracking_issues WHERE shop_id = :shop1 AND resolved_at IS NULL;
-- Linked orders only: Efua has 3 orders, 2 purchases (the unknown status is not one).
:customers;
SELECT length(customer_name) AS name_len, left(customer_name, 3) AS name, length(email) AS email_len,
       length(first_source_slug) AS slug_len, length(preferred_network) AS network_len
  FROM shop_customers WHERE shop_id = :shop1 AND phone_number = '+233271110008';
SELECT shop_order_id, length(accessed_via_slug) AS slug_len, length(network) AS network_len,
       length(utm_source) AS utm_source_len, length(utm_campaign) AS utm_campaign_len, purchase_completed
  FROM customer_tracking WHERE shop_id = :shop1 ORDER BY shop_order_id;
:verify;

--------------------------------------------------------------------------------
-- 2. One WARNING per new issue, not one per update.
--------------------------------------------------------------------------------
SELECT first_seen_at AS typo_first_seen, last_seen_at AS typo_last_seen FROM customer_tracking_issues
 WHERE shop_order_id = 'c2000000-0000-0000-0000-000000000002' AND issue = 'invalid_phone' \gset
-- Unrelated updates (fulfilment) of untracked orders: silent, the record is untouched.
UPDATE shop_orders SET order_status = 'delivered' WHERE shop_id = :shop1;
SELECT last_seen_at = :'typo_last_seen' AS record_untouched FROM customer_tracking_issues
 WHERE shop_order_id = 'c2000000-0000-0000-0000-000000000002' AND issue = 'invalid_phone';
-- Still the same issue after an edit: silent; the detail and last_seen_at follow, first_seen_at stays.
UPDATE shop_orders SET customer_phone = 'call me later', network = 'Telecel' WHERE id = 'c2000000-0000-0000-0000-000000000002';
SELECT detail, first_seen_at = :'typo_first_seen' AS first_seen_kept, last_seen_at > :'typo_last_seen' AS last_seen_moved
  FROM customer_tracking_issues WHERE shop_order_id = 'c2000000-0000-0000-0000-000000000002' AND issue = 'invalid_phone';
-- A new issue on the same order: exactly one WARNING, for the new issue.
UPDATE shop_orders SET total_price = -1.00 WHERE id = 'c2000000-0000-0000-0000-000000000002';
-- A new caveat on a tracked order: one WARNING; editing it again: none.
UPDATE shop_orders SET payment_status = 'awaiting-review' WHERE id = 'c2000000-0000-0000-0000-000000000009';
UPDATE shop_orders SET payment_status = 'Awaiting-Review', total_price = 5.50 WHERE id = 'c2000000-0000-0000-0000-000000000009';
:issues;

--------------------------------------------------------------------------------
-- 3. Fixing an order links it and resolves its record.
--------------------------------------------------------------------------------
UPDATE shop_orders SET customer_phone = '+233 24 111 0001' WHERE id = 'c2000000-0000-0000-0000-000000000001';
UPDATE shop_orders SET customer_phone = '024 111 0002', total_price = 11.00 WHERE id = 'c2000000-0000-0000-0000-000000000002';
UPDATE shop_orders SET customer_phone = '0241110003' WHERE id = 'c2000000-0000-0000-0000-000000000003';
UPDATE shop_orders SET total_price = 4.00 WHERE id = 'c2000000-0000-0000-0000-000000000004';
UPDATE shop_orders SET total_price = 5.00 WHERE id = 'c2000000-0000-0000-0000-000000000005';
UPDATE shop_orders SET total_price = 6.00 WHERE id = 'c2000000-0000-0000-0000-000000000006';
UPDATE shop_orders SET created_at = '2026-01-07 10:00+00' WHERE id = 'c2000000-0000-0000-0000-000000000007';
UPDATE shop_orders SET payment_status = 'paid' WHERE id IN ('c2000000-0000-0000-0000-000000000008', 'c2000000-0000-0000-0000-000000000009');
UPDATE shop_orders SET customer_name = 'Efua', customer_email = 'efua@example.com' WHERE id = 'c2000000-0000-0000-0000-000000000010';
SELECT id, shop_customer_id IS NOT NULL AS linked FROM shop_orders WHERE shop_id = :shop1 ORDER BY id;
:untracked;
-- Resolved, not forgotten: the record keeps what happened; only the slug, network and UTM
-- caveats of order 10 remain open.
:issues;
SELECT count(*) FILTER (WHERE resolved_at >= first_seen_at) AS resolved_after_seen,
       count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved
  FROM customer_tracking_issues WHERE shop_id = :shop1;
-- Kwame 4 + 5 + 6 + 7; Efua 4 + 5.50 + 6 (all three now purchases).
:customers;
:verify;

-- Breaking a tracked order again unlinks it (its purchase leaves the customer) and reopens the record.
UPDATE shop_orders SET customer_phone = '12' WHERE id = 'c2000000-0000-0000-0000-000000000007';
SELECT shop_order_id, issue, detail, resolved_at IS NULL AS open FROM customer_tracking_issues
 WHERE shop_order_id = 'c2000000-0000-0000-0000-000000000007' ORDER BY issue;
SELECT total_orders, total_purchases, total_spent FROM shop_customers WHERE shop_id = :shop1 AND phone_number = '+233261110004';
UPDATE shop_orders SET customer_phone = '0261110004' WHERE id = 'c2000000-0000-0000-0000-000000000007';
SELECT total_orders, total_purchases, total_spent FROM shop_customers WHERE shop_id = :shop1 AND phone_number = '+233261110004';
:untracked;
:verify;

--------------------------------------------------------------------------------
-- 4. customer_tracking.strict = on: the same inputs are errors and nothing is saved.
--------------------------------------------------------------------------------
SET customer_tracking.strict = on;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2000000-0000-0000-0000-000000000020', :shop1, 'not a phone', -3.00, 'paid', '2026-01-20 10:00+00');
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2000000-0000-0000-0000-000000000021', :shop1, '0241110021', 3.00, 'mystery', '2026-01-21 10:00+00');
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, shop_slug, created_at)
VALUES ('c2000000-0000-0000-0000-000000000022', :shop1, '0241110022', 3.00, 'paid', repeat('x', 300), '2026-01-22 10:00+00');
-- An edit that would make a saved order untrackable fails; the order keeps its values.
UPDATE shop_orders SET customer_phone = NULL WHERE id = 'c2000000-0000-0000-0000-000000000001';
SELECT customer_phone, shop_customer_id IS NOT NULL AS linked FROM shop_orders WHERE id = 'c2000000-0000-0000-0000-000000000001';
-- A good order is accepted as usual.
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2000000-0000-0000-0000-000000000023', :shop1, '0241110023', 3.00, 'paid', '2026-01-23 10:00+00');
SELECT id, shop_customer_id IS NOT NULL AS linked FROM shop_orders WHERE id::text LIKE 'c2000000-0000-0000-0000-00000000002_' ORDER BY id;
SELECT count(*) AS issues_of_rejected_orders FROM customer_tracking_issues
 WHERE shop_order_id IN ('c2000000-0000-0000-0000-000000000020', 'c2000000-0000-0000-0000-000000000021', 'c2000000-0000-0000-0000-000000000022');
RESET customer_tracking.strict;
DELETE FROM shop_orders WHERE id = 'c2000000-0000-0000-0000-000000000023';

--------------------------------------------------------------------------------
-- 5. Deleting an order forgets its record.
--------------------------------------------------------------------------------
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2000000-0000-0000-0000-000000000030', :shop1, 'unknown', 3.00, 'paid', '2026-01-30 10:00+00');
SELECT count(*) AS records FROM customer_tracking_issues WHERE shop_order_id = 'c2000000-0000-0000-0000-000000000030';
DELETE FROM shop_orders WHERE id = 'c2000000-0000-0000-0000-000000000030';
SELECT count(*) AS records FROM customer_tracking_issues WHERE shop_order_id = 'c2000000-0000-0000-0000-000000000030';

--------------------------------------------------------------------------------
-- 6. TRUNCATE clears the record with everything else; tracking goes on afterwards.
--------------------------------------------------------------------------------
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at)
VALUES ('c2000000-0000-0000-0000-000000000040', :shop1, 'n/a', 3.00, 'paid', '2026-02-01 10:00+00');
BEGIN;
TRUNCATE shop_orders;
SELECT (SELECT count(*) FROM customer_tracking_issues) AS issues, (SELECT count(*) FROM customer_tracking_untracked) AS untracked,
       (SELECT count(*) FROM shop_customers) AS customers, (SELECT count(*) FROM customer_tracking) AS tracking;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at) VALUES
  ('c2000000-0000-0000-0000-000000000041', :shop1, 'n/a', 3.00, 'paid', '2026-02-01 10:00+00'),
  ('c2000000-0000-0000-0000-000000000042', :shop1, '0241110042', 3.00, 'paid', '2026-02-01 10:00+00');
:untracked;
-- Orders are counted at commit; customer_tracking_apply_pending() counts them now.
SELECT customer_tracking_apply_pending();
SELECT phone_number, total_purchases, total_spent FROM shop_customers;
:verify;
ROLLBACK;
:untracked;
DELETE FROM shop_orders WHERE id = 'c2000000-0000-0000-0000-000000000040';

--------------------------------------------------------------------------------
-- 7. An order whose shop_id changes: its record and its customer move with it.
--------------------------------------------------------------------------------
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at) VALUES
  ('c2000000-0000-0000-0000-000000000050', :shop1, 'ask the rider', 8.00, 'paid',   '2026-02-05 10:00+00'),
  ('c2000000-0000-0000-0000-000000000051', :shop1, '0241110051',    9.00, 'queued', '2026-02-05 11:00+00');
-- Moved while untracked / tracked with a caveat: the order is now shop 2's, and only shop 2's
-- record lists it (no open issue is left behind in shop 1).
UPDATE shop_orders SET shop_id = :shop2
 WHERE id IN ('c2000000-0000-0000-0000-000000000050', 'c2000000-0000-0000-0000-000000000051');
SELECT shop_order_id, shop_id = :shop1 AS in_shop1, issue, resolved_at IS NULL AS open FROM customer_tracking_issues
 WHERE shop_order_id IN ('c2000000-0000-0000-0000-000000000050', 'c2000000-0000-0000-0000-000000000051')
   AND resolved_at IS NULL ORDER BY 1, 2;
:untracked;
-- Fixed in its new shop: linked to shop 2's customer; nothing is open for it anywhere.
UPDATE shop_orders SET customer_phone = '0241110050' WHERE id = 'c2000000-0000-0000-0000-000000000050';
UPDATE shop_orders SET payment_status = 'completed' WHERE id = 'c2000000-0000-0000-0000-000000000051';
SELECT count(*) AS open_issues FROM customer_tracking_issues
 WHERE shop_order_id IN ('c2000000-0000-0000-0000-000000000050', 'c2000000-0000-0000-0000-000000000051') AND resolved_at IS NULL;
:untracked;
-- A linked order moving shops leaves its old customer (deleted with its last order) for the new shop's.
UPDATE shop_orders SET shop_id = :shop2 WHERE id = 'c2000000-0000-0000-0000-000000000003';
:customers;
:verify;

--------------------------------------------------------------------------------
-- Clean up: the shops' orders go, and with them everything derived from them.
--------------------------------------------------------------------------------
DELETE FROM shop_orders WHERE shop_id IN (:shop1, :shop2);
SELECT (SELECT count(*) FROM shop_customers WHERE shop_id IN (:shop1, :shop2)) AS customers,
       (SELECT count(*) FROM customer_tracking WHERE shop_id IN (:shop1, :shop2)) AS tracking,
       (SELECT count(*) FROM customer_tracking_issues WHERE shop_id IN (:shop1, :shop2)) AS issues;
-- Whatever happened above, leave nothing of these shops behind for the tests that follow.
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS t FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
              WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'customer_tracking')
                AND d.classid = 'pg_class'::regclass AND c.relkind = 'r'
                AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'shop_id')
    LOOP
        EXECUTE format('DELETE FROM %s WHERE shop_id IN (%L, %L)', r.t, 'a2000000-0000-0000-0000-000000000001', 'a2000000-0000-0000-0000-000000000002');
    END LOOP;
END $$;
DELETE FROM user_shops WHERE id IN (:shop1, :shop2);
ALTER TABLE shop_orders DROP COLUMN referrer, DROP COLUMN utm_source, DROP COLUMN utm_medium,
    DROP COLUMN utm_campaign, ALTER COLUMN total_price SET NOT NULL;
:verify;
RESET client_min_messages;
