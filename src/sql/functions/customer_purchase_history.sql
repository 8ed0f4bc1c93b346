CREATE OR REPLACE FUNCTION customer_purchase_history(p_customer_id uuid)
RETURNS TABLE (order_id uuid, created_at timestamptz, amount numeric, network text, slug text,
               payment_status text, purchase_completed boolean, completed_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_shop uuid;
    v_id name := (SELECT c.column_name FROM @extschema@.customer_tracking_columns() c WHERE c.field = 'id');
    v_status name := (SELECT c.column_name FROM @extschema@.customer_tracking_columns() c WHERE c.field = 'payment_status');
    v_shop_col name := (SELECT c.column_name FROM @extschema@.customer_tracking_columns() c WHERE c.field = 'shop_id');
    v_has_status boolean;
BEGIN
    v_has_status := v_status <> '' AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = '@extschema@.shop_orders'::regclass AND a.attname = v_status AND NOT a.attisdropped);
    -- It also shows the orders' status from the host's shop_orders: a role that may not read
    -- what it reads gets an error naming this function, not a table.
    IF NOT has_table_privilege('@extschema@.shop_customers', 'SELECT')
       OR NOT has_table_privilege('@extschema@.customer_tracking', 'SELECT')
       OR NOT has_column_privilege('@extschema@.shop_orders', v_id::text, 'SELECT')
       OR v_has_status AND NOT has_column_privilege('@extschema@.shop_orders', v_status::text, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for function customer_purchase_history'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('It reads shop_customers, customer_tracking and shop_orders.%s; role %s may not read all of them.',
                                  CASE WHEN v_has_status THEN v_status ELSE v_id END, current_user);
    END IF;
    SELECT c.shop_id INTO v_shop FROM @extschema@.shop_customers c WHERE c.id = p_customer_id;
    IF v_shop IS NULL THEN
        RETURN;   -- no such customer, or not the caller's
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT t.shop_order_id, t.accessed_at, @extschema@.customer_tracking_money(t.purchase_amount), t.network::text, t.accessed_via_slug::text,
               %s, t.purchase_completed, t.completed_at
          FROM @extschema@.customer_tracking t
          LEFT JOIN @extschema@.shop_orders o ON o.%I = t.shop_order_id AND o.%I = t.shop_id
         WHERE t.shop_customer_id = $1 AND t.shop_id = $2
         ORDER BY t.accessed_at DESC, t.id DESC$q$,
        CASE WHEN v_has_status THEN format('o.%I::text', v_status) ELSE 'NULL::text' END, v_id, v_shop_col)
    USING p_customer_id, v_shop;
END
$$;
COMMENT ON FUNCTION customer_purchase_history(uuid) IS
    'A customer''s orders, newest first: amount, network, slug, payment status, whether it counts as a purchase.';
SELECT customer_tracking_set_audience('customer_purchase_history(uuid)', 'dashboard');
