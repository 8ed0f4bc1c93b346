CREATE OR REPLACE FUNCTION customer_tracking_progress_end()
RETURNS void
AS 'MODULE_PATHNAME', 'ct_progress_end'
LANGUAGE C VOLATILE;
