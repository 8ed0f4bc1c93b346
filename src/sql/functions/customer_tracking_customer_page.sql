-- One page of the Customers page (shop_customer_list() without the tier), by keyset. Each row
-- carries its cursor: an opaque string (base64url of the sort, the row's sort key in a form that
-- holds its exact value whatever the session's TimeZone, and its id) that p_cursor takes back to
-- return the rows after it. p_after_value / p_after_id and sort_value are the form before 1.4
-- (deprecated, dropped in 1.5). Messages name shop_customer_list(), the function callers see.
CREATE OR REPLACE FUNCTION customer_tracking_customer_page(p_shop_id uuid, p_search text, p_repeat_only boolean,
                                                           p_sort text, p_limit integer, p_after_value text,
                                                           p_after_id uuid, p_cursor text)
RETURNS TABLE (id uuid, customer_name text, phone_number text, email text, total_purchases bigint,
               repeat_customer boolean, total_spent numeric, first_purchase_at timestamptz,
               last_purchase_at timestamptz, preferred_network text, sort_value text, cursor text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_limit integer := least(greatest(coalesce(p_limit, 50), 1), 500);
    v_code text := CASE p_sort WHEN 'last_purchase' THEN 'l' WHEN 'total_spent' THEN 't' WHEN 'purchases' THEN 'p' END;
    v_phone text;
    v_pattern text;
    v_key text;          -- the sort key after which the page starts (text of its exact value)
    v_after_id uuid;
    v_after_time timestamptz;
    v_after_money numeric;
    v_after_count bigint;
BEGIN
    IF v_code IS NULL THEN
        RAISE EXCEPTION 'shop_customer_list: p_sort must be last_purchase, total_spent or purchases'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (p_after_value IS NULL) <> (p_after_id IS NULL) THEN
        RAISE EXCEPTION 'shop_customer_list: give both p_after_value and p_after_id (from the last row) or neither'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_cursor IS NOT NULL AND p_after_id IS NOT NULL THEN
        RAISE EXCEPTION 'shop_customer_list: give p_cursor or p_after_value and p_after_id, not both'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF p_cursor IS NOT NULL THEN
        BEGIN
            v_key := convert_from(decode(rpad(translate(p_cursor, '-_', '+/'),
                                              (length(p_cursor) + 3) / 4 * 4, '='), 'base64'), 'UTF8');
            IF split_part(v_key, '|', 1) <> v_code OR v_key !~ '^[ltp]\|[^|]+\|[0-9a-f-]{36}$' THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value';
            END IF;
            v_after_id := split_part(v_key, '|', 3)::uuid;
            v_key := split_part(v_key, '|', 2);
            v_after_time := CASE WHEN v_code = 'l' THEN v_key::timestamptz END;
            v_after_money := CASE WHEN v_code = 't' THEN v_key::numeric END;
            v_after_count := CASE WHEN v_code = 'p' THEN v_key::bigint END;
        EXCEPTION WHEN data_exception THEN
            RAISE EXCEPTION 'shop_customer_list: p_cursor is not a cursor of this list sorted by %', p_sort
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Pass the cursor column of the last row of a page with the same p_sort.';
        END;
    ELSIF p_after_id IS NOT NULL THEN
        -- Deprecated form: sort_value is UTC wall-clock text for last_purchase.
        v_after_id := p_after_id;
        v_after_time := CASE WHEN v_code = 'l' THEN p_after_value::timestamp AT TIME ZONE 'UTC' END;
        v_after_money := CASE WHEN v_code = 't' THEN p_after_value::numeric END;
        v_after_count := CASE WHEN v_code = 'p' THEN p_after_value::bigint END;
    END IF;

    IF nullif(btrim(p_search), '') IS NOT NULL THEN
        -- A phone typed in any format finds the customer; otherwise name or email contain the text.
        v_phone := CASE WHEN p_search ~ '^[\s+()0-9.-]+$' THEN @extschema@.normalize_phone(p_search) END;
        v_pattern := '%' || replace(replace(replace(btrim(p_search), '\', '\\'), '%', '\%'), '_', '\_') || '%';
    END IF;

    -- One statement per sort, each on its index. The cursor holds the row's key exactly: a
    -- time as UTC with its offset, an amount or a count as its decimal text.
    IF v_code = 'l' THEN
        RETURN QUERY
        SELECT c.id, c.customer_name::text, c.phone_number::text, c.email::text, c.total_purchases::bigint,
               c.repeat_customer, @extschema@.customer_tracking_money(c.total_spent), c.first_purchase_at,
               c.last_purchase_at, c.preferred_network::text, to_char(c.last_purchase_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
               translate(encode(convert_to('l|' || to_char(c.last_purchase_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '|' || c.id, 'UTF8'), 'base64'), E'+/=\n', '-_')
          FROM @extschema@.shop_customers c
         WHERE c.shop_id = p_shop_id AND c.total_purchases > 0
           AND (NOT p_repeat_only OR c.total_purchases >= 2)
           AND (v_phone IS NOT NULL AND c.phone_number = v_phone
                OR v_phone IS NULL AND (v_pattern IS NULL OR c.customer_name ILIKE v_pattern OR c.email ILIKE v_pattern))
           AND (v_after_id IS NULL OR (c.last_purchase_at, c.id) < (v_after_time, v_after_id))
         ORDER BY c.last_purchase_at DESC, c.id DESC
         LIMIT v_limit;
    ELSIF v_code = 't' THEN
        RETURN QUERY
        SELECT c.id, c.customer_name::text, c.phone_number::text, c.email::text, c.total_purchases::bigint,
               c.repeat_customer, @extschema@.customer_tracking_money(c.total_spent), c.first_purchase_at,
               c.last_purchase_at, c.preferred_network::text, c.total_spent::text,
               translate(encode(convert_to('t|' || c.total_spent::text || '|' || c.id, 'UTF8'), 'base64'), E'+/=\n', '-_')
          FROM @extschema@.shop_customers c
         WHERE c.shop_id = p_shop_id AND c.total_purchases > 0
           AND (NOT p_repeat_only OR c.total_purchases >= 2)
           AND (v_phone IS NOT NULL AND c.phone_number = v_phone
                OR v_phone IS NULL AND (v_pattern IS NULL OR c.customer_name ILIKE v_pattern OR c.email ILIKE v_pattern))
           AND (v_after_id IS NULL OR (c.total_spent, c.id) < (v_after_money, v_after_id))
         ORDER BY c.total_spent DESC, c.id DESC
         LIMIT v_limit;
    ELSE
        RETURN QUERY
        SELECT c.id, c.customer_name::text, c.phone_number::text, c.email::text, c.total_purchases::bigint,
               c.repeat_customer, @extschema@.customer_tracking_money(c.total_spent), c.first_purchase_at,
               c.last_purchase_at, c.preferred_network::text, c.total_purchases::text,
               translate(encode(convert_to('p|' || c.total_purchases::text || '|' || c.id, 'UTF8'), 'base64'), E'+/=\n', '-_')
          FROM @extschema@.shop_customers c
         WHERE c.shop_id = p_shop_id AND c.total_purchases > 0
           AND (NOT p_repeat_only OR c.total_purchases >= 2)
           AND (v_phone IS NOT NULL AND c.phone_number = v_phone
                OR v_phone IS NULL AND (v_pattern IS NULL OR c.customer_name ILIKE v_pattern OR c.email ILIKE v_pattern))
           AND (v_after_id IS NULL OR (c.total_purchases, c.id) < (v_after_count, v_after_id))
         ORDER BY c.total_purchases DESC, c.id DESC
         LIMIT v_limit;
    END IF;
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_customer_page(uuid, text, boolean, text, integer, text, uuid, text)', 'dashboard');
