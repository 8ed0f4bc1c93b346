-- The customer's referral code (owner only), made on first call and the same ever after:
-- 8 characters of customer_tracking_random_code(), unique in the shop.
CREATE OR REPLACE FUNCTION customer_tracking_referral_code(p_shop_id uuid, p_customer_id uuid)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_code text;
BEGIN
    PERFORM @extschema@.customer_tracking_require_shop_owner(p_shop_id);
    IF p_customer_id IS NULL OR NOT EXISTS (SELECT 1 FROM @extschema@.shop_customers c
                                             WHERE c.id = p_customer_id AND c.shop_id = p_shop_id) THEN
        RAISE EXCEPTION 'customer_tracking: p_customer_id % is not a customer of shop %',
                        coalesce(p_customer_id::text, 'NULL'), p_shop_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR i IN 1..10 LOOP
        SELECT r.code INTO v_code FROM @extschema@.customer_tracking_referral_codes r
         WHERE r.shop_id = p_shop_id AND r.customer_id = p_customer_id;
        IF FOUND THEN
            RETURN v_code;
        END IF;
        INSERT INTO @extschema@.customer_tracking_referral_codes AS r (shop_id, customer_id, code)
        VALUES (p_shop_id, p_customer_id, @extschema@.customer_tracking_random_code(8))
        ON CONFLICT DO NOTHING;
    END LOOP;
    RAISE EXCEPTION 'customer_tracking: could not make a unique referral code' USING ERRCODE = 'unique_violation';
END
$$;
COMMENT ON FUNCTION customer_tracking_referral_code(uuid, uuid) IS
    'A customer''s stable referral code (owner only), made on first call.';
SELECT customer_tracking_set_audience('customer_tracking_referral_code(uuid, uuid)', 'dashboard');
