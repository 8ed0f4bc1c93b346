--------------------------------------------------------------------------------
#include "functions/customer_tracking_distributed_tables.sql"

#include "functions/customer_tracking_distribution_problems.sql"

#include "functions/customer_tracking_distribute.sql"
REVOKE EXECUTE ON FUNCTION customer_tracking_distribution_problems(), customer_tracking_distribute() FROM PUBLIC;
DO $revoke$
DECLARE
    r record;
BEGIN
    -- Also from roles that default privileges granted EXECUTE to.
    FOR r IN
        SELECT DISTINCT p.oid::regprocedure AS fn, a.grantee::regrole AS grantee
          FROM pg_catalog.pg_proc p, LATERAL pg_catalog.aclexplode(p.proacl) a
         WHERE p.pronamespace = '@extschema@'::regnamespace AND a.grantee <> 0 AND a.grantee <> p.proowner
           AND p.proname IN ('customer_tracking_distribution_problems', 'customer_tracking_distribute')
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %s', r.fn, r.grantee);
    END LOOP;
END
$revoke$;
