-- Segments, rates, cohorts and seasons: shop_customer_rfm(),
-- shop_customer_segments(), shop_segment_flow(), shop_retention_rates(),
-- shop_cohort_retention() and shop_seasonality() against a recomputation written here directly
-- over shop_orders (phones through normalize_phone(), the default paid statuses), both ways and
-- row order included; mismatches are printed as counts (all 0) next to the rows compared.
-- Orders go through the trigger with refunds, pending payments, deletions, edits, a phone
-- correction and backdated orders. Then: answers as of a past time stay what they were when
-- later orders arrive; the same answers in four session time zones; calendar boundaries in the
-- zone given (and the stored default); a shop with 20 customers (fixed cutoffs); an empty shop;
-- bad arguments; row-level security (an owner, another owner, no owner) and, in a
-- Supabase-style database, anon refused.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
\set sa '''d4600000-0000-0000-0000-00000000000a'''
\set ss '''d4600000-0000-0000-0000-000000000005'''
\set sz '''d4600000-0000-0000-0000-00000000000c'''
\set se '''d4600000-0000-0000-0000-00000000000e'''
\set sb '''d4600000-0000-0000-0000-00000000000b'''

INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('d4600000-0000-0000-0000-00000000000a', 'e4600000-0000-0000-0000-00000000000a', 'ct46-big'),
  ('d4600000-0000-0000-0000-000000000005', 'e4600000-0000-0000-0000-00000000000a', 'ct46-small'),
  ('d4600000-0000-0000-0000-00000000000c', 'e4600000-0000-0000-0000-00000000000a', 'ct46-clock'),
  ('d4600000-0000-0000-0000-00000000000e', 'e4600000-0000-0000-0000-00000000000a', 'ct46-empty'),
  ('d4600000-0000-0000-0000-00000000000b', 'e4600000-0000-0000-0000-00000000000b', 'ct46-other');
CREATE TEMP TABLE my_shops (id uuid PRIMARY KEY);
INSERT INTO my_shops VALUES (:sa), (:ss), (:sz), (:se), (:sb);

-- Shop "big": 160 phones (quintile scores), 1,400 orders over 2025, typed in two formats,
-- ~8% pending, ~6% refunded, amounts 3.00-40.00, slugs and networks mixed, some hours apart,
-- some at the same instant.
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT :sa, 'Buyer ' || p, CASE WHEN i % 2 = 0 THEN '0244' || lpad(p::text, 6, '0') ELSE '+233 244 ' || lpad(p::text, 6, '0') END,
       (ARRAY['MTN', 'telecel ', 'AirtelTigo'])[1 + i % 3], 3 + (i * 37 % 38),
       CASE WHEN i % 13 = 0 THEN 'pending' WHEN i % 17 = 0 THEN 'refunded' ELSE 'Paid' END,
       (ARRAY['ig', 'wa', NULL, 'promo'])[1 + i % 4],
       '2025-01-01 00:00+00'::timestamptz + ((i * 7919) % 8760) * interval '1 hour' + (i % 3) * interval '17 minutes'
  FROM generate_series(1, 1400) i, LATERAL (SELECT CASE WHEN i % 5 = 0 THEN 1 + i % 12 ELSE 1 + (i * 31) % 160 END AS p) q;
-- Lifecycle: payments, refunds, a deletion, amount edits, backdating, a phone correction.
UPDATE shop_orders SET payment_status = 'completed' WHERE shop_id = :sa AND payment_status = 'pending' AND total_price > 30;
UPDATE shop_orders SET payment_status = 'refunded' WHERE shop_id = :sa AND payment_status = 'Paid' AND total_price = 7;
DELETE FROM shop_orders WHERE shop_id = :sa AND total_price = 11 AND shop_slug = 'ig';
UPDATE shop_orders SET total_price = total_price + 100 WHERE shop_id = :sa AND customer_phone LIKE '%000007';
UPDATE shop_orders SET created_at = created_at - interval '40 days' WHERE shop_id = :sa AND total_price = 13;
UPDATE shop_orders SET customer_phone = '0244000155' WHERE shop_id = :sa AND customer_phone LIKE '%000154' AND total_price < 20;
-- Shop "small": 20 customers in March-May 2025 (fixed cutoffs).
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT :ss, 'Small ' || p, '0205' || lpad(p::text, 6, '0'), 'MTN', 10 + (i * 7 % 23),
       CASE WHEN i = 9 THEN 'refunded' ELSE 'paid' END, 'ig',
       '2025-03-01 08:00+00'::timestamptz + ((i * 37) % 90) * interval '1 day' + (i % 5) * interval '3 hours'
  FROM generate_series(1, 44) i, LATERAL (SELECT 1 + (i * 3) % 20 AS p) q;
-- Shop "clock": orders close to local midnights and month/week boundaries.
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at) VALUES
  (:sz, 'Ama',   '0241110001', 'MTN',     10, 'paid', 'ig', '2025-03-31 23:30-04'),   -- April in UTC, March in New York
  (:sz, 'Ama',   '0241110001', 'MTN',     20, 'paid', NULL, '2025-04-30 22:00-04'),   -- May in UTC, April in New York
  (:sz, 'Kojo',  '0241110002', 'Telecel',  5, 'paid', 'wa', '2025-04-01 00:30+00'),   -- April in UTC, March in New York
  (:sz, 'Kojo',  '0241110002', 'Telecel',  7, 'paid', 'wa', '2025-05-05 12:00+00'),
  (:sz, 'Esi',   '0241110003', 'MTN',     30, 'paid', 'ig', '2025-06-01 23:30+00'),   -- Sunday 23:30 UTC, Monday 00:30 in Lagos
  (:sz, 'Esi',   '0241110003', 'MTN',     40, 'refunded', 'ig', '2025-06-02 10:00+00');
-- Shop "other" (another owner).
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT :sb, 'Other ' || i, '0277' || lpad((i % 9)::text, 6, '0'), 'AirtelTigo', 12, 'paid', NULL,
       '2025-02-01 00:00+00'::timestamptz + i * interval '2 days 5 hours'
  FROM generate_series(1, 30) i;
SELECT count(*) AS problems FROM customer_tracking_verify();

--------------------------------------------------------------------------------
-- The recomputation, over shop_orders (snapshotted into ref_p).
--------------------------------------------------------------------------------
CREATE TEMP VIEW ref_purchases AS
SELECT o.shop_id, o.id AS order_id, customer_tracking_customer_id(o.shop_id, normalize_phone(o.customer_phone)) AS cid,
       o.total_price AS amount, o.created_at AS at, o.shop_slug AS slug, nullif(upper(btrim(o.network)), '') AS network
  FROM shop_orders o
 WHERE o.shop_id IN (SELECT id FROM my_shops) AND normalize_phone(o.customer_phone) IS NOT NULL
   AND lower(btrim(o.payment_status)) IN ('completed', 'paid', 'success');
CREATE TEMP TABLE ref_p AS SELECT * FROM ref_purchases;

-- Money as the dashboard returns it: at least 2 decimals, never rounded.
CREATE FUNCTION pg_temp.money(numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN scale($1) >= 2 THEN $1 ELSE round($1, 2) END
$$;
-- RFM as the README states it, written independently of the extension's statement.
CREATE FUNCTION pg_temp.ref_rfm(p_shop uuid, p_as_of timestamptz)
RETURNS TABLE (customer_id uuid, recency_days bigint, frequency bigint, monetary numeric,
               r_score bigint, f_score bigint, m_score bigint, segment text)
LANGUAGE sql STABLE AS $$
WITH c AS (
    SELECT p.cid, extract(day FROM p_as_of - max(p.at))::integer AS rd, count(*)::integer AS fr, sum(p.amount) AS mo
      FROM ref_p p WHERE p.shop_id = p_shop AND p.at <= p_as_of GROUP BY p.cid
), n AS (SELECT count(*) AS n FROM c),
gaps AS (   -- gaps between a customer's consecutive purchases, in days, sorted
    SELECT row_number() OVER (ORDER BY g.gap) AS k, g.gap
      FROM (SELECT extract(epoch FROM a.ats[i] - a.ats[i - 1]) / 86400 AS gap
              FROM (SELECT array_agg(p.at ORDER BY p.at) AS ats FROM ref_p p
                     WHERE p.shop_id = p_shop AND p.at <= p_as_of GROUP BY p.cid) a,
                   generate_series(2, cardinality(a.ats)) i) g
), median AS (
    SELECT CASE WHEN cnt.n = 0 THEN 30
                ELSE least(365, greatest(1, (SELECT avg(g.gap) FROM gaps g
                     WHERE g.k IN ((cnt.n + 1) / 2, (cnt.n + 2) / 2)))) END AS iv
      FROM (SELECT count(*) AS n FROM gaps) cnt
), mean AS (
    SELECT sum(p.amount) / count(*) AS a FROM ref_p p WHERE p.shop_id = p_shop AND p.at <= p_as_of
), s AS (
    SELECT c.cid, c.rd, c.fr, c.mo,
           CASE WHEN n.n >= 100 THEN 1 + floor(5.0 * (SELECT count(*) FROM c x WHERE x.rd > c.rd) / n.n)::integer
                ELSE CASE WHEN c.rd <= median.iv THEN 5 WHEN c.rd <= 2 * median.iv THEN 4
                          WHEN c.rd <= 3 * median.iv THEN 3 WHEN c.rd <= 5 * median.iv THEN 2 ELSE 1 END END AS r,
           CASE WHEN n.n >= 100 THEN 1 + floor(5.0 * (SELECT count(*) FROM c x WHERE x.fr < c.fr) / n.n)::integer
                ELSE CASE WHEN c.fr >= 6 THEN 5 WHEN c.fr >= 4 THEN 4 ELSE c.fr END END AS f,
           CASE WHEN n.n >= 100 THEN 1 + floor(5.0 * (SELECT count(*) FROM c x WHERE x.mo < c.mo) / n.n)::integer
                WHEN mean.a <= 0 THEN 1
                ELSE CASE WHEN c.mo >= 5 * mean.a THEN 5 WHEN c.mo >= 3 * mean.a THEN 4
                          WHEN c.mo >= 2 * mean.a THEN 3 WHEN c.mo >= mean.a THEN 2 ELSE 1 END END AS m
      FROM c, n, median, mean
)
SELECT s.cid, s.rd, s.fr, pg_temp.money(s.mo), s.r, s.f, s.m,
       CASE WHEN s.r >= 4 AND s.f >= 4 THEN CASE WHEN s.m >= 4 THEN 'champions' ELSE 'loyal' END
            WHEN s.r = 3 AND s.f >= 4 THEN 'loyal'
            WHEN s.r <= 2 AND s.f >= 4 THEN CASE WHEN s.m >= 4 THEN 'cannot_lose' ELSE 'at_risk' END
            WHEN s.r <= 2 AND s.f = 3 THEN 'at_risk'
            WHEN s.r >= 4 AND s.f IN (2, 3) THEN 'potential_loyalist'
            WHEN s.r = 5 AND s.f = 1 THEN 'new'
            WHEN s.r = 4 AND s.f = 1 THEN 'promising'
            WHEN s.r = 3 THEN 'needs_attention'
            WHEN s.r = 2 THEN 'hibernating'
            WHEN s.r = 1 THEN 'lost' END
  FROM s ORDER BY s.mo DESC, s.cid
$$;
CREATE FUNCTION pg_temp.ref_segments(p_shop uuid, p_as_of timestamptz)
RETURNS TABLE (segment text, customers bigint, revenue numeric, share numeric)
LANGUAGE sql STABLE AS $$
SELECT v.segment, count(r.customer_id), pg_temp.money(coalesce(sum(r.monetary), 0)),
       CASE WHEN (SELECT count(*) FROM pg_temp.ref_rfm(p_shop, p_as_of)) = 0 THEN 0.0
            ELSE round(100.0 * count(r.customer_id) / (SELECT count(*) FROM pg_temp.ref_rfm(p_shop, p_as_of)), 1) END
  FROM (VALUES (1, 'champions'), (2, 'loyal'), (3, 'potential_loyalist'), (4, 'new'), (5, 'promising'),
               (6, 'needs_attention'), (7, 'at_risk'), (8, 'cannot_lose'), (9, 'hibernating'), (10, 'lost')) v(k, segment)
  LEFT JOIN pg_temp.ref_rfm(p_shop, p_as_of) r ON r.segment = v.segment
 GROUP BY v.k, v.segment ORDER BY v.k
$$;
CREATE FUNCTION pg_temp.ref_flow(p_shop uuid, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (from_segment text, to_segment text, customers bigint)
LANGUAGE sql STABLE AS $$
SELECT a.segment, b.segment, count(*)
  FROM pg_temp.ref_rfm(p_shop, p_to) b LEFT JOIN pg_temp.ref_rfm(p_shop, p_from) a USING (customer_id)
 GROUP BY 1, 2
$$;
CREATE FUNCTION pg_temp.ref_rates(p_shop uuid, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (customers bigint, returning_customers bigint, returning_customer_rate numeric,
               repeat_customers bigint, repeat_purchase_rate numeric)
LANGUAGE sql STABLE AS $$
WITH b AS (
    SELECT p.cid, count(*) AS inside,
           EXISTS (SELECT 1 FROM ref_p e WHERE e.shop_id = p_shop AND e.cid = p.cid AND e.at < p_from) AS before
      FROM ref_p p WHERE p.shop_id = p_shop AND p.at >= p_from AND p.at < p_to GROUP BY p.cid
)
SELECT count(*), count(*) FILTER (WHERE before OR inside > 1),
       coalesce(round(100.0 * count(*) FILTER (WHERE before OR inside > 1) / nullif(count(*), 0), 1), 0.0),
       count(*) FILTER (WHERE inside >= 2),
       coalesce(round(100.0 * count(*) FILTER (WHERE inside >= 2) / nullif(count(*), 0), 1), 0.0)
  FROM b
$$;
CREATE FUNCTION pg_temp.ref_cohorts(p_shop uuid, p_grain text, p_periods integer, p_as_of timestamptz, p_zone text,
                                    p_slug text DEFAULT NULL, p_network text DEFAULT NULL)
RETURNS TABLE (cohort_start date, period bigint, cohort_size bigint, mature boolean, active_customers bigint,
               retention_pct numeric, revenue numeric, cumulative_revenue_per_customer numeric)
LANGUAGE sql STABLE AS $$
WITH firsts AS (   -- each customer's first purchase (ties: smallest order id)
    SELECT DISTINCT ON (p.cid) p.cid, p.at, p.slug, p.network
      FROM ref_p p WHERE p.shop_id = p_shop ORDER BY p.cid, p.at, p.order_id
), cust AS (
    SELECT f.cid, date_trunc(p_grain, f.at AT TIME ZONE p_zone) AS cohort
      FROM firsts f
     WHERE f.at <= p_as_of
       AND (p_slug IS NULL OR coalesce(f.slug, '') = p_slug)
       AND (p_network IS NULL OR f.network = upper(btrim(p_network)))
), step AS (SELECT ('1 ' || p_grain)::interval AS s, date_trunc(p_grain, p_as_of AT TIME ZONE p_zone) AS last),
cells AS (
    SELECT c.cohort, k, count(*) AS size,
           (c.cohort + k * step.s) AT TIME ZONE p_zone AS lo, (c.cohort + (k + 1) * step.s) AT TIME ZONE p_zone AS hi
      FROM cust c, step, generate_series(0, p_periods - 1) k
     WHERE c.cohort >= step.last - (p_periods - 1) * step.s AND c.cohort + k * step.s <= step.last
     GROUP BY c.cohort, k, step.s
)
SELECT x.cohort::date, x.k, x.size, x.hi <= p_as_of,
       (SELECT count(DISTINCT p.cid) FROM ref_p p JOIN cust c ON c.cid = p.cid AND c.cohort = x.cohort
         WHERE p.shop_id = p_shop AND p.at >= x.lo AND p.at < x.hi AND p.at <= p_as_of),
       round(100.0 * (SELECT count(DISTINCT p.cid) FROM ref_p p JOIN cust c ON c.cid = p.cid AND c.cohort = x.cohort
         WHERE p.shop_id = p_shop AND p.at >= x.lo AND p.at < x.hi AND p.at <= p_as_of) / x.size, 1),
       pg_temp.money((SELECT coalesce(sum(p.amount), 0) FROM ref_p p JOIN cust c ON c.cid = p.cid AND c.cohort = x.cohort
         WHERE p.shop_id = p_shop AND p.at >= x.lo AND p.at < x.hi AND p.at <= p_as_of)),
       round((SELECT coalesce(sum(p.amount), 0) FROM ref_p p JOIN cust c ON c.cid = p.cid AND c.cohort = x.cohort
         WHERE p.shop_id = p_shop AND p.at < x.hi AND p.at <= p_as_of) / x.size, 2)
  FROM cells x ORDER BY x.cohort, x.k
$$;
CREATE FUNCTION pg_temp.ref_bucket(p_by text, p_at timestamptz, p_zone text) RETURNS integer
LANGUAGE sql STABLE AS $$
SELECT CASE p_by WHEN 'dow' THEN extract(isodow FROM p_at AT TIME ZONE p_zone)
                 WHEN 'hour' THEN extract(hour FROM p_at AT TIME ZONE p_zone)
                 WHEN 'day_of_month' THEN extract(day FROM p_at AT TIME ZONE p_zone)
                 ELSE extract(month FROM p_at AT TIME ZONE p_zone) END::integer
$$;
CREATE FUNCTION pg_temp.ref_seasons(p_shop uuid, p_by text, p_from timestamptz, p_to timestamptz, p_zone text)
RETURNS TABLE (bucket bigint, orders bigint, revenue numeric, customers bigint, new_customers bigint, index_vs_mean numeric)
LANGUAGE sql STABLE AS $$
WITH b AS (
    SELECT g AS b FROM generate_series(CASE WHEN p_by IN ('dow', 'day_of_month', 'month') THEN 1 ELSE 0 END,
                                       CASE p_by WHEN 'dow' THEN 7 WHEN 'hour' THEN 23 WHEN 'day_of_month' THEN 31 ELSE 12 END) g
), units AS (   -- local units (hours, days, months) that overlap [p_from, p_to)
    SELECT u AS lo FROM generate_series(date_trunc(CASE p_by WHEN 'hour' THEN 'hour' WHEN 'month' THEN 'month' ELSE 'day' END,
                                                   p_from AT TIME ZONE p_zone),
                                        p_to AT TIME ZONE p_zone,
                                        CASE p_by WHEN 'hour' THEN interval '1 hour' WHEN 'month' THEN interval '1 month'
                                                  ELSE interval '1 day' END) u
     WHERE u < p_to AT TIME ZONE p_zone
), inr AS (SELECT * FROM ref_p p WHERE p.shop_id = p_shop AND p.at >= p_from AND p.at < p_to),
firsts AS (SELECT p.cid, min(p.at) AS at FROM ref_p p WHERE p.shop_id = p_shop GROUP BY p.cid),
per AS (
    SELECT b.b,
           (SELECT count(*) FROM inr WHERE pg_temp.ref_bucket(p_by, inr.at, p_zone) = b.b) AS orders,
           (SELECT coalesce(sum(inr.amount), 0) FROM inr WHERE pg_temp.ref_bucket(p_by, inr.at, p_zone) = b.b) AS revenue,
           (SELECT count(DISTINCT inr.cid) FROM inr WHERE pg_temp.ref_bucket(p_by, inr.at, p_zone) = b.b) AS customers,
           (SELECT count(*) FROM firsts f WHERE f.at >= p_from AND f.at < p_to
               AND pg_temp.ref_bucket(p_by, f.at, p_zone) = b.b) AS new_customers,
           (SELECT count(*) FROM units u WHERE CASE p_by WHEN 'dow' THEN extract(isodow FROM u.lo) WHEN 'hour' THEN extract(hour FROM u.lo)
                    WHEN 'day_of_month' THEN extract(day FROM u.lo) ELSE extract(month FROM u.lo) END = b.b) AS occ
      FROM b
)
SELECT per.b, per.orders, pg_temp.money(per.revenue), per.customers, per.new_customers,
       CASE WHEN per.occ = 0 OR (SELECT count(*) FROM inr) = 0 THEN NULL
            ELSE round((per.orders::numeric / per.occ) / ((SELECT count(*) FROM inr)::numeric / (SELECT count(*) FROM units)), 2) END
  FROM per ORDER BY per.b
$$;

-- Both ways: rows only one side has (with their position), counted.
CREATE FUNCTION pg_temp.diff(p_fn text, p_ref text) RETURNS TABLE (compared bigint, mismatches bigint)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'WITH f AS (SELECT row_number() OVER () AS n, x::text AS v FROM (SELECT * FROM %s) x),
              r AS (SELECT row_number() OVER () AS n, x::text AS v FROM (SELECT * FROM %s) x)
         SELECT (SELECT count(*) FROM f), (SELECT count(*) FROM ((SELECT * FROM f EXCEPT ALL SELECT * FROM r)
                                                                UNION ALL (SELECT * FROM r EXCEPT ALL SELECT * FROM f)) d)',
        p_fn, p_ref);
END
$$;
-- The calls checked: (function call, reference call). The flow's rows are compared unordered.
CREATE TEMP TABLE checks (label text, fn text, ref text);
INSERT INTO checks
SELECT 'rfm ' || s.n || ' ' || a.t, format('shop_customer_rfm(%L, %L)', s.id, a.t), format('pg_temp.ref_rfm(%L, %L)', s.id, a.t)
  FROM (VALUES ('big', :sa), ('small', :ss), ('clock', :sz), ('empty', :se), ('other', :sb)) s(n, id),
       (VALUES ('2025-03-15 12:00+00'), ('2025-07-01 00:00+00'), ('2026-01-01 00:00+00'), ('2024-06-01 00:00+00')) a(t)
UNION ALL
SELECT 'segments ' || s.n || ' ' || a.t, format('shop_customer_segments(%L, %L)', s.id, a.t), format('pg_temp.ref_segments(%L, %L)', s.id, a.t)
  FROM (VALUES ('big', :sa), ('small', :ss), ('empty', :se)) s(n, id),
       (VALUES ('2025-03-15 12:00+00'), ('2025-07-01 00:00+00'), ('2026-01-01 00:00+00')) a(t)
UNION ALL
SELECT 'flow ' || s.n, format('(SELECT * FROM shop_segment_flow(%L, %L, %L) ORDER BY 1, 2) x0', s.id, '2025-05-01', '2025-11-01'),
       format('(SELECT * FROM pg_temp.ref_flow(%L, %L, %L) ORDER BY 1, 2) x0', s.id, '2025-05-01', '2025-11-01')
  FROM (VALUES ('big', :sa), ('small', :ss), ('empty', :se)) s(n, id)
UNION ALL
SELECT 'rates ' || s.n || ' ' || r.f || '..' || r.t, format('shop_retention_rates(%L, %L, %L)', s.id, r.f, r.t),
       format('pg_temp.ref_rates(%L, %L, %L)', s.id, r.f, r.t)
  FROM (VALUES ('big', :sa), ('small', :ss), ('clock', :sz), ('empty', :se)) s(n, id),
       (VALUES ('2025-03-01 00:00+00', '2025-04-01 00:00+00'), ('2025-01-01 00:00+00', '2026-01-01 00:00+00'),
               ('2025-06-10 13:00+00', '2025-06-10 14:00+00'), ('2025-04-01 00:30+00', '2025-04-01 00:30:00.000001+00')) r(f, t)
UNION ALL
SELECT 'cohorts ' || s.n || ' ' || g.g || ' ' || g.p || ' ' || g.a || ' ' || g.z || coalesce(' slug=' || g.slug, '') || coalesce(' net=' || g.net, ''),
       format('shop_cohort_retention(%L, %L, %s, %L, %L, %L, %L)', s.id, g.g, g.p, g.a, g.slug, g.net, g.z),
       format('pg_temp.ref_cohorts(%L, %L, %s, %L, %L, %L, %L)', s.id, g.g, g.p, g.a, g.z, g.slug, g.net)
  FROM (VALUES ('big', :sa), ('small', :ss), ('clock', :sz), ('empty', :se)) s(n, id),
       (VALUES ('month', 12, '2026-01-01 00:00+00', 'UTC', NULL, NULL), ('month', 6, '2025-08-17 09:00+00', 'America/New_York', NULL, NULL),
               ('week', 10, '2025-05-20 00:00+00', 'Asia/Kolkata', NULL, NULL), ('month', 3, '2025-12-31 23:00+00', 'UTC', 'ig', NULL),
               ('month', 12, '2025-12-31 23:00+00', 'UTC', '', 'telecel'), ('week', 1, '2025-04-02 00:00+00', 'UTC', NULL, NULL)) g(g, p, a, z, slug, net)
UNION ALL
SELECT 'seasons ' || s.n || ' ' || b.b || ' ' || z.z, format('shop_seasonality(%L, %L, %L, %L, %L)', s.id, b.b, r.f, r.t, z.z),
       format('pg_temp.ref_seasons(%L, %L, %L, %L, %L)', s.id, b.b, r.f, r.t, z.z)
  FROM (VALUES ('big', :sa), ('clock', :sz), ('empty', :se)) s(n, id),
       (VALUES ('dow'), ('hour'), ('day_of_month'), ('month')) b(b),
       (VALUES ('UTC'), ('Africa/Lagos'), ('America/New_York')) z(z),
       (VALUES ('2025-02-10 00:00+00', '2025-11-20 06:00+00')) r(f, t);

SELECT c.label, d.compared, d.mismatches FROM checks c, LATERAL pg_temp.diff(c.fn, c.ref) d ORDER BY c.label;
SELECT count(*) AS calls, sum(d.mismatches) AS mismatches, sum(d.compared) AS rows_compared
  FROM checks c, LATERAL pg_temp.diff(c.fn, c.ref) d;

--------------------------------------------------------------------------------
-- Time travel: an answer as of a past time does not change when later orders arrive, refunds
-- of later orders happen, or customers come back later.
--------------------------------------------------------------------------------
CREATE TEMP TABLE past AS
SELECT 'rfm' AS fn, md5(string_agg(x::text, ',')) AS h FROM shop_customer_rfm(:sa, '2025-06-01 00:00+00') x
UNION ALL SELECT 'segments', md5(string_agg(x::text, ',')) FROM shop_customer_segments(:sa, '2025-06-01 00:00+00') x
UNION ALL SELECT 'cohorts', md5(string_agg(x::text, ',')) FROM shop_cohort_retention(:sa, 'month', 6, '2025-06-01 00:00+00') x
UNION ALL SELECT 'rates', md5(string_agg(x::text, ',')) FROM shop_retention_rates(:sa, '2025-03-01', '2025-06-01') x
UNION ALL SELECT 'seasons', md5(string_agg(x::text, ',')) FROM shop_seasonality(:sa, 'dow', '2025-03-01', '2025-06-01') x;
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT :sa, 'Later', '0244' || lpad((1 + i % 200)::text, 6, '0'), 'MTN', 25, 'paid', 'ig', '2025-06-01 00:00:00.000001+00'::timestamptz + i * interval '1 day'
  FROM generate_series(0, 80) i;
UPDATE shop_orders SET payment_status = 'refunded' WHERE shop_id = :sa AND created_at > '2025-08-01' AND total_price = 25;
SELECT p.fn, p.h = n.h AS unchanged
  FROM past p
  JOIN (SELECT 'rfm' AS fn, md5(string_agg(x::text, ',')) AS h FROM shop_customer_rfm(:sa, '2025-06-01 00:00+00') x
        UNION ALL SELECT 'segments', md5(string_agg(x::text, ',')) FROM shop_customer_segments(:sa, '2025-06-01 00:00+00') x
        UNION ALL SELECT 'cohorts', md5(string_agg(x::text, ',')) FROM shop_cohort_retention(:sa, 'month', 6, '2025-06-01 00:00+00') x
        UNION ALL SELECT 'rates', md5(string_agg(x::text, ',')) FROM shop_retention_rates(:sa, '2025-03-01', '2025-06-01') x
        UNION ALL SELECT 'seasons', md5(string_agg(x::text, ',')) FROM shop_seasonality(:sa, 'dow', '2025-03-01', '2025-06-01') x) n
    ON n.fn = p.fn ORDER BY p.fn;
-- ... while the present moved, and still equals the recomputation.
TRUNCATE ref_p;
INSERT INTO ref_p SELECT * FROM ref_purchases;
SELECT count(*) AS calls, sum(d.mismatches) AS mismatches, sum(d.compared) > 0 AS compared
  FROM checks c, LATERAL pg_temp.diff(c.fn, c.ref) d;
SELECT count(*) AS problems FROM customer_tracking_verify();

--------------------------------------------------------------------------------
-- Session time zones change nothing: times are instants, calendars are read in the zone given
-- (default: the stored setting naive_time_zone, UTC here).
--------------------------------------------------------------------------------
CREATE TEMP TABLE zone_runs (zone text, fn text, h text);
CREATE FUNCTION pg_temp.zone_run(p_zone text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('TimeZone', p_zone, true);
    INSERT INTO zone_runs
    SELECT p_zone, 'rfm', md5(string_agg(x::text, ',')) FROM shop_customer_rfm('d4600000-0000-0000-0000-00000000000a', '2025-06-01 00:00+00') x
    UNION ALL SELECT p_zone, 'flow', md5(string_agg(x::text, ',')) FROM shop_segment_flow('d4600000-0000-0000-0000-00000000000a', '2025-04-01 00:00+00', '2025-10-01 00:00+00') x
    UNION ALL SELECT p_zone, 'rates', md5(string_agg(x::text, ',')) FROM shop_retention_rates('d4600000-0000-0000-0000-00000000000a', '2025-03-01 00:00+00', '2025-06-01 00:00+00') x
    UNION ALL SELECT p_zone, 'cohorts', md5(string_agg(x::text, ',')) FROM shop_cohort_retention('d4600000-0000-0000-0000-00000000000c', 'month', 4, '2025-06-30 00:00+00') x
    UNION ALL SELECT p_zone, 'cohorts week', md5(string_agg(x::text, ',')) FROM shop_cohort_retention('d4600000-0000-0000-0000-00000000000a', 'week', 8, '2025-06-30 00:00+00') x
    UNION ALL SELECT p_zone, 'seasons hour', md5(string_agg(x::text, ',')) FROM shop_seasonality('d4600000-0000-0000-0000-00000000000a', 'hour', '2025-03-01 00:00+00', '2025-06-01 00:00+00') x
    UNION ALL SELECT p_zone, 'seasons dow NY', md5(string_agg(x::text, ',')) FROM shop_seasonality('d4600000-0000-0000-0000-00000000000a', 'dow', '2025-03-01 00:00+00', '2025-06-01 00:00+00', 'America/New_York') x;
END
$$;
BEGIN; SELECT pg_temp.zone_run('UTC'); COMMIT;
BEGIN; SELECT pg_temp.zone_run('America/Los_Angeles'); COMMIT;
BEGIN; SELECT pg_temp.zone_run('Asia/Kolkata'); COMMIT;
BEGIN; SELECT pg_temp.zone_run('Pacific/Chatham'); COMMIT;
SELECT fn, count(*) AS zones, count(DISTINCT h) AS distinct_answers FROM zone_runs GROUP BY fn ORDER BY fn;

-- The boundaries themselves, in the "clock" shop: Ama's first order is 23:30 on 31 March in New
-- York (April in UTC), Kojo's 00:30 UTC on 1 April (still March in New York).
SELECT 'UTC' AS zone, * FROM shop_cohort_retention(:sz, 'month', 4, '2025-06-30 00:00+00') ORDER BY 2, 3;
SELECT 'America/New_York' AS zone, * FROM shop_cohort_retention(:sz, 'month', 4, '2025-06-30 00:00+00', p_time_zone => 'America/New_York') ORDER BY 2, 3;
-- Weeks start on Monday: Esi's first order is Sunday 23:30 UTC, Monday 00:30 in Lagos.
SELECT * FROM shop_cohort_retention(:sz, 'week', 2, '2025-06-03 00:00+00') ORDER BY 1, 2;
SELECT * FROM shop_cohort_retention(:sz, 'week', 2, '2025-06-03 00:00+00', p_time_zone => 'Africa/Lagos') ORDER BY 1, 2;
SELECT bucket, orders, revenue, customers, new_customers FROM shop_seasonality(:sz, 'dow', '2025-06-01', '2025-06-08') WHERE orders > 0;
SELECT bucket, orders, revenue, customers, new_customers FROM shop_seasonality(:sz, 'dow', '2025-06-01', '2025-06-08', 'Africa/Lagos') WHERE orders > 0;
SELECT bucket, orders, index_vs_mean FROM shop_seasonality(:sz, 'hour', '2025-03-31 00:00+00', '2025-04-02 00:00+00') WHERE orders > 0;
-- The stored default follows customer_tracking_set_naive_time_zone().
SELECT customer_tracking_time_zone();
SELECT customer_tracking_set_naive_time_zone('America/New_York');
SELECT customer_tracking_time_zone();
SELECT cohort_start, period, cohort_size FROM shop_cohort_retention(:sz, 'month', 4, '2025-06-30 00:00+00') ORDER BY 1, 2;
SELECT customer_tracking_set_naive_time_zone('UTC');

--------------------------------------------------------------------------------
-- A shop with 20 customers: fixed cutoffs from its repurchase interval (README).
--------------------------------------------------------------------------------
SELECT count(*) AS customers, count(*) FILTER (WHERE frequency >= 2) AS repeaters FROM shop_customer_rfm(:ss, '2025-06-01 00:00+00');
SELECT phone_number, r.recency_days, r.frequency, r.monetary, r.r_score, r.f_score, r.m_score, r.segment
  FROM shop_customer_rfm(:ss, '2025-06-01 00:00+00') r JOIN shop_customers c ON c.id = r.customer_id
 ORDER BY r.monetary DESC, r.customer_id;
SELECT * FROM shop_customer_segments(:ss, '2025-06-01 00:00+00');
SELECT segment, count(*) FROM shop_customer_rfm(:ss, '2025-06-01 00:00+00', p_segment => 'potential_loyalist') GROUP BY 1;
SELECT * FROM shop_segment_flow(:ss, '2025-04-01', '2025-06-01');
SELECT * FROM shop_retention_rates(:ss, '2025-04-01', '2025-05-01');

--------------------------------------------------------------------------------
-- An empty shop, and an id that is no shop: no rows, or zeros.
--------------------------------------------------------------------------------
SELECT count(*) AS rfm_rows FROM shop_customer_rfm(:se);
SELECT * FROM shop_customer_segments(:se);
SELECT count(*) AS flow_rows FROM shop_segment_flow(:se, '2025-01-01', '2026-01-01');
SELECT * FROM shop_retention_rates(:se, '2025-01-01', '2026-01-01');
SELECT count(*) AS cohort_rows FROM shop_cohort_retention(:se);
SELECT * FROM shop_seasonality(:se, 'month', '2025-01-01', '2025-04-01');
SELECT count(*) AS rfm_rows FROM shop_customer_rfm('d4600000-0000-0000-0000-0000000000ff');
SELECT sum(customers) AS customers FROM shop_customer_segments(NULL);

--------------------------------------------------------------------------------
-- Bad arguments: clear errors.
--------------------------------------------------------------------------------
\set VERBOSITY default
SELECT * FROM shop_cohort_retention(:sa, 'day');
SELECT * FROM shop_cohort_retention(:sa, NULL);
SELECT * FROM shop_cohort_retention(:sa, 'month', 0);
SELECT * FROM shop_cohort_retention(:sa, 'month', 241);
SELECT * FROM shop_cohort_retention(:sa, 'month', 12, NULL);
SELECT * FROM shop_cohort_retention(:sa, 'month', 12, now(), p_time_zone => 'Mars/Olympus');
SELECT * FROM shop_seasonality(:sa, 'week', '2025-01-01', '2025-02-01');
SELECT * FROM shop_seasonality(:sa, NULL, '2025-01-01', '2025-02-01');
SELECT * FROM shop_seasonality(:sa, 'dow', '2025-02-01', '2025-01-01');
SELECT * FROM shop_seasonality(:sa, 'dow', NULL, '2025-01-01');
SELECT * FROM shop_seasonality(:sa, 'dow', '2025-01-01', 'infinity');
SELECT * FROM shop_seasonality(:sa, 'hour', '2025-01-01', '2025-02-01', 'nowhere');
SELECT * FROM shop_retention_rates(:sa, '2025-02-01', '2025-02-01');
SELECT * FROM shop_retention_rates(:sa, NULL, '2025-02-01');
SELECT * FROM shop_segment_flow(:sa, '2025-02-01', '2025-01-01');
SELECT * FROM shop_customer_rfm(:sa, NULL);
SELECT * FROM shop_customer_rfm(:sa, now(), 'vip');
SELECT * FROM shop_customer_segments(:sa, '-infinity');
\set VERBOSITY terse

--------------------------------------------------------------------------------
-- Row-level security: the owner sees what the superuser sees; another owner and a role
-- without an owner see nothing of the shop (no rows, zeros), never an error.
--------------------------------------------------------------------------------
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ct46_reader') THEN
        DROP OWNED BY ct46_reader;
        DROP ROLE ct46_reader;
    END IF;
END
$$;
CREATE ROLE ct46_reader NOLOGIN;
GRANT SELECT ON shop_customers, customer_tracking TO ct46_reader;
CREATE TEMP TABLE rls_calls (n int, call text);
INSERT INTO rls_calls VALUES
  (1, $$SELECT md5(string_agg(x::text, ',')) FROM shop_customer_rfm('d4600000-0000-0000-0000-00000000000a', '2025-09-01 00:00+00') x$$),
  (2, $$SELECT md5(string_agg(x::text, ',')) FROM shop_customer_segments('d4600000-0000-0000-0000-00000000000a', '2025-09-01 00:00+00') x$$),
  (3, $$SELECT md5(string_agg(x::text, ',')) FROM shop_segment_flow('d4600000-0000-0000-0000-00000000000a', '2025-04-01', '2025-09-01') x$$),
  (4, $$SELECT md5(string_agg(x::text, ',')) FROM shop_retention_rates('d4600000-0000-0000-0000-00000000000a', '2025-04-01', '2025-09-01') x$$),
  (5, $$SELECT md5(string_agg(x::text, ',')) FROM shop_cohort_retention('d4600000-0000-0000-0000-00000000000a', 'month', 6, '2025-09-01 00:00+00') x$$),
  (6, $$SELECT md5(string_agg(x::text, ',')) FROM shop_seasonality('d4600000-0000-0000-0000-00000000000a', 'hour', '2025-04-01', '2025-09-01') x$$);
CREATE TEMP TABLE rls_seen (who text, n int, h text);
GRANT SELECT ON rls_calls TO ct46_reader;
GRANT INSERT ON rls_seen TO ct46_reader;
SELECT format('INSERT INTO rls_seen SELECT %L, %s, (%s)', 'superuser', n, call) FROM rls_calls ORDER BY n \gexec
SET ROLE ct46_reader;
SET request.jwt.claims = '{"sub": "e4600000-0000-0000-0000-00000000000a", "role": "authenticated"}';
SELECT format('INSERT INTO rls_seen SELECT %L, %s, (%s)', 'owner', n, call) FROM rls_calls ORDER BY n \gexec
SET request.jwt.claims = '{"sub": "e4600000-0000-0000-0000-00000000000b", "role": "authenticated"}';
SELECT format('INSERT INTO rls_seen SELECT %L, %s, (%s)', 'other owner', n, call) FROM rls_calls ORDER BY n \gexec
SELECT count(*) AS rfm_rows FROM shop_customer_rfm(:sa, '2025-09-01 00:00+00');
SELECT sum(customers) AS customers, sum(revenue) AS revenue FROM shop_customer_segments(:sa, '2025-09-01 00:00+00');
SELECT * FROM shop_retention_rates(:sa, '2025-04-01', '2025-09-01');
SELECT count(*) AS cohort_rows FROM shop_cohort_retention(:sa, 'month', 6, '2025-09-01 00:00+00');
SELECT sum(orders) AS orders, sum(customers) AS customers, sum(new_customers) AS new_customers FROM shop_seasonality(:sa, 'hour', '2025-04-01', '2025-09-01');
-- ... while their own shop is there.
SELECT sum(customers) AS own_customers FROM shop_customer_segments(:sb, '2025-09-01 00:00+00');
RESET request.jwt.claims;
SELECT format('INSERT INTO rls_seen SELECT %L, %s, (%s)', 'no owner', n, call) FROM rls_calls ORDER BY n \gexec
RESET ROLE;
SELECT s.n, o.h IS NOT DISTINCT FROM s.h AS owner_sees_all, x.h IS NOT DISTINCT FROM s.h AS other_owner_sees_it,
       z.h IS NOT DISTINCT FROM s.h AS no_owner_sees_it, x.h IS NOT DISTINCT FROM z.h AS other_sees_what_nobody_sees
  FROM rls_seen s JOIN rls_seen o ON o.n = s.n AND o.who = 'owner'
  JOIN rls_seen x ON x.n = s.n AND x.who = 'other owner' JOIN rls_seen z ON z.n = s.n AND z.who = 'no owner'
 WHERE s.who = 'superuser' ORDER BY s.n;
DROP TABLE rls_seen, rls_calls;
DROP OWNED BY ct46_reader;
DROP ROLE ct46_reader;

--------------------------------------------------------------------------------
-- A Supabase-style database (the roles exist at CREATE EXTENSION): anon may not call them,
-- authenticated owners get their own shops.
--------------------------------------------------------------------------------
DROP DATABASE IF EXISTS ct_analytics;
CREATE DATABASE ct_analytics;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES ('anon', 'NOLOGIN NOINHERIT NOBYPASSRLS'), ('authenticated', 'NOLOGIN NOINHERIT NOBYPASSRLS'),
                                   ('service_role', 'NOLOGIN NOINHERIT BYPASSRLS')) v(name, attributes)
              WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v.name)
    LOOP
        EXECUTE format('CREATE ROLE %I %s', r.name, r.attributes);
        EXECUTE format('COMMENT ON ROLE %I IS %L', r.name, 'customer_tracking test 46_analytics');
    END LOOP;
END
$$;
\c ct_analytics
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set VERBOSITY default
\set SHOW_CONTEXT errors
CREATE SCHEMA auth;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid
$$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
\set ECHO none
\i test/fixtures/host-schema.sql
\set ECHO all
CREATE EXTENSION customer_tracking;
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('d4600000-0000-0000-0000-00000000000a', 'e4600000-0000-0000-0000-00000000000a', 'a'),
  ('d4600000-0000-0000-0000-00000000000b', 'e4600000-0000-0000-0000-00000000000b', 'b');
INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, created_at)
SELECT s, '0244' || lpad((i % 7)::text, 6, '0'), 'MTN', 10 + i, 'paid', '2025-01-01 00:00+00'::timestamptz + i * interval '9 days'
  FROM generate_series(1, 30) i, unnest(ARRAY['d4600000-0000-0000-0000-00000000000a', 'd4600000-0000-0000-0000-00000000000b']::uuid[]) s;
SELECT p.oid::regprocedure AS function, has_function_privilege('anon', p.oid, 'EXECUTE') AS anon,
       has_function_privilege('authenticated', p.oid, 'EXECUTE') AS authenticated,
       has_function_privilege('service_role', p.oid, 'EXECUTE') AS service_role
  FROM pg_proc p
 WHERE p.proname IN ('shop_customer_rfm', 'shop_customer_segments', 'shop_segment_flow', 'shop_retention_rates',
                     'shop_cohort_retention', 'shop_seasonality', 'customer_tracking_time_zone')
 ORDER BY 1;
SET ROLE anon;
SELECT * FROM shop_customer_rfm('d4600000-0000-0000-0000-00000000000a');
SELECT * FROM shop_customer_segments('d4600000-0000-0000-0000-00000000000a');
SELECT * FROM shop_segment_flow('d4600000-0000-0000-0000-00000000000a', '2025-01-01', '2025-06-01');
SELECT * FROM shop_retention_rates('d4600000-0000-0000-0000-00000000000a', '2025-01-01', '2025-06-01');
SELECT * FROM shop_cohort_retention('d4600000-0000-0000-0000-00000000000a');
SELECT * FROM shop_seasonality('d4600000-0000-0000-0000-00000000000a', 'dow', '2025-01-01', '2025-06-01');
RESET ROLE;
SET ROLE authenticated;
SET request.jwt.claims = '{"sub": "e4600000-0000-0000-0000-00000000000a", "role": "authenticated"}';
SELECT segment, customers, revenue FROM shop_customer_segments('d4600000-0000-0000-0000-00000000000a', '2025-12-01') WHERE customers > 0;
SELECT sum(customers) AS customers_of_b FROM shop_customer_segments('d4600000-0000-0000-0000-00000000000b', '2025-12-01');
SELECT * FROM shop_retention_rates('d4600000-0000-0000-0000-00000000000a', '2025-01-01', '2025-06-01');
SELECT * FROM shop_retention_rates('d4600000-0000-0000-0000-00000000000b', '2025-01-01', '2025-06-01');
SELECT count(*) AS cohort_rows_of_b FROM shop_cohort_retention('d4600000-0000-0000-0000-00000000000b', 'month', 12, '2025-12-01');
RESET request.jwt.claims;
RESET ROLE;
SET ROLE service_role;
SELECT sum(customers) AS customers_of_b FROM shop_customer_segments('d4600000-0000-0000-0000-00000000000b', '2025-12-01');
RESET ROLE;
\c contrib_regression
SET client_min_messages = warning;
DROP DATABASE ct_analytics;
DO $$
DECLARE
    r text;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles WHERE shobj_description(oid, 'pg_authid') = 'customer_tracking test 46_analytics' LOOP
        EXECUTE format('DROP ROLE %I', r);
    END LOOP;
END
$$;
