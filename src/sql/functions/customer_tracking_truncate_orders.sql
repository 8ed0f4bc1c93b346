CREATE OR REPLACE FUNCTION customer_tracking_truncate_orders()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ct_truncate_orders'
LANGUAGE C;
