-- One parser: the status lists (and every other setting) are read by one
-- implementation, the trigger's (src/order_rules.cpp, src/order.cpp), which verify, backfill and
-- the expected orders call through customer_tracking_decode_order(). Randomized lists with odd
-- spellings (spaces inside and around entries, case, empty entries, tabs and newlines, non-ASCII
-- letters) and orders with odd statuses: after each change of the lists and a backfill, verify is
-- empty and a second backfill changes nothing. Runs in a database of its own (ct_one_parser).
SET client_min_messages = warning;
DROP DATABASE IF EXISTS ct_one_parser;
CREATE DATABASE ct_one_parser;
\c ct_one_parser
SET client_min_messages = error;   -- (warnings name random order ids)
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
\i test/fixtures/host-schema.sql
CREATE EXTENSION customer_tracking;

-- The one parser, as SQL sees it.
SELECT customer_tracking_status_list(E' Paid ,,\tCOMPLETED\n, on hold ,ПЛАЧЕНО, ,') AS parsed;
SELECT customer_tracking_status_list(',, ,') AS nothing;
SELECT s AS status, customer_tracking_status_class(s) AS class
  FROM unnest(ARRAY['paid', E' PAID\t', 'Success', 'pending', 'on hold', '', '  ', NULL, 'payé']) s;
SELECT * FROM customer_tracking_statuses();
-- A list with no entry left once parsed is refused, as the trigger would read it as "nothing is paid".
SELECT customer_tracking_set_statuses(' , ,, ');

-- The pools the lists and the statuses are drawn from.
CREATE TEMP TABLE words (w text);
INSERT INTO words VALUES ('paid'), ('completed'), ('success'), ('pending'), ('failed'), ('refunded'),
    ('on hold'), ('in progress'), ('ok'), ('payé'), ('PAYÉ'), ('ПЛАЧЕНО'), ('ß'), ('canceled');
CREATE FUNCTION pg_temp.any_word() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT w FROM words ORDER BY random() LIMIT 1
$$;
-- A spelling of a word: random ASCII case, blanks (space, tab, newline) around it.
CREATE FUNCTION pg_temp.spell(p_word text) RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT (ARRAY['', ' ', E'\t', '  ', E'\n'])[1 + floor(random() * 5)::int]
        || (SELECT string_agg(CASE WHEN random() < 0.5 THEN upper(c) ELSE lower(c) END, '' ORDER BY n)
              FROM unnest(string_to_array(p_word, NULL)) WITH ORDINALITY AS x(c, n))
        || (ARRAY['', ' ', E'\t', '  ', E' \t'])[1 + floor(random() * 5)::int]
$$;
-- A list: some words spelled oddly, with empty entries here and there.
CREATE FUNCTION pg_temp.random_list(p_max int) RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT string_agg(CASE WHEN random() < 0.2 THEN (ARRAY['', ' ', E'\t'])[1 + floor(random() * 3)::int] || ','
                           ELSE '' END || pg_temp.spell(w), ',')
      FROM (SELECT w FROM words ORDER BY random() LIMIT 1 + floor(random() * p_max)::int) x
$$;

SELECT setseed(0.4242);
INSERT INTO user_shops (id, user_id, shop_slug)
SELECT ('a3100000-0000-0000-0000-00000000000' || i)::uuid, ('b3100000-0000-0000-0000-00000000000' || i)::uuid, 'ct31-' || i
  FROM generate_series(1, 3) i;
-- Orders with statuses in every spelling, before any list is set.
INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT ('a3100000-0000-0000-0000-00000000000' || (1 + i % 3))::uuid, '024' || lpad((i % 23)::text, 7, '0'),
       (ARRAY['MTN', 'Telecel'])[1 + i % 2], 1 + i % 17,
       CASE WHEN i % 29 = 0 THEN '' ELSE pg_temp.spell(pg_temp.any_word()) END,
       'ig', timestamptz '2026-01-01 00:00+00' + i * interval '5 hours'
  FROM generate_series(1, 240) i;

-- Twenty rounds: new lists, new orders (through the trigger), a backfill, then the checks.
CREATE TEMP TABLE rounds (round int, verify_rows bigint, second_backfill_changes bigint,
                          purchase_mismatches bigint, purchases bigint);
DO $rounds$
DECLARE
    v_paid text;
    v_verify bigint;
    v_changes bigint;
    v_mismatch bigint;
BEGIN
    FOR r IN 1..20 LOOP
        -- A paid list with at least one real entry.
        v_paid := pg_temp.random_list(4) || ',' || pg_temp.spell('paid');
        PERFORM customer_tracking_set_statuses(v_paid, CASE WHEN random() < 0.8 THEN pg_temp.random_list(6) END);
        INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
        SELECT ('a3100000-0000-0000-0000-00000000000' || (1 + i % 3))::uuid, '024' || lpad((i % 23)::text, 7, '0'),
               'MTN', 2, pg_temp.spell(pg_temp.any_word()), 'fb',
               timestamptz '2026-03-01 00:00+00' + (r * 10 + i) * interval '1 hour'
          FROM generate_series(1, 10) i;
        PERFORM * FROM customer_tracking_backfill();
        v_verify := (SELECT count(*) FROM customer_tracking_verify());
        v_changes := (SELECT sum(orders_retracked + customers_repaired) FROM customer_tracking_backfill());
        -- Each order's tracking row says what the classifier says of its status.
        v_mismatch := (SELECT count(*) FROM shop_orders o JOIN customer_tracking t ON t.id = o.id
                        WHERE t.purchase_completed <> (customer_tracking_status_class(o.payment_status) = 'paid'));
        INSERT INTO rounds VALUES (r, v_verify, v_changes, v_mismatch,
                                   (SELECT count(*) FROM customer_tracking WHERE purchase_completed));
    END LOOP;
END
$rounds$;
SELECT round, verify_rows, second_backfill_changes, purchase_mismatches, purchases
  FROM rounds ORDER BY round;
SELECT sum(verify_rows) AS verify_rows, sum(second_backfill_changes) AS backfill_changes,
       sum(purchase_mismatches) AS mismatches FROM rounds;

\c contrib_regression
SET client_min_messages = warning;
DROP DATABASE ct_one_parser;
RESET client_min_messages;
