-- Host DDL after install. For every shop_orders column the extension reads
-- (required, optional, used when present, mapped, and its own shop_customer_id): rename, drop
-- and a change to each plausible type. With the DDL guard (the event triggers) each change is
-- followed exactly, or refused with a message; without it (a guard disabled by a superuser) the
-- change never crashes and never loses an order: orders are tracked exactly, or saved untracked
-- (host_drift), and verify() / health() report it. Runs in a database of its own (ct_host_ddl).
SET client_min_messages = warning;
DROP DATABASE IF EXISTS ct_host_ddl;
CREATE DATABASE ct_host_ddl;
\c ct_host_ddl
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
\set shop '''a3000000-0000-0000-0000-000000000030'''
\i test/fixtures/host-schema.sql
-- Attribution: referrer used when present, utm_source mapped to a column of another name.
-- Columns that may be NULL, and a status without a default, so that more changes are possible.
ALTER TABLE shop_orders ADD COLUMN referrer text, ADD COLUMN src text,
    ALTER COLUMN payment_status DROP DEFAULT, ALTER COLUMN payment_status DROP NOT NULL,
    ALTER COLUMN shop_id DROP NOT NULL, ALTER COLUMN total_price DROP NOT NULL,
    ALTER COLUMN total_price DROP DEFAULT, ALTER COLUMN created_at DROP NOT NULL,
    ALTER COLUMN created_at DROP DEFAULT;
SET customer_tracking.column_map = 'utm_source=src';
CREATE EXTENSION customer_tracking;
RESET customer_tracking.column_map;
CREATE TYPE order_status AS ENUM ('pending', 'paid', 'failed', 'completed');
INSERT INTO user_shops (id, user_id, shop_slug) VALUES (:shop, 'b3000000-0000-0000-0000-000000000030', 'ct30');
INSERT INTO shop_orders (id, shop_id, customer_name, customer_email, customer_phone, network, total_price,
                         payment_status, shop_slug, created_at, referrer, src, reference_code) VALUES
  ('c3000000-0000-0000-0000-000000000001', :shop, 'Ama',  'ama@example.com',  '0241234567', 'MTN',     10.50, 'paid',      'ig', '2026-01-05 10:30+00', 'x', 'news', 'base1'),
  ('c3000000-0000-0000-0000-000000000002', :shop, 'Kofi', 'kofi@example.com', '0501234567', 'Telecel',  7.25, 'pending',   'fb', '2026-01-06 11:00+00', 'y', 'news', 'base2'),
  ('c3000000-0000-0000-0000-000000000003', :shop, 'Ama',  'ama@example.com',  '0241234567', 'mtn ',    20.00, 'completed', 'ig', '2026-01-07 12:15+00', NULL, NULL, 'base3'),
  ('c3000000-0000-0000-0000-000000000004', :shop, 'Esi',  NULL,               '0271234567', 'MTN',      5.00, 'failed',    NULL, '2026-01-08 09:45+00', NULL, NULL, 'base4');
SELECT count(*) AS verify_rows FROM customer_tracking_verify();
SELECT field, column_name, column_type, state FROM customer_tracking_host_state() ORDER BY field;

-- Places an order with the same values whatever the columns are called or typed now (a column
-- renamed by a case ends in _renamed; each value is cast to the column's current type, and left
-- out if it cannot be).
CREATE FUNCTION pg_temp.place(p_tag text, p_status text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_cols text := 'reference_code';
    v_vals text := quote_literal(p_tag);
    v_value text;
BEGIN
    FOR r IN SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS typ
               FROM pg_attribute a
              WHERE a.attrelid = 'shop_orders'::regclass AND a.attnum > 0 AND NOT a.attisdropped
    LOOP
        v_value := CASE regexp_replace(r.attname, '_renamed$', '')
            WHEN 'id' THEN gen_random_uuid()::text
            WHEN 'shop_id' THEN 'a3000000-0000-0000-0000-000000000030'
            WHEN 'customer_phone' THEN '0241234567'
            WHEN 'total_price' THEN '12'
            WHEN 'created_at' THEN '2026-02-01 00:00:00'
            WHEN 'payment_status' THEN p_status
            WHEN 'customer_email' THEN 'ama@example.com'
            WHEN 'customer_name' THEN 'Ama'
            WHEN 'network' THEN 'MTN'
            WHEN 'shop_slug' THEN 'ig'
            WHEN 'referrer' THEN 'x'
            WHEN 'src' THEN 'news' END;
        CONTINUE WHEN v_value IS NULL;
        BEGIN
            EXECUTE format('SELECT CAST(%L AS %s)', v_value, r.typ);
        EXCEPTION WHEN OTHERS THEN
            CONTINUE;   -- a value the column's new type cannot hold: left out
        END;
        v_cols := v_cols || ', ' || quote_ident(r.attname);
        v_vals := v_vals || format(', CAST(%L AS %s)', v_value, r.typ);
    END LOOP;
    EXECUTE format('INSERT INTO shop_orders (%s) VALUES (%s)', v_cols, v_vals);
END
$$;

-- What became of a paid order placed after the change (and of the verify and health reports).
CREATE FUNCTION pg_temp.outcome(p_tag text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_order jsonb := (SELECT to_jsonb(o) FROM shop_orders o WHERE o.reference_code = p_tag);
    v_issues text := (SELECT string_agg(DISTINCT i.issue, ',') FROM customer_tracking_issues i
                       WHERE i.resolved_at IS NULL AND i.untracked);
    v_verify bigint;
    v_drift jsonb := (SELECT h.host_drift FROM customer_tracking_health() h);
    v_result text;
BEGIN
    -- Each case runs in one transaction: count its order now rather than at its commit.
    PERFORM customer_tracking_apply_pending();
    v_verify := (SELECT count(*) FROM customer_tracking_verify());
    IF v_order IS NULL THEN
        RETURN 'ORDER LOST';
    END IF;
    v_result := CASE WHEN v_order ->> 'shop_customer_id' IS NOT NULL THEN 'tracked'
                     ELSE 'untracked (' || coalesce(v_issues, 'no issue!') || ')' END;
    v_drift := v_drift - 'customer_tracking_ddl_guard_start' - 'customer_tracking_ddl_guard_end';
    IF v_drift <> '{}' THEN
        v_result := v_result || ', health: ' ||
            (SELECT string_agg(k || ' ' || split_part(v_drift ->> k, ':', 1), ',' ORDER BY k)
               FROM jsonb_object_keys(v_drift) k);
    END IF;
    IF v_verify > 0 THEN
        v_result := v_result || ', verify: ' ||
            (SELECT string_agg(DISTINCT CASE WHEN v.problem LIKE 'rollup %' THEN 'rollups' ELSE v.problem END, ',')
               FROM customer_tracking_verify() v);
    END IF;
    RETURN v_result;
END
$$;

-- Changes a column's type as a DBA would: with the assignment cast if there is one, else through
-- the text form, else (values that do not convert) to NULL. Returns how.
CREATE FUNCTION pg_temp.alter_type(p_column name, p_type text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE format('ALTER TABLE shop_orders ALTER COLUMN %I TYPE %s', p_column, p_type);
        RETURN 'cast';
    EXCEPTION WHEN datatype_mismatch THEN
        NULL;
    END;
    BEGIN
        EXECUTE format('ALTER TABLE shop_orders ALTER COLUMN %I TYPE %s USING %I::text::%s',
                       p_column, p_type, p_column, p_type);
        RETURN 'via text';
    EXCEPTION WHEN OTHERS THEN
        IF SQLERRM LIKE 'customer_tracking:%' THEN
            RAISE;
        END IF;
    END;
    EXECUTE format('ALTER TABLE shop_orders ALTER COLUMN %I TYPE %s USING NULL', p_column, p_type);
    RETURN 'to NULL';
END
$$;

-- One change of the matrix, in a subtransaction that is rolled back: how the values were
-- converted (when the change was made), and the outcome.
CREATE FUNCTION pg_temp.try_case(p_column name, p_op text, OUT conversion text, OUT outcome text)
LANGUAGE plpgsql AS $$
BEGIN
    conversion := '';
    BEGIN
        IF p_op = 'rename' THEN
            EXECUTE format('ALTER TABLE shop_orders RENAME COLUMN %I TO %I', p_column, p_column || '_renamed');
        ELSIF p_op = 'drop' THEN
            EXECUTE format('ALTER TABLE shop_orders DROP COLUMN %I', p_column);
        ELSE
            conversion := pg_temp.alter_type(p_column, p_op);
        END IF;
        BEGIN
            PERFORM pg_temp.place('case', 'paid');
            outcome := pg_temp.outcome('case');
        EXCEPTION WHEN OTHERS THEN
            outcome := 'INSERT FAILED: ' || SQLERRM;
        END;
        RAISE EXCEPTION USING ERRCODE = 'P0099', MESSAGE = outcome || '|' || conversion;   -- undo
    EXCEPTION
        WHEN SQLSTATE 'P0099' THEN
            outcome := split_part(SQLERRM, '|', 1);
            conversion := split_part(SQLERRM, '|', 2);
        WHEN OTHERS THEN
            outcome := CASE
                WHEN SQLERRM LIKE 'customer_tracking: refused:%would count differently%' THEN 'refused: counts would change'
                WHEN SQLERRM LIKE 'customer_tracking: refused:%is missing%' THEN 'refused: column lost'
                WHEN SQLERRM LIKE 'customer_tracking: refused:%is of type%' THEN 'refused: type not readable'
                WHEN SQLERRM LIKE 'customer_tracking:%' THEN 'refused: ' || SQLERRM
                ELSE 'PostgreSQL cannot (' || SQLSTATE || ')' END;
    END;
END
$$;

CREATE TEMP TABLE cases AS
SELECT c.n AS col_n, c.col, o.n AS op_n, o.op
  FROM unnest(ARRAY['id', 'shop_id', 'customer_phone', 'total_price', 'created_at', 'payment_status',
                    'customer_email', 'customer_name', 'network', 'shop_slug', 'referrer', 'src',
                    'shop_customer_id']) WITH ORDINALITY c(col, n),
       unnest(ARRAY['rename', 'drop', 'text', 'varchar(100)', 'integer', 'bigint', 'real',
                    'double precision', 'money', 'numeric(12,0)', 'numeric(14,4)', 'timestamp',
                    'date', 'order_status']) WITH ORDINALITY o(op, n);

--------------------------------------------------------------------------------
-- 1. With the DDL guard.
--------------------------------------------------------------------------------
SET client_min_messages = error;
CREATE TEMP TABLE guarded AS SELECT col_n, op_n, col, op, r.* FROM cases, LATERAL pg_temp.try_case(col, op) r;
SET client_min_messages = warning;
SELECT col AS "column", op AS change, conversion, outcome FROM guarded ORDER BY col_n, op_n;
-- Nothing accepted leaves a report behind, and nothing was lost.
SELECT count(*) AS accepted_but_inexact FROM guarded WHERE outcome LIKE 'tracked,%' OR outcome LIKE 'untracked%'
    OR outcome LIKE '%LOST%' OR outcome LIKE '%FAILED%';

--------------------------------------------------------------------------------
-- 2. Without it (disabled by a superuser, or changes made before 1.4): never a crash, never a
--    lost order; orders are tracked exactly or saved untracked, and the drift is reported.
--------------------------------------------------------------------------------
ALTER EVENT TRIGGER customer_tracking_ddl_guard_start DISABLE;
ALTER EVENT TRIGGER customer_tracking_ddl_guard_end DISABLE;
SELECT host_drift FROM customer_tracking_health();
SET client_min_messages = error;
CREATE TEMP TABLE unguarded AS SELECT col_n, op_n, col, op, r.* FROM cases, LATERAL pg_temp.try_case(col, op) r;
SET client_min_messages = warning;
SELECT col AS "column", op AS change, conversion, outcome FROM unguarded ORDER BY col_n, op_n;
SELECT count(*) AS lost_or_failed FROM unguarded WHERE outcome LIKE '%LOST%' OR outcome LIKE '%FAILED%';
-- Untracked orders are always reported: an issue code; for drift, health and verify name it too.
SELECT count(*) AS silent_drift FROM unguarded
 WHERE outcome LIKE 'untracked (no issue!)%'
    OR (outcome LIKE 'untracked (host_drift)%' AND (outcome NOT LIKE '%health: % drift%' OR outcome NOT LIKE '%verify:%host_drift%'));
ALTER EVENT TRIGGER customer_tracking_ddl_guard_start ENABLE;
ALTER EVENT TRIGGER customer_tracking_ddl_guard_end ENABLE;
SELECT count(*) AS verify_rows FROM customer_tracking_verify();

--------------------------------------------------------------------------------
-- 3. The cases behind the table, one by one.
--------------------------------------------------------------------------------
SET client_min_messages = notice;
-- The amount altered to text used to crash the backend at the first order: now it is read as a
-- decimal number; text that is not one saves the order untracked (invalid_amount).
BEGIN;
ALTER TABLE shop_orders ALTER COLUMN total_price TYPE text;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, payment_status, created_at, reference_code) VALUES
  ('c3000000-0000-0000-0000-000000000021', :shop, '0241234567', ' 12.5 ', 'paid', '2026-02-01 10:00+00', 'text ok'),
  ('c3000000-0000-0000-0000-000000000022', :shop, '0241234567', 'GHS 12', 'paid', '2026-02-01 11:00+00', 'text bad'),
  ('c3000000-0000-0000-0000-000000000023', :shop, '0241234567', '1e5000', 'paid', '2026-02-01 12:00+00', 'text huge');
SELECT customer_tracking_apply_pending(); -- counted now rather than at commit
SELECT o.reference_code, o.shop_customer_id IS NOT NULL AS linked, t.purchase_amount, i.issue, i.detail
  FROM shop_orders o LEFT JOIN customer_tracking t ON t.id = o.id
  LEFT JOIN customer_tracking_issues i ON i.shop_order_id = o.id
 WHERE o.reference_code LIKE 'text%' ORDER BY 1;
SELECT count(*) AS verify_rows FROM customer_tracking_verify();
ROLLBACK;

-- The status column renamed: followed (no longer "every order is a purchase").
BEGIN;
ALTER TABLE shop_orders RENAME COLUMN payment_status TO status;
SELECT setting, value FROM customer_tracking_settings ORDER BY 1;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, status, created_at, reference_code) VALUES
  ('c3000000-0000-0000-0000-000000000031', :shop, '0241234567', 3, 'failed', '2026-02-01 10:00+00', 'renamed failed'),
  ('c3000000-0000-0000-0000-000000000032', :shop, '0241234567', 4, 'paid', '2026-02-01 11:00+00', 'renamed paid');
SELECT customer_tracking_apply_pending(); -- counted now rather than at commit
SELECT o.reference_code, t.purchase_completed FROM shop_orders o JOIN customer_tracking t ON t.id = o.id
 WHERE o.reference_code LIKE 'renamed%' ORDER BY 1;
SELECT count(*) AS verify_rows FROM customer_tracking_verify();
ROLLBACK;

-- Dropped: refused, with what to do instead.
ALTER TABLE shop_orders DROP COLUMN payment_status;
-- Mapped to '' first (every order a purchase, by choice), then the drop is accepted.
BEGIN;
SELECT customer_tracking_map_column('payment_status', '');
ALTER TABLE shop_orders DROP COLUMN payment_status;
SELECT field, state FROM customer_tracking_host_state() WHERE field = 'payment_status';
ROLLBACK;
-- Dropped and added again in one command: the new column's values would change what counts.
ALTER TABLE shop_orders DROP COLUMN payment_status, ADD COLUMN payment_status text;
-- The table renamed or moved: refused.
ALTER TABLE shop_orders RENAME TO orders;
CREATE SCHEMA elsewhere;
ALTER TABLE shop_orders SET SCHEMA elsewhere;
DROP SCHEMA elsewhere;

-- Times: timestamptz -> timestamp converts in the session's TimeZone; accepted when that zone is
-- the one naive times are read in (UTC by default), refused otherwise.
BEGIN;
SET LOCAL TimeZone = 'America/Los_Angeles';
ALTER TABLE shop_orders ALTER COLUMN created_at TYPE timestamp;
ROLLBACK;
BEGIN;
ALTER TABLE shop_orders ALTER COLUMN created_at TYPE timestamp;
SELECT count(*) AS verify_rows FROM customer_tracking_verify();
ROLLBACK;
-- Amounts: numeric -> integer rounds 10.50 and 7.25: refused; once the amounts are whole (an
-- UPDATE, tracked), accepted.
BEGIN;
ALTER TABLE shop_orders ALTER COLUMN total_price TYPE integer;
ROLLBACK;
BEGIN;
UPDATE shop_orders SET total_price = round(total_price) WHERE total_price <> round(total_price);
ALTER TABLE shop_orders ALTER COLUMN total_price TYPE integer;
SELECT count(*) AS verify_rows FROM customer_tracking_verify();
ROLLBACK;
-- Statuses as an enum: accepted; renaming a label that orders use would change what counts.
BEGIN;
ALTER TABLE shop_orders ALTER COLUMN payment_status TYPE order_status USING payment_status::order_status;
ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'refunded';
COMMIT;
ALTER TYPE order_status RENAME VALUE 'completed' TO 'complete';
SELECT count(*) AS verify_rows FROM customer_tracking_verify();
-- A refused change inside a savepoint leaves nothing behind for the next one.
BEGIN;
SAVEPOINT s;
ALTER TABLE shop_orders DROP COLUMN network;
ROLLBACK TO SAVEPOINT s;
ALTER TABLE shop_orders RENAME COLUMN network TO carrier;
SELECT value FROM customer_tracking_settings WHERE setting = 'column:network';
ROLLBACK;

-- Without the guard: the status column renamed saves orders untracked (host_drift), never as
-- purchases; health and verify say why; backfill refuses to unlink everything; mapping the
-- column and a backfill bring the orders back.
ALTER EVENT TRIGGER customer_tracking_ddl_guard_end DISABLE;
ALTER TABLE shop_orders RENAME COLUMN payment_status TO status;
INSERT INTO shop_orders (id, shop_id, customer_phone, total_price, status, created_at) VALUES
  ('c3000000-0000-0000-0000-000000000011', :shop, '0241234567', 3, 'failed', '2026-02-02 10:00+00'),
  ('c3000000-0000-0000-0000-000000000012', :shop, '0241234567', 4, 'paid', '2026-02-02 11:00+00');
SELECT shop_order_id, issue, detail FROM customer_tracking_issues WHERE resolved_at IS NULL ORDER BY 1, 2;
SELECT host_drift FROM customer_tracking_health();
SELECT problem, stored FROM customer_tracking_verify() WHERE problem = 'host_drift';
SELECT * FROM customer_tracking_backfill();
SELECT customer_tracking_map_column('payment_status', 'status');
SELECT orders_linked, orders_untracked FROM customer_tracking_backfill();
SELECT o.id, t.purchase_completed FROM shop_orders o JOIN customer_tracking t ON t.id = o.id
 WHERE o.id IN ('c3000000-0000-0000-0000-000000000011', 'c3000000-0000-0000-0000-000000000012') ORDER BY 1;
SELECT count(*) AS verify_rows FROM customer_tracking_verify();
SELECT host_drift FROM customer_tracking_health();
ALTER EVENT TRIGGER customer_tracking_ddl_guard_end ENABLE;

\c contrib_regression
SET client_min_messages = warning;
DROP DATABASE ct_host_ddl;
RESET client_min_messages;
