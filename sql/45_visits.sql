-- Storefront visits and the funnel: customer_tracking_record_visit() as anon
-- with bad input on every argument (NULL, empty, oversized, unknown slug: nothing counted, no
-- error, the same empty answer), the daily salt (a day change simulated with the superuser-only
-- customer_tracking.visit_day_offset: a new salt, the old one overwritten in the table's pages
-- and its file and deleted, the day's hashes deleted, a transaction of the day before cannot
-- bring a past salt back), shop_slug_funnel() against a recomputation from shop_orders and
-- from the calls made, and row-level security.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set VERBOSITY terse
\set sa '''d4500000-0000-0000-0000-00000000000a'''
\set sb '''d4500000-0000-0000-0000-00000000000b'''
\set claims_a '{"sub": "e4500000-0000-0000-0000-00000000000a", "role": "authenticated"}'
\set claims_b '{"sub": "e4500000-0000-0000-0000-00000000000b", "role": "authenticated"}'
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ct45_anon') THEN
        CREATE ROLE ct45_anon NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ct45_owner') THEN
        CREATE ROLE ct45_owner NOLOGIN;
    END IF;
END
$$;
DROP SCHEMA IF EXISTS ct45 CASCADE;
CREATE SCHEMA ct45;
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  (:sa, 'e4500000-0000-0000-0000-00000000000a', 'ct45-a'),
  (:sb, 'e4500000-0000-0000-0000-00000000000b', 'ct45-b');

-- The counters of the two shops, days relative to today (UTC).
CREATE FUNCTION ct45.counts()
RETURNS TABLE (slug text, day_offset integer, visits bigint, unique_visitors bigint)
LANGUAGE sql AS $$
    SELECT v.slug, v.day - (now() AT TIME ZONE 'UTC')::date, sum(v.visits)::bigint,
           sum(v.unique_visitors)::bigint
      FROM customer_tracking_slug_visits v
     WHERE v.shop_id IN ('d4500000-0000-0000-0000-00000000000a', 'd4500000-0000-0000-0000-00000000000b')
     GROUP BY 1, 2 ORDER BY 1, 2
$$;

-- What anon may do: call record_visit, nothing else of it.
SELECT has_function_privilege('ct45_anon', 'customer_tracking_record_visit(text, text, text, text, text, text)', 'EXECUTE') AS record_visit,
       has_function_privilege('ct45_anon', 'customer_tracking_visits_rotate()', 'EXECUTE') AS rotate,
       has_table_privilege('ct45_anon', 'customer_tracking_visitors', 'SELECT') AS visitors,
       has_table_privilege('ct45_anon', 'customer_tracking_visit_salt', 'SELECT') AS salt,
       has_table_privilege('ct45_anon', 'customer_tracking_slug_visits', 'INSERT') AS insert_counts;
SELECT c.relname, c.relpersistence, c.relrowsecurity
  FROM pg_class c
 WHERE c.relname IN ('customer_tracking_slug_visits', 'customer_tracking_visitors', 'customer_tracking_visit_salt')
 ORDER BY 1;

--------------------------------------------------------------------------------
-- Bad input as anon: each call answers the same (nothing), none raises, none counts.
--------------------------------------------------------------------------------
SET ROLE ct45_anon;
SELECT n, customer_tracking_record_visit(s, v, r, us, um, uc) AS answer
  FROM (VALUES
    (1, NULL, 'visitor', NULL, NULL, NULL, NULL),
    (2, '', 'visitor', NULL, NULL, NULL, NULL),
    (3, repeat('s', 256), 'visitor', NULL, NULL, NULL, NULL),
    (4, repeat('s', 1000000), 'visitor', NULL, NULL, NULL, NULL),
    (5, 'no-such-shop', 'visitor', NULL, NULL, NULL, NULL),
    (6, 'CT45-A', 'visitor', NULL, NULL, NULL, NULL),
    (7, 'ct45-a ', 'visitor', NULL, NULL, NULL, NULL),
    (8, E'ct45-a\n', 'visitor', NULL, NULL, NULL, NULL),
    (9, 'ct45-a', repeat('v', 1025), NULL, NULL, NULL, NULL),
    (10, 'ct45-a', repeat('v', 1000000), NULL, NULL, NULL, NULL),
    (11, 'ct45-a', 'visitor', repeat('r', 2049), NULL, NULL, NULL),
    (12, 'ct45-a', 'visitor', NULL, repeat('u', 256), NULL, NULL),
    (13, 'ct45-a', 'visitor', NULL, NULL, repeat('u', 256), NULL),
    (14, 'ct45-a', 'visitor', NULL, NULL, NULL, repeat('u', 256)),
    (15, '''; DROP TABLE shop_orders; --', 'visitor', NULL, NULL, NULL, NULL),
    (16, 'ünïcødé-☃', E'\u00e9\u2603', 'https://example.com/', 'ig', 'social', 'x')
  ) t(n, s, v, r, us, um, uc)
 ORDER BY n;
SELECT customer_tracking_record_visit(NULL, NULL);
SELECT customer_tracking_record_visit(NULL, NULL, NULL, NULL, NULL, NULL);
-- Nothing was counted, and anon sees no counter, no hash, no salt.
SELECT count(*) AS counters_anon_sees FROM customer_tracking_slug_visits;
SELECT count(*) FROM customer_tracking_visitors;
SELECT count(*) FROM customer_tracking_visit_salt;
SELECT customer_tracking_visits_rotate();
RESET ROLE;
SELECT * FROM ct45.counts();
SELECT count(*) AS hashes FROM customer_tracking_visitors WHERE shop_id IN (:sa, :sb);

-- Good input as anon, at the limits: counted. A NULL or empty visitor is a visit without a
-- unique visitor; the referrer and utm values (up to their limits) change nothing.
SET ROLE ct45_anon;
SELECT customer_tracking_record_visit('ct45-a', 'ip 1 / ua 1');
SELECT customer_tracking_record_visit('ct45-a', 'ip 1 / ua 1', 'https://example.com/', 'ig', 'social', 'spring');
SELECT customer_tracking_record_visit('ct45-a', 'ip 2 / ua 1', repeat('r', 2048), repeat('u', 255), repeat('u', 255), repeat('u', 255));
SELECT customer_tracking_record_visit(p_shop_slug => 'ct45-a', p_visitor => repeat('v', 1024));
SELECT customer_tracking_record_visit('ct45-a', NULL);
SELECT customer_tracking_record_visit('ct45-a', '');
SELECT customer_tracking_record_visit('ct45-b', 'ip 1 / ua 1');
RESET ROLE;
SELECT * FROM ct45.counts();
-- The hashes of the day: one per unique visitor and shop (the same visitor in two shops: two).
SELECT count(*) AS hashes, count(DISTINCT visitor) AS distinct_hashes FROM customer_tracking_visitors WHERE shop_id IN (:sa, :sb);

--------------------------------------------------------------------------------
-- The daily salt.
--------------------------------------------------------------------------------
CREATE EXTENSION IF NOT EXISTS pageinspect;
-- Today's and tomorrow's (made a day ahead, so that it is committed long before its day).
SELECT count(*) AS salts, array_agg(day - (now() AT TIME ZONE 'UTC')::date ORDER BY day) AS day_offsets,
       min(length(salt)) AS salt_bytes, count(DISTINCT salt) AS distinct_salts
  FROM customer_tracking_visit_salt;
SELECT salt AS salt0 FROM customer_tracking_visit_salt WHERE day = (now() AT TIME ZONE 'UTC')::date \gset
SELECT visitor AS hash0 FROM customer_tracking_visitors WHERE shop_id = :sa ORDER BY visitor LIMIT 1 \gset
-- Only a superuser moves the clock.
SET ROLE ct45_anon;
SET customer_tracking.visit_day_offset = 1;
RESET ROLE;
-- Tomorrow: the first visit makes a new salt and destroys yesterday's.
SET customer_tracking.visit_day_offset = 1;
SELECT customer_tracking_record_visit('ct45-a', 'ip 1 / ua 1');
SELECT customer_tracking_record_visit('ct45-a', 'ip 1 / ua 1');
SELECT customer_tracking_record_visit('ct45-a', 'ip 3 / ua 3');
SELECT * FROM ct45.counts();
SELECT count(*) AS salts, array_agg(day - (now() AT TIME ZONE 'UTC')::date ORDER BY day) AS day_offsets,
       bool_and(salt <> :'salt0'::bytea) AS new_salts
  FROM customer_tracking_visit_salt;
-- Yesterday's salt is nowhere in the table: not in a live row, not in a dead row version, not
-- in free space, neither in shared buffers nor in the table's file.
SELECT bool_and(position(:'salt0'::bytea IN get_raw_page('customer_tracking_visit_salt', b::int)) = 0) AS not_in_pages,
       position(:'salt0'::bytea IN pg_read_binary_file(pg_relation_filepath('customer_tracking_visit_salt'))) = 0 AS not_in_file,
       length(pg_read_binary_file(pg_relation_filepath('customer_tracking_visit_salt'))) > 0 AS file_written
  FROM generate_series(0, pg_relation_size('customer_tracking_visit_salt') / 8192 - 1) b;
SELECT count(*) AS dead_versions_zeroed
  FROM generate_series(0, pg_relation_size('customer_tracking_visit_salt') / 8192 - 1) b,
       LATERAL heap_page_items(get_raw_page('customer_tracking_visit_salt', b::int)) i
 WHERE i.t_xmax <> 0 AND position(:'salt0'::bytea IN i.t_data) = 0;
-- Yesterday's hashes are gone; today the same visitor has another hash.
SELECT count(*) FILTER (WHERE day < (now() AT TIME ZONE 'UTC')::date + 1) AS past_hashes,
       count(*) FILTER (WHERE visitor = :'hash0'::uuid) AS same_hash_as_yesterday
  FROM customer_tracking_visitors;

-- A transaction that began before midnight (its clock still on yesterday) once today's salt
-- exists: its visit counts on yesterday, without a unique visitor, and brings no salt back.
SET customer_tracking.visit_day_offset = 0;
SELECT customer_tracking_record_visit('ct45-a', 'ip 9 / ua 9');
SELECT * FROM ct45.counts();
SELECT count(*) AS salts, array_agg(day - (now() AT TIME ZONE 'UTC')::date ORDER BY day) AS day_offsets FROM customer_tracking_visit_salt;
-- Back to tomorrow: the same salt as before, so a visitor already seen is not new.
SET customer_tracking.visit_day_offset = 1;
SELECT customer_tracking_record_visit('ct45-a', 'ip 3 / ua 3');
SELECT * FROM ct45.counts() WHERE day_offset = 1;

--------------------------------------------------------------------------------
-- The funnel against a recomputation: orders via two slugs of shop A (one with visits, one
-- without a user_shops slug) and without a slug, paid, pending and refunded, on several days;
-- visits from a loop whose expected counts are computed from the same series.
--------------------------------------------------------------------------------
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT :sa, 'Buyer ' || p, '0244500' || lpad(p::text, 3, '0'), 'MTN', 5 + i * 0.5,
       CASE WHEN i % 5 = 0 THEN 'pending' WHEN i % 7 = 0 THEN 'refunded' ELSE 'paid' END,
       (ARRAY['ct45-a', 'ct45-promo', NULL])[1 + i % 3],
       date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '3 days' + i * interval '2 hours 13 minutes'
  FROM generate_series(1, 40) i, LATERAL (SELECT (i * 7) % 13 AS p) q;
SET customer_tracking.visit_day_offset = 1;
SELECT count(customer_tracking_record_visit(CASE WHEN i % 4 = 0 THEN 'ct45-b' ELSE 'ct45-a' END,
                                            CASE WHEN i % 9 = 0 THEN NULL ELSE 'v' || (i % 23) END))
  FROM generate_series(1, 300) i;
RESET customer_tracking.visit_day_offset;

-- Visits: every call made in this test, by slug, over all days (unique visitors = the sum of
-- each day's).
CREATE TABLE ct45.calls (slug text, day_offset integer, visitor text);
INSERT INTO ct45.calls VALUES
  ('ct45-a', 0, 'ip 1 / ua 1'), ('ct45-a', 0, 'ip 1 / ua 1'), ('ct45-a', 0, 'ip 2 / ua 1'),
  ('ct45-a', 0, repeat('v', 1024)), ('ct45-a', 0, NULL), ('ct45-a', 0, NULL), ('ct45-b', 0, 'ip 1 / ua 1'),
  ('ct45-a', 1, 'ip 1 / ua 1'), ('ct45-a', 1, 'ip 1 / ua 1'), ('ct45-a', 1, 'ip 3 / ua 3'),
  ('ct45-a', 0, NULL),  -- the straggler of yesterday: a visit, no unique visitor
  ('ct45-a', 1, 'ip 3 / ua 3');
INSERT INTO ct45.calls
SELECT CASE WHEN i % 4 = 0 THEN 'ct45-b' ELSE 'ct45-a' END, 1,
       CASE WHEN i % 9 = 0 THEN NULL ELSE 'v' || (i % 23) END
  FROM generate_series(1, 300) i;
CREATE TABLE ct45.expected_visits AS
SELECT slug, sum(visits)::bigint AS visits, sum(uniques)::bigint AS unique_visitors
  FROM (SELECT slug, day_offset, count(*) AS visits, count(DISTINCT visitor) AS uniques
          FROM ct45.calls GROUP BY 1, 2) d
 GROUP BY 1;

-- Orders: recomputed from shop_orders (statuses as the trigger classifies them; every phone
-- here is valid, so every order is tracked).
CREATE FUNCTION ct45.expected_funnel(p_shop uuid, p_from date, p_to date)
RETURNS TABLE (slug text, visits bigint, unique_visitors bigint, checkouts bigint, paid_orders bigint,
               revenue numeric, new_customers bigint, returning_customers bigint)
LANGUAGE sql AS $$
    WITH o AS (
        SELECT o.id, o.shop_slug AS slug, o.total_price AS amount, o.created_at,
               (o.created_at AT TIME ZONE 'UTC')::date AS day,
               customer_tracking_status_class(o.payment_status) = 'paid' AS paid,
               normalize_phone(o.customer_phone) AS phone
          FROM shop_orders o WHERE o.shop_id = p_shop
    ), first_overall AS (
        SELECT DISTINCT ON (phone) phone, slug, day FROM o WHERE paid ORDER BY phone, created_at, id
    ), first_via_slug AS (
        SELECT DISTINCT ON (phone, slug) phone, slug, day FROM o WHERE paid ORDER BY phone, slug, created_at, id
    ), in_period AS (
        SELECT * FROM o WHERE (p_from IS NULL OR day >= p_from) AND (p_to IS NULL OR day <= p_to)
    ), orders AS (
        SELECT slug, count(*) AS checkouts, count(*) FILTER (WHERE paid) AS paid_orders,
               coalesce(sum(amount) FILTER (WHERE paid), 0) AS revenue
          FROM in_period GROUP BY slug
    ), acquired AS (
        SELECT f.slug, count(*) AS customers,
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM first_overall n
                                              WHERE n.phone = f.phone AND n.slug IS NOT DISTINCT FROM f.slug)) AS new_customers
          FROM first_via_slug f
         WHERE (p_from IS NULL OR f.day >= p_from) AND (p_to IS NULL OR f.day <= p_to)
         GROUP BY f.slug
    ), visits AS (
        SELECT v.slug, sum(v.visits)::bigint AS visits, sum(v.unique_visitors)::bigint AS unique_visitors
          FROM (SELECT c.slug, c.day_offset, count(*) AS visits, count(DISTINCT c.visitor) AS unique_visitors
                  FROM ct45.calls c
                 WHERE c.slug = (SELECT shop_slug FROM user_shops WHERE id = p_shop)
                   AND (p_from IS NULL OR (now() AT TIME ZONE 'UTC')::date + c.day_offset >= p_from)
                   AND (p_to IS NULL OR (now() AT TIME ZONE 'UTC')::date + c.day_offset <= p_to)
                 GROUP BY 1, 2) v
         GROUP BY 1
    )
    SELECT coalesce(x.slug, v.slug), coalesce(v.visits, 0), coalesce(v.unique_visitors, 0),
           coalesce(x.checkouts, 0), coalesce(x.paid_orders, 0), coalesce(x.revenue, 0),
           coalesce(x.new_customers, 0), coalesce(x.customers - x.new_customers, 0)
      FROM (SELECT coalesce(r.slug, a.slug) AS slug, r.checkouts, r.paid_orders, r.revenue,
                   coalesce(a.customers, 0) AS customers, coalesce(a.new_customers, 0) AS new_customers
              FROM orders r FULL JOIN acquired a ON coalesce(a.slug, '') = coalesce(r.slug, '')) x
      FULL JOIN visits v ON v.slug = x.slug
$$;

SELECT * FROM ct45.expected_visits ORDER BY slug;
SELECT slug, visits, unique_visitors, checkouts, paid_orders, visit_to_checkout, checkout_to_paid,
       visit_to_paid, revenue, revenue_per_visit, new_customers, returning_customers
  FROM shop_slug_funnel(:sa, NULL, NULL);
-- Equal to the recomputation, all time and over windows of days (the function's bounds are
-- UTC days, from p_from's to p_to's).
CREATE TABLE ct45.windows AS
SELECT w, f, t FROM (VALUES
    (1, NULL::integer, NULL::integer), (2, -3, 0), (3, -2, -1), (4, 0, 0), (5, 1, 1), (6, -1, 1), (7, -10, -4)
  ) v(w, df, dt),
  LATERAL (SELECT (now() AT TIME ZONE 'UTC')::date + df AS f, (now() AT TIME ZONE 'UTC')::date + dt AS t) d;
SELECT w.w, s.id = :sa AS shop_a,
       (SELECT count(*) FROM (
            (SELECT slug, visits, unique_visitors, checkouts, paid_orders, revenue, new_customers, returning_customers
               FROM shop_slug_funnel(s.id, w.f::timestamp AT TIME ZONE 'UTC', w.t::timestamp AT TIME ZONE 'UTC' + interval '23 hours')
             EXCEPT ALL
             SELECT * FROM ct45.expected_funnel(s.id, w.f, w.t)
              WHERE visits <> 0 OR checkouts <> 0 OR new_customers <> 0 OR returning_customers <> 0)
            UNION ALL
            (SELECT * FROM ct45.expected_funnel(s.id, w.f, w.t)
              WHERE visits <> 0 OR checkouts <> 0 OR new_customers <> 0 OR returning_customers <> 0
             EXCEPT ALL
             SELECT slug, visits, unique_visitors, checkouts, paid_orders, revenue, new_customers, returning_customers
               FROM shop_slug_funnel(s.id, w.f::timestamp AT TIME ZONE 'UTC', w.t::timestamp AT TIME ZONE 'UTC' + interval '23 hours'))
        ) d) AS differences,
       (SELECT count(*) FROM shop_slug_funnel(s.id, w.f::timestamp AT TIME ZONE 'UTC', w.t::timestamp AT TIME ZONE 'UTC')) AS slugs
  FROM ct45.windows w, (VALUES (:sa::uuid), (:sb::uuid)) s(id)
 ORDER BY 1, 2 DESC;
-- The rates and revenue per visit from the counts.
SELECT slug,
       visit_to_checkout = CASE WHEN visits = 0 THEN 0 ELSE round(100.0 * checkouts / visits, 1) END
   AND checkout_to_paid = CASE WHEN checkouts = 0 THEN 0 ELSE round(100.0 * paid_orders / checkouts, 1) END
   AND visit_to_paid = CASE WHEN visits = 0 THEN 0 ELSE round(100.0 * paid_orders / visits, 1) END
   AND revenue_per_visit = CASE WHEN visits = 0 THEN 0 ELSE round(revenue / visits, 2) END AS rates_ok
  FROM shop_slug_funnel(:sa, NULL, NULL) ORDER BY slug;
-- The orders' side is shop_slug_analytics()'s.
SELECT count(*) AS differences_from_slug_analytics
  FROM shop_slug_funnel(:sa, NULL, NULL) f
  FULL JOIN shop_slug_analytics(:sa) a ON coalesce(a.slug, '') = coalesce(f.slug, '')
 WHERE (f.checkouts <> 0 OR f.new_customers <> 0 OR f.returning_customers <> 0 OR a.slug IS NOT NULL)
   AND (a.checkouts IS DISTINCT FROM f.checkouts OR a.purchases IS DISTINCT FROM f.paid_orders
        OR a.revenue IS DISTINCT FROM f.revenue OR a.new_customers IS DISTINCT FROM f.new_customers
        OR a.customers - a.new_customers IS DISTINCT FROM f.returning_customers);
SELECT count(*) AS verify_rows FROM customer_tracking_verify(:sa);

--------------------------------------------------------------------------------
-- Row-level security: an owner sees their own shop's funnel and counters, nothing of another's;
-- a role without claims sees nothing.
--------------------------------------------------------------------------------
SET ROLE ct45_owner;
SET request.jwt.claims = :'claims_a';
SELECT count(*) AS a_sees_a, (SELECT count(*) FROM shop_slug_funnel(:sb, NULL, NULL)) AS a_sees_b,
       (SELECT count(DISTINCT shop_id) FROM customer_tracking_slug_visits) AS counter_shops
  FROM shop_slug_funnel(:sa, NULL, NULL);
SET request.jwt.claims = :'claims_b';
SELECT count(*) AS b_sees_a, (SELECT count(*) FROM shop_slug_funnel(:sb, NULL, NULL)) AS b_sees_b
  FROM shop_slug_funnel(:sa, NULL, NULL);
RESET request.jwt.claims;
SELECT count(*) AS nobody_sees_a FROM shop_slug_funnel(:sa, NULL, NULL);
SELECT count(*) FROM customer_tracking_visitors;
RESET ROLE;

--------------------------------------------------------------------------------
-- Rotation by a scheduler: past salts destroyed and hashes deleted at once; today's and
-- tomorrow's salts made.
--------------------------------------------------------------------------------
SET customer_tracking.visit_day_offset = 2;
SELECT customer_tracking_visits_rotate() AS hashes_deleted;
SELECT count(*) AS salts, array_agg(day - (now() AT TIME ZONE 'UTC')::date ORDER BY day) AS day_offsets FROM customer_tracking_visit_salt;
SELECT count(*) AS hashes FROM customer_tracking_visitors;
RESET customer_tracking.visit_day_offset;

DROP EXTENSION pageinspect;
DROP SCHEMA ct45 CASCADE;
