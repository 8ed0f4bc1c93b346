--------------------------------------------------------------------------------
-- Privileges on functions: maintenance is for the DBA (the extension owner);
-- dashboard functions run with the caller's rights, so everyone may call them.
--------------------------------------------------------------------------------
REVOKE EXECUTE ON FUNCTION customer_tracking_attach(), customer_tracking_check_host(),
    customer_tracking_invalidate(), customer_tracking_map_column(text, name),
    customer_tracking_set_statuses(text, text), customer_tracking_recompute(uuid, uuid),
    customer_tracking_backfill(uuid), customer_tracking_backfill_shop(uuid), customer_tracking_verify(uuid),
    customer_tracking_verify_rollups(uuid), customer_tracking_expected_orders(uuid),
    customer_tracking_problems(uuid, boolean), customer_tracking_repair_rollups(uuid),
    customer_tracking_decode_order(record), customer_tracking_host_state(),
    customer_tracking_set_naive_time_zone(text), customer_tracking_apply_pending(),
    customer_tracking_backfill_decode(uuid[]), customer_tracking_backfill_orders(uuid[]),
    customer_tracking_lock_shops(uuid[]), customer_tracking_progress_begin(text, bigint, bigint, bigint),
    customer_tracking_progress_set(text, bigint, bigint, bigint, bigint, bigint, bigint),
    customer_tracking_progress_end(), customer_tracking_progress_info(),
    customer_tracking_tracked_shops(), customer_tracking_backfill_chunks(uuid, uuid, bigint),
    customer_tracking_backfill_customers(uuid[]), customer_tracking_problems_of(uuid[], boolean),
    customer_tracking_orders_distributed()
    FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE customer_tracking_backfill_all(integer, boolean) FROM PUBLIC;
DO $revoke$
DECLARE
    r record;
BEGIN
    -- Also from roles that default privileges granted EXECUTE to.
    FOR r IN
        SELECT DISTINCT p.oid::regprocedure AS fn, a.grantee::regrole AS grantee
          FROM pg_catalog.pg_proc p, LATERAL pg_catalog.aclexplode(p.proacl) a
         WHERE p.pronamespace = '@extschema@'::regnamespace AND a.grantee <> 0 AND a.grantee <> p.proowner
           AND p.proname IN ('customer_tracking_attach', 'customer_tracking_check_host',
                             'customer_tracking_invalidate', 'customer_tracking_map_column',
                             'customer_tracking_set_statuses', 'customer_tracking_recompute',
                             'customer_tracking_backfill', 'customer_tracking_backfill_shop',
                             'customer_tracking_verify', 'customer_tracking_verify_rollups',
                             'customer_tracking_expected_orders',
                             'customer_tracking_problems', 'customer_tracking_repair_rollups',
                             'customer_tracking_health', 'customer_tracking_decode_order',
                             'customer_tracking_host_state', 'customer_tracking_set_naive_time_zone',
                             'customer_tracking_apply_pending', 'customer_tracking_backfill_decode',
                             'customer_tracking_backfill_orders', 'customer_tracking_lock_shops',
                             'customer_tracking_progress_begin', 'customer_tracking_progress_set',
                             'customer_tracking_progress_end', 'customer_tracking_progress_info',
                             'customer_tracking_tracked_shops', 'customer_tracking_backfill_chunks',
                             'customer_tracking_backfill_customers', 'customer_tracking_problems_of',
                             'customer_tracking_orders_distributed', 'customer_tracking_backfill_all')
    LOOP
        EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM %s', r.fn, r.grantee);
    END LOOP;
END
$revoke$;

-- 1.4: the DDL guard (src/host_guard.cpp). Created last: the install's own DDL is done.
CREATE EVENT TRIGGER customer_tracking_ddl_guard_start ON ddl_command_start
    EXECUTE FUNCTION customer_tracking_ddl_guard();
CREATE EVENT TRIGGER customer_tracking_ddl_guard_end ON ddl_command_end
    EXECUTE FUNCTION customer_tracking_ddl_guard();
