-- bench/backfill_floor.sql: the plain-SQL floor of a backfill (bench/backfill.sh).
--
-- What any design must write, in one set-based pass: the customers with their stats (one
-- GROUP BY), one ledger row per paid order, and the link on every order; into the extension's
-- own tables (same indexes), with the extension's triggers off (session_replication_role =
-- replica). Phones are normalised with normalize_phone(), the extension's own parser:
--   per_distinct = on:  once per distinct (shop, raw phone), as the backfill does
--   per_distinct = off: once per order, as a plain query would
BEGIN;
SET LOCAL session_replication_role = replica;
WITH p AS MATERIALIZED (
    SELECT d.shop_id, d.customer_phone,
           CASE WHEN :'per_distinct' = 'on' THEN normalize_phone(d.customer_phone) END AS phone
      FROM (SELECT DISTINCT shop_id, customer_phone FROM shop_orders WHERE :'per_distinct' = 'on') d
), o AS MATERIALIZED (
    SELECT o.id, o.shop_id,
           CASE WHEN :'per_distinct' = 'on' THEN p.phone ELSE normalize_phone(o.customer_phone) END AS phone,
           o.total_price AS amount, o.created_at,
           lower(btrim(o.payment_status)) IN ('paid', 'completed', 'success') AS paid,
           o.shop_slug AS slug, nullif(upper(btrim(o.network)), '') AS network
      FROM shop_orders o
      LEFT JOIN p ON p.shop_id = o.shop_id AND p.customer_phone = o.customer_phone
), c AS (
    INSERT INTO shop_customers (id, shop_id, phone_number, total_orders, total_purchases, total_spent,
                                first_purchase_at, last_purchase_at)
    SELECT customer_tracking_customer_id(o.shop_id, o.phone), o.shop_id, o.phone, count(*),
           count(*) FILTER (WHERE o.paid), coalesce(sum(o.amount) FILTER (WHERE o.paid), 0),
           min(o.created_at) FILTER (WHERE o.paid), max(o.created_at) FILTER (WHERE o.paid)
      FROM o WHERE o.phone IS NOT NULL
     GROUP BY o.shop_id, o.phone
), l AS (
    INSERT INTO customer_tracking (id, shop_order_id, shop_customer_id, shop_id, accessed_via_slug, accessed_at,
                                   purchase_completed, completed_at, purchase_amount, network)
    SELECT o.id, o.id, customer_tracking_customer_id(o.shop_id, o.phone), o.shop_id, o.slug, o.created_at,
           true, now(), o.amount, o.network
      FROM o WHERE o.phone IS NOT NULL AND o.paid
)
UPDATE shop_orders s SET shop_customer_id = customer_tracking_customer_id(o.shop_id, o.phone)
  FROM o WHERE s.id = o.id AND o.phone IS NOT NULL;
COMMIT;
