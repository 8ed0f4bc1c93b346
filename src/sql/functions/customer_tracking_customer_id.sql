CREATE OR REPLACE FUNCTION customer_tracking_customer_id(p_shop_id uuid, p_phone_e164 text)
RETURNS uuid
AS 'MODULE_PATHNAME', 'ct_customer_id_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_tracking_customer_id(uuid, text) IS
    'The shop_customers.id of a (shop, E.164 phone): UUID v5 with the shop id as namespace.';
