CREATE OR REPLACE FUNCTION customer_tracking_link_order()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ct_link_order'
LANGUAGE C;
