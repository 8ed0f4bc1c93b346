-- shop_customer_list: search, repeat-only filter, sorts and keyset pagination.
-- Search: a phone typed in any format finds its customer; other text is found in the name or
-- email, case-insensitively, with % and _ taken literally. Keyset pagination: the next page
-- starts after the last row's cursor (or, deprecated, its sort_value and id); walking all pages
-- with small limits gives the
-- full list in the same order, with no row twice and none missing, whatever the session's
-- time zone and date style. Every list is also compared with a recomputation from shop_orders.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
\set l1 '''d1200000-0000-0000-0000-000000000001'''
\set l2 '''d1200000-0000-0000-0000-000000000002'''
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('d1200000-0000-0000-0000-000000000001', 'e1200000-0000-0000-0000-000000000001', 'ct12-list'),
  ('d1200000-0000-0000-0000-000000000002', 'e1200000-0000-0000-0000-000000000002', 'ct12-other');

-- Ties on purpose: equal last purchase times, equal totals, equal purchase counts.
INSERT INTO shop_orders (shop_id, customer_name, customer_email, customer_phone, network, total_price, payment_status, created_at) VALUES
  (:l1, 'Ama Mensah',   'ama.mensah@example.com', '+233241234567',   'MTN',     50.00, 'paid',      '2026-01-10 10:00+00'),
  (:l1, 'Ama Mensah',   'ama.mensah@example.com', '0241234567',      'MTN',     50.00, 'paid',      '2026-02-01 10:00+00'),
  (:l1, 'AMA Owusu',    NULL,                     '0501112222',      'Telecel', 100.00, 'paid',     '2026-02-01 10:00+00'),
  (:l1, 'Kofi Boateng', 'kofi_b@example.com',     '0209998888',      'MTN',     10.00, 'completed', '2026-01-02 08:00+00'),
  (:l1, 'Kofi Boateng', 'kofi_b@example.com',     '0209998888',      'MTN',     20.00, 'paid',      '2026-01-03 08:00+00'),
  (:l1, 'Kofi Boateng', 'kofi_b@example.com',     '0209998888',      'MTN',     70.00, 'paid',      '2026-01-15 09:30:00.123456+00'),
  (:l1, '100% Data',    'data@example.com',       '0269990000',      'MTN',     25.50, 'paid',      '2026-01-15 09:30:00.123456+00'),
  (:l1, 'Yaw 50_50',    'yaw@example.org',        '0551230000',      'Telecel', 12.25, 'paid',      '2026-01-20 12:00+00'),
  (:l1, 'Yaw 50_50',    'yaw@example.org',        '0551230000',      'Telecel', 12.25, 'paid',      '2026-01-21 12:00+00'),
  (:l1, 'Efua',         'EFUA@EXAMPLE.COM',       '0271110008',      'MTN',     24.50, 'paid',      '2026-01-21 12:00+00'),
  (:l1, 'Efua',         'EFUA@EXAMPLE.COM',       '0271110008',      'MTN',      5.00, 'pending',   '2026-01-25 12:00+00'),
  (:l1, 'Abena',        'abena@example.com',      '0244440000',      'MTN',     30.00, 'pending',   '2026-01-25 12:00+00'),
  (:l1, 'Kwame',        'kwame@example.com',      '0245550000',      'MTN',     30.00, 'paid',      '2026-01-26 12:00+00'),
  (:l1, 'Ama',          NULL,                     '0246660000',      'MTN',      8.00, 'paid',      '2026-01-05 07:00+00'),
  (:l1, 'Ama',          NULL,                     '0246660000',      'Telecel',  8.00, 'paid',      '2026-01-06 07:00+00'),
  (:l1, 'Ama',          NULL,                     '0246660000',      'Telecel',  8.00, 'SUCCESS',   '2026-01-07 07:00+00'),
  (:l2, 'Ama Mensah',   'ama.mensah@example.com', '0241234567',      'MTN',     99.00, 'paid',      '2026-02-02 10:00+00'),
  (:l2, 'Other Shop',   'other@example.com',      '0208887777',      'MTN',     99.00, 'paid',      '2026-02-02 10:00+00');
-- Kwame's only purchase is refunded: a customer row without purchases, not listed.
UPDATE shop_orders SET payment_status = 'refunded' WHERE shop_id = :l1 AND customer_phone = '0245550000';
-- Generated customers: 1 to 3 purchases each, many equal totals and times.
INSERT INTO shop_orders (shop_id, customer_name, customer_email, customer_phone, network, total_price, payment_status, created_at)
SELECT :l1, 'Customer ' || lpad(k::text, 2, '0'), 'customer' || k || '@shop.example', '0202' || lpad(k::text, 6, '0'),
       CASE WHEN j % 2 = 0 THEN 'MTN' ELSE 'AirtelTigo' END, 5.00 * (1 + k % 4), 'paid',
       '2026-01-01 00:00+00'::timestamptz + (k % 5) * interval '1 day' + j * interval '1 hour'
  FROM generate_series(1, 30) k, generate_series(1, 1 + k % 3) j;

-- The recomputation: customers with a purchase, with their stats, from shop_orders.
CREATE TEMP VIEW ref_customers AS
SELECT o.shop_id, customer_tracking_customer_id(o.shop_id, normalize_phone(o.customer_phone)) AS id,
       max(o.customer_name) AS name, max(o.customer_email) AS email, normalize_phone(o.customer_phone) AS phone,
       count(*) FILTER (WHERE lower(o.payment_status) IN ('paid', 'completed', 'success')) AS purchases,
       sum(o.total_price) FILTER (WHERE lower(o.payment_status) IN ('paid', 'completed', 'success')) AS spent,
       max(o.created_at) FILTER (WHERE lower(o.payment_status) IN ('paid', 'completed', 'success')) AS last_at
  FROM shop_orders o WHERE o.shop_id IN (:l1, :l2)
 GROUP BY 1, 2, 5
HAVING count(*) FILTER (WHERE lower(o.payment_status) IN ('paid', 'completed', 'success')) > 0;
-- Search as specified: a phone (digits, spaces, + ( ) . -) that is a valid number matches the
-- customer's phone; anything else is a case-insensitive substring of the name or email.
CREATE FUNCTION pg_temp.ref_list(p_shop uuid, p_search text, p_repeat_only boolean, p_sort text)
RETURNS TABLE (n bigint, id uuid)
LANGUAGE sql STABLE AS $$
    SELECT row_number() OVER (ORDER BY CASE p_sort WHEN 'last_purchase' THEN extract(epoch FROM c.last_at)
                                                   WHEN 'total_spent' THEN c.spent ELSE c.purchases END DESC, c.id DESC),
           c.id
      FROM ref_customers c
     WHERE c.shop_id = p_shop AND (NOT p_repeat_only OR c.purchases >= 2)
       AND CASE WHEN nullif(btrim(p_search), '') IS NULL THEN true
                WHEN p_search ~ '^[ +().0-9-]+$' AND normalize_phone(p_search) IS NOT NULL
                THEN c.phone = normalize_phone(p_search)
                ELSE strpos(lower(c.name), lower(btrim(p_search))) > 0 OR strpos(lower(c.email), lower(btrim(p_search))) > 0 END
$$;
-- Names found by a search (sorted by name), and whether the function's list (in its order)
-- equals the recomputed one.
CREATE FUNCTION pg_temp.search(p_search text, p_repeat_only boolean DEFAULT false)
RETURNS TABLE (search text, repeat_only boolean, found text, same_as_recomputed boolean)
LANGUAGE sql STABLE AS $$
    SELECT p_search, p_repeat_only,
           (SELECT string_agg(l.customer_name, ', ' ORDER BY l.customer_name)
              FROM shop_customer_list('d1200000-0000-0000-0000-000000000001', p_search, p_repeat_only, p_limit => 500) l),
           (SELECT array_agg(l.id ORDER BY l.n)
              FROM shop_customer_list('d1200000-0000-0000-0000-000000000001', p_search, p_repeat_only, p_limit => 500)
                   WITH ORDINALITY l(id, a, b, c, d, e, f, g, h, i, j, k, t, n))
           IS NOT DISTINCT FROM
           (SELECT array_agg(r.id ORDER BY r.n) FROM pg_temp.ref_list('d1200000-0000-0000-0000-000000000001', p_search, p_repeat_only, 'last_purchase') r)
$$;

--------------------------------------------------------------------------------
-- 1. The list: rows and sort keys.
--------------------------------------------------------------------------------
SELECT customer_name, phone_number, email, total_purchases, repeat_customer, total_spent,
       first_purchase_at, last_purchase_at, preferred_network, sort_value
  FROM shop_customer_list(:l1, p_limit => 8);
SELECT customer_name, total_spent, sort_value FROM shop_customer_list(:l1, p_sort => 'total_spent', p_limit => 5);
SELECT customer_name, total_purchases, sort_value FROM shop_customer_list(:l1, p_sort => 'purchases', p_limit => 5);
SELECT count(*) AS listed, count(*) FILTER (WHERE repeat_customer) AS repeaters FROM shop_customer_list(:l1, p_limit => 500);
SELECT count(*) AS listed FROM shop_customer_list(:l1, p_repeat_only => true, p_limit => 500);

--------------------------------------------------------------------------------
-- 2. Search.
--------------------------------------------------------------------------------
-- One phone typed six ways; only this shop's customer (shop 2 has the same phone).
SELECT * FROM pg_temp.search('024 123 4567');
SELECT * FROM pg_temp.search('0241234567');
SELECT * FROM pg_temp.search('+233 24 123 4567');
SELECT * FROM pg_temp.search('233241234567');
SELECT * FROM pg_temp.search('(024) 123-4567');
SELECT * FROM pg_temp.search('  024.123.4567  ');
-- A phone no customer of this shop has (shop 2's customer); an incomplete number.
SELECT * FROM pg_temp.search('020 888 7777');
SELECT * FROM pg_temp.search('4567');
-- Names and emails, case-insensitively.
SELECT * FROM pg_temp.search('ama');
SELECT * FROM pg_temp.search('AMA', true);
SELECT * FROM pg_temp.search('mensah');
SELECT * FROM pg_temp.search('efua@example');
SELECT * FROM pg_temp.search('EXAMPLE.COM');
SELECT * FROM pg_temp.search('Customer 1');
-- % and _ are literal characters, not wildcards (and so is \).
SELECT * FROM pg_temp.search('%');
SELECT * FROM pg_temp.search('0%');
SELECT * FROM pg_temp.search('_');
SELECT * FROM pg_temp.search('0_5');
SELECT * FROM pg_temp.search('a_a');
SELECT * FROM pg_temp.search('a%a');
SELECT * FROM pg_temp.search('\');
SELECT * FROM pg_temp.search('\%');
-- Nothing to search for: everyone.
SELECT search, repeat_only, length(found) > 0 AS found_some, same_as_recomputed FROM pg_temp.search('   ');
SELECT search, repeat_only, length(found) > 0 AS found_some, same_as_recomputed FROM pg_temp.search('');
-- Pending only, refunded only: not customers yet / any more.
SELECT * FROM pg_temp.search('abena');
SELECT * FROM pg_temp.search('kwame');

--------------------------------------------------------------------------------
-- 3. Keyset pagination: walk every page.
--------------------------------------------------------------------------------
-- Walks all pages of one list with p_limit rows per page (stops after 200 pages).
CREATE FUNCTION pg_temp.walk(p_shop uuid, p_sort text, p_limit int, p_repeat_only boolean, p_search text)
RETURNS TABLE (n bigint, id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    v_value text;       -- the last row's sort_value and id: where the next page starts
    v_after uuid;
    v_last uuid;
    v_n bigint := 0;
    r record;
BEGIN
    FOR v_page IN 1 .. 200 LOOP
        v_last := NULL;
        FOR r IN SELECT * FROM shop_customer_list(p_shop, p_search, p_repeat_only, p_sort, p_limit, v_value, v_after) LOOP
            v_n := v_n + 1;
            n := v_n;
            id := r.id;
            RETURN NEXT;
            v_value := r.sort_value;
            v_last := r.id;
        END LOOP;
        EXIT WHEN v_last IS NULL;
        v_after := v_last;
    END LOOP;
END
$$;
-- The same walk with the cursor (p_cursor: the last row's cursor).
CREATE FUNCTION pg_temp.walk_cursor(p_shop uuid, p_sort text, p_limit int, p_repeat_only boolean, p_search text)
RETURNS TABLE (n bigint, id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    v_cursor text;
    v_last text;
    v_n bigint := 0;
    r record;
BEGIN
    FOR v_page IN 1 .. 200 LOOP
        v_last := NULL;
        FOR r IN SELECT * FROM shop_customer_list(p_shop, p_search, p_repeat_only, p_sort, p_limit, p_cursor => v_cursor) LOOP
            v_n := v_n + 1;
            n := v_n;
            id := r.id;
            RETURN NEXT;
            v_last := r.cursor;
        END LOOP;
        EXIT WHEN v_last IS NULL;
        v_cursor := v_last;
    END LOOP;
END
$$;
-- For each sort: walks with 1, 2, 3 and 7 rows per page, all customers and repeat customers
-- only, without and with a search; each walk compared with the one-page list and the
-- recomputation; the same walks with the cursor.
CREATE FUNCTION pg_temp.walks()
RETURNS TABLE (sort text, walks bigint, rows_walked bigint, duplicates bigint, same_as_one_page bigint,
               same_as_recomputed bigint, cursor_same_as_one_page bigint)
LANGUAGE sql AS $$
    SELECT s.sort, count(*), sum(w.rows), sum(w.rows - w.distinct_rows),
           count(*) FILTER (WHERE w.ids IS NOT DISTINCT FROM o.ids),
           count(*) FILTER (WHERE w.ids IS NOT DISTINCT FROM r.ids),
           count(*) FILTER (WHERE c.ids IS NOT DISTINCT FROM o.ids)
      FROM unnest(ARRAY['last_purchase', 'total_spent', 'purchases']) WITH ORDINALITY s(sort, k),
           unnest(ARRAY[1, 2, 3, 7]) l(lim), unnest(ARRAY[false, true]) ro(repeat_only),
           unnest(ARRAY[NULL, 'customer']) q(search),
           LATERAL (SELECT count(*) AS rows, count(DISTINCT x.id) AS distinct_rows, array_agg(x.id ORDER BY x.n) AS ids
                      FROM pg_temp.walk('d1200000-0000-0000-0000-000000000001', s.sort, l.lim, ro.repeat_only, q.search) x) w,
           LATERAL (SELECT array_agg(x.id ORDER BY x.n) AS ids
                      FROM pg_temp.walk_cursor('d1200000-0000-0000-0000-000000000001', s.sort, l.lim, ro.repeat_only, q.search) x) c,
           LATERAL (SELECT array_agg(x.id ORDER BY x.n) AS ids
                      FROM shop_customer_list('d1200000-0000-0000-0000-000000000001', q.search, ro.repeat_only, s.sort, 500)
                           WITH ORDINALITY x(id, a, b, c, d, e, f, g, h, i, j, k, t, n)) o,
           LATERAL (SELECT array_agg(x.id ORDER BY x.n) AS ids
                      FROM pg_temp.ref_list('d1200000-0000-0000-0000-000000000001', q.search, ro.repeat_only, s.sort) x) r
     GROUP BY s.sort, s.k ORDER BY s.k
$$;
SELECT * FROM pg_temp.walks();
-- The first pages by last purchase, two rows each (the ties at 2026-02-01 10:00 and
-- 2026-01-15 09:30:00.123456 are split across pages).
SELECT customer_name, last_purchase_at, sort_value FROM shop_customer_list(:l1, p_limit => 2);
SELECT customer_name, last_purchase_at, sort_value
  FROM shop_customer_list(:l1, p_limit => 2, p_after_value => 'Sun Feb 01 10:00:00 2026 UTC',
                          p_after_id => customer_tracking_customer_id(:l1, '+233501112222'));
SELECT customer_name, last_purchase_at, sort_value
  FROM shop_customer_list(:l1, p_limit => 2, p_after_value => 'Sun Feb 01 10:00:00 2026 UTC',
                          p_after_id => customer_tracking_customer_id(:l1, '+233241234567'));
-- The sort value is the one the session's date style and time zone print; walking works in
-- every zone and style, including zones whose abbreviation means something else on input
-- (Asia/Kolkata prints IST, which PostgreSQL reads as Israel time; Asia/Shanghai prints CST,
-- read as US Central time).
SET DateStyle = 'ISO, YMD';
SELECT * FROM pg_temp.walks();
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'America/Los_Angeles';
SELECT * FROM pg_temp.walks();
SET DateStyle = 'Postgres, MDY';
SET TimeZone = 'Asia/Kolkata';
SELECT customer_name, sort_value FROM shop_customer_list(:l1, p_limit => 1);
SELECT * FROM pg_temp.walks();
SET TimeZone = 'Asia/Shanghai';
SELECT * FROM pg_temp.walks();
SET TimeZone = 'UTC';

--------------------------------------------------------------------------------
-- 4. Changes between pages: a keyset walk neither repeats nor skips the rows it has not
--    reached yet when earlier rows change.
--------------------------------------------------------------------------------
CREATE TEMP TABLE page1 AS
SELECT l.id, l.customer_name, l.total_spent, l.sort_value, l.n
  FROM shop_customer_list(:l1, p_sort => 'total_spent', p_limit => 3)
       WITH ORDINALITY l(id, customer_name, b, c, d, e, total_spent, g, h, i, sort_value, cursor, t, n);
SELECT customer_name, total_spent, sort_value FROM page1 ORDER BY n;
SELECT sort_value AS v, id AS i FROM page1 ORDER BY n DESC LIMIT 1 \gset
-- A customer on page 1 buys again (moves up); one not reached yet has a purchase refunded
-- (moves down, still after page 1).
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status, created_at)
VALUES (:l1, 'AMA Owusu', '0501112222', 'MTN', 1.00, 'paid', '2026-02-03 10:00+00');
UPDATE shop_orders SET payment_status = 'refunded'
 WHERE id = (SELECT id FROM shop_orders WHERE shop_id = :l1 AND customer_phone = '0202000011' ORDER BY created_at LIMIT 1);
-- The next pages hold everyone not on page 1, once, in the current order.
SELECT count(*) AS rest, count(*) FILTER (WHERE w.id IN (SELECT id FROM page1)) AS shown_again,
       array_agg(w.id ORDER BY w.n) = (SELECT array_agg(r.id ORDER BY r.n) FROM pg_temp.ref_list(:l1, NULL, false, 'total_spent') r
                                        WHERE r.id NOT IN (SELECT id FROM page1)) AS rest_in_order
  FROM shop_customer_list(:l1, p_sort => 'total_spent', p_limit => 500, p_after_value => :'v', p_after_id => :'i')
       WITH ORDINALITY w(id, a, b, c, d, e, f, g, h, i, j, k, t, n);

--------------------------------------------------------------------------------
-- 5. Bad arguments.
--------------------------------------------------------------------------------
SELECT * FROM shop_customer_list(:l1, p_sort => 'name');
SELECT * FROM shop_customer_list(:l1, p_sort => NULL);
SELECT * FROM shop_customer_list(:l1, p_after_value => '10');
SELECT * FROM shop_customer_list(:l1, p_after_id => customer_tracking_customer_id(:l1, '+233241234567'));
-- Limits are clamped to 1 .. 500.
SELECT (SELECT count(*) FROM shop_customer_list(:l1, p_limit => 0)) AS limit_0,
       (SELECT count(*) FROM shop_customer_list(:l1, p_limit => -5)) AS limit_neg,
       (SELECT count(*) FROM shop_customer_list(:l1, p_limit => NULL)) AS limit_null;

DELETE FROM user_shops WHERE id IN (:l1, :l2);
RESET DateStyle;
RESET TimeZone;
RESET client_min_messages;
