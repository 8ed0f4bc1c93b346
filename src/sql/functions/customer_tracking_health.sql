-- One row: is tracking attached and enabled, how much is tracked, what is not.
CREATE OR REPLACE FUNCTION customer_tracking_health()
RETURNS TABLE (version text, triggers_enabled boolean, shops bigint, customers bigint,
               tracked_orders bigint, untracked_orders bigint, open_issues jsonb, host_drift jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    SELECT (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'customer_tracking'),
           (SELECT count(*) = 3 AND bool_and(t.tgenabled IN ('O', 'A'))
              FROM pg_catalog.pg_trigger t
             WHERE t.tgrelid = to_regclass('@extschema@.shop_orders')
               AND t.tgname IN ('customer_tracking_link', 'customer_tracking_track', 'customer_tracking_truncate')),
           (SELECT count(DISTINCT c.shop_id) FROM @extschema@.shop_customers c),
           (SELECT count(*) FROM @extschema@.shop_customers c WHERE c.total_purchases > 0),
           (SELECT count(*) FROM @extschema@.customer_tracking t),
           (SELECT count(*) FROM @extschema@.customer_tracking_issues i WHERE i.untracked AND i.resolved_at IS NULL),
           (SELECT coalesce(jsonb_object_agg(x.issue, x.n), '{}'::jsonb)
              FROM (SELECT i.issue, count(*) AS n FROM @extschema@.customer_tracking_issues i
                     WHERE i.resolved_at IS NULL GROUP BY i.issue) x),
           -- Fields the host table no longer lets the extension read, and a DDL guard that
           -- is not there to stop such changes.
           (SELECT coalesce(jsonb_object_agg(d.k, d.v), '{}'::jsonb)
              FROM (SELECT h.field AS k, h.state || ': ' || h.detail AS v
                      FROM @extschema@.customer_tracking_host_state() h
                     WHERE h.state IN ('drift', 'ignored')
                    UNION ALL
                    SELECT g.name, 'the DDL guard event trigger is ' ||
                           CASE WHEN e.evtenabled IS NULL THEN 'missing' ELSE 'disabled' END
                      FROM (VALUES ('customer_tracking_ddl_guard_start'),
                                   ('customer_tracking_ddl_guard_end')) g(name)
                      LEFT JOIN pg_catalog.pg_event_trigger e ON e.evtname = g.name
                     WHERE e.evtenabled IS DISTINCT FROM 'O' AND e.evtenabled IS DISTINCT FROM 'A') d)
$$;
COMMENT ON FUNCTION customer_tracking_health() IS
    'Tracking status for DBAs: version, whether the triggers are enabled, counts of shops, customers, '
    'tracked and untracked orders, open issues by reason, and host drift (fields that cannot be '
    'read, a missing or disabled DDL guard).';
SELECT customer_tracking_set_audience('customer_tracking_health()', 'dba');
