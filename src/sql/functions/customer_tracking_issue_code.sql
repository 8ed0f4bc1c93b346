-- A new loyalty code for one customer of the shop (owner only): short (10 characters, 50 random
-- bits), unique in the shop. p_kind 'percent' (p_value 0 < v <= 100) or 'fixed' (an amount);
-- what the discount is worth is the storefront's business, the extension keeps the terms and
-- counts uses. p_expires_at NULL: never; p_max_uses: paid orders that may use it.
CREATE OR REPLACE FUNCTION customer_tracking_issue_code(p_shop_id uuid, p_customer_id uuid, p_kind text,
                                                       p_value numeric, p_expires_at timestamptz DEFAULT NULL,
                                                       p_max_uses integer DEFAULT 1)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_kind text;
    v_code text;
BEGIN
    PERFORM @extschema@.customer_tracking_require_shop_owner(p_shop_id);
    v_kind := @extschema@.customer_tracking_check_code_terms(p_kind, p_value, p_expires_at, p_max_uses);
    IF p_customer_id IS NULL OR NOT EXISTS (SELECT 1 FROM @extschema@.shop_customers c
                                             WHERE c.id = p_customer_id AND c.shop_id = p_shop_id) THEN
        RAISE EXCEPTION 'customer_tracking: p_customer_id % is not a customer of shop %',
                        coalesce(p_customer_id::text, 'NULL'), p_shop_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR i IN 1..10 LOOP
        v_code := @extschema@.customer_tracking_random_code(10);
        INSERT INTO @extschema@.customer_tracking_codes AS t
               (shop_id, code, customer_id, kind, value, expires_at, max_uses)
        VALUES (p_shop_id, v_code, p_customer_id, v_kind, p_value, p_expires_at, p_max_uses)
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            RETURN v_code;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'customer_tracking: could not make a unique code' USING ERRCODE = 'unique_violation';
END
$$;
COMMENT ON FUNCTION customer_tracking_issue_code(uuid, uuid, text, numeric, timestamptz, integer) IS
    'Issues a loyalty code to a customer of the shop (owner only) and returns it.';
SELECT customer_tracking_set_audience('customer_tracking_issue_code(uuid, uuid, text, numeric, timestamptz, integer)', 'dashboard');
