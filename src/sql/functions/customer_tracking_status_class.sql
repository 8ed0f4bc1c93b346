CREATE OR REPLACE FUNCTION customer_tracking_status_class(p_status text)
RETURNS text
AS 'MODULE_PATHNAME', 'ct_status_class'
LANGUAGE C STABLE;
COMMENT ON FUNCTION customer_tracking_status_class(text) IS
    'How the trigger classifies a payment status: paid (a purchase), unpaid, unknown or missing.';
