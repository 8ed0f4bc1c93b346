-- Raises unless the role making the request may manage the shop (src/codes.cpp): the shop is
-- one of customer_tracking_owned_shops() for that role (the owner lookup runs with its rights,
-- also when called from a SECURITY DEFINER function), or the role is a superuser or bypasses
-- row-level security (service_role).
CREATE OR REPLACE FUNCTION customer_tracking_require_shop_owner(p_shop_id uuid)
RETURNS void
AS 'MODULE_PATHNAME', 'ct_require_shop_owner'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION customer_tracking_require_shop_owner(uuid) IS
    'Raises insufficient_privilege unless the requesting role owns the shop (or is a superuser or '
    'bypasses row-level security). Used by the owner-facing loyalty functions.';
SELECT customer_tracking_set_audience('customer_tracking_require_shop_owner(uuid)', 'dba');
