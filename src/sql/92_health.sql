--------------------------------------------------------------------------------
-- 1.1
--------------------------------------------------------------------------------
\echo Use "ALTER EXTENSION customer_tracking UPDATE TO '1.1'" to load this file. \quit

#include "functions/customer_tracking_health.sql"
DO $revoke$
DECLARE
    r record;
BEGIN
    -- Also from roles that default privileges granted EXECUTE to.
    FOR r IN
        SELECT a.grantee::regrole AS grantee
          FROM pg_catalog.aclexplode((SELECT p.proacl FROM pg_catalog.pg_proc p
                                       WHERE p.oid = '@extschema@.customer_tracking_health()'::regprocedure)) a
         WHERE a.grantee <> 0
           AND a.grantee <> (SELECT p.proowner FROM pg_catalog.pg_proc p
                              WHERE p.oid = '@extschema@.customer_tracking_health()'::regprocedure)
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION @extschema@.customer_tracking_health() FROM %s', r.grantee);
    END LOOP;
END
$revoke$;
