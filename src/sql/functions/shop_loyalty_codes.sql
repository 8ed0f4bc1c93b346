-- The shop's loyalty codes with their uses (owner's view: row-level security shows a shop's rows
-- to its owner only). status: voided, used_up, expired or active (in that order of precedence).
CREATE OR REPLACE FUNCTION shop_loyalty_codes(p_shop_id uuid, p_customer_id uuid DEFAULT NULL,
                                             p_status text DEFAULT NULL)
RETURNS TABLE (code text, customer_id uuid, phone_number text, customer_name text, kind text,
               value numeric, expires_at timestamptz, max_uses bigint, uses bigint, uses_left bigint,
               status text, last_used_at timestamptz, created_at timestamptz, voided_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @extschema@.customer_tracking_require_read('shop_loyalty_codes', '@extschema@.customer_tracking_codes');
    IF p_status IS NOT NULL AND p_status NOT IN ('active', 'used_up', 'expired', 'voided') THEN
        RAISE EXCEPTION 'customer_tracking: p_status must be NULL, ''active'', ''used_up'', ''expired'' or ''voided'''
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT x.code, x.customer_id, x.phone_number, x.customer_name, x.kind, x.value, x.expires_at,
           x.max_uses::bigint, x.uses::bigint, (x.max_uses - x.uses)::bigint, x.status, x.last_used_at, x.created_at, x.voided_at
      FROM (SELECT k.code, k.customer_id, c.phone_number::text AS phone_number,
                   c.customer_name::text AS customer_name, k.kind, k.value, k.expires_at, k.max_uses,
                   k.uses, k.created_at, k.voided_at,
                   CASE WHEN k.voided_at IS NOT NULL THEN 'voided'
                        WHEN k.uses >= k.max_uses THEN 'used_up'
                        WHEN k.expires_at <= now() THEN 'expired'
                        ELSE 'active' END AS status,
                   (SELECT max(u.used_at) FROM @extschema@.customer_tracking_code_uses u
                     WHERE u.shop_id = k.shop_id AND u.code = k.code) AS last_used_at
              FROM @extschema@.customer_tracking_codes k
              LEFT JOIN @extschema@.shop_customers c ON c.id = k.customer_id AND c.shop_id = k.shop_id
             WHERE k.shop_id = p_shop_id
               AND (p_customer_id IS NULL OR k.customer_id = p_customer_id)) x
     WHERE p_status IS NULL OR x.status = p_status
     ORDER BY x.created_at DESC, x.code;
END
$$;
COMMENT ON FUNCTION shop_loyalty_codes(uuid, uuid, text) IS
    'A shop''s loyalty codes with uses, uses left and status (owner''s view), newest first.';
SELECT customer_tracking_set_audience('shop_loyalty_codes(uuid, uuid, text)', 'dashboard');
