CREATE OR REPLACE FUNCTION shop_customer_overview(p_shop_id uuid, p_currency text DEFAULT 'GHS')
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    -- The lines of the JSON form, in a box.
    RETURN (
    WITH lines AS (
        SELECT l.n, l.line
          FROM jsonb_array_elements_text(@extschema@.shop_customer_overview_json(p_shop_id, p_currency) -> 'lines')
               WITH ORDINALITY AS l(line, n)
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
    'The plan''s "Customer Overview" box for a shop, as text (psql, quick checks); '
    'shop_customer_overview_json() has the same numbers as JSON.';
SELECT customer_tracking_set_audience('shop_customer_overview(uuid, text)', 'dashboard');
