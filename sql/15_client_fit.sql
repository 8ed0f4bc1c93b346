-- The dashboard surface as its clients see it: the metrics as one composite row (a row in every
-- driver, an object in PostgREST), typed keyset cursors that survive any session TimeZone, p_
-- names everywhere, one scale for money (2 decimals) and rates (1), bigint for every whole
-- number, a JSON form of the overview; the deprecated forms of 1.3 still answer. Drivers and
-- PostgREST-style calls: test/scripts/driver_rpc.sh.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
\set SHOW_CONTEXT never
\set c1 '''d1500000-0000-0000-0000-000000000001'''
\set c2 '''d1500000-0000-0000-0000-000000000002'''
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  (:c1, 'e1500000-0000-0000-0000-000000000001', 'ct15-fit'),
  (:c2, 'e1500000-0000-0000-0000-000000000002', 'ct15-empty');
-- Groups of three customers share last purchase time (to the microsecond), total and count.
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT :c1, 'Fit ' || c, '0241' || lpad((500000 + c)::text, 6, '0'), 'MTN',
       (ARRAY[10.00, 25.50, 0.10, 99.99])[1 + (c - 1) / 3], 'paid', 'ct15-fit',
       timestamptz '2026-03-29 00:59:59.999999+00' + ((c - 1) / 3 - 2) * interval '1 hour 0.000123 seconds'
  FROM generate_series(1, 12) c, generate_series(1, 1 + ((c - 1) / 3) % 2) k;
-- A slug with a checkout only: no revenue.
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
VALUES (:c1, 'Browser', '0241599999', 'MTN', 5.00, 'pending', 'ct15-fit-ig', '2026-03-20 12:00+00');

--------------------------------------------------------------------------------
-- 1. Shapes. One function per name (PostgREST cannot choose between overloads); what each
--    returns: one composite row, a set, or one value.
--------------------------------------------------------------------------------
SELECT p.proname AS function, p.proretset AS set, format_type(p.prorettype, NULL) AS returns,
       pg_get_function_identity_arguments(p.oid) AS arguments
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace
   AND p.proname IN ('shop_customer_metrics', 'shop_customer_metrics_rows', 'shop_customer_overview',
                     'shop_customer_overview_json', 'shop_slug_analytics', 'shop_customer_list',
                     'customer_purchase_history', 'shop_network_analytics', 'shop_purchase_frequency',
                     'shop_last_purchase_decay', 'shop_daily_series', 'normalize_phone',
                     'customer_tracking_customer_id')
 ORDER BY 1, 4;
-- Input arguments without the p_ prefix, in any function of the extension: none.
SELECT p.proname, a.name
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'customer_tracking',
       LATERAL unnest(p.proargnames, coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[p.pronargs]))) a(name, mode)
 WHERE a.mode IN ('i', 'b', 'v') AND a.name NOT LIKE 'p\_%';
-- Result columns of the dashboard functions: every whole number is bigint, every fraction
-- numeric (no integer, smallint, real or double precision).
SELECT p.proname, a.name, format_type(a.type, NULL)
  FROM pg_proc p,
       LATERAL unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames,
                      coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[p.pronargs]))) a(type, name, mode)
 WHERE p.pronamespace = 'public'::regnamespace AND (p.proname LIKE 'shop\_%' OR p.proname = 'customer_purchase_history')
   AND a.mode IN ('o', 't') AND a.type IN ('int2'::regtype, 'int4'::regtype, 'float4'::regtype, 'float8'::regtype);
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
  FROM pg_attribute a WHERE a.attrelid = 'customer_tracking_metrics'::regclass AND a.attnum > 0 ORDER BY a.attnum;

--------------------------------------------------------------------------------
-- 2. The metrics: one composite row, the same whichever way it is asked for.
--------------------------------------------------------------------------------
SELECT shop_customer_metrics(:c1, '2026-04-01 00:00+00') AS one_value;
SELECT pg_typeof(shop_customer_metrics(:c1)) AS type;
SELECT * FROM shop_customer_metrics(:c1, '2026-04-01 00:00+00');
SELECT (shop_customer_metrics(:c1, '2026-04-01 00:00+00')).total_revenue;
SELECT count(*) AS deprecated_rows,
       bool_and(r = shop_customer_metrics(:c1, '2026-04-01 00:00+00')) AS same_row
  FROM shop_customer_metrics_rows(:c1, '2026-04-01 00:00+00') r;
-- A shop without customers: zeros with their scale.
SELECT shop_customer_metrics(:c2) AS empty_shop;
-- PostgREST's body: an object for the composite, an array for the deprecated set.
SELECT coalesce((json_agg(t) -> 0)::text, 'null') AS postgrest_body FROM shop_customer_metrics(:c2) t;
SELECT coalesce(json_agg(t), '[]')::text AS postgrest_body_deprecated FROM shop_customer_metrics_rows(:c2) t;

--------------------------------------------------------------------------------
-- 3. Numeric scale: money has 2 decimals (more only when the amounts have more; never rounded),
--    rates 1.
--------------------------------------------------------------------------------
SELECT v, customer_tracking_money(v) AS money
  FROM unnest(ARRAY[0, 0.0, 12.5, 12.50, 1.234, -3, NULL]::numeric[]) v;
SELECT slug, checkouts, purchases, conversion_rate, revenue FROM shop_slug_analytics(:c1);
SELECT network, customers_preferring, purchases, revenue FROM shop_network_analytics(:c1);
SELECT purchases, customers, share FROM shop_purchase_frequency(:c1);
SELECT day, purchases, revenue FROM shop_daily_series(:c1, '2026-03-27', '2026-03-29');
SELECT amount FROM customer_purchase_history(customer_tracking_customer_id(:c1, '+233241500007')) ORDER BY 1;
SELECT bucket, min_days, max_days, customers FROM shop_last_purchase_decay(:c1, '2026-04-01 00:00+00');

--------------------------------------------------------------------------------
-- 4. The overview as JSON: the metrics' numbers, formatted strings, the text box's lines.
--------------------------------------------------------------------------------
SELECT jsonb_pretty(shop_customer_overview_json(:c1));
SELECT shop_customer_overview(:c1);
SELECT (SELECT array_agg(l ORDER BY n) FROM jsonb_array_elements_text(shop_customer_overview_json(:c1) -> 'lines')
          WITH ORDINALITY j(l, n))
       = (SELECT array_agg(rtrim(substr(l, 3, length(l) - 3)) ORDER BY n)
            FROM regexp_split_to_table(shop_customer_overview(:c1), E'\n') WITH ORDINALITY b(l, n) WHERE n > 3 AND l LIKE '│%')
       AS box_lines_from_json;
SELECT shop_customer_overview_json(:c2, 'USD') ->> 'formatted' AS empty_shop_formatted;
SELECT shop_customer_overview_json(:c2, NULL) -> 'lines' AS no_currency;

--------------------------------------------------------------------------------
-- 5. Keyset cursors: opaque text, the row's key kept exactly; a walk whose pages are read in
--    different session TimeZones and DateStyles gives the one-page list.
--------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.cursor_walk(p_sort text, p_limit int)
RETURNS TABLE (n bigint, id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    v_zones text[] := ARRAY['UTC', 'Asia/Kolkata', 'America/St_Johns', 'Pacific/Chatham', 'Pacific/Kiritimati',
                            'America/Los_Angeles'];
    v_cursor text;
    v_last text;
    v_n bigint := 0;
    r record;
BEGIN
    FOR v_page IN 1 .. 100 LOOP
        PERFORM set_config('TimeZone', v_zones[1 + v_page % 6], true),
                set_config('DateStyle', CASE WHEN v_page % 2 = 0 THEN 'SQL, DMY' ELSE 'ISO, YMD' END, true);
        v_last := NULL;
        FOR r IN SELECT * FROM shop_customer_list('d1500000-0000-0000-0000-000000000001', p_sort => p_sort,
                                                  p_limit => p_limit, p_cursor => v_cursor) LOOP
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
SELECT s.sort, l.lim, count(*) AS rows_walked,
       array_agg(w.id ORDER BY w.n) = (SELECT array_agg(x.id ORDER BY x.ord)
                                         FROM shop_customer_list(:c1, p_sort => s.sort, p_limit => 500)
                                              WITH ORDINALITY x(id, a, b, c, d, e, f, g, h, i, j, k, t, ord)) AS same_as_one_page
  FROM unnest(ARRAY['last_purchase', 'total_spent', 'purchases']) s(sort), unnest(ARRAY[1, 2, 5]) l(lim),
       LATERAL pg_temp.cursor_walk(s.sort, l.lim) w
 GROUP BY s.sort, l.lim ORDER BY 1, 2;
RESET DateStyle;
SET TimeZone = 'UTC';
-- The cursor is text that round-trips through anything that carries a string: URL-safe.
SELECT bool_and(cursor ~ '^[A-Za-z0-9_-]+$') AS url_safe, count(DISTINCT cursor) = count(*) AS one_per_row
  FROM shop_customer_list(:c1, p_limit => 500);
-- Refused: a cursor of another sort, garbage, an empty string, both forms at once.
SELECT cursor AS c FROM shop_customer_list(:c1, p_limit => 1) \gset
SELECT * FROM shop_customer_list(:c1, p_sort => 'total_spent', p_cursor => :'c');
SELECT * FROM shop_customer_list(:c1, p_cursor => 'not-a-cursor');
SELECT * FROM shop_customer_list(:c1, p_cursor => '');
SELECT * FROM shop_customer_list(:c1, p_cursor => :'c', p_after_value => '1', p_after_id => :c1);
-- The deprecated form still pages (positional call of 1.3).
SELECT sort_value AS v, id AS i FROM shop_customer_list(:c1, NULL, false, 'purchases', 4) ORDER BY total_purchases, id LIMIT 1 \gset
SELECT count(*) AS after_deprecated FROM shop_customer_list(:c1, NULL, false, 'purchases', 500, :'v', :'i');

--------------------------------------------------------------------------------
-- 6. normalize_phone: p_phone and p_region by name; positional calls as before.
--------------------------------------------------------------------------------
SELECT normalize_phone(p_phone => '024 123 4567', p_region => 'GH') AS named,
       normalize_phone('650.253.0000', 'US') AS positional, normalize_phone(p_phone => '0241234567') AS default_region;

DELETE FROM user_shops WHERE id IN (:c1, :c2);
