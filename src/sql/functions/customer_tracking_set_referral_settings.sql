-- A shop's referral settings (owner only): review period in days (0 to 365) before a referral is
-- approved, and referrals an advocate may make per UTC day before further ones are blocked.
-- Apply to referrals made from then on (a referral keeps the review end it was made with).
CREATE OR REPLACE FUNCTION customer_tracking_set_referral_settings(p_shop_id uuid, p_review_days integer DEFAULT 7,
                                                                  p_daily_limit integer DEFAULT 10)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.customer_tracking_require_shop_owner(p_shop_id);
    IF p_review_days IS NULL OR p_review_days NOT BETWEEN 0 AND 365 THEN
        RAISE EXCEPTION 'customer_tracking: p_review_days must be between 0 and 365 (got %)',
                        coalesce(p_review_days::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_daily_limit IS NULL OR p_daily_limit NOT BETWEEN 0 AND 1000000 THEN
        RAISE EXCEPTION 'customer_tracking: p_daily_limit must be between 0 and 1000000 (got %)',
                        coalesce(p_daily_limit::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO @extschema@.customer_tracking_referral_settings AS s (shop_id, review_days, daily_limit)
    VALUES (p_shop_id, p_review_days, p_daily_limit)
    ON CONFLICT (shop_id) DO UPDATE
       SET review_days = EXCLUDED.review_days, daily_limit = EXCLUDED.daily_limit, updated_at = now();
END
$$;
COMMENT ON FUNCTION customer_tracking_set_referral_settings(uuid, integer, integer) IS
    'Sets a shop''s referral review period (days) and per-advocate daily limit (owner only).';
SELECT customer_tracking_set_audience('customer_tracking_set_referral_settings(uuid, integer, integer)', 'dashboard');
