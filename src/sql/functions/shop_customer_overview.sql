CREATE OR REPLACE FUNCTION shop_customer_overview(p_shop_id uuid, p_currency text DEFAULT 'GHS')
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN (
    WITH m AS (SELECT * FROM @extschema@.shop_customer_metrics(p_shop_id)),
    lines AS (
        SELECT n, line FROM m, LATERAL (VALUES
            (1, 'Total Customers: ' || to_char(m.total_customers, 'FM999,999,999,990')),
            (2, 'Repeat Customers: ' || to_char(m.repeat_customers, 'FM999,999,999,990')
                 || ' (' || to_char(m.repeat_rate, 'FM990.0') || '%)'),
            (3, 'New This Month: ' || to_char(m.new_customers_this_month, 'FM999,999,999,990')),
            (4, 'Average LTV: ' || p_currency || ' ' || to_char(m.average_ltv, 'FM999,999,999,990.00')),
            (5, 'Total Revenue: ' || p_currency || ' ' || to_char(m.total_revenue, 'FM999,999,999,999,990.00'))
        ) v(n, line)
    ), w AS (SELECT greatest(39, max(length(line))) + 2 AS inner_width FROM lines)
    SELECT '┌' || repeat('─', w.inner_width) || '┐' || E'\n'
        || '│ ' || rpad('Customer Overview', w.inner_width - 1) || '│' || E'\n'
        || '├' || repeat('─', w.inner_width) || '┤' || E'\n'
        || (SELECT string_agg('│ ' || rpad(line, w.inner_width - 1) || '│', E'\n' ORDER BY n) FROM lines) || E'\n'
        || '└' || repeat('─', w.inner_width) || '┘'
      FROM w
    );
END
$$;
COMMENT ON FUNCTION shop_customer_overview(uuid, text) IS
    'The plan''s "Customer Overview" box for a shop, as text (psql, quick checks).';
SELECT customer_tracking_set_audience('shop_customer_overview(uuid, text)', 'dashboard');
