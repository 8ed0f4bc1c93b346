CREATE OR REPLACE FUNCTION customer_tracking_ddl_guard()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'ct_ddl_guard'
LANGUAGE C;
COMMENT ON FUNCTION customer_tracking_ddl_guard() IS
    'Event trigger: follows renames of the shop_orders columns customer_tracking reads, and '
    'refuses DDL that would leave one unreadable or change what an order counts for.';
