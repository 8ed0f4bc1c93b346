-- Time boundaries of the dashboard numbers.
-- new_customers_30d counts customers whose first purchase is in (p_as_of - 30 days, p_as_of];
-- new_customers_this_month those whose first purchase is in p_as_of's calendar month in the
-- session time zone, up to p_as_of. shop_customer_metrics reads whole UTC days from the daily
-- rollup and the partial days at either end from the customers, so first purchases are put
-- exactly on, and a microsecond either side of, every edge: the window's ends, UTC midnights,
-- and month starts in time zones whose offset is not a whole hour. Refunds, webhooks and
-- backdated orders move first purchases across those edges.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
\set w '''d1100000-0000-0000-0000-000000000001'''
\set m '''d1100000-0000-0000-0000-000000000002'''
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('d1100000-0000-0000-0000-000000000001', 'e1100000-0000-0000-0000-000000000001', 'ct11-window'),
  ('d1100000-0000-0000-0000-000000000002', 'e1100000-0000-0000-0000-000000000001', 'ct11-month');

-- The recomputation from shop_orders: customers' first purchases (default paid statuses).
CREATE TEMP VIEW ref_first AS
SELECT o.shop_id, normalize_phone(o.customer_phone) AS phone, min(o.created_at) AS first_at,
       count(*) AS purchases, sum(o.total_price) AS spent
  FROM shop_orders o
 WHERE o.shop_id IN (:w, :m) AND lower(btrim(o.payment_status)) IN ('completed', 'paid', 'success')
   AND normalize_phone(o.customer_phone) IS NOT NULL
 GROUP BY 1, 2;
CREATE FUNCTION pg_temp.ref_metrics(p_shop uuid, p_as_of timestamptz)
RETURNS TABLE (total_customers bigint, repeat_customers bigint, repeat_rate numeric,
               new_customers_30d bigint, new_customers_this_month bigint, average_ltv numeric,
               total_revenue numeric)
LANGUAGE sql STABLE AS $$
    SELECT count(*), count(*) FILTER (WHERE c.purchases >= 2),
           coalesce(round(100.0 * count(*) FILTER (WHERE c.purchases >= 2) / nullif(count(*), 0), 1), 0),
           count(*) FILTER (WHERE c.first_at > p_as_of - interval '30 days' AND c.first_at <= p_as_of),
           count(*) FILTER (WHERE to_char(c.first_at, 'YYYY-MM') = to_char(p_as_of, 'YYYY-MM') AND c.first_at <= p_as_of),
           coalesce(round(sum(c.spent) / nullif(count(*), 0), 2), 0),
           coalesce(sum(c.spent), 0)
      FROM ref_first c WHERE c.shop_id = p_shop
$$;
-- Function and recomputation side by side at given instants.
CREATE FUNCTION pg_temp.at(p_shop uuid, VARIADIC p_as_of timestamptz[])
RETURNS TABLE (as_of text, new_30d bigint, new_this_month bigint, same_as_recomputed boolean)
LANGUAGE sql STABLE AS $$
    SELECT a.t::text, f.new_customers_30d, f.new_customers_this_month, f IS NOT DISTINCT FROM r
      FROM unnest(p_as_of) WITH ORDINALITY a(t, n),
           LATERAL shop_customer_metrics(p_shop, a.t) f, LATERAL pg_temp.ref_metrics(p_shop, a.t) r
     ORDER BY a.n
$$;

--------------------------------------------------------------------------------
-- 1. The 30-day window (p_as_of - 30 days, p_as_of], as_of 2026-03-15 12:00 UTC.
--------------------------------------------------------------------------------
SET TimeZone = 'UTC';
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('c1100000-0000-0000-0000-000000000001', :w, 'at as_of - 30 days',      '0201100001', 'MTN', 10.00, 'paid', '2026-02-13 12:00:00+00'),
  ('c1100000-0000-0000-0000-000000000002', :w, '1 us after that',         '0201100002', 'MTN', 10.00, 'paid', '2026-02-13 12:00:00.000001+00'),
  ('c1100000-0000-0000-0000-000000000003', :w, 'at as_of',                '0201100003', 'MTN', 10.00, 'paid', '2026-03-15 12:00:00+00'),
  ('c1100000-0000-0000-0000-000000000004', :w, '1 us after as_of',        '0201100004', 'MTN', 10.00, 'paid', '2026-03-15 12:00:00.000001+00'),
  ('c1100000-0000-0000-0000-000000000005', :w, 'UTC midnight, inside',    '0201100005', 'MTN', 10.00, 'paid', '2026-02-14 00:00:00+00'),
  ('c1100000-0000-0000-0000-000000000006', :w, '1 us before that',        '0201100006', 'MTN', 10.00, 'paid', '2026-02-13 23:59:59.999999+00'),
  ('c1100000-0000-0000-0000-000000000007', :w, 'midnight of as_of day',   '0201100007', 'MTN', 10.00, 'paid', '2026-03-15 00:00:00+00'),
  ('c1100000-0000-0000-0000-000000000008', :w, 'pending in the window',   '0201100008', 'MTN', 10.00, 'pending', '2026-03-02 09:00:00+00'),
  ('c1100000-0000-0000-0000-000000000009', :w, 'repeat, first in Jan',    '0201100009', 'MTN', 10.00, 'paid', '2026-01-10 10:00:00+00'),
  ('c1100000-0000-0000-0000-000000000010', :w, 'repeat, first in Jan',    '0201100009', 'MTN', 10.00, 'paid', '2026-03-10 10:00:00+00'),
  ('c1100000-0000-0000-0000-000000000011', :w, 'before the window',       '0201100011', 'MTN', 10.00, 'paid', '2026-02-13 11:59:59.999999+00');
-- At as_of: in the window are "1 us after that", "at as_of", "UTC midnight, inside",
-- "1 us before that" and "midnight of as_of day" (5); in March up to as_of: the last two (2).
SELECT * FROM pg_temp.at(:w, '2026-03-15 12:00:00+00');
-- Moving as_of a microsecond at a time: each customer enters when as_of reaches its first
-- purchase, and leaves 30 days after it (exactly 30 days after: already out).
SELECT * FROM pg_temp.at(:w,
    '2026-03-15 11:59:59.999999+00', '2026-03-15 12:00:00+00', '2026-03-15 12:00:00.000001+00',
    '2026-03-15 12:00:00.000002+00', '2026-03-15 23:59:59.999999+00', '2026-03-16 00:00:00+00',
    '2026-03-16 00:00:00.000001+00', '2026-03-13 23:59:59.999999+00', '2026-03-14 00:00:00+00',
    '2026-03-14 00:00:00.000001+00', '2026-03-14 23:59:59.999999+00', '2026-03-15 00:00:00+00');
-- The payment webhook of the pending order: its created_at (in the window) is the first purchase.
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c1100000-0000-0000-0000-000000000008';
SELECT * FROM pg_temp.at(:w, '2026-03-15 12:00:00+00');
-- Refunding the repeat customer's January purchase makes March its first purchase: new.
UPDATE shop_orders SET payment_status = 'refunded' WHERE id = 'c1100000-0000-0000-0000-000000000009';
SELECT * FROM pg_temp.at(:w, '2026-03-15 12:00:00+00');
-- A backdated order (an import dated last year) makes "at as_of" an old customer.
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('c1100000-0000-0000-0000-000000000012', :w, '+233 20 110 0003', 'MTN', 10.00, 'paid', '2025-12-24 18:00+00');
SELECT * FROM pg_temp.at(:w, '2026-03-15 12:00:00+00');
-- Deleting the first purchase of "UTC midnight, inside" leaves no purchase: not a customer.
DELETE FROM shop_orders WHERE id = 'c1100000-0000-0000-0000-000000000005';
SELECT * FROM pg_temp.at(:w, '2026-03-15 12:00:00+00');
-- Moving an order's date across the window's start, back and forth.
UPDATE shop_orders SET created_at = '2026-02-13 12:00:00.000001+00' WHERE id = 'c1100000-0000-0000-0000-000000000001';
SELECT * FROM pg_temp.at(:w, '2026-03-15 12:00:00+00');
UPDATE shop_orders SET created_at = '2026-02-13 12:00:00+00' WHERE id = 'c1100000-0000-0000-0000-000000000001';
SELECT * FROM pg_temp.at(:w, '2026-03-15 12:00:00+00');

--------------------------------------------------------------------------------
-- 2. Month starts that are not UTC midnight.
--    March 1 00:00 is Feb 28 18:30 UTC in Asia/Kolkata (+05:30), 18:15 in Asia/Kathmandu
--    (+05:45), 10:15 in Pacific/Chatham (+13:45), Mar 1 03:30 in America/St_Johns (-03:30)
--    and 08:00 in America/Los_Angeles (-08:00).
--------------------------------------------------------------------------------
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('c1100000-0000-0000-0000-000000000021', :m, 'Chatham Feb, last us',  '0201100021', 'MTN', 10.00, 'paid', '2026-02-28 10:14:59.999999+00'),
  ('c1100000-0000-0000-0000-000000000022', :m, 'Chatham Mar 1 00:00',   '0201100022', 'MTN', 10.00, 'paid', '2026-02-28 10:15:00+00'),
  ('c1100000-0000-0000-0000-000000000023', :m, 'Kathmandu Mar 1 00:00', '0201100023', 'MTN', 10.00, 'paid', '2026-02-28 18:15:00+00'),
  ('c1100000-0000-0000-0000-000000000024', :m, 'Kolkata Feb, last us',  '0201100024', 'MTN', 10.00, 'paid', '2026-02-28 18:29:59.999999+00'),
  ('c1100000-0000-0000-0000-000000000025', :m, 'Kolkata Mar 1 00:00',   '0201100025', 'MTN', 10.00, 'paid', '2026-02-28 18:30:00+00'),
  ('c1100000-0000-0000-0000-000000000026', :m, 'UTC Feb, last us',      '0201100026', 'MTN', 10.00, 'paid', '2026-02-28 23:59:59.999999+00'),
  ('c1100000-0000-0000-0000-000000000027', :m, 'UTC Mar 1 00:00',       '0201100027', 'MTN', 10.00, 'paid', '2026-03-01 00:00:00+00'),
  ('c1100000-0000-0000-0000-000000000028', :m, 'St Johns Mar 1 00:00',  '0201100028', 'MTN', 10.00, 'paid', '2026-03-01 03:30:00+00'),
  ('c1100000-0000-0000-0000-000000000029', :m, 'LA Feb, last us',       '0201100029', 'MTN', 10.00, 'paid', '2026-03-01 07:59:59.999999+00'),
  ('c1100000-0000-0000-0000-000000000030', :m, 'LA Mar 1 00:00',        '0201100030', 'MTN', 10.00, 'paid', '2026-03-01 08:00:00+00'),
  -- first purchase Feb 27, second Mar 3: the refund of the first moves it to March
  ('c1100000-0000-0000-0000-000000000031', :m, 'refunded first',        '0201100031', 'MTN', 10.00, 'paid', '2026-02-27 10:00:00+00'),
  ('c1100000-0000-0000-0000-000000000032', :m, 'refunded first',        '0201100031', 'MTN', 10.00, 'paid', '2026-03-03 10:00:00+00'),
  -- first purchase Mar 5: a backdated import moves it to January
  ('c1100000-0000-0000-0000-000000000033', :m, 'backdated',             '0201100033', 'MTN', 10.00, 'paid', '2026-03-05 10:00:00+00');
CREATE TEMP TABLE zones (n int, tz text);
INSERT INTO zones VALUES (1, 'UTC'), (2, 'Asia/Kolkata'), (3, 'Asia/Kathmandu'), (4, 'Pacific/Chatham'),
                         (5, 'America/St_Johns'), (6, 'America/Los_Angeles');
-- Per zone: new this month at Mar 10 (mid-month), at the last microsecond of February and at
-- the first instant of March (both local), with the local month start.
CREATE FUNCTION pg_temp.months()
RETURNS TABLE (zone text, march_starts_utc text, mid_march bigint, feb_last_us bigint, march_first_us bigint,
               same_as_recomputed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    z record;
    v_start timestamptz;
BEGIN
    FOR z IN SELECT * FROM zones ORDER BY n LOOP
        PERFORM set_config('TimeZone', z.tz, true);
        v_start := '2026-03-01 00:00'::timestamp::timestamptz;   -- local midnight
        zone := z.tz;
        march_starts_utc := to_char(v_start AT TIME ZONE 'UTC', 'Mon DD HH24:MI');
        SELECT f.new_customers_this_month INTO mid_march FROM shop_customer_metrics('d1100000-0000-0000-0000-000000000002', '2026-03-10 12:00'::timestamp::timestamptz) f;
        SELECT f.new_customers_this_month INTO feb_last_us FROM shop_customer_metrics('d1100000-0000-0000-0000-000000000002', v_start - interval '1 microsecond') f;
        SELECT f.new_customers_this_month INTO march_first_us FROM shop_customer_metrics('d1100000-0000-0000-0000-000000000002', v_start) f;
        SELECT bool_and(f IS NOT DISTINCT FROM r) INTO same_as_recomputed
          FROM unnest(ARRAY['2026-03-10 12:00'::timestamp::timestamptz, v_start - interval '1 microsecond', v_start]) a(t),
               LATERAL shop_customer_metrics('d1100000-0000-0000-0000-000000000002', a.t) f,
               LATERAL pg_temp.ref_metrics('d1100000-0000-0000-0000-000000000002', a.t) r;
        RETURN NEXT;
    END LOOP;
END
$$;
SELECT * FROM pg_temp.months();
-- In Kolkata, literally: the session's month, as_of on the last microsecond of February.
SET TimeZone = 'Asia/Kolkata';
SELECT * FROM pg_temp.at(:m, '2026-02-28 23:59:59.999999', '2026-03-01 00:00:00', '2026-03-31 23:59:59.999999', '2026-04-01 00:00:00');
-- The refund of the Feb 27 purchase: that customer is new in March now.
UPDATE shop_orders SET payment_status = 'refunded' WHERE id = 'c1100000-0000-0000-0000-000000000031';
SELECT * FROM pg_temp.months();
-- The backdated import: the Mar 5 customer is January's.
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('c1100000-0000-0000-0000-000000000034', :m, '020 110 0033', 'MTN', 10.00, 'paid', '2026-01-20 10:00+00');
SELECT * FROM pg_temp.months();
SET TimeZone = 'Asia/Kolkata';
SELECT * FROM pg_temp.at(:m, '2026-01-31 23:59:59.999999', '2026-02-01 00:00:00');

--------------------------------------------------------------------------------
-- 3. Sweep: every instant at, and a microsecond either side of, each first purchase, each
--    first purchase + 30 days, each UTC midnight of those days and each local month start
--    (Jan .. Apr 2026), in each zone: function = recomputation, all seven figures.
--------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.sweep()
RETURNS TABLE (zone text, comparisons bigint, mismatches bigint)
LANGUAGE plpgsql AS $$
DECLARE
    z record;
BEGIN
    FOR z IN SELECT * FROM zones ORDER BY n LOOP
        PERFORM set_config('TimeZone', z.tz, true);
        RETURN QUERY
        WITH edges AS (
            SELECT first_at AS t FROM ref_first
            UNION SELECT first_at + interval '30 days' FROM ref_first
            UNION SELECT date_trunc('day', first_at, 'UTC') FROM ref_first
            UNION SELECT date_trunc('day', first_at, 'UTC') + interval '1 day' FROM ref_first
            UNION SELECT date_trunc('day', first_at + interval '30 days', 'UTC') FROM ref_first
            UNION SELECT date_trunc('day', first_at + interval '30 days', 'UTC') + interval '1 day' FROM ref_first
            UNION SELECT g::timestamp::timestamptz FROM generate_series('2026-01-01'::timestamp, '2026-04-01', interval '1 month') g
        ), instants AS (
            SELECT DISTINCT e.t + d * interval '1 microsecond' AS t FROM edges e, generate_series(-1, 1) d
        )
        SELECT z.tz, count(*) * 2,
               count(*) FILTER (WHERE (SELECT f FROM shop_customer_metrics('d1100000-0000-0000-0000-000000000001', i.t) f)
                                      IS DISTINCT FROM (SELECT r FROM pg_temp.ref_metrics('d1100000-0000-0000-0000-000000000001', i.t) r))
             + count(*) FILTER (WHERE (SELECT f FROM shop_customer_metrics('d1100000-0000-0000-0000-000000000002', i.t) f)
                                      IS DISTINCT FROM (SELECT r FROM pg_temp.ref_metrics('d1100000-0000-0000-0000-000000000002', i.t) r))
          FROM instants i;
    END LOOP;
END
$$;
SELECT * FROM pg_temp.sweep();
-- What disagrees, if anything (no rows).
CREATE FUNCTION pg_temp.sweep_details()
RETURNS TABLE (zone text, shop text, as_of timestamptz, function_says text, recomputed text)
LANGUAGE plpgsql AS $$
DECLARE
    z record;
BEGIN
    FOR z IN SELECT * FROM zones ORDER BY n LOOP
        PERFORM set_config('TimeZone', z.tz, true);
        RETURN QUERY
        SELECT z.tz, right(s.id::text, 1), e.t, f::text, r::text
          FROM (SELECT first_at + d * interval '1 microsecond' AS t FROM ref_first, generate_series(-1, 1) d
                UNION SELECT first_at + interval '30 days' + d * interval '1 microsecond' FROM ref_first, generate_series(-1, 1) d) e,
               (VALUES ('d1100000-0000-0000-0000-000000000001'::uuid), ('d1100000-0000-0000-0000-000000000002')) s(id),
               LATERAL shop_customer_metrics(s.id, e.t) f, LATERAL pg_temp.ref_metrics(s.id, e.t) r
         WHERE f IS DISTINCT FROM r;
    END LOOP;
END
$$;
SELECT * FROM pg_temp.sweep_details() ORDER BY 1, 2, 3 LIMIT 10;

-- The same under daylight saving time: in Los Angeles, 30 days before 2026-03-20 12:00 PDT is
-- 2026-02-18 12:00 PST (calendar days in the session zone, 719 hours; clocks went forward on
-- 2026-03-08).
SET TimeZone = 'America/Los_Angeles';
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('c1100000-0000-0000-0000-000000000041', :w, 'LA -30 days', '0201100041', 'MTN', 10.00, 'paid', '2026-02-18 12:00:00 PST'),
  ('c1100000-0000-0000-0000-000000000042', :w, 'LA -30 days + 1 us', '0201100042', 'MTN', 10.00, 'paid', '2026-02-18 12:00:00.000001 PST');
SELECT '2026-03-20 12:00:00 PDT'::timestamptz - interval '30 days' AS window_start;
SELECT * FROM pg_temp.at(:w, '2026-03-20 12:00:00 PDT');
SELECT * FROM pg_temp.sweep();

DELETE FROM user_shops WHERE id IN (:w, :m);
RESET TimeZone;
RESET client_min_messages;
