-- Per order: the link and contribution a recomputation from shop_orders gives, as the trigger
-- reads the order (customer_tracking_decode_order(): one reading of every setting).
CREATE OR REPLACE FUNCTION customer_tracking_expected_orders(p_shop_id uuid DEFAULT NULL)
RETURNS TABLE (shop_order_id uuid, shop_id uuid, stored_customer_id uuid, expected_customer_id uuid,
               purchase boolean, amount numeric, purchased_at timestamptz, network text, slug text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_shop name := (SELECT h.column_name FROM customer_tracking_host_state() h
                     WHERE h.field = 'shop_id' AND h.state = 'ok');
BEGIN
    -- The shop filter on the column (its index; on Citus, the shop's shard), when the column can
    -- be read.
    RETURN QUERY EXECUTE format($q$
        SELECT d.shop_order_id, d.shop_id, d.stored_customer_id, d.expected_customer_id, d.purchase,
               d.amount, d.purchased_at, d.network, d.slug
          FROM @extschema@.shop_orders o
         CROSS JOIN LATERAL @extschema@.customer_tracking_decode_order(o) d
         WHERE %s $q$,
        CASE WHEN p_shop_id IS NULL THEN 'true'
             WHEN v_shop IS NULL THEN 'd.shop_id = $1' ELSE format('o.%I = $1', v_shop) END)
    USING p_shop_id;
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_expected_orders(uuid)', 'dba');
