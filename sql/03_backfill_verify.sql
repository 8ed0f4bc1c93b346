-- customer_tracking_verify() reports every stored link, tracking row and customer stat that
-- differs from a recomputation from shop_orders; customer_tracking_backfill() links and counts
-- what the trigger never saw (orders written with triggers off, as for orders that predate
-- CREATE EXTENSION) and repairs damaged stats. Backfill is idempotent and reports what it did.
-- Damage is done on purpose, as a superuser.
-- WARNINGs of untrackable orders are 02_untracked's subject; here only errors are shown.
SET client_min_messages = error;
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
\set shop1 '''a3000000-0000-0000-0000-000000000001'''
\set shop2 '''a3000000-0000-0000-0000-000000000002'''

INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('a3000000-0000-0000-0000-000000000001', 'b3000000-0000-0000-0000-000000000001', 'ct03-one'),
  ('a3000000-0000-0000-0000-000000000002', 'b3000000-0000-0000-0000-000000000001', 'ct03-two');

-- Customer ids shown as shop:phone (the ids are name-based, so they are known in advance).
CREATE TEMP TABLE who AS
SELECT customer_tracking_customer_id(s.id, normalize_phone(p.phone)) AS id,
       CASE WHEN s.id = :shop1 THEN 's1:' ELSE 's2:' END || normalize_phone(p.phone) AS label
  FROM user_shops s,
       (VALUES ('0241234567'), ('0501112222'), ('0209998888'), ('0269990000'), ('0551230000')) AS p(phone)
 WHERE s.id IN (:shop1, :shop2);
CREATE FUNCTION pg_temp.named(t text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM who LOOP t := replace(t, r.id::text, r.label); END LOOP;
    RETURN t;
END $$;
\set verify 'SELECT problem, pg_temp.named(shop_customer_id::text) AS customer, right(shop_order_id::text, 2) AS ord, pg_temp.named(stored) AS stored, pg_temp.named(expected) AS expected FROM customer_tracking_verify() WHERE shop_id IN (''a3000000-0000-0000-0000-000000000001'', ''a3000000-0000-0000-0000-000000000002'') AND problem NOT LIKE ''rollup %'' ORDER BY 1, 2, 3, 4'
\set backfill 'SELECT shop_id = ''a3000000-0000-0000-0000-000000000001'' AS shop1, orders_retracked, orders_linked, orders_untracked, customers_repaired FROM customer_tracking_backfill() WHERE shop_id IN (''a3000000-0000-0000-0000-000000000001'', ''a3000000-0000-0000-0000-000000000002'') ORDER BY 1 DESC'
\set customers 'SELECT pg_temp.named(id::text) AS customer, total_orders, total_purchases, total_spent, first_purchase_at, last_purchase_at, right(first_order_id::text, 2) AS first_ord, first_source_slug, preferred_network, network_purchases, repeat_customer FROM shop_customers WHERE shop_id IN (''a3000000-0000-0000-0000-000000000001'', ''a3000000-0000-0000-0000-000000000002'') ORDER BY 1'

--------------------------------------------------------------------------------
-- 1. Orders tracked by the trigger: consistent, and backfill has nothing to do.
--------------------------------------------------------------------------------
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c3000000-0000-0000-0000-000000000001', :shop1, 'Ama',  '0241234567',   'MTN',        10.00, 'paid',      'ig', '2025-12-01 10:00+00'),
  ('c3000000-0000-0000-0000-000000000002', :shop1, 'Ama',  '024 123 4567', 'MTN',        20.00, 'paid',      'wa', '2025-12-02 10:00+00'),
  ('c3000000-0000-0000-0000-000000000003', :shop1, 'Kofi', '0501112222',   'Telecel',     7.00, 'pending',   'ig', '2025-12-03 10:00+00'),
  ('c3000000-0000-0000-0000-000000000004', :shop1, 'Kofi', '0501112222',   'Telecel',     8.00, 'paid',      'wa', '2025-12-04 10:00+00'),
  ('c3000000-0000-0000-0000-000000000005', :shop1, 'Yaa',  '0209998888',   'AirtelTigo', 30.00, 'paid',      'ig', '2025-12-05 10:00+00'),
  ('c3000000-0000-0000-0000-000000000006', :shop2, 'Ama',  '0241234567',   'MTN',        99.00, 'completed', 's9', '2025-12-06 10:00+00'),
  ('c3000000-0000-0000-0000-000000000007', :shop2, 'Esi',  '0551230000',   'MTN',        12.00, 'paid',      's9', '2025-12-07 10:00+00'),
  ('c3000000-0000-0000-0000-000000000008', :shop2, 'Esi',  '0551230000',   'Telecel',    13.00, 'paid',      's9', '2025-12-08 10:00+00');
:verify;
:backfill;

--------------------------------------------------------------------------------
-- 2. Damage.
--------------------------------------------------------------------------------
-- Orders written while the trigger was off (session_replication_role = replica, as a
-- logical-replication apply or a data load does): inserts, deletes and an edit.
SET session_replication_role = replica;
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  -- an older purchase of Ama: becomes her first (date, order and slug)
  ('c3000000-0000-0000-0000-000000000011', :shop1, 'Ama',   '+233241234567', 'Telecel',  5.00, 'paid',    'fb', '2025-11-30 10:00+00'),
  -- a new customer
  ('c3000000-0000-0000-0000-000000000012', :shop1, 'Abena', '0269990000',    'MTN',      8.00, 'paid',    'fb', '2025-12-10 10:00+00'),
  -- an order that cannot be tracked
  ('c3000000-0000-0000-0000-000000000013', :shop1, 'Anon',  'unknown',       'MTN',      3.00, 'paid',    'fb', '2025-12-10 11:00+00'),
  -- an order that is not a purchase
  ('c3000000-0000-0000-0000-000000000014', :shop1, 'Yaa',   '0209998888',    'MTN',      4.00, 'pending', 'fb', '2025-12-11 10:00+00');
DELETE FROM shop_orders WHERE id IN ('c3000000-0000-0000-0000-000000000002',  -- one of Ama's two purchases
                                     'c3000000-0000-0000-0000-000000000004',  -- Kofi's only purchase
                                     'c3000000-0000-0000-0000-000000000006'); -- Ama's only order in shop 2
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c3000000-0000-0000-0000-000000000003';
RESET session_replication_role;
-- The extension's own tables damaged directly.
UPDATE shop_customers SET total_spent = 0 WHERE shop_id = :shop1;
DELETE FROM customer_tracking WHERE id = 'c3000000-0000-0000-0000-000000000005';
-- A customer row deleted: its orders and tracking rows keep pointing at it (its id is derived
-- from shop and phone; no foreign key, so that first orders of a new customer never wait on
-- each other): verify reports the missing customer and backfill makes it again.
DELETE FROM shop_customers WHERE id = customer_tracking_customer_id(:shop2, '+233551230000');
SELECT right(id::text, 2) AS ord, shop_customer_id IS NOT NULL AS linked FROM shop_orders
 WHERE shop_id = :shop2 ORDER BY id;
SELECT count(*) AS links_to_missing_customers FROM shop_orders o
 WHERE o.shop_customer_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM shop_customers c WHERE c.id = o.shop_customer_id);
-- With the user triggers disabled: an order linked to the wrong customer, an order inserted.
ALTER TABLE shop_orders DISABLE TRIGGER USER;
UPDATE shop_orders SET shop_customer_id = customer_tracking_customer_id(:shop1, '+233501112222')
 WHERE id = 'c3000000-0000-0000-0000-000000000001';
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c3000000-0000-0000-0000-000000000015', :shop2, 'Esi', '0551230000', 'MTN', 14.00, 'paid', NULL, '2025-12-09 10:00+00');
ALTER TABLE shop_orders ENABLE TRIGGER USER;

--------------------------------------------------------------------------------
-- 3. verify reports each problem; per shop when asked.
--------------------------------------------------------------------------------
-- Links, tracking rows and customer stats (the dashboard rollups are counted below).
:verify;
SELECT bool_and(v.shop_id = :shop1) AS only_shop1,
       count(*) = (SELECT count(*) FROM customer_tracking_verify() a WHERE a.shop_id = :shop1) AS all_of_shop1
  FROM customer_tracking_verify(:shop1) v;
SELECT bool_and(v.shop_id = :shop2) AS only_shop2,
       count(*) = (SELECT count(*) FROM customer_tracking_verify() a WHERE a.shop_id = :shop2) AS all_of_shop2
  FROM customer_tracking_verify(:shop2) v;
SELECT count(*) > 0 AS rollups_differ FROM customer_tracking_verify() WHERE problem LIKE 'rollup %';

--------------------------------------------------------------------------------
-- 4. backfill repairs it; per shop when asked; a second run changes nothing.
--------------------------------------------------------------------------------
SELECT shop_id = :shop1 AS shop1, orders_retracked, orders_linked, orders_untracked, customers_repaired
  FROM customer_tracking_backfill(:shop1);
SELECT count(*) AS problems_left_in_shop1 FROM customer_tracking_verify(:shop1);
SELECT count(*) > 0 AS shop2_not_repaired_yet FROM customer_tracking_verify(:shop2);
:backfill;
SELECT count(*) AS problems_left FROM customer_tracking_verify();
-- Idempotent: nothing re-tracked or repaired, and not a row of the extension's tables rewritten.
BEGIN;
:backfill;
SELECT (SELECT count(*) FROM shop_customers WHERE xmin = pg_current_xact_id()::xid) AS customers_written,
       (SELECT count(*) FROM customer_tracking WHERE xmin = pg_current_xact_id()::xid) AS tracking_written,
       (SELECT count(*) FROM shop_orders WHERE xmin = pg_current_xact_id()::xid) AS orders_written;
COMMIT;
:customers;

--------------------------------------------------------------------------------
-- 5. The stats equal a recomputation from shop_orders, written here independently.
--------------------------------------------------------------------------------
CREATE TEMP VIEW recomputed AS
WITH o AS (
    SELECT shop_id, normalize_phone(customer_phone) AS phone, id, total_price AS amount, created_at,
           lower(btrim(payment_status)) IN ('completed', 'paid', 'success') AS paid,
           nullif(upper(btrim(network)), '') AS network, shop_slug
      FROM shop_orders
     WHERE shop_id IN (:shop1, :shop2) AND normalize_phone(customer_phone) IS NOT NULL AND total_price >= 0
)
SELECT customer_tracking_customer_id(shop_id, phone) AS id, shop_id, phone AS phone_number,
       count(*)::int AS total_orders,
       count(*) FILTER (WHERE paid)::int AS total_purchases,
       coalesce(sum(amount) FILTER (WHERE paid), 0) AS total_spent,
       min(created_at) FILTER (WHERE paid) AS first_purchase_at,
       max(created_at) FILTER (WHERE paid) AS last_purchase_at,
       (array_agg(id ORDER BY created_at, id) FILTER (WHERE paid))[1] AS first_order_id,
       (array_agg(shop_slug ORDER BY created_at, id) FILTER (WHERE paid))[1] AS first_source_slug,
       (SELECT n.network FROM o n WHERE n.shop_id = g.shop_id AND n.phone = g.phone AND n.paid AND n.network IS NOT NULL
         GROUP BY n.network ORDER BY count(*) DESC, n.network COLLATE "C" LIMIT 1) AS preferred_network,
       coalesce((SELECT jsonb_object_agg(m.network, m.purchases) FROM
                   (SELECT n.network, count(*) AS purchases FROM o n
                     WHERE n.shop_id = g.shop_id AND n.phone = g.phone AND n.paid AND n.network IS NOT NULL
                     GROUP BY n.network) m), '{}') AS network_purchases,
       count(*) FILTER (WHERE paid) >= 2 AS repeat_customer
  FROM o g
 GROUP BY shop_id, phone;
\set stored 'SELECT id, shop_id, phone_number::text, total_orders, total_purchases, total_spent, first_purchase_at, last_purchase_at, first_order_id, first_source_slug::text, preferred_network::text, network_purchases, repeat_customer FROM shop_customers WHERE shop_id IN (''a3000000-0000-0000-0000-000000000001'', ''a3000000-0000-0000-0000-000000000002'')'
SELECT pg_temp.named(id::text) AS customer, total_orders, total_purchases, total_spent, first_purchase_at, last_purchase_at,
       right(first_order_id::text, 2) AS first_ord, first_source_slug, preferred_network, network_purchases, repeat_customer
  FROM recomputed ORDER BY 1;
SELECT (SELECT count(*) FROM (SELECT * FROM recomputed EXCEPT :stored) d) AS recomputed_not_stored,
       (SELECT count(*) FROM (:stored EXCEPT SELECT * FROM recomputed) d) AS stored_not_recomputed;
-- Every trackable order is linked to its customer and has its tracking row; the others are not linked.
SELECT right(o.id::text, 2) AS ord, pg_temp.named(o.shop_customer_id::text) AS linked_to,
       t.purchase_completed, t.purchase_amount, t.accessed_at, t.accessed_via_slug, t.network
  FROM shop_orders o LEFT JOIN customer_tracking t ON t.id = o.id
 WHERE o.shop_id IN (:shop1, :shop2) ORDER BY o.id;
SELECT count(*) AS tracking_rows_without_order FROM customer_tracking t
 WHERE t.shop_id IN (:shop1, :shop2) AND NOT EXISTS (SELECT 1 FROM shop_orders o WHERE o.id = t.id);

--------------------------------------------------------------------------------
-- 6. Orders arriving between backfills are tracked by the trigger; backfill leaves them alone.
--------------------------------------------------------------------------------
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c3000000-0000-0000-0000-000000000021', :shop1, 'Abena', '0269990000', 'MTN', 2.00, 'paid', 'fb', '2025-12-12 10:00+00');
BEGIN;
UPDATE shop_orders SET payment_status = 'refunded' WHERE id = 'c3000000-0000-0000-0000-000000000012';
:backfill;
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  ('c3000000-0000-0000-0000-000000000022', :shop1, 'Abena', '0269990000', 'MTN', 3.00, 'paid', 'fb', '2025-12-13 10:00+00');
COMMIT;
SELECT pg_temp.named(id::text) AS customer, total_orders, total_purchases, total_spent FROM shop_customers
 WHERE id = customer_tracking_customer_id(:shop1, '+233269990000');
SELECT count(*) AS problems FROM customer_tracking_verify();

--------------------------------------------------------------------------------
-- 7. Every stored stat is repaired, not only the counts and dates.
--------------------------------------------------------------------------------
UPDATE shop_customers SET first_source_slug = 'damaged', preferred_network = 'damaged', first_order_id = NULL,
       network_purchases = '{}' WHERE shop_id = :shop1;
SELECT problem, count(*) FROM customer_tracking_verify(:shop1) WHERE problem NOT LIKE 'rollup %' GROUP BY problem ORDER BY 1;
SELECT count(*) > 0 AS backfill_reports_repairs FROM customer_tracking_backfill(:shop1) WHERE customers_repaired > 0;
:verify;
SELECT (SELECT count(*) FROM (SELECT * FROM recomputed EXCEPT :stored) d) AS recomputed_not_stored,
       (SELECT count(*) FROM (:stored EXCEPT SELECT * FROM recomputed) d) AS stored_not_recomputed;

--------------------------------------------------------------------------------
-- Clean up.
--------------------------------------------------------------------------------
DROP VIEW recomputed;
DELETE FROM shop_orders WHERE shop_id IN (:shop1, :shop2);
SELECT (SELECT count(*) FROM shop_customers WHERE shop_id IN (:shop1, :shop2)) AS customers,
       (SELECT count(*) FROM customer_tracking WHERE shop_id IN (:shop1, :shop2)) AS tracking;
SELECT count(*) AS problems FROM customer_tracking_verify();
-- Whatever happened above, leave nothing of these shops behind for the tests that follow.
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS t FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
              WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'customer_tracking')
                AND d.classid = 'pg_class'::regclass AND c.relkind = 'r'
                AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'shop_id')
    LOOP
        EXECUTE format('DELETE FROM %s WHERE shop_id IN (%L, %L)', r.t, 'a3000000-0000-0000-0000-000000000001', 'a3000000-0000-0000-0000-000000000002');
    END LOOP;
END $$;
DELETE FROM user_shops WHERE id IN (:shop1, :shop2);
RESET client_min_messages;
