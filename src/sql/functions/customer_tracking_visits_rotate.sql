-- Destroys the visit salts of past UTC days and deletes their visitor hashes now (the first
-- visits of a day do it otherwise, the hashes in batches). For a scheduler just after midnight
-- UTC. Returns the number of visitor hashes deleted. In C (src/visits.cpp).
CREATE OR REPLACE FUNCTION customer_tracking_visits_rotate()
RETURNS bigint
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'ct_visits_rotate';
COMMENT ON FUNCTION customer_tracking_visits_rotate() IS
    'Destroys the visit salts of past UTC days (overwritten, then deleted) and deletes their visitor '
    'hashes; returns how many hashes it deleted. Maintenance: not executable by PUBLIC.';
SELECT customer_tracking_set_audience('customer_tracking_visits_rotate()', 'dba');
