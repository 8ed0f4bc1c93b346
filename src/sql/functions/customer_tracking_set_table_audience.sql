-- Who may read a table or view of the extension, decided once per relation, next to its
-- CREATE (the twin of customer_tracking_set_audience() for functions):
--   'dba'        maintenance: the extension owner only;
--   'dashboard'  owner-facing data: SELECT, where Supabase's roles exist, for authenticated and
--                service_role only (anon reads no customer data); elsewhere for every role
--                (row-level security decides the rows).
-- Either way nobody but the owner writes it: every privilege of PUBLIC and of any role that
-- default privileges granted rights to (Supabase grants ALL on new tables in public) is
-- revoked first.
CREATE OR REPLACE FUNCTION customer_tracking_set_table_audience(p_table regclass, p_audience text)
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
    IF p_audience IS NULL OR p_audience NOT IN ('dba', 'dashboard') THEN
        RAISE EXCEPTION 'customer_tracking: unknown table audience %', coalesce(p_audience, 'NULL')
            USING HINT = 'Use dba or dashboard.';
    END IF;
    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', p_table);
    FOR r IN
        SELECT DISTINCT a.grantee::regrole AS grantee
          FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) a
         WHERE c.oid = p_table AND a.grantee <> 0 AND a.grantee <> c.relowner
         ORDER BY 1
    LOOP
        EXECUTE format('REVOKE ALL ON %s FROM %s', p_table, r.grantee);
    END LOOP;
    IF p_audience = 'dashboard' THEN
        EXECUTE format('GRANT SELECT ON %s TO %s', p_table,
                       CASE WHEN supabase THEN 'authenticated, service_role' ELSE 'PUBLIC' END);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_tracking_set_table_audience(regclass, text) IS
    'Sets who may read a table or view of the extension: dba (its owner only) or dashboard '
    '(SELECT for Supabase''s authenticated and service_role where they exist, else for every role; '
    'row-level security decides the rows). Revokes every other privilege, default privileges '
    'included; nobody but the owner writes. Run by the install and upgrade scripts.';
SELECT customer_tracking_set_audience('customer_tracking_set_table_audience(regclass, text)', 'dba');
