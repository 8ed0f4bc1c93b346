-- Where each field is read from, and whether it can be (ok, absent, ignored, drift).
CREATE OR REPLACE FUNCTION customer_tracking_host_state(
    OUT field text, OUT column_name name, OUT column_type text, OUT state text, OUT detail text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'ct_host_state'
LANGUAGE C STABLE;
COMMENT ON FUNCTION customer_tracking_host_state() IS
    'Per field: the shop_orders column it is read from, its type and state: ok, absent (no such '
    'column, by configuration), ignored (lost; the field changes no count and is read as absent) '
    'or drift (orders are saved untracked with issue host_drift until it is fixed).';
SELECT customer_tracking_set_audience('customer_tracking_host_state()', 'dba');
