-- One shop of customer_tracking_backfill(). On Citus, customer_tracking_distribute() makes it a
-- function Citus runs on the node holding the shop (by p_shop_id), where each statement reads
-- and writes that shop's shards and the trigger counts the orders it touches in the same session.
CREATE OR REPLACE FUNCTION customer_tracking_backfill_shop(p_shop_id uuid)
RETURNS TABLE (shop_id uuid, orders_retracked bigint, orders_linked bigint, orders_untracked bigint,
               customers_repaired bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_shop uuid := p_shop_id;
    v_id name := (SELECT column_name FROM customer_tracking_columns() WHERE field = 'id');
    v_shop_col name := (SELECT column_name FROM customer_tracking_columns() WHERE field = 'shop_id');
    v_orders uuid[];
    v_retracked bigint;
    v_repaired bigint;
    v_customer uuid;
BEGIN
    -- 0. Tracking rows of customers deleted by hand: their orders are tracked again below.
    DELETE FROM @extschema@.customer_tracking t
     WHERE t.shop_id = v_shop
       AND NOT EXISTS (SELECT 1 FROM @extschema@.shop_customers c
                        WHERE c.id = t.shop_customer_id AND c.shop_id = v_shop);

    -- 1. Orders whose link or tracking row disagrees with the order go through the trigger again.
    SELECT coalesce(array_agg(e.shop_order_id), '{}') INTO v_orders
      FROM @extschema@.customer_tracking_expected_orders(v_shop) e
      LEFT JOIN @extschema@.customer_tracking t ON t.id = e.shop_order_id AND t.shop_id = v_shop
     WHERE e.stored_customer_id IS DISTINCT FROM e.expected_customer_id
        OR (e.expected_customer_id IS NOT NULL
            AND (t.id IS NULL OR t.shop_customer_id <> e.expected_customer_id
                 OR t.purchase_completed <> e.purchase OR t.purchase_amount <> e.amount
                 OR t.accessed_at <> e.purchased_at OR t.network IS DISTINCT FROM e.network
                 OR t.accessed_via_slug IS DISTINCT FROM e.slug))
        OR (e.expected_customer_id IS NULL
            AND NOT EXISTS (SELECT 1 FROM @extschema@.customer_tracking_issues i
                             WHERE i.shop_id = v_shop AND i.shop_order_id = e.shop_order_id
                               AND i.untracked AND i.resolved_at IS NULL));
    PERFORM set_config('customer_tracking.retrack', 'on', true);
    EXECUTE format('UPDATE @extschema@.shop_orders o SET shop_customer_id = o.shop_customer_id
                     WHERE o.%2$I = $1 AND o.%1$I = ANY ($2)', v_id, v_shop_col)
        USING v_shop, v_orders;
    GET DIAGNOSTICS v_retracked = ROW_COUNT;
    PERFORM set_config('customer_tracking.retrack', 'off', true);
    PERFORM @extschema@.customer_tracking_apply_pending();

    -- 2. Tracking rows of orders that no longer exist (deleted while tracking was off).
    v_repaired := 0;
    FOR v_customer IN
        EXECUTE format($q$
            DELETE FROM @extschema@.customer_tracking t
             WHERE t.shop_id = $1
               AND NOT EXISTS (SELECT 1 FROM @extschema@.shop_orders o
                                WHERE o.%1$I = t.id AND o.%2$I = $1 AND o.shop_customer_id = t.shop_customer_id)
            RETURNING t.shop_customer_id$q$, v_id, v_shop_col) USING v_shop
    LOOP
        PERFORM customer_tracking_recompute(v_shop, v_customer);
        v_repaired := v_repaired + 1;
    END LOOP;

    -- 3. Customers whose stats or purchases per slug disagree with their tracking rows.
    FOR v_customer IN
        WITH l AS (
            SELECT t.shop_id, t.shop_customer_id AS cid, t.id, t.accessed_at AS at, t.purchase_completed AS p,
                   t.purchase_amount AS amount, t.network::text AS network, t.accessed_via_slug::text AS slug
              FROM @extschema@.customer_tracking t WHERE t.shop_id = v_shop
        ),
#include "fragments/customer_stats.sql"
        SELECT c.id FROM @extschema@.shop_customers c
          LEFT JOIN agg a ON a.cid = c.id AND a.shop_id = c.shop_id
         WHERE c.shop_id = v_shop
           AND (c.total_orders <> coalesce(a.orders, 0) OR c.total_purchases <> coalesce(a.purchases, 0)
                OR c.total_spent <> coalesce(a.spent, 0) OR c.first_purchase_at IS DISTINCT FROM a.first_at
                OR c.last_purchase_at IS DISTINCT FROM a.last_at OR c.first_order_id IS DISTINCT FROM a.first_id
                OR c.first_source_slug IS DISTINCT FROM a.first_slug
                OR c.preferred_network IS DISTINCT FROM a.preferred
                OR c.network_purchases <> coalesce(a.networks, '{}'::jsonb)
                OR (SELECT coalesce(jsonb_object_agg(ps.slug, ps.k || '@' || ps.f), '{}'::jsonb)
                      FROM (SELECT coalesce(t2.accessed_via_slug, '') AS slug, count(*) AS k, min(t2.accessed_at) AS f
                              FROM @extschema@.customer_tracking t2
                             WHERE t2.shop_customer_id = c.id AND t2.shop_id = v_shop AND t2.purchase_completed
                             GROUP BY 1) ps)
                   <> (SELECT coalesce(jsonb_object_agg(p.slug, p.purchases || '@' || p.first_purchase_at), '{}'::jsonb)
                         FROM @extschema@.customer_tracking_slug_customers p
                        WHERE p.shop_id = v_shop AND p.shop_customer_id = c.id))
    LOOP
        PERFORM customer_tracking_recompute(v_shop, v_customer);
        v_repaired := v_repaired + 1;
    END LOOP;

    -- 4. Rollups that disagree with the customers and tracking rows.
    PERFORM customer_tracking_repair_rollups(v_shop);

    shop_id := v_shop;
    orders_retracked := v_retracked;
    EXECUTE format('SELECT count(*) FILTER (WHERE shop_customer_id IS NOT NULL), count(*) FILTER (WHERE shop_customer_id IS NULL)
                      FROM @extschema@.shop_orders WHERE %I = $1', v_shop_col)
        INTO orders_linked, orders_untracked USING v_shop;
    customers_repaired := v_repaired;
    RETURN NEXT;
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_backfill_shop(uuid)', 'dba');
