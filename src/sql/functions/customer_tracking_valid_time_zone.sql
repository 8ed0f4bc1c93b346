CREATE OR REPLACE FUNCTION customer_tracking_valid_time_zone(p_zone text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ct_valid_time_zone'
LANGUAGE C STABLE STRICT;
