-- Voids a code (owner only): it cannot be used from then on; uses already held stay (their orders
-- are paid). true: voided now; false: it was voided already. Unknown code: no_data_found.
CREATE OR REPLACE FUNCTION customer_tracking_void_code(p_shop_id uuid, p_code text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_code text := @extschema@.customer_tracking_normalize_code(p_code);
BEGIN
    PERFORM @extschema@.customer_tracking_require_shop_owner(p_shop_id);
    UPDATE @extschema@.customer_tracking_codes c SET voided_at = now()
     WHERE c.shop_id = p_shop_id AND c.code = v_code AND c.voided_at IS NULL;
    IF FOUND THEN
        RETURN true;
    END IF;
    IF EXISTS (SELECT 1 FROM @extschema@.customer_tracking_codes c WHERE c.shop_id = p_shop_id AND c.code = v_code) THEN
        RETURN false;
    END IF;
    RAISE EXCEPTION 'customer_tracking: shop % has no code %', p_shop_id, coalesce(quote_literal(left(p_code, 40)), 'NULL')
        USING ERRCODE = 'no_data_found';
END
$$;
COMMENT ON FUNCTION customer_tracking_void_code(uuid, text) IS
    'Voids a loyalty code of the shop (owner only): true if voided now, false if it was already.';
SELECT customer_tracking_set_audience('customer_tracking_void_code(uuid, text)', 'dashboard');
