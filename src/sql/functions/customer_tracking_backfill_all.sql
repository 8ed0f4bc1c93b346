-- The whole store in bounded transactions: one per chunk of about p_chunk_orders orders (whole
-- shops), committed before the next. Cancelled or failed, it goes on after the last chunk
-- committed when called again (p_restart: from the first shop). CALL it outside a transaction
-- block.
CREATE OR REPLACE PROCEDURE customer_tracking_backfill_all(p_chunk_orders integer DEFAULT 100000,
                                                p_restart boolean DEFAULT false)
LANGUAGE plpgsql
AS $$
DECLARE
    v_state @extschema@.customer_tracking_backfill_state;
    v_chunk record;
    v_first boolean := true;
    v_orders bigint;
    v_retracked bigint;
    v_repaired bigint;
    v_drift text := (SELECT string_agg(h.detail, '; ') FROM @extschema@.customer_tracking_host_state() h
                      WHERE h.state = 'drift');
    v_distributed boolean := @extschema@.customer_tracking_orders_distributed();
BEGIN
    IF v_drift IS NOT NULL THEN
        RAISE EXCEPTION 'customer_tracking: backfill refused: %', v_drift
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Fix the host table or the mapping first (SELECT * FROM customer_tracking_host_state()).';
    END IF;
    IF p_chunk_orders IS NULL OR p_chunk_orders < 1 THEN
        RAISE EXCEPTION 'customer_tracking: p_chunk_orders must be a positive number of orders'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO v_state FROM @extschema@.customer_tracking_backfill_state;
    IF p_restart OR v_state.id IS NULL OR v_state.finished_at IS NOT NULL THEN
        INSERT INTO @extschema@.customer_tracking_backfill_state AS s (id, started_at, chunk_orders)
        VALUES (true, pg_catalog.now(), p_chunk_orders)
        ON CONFLICT (id) DO UPDATE SET started_at = EXCLUDED.started_at, finished_at = NULL,
            chunk_orders = EXCLUDED.chunk_orders, last_shop_id = NULL, chunks_done = 0, shops_done = 0,
            orders_done = 0, orders_retracked = 0, customers_repaired = 0
        RETURNING * INTO v_state;
    ELSE
        UPDATE @extschema@.customer_tracking_backfill_state SET chunk_orders = p_chunk_orders
        RETURNING * INTO v_state;
        RAISE NOTICE 'customer_tracking: resuming the backfill started at %: % shops (% orders) done, going on after shop %',
            v_state.started_at, v_state.shops_done, v_state.orders_done, v_state.last_shop_id;
    END IF;
    COMMIT;

    PERFORM @extschema@.customer_tracking_progress_begin('backfill', NULL, NULL, NULL);
    FOR v_chunk IN
        SELECT * FROM @extschema@.customer_tracking_backfill_chunks(NULL, v_state.last_shop_id, p_chunk_orders)
    LOOP
        IF v_first THEN
            PERFORM @extschema@.customer_tracking_progress_set('linking orders', v_state.shops_done,
                v_state.orders_done, v_state.chunks_done, v_state.shops_done + v_chunk.shops_total,
                v_state.orders_done + v_chunk.orders_total, v_state.chunks_done + v_chunk.chunks_total);
            v_first := false;
        ELSE
            PERFORM @extschema@.customer_tracking_progress_set('linking orders');
        END IF;
        IF v_distributed THEN
            -- Citus: shop by shop, each on its node (customer_tracking_backfill()).
            SELECT coalesce(sum(b.orders_linked + b.orders_untracked), 0), coalesce(sum(b.orders_retracked), 0),
                   coalesce(sum(b.customers_repaired), 0)
              INTO v_orders, v_retracked, v_repaired
              FROM pg_catalog.unnest(v_chunk.shops) s(id), LATERAL @extschema@.customer_tracking_backfill(s.id) b;
        ELSE
            SELECT coalesce(sum(o.orders), 0), coalesce(sum(o.retracked), 0) INTO v_orders, v_retracked
              FROM @extschema@.customer_tracking_backfill_orders(v_chunk.shops) o;
            PERFORM @extschema@.customer_tracking_progress_set('waiting for shop locks');
            PERFORM @extschema@.customer_tracking_lock_shops(v_chunk.shops);
            PERFORM @extschema@.customer_tracking_progress_set('counting customers');
            v_repaired := @extschema@.customer_tracking_backfill_customers(v_chunk.shops);
        END IF;
        UPDATE @extschema@.customer_tracking_backfill_state
           SET last_shop_id = v_chunk.shops[pg_catalog.cardinality(v_chunk.shops)],
               chunks_done = chunks_done + 1, shops_done = shops_done + pg_catalog.cardinality(v_chunk.shops),
               orders_done = orders_done + v_orders, orders_retracked = orders_retracked + v_retracked,
               customers_repaired = customers_repaired + v_repaired
        RETURNING * INTO v_state;
        PERFORM @extschema@.customer_tracking_progress_set(NULL, v_state.shops_done, v_state.orders_done,
                                                            v_state.chunks_done);
        COMMIT;
    END LOOP;
    UPDATE @extschema@.customer_tracking_backfill_state SET finished_at = pg_catalog.now()
    RETURNING * INTO v_state;
    COMMIT;
    PERFORM @extschema@.customer_tracking_progress_end();
    RAISE NOTICE 'customer_tracking: backfill done: % shops, % orders (% re-tracked), % customers repaired, % chunks',
        v_state.shops_done, v_state.orders_done, v_state.orders_retracked, v_state.customers_repaired,
        v_state.chunks_done;
END
$$;
COMMENT ON PROCEDURE customer_tracking_backfill_all(integer, boolean) IS
    'customer_tracking_backfill() for every shop, in one transaction per chunk of about p_chunk_orders '
    'orders (whole shops); goes on after the last chunk committed when called again after a cancel '
    '(p_restart: from the start). State in customer_tracking_backfill_state, progress in '
    'customer_tracking_progress.';
SELECT customer_tracking_set_audience('customer_tracking_backfill_all(integer, boolean)', 'dba');
