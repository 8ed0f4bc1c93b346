-- The up-front check of the dashboard functions written in PL/pgSQL: a role that may not read
-- every table the function reads gets "permission denied for function <name>" (as for a function
-- it may not run), with the tables in the detail, instead of an error about one of its
-- statements. Runs with the caller's rights; callable by anyone (it tells a role only what
-- has_table_privilege() tells it).
CREATE OR REPLACE FUNCTION customer_tracking_require_read(p_function text, VARIADIC p_tables regclass[])
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_names text[];
    v_n integer;
BEGIN
    IF (SELECT bool_and(has_table_privilege(t, 'SELECT')) FROM unnest(p_tables) t) THEN
        RETURN;
    END IF;
    SELECT array_agg(c.relname::text ORDER BY k) INTO v_names
      FROM unnest(p_tables) WITH ORDINALITY u(t, k) JOIN pg_class c ON c.oid = u.t;
    v_n := cardinality(v_names);
    RAISE EXCEPTION 'permission denied for function %', p_function
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = format('It reads %s; role %s may not read %s.',
                              CASE WHEN v_n = 1 THEN v_names[1]
                                   ELSE array_to_string(v_names[1:v_n - 1], ', ') || ' and ' || v_names[v_n] END,
                              current_user,
                              CASE WHEN v_n = 1 THEN 'it'
                                   WHEN (SELECT bool_or(has_table_privilege(t, 'SELECT')) FROM unnest(p_tables) t)
                                   THEN 'all of them'
                                   ELSE 'them' END);
END
$$;
COMMENT ON FUNCTION customer_tracking_require_read(text, regclass[]) IS
    'Raises "permission denied for function p_function" (insufficient_privilege) unless the '
    'current role may SELECT from every table in p_tables; the check dashboard functions make '
    'before they read.';
SELECT customer_tracking_set_audience('customer_tracking_require_read(text, regclass[])', 'storefront');
