CREATE OR REPLACE FUNCTION customer_tracking_progress_set(p_phase text, p_shops_done bigint DEFAULT NULL,
                                               p_orders_done bigint DEFAULT NULL,
                                               p_chunks_done bigint DEFAULT NULL,
                                               p_shops_total bigint DEFAULT NULL,
                                               p_orders_total bigint DEFAULT NULL,
                                               p_chunks_total bigint DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'ct_progress_set'
LANGUAGE C VOLATILE;
SELECT customer_tracking_set_audience('customer_tracking_progress_set(text, bigint, bigint, bigint, bigint, bigint, bigint)', 'dba');
