-- Distributes, on a Citus coordinator, whatever of the host tables and the extension's is still
-- local, in one transaction: user_shops (reference table), customer_tracking_settings
-- (reference), shop_orders (by its shop column), then the extension's tables by shop_id,
-- colocated with shop_orders. Fails with one message naming every change needed first.
CREATE OR REPLACE FUNCTION customer_tracking_distribute()
RETURNS TABLE (table_name regclass, distribution text, action text)
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    -- By name, never by OID: Citus replaces a table by a new one of the same name when it adds
    -- it to its metadata (making user_shops a reference table turns shop_orders, which
    -- references it, into a "Citus local" table: the old OID is then its shard).
    v_orders text := format('%I.shop_orders', '@extschema@');
    v_shops text := format('%I.user_shops', '@extschema@');
    v_shop_col name := (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'shop_id');
    v_problems text;
    v_rel text;
    v_method text;
    v_kind text;
    v_done text[] := '{}';
    v_triggers text[];
    v_trigger text;
BEGIN
    SELECT string_agg(format('%s- %s%s: %s', E'\n', coalesce(p.table_name::text || ': ', ''), p.problem, p.fix), '' ORDER BY n)
      INTO v_problems
      FROM customer_tracking_distribution_problems() WITH ORDINALITY AS p(table_name, problem, fix, n);
    IF v_problems IS NOT NULL THEN
        RAISE EXCEPTION 'customer_tracking: cannot distribute yet; change first:%', v_problems
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'SELECT * FROM customer_tracking_distribution_problems(); lists them. Nothing was changed.';
    END IF;

    -- No order, shop or tracking write while the tables move: the derived rows are copied
    -- consistent with the orders. shop_orders first: a transaction writing orders writes the
    -- extension's tables at its commit.
    EXECUTE format('LOCK TABLE %s, %s IN EXCLUSIVE MODE', v_shops, v_orders);
    FOR v_rel IN SELECT format('%I.%I', '@extschema@', d.table_name) FROM customer_tracking_distributed_tables() d LOOP
        EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE', v_rel);
    END LOOP;

    -- Citus refuses triggers on distributed tables without it (and creates them on every shard).
    PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
    -- The tracking triggers stay off while the tables move: copying the orders into the shards
    -- of shop_orders would fire them there, and truncating the coordinator's local copy of
    -- shop_orders (truncate_local_data_after_distributing_table) would fire the TRUNCATE trigger,
    -- which empties the (then distributed) tracking tables. The copied extension tables already
    -- count every order.
    SELECT array_agg(t.tgname::text) INTO v_triggers
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid = v_orders::regclass AND t.tgenabled <> 'D'
       AND t.tgname IN ('customer_tracking_link', 'customer_tracking_track', 'customer_tracking_truncate');
    FOREACH v_trigger IN ARRAY coalesce(v_triggers, '{}') LOOP
        EXECUTE format('ALTER TABLE %s DISABLE TRIGGER %I', v_orders, v_trigger);
    END LOOP;

    FOR v_rel, v_method IN
        SELECT v_shops, 'reference'
        UNION ALL
        SELECT format('%I.%I', '@extschema@', d.table_name), d.method
          FROM customer_tracking_distributed_tables() d WHERE d.method = 'reference'
        UNION ALL SELECT v_orders, 'shop'
        UNION ALL
        SELECT format('%I.%I', '@extschema@', d.table_name), d.method
          FROM customer_tracking_distributed_tables() d WHERE d.method = 'shop'
    LOOP
        SELECT CASE WHEN p.partmethod = 'h' THEN 'shop' WHEN p.repmodel = 't' THEN 'reference' END
          INTO v_kind FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = v_rel::regclass;
        distribution := CASE WHEN v_method = 'reference' THEN 'reference'
                             WHEN v_rel = v_orders THEN format('by %I', v_shop_col)
                             ELSE format('by shop_id, colocated with %s', v_orders) END;
        IF v_kind IS NOT DISTINCT FROM v_method THEN
            action := 'already';
        ELSIF v_method = 'reference' THEN
            PERFORM create_reference_table(v_rel::regclass);
            v_done := v_done || v_rel;
            action := 'distributed';
        ELSIF v_rel = v_orders THEN
            PERFORM create_distributed_table(v_rel::regclass, v_shop_col::text);
            v_done := v_done || v_rel;
            action := 'distributed';
        ELSE
            PERFORM create_distributed_table(v_rel::regclass, 'shop_id', colocate_with => v_orders);
            v_done := v_done || v_rel;
            action := 'distributed';
        END IF;
        table_name := v_rel::regclass;
        RETURN NEXT;
    END LOOP;

    -- The coordinator's local copies of the moved rows (Citus leaves them on disk, unread).
    -- Referencing tables first (truncating user_shops's copy cascades to shop_orders's).
    FOR v_rel IN SELECT u.t FROM unnest(v_done) WITH ORDINALITY u(t, n) ORDER BY u.t = v_shops, u.n DESC LOOP
        PERFORM truncate_local_data_after_distributing_table(v_rel::regclass);
    END LOOP;

    FOREACH v_trigger IN ARRAY coalesce(v_triggers, '{}') LOOP
        EXECUTE format('ALTER TABLE %s ENABLE TRIGGER %I', v_orders, v_trigger);
    END LOOP;

    -- Maintenance of one shop runs on the node holding it: Citus runs these calls there
    -- (force_delegation: also inside a transaction, e.g. from customer_tracking_backfill()).
    PERFORM create_distributed_function(f::regprocedure, 'p_shop_id', colocate_with => v_orders,
                                        force_delegation => true)
       FROM unnest(ARRAY[format('%I.customer_tracking_backfill_shop(uuid)', '@extschema@'),
                         format('%I.customer_tracking_recompute(uuid, uuid)', '@extschema@'),
                         format('%I.customer_tracking_repair_rollups(uuid)', '@extschema@')]) f;
END
$$;
COMMENT ON FUNCTION customer_tracking_distribute() IS
    'On a Citus coordinator: makes user_shops and customer_tracking_settings reference tables, distributes '
    'shop_orders by shop and the extension''s tables by shop_id colocated with it (those still local), '
    'in one transaction. Fails with one message naming every change needed first '
    '(customer_tracking_distribution_problems()).';
SELECT customer_tracking_set_audience('customer_tracking_distribute()', 'dba');
