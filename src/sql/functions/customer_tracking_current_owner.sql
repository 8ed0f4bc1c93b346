-- The current owner: Supabase's auth.uid() where the auth schema has it,
-- else the sub claim PostgREST puts in request.jwt.claims (or the older
-- request.jwt.claim.sub).
-- Which source applies is decided once, at CREATE EXTENSION: an auth schema
-- created later by someone else is never called (an update replaces the variant chosen
-- then, and leaves the claims variant as it is).
-- It runs with the caller's rights, never the extension owner's: auth.uid()
-- belongs to another role (Supabase's auth admin), which may replace it, and
-- customer_tracking_owned_shops() calls this before it reads user_shops as
-- the owner. A superuser caller runs auth.uid() only while a superuser owns it.
DO $owner$
DECLARE
    v_existing regprocedure := to_regprocedure('@extschema@.customer_tracking_current_owner()');
BEGIN
    IF (CASE WHEN v_existing IS NULL THEN
                -- CREATE EXTENSION: Supabase's auth.uid(), if a superuser or Supabase owns it.
                to_regprocedure('auth.uid()') IS NOT NULL
                AND (SELECT r.rolsuper OR r.rolname LIKE 'supabase%'
                       FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_roles r ON r.oid = p.proowner
                      WHERE p.oid = to_regprocedure('auth.uid()'))
            ELSE
                -- An update: the variant CREATE EXTENSION chose, replaced by its current body.
                (SELECT p.prosrc FROM pg_catalog.pg_proc p WHERE p.oid = v_existing) LIKE '%auth.uid()%'
            END) THEN
        CREATE OR REPLACE FUNCTION customer_tracking_current_owner()
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
    ELSIF v_existing IS NULL THEN
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
SELECT customer_tracking_set_audience('customer_tracking_current_owner()', 'storefront');
