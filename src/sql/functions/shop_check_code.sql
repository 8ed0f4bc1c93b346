-- Storefront check of a code before payment (callable by anon). Answers for the code of the
-- customer whose phone this is (any spelling the shop's region reads): valid, and the terms when
-- valid; reason 'ok', 'used_up', 'expired' or 'voided' for that customer's code, and 'not_found'
-- for everything else (unknown shop, unreadable phone, unknown code, another customer's code,
-- oversized input), with the same shape, so that nothing can be learnt by trying codes. It
-- reserves nothing: the use is taken when the order is paid (see the README).
CREATE OR REPLACE FUNCTION shop_check_code(p_shop_slug text, p_phone text, p_code text)
RETURNS TABLE (valid boolean, kind text, value numeric, reason text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_shop uuid;
    v_code text;
    v_phone text;
    r record;
BEGIN
    valid := false;
    reason := 'not_found';
    IF p_shop_slug IS NULL OR p_phone IS NULL OR p_code IS NULL
       OR octet_length(p_shop_slug) > 255 OR octet_length(p_phone) > 64 OR octet_length(p_code) > 64 THEN
        RETURN NEXT;
        RETURN;
    END IF;
    v_code := @extschema@.customer_tracking_normalize_code(p_code);
    v_phone := @extschema@.normalize_phone(p_phone);
    IF v_code IS NULL OR v_phone IS NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    -- The host's shops by their slug (user_shops.shop_slug).
    BEGIN
        SELECT s.id INTO v_shop FROM @extschema@.user_shops s WHERE s.shop_slug = p_shop_slug LIMIT 1;
    EXCEPTION WHEN undefined_column OR undefined_table THEN
        v_shop := NULL;
    END;
    IF v_shop IS NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT k.kind, k.value, k.voided_at, k.expires_at, k.uses, k.max_uses INTO r
      FROM @extschema@.customer_tracking_codes k
     WHERE k.shop_id = v_shop AND k.code = v_code
       AND k.customer_id = @extschema@.customer_tracking_customer_id(v_shop, v_phone);
    IF FOUND THEN
        reason := CASE WHEN r.voided_at IS NOT NULL THEN 'voided'
                       WHEN r.uses >= r.max_uses THEN 'used_up'
                       WHEN r.expires_at <= now() THEN 'expired'
                       ELSE 'ok' END;
        valid := reason = 'ok';
        IF valid THEN
            kind := r.kind;
            value := r.value;
        END IF;
    END IF;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION shop_check_code(text, text, text) IS
    'Storefront check of a loyalty code for a phone before payment: valid, kind, value, reason '
    '(ok, used_up, expired, voided, not_found); reveals nothing about codes of other customers.';
SELECT customer_tracking_set_audience('shop_check_code(text, text, text)', 'storefront');
