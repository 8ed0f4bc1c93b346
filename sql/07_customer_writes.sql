-- A new ledger row, a customer's next version and a per-slug purchase count are written directly
-- (src/ledger.cpp, src/customers.cpp on src/row_writer.cpp) when customer_tracking, shop_customers
-- and customer_tracking_slug_customers have the extension's layout, and by SQL statements otherwise
-- or with customer_tracking.direct_writes off. Both paths must leave identical rows: the same order
-- history is played on two shops, one per path, and the rows are compared column by column.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('a7000000-0000-0000-0000-000000000001', 'b7000000-0000-0000-0000-000000000001', 'ct07-direct'),
  ('a7000000-0000-0000-0000-000000000002', 'b7000000-0000-0000-0000-000000000002', 'ct07-sql');

-- One order history; each statement is its own trigger event, as from an application.
CREATE FUNCTION ct07_history(p_shop uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  o uuid[] := ARRAY(SELECT md5(p_shop::text || g)::uuid FROM generate_series(1, 14) g);
BEGIN
  -- A new customer, then repeat purchases; name and email fill in later, never blank out.
  INSERT INTO shop_orders (id, shop_id, customer_phone, customer_name, network, total_price, payment_status, shop_slug, created_at)
  VALUES (o[1], p_shop, '0247000001', NULL, 'MTN', 10.00, 'paid', 'ig', '2026-03-01 10:00+00');
  INSERT INTO shop_orders (id, shop_id, customer_phone, customer_name, customer_email, network, total_price, payment_status, shop_slug, created_at)
  VALUES (o[2], p_shop, '024 700 0001', 'Ama', 'ama@example.com', 'Telecel', 2.50, 'paid', 'ig', '2026-03-02 10:00+00');
  -- A tie of networks goes to the first name in byte order ("MTN" < "Telecel").
  INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
  VALUES (o[3], p_shop, '+233247000001', 'Telecel', 3.25, 'paid', NULL, '2026-03-03 10:00+00');
  -- Pending, then paid (an order already linked becomes a purchase); an order without a network.
  INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
  VALUES (o[4], p_shop, '0247000001', NULL, 4.00, 'pending', 'wa', '2026-03-04 10:00+00');
  UPDATE shop_orders SET payment_status = 'paid' WHERE id = o[4];
  -- A purchase dated before the first one: recomputed, not incremented, on either path.
  INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
  VALUES (o[5], p_shop, '0247000001', 'AirtelTigo', 1.00, 'paid', 'early', '2026-02-01 10:00+00');
  -- Two orders of one new customer in one statement.
  INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
  VALUES (o[6], p_shop, '0207000002', 'Telecel', 6.00, 'paid', 'wa', '2026-03-05 10:00+00'),
         (o[7], p_shop, '0207000002', 'Telecel', 7.00, 'paid', 'wa', '2026-03-05 09:00+00');
  -- An amount corrected, a refund, a delete, a phone corrected to another customer.
  UPDATE shop_orders SET total_price = 12.00 WHERE id = o[1];
  UPDATE shop_orders SET payment_status = 'refunded' WHERE id = o[2];
  DELETE FROM shop_orders WHERE id = o[3];
  INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
  VALUES (o[8], p_shop, '0277000003', 'AirtelTigo', 8.00, 'paid', 'ig', '2026-03-06 10:00+00');
  UPDATE shop_orders SET customer_phone = '0207000002' WHERE id = o[8];
  -- Orders that are never purchases still count as orders.
  INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
  VALUES (o[9], p_shop, '0207000002', 'MTN', 9.00, 'failed', 'ig', '2026-03-07 10:00+00');
  -- Several purchases in one transaction, one undone by a savepoint.
  INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
  VALUES (o[10], p_shop, '0207000002', 'MTN', 10.00, 'paid', 'ig', '2026-03-08 10:00+00');
  BEGIN
    INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
    VALUES (o[11], p_shop, '0207000002', 'MTN', 11.00, 'paid', 'ig', '2026-03-09 10:00+00');
    RAISE EXCEPTION 'undo' USING ERRCODE = 'P0001';
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
  INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
  VALUES (o[12], p_shop, '0207000002', 'MTN', 0.10, 'paid', 'ig', '2026-03-09 11:00+00');
END $$;

SELECT ct07_history('a7000000-0000-0000-0000-000000000001');
SET customer_tracking.direct_writes = off;
SELECT ct07_history('a7000000-0000-0000-0000-000000000002');
RESET customer_tracking.direct_writes;

-- A shop's customers and per-slug purchase counts by phone, every column but keys and times of writing.
CREATE FUNCTION ct07_customers(p_shop uuid) RETURNS TABLE (phone_number varchar, customer_name varchar,
    email varchar, total_orders int, total_purchases int, total_spent numeric, repeat_customer boolean,
    first_purchase_at timestamptz, last_purchase_at timestamptz, first_source_slug varchar,
    preferred_network varchar, network_purchases jsonb, first_order_set boolean)
LANGUAGE sql AS $$
  SELECT phone_number, customer_name, email, total_orders, total_purchases, total_spent, repeat_customer,
         first_purchase_at, last_purchase_at, first_source_slug, preferred_network, network_purchases,
         first_order_id IS NOT NULL
    FROM shop_customers WHERE shop_id = p_shop ORDER BY phone_number $$;
CREATE FUNCTION ct07_pairs(p_shop uuid) RETURNS TABLE (slug text, phone_number varchar, purchases int,
    first_purchase_at timestamptz)
LANGUAGE sql AS $$
  SELECT p.slug, c.phone_number, p.purchases, p.first_purchase_at
    FROM customer_tracking_slug_customers p JOIN shop_customers c ON c.id = p.shop_customer_id
   WHERE p.shop_id = p_shop ORDER BY 1, 2 $$;

SELECT * FROM ct07_customers('a7000000-0000-0000-0000-000000000001');
SELECT * FROM ct07_pairs('a7000000-0000-0000-0000-000000000001');
-- Both paths: the same rows, the same text of every value (numeric scale, jsonb key order).
SELECT (SELECT array_agg(c::text ORDER BY c::text) FROM ct07_customers('a7000000-0000-0000-0000-000000000001') c)
     = (SELECT array_agg(c::text ORDER BY c::text) FROM ct07_customers('a7000000-0000-0000-0000-000000000002') c)
       AS same_customers,
       (SELECT array_agg(p::text ORDER BY p::text) FROM ct07_pairs('a7000000-0000-0000-0000-000000000001') p)
     = (SELECT array_agg(p::text ORDER BY p::text) FROM ct07_pairs('a7000000-0000-0000-0000-000000000002') p)
       AS same_pairs;
-- updated_at is the transaction's time, as now() in the statement it replaces.
BEGIN;
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at)
VALUES ('c7000000-0000-0000-0000-000000000001', 'a7000000-0000-0000-0000-000000000001', '0247000001', 'MTN', 1.00, 'paid', '2026-03-10 10:00+00');
SELECT customer_tracking_apply_pending(); -- counted at commit otherwise
SELECT updated_at = now() AS updated_now FROM shop_customers
 WHERE shop_id = 'a7000000-0000-0000-0000-000000000001' AND phone_number = '+233247000001';
COMMIT;
SELECT problem, stored, expected FROM customer_tracking_verify() ORDER BY 1, 2;

-- A trigger on shop_customers: customers are then written by SQL, so the trigger sees every update.
CREATE TABLE ct07_seen (tg_table text, tg_op text);
CREATE FUNCTION ct07_note() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO ct07_seen VALUES (TG_TABLE_NAME, TG_OP); RETURN NULL; END $$;
CREATE TRIGGER ct07_customers AFTER UPDATE ON shop_customers
    FOR EACH ROW EXECUTE FUNCTION ct07_note();
CREATE TRIGGER ct07_pairs AFTER UPDATE ON customer_tracking_slug_customers
    FOR EACH ROW EXECUTE FUNCTION ct07_note();
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
VALUES ('c7000000-0000-0000-0000-000000000002', 'a7000000-0000-0000-0000-000000000001', '0247000001', 'MTN', 2.00, 'paid', 'ig', '2026-03-11 10:00+00');
SELECT tg_table, tg_op, count(*) FROM ct07_seen GROUP BY 1, 2 ORDER BY 1, 2;
-- Without them, direct writes again: the trigger function is not called.
DROP TRIGGER ct07_customers ON shop_customers;
DROP TRIGGER ct07_pairs ON customer_tracking_slug_customers;
TRUNCATE ct07_seen;
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
VALUES ('c7000000-0000-0000-0000-000000000003', 'a7000000-0000-0000-0000-000000000001', '0247000001', 'MTN', 3.00, 'paid', 'ig', '2026-03-12 10:00+00');
SELECT count(*) AS trigger_calls FROM ct07_seen;

-- network_purchases that holds something else than counts (edited by hand) is recomputed from
-- the orders by the next purchase, not added to, and the order is saved: on both paths.
UPDATE shop_customers SET network_purchases = '{"MTN": "many"}'
 WHERE shop_id = 'a7000000-0000-0000-0000-000000000001' AND phone_number = '+233247000001';
UPDATE shop_customers SET network_purchases = '["MTN"]'
 WHERE shop_id = 'a7000000-0000-0000-0000-000000000002' AND phone_number = '+233247000001';
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
VALUES ('c7000000-0000-0000-0000-000000000004', 'a7000000-0000-0000-0000-000000000001', '0247000001', 'MTN', 4.00, 'paid', 'ig', '2026-03-13 10:00+00');
SET customer_tracking.direct_writes = off;
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
VALUES ('c7000000-0000-0000-0000-000000000014', 'a7000000-0000-0000-0000-000000000002', '0247000001', 'MTN', 4.00, 'paid', 'ig', '2026-03-13 10:00+00');
RESET customer_tracking.direct_writes;
SELECT shop_id, network_purchases, preferred_network FROM shop_customers
 WHERE phone_number = '+233247000001' AND shop_id IN ('a7000000-0000-0000-0000-000000000001', 'a7000000-0000-0000-0000-000000000002')
 ORDER BY 1;
SELECT problem, stored, expected FROM customer_tracking_verify() ORDER BY 1, 2;

-- A column added to customer_tracking by a DBA gets its default: new ledger rows are then
-- inserted by SQL. Once it is dropped, directly again (the dropped column stays NULL).
ALTER TABLE customer_tracking ADD COLUMN ct07_note text DEFAULT 'by default';
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('c7000000-0000-0000-0000-000000000010', 'a7000000-0000-0000-0000-000000000001', '0247000001', 'MTN', 1.00, 'paid', '2026-03-15 10:00+00');
SELECT ct07_note FROM customer_tracking WHERE id = 'c7000000-0000-0000-0000-000000000010';
ALTER TABLE customer_tracking DROP COLUMN ct07_note;
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('c7000000-0000-0000-0000-000000000011', 'a7000000-0000-0000-0000-000000000001', '0247000001', 'MTN', 1.00, 'paid', '2026-03-15 11:00+00');
SELECT shop_order_id, purchase_completed, purchase_amount, created_at = updated_at AS stamped
  FROM customer_tracking WHERE id = 'c7000000-0000-0000-0000-000000000011';

-- A client may make the deferred foreign keys immediate (SET CONSTRAINTS ALL IMMEDIATE, as some
-- ORMs do to check constraints): the customer row exists before an order links to it, so a new
-- customer's first order is saved on either path.
BEGIN;
SET CONSTRAINTS ALL IMMEDIATE;
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('c7000000-0000-0000-0000-000000000005', 'a7000000-0000-0000-0000-000000000001', '0247000005', 'MTN', 5.00, 'paid', '2026-03-14 10:00+00'),
  ('c7000000-0000-0000-0000-000000000006', 'a7000000-0000-0000-0000-000000000001', '0247000006', 'MTN', 6.00, 'paid', '2026-03-14 11:00+00'),
  ('c7000000-0000-0000-0000-000000000007', 'a7000000-0000-0000-0000-000000000001', '0247000006', 'MTN', 7.00, 'pending', '2026-03-14 12:00+00');
UPDATE shop_orders SET customer_phone = '0247000008' WHERE id = 'c7000000-0000-0000-0000-000000000005';
SET LOCAL customer_tracking.direct_writes = off;
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('c7000000-0000-0000-0000-000000000009', 'a7000000-0000-0000-0000-000000000001', '0247000009', 'MTN', 9.00, 'paid', '2026-03-14 13:00+00');
COMMIT;
SELECT phone_number, total_orders, total_purchases FROM shop_customers
 WHERE shop_id = 'a7000000-0000-0000-0000-000000000001' AND phone_number > '+233247000004' ORDER BY 1;
SELECT problem, stored, expected FROM customer_tracking_verify() ORDER BY 1, 2;

-- The customer row made for an order that is then not saved is removed at the end of the
-- statement: a retried INSERT ... ON CONFLICT DO NOTHING with another phone, and a later BEFORE
-- trigger of the host (firing after customer_tracking_link: names sort) that skips the row.
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('c7000000-0000-0000-0000-000000000009', 'a7000000-0000-0000-0000-000000000001', '0247000010', 'MTN', 9.00, 'paid', '2026-03-14 13:00+00')
ON CONFLICT (id) DO NOTHING;
CREATE FUNCTION ct07_skip() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RETURN CASE WHEN NEW.customer_phone = '0247000011' THEN NULL ELSE NEW END; END $$;
CREATE TRIGGER zz_ct07_skip BEFORE INSERT ON shop_orders FOR EACH ROW EXECUTE FUNCTION ct07_skip();
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('c7000000-0000-0000-0000-000000000012', 'a7000000-0000-0000-0000-000000000001', '0247000011', 'MTN', 1.00, 'paid', '2026-03-16 10:00+00'),
  ('c7000000-0000-0000-0000-000000000013', 'a7000000-0000-0000-0000-000000000001', '0247000012', 'MTN', 2.00, 'paid', '2026-03-16 11:00+00');
DROP TRIGGER zz_ct07_skip ON shop_orders;
DROP FUNCTION ct07_skip();
SELECT phone_number, total_orders FROM shop_customers
 WHERE shop_id = 'a7000000-0000-0000-0000-000000000001' AND phone_number >= '+233247000010' ORDER BY 1;
SELECT problem, stored, expected FROM customer_tracking_verify() ORDER BY 1, 2;

DROP TABLE ct07_seen;
DROP FUNCTION ct07_note();
DROP FUNCTION ct07_history(uuid);
DROP FUNCTION ct07_customers(uuid);
DROP FUNCTION ct07_pairs(uuid);
