CREATE OR REPLACE FUNCTION customer_tracking_invalidate()
RETURNS void
AS 'MODULE_PATHNAME', 'ct_invalidate'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION customer_tracking_invalidate() IS
    'Makes every session re-read customer_tracking_settings (done by the setters).';
SELECT customer_tracking_set_audience('customer_tracking_invalidate()', 'dba');
