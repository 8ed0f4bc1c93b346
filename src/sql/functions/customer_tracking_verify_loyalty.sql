-- Loyalty codes and referrals against a recomputation from shop_orders and the ledger; no rows
-- when exact. Checks: each code's uses = the orders holding one; each use is held by a paid
-- order of the code's customer that carries that code now; each pending referral's order is a
-- paid order of the referred customer.
CREATE OR REPLACE FUNCTION customer_tracking_verify_loyalty(p_shop_id uuid DEFAULT NULL)
RETURNS TABLE (shop_id uuid, object text, key text, problem text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_id name := (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'id');
    v_shop name := (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'shop_id');
    v_code name := (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'discount_code');
    v_has_code boolean;
BEGIN
    RETURN QUERY
    SELECT k.shop_id, 'code', k.code, format('uses is %s, %s orders hold one', k.uses, count(u.order_id))
      FROM @extschema@.customer_tracking_codes k
      LEFT JOIN @extschema@.customer_tracking_code_uses u ON u.shop_id = k.shop_id AND u.code = k.code
     WHERE p_shop_id IS NULL OR k.shop_id = p_shop_id
     GROUP BY k.shop_id, k.code, k.uses
    HAVING k.uses <> count(u.order_id);

    RETURN QUERY
    SELECT u.shop_id, 'code use', u.order_id::text,
           CASE WHEN k.code IS NULL THEN 'no such code ' || u.code
                WHEN k.customer_id <> u.customer_id THEN 'code ' || u.code || ' belongs to another customer'
                ELSE 'the order is not a paid purchase of the code''s customer' END
      FROM @extschema@.customer_tracking_code_uses u
      LEFT JOIN @extschema@.customer_tracking_codes k ON k.shop_id = u.shop_id AND k.code = u.code
     WHERE (p_shop_id IS NULL OR u.shop_id = p_shop_id)
       AND (k.code IS NULL OR k.customer_id <> u.customer_id
            OR NOT EXISTS (SELECT 1 FROM @extschema@.customer_tracking t
                            WHERE t.id = u.order_id AND t.shop_id = u.shop_id
                              AND t.purchase_completed AND t.shop_customer_id = u.customer_id));

    v_has_code := v_code <> '' AND EXISTS (
        SELECT 1 FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = to_regclass('@extschema@.shop_orders') AND a.attname = v_code
           AND a.attnum > 0 AND NOT a.attisdropped);
    IF v_has_code THEN
        RETURN QUERY EXECUTE format(
            'SELECT u.shop_id, %L::text, u.order_id::text, %L::text
               FROM @extschema@.customer_tracking_code_uses u
              WHERE ($1 IS NULL OR u.shop_id = $1)
                AND NOT EXISTS (SELECT 1 FROM @extschema@.shop_orders o
                                 WHERE o.%I = u.order_id AND o.%I = u.shop_id
                                   AND @extschema@.customer_tracking_normalize_code(o.%I::text) = u.code)',
            'code use', 'the order does not carry the code', v_id, v_shop, v_code)
        USING p_shop_id;
    ELSE
        RETURN QUERY
        SELECT u.shop_id, 'code use', u.order_id::text, 'shop_orders has no discount_code column'
          FROM @extschema@.customer_tracking_code_uses u
         WHERE p_shop_id IS NULL OR u.shop_id = p_shop_id;
    END IF;

    RETURN QUERY
    SELECT r.shop_id, 'referral', r.referred_customer_id::text,
           'pending, but its order is not a paid purchase of the referred customer'
      FROM @extschema@.customer_tracking_referrals r
     WHERE (p_shop_id IS NULL OR r.shop_id = p_shop_id)
       AND r.blocked_reason IS NULL AND r.voided_at IS NULL AND r.review_ends_at > now()
       AND NOT EXISTS (SELECT 1 FROM @extschema@.customer_tracking t
                        WHERE t.id = r.order_id AND t.shop_id = r.shop_id
                          AND t.purchase_completed AND t.shop_customer_id = r.referred_customer_id);
END
$$;
COMMENT ON FUNCTION customer_tracking_verify_loyalty(uuid) IS
    'Loyalty code uses and pending referrals checked against shop_orders and the ledger; empty when exact.';
SELECT customer_tracking_set_audience('customer_tracking_verify_loyalty(uuid)', 'dba');
