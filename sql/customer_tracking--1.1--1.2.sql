-- customer_tracking 1.1 -> 1.2: faster dashboard calls: shop_customer_metrics() in C, and the
-- owner lookup of the row-level security policies in PL/pgSQL (plans kept per session).

\echo Use "ALTER EXTENSION customer_tracking UPDATE TO '1.2'" to load this file. \quit

-- Same signature, result and numbers; one statement over the rollups, planned once per
-- session instead of three SQL functions planned on every call (src/metrics.cpp).
CREATE OR REPLACE FUNCTION shop_customer_metrics(p_shop_id uuid, p_as_of timestamptz DEFAULT now())
RETURNS TABLE (total_customers bigint, repeat_customers bigint, repeat_rate numeric,
               new_customers_30d bigint, new_customers_this_month bigint, average_ltv numeric,
               total_revenue numeric)
LANGUAGE c STABLE PARALLEL SAFE ROWS 1
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'ct_shop_customer_metrics';

-- The owner source chosen at CREATE EXTENSION stays: only the JWT-claim variant (SQL in 1.1)
-- is replaced; the auth.uid() variant already was PL/pgSQL.
DO $owner$
BEGIN
    IF (SELECT l.lanname = 'sql'
          FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang
         WHERE p.oid = '@extschema@.customer_tracking_current_owner()'::regprocedure) THEN
        CREATE OR REPLACE FUNCTION customer_tracking_current_owner()
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

CREATE OR REPLACE FUNCTION customer_tracking_owned_shops()
RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(s.id), '{}')
              FROM @extschema@.user_shops s
             WHERE s.user_id = (SELECT @extschema@.customer_tracking_current_owner()));  -- once, not per shop
END
$$;
