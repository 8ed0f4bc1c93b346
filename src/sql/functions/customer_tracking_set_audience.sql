-- Who may run a function of the extension, decided once per function, in its own file:
--   'dba'        maintenance: the extension owner only (EXECUTE revoked from PUBLIC and from
--                every role that default privileges granted it to);
--   'dashboard'  owner-facing reads and settings: where Supabase's roles exist, authenticated and
--                service_role only (anon and other roles get "permission denied for function",
--                not an error from inside it); elsewhere every role (row-level security decides);
--   'storefront' callable by anyone, anon included (the function itself reveals nothing).
CREATE OR REPLACE FUNCTION customer_tracking_set_audience(p_function regprocedure, p_audience text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    supabase constant boolean :=
        EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticated')
        AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'service_role');
BEGIN
    IF p_audience IS NULL OR p_audience NOT IN ('dba', 'dashboard', 'storefront') THEN
        RAISE EXCEPTION 'customer_tracking: unknown audience %', coalesce(p_audience, 'NULL')
            USING HINT = 'Use dba, dashboard or storefront.';
    END IF;
    IF p_audience = 'storefront' OR (p_audience = 'dashboard' AND NOT supabase) THEN
        RETURN;  -- PostgreSQL's default: EXECUTE for PUBLIC
    END IF;
    FOR r IN
        SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS grantee
          FROM pg_catalog.pg_proc p,
               LATERAL pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
         WHERE p.oid = p_function AND a.grantee <> p.proowner
         ORDER BY 1
    LOOP
        EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM %s', p_function, r.grantee);
    END LOOP;
    IF p_audience = 'dashboard' THEN
        EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO authenticated, service_role', p_function);
    END IF;
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_set_audience(regprocedure, text)', 'dba');
