-- A storefront visit of /shop/<slug>: one more visit, and one more unique visitor
-- when p_visitor's hash is new for the slug today (UTC). In C (src/visits.cpp). Callable by
-- anyone (anon); returns nothing and raises nothing for an unknown slug, a NULL or an oversized
-- argument. p_referrer and the utm_* values are checked for size only (not stored).
CREATE OR REPLACE FUNCTION customer_tracking_record_visit(p_shop_slug text, p_visitor text,
    p_referrer text DEFAULT NULL, p_utm_source text DEFAULT NULL,
    p_utm_medium text DEFAULT NULL, p_utm_campaign text DEFAULT NULL)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'ct_record_visit';
COMMENT ON FUNCTION customer_tracking_record_visit(text, text, text, text, text, text) IS
    'Counts a storefront visit of the shop whose user_shops.shop_slug is p_shop_slug (per UTC day): '
    'visits, and unique visitors by a hash of p_visitor made with a salt that is destroyed when the '
    'day ends. Stores nothing else; unknown slugs and oversized arguments count nothing, silently.';
SELECT customer_tracking_set_audience('customer_tracking_record_visit(text, text, text, text, text, text)', 'storefront');
