CREATE OR REPLACE FUNCTION customer_tracking_apply_pending()
RETURNS void
AS 'MODULE_PATHNAME', 'ct_apply_pending'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION customer_tracking_apply_pending() IS
    'Counts the orders this transaction changed now instead of at its commit (their customers stay '
    'locked until the transaction ends). Used by customer_tracking_backfill().';
SELECT customer_tracking_set_audience('customer_tracking_apply_pending()', 'dba');
