-- Citus: the same on a worker, for the backend a query of the distributed transaction's
-- initiator reaches (which calls it just before the nodes prepare); a one-time filter.
-- Applies only the caller's own transaction's orders.
CREATE OR REPLACE FUNCTION customer_tracking_apply_pending_here()
RETURNS boolean
AS 'MODULE_PATHNAME', 'ct_apply_pending_here'
LANGUAGE C STABLE;
