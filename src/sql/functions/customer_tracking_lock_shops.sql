-- Locks shops until the transaction ends, as the backfill's customer step needs: the commit of
-- an order of one of them waits until then.
CREATE OR REPLACE FUNCTION customer_tracking_lock_shops(p_shops uuid[])
RETURNS void
AS 'MODULE_PATHNAME', 'ct_lock_shops_sql'
LANGUAGE C VOLATILE;
SELECT customer_tracking_set_audience('customer_tracking_lock_shops(uuid[])', 'dba');
