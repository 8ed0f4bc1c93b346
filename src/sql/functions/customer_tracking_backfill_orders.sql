-- The order step of a backfill for a group of shops: links, ledger rows and issues of every
-- order that differs from the decoder, in one statement (the orders it writes stay locked).
CREATE OR REPLACE FUNCTION customer_tracking_backfill_orders(p_shops uuid[])
RETURNS TABLE (shop_id uuid, orders bigint, retracked bigint, linked bigint, untracked bigint)
AS 'MODULE_PATHNAME', 'ct_backfill_orders'
LANGUAGE C VOLATILE
SET jit = off;
SELECT customer_tracking_set_audience('customer_tracking_backfill_orders(uuid[])', 'dba');
