-- The column each field is read from ('' = none), after mapping.
CREATE OR REPLACE FUNCTION customer_tracking_columns(
    OUT field text, OUT column_name name, OUT required boolean, OUT mapped boolean)
RETURNS SETOF record
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    SELECT f.field, coalesce(s.value, f.default_column)::name, f.required, s.value IS NOT NULL
      FROM customer_tracking_fields() WITH ORDINALITY AS f(field, default_column, required, n)
      LEFT JOIN customer_tracking_settings s ON s.setting = 'column:' || f.field
     ORDER BY f.n
$$;
