-- In C (src/tiers.cpp): checks with the caller's rights that the shop is theirs (or that the
-- caller sees every shop: superuser, BYPASSRLS), then runs customer_tracking_store_tiers() with
-- the rights of its owner. Safe to call directly: it is the check.
CREATE OR REPLACE FUNCTION customer_tracking_tiers_write(p_shop_id uuid, p_tiers jsonb)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'ct_tiers_write';
SELECT customer_tracking_set_audience('customer_tracking_tiers_write(uuid, jsonb)', 'dashboard');
