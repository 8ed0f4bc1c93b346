-- Row-level security through every dashboard function and table. Without an auth schema the
-- owner is the sub of the PostgREST claims (request.jwt.claims, or the older
-- request.jwt.claim.sub). An owner sees exactly their own shops' numbers (the same as the
-- superuser sees, which 10_dashboard_recompute checks against shop_orders) and nothing of any
-- other shop: zeros and no rows, never an error and never another shop's figures. A role
-- without claims sees nothing. Nobody but the trigger writes the extension's tables, whoever
-- inserts the order.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
\set sa '''d1300000-0000-0000-0000-00000000000a'''
\set sa2 '''d1300000-0000-0000-0000-0000000000a2'''
\set sb '''d1300000-0000-0000-0000-00000000000b'''
\set claims_a '{"sub": "e1300000-0000-0000-0000-00000000000a", "role": "authenticated"}'
\set claims_b '{"sub": "e1300000-0000-0000-0000-00000000000b", "role": "authenticated"}'

-- Roles of an earlier, interrupted run.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['ct13_owner_a', 'ct13_owner_b', 'ct13_stranger'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('DROP OWNED BY %I', r);
            EXECUTE format('DROP ROLE %I', r);
        END IF;
    END LOOP;
END
$$;
DROP SCHEMA IF EXISTS ct13 CASCADE;
CREATE ROLE ct13_owner_a NOLOGIN;
CREATE ROLE ct13_owner_b NOLOGIN;
CREATE ROLE ct13_stranger NOLOGIN;

INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('d1300000-0000-0000-0000-00000000000a', 'e1300000-0000-0000-0000-00000000000a', 'ct13-a'),
  ('d1300000-0000-0000-0000-0000000000a2', 'e1300000-0000-0000-0000-00000000000a', 'ct13-a2'),
  ('d1300000-0000-0000-0000-00000000000b', 'e1300000-0000-0000-0000-00000000000b', 'ct13-b');
-- Three shops, two owners; some phones buy in both A's and B's shops.
INSERT INTO shop_orders (shop_id, customer_name, customer_email, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT s.id, 'Buyer ' || p, 'buyer' || p || '@example.com', '0241300' || lpad(p::text, 3, '0'),
       (ARRAY['MTN', 'Telecel', 'AirtelTigo'])[1 + (i + p) % 3], s.k * 10 + i * 0.25,
       CASE WHEN i % 7 = 0 THEN 'pending' WHEN i % 11 = 0 THEN 'refunded' ELSE 'paid' END,
       (ARRAY['ig', 'wa', NULL])[1 + i % 3],
       '2026-01-01 00:00+00'::timestamptz + i * interval '13 hours 7 minutes'
  FROM (VALUES ('d1300000-0000-0000-0000-00000000000a'::uuid, 1, 40), ('d1300000-0000-0000-0000-0000000000a2', 2, 12),
               ('d1300000-0000-0000-0000-00000000000b', 3, 30)) s(id, k, n),
       generate_series(1, s.n) i, LATERAL (SELECT (i * 7) % (s.n / 3 + 2) AS p) q;

-- Everything a dashboard shows of one shop, as (function, row number, row text): every
-- function, plus the shop's rows in each of the extension's tables. History is shown for the
-- customer ids in ct13.customers (known in advance, whoever asks). SECURITY INVOKER, like the
-- functions: row-level security applies to the caller.
CREATE SCHEMA ct13;
CREATE TABLE ct13.customers AS
SELECT shop_id, id FROM shop_customers WHERE shop_id IN (:sa, :sa2, :sb);
CREATE FUNCTION ct13.snapshot(p_shop uuid)
RETURNS TABLE (fn text, n bigint, val text)
LANGUAGE plpgsql AS $$
DECLARE
    v_customer uuid;
BEGIN
    RETURN QUERY SELECT 'shop_customer_metrics', x.n, row(x.a, x.b, x.c, x.d, x.e, x.f, x.g)::text
      FROM shop_customer_metrics(p_shop, '2026-01-20 00:00+00') WITH ORDINALITY x(a, b, c, d, e, f, g, n);
    RETURN QUERY SELECT 'shop_customer_overview', 1::bigint, shop_customer_overview(p_shop);
    RETURN QUERY SELECT 'customer_tracking_new_customers', 1::bigint,
                        customer_tracking_new_customers(p_shop, '2026-01-01 00:00+00', '2026-01-15 12:00+00')::text;
    RETURN QUERY SELECT 'shop_slug_analytics', x.n, row(x.a, x.b, x.c, x.d, x.e, x.f, x.g, x.h)::text
      FROM shop_slug_analytics(p_shop) WITH ORDINALITY x(a, b, c, d, e, f, g, h, n);
    RETURN QUERY SELECT 'shop_slug_analytics (period)', x.n, row(x.a, x.b, x.c, x.d, x.e, x.f, x.g, x.h)::text
      FROM shop_slug_analytics(p_shop, '2026-01-05', '2026-01-12') WITH ORDINALITY x(a, b, c, d, e, f, g, h, n);
    RETURN QUERY SELECT 'shop_customer_list', x.n, row(x.a, x.b, x.c, x.d, x.e, x.f, x.g, x.h, x.i, x.j, x.k)::text
      FROM shop_customer_list(p_shop, p_limit => 500) WITH ORDINALITY x(a, b, c, d, e, f, g, h, i, j, k, l, m, n);
    RETURN QUERY SELECT 'shop_customer_list (search, repeat)', x.n, row(x.a, x.b)::text
      FROM shop_customer_list(p_shop, 'buyer', true, 'total_spent', 500) WITH ORDINALITY x(a, b, c, d, e, f, g, h, i, j, k, l, m, n);
    RETURN QUERY SELECT 'shop_customer_list (phone)', x.n, row(x.a, x.b)::text
      FROM shop_customer_list(p_shop, '024 130 0001') WITH ORDINALITY x(a, b, c, d, e, f, g, h, i, j, k, l, m, n);
    RETURN QUERY SELECT 'shop_network_analytics', x.n, row(x.a, x.b, x.c, x.d)::text
      FROM shop_network_analytics(p_shop) WITH ORDINALITY x(a, b, c, d, n);
    RETURN QUERY SELECT 'shop_purchase_frequency', x.n, row(x.a, x.b, x.c)::text
      FROM shop_purchase_frequency(p_shop) WITH ORDINALITY x(a, b, c, n);
    RETURN QUERY SELECT 'shop_last_purchase_decay', x.n, row(x.a, x.b, x.c, x.d, x.e)::text
      FROM shop_last_purchase_decay(p_shop, '2026-01-20 00:00+00') WITH ORDINALITY x(a, b, c, d, e, n);
    RETURN QUERY SELECT 'shop_daily_series', x.n, row(x.a, x.b, x.c, x.d, x.e)::text
      FROM shop_daily_series(p_shop, '2025-12-30', '2026-01-25') WITH ORDINALITY x(a, b, c, d, e, n);
    FOR v_customer IN SELECT c.id FROM ct13.customers c WHERE c.shop_id = p_shop ORDER BY c.id LOOP
        BEGIN
            RETURN QUERY SELECT 'customer_purchase_history', x.n, row(v_customer, x.a, x.b, x.c, x.d, x.e, x.f, x.g, x.h)::text
              FROM customer_purchase_history(v_customer) WITH ORDINALITY x(a, b, c, d, e, f, g, h, n);
        EXCEPTION WHEN OTHERS THEN
            RETURN QUERY SELECT 'customer_purchase_history', 0::bigint, 'ERROR: ' || SQLERRM;
        END;
    END LOOP;
    RETURN QUERY SELECT 'table ' || t.name, 1::bigint, t.rows::text
      FROM (VALUES ('shop_customers', (SELECT count(*) FROM shop_customers WHERE shop_id = p_shop)),
                   ('customer_tracking', (SELECT count(*) FROM customer_tracking WHERE shop_id = p_shop)),
                   ('customer_tracking_slug_customers', (SELECT count(*) FROM customer_tracking_slug_customers WHERE shop_id = p_shop)),
                   ('customer_tracking_shop_totals', (SELECT count(*) FROM customer_tracking_shop_totals WHERE shop_id = p_shop)),
                   ('customer_tracking_daily', (SELECT count(*) FROM customer_tracking_daily WHERE shop_id = p_shop)),
                   ('customer_tracking_slug_daily', (SELECT count(*) FROM customer_tracking_slug_daily WHERE shop_id = p_shop)),
                   ('customer_tracking_network_totals', (SELECT count(*) FROM customer_tracking_network_totals WHERE shop_id = p_shop)),
                   ('customer_tracking_frequency', (SELECT count(*) FROM customer_tracking_frequency WHERE shop_id = p_shop))) t(name, rows);
END
$$;
-- What the superuser sees of each shop, and of a shop that does not exist ("nothing").
CREATE TABLE ct13.truth AS
SELECT s.label, x.* FROM (VALUES ('A', :sa::uuid), ('A2', :sa2), ('B', :sb), ('nothing', 'd1300000-0000-0000-0000-0000000000ff')) s(label, id),
       LATERAL ct13.snapshot(s.id) x;
-- The superuser's view is not empty: every function has rows for every real shop.
SELECT label, count(*) AS rows, count(DISTINCT fn) AS functions_and_tables,
       count(*) FILTER (WHERE val LIKE 'ERROR%') AS errors
  FROM ct13.truth GROUP BY label ORDER BY label;
-- For the current role: per shop, does it see that shop's real numbers, or nothing?
CREATE FUNCTION ct13.sees()
RETURNS TABLE (shop text, sees text, differing text)
LANGUAGE sql AS $$
    WITH shops(label, id) AS (VALUES ('A', 'd1300000-0000-0000-0000-00000000000a'::uuid),
                                     ('A2', 'd1300000-0000-0000-0000-0000000000a2'), ('B', 'd1300000-0000-0000-0000-00000000000b')),
    actual AS MATERIALIZED (SELECT s.label, x.* FROM shops s, LATERAL ct13.snapshot(s.id) x),
    diff AS (   -- rows that differ from the shop's real numbers ('real') or from nothing ('nothing')
        SELECT s.label, k.kind, d.fn
          FROM shops s, (VALUES ('real'), ('nothing')) k(kind),
               LATERAL ((SELECT a.fn, a.n, a.val FROM actual a WHERE a.label = s.label
                         EXCEPT ALL
                         SELECT t.fn, t.n, t.val FROM ct13.truth t WHERE t.label = CASE k.kind WHEN 'real' THEN s.label ELSE 'nothing' END)
                        UNION ALL
                        (SELECT t.fn, t.n, t.val FROM ct13.truth t WHERE t.label = CASE k.kind WHEN 'real' THEN s.label ELSE 'nothing' END
                         EXCEPT ALL
                         SELECT a.fn, a.n, a.val FROM actual a WHERE a.label = s.label)) d
    )
    SELECT s.label,
           CASE WHEN NOT EXISTS (SELECT 1 FROM diff d WHERE d.label = s.label AND d.kind = 'real') THEN 'its numbers'
                WHEN NOT EXISTS (SELECT 1 FROM diff d WHERE d.label = s.label AND d.kind = 'nothing') THEN 'nothing'
                ELSE 'SOMETHING ELSE' END,
           -- what is neither the shop's numbers nor nothing
           (SELECT string_agg(DISTINCT d.fn, ', ' ORDER BY d.fn) FROM diff d
             WHERE d.label = s.label AND d.kind = 'real'
               AND d.fn IN (SELECT d2.fn FROM diff d2 WHERE d2.label = s.label AND d2.kind = 'nothing'))
      FROM shops s ORDER BY s.label
$$;
GRANT USAGE ON SCHEMA ct13 TO ct13_owner_a, ct13_owner_b, ct13_stranger;
GRANT SELECT ON ALL TABLES IN SCHEMA ct13 TO ct13_owner_a, ct13_owner_b, ct13_stranger;
-- What an app role has: read (and place orders in) the host tables, read the extension's
-- tables (row-level security decides which rows).
GRANT SELECT, INSERT, UPDATE ON shop_orders TO ct13_owner_a, ct13_owner_b, ct13_stranger;
GRANT SELECT ON user_shops TO ct13_owner_a, ct13_owner_b, ct13_stranger;
GRANT SELECT ON shop_customers, customer_tracking, customer_tracking_slug_customers, customer_tracking_shop_totals,
                customer_tracking_daily, customer_tracking_slug_daily, customer_tracking_network_totals,
                customer_tracking_frequency TO ct13_owner_a, ct13_owner_b, ct13_stranger;

--------------------------------------------------------------------------------
-- 1. Owner A: A's two shops, nothing of B's.
--------------------------------------------------------------------------------
SET ROLE ct13_owner_a;
SET request.jwt.claims = :'claims_a';
SELECT * FROM ct13.sees();
SELECT * FROM shop_customer_metrics(:sa, '2026-01-20 00:00+00');
SELECT * FROM shop_customer_metrics(:sb, '2026-01-20 00:00+00');
SELECT shop_customer_overview(:sb);
SELECT count(*) AS b_customers_listed FROM shop_customer_list(:sb);
-- B's customer with the phone A's shop also sells to: only A's customer is found.
SELECT l.id = customer_tracking_customer_id(:sa, '+233241300001') AS is_a_customer, l.total_purchases
  FROM shop_customer_list(:sa, '024 130 0001') l;
SELECT count(*) AS b_history_rows
  FROM ct13.customers c, LATERAL customer_purchase_history(c.id) h WHERE c.shop_id = :sb;
-- Asking for everything, A gets only A's rows.
SELECT (SELECT array_agg(DISTINCT shop_id ORDER BY shop_id) FROM shop_customers) AS customers_of,
       (SELECT array_agg(DISTINCT shop_id ORDER BY shop_id) FROM customer_tracking) AS tracking_of,
       (SELECT array_agg(DISTINCT shop_id ORDER BY shop_id) FROM customer_tracking_daily) AS daily_of;
RESET ROLE;

--------------------------------------------------------------------------------
-- 2. Owner B: B's shop only.
--------------------------------------------------------------------------------
SET ROLE ct13_owner_b;
SET request.jwt.claims = :'claims_b';
SELECT * FROM ct13.sees();
SELECT * FROM shop_customer_metrics(:sa, '2026-01-20 00:00+00');
-- The older PostgREST setting works too; request.jwt.claims wins when both are set.
RESET request.jwt.claims;
SET request.jwt.claim.sub = 'e1300000-0000-0000-0000-00000000000b';
SELECT * FROM ct13.sees();
SET request.jwt.claims = :'claims_a';
SELECT * FROM ct13.sees();
RESET request.jwt.claim.sub;
RESET request.jwt.claims;
RESET ROLE;

--------------------------------------------------------------------------------
-- 3. No owner: no claims, claims without sub, malformed claims, an unknown sub.
--------------------------------------------------------------------------------
SET ROLE ct13_stranger;
SELECT * FROM ct13.sees();
SELECT * FROM shop_customer_metrics(:sa, '2026-01-20 00:00+00');
SELECT shop_customer_overview(:sa);
SET request.jwt.claims = '{"role": "anon"}';
SELECT * FROM ct13.sees();
SET request.jwt.claims = 'not json';
SELECT * FROM ct13.sees();
SET request.jwt.claims = '{"sub": "not-a-uuid"}';
SELECT * FROM ct13.sees();
SET request.jwt.claims = '{"sub": "e1300000-0000-0000-0000-0000000000cc"}';
SELECT * FROM ct13.sees();
RESET request.jwt.claims;
RESET ROLE;

--------------------------------------------------------------------------------
-- 4. Writes: clients cannot write the extension's tables; an order placed by any role is
--    tracked (the trigger writes them), and the owner's numbers follow.
--------------------------------------------------------------------------------
SET ROLE ct13_owner_a;
SET request.jwt.claims = :'claims_a';
UPDATE shop_customers SET total_spent = 0;
DELETE FROM customer_tracking_shop_totals;
INSERT INTO customer_tracking_daily (shop_id, day, stripe, purchases) VALUES (:sa, '2026-01-01', 0, 1000);
SELECT total_customers, total_revenue FROM shop_customer_metrics(:sa);
RESET request.jwt.claims;
RESET ROLE;
-- A customer with no claims at all (the anon checkout) places an order in A's shop, and
-- pays it later: the first thing a fresh session does (so the trigger sets itself up for a
-- role that cannot read the extension's settings).
\c -
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SET ROLE ct13_stranger;
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
VALUES ('c1300000-0000-0000-0000-000000000001', :sa, 'Walk-in', '0277777777', 'MTN', 55.55, 'pending', 'ig', '2026-01-19 10:00+00');
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c1300000-0000-0000-0000-000000000001';
SELECT count(*) AS stranger_sees_customers FROM shop_customers;
RESET ROLE;
SET ROLE ct13_owner_a;
SET request.jwt.claims = :'claims_a';
SELECT total_customers, total_revenue, new_customers_30d FROM shop_customer_metrics(:sa, '2026-01-20 00:00+00');
SELECT customer_name, total_purchases, total_spent FROM shop_customer_list(:sa, 'walk-in');
RESET request.jwt.claims;
RESET ROLE;
-- The superuser agrees, and everything is still consistent with shop_orders.
SELECT total_customers, total_revenue, new_customers_30d FROM shop_customer_metrics(:sa, '2026-01-20 00:00+00');
SELECT count(*) AS verify_problems FROM customer_tracking_verify() WHERE shop_id IN (:sa, :sa2, :sb);

--------------------------------------------------------------------------------
-- 5. Where the owner comes from is fixed at CREATE EXTENSION: an auth schema created later
--    (by anyone) is never called; the claims still decide.
--------------------------------------------------------------------------------
TRUNCATE ct13.truth;
INSERT INTO ct13.truth
SELECT s.label, x.* FROM (VALUES ('A', :sa::uuid), ('A2', :sa2), ('B', :sb), ('nothing', 'd1300000-0000-0000-0000-0000000000ff')) s(label, id),
       LATERAL ct13.snapshot(s.id) x;
BEGIN;
CREATE SCHEMA auth;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT 'e1300000-0000-0000-0000-00000000000b'::uuid $$;
GRANT USAGE ON SCHEMA auth TO ct13_owner_a;
SET LOCAL ROLE ct13_owner_a;
SET LOCAL request.jwt.claims = :'claims_a';
SELECT * FROM ct13.sees();
ROLLBACK;

-- Clean up.
DELETE FROM user_shops WHERE id IN (:sa, :sa2, :sb);
DROP SCHEMA ct13 CASCADE;
REVOKE ALL ON shop_orders, user_shops, shop_customers, customer_tracking, customer_tracking_slug_customers,
              customer_tracking_shop_totals, customer_tracking_daily, customer_tracking_slug_daily,
              customer_tracking_network_totals, customer_tracking_frequency
  FROM ct13_owner_a, ct13_owner_b, ct13_stranger;
DROP OWNED BY ct13_owner_a, ct13_owner_b, ct13_stranger;
DROP ROLE ct13_owner_a;
DROP ROLE ct13_owner_b;
DROP ROLE ct13_stranger;
RESET client_min_messages;
