-- Loyalty tiers: customer_tracking_set_tiers() input checks, each customer's
-- tier and progress, the summary, the preview, the changes and the customer list's tier,
-- compared with a recomputation from shop_orders written here (not from the extension's
-- tables) at instants on every window boundary, in several session time zones, after
-- payments, refunds, deletions and moves between shops; row-level security and ownership.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
\set VERBOSITY terse
\set sa '''a1400000-0000-0000-0000-00000000000a'''
\set sb '''a1400000-0000-0000-0000-00000000000b'''
\set sc '''a1400000-0000-0000-0000-00000000000c'''
\set claims_a '{"sub": "b1400000-0000-0000-0000-00000000000a", "role": "authenticated"}'
\set claims_b '{"sub": "b1400000-0000-0000-0000-00000000000b", "role": "authenticated"}'

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['ct40_owner', 'ct40_nobody'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('DROP OWNED BY %I', r);
            EXECUTE format('DROP ROLE %I', r);
        END IF;
    END LOOP;
END
$$;
DROP SCHEMA IF EXISTS ct40 CASCADE;
CREATE ROLE ct40_owner NOLOGIN;
CREATE ROLE ct40_nobody NOLOGIN;
CREATE SCHEMA ct40;
GRANT USAGE ON SCHEMA ct40 TO PUBLIC;

-- A and C belong to owner a, B to owner b.
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  (:sa, 'b1400000-0000-0000-0000-00000000000a', 'ct40-a'),
  (:sb, 'b1400000-0000-0000-0000-00000000000b', 'ct40-b'),
  (:sc, 'b1400000-0000-0000-0000-00000000000a', 'ct40-c');

-- Shop A: purchases around the rolling window's edges (12 months, counted in UTC; 29 February).
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at) VALUES
  ('c1400000-0000-0000-0000-000000000001', :sa, '0241400001', 100, 'paid',     '2025-02-10 12:00+00'),
  ('c1400000-0000-0000-0000-000000000002', :sa, '0241400001', 150, 'paid',     '2025-03-10 12:00+00'),
  ('c1400000-0000-0000-0000-000000000003', :sa, '024 140 0001', 80, 'paid',    '2025-06-01 00:00+00'),
  ('c1400000-0000-0000-0000-000000000004', :sa, '+233241400001', 60, 'paid',   '2026-01-15 09:30+00'),
  ('c1400000-0000-0000-0000-000000000005', :sa, '0241400002', 400, 'paid',     '2024-02-29 10:00+00'),
  ('c1400000-0000-0000-0000-000000000006', :sa, '0241400002', 10, 'paid',      '2024-03-05 10:00+00'),
  ('c1400000-0000-0000-0000-000000000007', :sa, '0241400003', 70, 'paid',      '2025-11-20 08:00+00'),
  ('c1400000-0000-0000-0000-000000000008', :sa, '0241400003', 70, 'paid',      '2025-12-31 23:59:59.999999+00'),
  ('c1400000-0000-0000-0000-000000000009', :sa, '0241400003', 70, 'paid',      '2026-01-01 00:00+00'),
  ('c1400000-0000-0000-0000-000000000010', :sa, '0241400003', 70, 'paid',      '2026-03-01 00:00+00'),
  ('c1400000-0000-0000-0000-000000000011', :sa, '0241400003', 70, 'pending',   '2026-05-01 00:00+00'),
  ('c1400000-0000-0000-0000-000000000012', :sa, '0241400004', 500, 'refunded', '2026-02-01 00:00+00'),
  ('c1400000-0000-0000-0000-000000000013', :sa, '0241400004', 500, 'pending',  '2026-02-02 00:00+00'),
  ('c1400000-0000-0000-0000-000000000014', :sa, '0241400005', 50, 'paid',      '2026-11-01 00:00+00'),
  ('c1400000-0000-0000-0000-000000000015', :sa, '0241400006', 120, 'paid',     '2026-04-01 00:00+00'),
  ('c1400000-0000-0000-0000-000000000016', :sa, '0241400006', 300, 'paid',     '2027-01-10 00:00+00');
-- Shop B: one customer, who will receive an order moved from A.
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at) VALUES
  ('c1400000-0000-0000-0000-000000000021', :sb, '0241400001', 90, 'paid', '2026-02-01 00:00+00');
-- Shop C: calendar years in Tokyo (UTC+9): 2025-12-31 15:00 UTC is 1 January 2026 there.
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at) VALUES
  ('c1400000-0000-0000-0000-000000000031', :sc, '0241400031', 250, 'paid', '2025-12-31 14:59:59.999999+00'),
  ('c1400000-0000-0000-0000-000000000032', :sc, '0241400032', 250, 'paid', '2025-12-31 15:00+00'),
  ('c1400000-0000-0000-0000-000000000033', :sc, '0241400033', 120, 'paid', '2025-06-30 00:00+00'),
  ('c1400000-0000-0000-0000-000000000034', :sc, '0241400033', 100, 'paid', '2026-07-01 00:00+00');

-- Bad input: each refused with a message naming what is wrong; the stored tiers stay as they were.
SELECT rank, name FROM customer_tracking_set_tiers(:sa, '[{"name": "Keep", "min_purchases": 1}]');
SELECT customer_tracking_set_tiers(:sa, NULL);
SELECT customer_tracking_set_tiers(:sa, '"gold"');
SELECT customer_tracking_set_tiers(:sa, '{"levels": []}');
SELECT customer_tracking_set_tiers(:sa, '{"tiers": [], "time_zone": "Mars/Olympus"}');
SELECT customer_tracking_set_tiers(:sa, '[1]');
SELECT customer_tracking_set_tiers(:sa, '[{"min_spent": 10}]');
SELECT customer_tracking_set_tiers(:sa, '[{"name": "  "}]');
SELECT customer_tracking_set_tiers(:sa, '[{"name": "A"}, {"name": "a", "min_spent": 5}]');
SELECT customer_tracking_set_tiers(:sa, '[{"name": "A", "min_spend": 10}]');
SELECT customer_tracking_set_tiers(:sa, '[{"name": "A", "min_spent": "10"}]');
SELECT customer_tracking_set_tiers(:sa, '[{"name": "A", "min_spent": -1}]');
SELECT customer_tracking_set_tiers(:sa, '[{"name": "A", "min_purchases": 1.5}]');
SELECT customer_tracking_set_tiers(:sa, '[{"name": "A", "min_purchases": -2}]');
SELECT customer_tracking_set_tiers(:sa, '[{"name": "A", "window": "weekly"}]');
SELECT customer_tracking_set_tiers(:sa, '[{"name": "Gold", "min_spent": 500}, {"name": "Silver", "min_spent": 100}]');
SELECT customer_tracking_set_tiers(:sa, '[{"name": "A", "min_spent": 100}, {"name": "B", "min_spent": 100}]');
SELECT customer_tracking_set_tiers(:sa, (SELECT jsonb_agg(jsonb_build_object('name', 'T' || i, 'min_purchases', i)) FROM generate_series(1, 21) i));
SELECT customer_tracking_set_tiers('a1400000-0000-0000-0000-0000000000ff', '[]');
SELECT customer_tracking_set_tiers(NULL, '[]');
SELECT * FROM shop_tier_preview(:sa, '[{"name": "A", "window": "weekly"}]');
SELECT rank, name FROM shop_loyalty_tiers(:sa);

-- The tiers used below. Windows may differ per tier; thresholds are both required.
SELECT * FROM customer_tracking_set_tiers(:sa, '[{"name": "Bronze", "min_purchases": 1},
    {"name": "Silver", "min_spent": 100, "window": "rolling_12m"},
    {"name": "Gold", "min_spent": 200, "min_purchases": 3, "window": "rolling_12m"}]');
SELECT * FROM customer_tracking_set_tiers(:sb, '[{"name": "Regular", "min_purchases": 2}]');
SELECT * FROM customer_tracking_set_tiers(:sc, '{"time_zone": "Asia/Tokyo", "tiers": [
    {"name": "Member", "min_purchases": 1, "window": "calendar_year"},
    {"name": "VIP", "min_spent": 200, "window": "calendar_year"}]}');

-- The recomputation: from shop_orders alone (paid = 'paid' in these orders), per customer
-- (phone in E.164), with the windows written out: rolling = within a year before t in UTC,
-- calendar = the same year as t in the tiers' zone.
CREATE FUNCTION ct40.expected(p_shop uuid, p_at timestamptz)
RETURNS TABLE (customer_id uuid, rank integer, spent numeric)
LANGUAGE sql STABLE AS $$
    WITH o AS (SELECT customer_tracking_customer_id(o.shop_id, normalize_phone(o.customer_phone)) AS cid,
                      o.total_price AS amount, o.created_at AS at
                 FROM shop_orders o
                WHERE o.shop_id = p_shop AND o.payment_status = 'paid' AND o.created_at <= p_at),
         cfg AS (SELECT * FROM customer_tracking_tiers t WHERE t.shop_id = p_shop),
         s AS (SELECT o.cid, w.win, sum(o.amount) AS spent, count(*) AS n
                 FROM o CROSS JOIN (VALUES ('lifetime'), ('rolling_12m'), ('calendar_year')) w(win)
                WHERE w.win = 'lifetime'
                   OR w.win = 'rolling_12m' AND (o.at AT TIME ZONE 'UTC') > (p_at AT TIME ZONE 'UTC') - interval '1 year'
                   OR w.win = 'calendar_year'
                      AND extract(year FROM o.at AT TIME ZONE (SELECT min(time_zone) FROM cfg))
                        = extract(year FROM p_at AT TIME ZONE (SELECT min(time_zone) FROM cfg))
                GROUP BY o.cid, w.win)
    SELECT c.cid, coalesce((SELECT max(cfg.rank) FROM cfg JOIN s ON s.cid = c.cid AND s.win = cfg.tier_window
                             WHERE s.spent >= cfg.min_spent AND s.n >= cfg.min_purchases), 0)::integer,
           (SELECT s.spent FROM s WHERE s.cid = c.cid AND s.win = 'lifetime')
      FROM (SELECT DISTINCT o.cid FROM o) c
$$;
-- Instants on the boundaries (written with their offsets: the same instants in any TimeZone).
CREATE TABLE ct40.instants (at timestamptz PRIMARY KEY);
INSERT INTO ct40.instants VALUES
  ('2024-02-29 09:59:59.999999+00'), ('2024-02-29 10:00+00'), ('2025-02-28 23:59:59.999999+00'),
  ('2025-03-01 00:00+00'), ('2025-12-31 14:59:59.999999+00'), ('2025-12-31 15:00+00'),
  ('2025-12-31 23:59:59.999999+00'), ('2026-01-01 00:00+00'), ('2026-02-10 11:59:59.999999+00'),
  ('2026-02-10 12:00+00'), ('2026-03-10 11:59:59.999999+00'), ('2026-03-10 12:00+00'),
  ('2026-06-01 00:00+00'), ('2026-11-20 07:59:59.999999+00'), ('2026-11-20 08:00+00'),
  ('2026-12-31 14:59:59.999999+00'), ('2026-12-31 15:00+00'), ('2027-01-10 00:00+00'), ('2027-06-01 00:00+00');
-- Differences between the functions and the recomputation, over every shop, instant and
-- customer, in each of several session time zones: customer tier, and the summary's counts and
-- revenue per tier. The recomputation is made once per call (it names its zones itself).
CREATE FUNCTION ct40.mismatches()
RETURNS TABLE (zone text, what text, shop uuid, at timestamptz, customer uuid, got text, want text)
LANGUAGE plpgsql AS $$
DECLARE
    z text;
BEGIN
    CREATE TEMP TABLE want ON COMMIT DROP AS
    SELECT s.id AS shop, i.at, e.customer_id, e.rank, e.spent
      FROM (VALUES ('a1400000-0000-0000-0000-00000000000a'::uuid), ('a1400000-0000-0000-0000-00000000000b'),
                   ('a1400000-0000-0000-0000-00000000000c')) s(id)
      CROSS JOIN ct40.instants i CROSS JOIN LATERAL ct40.expected(s.id, i.at) e;
    FOREACH z IN ARRAY ARRAY['Asia/Tokyo', 'America/Los_Angeles', 'Pacific/Chatham'] LOOP
        PERFORM set_config('TimeZone', z, true);
        RETURN QUERY
        SELECT z, 'customer tier', c.shop_id, i.at, c.id, t.rank::text, coalesce(w.rank, 0)::text
          FROM shop_customers c
          CROSS JOIN ct40.instants i
          CROSS JOIN LATERAL shop_customer_tier(c.shop_id, c.id, i.at) t
          LEFT JOIN want w ON w.shop = c.shop_id AND w.at = i.at AND w.customer_id = c.id
         WHERE c.shop_id::text LIKE 'a1400000-%' AND t.rank IS DISTINCT FROM coalesce(w.rank, 0);
        RETURN QUERY
        SELECT z, 'summary', s.id, i.at, NULL::uuid, g.got, w.want
          FROM (VALUES ('a1400000-0000-0000-0000-00000000000a'::uuid), ('a1400000-0000-0000-0000-00000000000b'),
                       ('a1400000-0000-0000-0000-00000000000c')) s(id)
          CROSS JOIN ct40.instants i
          CROSS JOIN LATERAL (SELECT string_agg(format('%s:%s:%s', x.rank, x.customers, x.revenue), ' ' ORDER BY x.rank) AS got
                                FROM shop_tier_summary(s.id, i.at) x WHERE x.customers > 0) g
          CROSS JOIN LATERAL (SELECT string_agg(format('%s:%s:%s', y.rank, y.n, y.revenue), ' ' ORDER BY y.rank) AS want
                                FROM (SELECT w.rank, count(*) AS n, sum(w.spent) AS revenue
                                        FROM want w WHERE w.shop = s.id AND w.at = i.at GROUP BY w.rank) y) w
         WHERE g.got IS DISTINCT FROM w.want;
    END LOOP;
    DROP TABLE want;
END
$$;

SELECT * FROM ct40.mismatches();
-- What the comparison covers: customers per tier at a few instants, and the boundary cases.
SELECT i.at, string_agg(format('%s %s', coalesce(x.tier, '-'), x.customers), ', ' ORDER BY x.rank) AS shop_a
  FROM ct40.instants i, shop_tier_summary(:sa, i.at) x
 WHERE i.at IN ('2025-02-28 23:59:59.999999+00', '2025-03-01 00:00+00', '2026-03-10 11:59:59.999999+00',
                '2026-03-10 12:00+00', '2027-06-01 00:00+00')
 GROUP BY i.at ORDER BY i.at;
-- 29 February 2024 at 10:00 counts until the end of 28 February 2025 (no 29th), in any zone.
SET TimeZone = 'Pacific/Auckland';
SELECT at, t.tier, t.spent_in_window, t.purchases_in_window
  FROM (VALUES ('2025-02-28 23:59:59.999999+00'::timestamptz), ('2025-03-01 00:00+00')) v(at),
       shop_customer_tier(:sa, customer_tracking_customer_id(:sa, '+233241400002'), v.at) t;
-- Tokyo's calendar year: a purchase at 23:59:59.999999 on 31 December there counts in that year only.
SET TimeZone = 'America/New_York';
SELECT c.phone_number, v.at, t.tier, t.spent_in_window, t.tier_expires_at
  FROM shop_customers c,
       (VALUES ('2025-12-31 14:59:59.999999+00'::timestamptz), ('2025-12-31 15:00+00'), ('2026-07-01 00:00+00')) v(at),
       shop_customer_tier(:sc, c.id, v.at) t
 WHERE c.shop_id = :sc ORDER BY 1, 2;
SET TimeZone = 'UTC';

-- Progress: spend and purchases in the tier's window, what is missing for the next, and when the
-- tier ends without another purchase (the rank there is lower, just before it is not).
SELECT c.phone_number, t.*
  FROM shop_customers c, shop_customer_tier(:sa, c.id, '2026-06-01 00:00+00') t
 WHERE c.shop_id = :sa ORDER BY 1;
SELECT c.phone_number, t.tier_expires_at,
       (SELECT rank FROM shop_customer_tier(:sa, c.id, t.tier_expires_at - interval '1 microsecond')) AS rank_before,
       (SELECT rank FROM shop_customer_tier(:sa, c.id, t.tier_expires_at)) AS rank_at
  FROM shop_customers c, shop_customer_tier(:sa, c.id, '2026-06-01 00:00+00') t
 WHERE c.shop_id = :sa AND t.tier_expires_at IS NOT NULL ORDER BY 1;

-- Changes: every move in the period, each equal to the tiers just before and at its instant, and
-- chained per customer from the tier at the start to the tier at the end.
SELECT c.phone_number, x.changed_at, x.from_tier, x.to_tier, x.direction
  FROM shop_tier_changes(:sa, '2025-01-01 00:00+00', '2027-06-01 00:00+00') x
  JOIN shop_customers c ON c.id = x.customer_id
 ORDER BY x.changed_at, 1;
SELECT count(*) AS changes_not_matching_the_recomputation
  FROM shop_tier_changes(:sa, '2024-01-01 00:00+00', '2027-12-31 00:00+00') x
  LEFT JOIN ct40.expected(:sa, x.changed_at - interval '1 microsecond') b ON b.customer_id = x.customer_id
  LEFT JOIN ct40.expected(:sa, x.changed_at) a ON a.customer_id = x.customer_id
 WHERE coalesce(b.rank, 0) <> x.from_rank OR coalesce(a.rank, 0) <> x.to_rank;
SELECT count(*) AS broken_chains
  FROM (SELECT x.customer_id, x.from_rank,
               lag(x.to_rank) OVER (PARTITION BY x.customer_id ORDER BY x.changed_at) AS prev_to
          FROM shop_tier_changes(:sa, '2024-01-01 00:00+00', '2027-12-31 00:00+00') x) y
 WHERE y.prev_to IS NOT NULL AND y.prev_to <> y.from_rank;
SELECT * FROM shop_tier_changes(:sc, '2025-12-31 00:00+00', '2026-01-02 00:00+00') ORDER BY 2, 1;

-- The preview: the stored tiers give the summary; others spread the same customers differently.
SELECT (SELECT array_agg(x ORDER BY x.rank) FROM shop_tier_preview(:sa, (SELECT jsonb_agg(to_jsonb(t) - 'rank' - 'time_zone' ORDER BY t.rank) FROM shop_loyalty_tiers(:sa) t), '2026-06-01') x)
     = (SELECT array_agg(x ORDER BY x.rank) FROM shop_tier_summary(:sa, '2026-06-01') x) AS preview_equals_summary;
SELECT * FROM shop_tier_preview(:sa, '[{"name": "Big spender", "min_spent": 250}]', '2026-06-01');
SELECT rank, name FROM shop_loyalty_tiers(:sa);

-- The customer list shows each customer's tier now (as shop_customer_tier says) and filters by
-- it (p_tier), page by page with the list's cursor; the unfiltered list keeps its rows and order.
SELECT proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid)
  FROM pg_proc p WHERE p.proname IN ('shop_customer_list', 'shop_customer_tier_list') ORDER BY 1;
SELECT count(*) AS list_tier_differs
  FROM shop_customer_list(:sa, p_limit => 500) l,
       shop_customer_tier(:sa, l.id) t
 WHERE l.tier IS DISTINCT FROM t.tier;
SELECT (SELECT array_agg(l.id ORDER BY l.ordinality) FROM shop_customer_list(:sa, p_limit => 500) WITH ORDINALITY l)
     = (SELECT array_agg(c.id ORDER BY c.last_purchase_at DESC, c.id DESC) FROM shop_customers c
         WHERE c.shop_id = :sa AND c.total_purchases > 0) AS same_rows_same_order;
SELECT phone_number, total_spent, tier
  FROM shop_customer_list(:sa, p_tier => 'bronze', p_sort => 'total_spent');
SELECT phone_number, sort_value, tier
  FROM shop_customer_list(:sa, p_tier => 'Bronze', p_sort => 'total_spent', p_limit => 1);
SELECT phone_number, sort_value, tier
  FROM shop_customer_list(:sa, p_tier => 'Bronze', p_sort => 'total_spent', p_limit => 1,
       p_cursor => (SELECT cursor FROM shop_customer_list(:sa, p_tier => 'Bronze', p_sort => 'total_spent', p_limit => 1)));
-- Paging through one tier with a page of 1 returns the same customers as one page of 500.
WITH RECURSIVE pages(n, id, cursor) AS (
    SELECT 1, l.id, l.cursor FROM shop_customer_list(:sa, p_tier => 'Bronze', p_limit => 1) l
    UNION ALL
    SELECT p.n + 1, l.id, l.cursor FROM pages p,
           LATERAL shop_customer_list(:sa, p_tier => 'Bronze', p_limit => 1, p_cursor => p.cursor) l
)
SELECT (SELECT array_agg(id ORDER BY n) FROM pages)
     = (SELECT array_agg(l.id ORDER BY l.ordinality) FROM shop_customer_list(:sa, p_tier => 'Bronze', p_limit => 500) WITH ORDINALITY l)
       AS paged_tier_equals_one_page;
SELECT * FROM shop_customer_list(:sa, p_tier => 'Platinum');
SELECT count(*) FROM shop_customer_list(p_shop_id => :sa, p_repeat_only => true, p_sort => 'purchases', p_tier => 'silver');
-- A shop without tiers: tier is NULL; asking for a tier names the way to define them.
BEGIN;
SELECT count(*) AS tiers_left FROM customer_tracking_set_tiers(:sc, '[]');
SELECT count(*) AS rows, count(tier) AS with_tier FROM shop_customer_list(:sc);
SELECT * FROM shop_customer_list(:sc, p_tier => 'Bronze');
ROLLBACK;

-- Refunds, deletions, moves between shops, payments and edits count at once (at commit).
BEGIN;
UPDATE shop_orders SET payment_status = 'refunded' WHERE id = 'c1400000-0000-0000-0000-000000000009';
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c1400000-0000-0000-0000-000000000013';
COMMIT;
DELETE FROM shop_orders WHERE id = 'c1400000-0000-0000-0000-000000000003';
UPDATE shop_orders SET shop_id = :sb WHERE id = 'c1400000-0000-0000-0000-000000000002';
UPDATE shop_orders SET created_at = '2025-03-10 11:00+00', total_price = 151 WHERE id = 'c1400000-0000-0000-0000-000000000001';
UPDATE shop_orders SET customer_phone = '0241400005' WHERE id = 'c1400000-0000-0000-0000-000000000015';
SELECT * FROM ct40.mismatches();
SELECT c.shop_id = :sa AS in_a, c.phone_number, t.tier, t.spent_in_window
  FROM shop_customers c, shop_customer_tier(c.shop_id, c.id, '2026-03-01 00:00+00') t
 WHERE c.shop_id IN (:sa, :sb) ORDER BY 1 DESC, 2;

-- Row-level security and ownership. Owner a sees and sets A's tiers; owner b sees nothing of A
-- and may not set them; a role with no claims (like anon) neither; nobody writes the table.
GRANT USAGE ON SCHEMA ct40 TO ct40_owner, ct40_nobody;
SET ROLE ct40_owner;
SELECT set_config('request.jwt.claims', :'claims_a', false) IS NOT NULL AS as_owner_a;
SELECT tier, customers FROM shop_tier_summary(:sa, '2026-06-01');
SELECT rank, name FROM customer_tracking_set_tiers(:sa, '[{"name": "Bronze", "min_purchases": 1},
    {"name": "Silver", "min_spent": 100, "window": "rolling_12m"},
    {"name": "Gold", "min_spent": 200, "min_purchases": 3, "window": "rolling_12m"}]');
SELECT count(*) AS tiers_of_b_seen FROM shop_loyalty_tiers(:sb);
SELECT customer_tracking_set_tiers(:sb, '[]');
INSERT INTO customer_tracking_tiers (shop_id, rank, name) VALUES (:sa, 9, 'Mine');
SELECT customer_tracking_store_tiers(:sa, '[]');
SELECT set_config('request.jwt.claims', :'claims_b', false) IS NOT NULL AS as_owner_b;
SELECT * FROM shop_tier_summary(:sa, '2026-06-01');
SELECT * FROM shop_customer_tier(:sa, customer_tracking_customer_id(:sa, '+233241400003'), '2026-06-01');
SELECT * FROM shop_tier_changes(:sa, '2024-01-01', '2028-01-01');
SELECT * FROM shop_tier_preview(:sa, '[{"name": "X", "min_purchases": 1}]', '2026-06-01');
SELECT count(*) FROM shop_loyalty_tiers(:sa);
SELECT customer_tracking_set_tiers(:sa, '[]');
SELECT tier, customers FROM shop_tier_summary(:sb, '2026-06-01');
RESET ROLE;
SET ROLE ct40_nobody;
SELECT set_config('request.jwt.claims', '', false) IS NOT NULL AS no_claims;
SELECT * FROM shop_tier_summary(:sa, '2026-06-01');
SELECT count(*) FROM shop_loyalty_tiers(:sa);
SELECT customer_tracking_set_tiers(:sa, '[]');
SELECT customer_tracking_tiers_write(:sa, '[]');
RESET ROLE;
SELECT rank, name, "window" FROM shop_loyalty_tiers(:sa);

-- Removing the tiers: everyone is in no tier.
SELECT count(*) FROM customer_tracking_set_tiers(:sb, '[]');
SELECT * FROM shop_tier_summary(:sb, '2026-06-01');
SELECT tier, rank, next_tier FROM shop_customer_tier(:sb, customer_tracking_customer_id(:sb, '+233241400001'), '2026-06-01');
SELECT count(*) AS verify_rows FROM customer_tracking_verify();
DROP SCHEMA ct40 CASCADE;
DROP OWNED BY ct40_owner;
DROP OWNED BY ct40_nobody;
DROP ROLE ct40_owner;
DROP ROLE ct40_nobody;
RESET client_min_messages;
