-- Recomputes one customer from its ledger under the customer's row lock.
CREATE OR REPLACE FUNCTION customer_tracking_recompute(p_shop_id uuid, p_customer_id uuid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ct_recompute_customer'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION customer_tracking_recompute(uuid, uuid) IS
    'Recomputes a customer''s stats from customer_tracking (as the trigger does); false if no such customer.';
SELECT customer_tracking_set_audience('customer_tracking_recompute(uuid, uuid)', 'dba');
