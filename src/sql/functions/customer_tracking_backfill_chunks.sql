-- The shops to backfill or verify (those with orders or tracked rows; p_shop_id: that one; p_after:
-- those after it), in id order, in chunks of about p_chunk_orders orders (a bigger shop is a chunk
-- of its own; at most ~10,000 shops per chunk). Each row carries the totals.
CREATE OR REPLACE FUNCTION customer_tracking_backfill_chunks(p_shop_id uuid, p_after uuid, p_chunk_orders bigint)
RETURNS TABLE (chunk bigint, shops uuid[], orders bigint, chunks_total bigint, shops_total bigint,
               orders_total bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
SET jit = off
AS $$
DECLARE
    v_shop name := (SELECT h.column_name FROM customer_tracking_host_state() h
                     WHERE h.field = 'shop_id' AND h.state = 'ok');
BEGIN
    IF v_shop IS NULL THEN
        RAISE EXCEPTION 'customer_tracking: the shop column of shop_orders cannot be read'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'SELECT * FROM customer_tracking_host_state();';
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH per_shop AS (
            SELECT x.id, sum(x.n)::bigint AS n
              FROM (SELECT o.%1$I AS id, count(*) AS n FROM @extschema@.shop_orders o
                     WHERE o.%1$I IS NOT NULL AND ($1 IS NULL OR o.%1$I = $1) AND ($2 IS NULL OR o.%1$I > $2)
                     GROUP BY 1
                    %2$s) x
             GROUP BY x.id
        ), numbered AS (
            SELECT p.id, p.n,
                   greatest(((sum(p.n) OVER (ORDER BY p.id))::bigint - p.n) / greatest($3, 1),
                            (row_number() OVER (ORDER BY p.id) - 1) / 10000) AS g
              FROM per_shop p
        ), chunks AS (
            SELECT g, array_agg(id ORDER BY id) AS shops, sum(n)::bigint AS orders, count(*) AS nshops
              FROM numbered GROUP BY g
        )
        SELECT row_number() OVER (ORDER BY g), c.shops, c.orders, count(*) OVER (),
               (sum(c.nshops) OVER ())::bigint, (sum(c.orders) OVER ())::bigint
          FROM chunks c ORDER BY g $q$, v_shop,
        -- Shops with tracked rows but no order left (on one node; on Citus, shops with orders).
        CASE WHEN customer_tracking_orders_distributed() THEN ''
             ELSE 'UNION ALL SELECT s.id, 0 FROM @extschema@.customer_tracking_tracked_shops() s(id)
                    WHERE ($1 IS NULL OR s.id = $1) AND ($2 IS NULL OR s.id > $2)' END)
    USING p_shop_id, p_after, p_chunk_orders;
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_backfill_chunks(uuid, uuid, bigint)', 'dba');
