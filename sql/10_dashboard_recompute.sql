-- Dashboard functions against a recomputation from shop_orders. A realistic mix of orders
-- (three shops, repeaters and one-off buyers, phones typed four ways, slugs, networks,
-- pending, failed, refunds, deletes, amount edits, backdated orders, phone corrections,
-- orders moved between shops) goes through the trigger; then the output of every dashboard
-- function is compared with the same figures written directly in SQL over shop_orders, both
-- ways (rows only the function returns, rows only the recomputation returns), row order
-- included. Mismatches are printed as counts (all 0) and listed (no rows).
-- Runs as the superuser (row-level security is 13_dashboard_rls's subject).
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
\set s1 '''d1000000-0000-0000-0000-000000000001'''
\set s2 '''d1000000-0000-0000-0000-000000000002'''
\set s3 '''d1000000-0000-0000-0000-000000000003'''
\set s4 '''d1000000-0000-0000-0000-000000000004'''

INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('d1000000-0000-0000-0000-000000000001', 'e1000000-0000-0000-0000-00000000000a', 'ct10-kofi'),
  ('d1000000-0000-0000-0000-000000000002', 'e1000000-0000-0000-0000-00000000000a', 'ct10-kofi-two'),
  ('d1000000-0000-0000-0000-000000000003', 'e1000000-0000-0000-0000-00000000000b', 'ct10-ama'),
  ('d1000000-0000-0000-0000-000000000004', 'e1000000-0000-0000-0000-00000000000b', 'ct10-empty');
-- The shops checked: the three with orders, one without, and an id that is no shop.
CREATE TEMP TABLE my_shops (id uuid PRIMARY KEY);
INSERT INTO my_shops VALUES (:s1), (:s2), (:s3), (:s4), ('d1000000-0000-0000-0000-0000000000ff');

--------------------------------------------------------------------------------
-- The recomputation, written directly over shop_orders (snapshotted into ref_o / ref_c
-- at each check).
--------------------------------------------------------------------------------
-- Linked orders: a customer is (shop, phone in E.164); the default paid statuses.
CREATE TEMP VIEW ref_orders AS
SELECT o.shop_id, o.id AS order_id,
       customer_tracking_customer_id(o.shop_id, normalize_phone(o.customer_phone)) AS cid,
       normalize_phone(o.customer_phone) AS phone,
       lower(btrim(o.payment_status)) IN ('completed', 'paid', 'success') AS paid,
       o.total_price AS amount, o.created_at AS at, nullif(upper(btrim(o.network)), '') AS network, o.shop_slug AS slug,
       o.payment_status AS status, o.customer_name, o.customer_email
  FROM shop_orders o
 WHERE o.shop_id IN (SELECT id FROM my_shops) AND normalize_phone(o.customer_phone) IS NOT NULL;
CREATE TEMP TABLE ref_o AS SELECT * FROM ref_orders WITH NO DATA;
-- Customers: (shop, phone) with at least one purchase.
CREATE TEMP VIEW ref_customers AS
SELECT o.shop_id, o.cid, min(o.phone) AS phone, max(o.customer_name) AS name, max(o.customer_email) AS email,
       count(*) FILTER (WHERE o.paid) AS purchases,
       coalesce(sum(o.amount) FILTER (WHERE o.paid), 0) AS spent,
       min(o.at) FILTER (WHERE o.paid) AS first_at,
       max(o.at) FILTER (WHERE o.paid) AS last_at,
       (array_agg(coalesce(o.slug, '') ORDER BY o.at, o.order_id) FILTER (WHERE o.paid))[1] AS first_slug,
       (SELECT n.network FROM ref_o n WHERE n.cid = o.cid AND n.paid AND n.network IS NOT NULL
         GROUP BY n.network ORDER BY count(*) DESC, n.network COLLATE "C" LIMIT 1) AS preferred
  FROM ref_o o
 GROUP BY o.shop_id, o.cid
HAVING count(*) FILTER (WHERE o.paid) > 0;
CREATE TEMP TABLE ref_c AS SELECT * FROM ref_customers WITH NO DATA;

CREATE FUNCTION pg_temp.ref_metrics(p_shop uuid, p_as_of timestamptz)
RETURNS TABLE (total_customers bigint, repeat_customers bigint, repeat_rate numeric,
               new_customers_30d bigint, new_customers_this_month bigint, average_ltv numeric,
               total_revenue numeric)
LANGUAGE sql STABLE AS $$
    SELECT count(*), count(*) FILTER (WHERE c.purchases >= 2),
           coalesce(round(100.0 * count(*) FILTER (WHERE c.purchases >= 2) / nullif(count(*), 0), 1), 0),
           count(*) FILTER (WHERE c.first_at > p_as_of - interval '30 days' AND c.first_at <= p_as_of),
           -- p_as_of's calendar month in the session time zone, up to p_as_of
           count(*) FILTER (WHERE to_char(c.first_at, 'YYYY-MM') = to_char(p_as_of, 'YYYY-MM') AND c.first_at <= p_as_of),
           coalesce(round(sum(c.spent) / nullif(count(*), 0), 2), 0),
           coalesce(sum(c.spent), 0)
      FROM ref_c c WHERE c.shop_id = p_shop
$$;

-- Slug performance over the UTC days of p_from .. p_to (NULL = unbounded): checkouts,
-- purchases, revenue of orders placed via the slug; customers whose first purchase via the
-- slug is in the period; customers acquired (first purchase overall) via it in the period,
-- and how many of those are repeat customers. No slug ('' or NULL) is one row, slug NULL.
-- (PL/pgSQL: planned per call, which is faster here than inlined into a LATERAL join.)
CREATE FUNCTION pg_temp.ref_slugs(p_shop uuid, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (slug text, checkouts bigint, purchases bigint, conversion_rate numeric,
               revenue numeric, customers bigint, new_customers bigint, repeat_customers bigint, pos bigint)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH inp AS (
        SELECT coalesce((p_from AT TIME ZONE 'UTC')::date, '-infinity'::date) AS lo,
               coalesce((p_to AT TIME ZONE 'UTC')::date, 'infinity'::date) AS hi
    ), o AS (
        SELECT r.*, coalesce(r.slug, '') AS k, (r.at AT TIME ZONE 'UTC')::date BETWEEN inp.lo AND inp.hi AS inside
          FROM ref_o r, inp WHERE r.shop_id = p_shop
    ), per_order AS (
        SELECT k, count(*) FILTER (WHERE inside) AS checkouts, count(*) FILTER (WHERE inside AND paid) AS purchases,
               coalesce(sum(amount) FILTER (WHERE inside AND paid), 0) AS revenue
          FROM o GROUP BY k
    ), per_customer AS (
        SELECT f.k, count(*) AS customers
          FROM (SELECT k, cid, min(at) AS first_via FROM o WHERE paid GROUP BY k, cid) f, inp
         WHERE (f.first_via AT TIME ZONE 'UTC')::date BETWEEN inp.lo AND inp.hi GROUP BY f.k
    ), acquired AS (
        SELECT c.first_slug AS k, count(*) AS new_customers, count(*) FILTER (WHERE c.purchases >= 2) AS repeaters
          FROM ref_c c, inp
         WHERE c.shop_id = p_shop AND (c.first_at AT TIME ZONE 'UTC')::date BETWEEN inp.lo AND inp.hi
         GROUP BY c.first_slug
    ), s AS (
        SELECT k, coalesce(po.checkouts, 0) AS checkouts, coalesce(po.purchases, 0) AS purchases,
               coalesce(po.revenue, 0) AS revenue, coalesce(pc.customers, 0) AS customers,
               coalesce(a.new_customers, 0) AS new_customers, coalesce(a.repeaters, 0) AS repeaters
          FROM per_order po FULL JOIN per_customer pc USING (k) FULL JOIN acquired a USING (k)
    )
    SELECT nullif(k, ''), checkouts, purchases,
           CASE WHEN checkouts = 0 THEN 0 ELSE round(100.0 * purchases / checkouts, 1) END,
           revenue, customers, new_customers, repeaters,
           row_number() OVER (ORDER BY revenue DESC, k)
      FROM s WHERE checkouts <> 0 OR customers <> 0 OR new_customers <> 0;
END
$$;

-- Per network: customers whose preferred network it is, purchases, revenue.
CREATE FUNCTION pg_temp.ref_networks(p_shop uuid)
RETURNS TABLE (network text, customers_preferring bigint, purchases bigint, revenue numeric, pos bigint)
LANGUAGE sql STABLE AS $$
    WITH n AS (
        SELECT coalesce(a.network, b.network) AS network, coalesce(b.customers, 0) AS customers,
               coalesce(a.purchases, 0) AS purchases, coalesce(a.revenue, 0) AS revenue
          FROM (SELECT o.network, count(*) AS purchases, sum(o.amount) AS revenue FROM ref_o o
                 WHERE o.shop_id = p_shop AND o.paid AND o.network IS NOT NULL GROUP BY o.network) a
          FULL JOIN (SELECT c.preferred AS network, count(*) AS customers FROM ref_c c
                      WHERE c.shop_id = p_shop AND c.preferred IS NOT NULL GROUP BY c.preferred) b
            ON a.network = b.network
    )
    SELECT network, customers, purchases, revenue, row_number() OVER (ORDER BY customers DESC, purchases DESC, network)
      FROM n
$$;

CREATE FUNCTION pg_temp.ref_frequency(p_shop uuid)
RETURNS TABLE (purchases integer, customers bigint, share numeric, pos bigint)
LANGUAGE sql STABLE AS $$
    SELECT c.purchases::int, count(*), round(100.0 * count(*) / sum(count(*)) OVER (), 1),
           row_number() OVER (ORDER BY c.purchases)
      FROM ref_c c WHERE c.shop_id = p_shop GROUP BY c.purchases
$$;

-- Whole UTC days from the last purchase to p_as_of (a last purchase after p_as_of: no bucket).
CREATE FUNCTION pg_temp.ref_decay(p_shop uuid, p_as_of timestamptz)
RETURNS TABLE (bucket text, min_days integer, max_days integer, customers bigint, churn_risk text, pos bigint)
LANGUAGE sql STABLE AS $$
    SELECT b.bucket, b.lo, b.hi,
           (SELECT count(*) FROM ref_c c
             WHERE c.shop_id = p_shop
               AND (p_as_of AT TIME ZONE 'UTC')::date - (c.last_at AT TIME ZONE 'UTC')::date
                   BETWEEN b.lo AND coalesce(b.hi, 2147483647)),
           b.risk, b.n
      FROM (VALUES (1::bigint, '0-7 days', 0, 7, 'low'), (2, '8-30 days', 8, 30, 'medium'),
                   (3, '31-90 days', 31, 90, 'high'), (4, '91+ days', 91, NULL, 'lost')) b(n, bucket, lo, hi, risk)
$$;

-- Per UTC day: purchases and revenue of orders created that day, customers whose first
-- purchase is that day, checkouts (orders of any status) that day.
CREATE FUNCTION pg_temp.ref_daily(p_shop uuid, p_from date, p_to date)
RETURNS TABLE (day date, purchases bigint, revenue numeric, new_customers bigint, checkouts bigint, pos bigint)
LANGUAGE sql STABLE AS $$
    SELECT g::date,
           (SELECT count(*) FROM ref_o o WHERE o.shop_id = p_shop AND o.paid AND (o.at AT TIME ZONE 'UTC')::date = g::date),
           (SELECT coalesce(sum(o.amount), 0) FROM ref_o o WHERE o.shop_id = p_shop AND o.paid AND (o.at AT TIME ZONE 'UTC')::date = g::date),
           (SELECT count(*) FROM ref_c c WHERE c.shop_id = p_shop AND (c.first_at AT TIME ZONE 'UTC')::date = g::date),
           (SELECT count(*) FROM ref_o o WHERE o.shop_id = p_shop AND (o.at AT TIME ZONE 'UTC')::date = g::date),
           row_number() OVER (ORDER BY g)
      FROM generate_series(p_from, p_to, interval '1 day') g
$$;

-- The customer list (customers with a purchase), sorted by the key, then id, descending.
CREATE FUNCTION pg_temp.ref_list(p_shop uuid, p_sort text)
RETURNS TABLE (id uuid, customer_name text, phone_number text, email text, total_purchases integer,
               repeat_customer boolean, total_spent numeric, first_purchase_at timestamptz,
               last_purchase_at timestamptz, preferred_network text, pos bigint)
LANGUAGE sql STABLE AS $$
    SELECT c.cid, c.name, c.phone, c.email, c.purchases::int, c.purchases >= 2, c.spent, c.first_at, c.last_at,
           c.preferred,
           row_number() OVER (ORDER BY CASE p_sort WHEN 'last_purchase' THEN extract(epoch FROM c.last_at)
                                                   WHEN 'total_spent' THEN c.spent ELSE c.purchases END DESC, c.cid DESC)
      FROM ref_c c WHERE c.shop_id = p_shop
$$;

-- A customer's linked orders (any status), newest first.
CREATE FUNCTION pg_temp.ref_history(p_customer uuid)
RETURNS TABLE (order_id uuid, created_at timestamptz, amount numeric, network text, slug text,
               payment_status text, purchase_completed boolean, pos bigint)
LANGUAGE sql STABLE AS $$
    SELECT o.order_id, o.at, o.amount, o.network, o.slug, o.status, o.paid,
           row_number() OVER (ORDER BY o.at DESC, o.order_id DESC)
      FROM ref_o o WHERE o.cid = p_customer
$$;

-- The arguments every function is called with, for every shop in my_shops.
CREATE TEMP TABLE as_of (t timestamptz);
INSERT INTO as_of VALUES ('2025-09-01 00:00+00'), ('2025-10-31 23:59:59.999999+00'), ('2025-11-15 08:30:00.000001+00'),
                         ('2025-12-01 00:00+00'), ('2025-12-20 17:45+00'), ('2025-12-31 23:59:59.999999+00'),
                         ('2026-01-01 00:00+00'), ('2026-01-10 12:00+00'), ('2026-02-14 00:00+00');
CREATE TEMP TABLE periods (f timestamptz, t timestamptz);
INSERT INTO periods VALUES (NULL, NULL), ('2025-11-01 00:00+00', '2025-11-30 23:59:59.999999+00'),
                           ('2025-12-15 13:00+00', NULL), (NULL, '2025-12-15 13:00+00'),
                           ('2025-12-24 20:00+00', '2025-12-24 08:00+00'), ('2026-01-01 00:00+00', '2026-03-01 00:00+00');
CREATE TEMP TABLE day_ranges (f date, t date);
INSERT INTO day_ranges VALUES ('2025-08-25', '2026-01-25'), ('2025-12-31', '2025-12-31'), (NULL, NULL);
CREATE TEMP TABLE sorts (s text);
INSERT INTO sorts VALUES ('last_purchase'), ('total_spent'), ('purchases');

-- Each function's output for all those arguments (the arguments are part of each row, the
-- row's position in the function's output too), and the recomputation's.
CREATE TEMP TABLE checks (function text, actual text, expected text);
INSERT INTO checks VALUES
  ('shop_customer_metrics',
   'SELECT s.id AS shop, a.t, f.* FROM my_shops s, as_of a, LATERAL shop_customer_metrics(s.id, a.t) f
    UNION ALL SELECT s.id AS shop, NULL, f.* FROM my_shops s, LATERAL shop_customer_metrics(s.id) f',
   'SELECT s.id AS shop, a.t, r.* FROM my_shops s, as_of a, LATERAL pg_temp.ref_metrics(s.id, a.t) r
    UNION ALL SELECT s.id AS shop, NULL, r.* FROM my_shops s, LATERAL pg_temp.ref_metrics(s.id, now()) r'),
  ('shop_slug_analytics',
   'SELECT s.id AS shop, p.f, p.t, x.* FROM my_shops s, periods p, LATERAL shop_slug_analytics(s.id, p.f, p.t) WITH ORDINALITY x',
   'SELECT s.id AS shop, p.f, p.t, r.* FROM my_shops s, periods p, LATERAL pg_temp.ref_slugs(s.id, p.f, p.t) r'),
  ('shop_network_analytics',
   'SELECT s.id AS shop, x.* FROM my_shops s, LATERAL shop_network_analytics(s.id) WITH ORDINALITY x',
   'SELECT s.id AS shop, r.* FROM my_shops s, LATERAL pg_temp.ref_networks(s.id) r'),
  ('shop_purchase_frequency',
   'SELECT s.id AS shop, x.* FROM my_shops s, LATERAL shop_purchase_frequency(s.id) WITH ORDINALITY x',
   'SELECT s.id AS shop, r.* FROM my_shops s, LATERAL pg_temp.ref_frequency(s.id) r'),
  ('shop_last_purchase_decay',
   'SELECT s.id AS shop, a.t, x.* FROM my_shops s, as_of a, LATERAL shop_last_purchase_decay(s.id, a.t) WITH ORDINALITY x
    UNION ALL SELECT s.id AS shop, NULL, x.* FROM my_shops s, LATERAL shop_last_purchase_decay(s.id) WITH ORDINALITY x',
   'SELECT s.id AS shop, a.t, r.* FROM my_shops s, as_of a, LATERAL pg_temp.ref_decay(s.id, a.t) r
    UNION ALL SELECT s.id AS shop, NULL, r.* FROM my_shops s, LATERAL pg_temp.ref_decay(s.id, now()) r'),
  ('shop_daily_series',   -- default range: the last 30 UTC days
   'SELECT s.id AS shop, d.f, d.t, x.* FROM my_shops s, day_ranges d, LATERAL shop_daily_series(s.id, d.f, d.t) WITH ORDINALITY x',
   'SELECT s.id AS shop, d.f, d.t, r.* FROM my_shops s, day_ranges d,
           LATERAL pg_temp.ref_daily(s.id, coalesce(d.f, (now() AT TIME ZONE ''UTC'')::date - 29),
                                     coalesce(d.t, (now() AT TIME ZONE ''UTC'')::date)) r'),
  ('shop_customer_list',  -- sort_value is 12_customer_list''s subject
   'SELECT s.id AS shop, o.s, x.id, x.customer_name, x.phone_number, x.email, x.total_purchases, x.repeat_customer, x.total_spent,
           x.first_purchase_at, x.last_purchase_at, x.preferred_network, x.n
      FROM my_shops s, sorts o,
           LATERAL shop_customer_list(s.id, p_sort => o.s, p_limit => 500) WITH ORDINALITY x(id, customer_name, phone_number,
               email, total_purchases, repeat_customer, total_spent, first_purchase_at, last_purchase_at, preferred_network,
               sort_value, cursor, tier, n)',
   'SELECT s.id AS shop, o.s, r.* FROM my_shops s, sorts o, LATERAL pg_temp.ref_list(s.id, o.s) r'),
  ('customer_purchase_history',   -- every customer with a linked order, and an id that is no customer
   'SELECT c.id AS customer, x.order_id, x.created_at, x.amount, x.network, x.slug, x.payment_status, x.purchase_completed, x.n
      FROM (SELECT DISTINCT cid FROM ref_o UNION SELECT ''d1000000-0000-0000-0000-0000000000ee'') c(id),
           LATERAL customer_purchase_history(c.id) WITH ORDINALITY x(order_id, created_at, amount, network, slug,
               payment_status, purchase_completed, completed_at, n)',
   'SELECT c.id AS customer, r.* FROM (SELECT DISTINCT cid FROM ref_o) c(id), LATERAL pg_temp.ref_history(c.id) r'),
  ('customer_purchase_history (paid without completed_at)',
   'SELECT c.id AS customer, x.order_id FROM (SELECT DISTINCT cid FROM ref_o) c(id), LATERAL customer_purchase_history(c.id) x
     WHERE x.purchase_completed AND x.completed_at IS NULL',
   'SELECT NULL::uuid AS id, NULL::uuid AS order_id WHERE false');

-- Rows only the function returns / only the recomputation returns (EXCEPT ALL, both ways).
CREATE TEMP TABLE mismatch (function text, side text, row_value text);
CREATE FUNCTION pg_temp.check_all()
RETURNS TABLE (function text, rows_compared bigint, mismatches bigint)
LANGUAGE plpgsql AS $$
DECLARE
    c record;
    n bigint;
BEGIN
    TRUNCATE mismatch, ref_o, ref_c;
    INSERT INTO ref_o SELECT * FROM ref_orders;
    INSERT INTO ref_c SELECT * FROM ref_customers;
    ANALYZE ref_o, ref_c;
    FOR c IN SELECT * FROM checks ORDER BY 1 LOOP
        DROP TABLE IF EXISTS pg_temp.actual, pg_temp.expected;
        EXECUTE format('CREATE TEMP TABLE actual AS %s', c.actual);
        EXECUTE format('CREATE TEMP TABLE expected AS %s', c.expected);
        INSERT INTO mismatch SELECT c.function, 'function only', d::text
          FROM (TABLE pg_temp.actual EXCEPT ALL TABLE pg_temp.expected) d;
        INSERT INTO mismatch SELECT c.function, 'recomputation only', d::text
          FROM (TABLE pg_temp.expected EXCEPT ALL TABLE pg_temp.actual) d;
        SELECT count(*) INTO n FROM pg_temp.actual;
        function := c.function;
        rows_compared := n;
        mismatches := (SELECT count(*) FROM mismatch m WHERE m.function = c.function);
        RETURN NEXT;
    END LOOP;
END
$$;
\set check 'SELECT * FROM pg_temp.check_all()'
\set mismatches 'SELECT * FROM mismatch ORDER BY 1, 2, 3 LIMIT 20'
\set verify 'SELECT count(*) AS verify_problems FROM customer_tracking_verify() v JOIN my_shops s ON s.id = v.shop_id'

--------------------------------------------------------------------------------
-- 1. The mix: 480 orders Oct 2025 .. Jan 2026, inserted out of time order.
--------------------------------------------------------------------------------
-- Customer p (a phone) is skewed: low p buy often, high p once. Phones typed four ways.
INSERT INTO shop_orders (id, shop_id, customer_name, customer_email, customer_phone, network, total_price,
                         payment_status, shop_slug, reference_code, created_at)
SELECT md5('ct10:' || i)::uuid,
       (ARRAY[:s1, :s1, :s1, :s2, :s2, :s3]::uuid[])[i % 6 + 1],
       CASE WHEN p % 10 = 3 THEN NULL ELSE 'Customer ' || p END,
       CASE WHEN p % 3 = 0 THEN 'c' || p || '@example.com' END,
       CASE i % 4 WHEN 0 THEN '024' || n
                  WHEN 1 THEN '024 ' || substr(n, 1, 3) || ' ' || substr(n, 4)
                  WHEN 2 THEN '+233 24 ' || substr(n, 1, 3) || ' ' || substr(n, 4)
                  ELSE '23324' || n END,
       CASE (i * 3 + p) % 8 WHEN 0 THEN 'MTN' WHEN 1 THEN 'MTN' WHEN 2 THEN 'MTN' WHEN 3 THEN 'Telecel'
                            WHEN 4 THEN 'Telecel' WHEN 5 THEN 'AirtelTigo' WHEN 6 THEN 'Glo' END,
       5 + ((i * 13) % 200) * 0.75,
       CASE i % 10 WHEN 0 THEN 'pending' WHEN 1 THEN 'failed' WHEN 2 THEN 'Completed' WHEN 3 THEN 'SUCCESS' ELSE 'paid' END,
       CASE (i * 11 + p) % 7 WHEN 0 THEN NULL WHEN 1 THEN 'ig' WHEN 2 THEN 'wa' WHEN 3 THEN 'ct10-kofi'
                             WHEN 4 THEN 'promo' WHEN 5 THEN '' ELSE 'ig' END,
       'i' || i,
       '2025-10-20 00:00+00'::timestamptz + i * interval '4 hours 23 minutes 17.25 seconds' + (i % 7) * interval '1 microsecond'
  FROM generate_series(1, 480) i,
       LATERAL (SELECT floor(60 * power(((i * 7919) % 1000) / 1000.0, 2))::int AS p) q,
       LATERAL (SELECT lpad((1000000 + q.p * 7)::text, 7, '0') AS n) m
 ORDER BY (i * 37) % 480;
SELECT s.shop_slug, count(o.id) AS orders, count(DISTINCT c.id) FILTER (WHERE c.total_purchases > 0) AS customers,
       count(DISTINCT c.id) FILTER (WHERE c.total_purchases >= 2) AS repeaters,
       count(DISTINCT c.id) FILTER (WHERE c.total_purchases = 0) AS without_purchase
  FROM user_shops s LEFT JOIN shop_orders o ON o.shop_id = s.id LEFT JOIN shop_customers c ON c.id = o.shop_customer_id
 WHERE s.id IN (SELECT id FROM my_shops) GROUP BY s.shop_slug ORDER BY 1;
:verify;
:check;
:mismatches;

--------------------------------------------------------------------------------
-- 2. Life happens: webhooks, refunds (first purchases too), deletes, amount edits,
--    backdated orders, phone corrections, shop moves, network and slug edits.
--------------------------------------------------------------------------------
-- Payment webhooks: half of the pending orders become paid; failed ones stay.
UPDATE shop_orders SET payment_status = 'paid'
 WHERE shop_id IN (SELECT id FROM my_shops) AND payment_status = 'pending' AND substr(reference_code, 2)::int % 20 = 0;
-- Refunds of the first purchase of six repeat customers of shop 1, and of a few others.
UPDATE shop_orders SET payment_status = 'refunded'
 WHERE id IN (SELECT f.order_id FROM (SELECT DISTINCT ON (o.cid) o.cid, o.order_id FROM ref_orders o
                                       WHERE o.shop_id = :s1 AND o.paid ORDER BY o.cid, o.at, o.order_id) f
               ORDER BY f.cid LIMIT 6);
UPDATE shop_orders SET payment_status = 'refunded'
 WHERE shop_id IN (SELECT id FROM my_shops) AND substr(reference_code, 2)::int % 31 = 0;
-- Deletes, including every order of one customer of shop 3.
DELETE FROM shop_orders WHERE shop_id IN (SELECT id FROM my_shops) AND substr(reference_code, 2)::int % 23 = 0;
DELETE FROM shop_orders WHERE shop_id = :s3 AND normalize_phone(customer_phone) = '+233241000070';
-- Amount corrections (one down to zero).
UPDATE shop_orders SET total_price = total_price + 1.10
 WHERE shop_id IN (SELECT id FROM my_shops) AND substr(reference_code, 2)::int % 17 = 0;
UPDATE shop_orders SET total_price = 0 WHERE reference_code = 'i44' AND shop_id IN (SELECT id FROM my_shops);
-- Backdated orders: late imports dated before everything else (new first purchases and first
-- slugs for existing customers, and two new customers), and orders whose date is corrected
-- to an earlier one.
INSERT INTO shop_orders (id, shop_id, customer_name, customer_email, customer_phone, network, total_price,
                         payment_status, shop_slug, reference_code, created_at)
SELECT md5('ct10:b' || k)::uuid, CASE WHEN k % 3 = 0 THEN :s2 ELSE :s1 END::uuid,
       CASE WHEN p % 10 = 3 THEN NULL ELSE 'Customer ' || p END, CASE WHEN p % 3 = 0 THEN 'c' || p || '@example.com' END,
       '024' || lpad((1000000 + p * 7)::text, 7, '0'), CASE WHEN k % 2 = 0 THEN 'Telecel' ELSE 'Glo' END,
       12.34 + k, CASE WHEN k % 5 = 4 THEN 'pending' ELSE 'paid' END, 'imported', 'b' || k,
       '2025-09-30 22:00+00'::timestamptz + k * interval '7 hours 1 minute'
  FROM generate_series(1, 20) k, LATERAL (SELECT CASE WHEN k > 18 THEN 70 + k ELSE k END AS p) q;
UPDATE shop_orders SET created_at = created_at - interval '40 days 3 hours'
 WHERE shop_id IN (SELECT id FROM my_shops) AND substr(reference_code, 2)::int % 29 = 0 AND reference_code LIKE 'i%';
-- A mistyped phone corrected: the order moves to another customer (name and email follow).
UPDATE shop_orders SET customer_phone = '0241000014', customer_name = 'Customer 2', customer_email = NULL
 WHERE shop_id IN (SELECT id FROM my_shops) AND substr(reference_code, 2)::int % 41 = 0 AND reference_code LIKE 'i%';
-- Orders moved from shop 1 to shop 2 and from shop 2 to shop 3.
UPDATE shop_orders SET shop_id = :s2 WHERE shop_id = :s1 AND reference_code IN ('i6', 'i12', 'i18', 'i24');
UPDATE shop_orders SET shop_id = :s3 WHERE shop_id = :s2 AND reference_code IN ('i9', 'i10');
-- Network and slug edits; a payment that flaps (paid, refunded, paid again).
UPDATE shop_orders SET network = 'Telecel' WHERE shop_id IN (SELECT id FROM my_shops) AND substr(reference_code, 2)::int % 19 = 0;
UPDATE shop_orders SET network = NULL WHERE shop_id IN (SELECT id FROM my_shops) AND reference_code = 'i20';
UPDATE shop_orders SET shop_slug = 'wa' WHERE shop_id IN (SELECT id FROM my_shops) AND substr(reference_code, 2)::int % 37 = 0;
UPDATE shop_orders SET payment_status = 'paid' WHERE shop_id IN (SELECT id FROM my_shops) AND reference_code IN ('i43', 'i86', 'i129');
UPDATE shop_orders SET payment_status = 'refunded' WHERE shop_id IN (SELECT id FROM my_shops) AND reference_code IN ('i43', 'i86', 'i129');
UPDATE shop_orders SET payment_status = 'completed' WHERE shop_id IN (SELECT id FROM my_shops) AND reference_code IN ('i43', 'i129');
:verify;
:check;
:mismatches;

-- The comparison catches damage: one day's new customers, one slug-day's checkouts and one
-- customer's total are off by one (in a transaction rolled back).
BEGIN;
UPDATE customer_tracking_daily SET new_customers = new_customers + 1
 WHERE (shop_id, day, stripe) = (SELECT shop_id, day, stripe FROM customer_tracking_daily
                                  WHERE shop_id = :s1 AND day BETWEEN '2025-12-02' AND '2025-12-19' ORDER BY day, stripe LIMIT 1);
UPDATE customer_tracking_slug_daily SET checkouts = checkouts + 1
 WHERE (shop_id, slug, day, stripe) = (SELECT shop_id, slug, day, stripe FROM customer_tracking_slug_daily
                                        WHERE shop_id = :s2 ORDER BY day, slug, stripe LIMIT 1);
UPDATE shop_customers SET total_spent = total_spent + 1
 WHERE id = (SELECT id FROM shop_customers WHERE shop_id = :s3 AND total_purchases > 0 ORDER BY id LIMIT 1);
SELECT function, mismatches > 0 AS caught FROM pg_temp.check_all();
ROLLBACK;

--------------------------------------------------------------------------------
-- 3. What shop 1's dashboard shows (each figure checked above against the recomputation).
--------------------------------------------------------------------------------
SELECT * FROM shop_customer_metrics(:s1, '2026-01-10 12:00+00');
SELECT * FROM shop_slug_analytics(:s1);
SELECT * FROM shop_slug_analytics(:s1, '2025-12-01 00:00+00', '2025-12-31 23:59+00');
SELECT * FROM shop_network_analytics(:s1);
SELECT * FROM shop_purchase_frequency(:s1);
SELECT * FROM shop_last_purchase_decay(:s1, '2026-01-10 12:00+00');
SELECT * FROM shop_daily_series(:s1, '2025-12-30', '2026-01-02');
-- The customer whose mistyped orders were corrected, and its history.
SELECT customer_name, phone_number, email, total_purchases, repeat_customer, total_spent, first_purchase_at,
       last_purchase_at, preferred_network
  FROM shop_customer_list(:s1, '0241000014');
SELECT right(reference_code, 4) AS ref, h.created_at, h.amount, h.network, h.slug, h.payment_status, h.purchase_completed
  FROM customer_purchase_history(customer_tracking_customer_id(:s1, '+233241000014')) h
  JOIN shop_orders o ON o.id = h.order_id;

--------------------------------------------------------------------------------
-- 4. A shop without customers, and an id that is no shop: zeros, no rows, no errors.
--------------------------------------------------------------------------------
SELECT * FROM shop_customer_metrics(:s4);
SELECT * FROM shop_customer_metrics('d1000000-0000-0000-0000-0000000000ff', '2026-01-01 00:00+00');
SELECT * FROM shop_customer_metrics(NULL);
SELECT (SELECT count(*) FROM shop_slug_analytics(:s4)) AS slugs, (SELECT count(*) FROM shop_network_analytics(:s4)) AS networks,
       (SELECT count(*) FROM shop_purchase_frequency(:s4)) AS frequency, (SELECT count(*) FROM shop_customer_list(:s4)) AS list,
       (SELECT count(*) FROM customer_purchase_history('d1000000-0000-0000-0000-0000000000ee')) AS history;
SELECT * FROM shop_last_purchase_decay(:s4, '2026-01-01 00:00+00');
SELECT * FROM shop_daily_series(:s4, '2026-01-01', '2026-01-03');
SELECT shop_customer_overview(:s4);
-- Pending and failed orders only: still no customers (checkouts are counted).
INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  (:s4, '0209990001', 'MTN', 10.00, 'pending', 'ig', '2026-01-02 10:00+00'),
  (:s4, '0209990002', 'MTN', 11.00, 'failed',  'ig', '2026-01-02 11:00+00');
SELECT * FROM shop_customer_metrics(:s4, '2026-01-05 00:00+00');
SELECT * FROM shop_slug_analytics(:s4);
SELECT shop_customer_overview(:s4, 'USD');
-- Refunding every purchase of a shop brings it back to zeros.
UPDATE shop_orders SET payment_status = 'refunded' WHERE shop_id = :s3;
SELECT * FROM shop_customer_metrics(:s3, '2026-01-10 12:00+00');
SELECT count(*) AS shop3_customers_listed FROM shop_customer_list(:s3);
:check;
:mismatches;

--------------------------------------------------------------------------------
-- 5. The plan's "Customer Overview" box, with the plan's numbers: 45 customers, 12 repeat
--    (26.7%), 8 new this month, average LTV 125.50, revenue 5,647.50.
--------------------------------------------------------------------------------
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('d1000000-0000-0000-0000-000000000005', 'e1000000-0000-0000-0000-00000000000a', 'ct10-plan'),
  ('d1000000-0000-0000-0000-000000000006', 'e1000000-0000-0000-0000-00000000000a', 'ct10-big');
INSERT INTO my_shops VALUES ('d1000000-0000-0000-0000-000000000005'), ('d1000000-0000-0000-0000-000000000006');
-- 37 customers from 2025 (12 of them bought twice), 8 whose first purchase is now, and
-- orders that are no purchases.
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT 'd1000000-0000-0000-0000-000000000005'::uuid, 'Plan ' || k, '0557' || lpad(k::text, 6, '0'), 'MTN',
       CASE WHEN k = 45 THEN 103.50 ELSE 99.00 END, 'paid', 'plan',
       CASE WHEN k <= 37 THEN '2025-06-01 09:00+00'::timestamptz + k * interval '1 day' ELSE now() END
  FROM generate_series(1, 45) k
UNION ALL
SELECT 'd1000000-0000-0000-0000-000000000005', 'Plan ' || k, '0557' || lpad(k::text, 6, '0'), 'Telecel', 99.00, 'paid', 'plan',
       '2025-08-01 09:00+00'::timestamptz + k * interval '1 day'
  FROM generate_series(1, 12) k
UNION ALL
SELECT 'd1000000-0000-0000-0000-000000000005', 'Plan ' || k, '0557' || lpad(k::text, 6, '0'), 'MTN', 50.00,
       CASE WHEN k % 2 = 0 THEN 'pending' ELSE 'failed' END, 'plan', now()
  FROM generate_series(40, 49) k;
SELECT shop_customer_overview('d1000000-0000-0000-0000-000000000005');
-- ... character for character the box drawn in the plan (original-plan.md, section 3).
SELECT shop_customer_overview('d1000000-0000-0000-0000-000000000005') =
       E'┌─────────────────────────────────────────┐\n'
       '│ Customer Overview                       │\n'
       '├─────────────────────────────────────────┤\n'
       '│ Total Customers: 45                     │\n'
       '│ Repeat Customers: 12 (26.7%)            │\n'
       '│ New This Month: 8                       │\n'
       '│ Average LTV: GHS 125.50                 │\n'
       '│ Total Revenue: GHS 5,647.50             │\n'
       '└─────────────────────────────────────────┘' AS same_as_plan;
-- Thousands separators; another currency.
INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('d1000000-0000-0000-0000-000000000006', '0558000001', 'MTN', 1000000.00, 'paid', '2025-05-01 10:00+00'),
  ('d1000000-0000-0000-0000-000000000006', '0558000002', 'MTN',  234567.00, 'paid', '2025-05-02 10:00+00'),
  ('d1000000-0000-0000-0000-000000000006', '0558000003', 'MTN',       0.89, 'paid', '2025-05-03 10:00+00'),
  ('d1000000-0000-0000-0000-000000000006', '0558000003', 'MTN',       0.00, 'paid', '2025-05-04 10:00+00');
SELECT shop_customer_overview('d1000000-0000-0000-0000-000000000006', 'USD');
SELECT * FROM shop_customer_metrics('d1000000-0000-0000-0000-000000000006');
:check;
:mismatches;
:verify;

DELETE FROM user_shops WHERE id IN (SELECT id FROM my_shops);
RESET client_min_messages;
