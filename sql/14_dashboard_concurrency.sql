-- Dashboard numbers under concurrency. Four writer sessions (dblink connections, so four
-- backends and four rollup stripes) place, pay, refund, edit, re-phone and delete orders of the
-- same few customers of one shop at the same time, one order per transaction; a fifth session
-- reads the dashboard meanwhile, each time comparing every function with a recomputation from
-- shop_orders in the same snapshot (REPEATABLE READ). Then the final state is compared again,
-- customer histories included. The interleaving differs from run to run; the output does not:
-- every comparison must find 0 mismatches.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
\set c1 '''d1400000-0000-0000-0000-000000000001'''
\set c2 '''d1400000-0000-0000-0000-000000000002'''
SELECT NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'dblink') AS create_dblink \gset
CREATE EXTENSION IF NOT EXISTS dblink;
DROP SCHEMA IF EXISTS ct14 CASCADE;
CREATE SCHEMA ct14;
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('d1400000-0000-0000-0000-000000000001', 'e1400000-0000-0000-0000-000000000001', 'ct14-busy'),
  ('d1400000-0000-0000-0000-000000000002', 'e1400000-0000-0000-0000-000000000001', 'ct14-other');
CREATE TABLE ct14.shops (id uuid PRIMARY KEY);
INSERT INTO ct14.shops VALUES (:c1), (:c2);
CREATE TABLE ct14.done (writer int PRIMARY KEY, retries int NOT NULL);
CREATE TABLE ct14.reads (n int PRIMARY KEY, mismatches bigint NOT NULL);

--------------------------------------------------------------------------------
-- The recomputation from shop_orders (as in 10_dashboard_recompute), in a schema the other
-- sessions can use. ct14.check() snapshots it into session temp tables and compares.
--------------------------------------------------------------------------------
-- (The functions read the caller's own temp tables, created by ct14.check().)
SET check_function_bodies = off;
CREATE VIEW ct14.ref_orders AS
SELECT o.shop_id, o.id AS order_id,
       customer_tracking_customer_id(o.shop_id, normalize_phone(o.customer_phone)) AS cid,
       normalize_phone(o.customer_phone) AS phone,
       lower(btrim(o.payment_status)) IN ('completed', 'paid', 'success') AS paid,
       o.total_price AS amount, o.created_at AS at, nullif(upper(btrim(o.network)), '') AS network, o.shop_slug AS slug,
       o.payment_status AS status, o.customer_name, o.customer_email
  FROM shop_orders o
 WHERE o.shop_id IN (SELECT id FROM ct14.shops) AND normalize_phone(o.customer_phone) IS NOT NULL;
CREATE FUNCTION ct14.ref_metrics(p_shop uuid, p_as_of timestamptz)
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
      FROM pg_temp.ref_c c WHERE c.shop_id = p_shop
$$;
CREATE FUNCTION ct14.ref_slugs(p_shop uuid)
RETURNS TABLE (slug text, checkouts bigint, purchases bigint, conversion_rate numeric,
               revenue numeric, customers bigint, new_customers bigint, repeat_customers bigint, pos bigint)
LANGUAGE sql STABLE AS $$
    WITH o AS (SELECT r.*, coalesce(r.slug, '') AS k FROM pg_temp.ref_o r WHERE r.shop_id = p_shop),
    s AS (
        SELECT k, count(*) AS checkouts, count(*) FILTER (WHERE paid) AS purchases,
               coalesce(sum(amount) FILTER (WHERE paid), 0) AS revenue,
               count(DISTINCT cid) FILTER (WHERE paid) AS customers,
               (SELECT count(*) FROM pg_temp.ref_c c WHERE c.shop_id = p_shop AND c.first_slug = o.k) AS new_customers,
               (SELECT count(*) FROM pg_temp.ref_c c WHERE c.shop_id = p_shop AND c.first_slug = o.k AND c.purchases >= 2) AS repeaters
          FROM o GROUP BY k
    )
    SELECT nullif(k, ''), checkouts, purchases,
           CASE WHEN checkouts = 0 THEN 0 ELSE round(100.0 * purchases / checkouts, 1) END,
           revenue, customers, new_customers, repeaters, row_number() OVER (ORDER BY revenue DESC, k)
      FROM s
$$;
CREATE FUNCTION ct14.ref_networks(p_shop uuid)
RETURNS TABLE (network text, customers_preferring bigint, purchases bigint, revenue numeric, pos bigint)
LANGUAGE sql STABLE AS $$
    WITH n AS (
        SELECT coalesce(a.network, b.network) AS network, coalesce(b.customers, 0) AS customers,
               coalesce(a.purchases, 0) AS purchases, coalesce(a.revenue, 0) AS revenue
          FROM (SELECT o.network, count(*) AS purchases, sum(o.amount) AS revenue FROM pg_temp.ref_o o
                 WHERE o.shop_id = p_shop AND o.paid AND o.network IS NOT NULL GROUP BY o.network) a
          FULL JOIN (SELECT c.preferred AS network, count(*) AS customers FROM pg_temp.ref_c c
                      WHERE c.shop_id = p_shop AND c.preferred IS NOT NULL GROUP BY c.preferred) b
            ON a.network = b.network
    )
    SELECT network, customers, purchases, revenue, row_number() OVER (ORDER BY customers DESC, purchases DESC, network)
      FROM n
$$;
CREATE FUNCTION ct14.ref_frequency(p_shop uuid)
RETURNS TABLE (purchases integer, customers bigint, share numeric, pos bigint)
LANGUAGE sql STABLE AS $$
    SELECT c.purchases::int, count(*), round(100.0 * count(*) / sum(count(*)) OVER (), 1), row_number() OVER (ORDER BY c.purchases)
      FROM pg_temp.ref_c c WHERE c.shop_id = p_shop GROUP BY c.purchases
$$;
CREATE FUNCTION ct14.ref_decay(p_shop uuid, p_as_of timestamptz)
RETURNS TABLE (bucket text, min_days integer, max_days integer, customers bigint, churn_risk text, pos bigint)
LANGUAGE sql STABLE AS $$
    SELECT b.bucket, b.lo, b.hi,
           (SELECT count(*) FROM pg_temp.ref_c c
             WHERE c.shop_id = p_shop
               AND (p_as_of AT TIME ZONE 'UTC')::date - (c.last_at AT TIME ZONE 'UTC')::date BETWEEN b.lo AND coalesce(b.hi, 2147483647)),
           b.risk, b.n
      FROM (VALUES (1::bigint, '0-7 days', 0, 7, 'low'), (2, '8-30 days', 8, 30, 'medium'),
                   (3, '31-90 days', 31, 90, 'high'), (4, '91+ days', 91, NULL, 'lost')) b(n, bucket, lo, hi, risk)
$$;
CREATE FUNCTION ct14.ref_daily(p_shop uuid, p_from date, p_to date)
RETURNS TABLE (day date, purchases bigint, revenue numeric, new_customers bigint, checkouts bigint, pos bigint)
LANGUAGE sql STABLE AS $$
    SELECT g::date,
           (SELECT count(*) FROM pg_temp.ref_o o WHERE o.shop_id = p_shop AND o.paid AND (o.at AT TIME ZONE 'UTC')::date = g::date),
           (SELECT coalesce(sum(o.amount), 0) FROM pg_temp.ref_o o WHERE o.shop_id = p_shop AND o.paid AND (o.at AT TIME ZONE 'UTC')::date = g::date),
           (SELECT count(*) FROM pg_temp.ref_c c WHERE c.shop_id = p_shop AND (c.first_at AT TIME ZONE 'UTC')::date = g::date),
           (SELECT count(*) FROM pg_temp.ref_o o WHERE o.shop_id = p_shop AND (o.at AT TIME ZONE 'UTC')::date = g::date),
           row_number() OVER (ORDER BY g)
      FROM generate_series(p_from, p_to, interval '1 day') g
$$;
CREATE FUNCTION ct14.ref_list(p_shop uuid, p_sort text)
RETURNS TABLE (id uuid, phone_number text, total_purchases integer, repeat_customer boolean, total_spent numeric,
               first_purchase_at timestamptz, last_purchase_at timestamptz, preferred_network text, pos bigint)
LANGUAGE sql STABLE AS $$
    SELECT c.cid, c.phone, c.purchases::int, c.purchases >= 2, c.spent, c.first_at, c.last_at, c.preferred,
           row_number() OVER (ORDER BY CASE p_sort WHEN 'last_purchase' THEN extract(epoch FROM c.last_at)
                                                   WHEN 'total_spent' THEN c.spent ELSE c.purchases END DESC, c.cid DESC)
      FROM pg_temp.ref_c c WHERE c.shop_id = p_shop
$$;
CREATE FUNCTION ct14.ref_history(p_customer uuid)
RETURNS TABLE (order_id uuid, created_at timestamptz, amount numeric, network text, slug text,
               payment_status text, purchase_completed boolean, pos bigint)
LANGUAGE sql STABLE AS $$
    SELECT o.order_id, o.at, o.amount, o.network, o.slug, o.status, o.paid, row_number() OVER (ORDER BY o.at DESC, o.order_id DESC)
      FROM pg_temp.ref_o o WHERE o.cid = p_customer
$$;
-- Rows of p_actual and p_expected that the other lacks (EXCEPT ALL, both ways).
CREATE FUNCTION ct14.cmp(p_actual text, p_expected text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM (((%s) EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL (%s))) d',
                   p_actual, p_expected, p_expected, p_actual) INTO n;
    RETURN n;
END
$$;
-- Every function for both shops against the recomputation, all in the caller's snapshot
-- (call it in a REPEATABLE READ transaction when others are writing).
CREATE FUNCTION ct14.check(p_with_history boolean)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_shop uuid;
    v_as_of timestamptz;
    v_sort text;
    v_customer uuid;
    v_bad bigint := 0;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS ref_o AS SELECT * FROM ct14.ref_orders WITH NO DATA;
    CREATE TEMP TABLE IF NOT EXISTS ref_c (shop_id uuid, cid uuid, phone text, purchases bigint, spent numeric,
        first_at timestamptz, last_at timestamptz, first_slug text, preferred text);
    TRUNCATE pg_temp.ref_o, pg_temp.ref_c;
    INSERT INTO pg_temp.ref_o SELECT * FROM ct14.ref_orders;
    INSERT INTO pg_temp.ref_c
    SELECT o.shop_id, o.cid, min(o.phone), count(*) FILTER (WHERE o.paid), coalesce(sum(o.amount) FILTER (WHERE o.paid), 0),
           min(o.at) FILTER (WHERE o.paid), max(o.at) FILTER (WHERE o.paid),
           (array_agg(coalesce(o.slug, '') ORDER BY o.at, o.order_id) FILTER (WHERE o.paid))[1],
           (SELECT n.network FROM pg_temp.ref_o n WHERE n.cid = o.cid AND n.paid AND n.network IS NOT NULL
             GROUP BY n.network ORDER BY count(*) DESC, n.network COLLATE "C" LIMIT 1)
      FROM pg_temp.ref_o o GROUP BY o.shop_id, o.cid HAVING count(*) FILTER (WHERE o.paid) > 0;
    FOR v_shop IN SELECT id FROM ct14.shops ORDER BY id LOOP
        FOR v_as_of IN VALUES ('2026-01-31 23:59:59.999999+00'::timestamptz), ('2026-02-15 12:00+00'), ('2026-03-01 00:00+00'),
                              ('2026-04-02 00:00+00') LOOP
            v_bad := v_bad
              + ct14.cmp(format('SELECT * FROM shop_customer_metrics(%L, %L)', v_shop, v_as_of),
                         format('SELECT * FROM ct14.ref_metrics(%L, %L)', v_shop, v_as_of))
              + ct14.cmp(format('SELECT * FROM shop_last_purchase_decay(%L, %L) WITH ORDINALITY', v_shop, v_as_of),
                         format('SELECT * FROM ct14.ref_decay(%L, %L)', v_shop, v_as_of));
        END LOOP;
        v_bad := v_bad
          + ct14.cmp(format('SELECT * FROM shop_slug_analytics(%L) WITH ORDINALITY', v_shop),
                     format('SELECT * FROM ct14.ref_slugs(%L)', v_shop))
          + ct14.cmp(format('SELECT * FROM shop_network_analytics(%L) WITH ORDINALITY', v_shop),
                     format('SELECT * FROM ct14.ref_networks(%L)', v_shop))
          + ct14.cmp(format('SELECT * FROM shop_purchase_frequency(%L) WITH ORDINALITY', v_shop),
                     format('SELECT * FROM ct14.ref_frequency(%L)', v_shop))
          + ct14.cmp(format('SELECT * FROM shop_daily_series(%L, %L, %L) WITH ORDINALITY', v_shop, '2025-12-25', '2026-04-05'),
                     format('SELECT * FROM ct14.ref_daily(%L, %L, %L)', v_shop, '2025-12-25', '2026-04-05'));
        FOREACH v_sort IN ARRAY ARRAY['last_purchase', 'total_spent', 'purchases'] LOOP
            v_bad := v_bad
              + ct14.cmp(format('SELECT id, phone_number, total_purchases, repeat_customer, total_spent, first_purchase_at, '
                                'last_purchase_at, preferred_network, n FROM shop_customer_list(%L, p_sort => %L, p_limit => 500) '
                                'WITH ORDINALITY l(id, a, phone_number, b, total_purchases, repeat_customer, total_spent, '
                                'first_purchase_at, last_purchase_at, preferred_network, c, d, t, n)', v_shop, v_sort),
                         format('SELECT * FROM ct14.ref_list(%L, %L)', v_shop, v_sort));
        END LOOP;
    END LOOP;
    IF p_with_history THEN
        FOR v_customer IN SELECT DISTINCT cid FROM pg_temp.ref_o LOOP
            v_bad := v_bad
              + ct14.cmp(format('SELECT order_id, created_at, amount, network, slug, payment_status, purchase_completed, n '
                                'FROM customer_purchase_history(%L) WITH ORDINALITY h(order_id, created_at, amount, network, '
                                'slug, payment_status, purchase_completed, completed_at, n)', v_customer),
                         format('SELECT * FROM ct14.ref_history(%L)', v_customer));
        END LOOP;
    END IF;
    RETURN v_bad;
END
$$;

RESET check_function_bodies;

-- A few orders before the sessions start.
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT :c1, 'Regular ' || p, '024140000' || p, 'MTN', 10.00 + p, 'paid', 'ig', '2026-02-01 12:00+00'::timestamptz + p * interval '1 hour'
  FROM generate_series(0, 9) p;
SELECT ct14.check(true) AS mismatches_before;

--------------------------------------------------------------------------------
-- 1. Four writers and a reader at once.
--------------------------------------------------------------------------------
-- One writer: 150 single-order transactions on 12 shared customers (phones typed four ways):
-- new orders (paid, pending, failed; dated anywhere in Jan .. Mar, so often before the
-- customer's first purchase), payment webhooks, refunds, amount and network edits, phone
-- corrections (the order changes customer) and deletes. A deadlock, should one happen, skips
-- that change (counted, not shown).
CREATE FUNCTION ct14.writer_sql(w int) RETURNS text LANGUAGE sql AS $f$
SELECT format($w$
DO $$
DECLARE
    w int := %s;
    v_retries int := 0;
    p int;
    v_id uuid;
BEGIN
    FOR i IN 1 .. 150 LOOP
        p := (i * 7 + w * 5) %% 12;
        v_id := md5('ct14:' || w || ':' || i)::uuid;
        BEGIN
            CASE i %% 6
            WHEN 0, 1, 2 THEN
                INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status,
                                         shop_slug, reference_code, created_at)
                VALUES (v_id, CASE WHEN i %% 10 = 0 THEN 'd1400000-0000-0000-0000-000000000002'::uuid
                                   ELSE 'd1400000-0000-0000-0000-000000000001' END,
                        'Shared ' || p,
                        CASE i %% 4 WHEN 0 THEN '020141' || lpad(p::text, 4, '0') WHEN 1 THEN '020 141 ' || lpad(p::text, 4, '0')
                                    WHEN 2 THEN '+233 20 141 ' || lpad(p::text, 4, '0') ELSE '23320141' || lpad(p::text, 4, '0') END,
                        (ARRAY['MTN', 'Telecel', 'AirtelTigo', NULL])[1 + (i + w) %% 4], 5.00 + (i * w) %% 40 + 0.25 * w,
                        CASE WHEN i %% 5 = 0 THEN 'pending' WHEN i %% 13 = 0 THEN 'failed' ELSE 'paid' END,
                        (ARRAY['ig', 'wa', 'promo', NULL])[1 + (i * 3 + w) %% 4], 'w' || w || ':' || i,
                        '2026-01-01 00:00+00'::timestamptz + ((i * 37 + w * 11) %% 89) * interval '1 day'
                            + ((i * 13) %% 24) * interval '1 hour' + w * interval '1 minute' + i * interval '1 microsecond');
            WHEN 3 THEN   -- webhook: the oldest pending order of any writer is paid
                UPDATE shop_orders SET payment_status = 'paid'
                 WHERE id = (SELECT id FROM shop_orders WHERE shop_id = 'd1400000-0000-0000-0000-000000000001'
                                AND payment_status = 'pending' ORDER BY created_at, id LIMIT 1);
            WHEN 4 THEN
                IF i %% 4 = 0 THEN   -- refund an order of another writer
                    UPDATE shop_orders SET payment_status = 'refunded'
                     WHERE id = md5('ct14:' || (w %% 4 + 1) || ':' || (i - 4))::uuid;
                ELSE                -- amount and network corrected
                    UPDATE shop_orders SET total_price = total_price + 1.10, network = 'Telecel'
                     WHERE id = md5('ct14:' || w || ':' || (i - 4))::uuid;
                END IF;
            ELSE
                IF i %% 12 = 5 THEN  -- delete an order
                    DELETE FROM shop_orders WHERE id = md5('ct14:' || ((w + 1) %% 4 + 1) || ':' || (i - 3))::uuid;
                ELSE                -- phone corrected: the order moves to another customer
                    UPDATE shop_orders SET customer_phone = '020141' || lpad(((p + 5) %% 12)::text, 4, '0'),
                                           customer_name = 'Shared ' || (p + 5) %% 12
                     WHERE id = md5('ct14:' || w || ':' || (i - 3))::uuid;
                END IF;
            END CASE;
        EXCEPTION WHEN deadlock_detected THEN
            v_retries := v_retries + 1;
        END;
        COMMIT;
    END LOOP;
    INSERT INTO ct14.done VALUES (w, v_retries);
END
$$;
$w$, w)
$f$;
-- The reader: a REPEATABLE READ snapshot per round, comparing everything, until the writers
-- are done (at least 3 rounds, at most 300).
CREATE FUNCTION ct14.reader_sql() RETURNS text LANGUAGE sql AS $f$
SELECT $r$
DO $$
BEGIN
    FOR k IN 1 .. 300 LOOP
        INSERT INTO ct14.reads VALUES (k, ct14.check(false));
        EXIT WHEN k >= 3 AND (SELECT count(*) FROM ct14.done) = 4;
        COMMIT;
    END LOOP;
END
$$;
$r$
$f$;
SELECT format('dbname=%s user=%s port=%s host=%s', current_database(), current_user, current_setting('port'),
              coalesce(nullif(split_part(current_setting('unix_socket_directories'), ',', 1), ''), 'localhost')) AS conn \gset
SELECT dblink_connect('ct14_w1', :'conn'), dblink_connect('ct14_w2', :'conn'), dblink_connect('ct14_w3', :'conn'),
       dblink_connect('ct14_w4', :'conn'), dblink_connect('ct14_r', :'conn');
-- Each session is a backend of its own.
SELECT count(DISTINCT pid) AS backends
  FROM (SELECT t.pid FROM unnest(ARRAY['ct14_w1', 'ct14_w2', 'ct14_w3', 'ct14_w4', 'ct14_r']) c,
               LATERAL dblink(c, 'SELECT pg_backend_pid()') AS t(pid int)) x;
SELECT c, dblink_exec(c, 'SET client_min_messages = warning'), dblink_exec(c, 'SET TimeZone = ''UTC''')
  FROM unnest(ARRAY['ct14_w1', 'ct14_w2', 'ct14_w3', 'ct14_w4', 'ct14_r']) c;
SELECT dblink_exec('ct14_r', 'SET default_transaction_isolation = ''repeatable read''');
SELECT dblink_send_query('ct14_w1', ct14.writer_sql(1)), dblink_send_query('ct14_w2', ct14.writer_sql(2)),
       dblink_send_query('ct14_w3', ct14.writer_sql(3)), dblink_send_query('ct14_w4', ct14.writer_sql(4)),
       dblink_send_query('ct14_r', ct14.reader_sql());
-- Wait for all five (an error in a session is raised here).
SELECT c, (SELECT string_agg(t.status, ',') FROM dblink_get_result(c) AS t(status text)) AS status
  FROM unnest(ARRAY['ct14_w1', 'ct14_w2', 'ct14_w3', 'ct14_w4', 'ct14_r']) c;
SELECT dblink_disconnect(c) FROM unnest(ARRAY['ct14_w1', 'ct14_w2', 'ct14_w3', 'ct14_w4', 'ct14_r']) c;

--------------------------------------------------------------------------------
-- 2. What the reader saw while the writers ran, and the end state.
--------------------------------------------------------------------------------
SELECT count(*) >= 3 AS reader_rounds_at_least_3, sum(mismatches) AS mismatches_seen_by_reader FROM ct14.reads;
SELECT count(*) AS writers_done FROM ct14.done;
-- The writes landed in several rollup stripes (one per writer backend), which readers sum.
SELECT count(DISTINCT stripe) > 1 AS several_stripes FROM customer_tracking_shop_totals WHERE shop_id = :c1;
SELECT (SELECT count(*) FROM shop_orders WHERE shop_id IN (:c1, :c2)) >= 200 AS orders_written,
       (SELECT count(*) FROM shop_customers WHERE shop_id IN (:c1, :c2) AND total_purchases > 0) >= 15 AS customers;
SELECT ct14.check(true) AS mismatches_after;
SELECT count(*) AS verify_problems FROM customer_tracking_verify() WHERE shop_id IN (:c1, :c2);

DELETE FROM user_shops WHERE id IN (:c1, :c2);
DROP SCHEMA ct14 CASCADE;
SELECT CASE WHEN :'create_dblink' THEN 'DROP EXTENSION dblink' ELSE 'SELECT' END AS drop_dblink \gset
:drop_dblink;
RESET client_min_messages;
