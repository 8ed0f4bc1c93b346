--------------------------------------------------------------------------------
-- 1.4, roles (issue 10): dashboard functions are for the roles that may read
-- the extension's tables, so any other role gets "permission denied for
-- function ..." when it calls one, not an error from inside it. Where
-- Supabase's roles exist those are authenticated and service_role (anon and
-- other roles, also ones Supabase's default privileges granted EXECUTE to,
-- may not call them); elsewhere every role may (row-level security decides).
--------------------------------------------------------------------------------
DO $dashboard_grants$
DECLARE
    r record;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticated')
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        FOR r IN
            SELECT DISTINCT p.oid::regprocedure AS fn,
                   CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS grantee
              FROM pg_catalog.pg_proc p,
                   LATERAL pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
             WHERE p.pronamespace = '@extschema@'::regnamespace AND a.grantee <> p.proowner
               AND p.proname IN ('shop_customer_metrics', 'shop_customer_overview', 'shop_slug_analytics',
                                 'shop_customer_list', 'customer_purchase_history', 'shop_network_analytics',
                                 'shop_purchase_frequency', 'shop_last_purchase_decay', 'shop_daily_series',
                                 'customer_tracking_new_customers')
             ORDER BY 1, 2
        LOOP
            EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %s', r.fn, r.grantee);
        END LOOP;
        GRANT EXECUTE ON FUNCTION
            @extschema@.shop_customer_metrics(uuid, timestamptz), @extschema@.shop_customer_overview(uuid, text),
            @extschema@.shop_slug_analytics(uuid, timestamptz, timestamptz),
            @extschema@.shop_customer_list(uuid, text, boolean, text, integer, text, uuid),
            @extschema@.customer_purchase_history(uuid), @extschema@.shop_network_analytics(uuid),
            @extschema@.shop_purchase_frequency(uuid), @extschema@.shop_last_purchase_decay(uuid, timestamptz),
            @extschema@.shop_daily_series(uuid, date, date),
            @extschema@.customer_tracking_new_customers(uuid, timestamptz, timestamptz)
            TO authenticated, service_role;
    END IF;
END
$dashboard_grants$;

-- Citus: distributing the host tables and the extension's by shop
-- (issue 11; groundwork). On a Citus coordinator, customer_tracking_distribute()
-- makes user_shops a reference table, distributes shop_orders by its shop
-- column and the extension's tables by shop_id colocated with it
-- (customer_tracking_settings, which holds no shop, becomes a reference table).
-- customer_tracking_distribution_problems() lists what must change first.
