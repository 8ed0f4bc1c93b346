--------------------------------------------------------------------------------
-- Owner identity and row-level security
--------------------------------------------------------------------------------
-- The current owner: Supabase's auth.uid() where the auth schema has it,
-- else the sub claim PostgREST puts in request.jwt.claims (or the older
-- request.jwt.claim.sub).
-- Which source applies is decided once, at CREATE EXTENSION: an auth schema
-- created later by someone else is never called.
-- It runs with the caller's rights, never the extension owner's: auth.uid()
-- belongs to another role (Supabase's auth admin), which may replace it, and
-- customer_tracking_owned_shops() calls this before it reads user_shops as
-- the owner. A superuser caller runs auth.uid() only while a superuser owns it.
DO $owner$
BEGIN
    IF to_regprocedure('auth.uid()') IS NOT NULL
       AND (SELECT r.rolsuper OR r.rolname LIKE 'supabase%'
              FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_roles r ON r.oid = p.proowner
             WHERE p.oid = to_regprocedure('auth.uid()')) THEN
        CREATE FUNCTION customer_tracking_current_owner()
        RETURNS uuid
        LANGUAGE plpgsql STABLE
        SET search_path = pg_catalog, pg_temp
        AS $body$
        BEGIN
            IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER) THEN
                IF NOT coalesce((SELECT o.rolsuper FROM pg_catalog.pg_proc p
                                   JOIN pg_catalog.pg_roles o ON o.oid = p.proowner
                                  WHERE p.oid = pg_catalog.to_regprocedure('auth.uid()')), false) THEN
                    RETURN NULL;   -- not another role's code as superuser
                END IF;
            END IF;
            RETURN auth.uid();
        EXCEPTION WHEN invalid_text_representation THEN
            RETURN NULL;   -- auth.uid() casts the claim: a malformed one means nobody, not an error
        END
        $body$;
    ELSE
        CREATE FUNCTION customer_tracking_current_owner()
        RETURNS uuid
        LANGUAGE plpgsql STABLE
        SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE
            v_claims text := pg_catalog.current_setting('request.jwt.claims', true);
            v_sub text;
        BEGIN
            IF v_claims ~ '^\s*\{' THEN
                v_sub := v_claims::jsonb ->> 'sub';
            END IF;
            v_sub := coalesce(v_sub, nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''));
            IF v_sub ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
                RETURN v_sub::uuid;
            END IF;
            RETURN NULL;
        END
        $$;
    END IF;
END
$owner$;

#include "functions/customer_tracking_owned_shops.sql"

ALTER TABLE shop_customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_issues ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_slug_customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_shop_totals ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_slug_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_network_totals ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_frequency ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON shop_customers, customer_tracking, customer_tracking_issues,
              customer_tracking_settings, customer_tracking_slug_customers,
              customer_tracking_shop_totals, customer_tracking_daily, customer_tracking_slug_daily,
              customer_tracking_network_totals, customer_tracking_frequency FROM PUBLIC;
-- Readers: where Supabase's roles exist, authenticated owners and service_role
-- (anon places orders but reads no customer data); elsewhere every role, with
-- row-level security deciding which rows. Nobody but the owner writes them.
DO $grants$
DECLARE
    r record;
    v_readers text := CASE
        WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated')
         AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role')
        THEN 'authenticated, service_role' ELSE 'PUBLIC' END;
BEGIN
    -- Default privileges (Supabase grants ALL on new objects in public to its roles) must not
    -- reach the extension's tables: revoke whatever any role but the owner got.
    FOR r IN
        SELECT DISTINCT c.oid::regclass AS rel, a.grantee::regrole AS grantee
          FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) a
         WHERE c.relnamespace = '@extschema@'::regnamespace AND a.grantee <> 0 AND a.grantee <> c.relowner
           AND c.relname IN ('shop_customers', 'customer_tracking', 'customer_tracking_issues',
                             'customer_tracking_untracked', 'customer_tracking_settings',
                             'customer_tracking_slug_customers', 'customer_tracking_shop_totals',
                             'customer_tracking_daily', 'customer_tracking_slug_daily',
                             'customer_tracking_network_totals', 'customer_tracking_frequency')
    LOOP
        EXECUTE format('REVOKE ALL ON %s FROM %s', r.rel, r.grantee);
    END LOOP;
    EXECUTE 'GRANT SELECT ON @extschema@.shop_customers, @extschema@.customer_tracking, '
         || '@extschema@.customer_tracking_issues, @extschema@.customer_tracking_untracked, '
         || '@extschema@.customer_tracking_slug_customers, @extschema@.customer_tracking_shop_totals, '
         || '@extschema@.customer_tracking_daily, @extschema@.customer_tracking_slug_daily, '
         || '@extschema@.customer_tracking_network_totals, @extschema@.customer_tracking_frequency TO ' || v_readers;
END
$grants$;
-- Owners read their own shops' rows. The policies only name extension
-- functions, so they are created here even while restoring a dump.
CREATE POLICY shop_customers_owner_select ON shop_customers
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY customer_tracking_owner_select ON customer_tracking
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY customer_tracking_issues_owner_select ON customer_tracking_issues
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_slug_customers
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_shop_totals
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_daily
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_slug_daily
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_network_totals
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_frequency
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
