-- The status lists in force, as the trigger parsed them (one parser: src/order_rules.cpp).
CREATE OR REPLACE FUNCTION customer_tracking_statuses(OUT paid text[], OUT unpaid text[])
AS 'MODULE_PATHNAME', 'ct_statuses'
LANGUAGE C STABLE;
