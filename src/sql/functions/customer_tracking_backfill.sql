-- Links and counts orders that are unlinked or inconsistent, and repairs customers and rollups;
-- idempotent, safe while orders arrive. One transaction: first the order step of every chunk of
-- shops, then, with those shops locked, their customer step (customer_tracking_backfill_all()
-- commits chunk by chunk instead).
CREATE OR REPLACE FUNCTION customer_tracking_backfill(p_shop_id uuid DEFAULT NULL)
RETURNS TABLE (shop_id uuid, orders_retracked bigint, orders_linked bigint, orders_untracked bigint,
               customers_repaired bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_chunk record;
    v_shops uuid[] := '{}';
    v_chunks bigint := 0;
    v_done bigint := 0;
    v_drift text := (SELECT string_agg(h.detail, '; ') FROM customer_tracking_host_state() h
                      WHERE h.state = 'drift');
BEGIN
    -- Under drift every order would read as untracked: re-deriving would unlink them all.
    IF v_drift IS NOT NULL THEN
        RAISE EXCEPTION 'customer_tracking: backfill refused: %', v_drift
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Fix the host table or the mapping first (SELECT * FROM customer_tracking_host_state()).';
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'customer_tracking: backfill must run in READ COMMITTED, not %',
            upper(current_setting('transaction_isolation'))
            USING ERRCODE = 'invalid_transaction_state',
                  DETAIL = 'Its customer step must see every order committed before it locked the shops.';
    END IF;
    IF customer_tracking_orders_distributed() THEN
        -- Citus: shop by shop, each in a statement of its own with the shop as a constant, which
        -- Citus runs on the shop's node (customer_tracking_backfill_shop()).
        FOR v_chunk IN
            EXECUTE format('SELECT DISTINCT %1$I AS shop FROM @extschema@.shop_orders
                             WHERE %1$I IS NOT NULL AND ($1 IS NULL OR %1$I = $1)',
                           (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'shop_id'))
            USING p_shop_id
        LOOP
            RETURN QUERY EXECUTE format('SELECT * FROM @extschema@.customer_tracking_backfill_shop(%L)', v_chunk.shop);
        END LOOP;
        RETURN;
    END IF;
    -- This transaction's own changed orders are counted first.
    PERFORM customer_tracking_apply_pending();
    PERFORM customer_tracking_progress_begin('backfill', NULL, NULL, NULL);

    -- 1. Orders, chunk by chunk: links, ledger rows and issues (the orders written stay locked).
    FOR v_chunk IN SELECT * FROM customer_tracking_backfill_chunks(p_shop_id, NULL, 100000) LOOP
        IF v_chunks = 0 THEN
            PERFORM customer_tracking_progress_set('linking orders', 0, 0, 0, v_chunk.shops_total,
                                                   v_chunk.orders_total, v_chunk.chunks_total);
        END IF;
        PERFORM customer_tracking_backfill_orders(v_chunk.shops);
        v_shops := v_shops || v_chunk.shops;
        v_chunks := v_chunks + 1;
    END LOOP;

    -- 2. Customers, per-slug purchases and rollups, with every shop locked (in one order: the
    --    commit of an order of these shops waits until this transaction ends).
    IF v_chunks > 0 THEN
        PERFORM customer_tracking_progress_set('waiting for shop locks');
        PERFORM customer_tracking_lock_shops(v_shops);
        PERFORM customer_tracking_progress_set('counting customers');
        v_chunks := 0;
        FOR v_chunk IN
            SELECT array_agg(b.shop_id ORDER BY b.shop_id) AS shops
              FROM (SELECT b.shop_id, ((sum(b.orders) OVER (ORDER BY b.shop_id))::bigint - b.orders) / 100000 AS g
                      FROM pg_temp.customer_tracking_backfill_shops b WHERE b.shop_id = ANY (v_shops)) b
             GROUP BY b.g ORDER BY b.g
        LOOP
            PERFORM customer_tracking_backfill_customers(v_chunk.shops);
            v_done := v_done + cardinality(v_chunk.shops);
            v_chunks := v_chunks + 1;
            PERFORM customer_tracking_progress_set(NULL, v_done, NULL, v_chunks);
        END LOOP;
        RETURN QUERY
            SELECT b.shop_id, b.retracked, b.linked, b.untracked, b.repaired
              FROM pg_temp.customer_tracking_backfill_shops b WHERE b.shop_id = ANY (v_shops)
             ORDER BY b.shop_id;
    END IF;
    PERFORM customer_tracking_progress_end();
END
$$;
COMMENT ON FUNCTION customer_tracking_backfill(uuid) IS
    'Links and counts orders that predate the extension or were left unlinked, and repairs any '
    'customer whose stats disagree with its orders. Idempotent; safe while orders arrive. '
    'Returns per shop: orders re-tracked now, orders linked and untracked in total, customers repaired.';
SELECT customer_tracking_set_audience('customer_tracking_backfill(uuid)', 'dba');
