-- Progress of the running backfill or verify, in this backend's progress slots.
CREATE OR REPLACE FUNCTION customer_tracking_progress_begin(p_command text, p_shops_total bigint,
                                                 p_orders_total bigint, p_chunks_total bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'ct_progress_begin'
LANGUAGE C VOLATILE;
SELECT customer_tracking_set_audience('customer_tracking_progress_begin(text, bigint, bigint, bigint)', 'dba');
