-- One row per stored value that differs from a recomputation from shop_orders. All shops: in
-- chunks of whole shops (memory stays bounded), in one snapshot; progress in
-- customer_tracking_progress.
CREATE OR REPLACE FUNCTION customer_tracking_verify(p_shop_id uuid DEFAULT NULL)
RETURNS TABLE (shop_id uuid, shop_customer_id uuid, shop_order_id uuid, problem text,
               stored text, expected text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_chunk record;
    v_shops bigint := 0;
    v_chunks bigint := 0;
    v_shop name := (SELECT h.column_name FROM customer_tracking_host_state() h
                     WHERE h.field = 'shop_id' AND h.state = 'ok');
BEGIN
    PERFORM customer_tracking_progress_begin('verify', NULL, NULL, NULL);
    IF p_shop_id IS NOT NULL OR v_shop IS NULL OR customer_tracking_orders_distributed() THEN
        PERFORM customer_tracking_progress_set('verifying', 0, 0, 0, 1, NULL, 1);
        RETURN QUERY SELECT * FROM customer_tracking_problems(p_shop_id, true);
        PERFORM customer_tracking_progress_end();
        RETURN;
    END IF;
    FOR v_chunk IN SELECT * FROM customer_tracking_backfill_chunks(NULL, NULL, 100000) LOOP
        IF v_chunks = 0 THEN
            PERFORM customer_tracking_progress_set('verifying', 0, 0, 0, v_chunk.shops_total,
                                                   v_chunk.orders_total, v_chunk.chunks_total);
        END IF;
        RETURN QUERY SELECT * FROM customer_tracking_problems_of(v_chunk.shops, true);
        v_shops := v_shops + cardinality(v_chunk.shops);
        v_chunks := v_chunks + 1;
        PERFORM customer_tracking_progress_set(NULL, v_shops, NULL, v_chunks);
    END LOOP;
    -- Orders of no shop are never linked.
    IF (SELECT count(*) FROM customer_tracking_host_state() h
         WHERE h.field IN ('id', 'shop_id', 'shop_customer_id') AND h.state = 'ok') = 3 THEN
        RETURN QUERY EXECUTE format($q$
        SELECT NULL::uuid, NULL::uuid, o.%1$I, 'order_link'::text, o.shop_customer_id::text, NULL::text
              FROM @extschema@.shop_orders o WHERE o.%2$I IS NULL AND o.shop_customer_id IS NOT NULL$q$,
            (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'id'), v_shop);
    END IF;
    RETURN QUERY
        SELECT NULL::uuid, NULL::uuid, NULL::uuid, 'host_drift'::text, h.detail, 'a readable column'::text
          FROM customer_tracking_host_state() h WHERE h.state IN ('drift', 'ignored');
    PERFORM customer_tracking_progress_end();
END
$$;
COMMENT ON FUNCTION customer_tracking_verify(uuid) IS
    'Rows for every stored link, tracking row or customer stat that differs from a recomputation '
    'from shop_orders; no rows when everything is consistent.';
SELECT customer_tracking_set_audience('customer_tracking_verify(uuid)', 'dba');
