-- The extension's tables and how each is distributed: 'reference' or 'shop' (by shop_id,
-- colocated with shop_orders), in the order customer_tracking_distribute() distributes them.
CREATE OR REPLACE FUNCTION customer_tracking_distributed_tables(OUT table_name name, OUT method text)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    VALUES ('customer_tracking_settings'::name, 'reference'),
           ('shop_customers', 'shop'),
           ('customer_tracking', 'shop'),
           ('customer_tracking_slug_customers', 'shop'),
           ('customer_tracking_issues', 'shop'),
           ('customer_tracking_shop_totals', 'shop'),
           ('customer_tracking_daily', 'shop'),
           ('customer_tracking_slug_daily', 'shop'),
           ('customer_tracking_network_totals', 'shop'),
           ('customer_tracking_frequency', 'shop'),
           ('customer_tracking_slug_visits', 'shop'),
           ('customer_tracking_visitors', 'shop'),
           ('customer_tracking_codes', 'shop'),
           ('customer_tracking_code_uses', 'shop'),
           ('customer_tracking_referral_codes', 'shop'),
           ('customer_tracking_referrals', 'shop'),
           ('customer_tracking_referral_settings', 'shop'),
           ('customer_tracking_tiers', 'shop')
$$;
