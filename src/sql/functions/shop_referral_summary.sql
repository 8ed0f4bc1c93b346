-- Referrals of a shop at a glance (owner's view): advocates (customers with at least one
-- referral that is not blocked), referrals by status, and the referred customers (of pending or
-- approved referrals) against the shop's other customers with a purchase: how many, the share
-- with two or more purchases (%), and their average lifetime value.
CREATE OR REPLACE FUNCTION shop_referral_summary(p_shop_id uuid)
RETURNS TABLE (advocates bigint, referrals bigint, pending bigint, approved bigint, voided bigint,
               blocked bigint, referred_customers bigint, referred_repeat_rate numeric,
               referred_average_ltv numeric, other_customers bigint, other_repeat_rate numeric,
               other_average_ltv numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @extschema@.customer_tracking_require_read('shop_referral_summary', '@extschema@.customer_tracking_referrals',
                                                          '@extschema@.shop_customers');
    RETURN QUERY
    WITH r AS (
        SELECT s.*, CASE WHEN s.blocked_reason IS NOT NULL THEN 'blocked'
                         WHEN s.voided_at IS NOT NULL THEN 'voided'
                         WHEN s.review_ends_at <= now() THEN 'approved'
                         ELSE 'pending' END AS status
          FROM @extschema@.customer_tracking_referrals s
         WHERE s.shop_id = p_shop_id
    ), c AS (
        SELECT c.total_purchases, c.total_spent,
               EXISTS (SELECT 1 FROM r WHERE r.referred_customer_id = c.id
                          AND r.status IN ('pending', 'approved')) AS referred
          FROM @extschema@.shop_customers c
         WHERE c.shop_id = p_shop_id AND c.total_purchases > 0
    )
    SELECT (SELECT count(DISTINCT r.advocate_customer_id) FROM r WHERE r.status <> 'blocked'),
           (SELECT count(*) FROM r),
           (SELECT count(*) FROM r WHERE r.status = 'pending'),
           (SELECT count(*) FROM r WHERE r.status = 'approved'),
           (SELECT count(*) FROM r WHERE r.status = 'voided'),
           (SELECT count(*) FROM r WHERE r.status = 'blocked'),
           count(*) FILTER (WHERE c.referred),
           coalesce(round(100.0 * count(*) FILTER (WHERE c.referred AND c.total_purchases >= 2)
                          / nullif(count(*) FILTER (WHERE c.referred), 0), 1), 0.0),
           coalesce(round(avg(c.total_spent) FILTER (WHERE c.referred), 2), 0.00),
           count(*) FILTER (WHERE NOT c.referred),
           coalesce(round(100.0 * count(*) FILTER (WHERE NOT c.referred AND c.total_purchases >= 2)
                          / nullif(count(*) FILTER (WHERE NOT c.referred), 0), 1), 0.0),
           coalesce(round(avg(c.total_spent) FILTER (WHERE NOT c.referred), 2), 0.00)
      FROM c;
END
$$;
COMMENT ON FUNCTION shop_referral_summary(uuid) IS
    'Advocates, referrals by status, and referred customers'' repeat rate and average LTV against '
    'the shop''s other customers (owner''s view).';
SELECT customer_tracking_set_audience('shop_referral_summary(uuid)', 'dashboard');
