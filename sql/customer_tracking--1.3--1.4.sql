-- customer_tracking 1.3 -> 1.4.
--
-- Sections of this script belong to separate changes of 1.4; each keeps to its own block,
-- delimited by a header like the one below, so that they merge independently.

\echo Use "ALTER EXTENSION customer_tracking UPDATE TO '1.4'" to load this file. \quit

--------------------------------------------------------------------------------
-- Issue 10, definer rights and roles.
--   * customer_tracking_owned_shops() (what every row-level security policy calls) is no
--     longer SECURITY DEFINER: the owner lookup (Supabase's auth.uid(), which another role
--     owns and may replace) runs with the caller's rights, then user_shops is read with the
--     rights of the function's owner (C, src/owner.cpp). A superuser caller runs auth.uid()
--     only while a superuser owns it.
--   * Dashboard functions are callable by the roles that may read the extension's tables
--     (Supabase: authenticated, service_role; elsewhere everyone), so any other role gets a
--     permission error naming the function. shop_customer_list() and
--     customer_purchase_history() (PL/pgSQL: an error inside would quote their statements as
--     context) check up front that the caller may read what they read, the latter also the
--     shop_orders columns it shows, with the same kind of error.
--------------------------------------------------------------------------------
-- The Supabase variant of the owner lookup (the JWT variant calls nothing of another role).
DO $owner$
BEGIN
    IF (SELECT p.prosrc FROM pg_catalog.pg_proc p
         WHERE p.oid = '@extschema@.customer_tracking_current_owner()'::regprocedure) LIKE '%auth.uid()%' THEN
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
    END IF;
END
$owner$;

CREATE OR REPLACE FUNCTION customer_tracking_owned_shops()
RETURNS uuid[]
LANGUAGE c STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'ct_owned_shops';
COMMENT ON FUNCTION customer_tracking_owned_shops() IS
    'Shops of the current owner (customer_tracking_current_owner(), with the caller''s rights), '
    'as the row-level security policies see them.';

CREATE OR REPLACE FUNCTION shop_customer_list(p_shop_id uuid, p_search text DEFAULT NULL,
                                   p_repeat_only boolean DEFAULT false,
                                   p_sort text DEFAULT 'last_purchase', p_limit integer DEFAULT 50,
                                   p_after_value text DEFAULT NULL, p_after_id uuid DEFAULT NULL)
RETURNS TABLE (id uuid, customer_name text, phone_number text, email text, total_purchases integer,
               repeat_customer boolean, total_spent numeric, first_purchase_at timestamptz,
               last_purchase_at timestamptz, preferred_network text, sort_value text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_limit integer := least(greatest(coalesce(p_limit, 50), 1), 500);
    v_phone text;
    v_pattern text;
BEGIN
    -- A role that may not read the customers gets an error naming this function (not the
    -- statement below as context).
    IF NOT has_table_privilege('@extschema@.shop_customers', 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for function shop_customer_list'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('It reads shop_customers; role %s may not read it.', current_user);
    END IF;
    IF p_sort IS NULL OR p_sort NOT IN ('last_purchase', 'total_spent', 'purchases') THEN
        RAISE EXCEPTION 'shop_customer_list: p_sort must be last_purchase, total_spent or purchases'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (p_after_value IS NULL) <> (p_after_id IS NULL) THEN
        RAISE EXCEPTION 'shop_customer_list: give both p_after_value and p_after_id (from the last row) or neither'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF nullif(btrim(p_search), '') IS NOT NULL THEN
        -- A phone typed in any format finds the customer; otherwise name or email contain the text.
        v_phone := CASE WHEN p_search ~ '^[\s+()0-9.-]+$' THEN @extschema@.normalize_phone(p_search) END;
        v_pattern := '%' || replace(replace(replace(btrim(p_search), '\', '\\'), '%', '\%'), '_', '\_') || '%';
    END IF;

    IF p_sort = 'last_purchase' THEN
        RETURN QUERY
        SELECT c.id, c.customer_name::text, c.phone_number::text, c.email::text, c.total_purchases,
               c.repeat_customer, c.total_spent, c.first_purchase_at, c.last_purchase_at,
               c.preferred_network::text,
               to_char(c.last_purchase_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
          FROM @extschema@.shop_customers c
         WHERE c.shop_id = p_shop_id AND c.total_purchases > 0
           AND (NOT p_repeat_only OR c.total_purchases >= 2)
           AND (v_phone IS NOT NULL AND c.phone_number = v_phone
                OR v_phone IS NULL AND (v_pattern IS NULL OR c.customer_name ILIKE v_pattern OR c.email ILIKE v_pattern))
           AND (p_after_id IS NULL
                OR (c.last_purchase_at, c.id) < ((p_after_value::timestamp AT TIME ZONE 'UTC'), p_after_id))
         ORDER BY c.last_purchase_at DESC, c.id DESC
         LIMIT v_limit;
    ELSIF p_sort = 'total_spent' THEN
        RETURN QUERY
        SELECT c.id, c.customer_name::text, c.phone_number::text, c.email::text, c.total_purchases,
               c.repeat_customer, c.total_spent, c.first_purchase_at, c.last_purchase_at,
               c.preferred_network::text, c.total_spent::text
          FROM @extschema@.shop_customers c
         WHERE c.shop_id = p_shop_id AND c.total_purchases > 0
           AND (NOT p_repeat_only OR c.total_purchases >= 2)
           AND (v_phone IS NOT NULL AND c.phone_number = v_phone
                OR v_phone IS NULL AND (v_pattern IS NULL OR c.customer_name ILIKE v_pattern OR c.email ILIKE v_pattern))
           AND (p_after_id IS NULL OR (c.total_spent, c.id) < (p_after_value::numeric, p_after_id))
         ORDER BY c.total_spent DESC, c.id DESC
         LIMIT v_limit;
    ELSE
        RETURN QUERY
        SELECT c.id, c.customer_name::text, c.phone_number::text, c.email::text, c.total_purchases,
               c.repeat_customer, c.total_spent, c.first_purchase_at, c.last_purchase_at,
               c.preferred_network::text, c.total_purchases::text
          FROM @extschema@.shop_customers c
         WHERE c.shop_id = p_shop_id AND c.total_purchases > 0
           AND (NOT p_repeat_only OR c.total_purchases >= 2)
           AND (v_phone IS NOT NULL AND c.phone_number = v_phone
                OR v_phone IS NULL AND (v_pattern IS NULL OR c.customer_name ILIKE v_pattern OR c.email ILIKE v_pattern))
           AND (p_after_id IS NULL OR (c.total_purchases, c.id) < (p_after_value::integer, p_after_id))
         ORDER BY c.total_purchases DESC, c.id DESC
         LIMIT v_limit;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION customer_purchase_history(p_customer_id uuid)
RETURNS TABLE (order_id uuid, created_at timestamptz, amount numeric, network text, slug text,
               payment_status text, purchase_completed boolean, completed_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_shop uuid;
    v_id name := (SELECT c.column_name FROM @extschema@.customer_tracking_columns() c WHERE c.field = 'id');
    v_status name := (SELECT c.column_name FROM @extschema@.customer_tracking_columns() c WHERE c.field = 'payment_status');
    v_has_status boolean;
BEGIN
    v_has_status := v_status <> '' AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = '@extschema@.shop_orders'::regclass AND a.attname = v_status AND NOT a.attisdropped);
    -- It also shows the orders' status from the host's shop_orders: a role that may not read
    -- what it reads gets an error naming this function, not a table.
    IF NOT has_table_privilege('@extschema@.shop_customers', 'SELECT')
       OR NOT has_table_privilege('@extschema@.customer_tracking', 'SELECT')
       OR NOT has_column_privilege('@extschema@.shop_orders', v_id::text, 'SELECT')
       OR v_has_status AND NOT has_column_privilege('@extschema@.shop_orders', v_status::text, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for function customer_purchase_history'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('It reads shop_customers, customer_tracking and shop_orders.%s; role %s may not read all of them.',
                                  CASE WHEN v_has_status THEN v_status ELSE v_id END, current_user);
    END IF;
    SELECT c.shop_id INTO v_shop FROM @extschema@.shop_customers c WHERE c.id = p_customer_id;
    IF v_shop IS NULL THEN
        RETURN;   -- no such customer, or not the caller's
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT t.shop_order_id, t.accessed_at, t.purchase_amount, t.network::text, t.accessed_via_slug::text,
               %s, t.purchase_completed, t.completed_at
          FROM @extschema@.customer_tracking t
          LEFT JOIN @extschema@.shop_orders o ON o.%I = t.shop_order_id
         WHERE t.shop_customer_id = $1 AND t.shop_id = $2
         ORDER BY t.accessed_at DESC, t.id DESC$q$,
        CASE WHEN v_has_status THEN format('o.%I::text', v_status) ELSE 'NULL::text' END, v_id)
    USING p_customer_id, v_shop;
END
$$;

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
-- End of issue 10, definer rights and roles.
