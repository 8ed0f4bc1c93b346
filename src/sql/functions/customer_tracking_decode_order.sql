-- Host DDL, one parser, one clock, network names: src/host_guard.cpp.
-- An order as the trigger reads it: the one reading of shop_orders (column map, status lists,
-- naive time zone, network spelling) that verify, backfill and the expected orders use too.
CREATE OR REPLACE FUNCTION customer_tracking_decode_order(
    p_order record, OUT shop_order_id uuid, OUT shop_id uuid, OUT stored_customer_id uuid,
    OUT expected_customer_id uuid, OUT purchase boolean, OUT amount numeric,
    OUT purchased_at timestamptz, OUT network text, OUT slug text, OUT issues text[])
RETURNS record
AS 'MODULE_PATHNAME', 'ct_decode_order_sql'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION customer_tracking_decode_order(record) IS
    'A shop_orders row as the trigger reads it: ids, stored and expected customer link, whether '
    'it is a purchase, amount, purchase time, network, slug and issue codes.';
SELECT customer_tracking_set_audience('customer_tracking_decode_order(record)', 'dba');
