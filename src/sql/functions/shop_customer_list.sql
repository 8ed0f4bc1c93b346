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
COMMENT ON FUNCTION shop_customer_list(uuid, text, boolean, text, integer, text, uuid) IS
    'The Customers page: customers with a purchase, newest purchase / biggest spend / most purchases '
    'first. Search by name, email or phone (any format). Next page: pass the last row''s sort_value '
    'and id as p_after_value and p_after_id (keyset: page 1,000 costs what page 1 does).';
SELECT customer_tracking_set_audience('shop_customer_list(uuid, text, boolean, text, integer, text, uuid)', 'dashboard');
