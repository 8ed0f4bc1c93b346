CREATE OR REPLACE FUNCTION customer_tracking_progress_end()
RETURNS void
AS 'MODULE_PATHNAME', 'ct_progress_end'
LANGUAGE C VOLATILE;
SELECT customer_tracking_set_audience('customer_tracking_progress_end()', 'dba');
