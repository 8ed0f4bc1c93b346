CREATE OR REPLACE FUNCTION customer_tracking_track_order()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ct_track_order'
LANGUAGE C;
