-- The shop's referrals (owner's view). status, computed when read: blocked (blocked_reason),
-- voided (its order stopped being a paid purchase within the review period), approved (the
-- review period is over: approved_at = review_ends_at), else pending.
CREATE OR REPLACE FUNCTION shop_referrals(p_shop_id uuid, p_status text DEFAULT NULL)
RETURNS TABLE (referred_customer_id uuid, referred_phone text, order_id uuid, advocate_customer_id uuid,
               advocate_phone text, referral_code text, status text, blocked_reason text,
               paid_at timestamptz, review_ends_at timestamptz, approved_at timestamptz,
               voided_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @extschema@.customer_tracking_require_read('shop_referrals', '@extschema@.customer_tracking_referrals',
                                                          '@extschema@.shop_customers');
    IF p_status IS NOT NULL AND p_status NOT IN ('pending', 'approved', 'voided', 'blocked') THEN
        RAISE EXCEPTION 'customer_tracking: p_status must be NULL, ''pending'', ''approved'', ''voided'' or ''blocked'''
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT x.referred_customer_id, x.referred_phone, x.order_id, x.advocate_customer_id, x.advocate_phone,
           x.referral_code, x.status, x.blocked_reason, x.paid_at, x.review_ends_at,
           CASE WHEN x.status = 'approved' THEN x.review_ends_at END, x.voided_at
      FROM (SELECT r.referred_customer_id, rc.phone_number::text AS referred_phone, r.order_id,
                   r.advocate_customer_id, ac.phone_number::text AS advocate_phone, r.referral_code,
                   CASE WHEN r.blocked_reason IS NOT NULL THEN 'blocked'
                        WHEN r.voided_at IS NOT NULL THEN 'voided'
                        WHEN r.review_ends_at <= now() THEN 'approved'
                        ELSE 'pending' END AS status,
                   r.blocked_reason, r.paid_at, r.review_ends_at, r.voided_at
              FROM @extschema@.customer_tracking_referrals r
              LEFT JOIN @extschema@.shop_customers rc ON rc.id = r.referred_customer_id AND rc.shop_id = r.shop_id
              LEFT JOIN @extschema@.shop_customers ac ON ac.id = r.advocate_customer_id AND ac.shop_id = r.shop_id
             WHERE r.shop_id = p_shop_id) x
     WHERE p_status IS NULL OR x.status = p_status
     ORDER BY x.paid_at DESC, x.referred_customer_id;
END
$$;
COMMENT ON FUNCTION shop_referrals(uuid, text) IS
    'A shop''s referrals with status pending / approved / voided / blocked (owner''s view), newest first.';
SELECT customer_tracking_set_audience('shop_referrals(uuid, text)', 'dashboard');
