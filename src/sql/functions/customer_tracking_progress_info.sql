CREATE OR REPLACE FUNCTION customer_tracking_progress_info(
    OUT pid integer, OUT datid oid, OUT relid oid, OUT command text, OUT phase text,
    OUT shops_total bigint, OUT shops_done bigint, OUT orders_total bigint, OUT orders_done bigint,
    OUT chunks_total bigint, OUT chunks_done bigint, OUT started_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'ct_progress_info'
LANGUAGE C VOLATILE;
SELECT customer_tracking_set_audience('customer_tracking_progress_info()', 'dba');
