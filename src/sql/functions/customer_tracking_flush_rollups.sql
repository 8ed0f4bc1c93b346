CREATE OR REPLACE FUNCTION customer_tracking_flush_rollups()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ct_flush_rollups'
LANGUAGE C;
