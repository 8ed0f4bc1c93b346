-- customer_tracking 1.0 -> 1.1: a health report for DBAs.

\echo Use "ALTER EXTENSION customer_tracking UPDATE TO '1.1'" to load this file. \quit

-- One row: is tracking attached and enabled, how much is tracked, what is not.
CREATE FUNCTION customer_tracking_health()
RETURNS TABLE (version text, triggers_enabled boolean, shops bigint, customers bigint,
               tracked_orders bigint, untracked_orders bigint, open_issues jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    SELECT (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'customer_tracking'),
           (SELECT count(*) = 4 AND bool_and(t.tgenabled IN ('O', 'A'))
              FROM pg_catalog.pg_trigger t
             WHERE t.tgrelid = to_regclass('@extschema@.shop_orders')
               AND t.tgname IN ('customer_tracking_link', 'customer_tracking_track', 'customer_tracking_flush',
                                'customer_tracking_truncate')),
           (SELECT count(DISTINCT c.shop_id) FROM @extschema@.shop_customers c),
           (SELECT count(*) FROM @extschema@.shop_customers c WHERE c.total_purchases > 0),
           (SELECT count(*) FROM @extschema@.customer_tracking t),
           (SELECT count(*) FROM @extschema@.customer_tracking_issues i WHERE i.untracked AND i.resolved_at IS NULL),
           (SELECT coalesce(jsonb_object_agg(x.issue, x.n), '{}'::jsonb)
              FROM (SELECT i.issue, count(*) AS n FROM @extschema@.customer_tracking_issues i
                     WHERE i.resolved_at IS NULL GROUP BY i.issue) x)
$$;
COMMENT ON FUNCTION customer_tracking_health() IS
    'Tracking status for DBAs: version, whether the triggers are enabled, counts of shops, customers, '
    'tracked and untracked orders, and open issues by reason.';
REVOKE EXECUTE ON FUNCTION customer_tracking_health() FROM PUBLIC;
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
