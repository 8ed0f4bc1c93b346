-- Everything that keeps customer_tracking_distribute() from distributing, one row per change to
-- make (fix: the statement, or what to do). Empty when it can run. Only on a Citus coordinator.
CREATE OR REPLACE FUNCTION customer_tracking_distribution_problems()
RETURNS TABLE (table_name regclass, problem text, fix text)
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_orders regclass := to_regclass('@extschema@.shop_orders');
    v_shops regclass := to_regclass('@extschema@.user_shops');
    v_shop_col name := (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'shop_id');
    v_rel regclass;
    v_method text;
    v_col name;
    v_kind text;
    v_dist_col name;
    v_ext regclass[];
    v_colocated regclass[];
    r record;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        table_name := NULL;
        problem := 'Citus is not installed in this database';
        fix := 'CREATE EXTENSION citus; (with citus in shared_preload_libraries), then add the workers';
        RETURN NEXT;
        RETURN;
    END IF;
    IF (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g) <> 0 THEN
        table_name := NULL;
        problem := 'this node is a Citus worker';
        fix := 'run customer_tracking_distribute() on the coordinator';
        RETURN NEXT;
        RETURN;
    END IF;
    IF v_orders IS NULL OR v_shops IS NULL THEN
        table_name := NULL;
        problem := 'the host tables are missing';
        fix := 'create user_shops and shop_orders and run SELECT customer_tracking_attach();';
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT array_agg(format('%I.%I', '@extschema@', d.table_name)::regclass) INTO v_ext
      FROM customer_tracking_distributed_tables() d;
    -- Tables that are (or will be) distributed by shop, colocated with shop_orders.
    v_colocated := v_ext || v_orders;

    -- What each table is now, and must become.
    FOR v_rel, v_method, v_col IN
        SELECT v_shops, 'reference', NULL::name
        UNION ALL SELECT v_orders, 'shop', v_shop_col
        UNION ALL SELECT format('%I.%I', '@extschema@', d.table_name)::regclass, d.method,
                         CASE WHEN d.method = 'shop' THEN 'shop_id'::name END
                    FROM customer_tracking_distributed_tables() d
    LOOP
        SELECT CASE WHEN p.partmethod = 'h' THEN 'distributed'
                    WHEN p.partmethod = 'n' AND p.repmodel = 't' THEN 'reference'
                    WHEN p.partmethod = 'n' THEN 'citus local'
                    ELSE 'distributed (' || p.partmethod::text || ')' END,
               CASE WHEN p.partmethod = 'h' THEN column_to_column_name(p.logicalrelid, p.partkey)::name END
          INTO v_kind, v_dist_col
          FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = v_rel;
        IF v_method = 'reference' AND v_kind IS NOT NULL AND v_kind NOT IN ('reference', 'citus local') THEN
            RETURN QUERY SELECT v_rel, format('%s is a %s table; it must be a reference table', v_rel, v_kind),
                                format('SELECT undistribute_table(%L);', v_rel::text);
        END IF;
        IF v_method = 'shop' AND v_kind IS NOT NULL AND v_kind NOT IN ('citus local')
           AND (v_kind <> 'distributed' OR v_dist_col <> v_col) THEN
            RETURN QUERY SELECT v_rel, format('%s is a %s table%s; it must be distributed by %I', v_rel, v_kind,
                                              CASE WHEN v_dist_col IS NOT NULL THEN format(' by %I', v_dist_col) ELSE '' END, v_col),
                                CASE WHEN v_kind = 'distributed' THEN format('SELECT alter_distributed_table(%L, %L);', v_rel::text, v_col)
                                     ELSE format('SELECT undistribute_table(%L);', v_rel::text) END;
        END IF;
        CONTINUE WHEN v_method <> 'shop' OR v_kind = 'distributed';

        -- Citus: every unique constraint, unique index and exclusion constraint of a distributed
        -- table includes the distribution column.
        FOR r IN
            SELECT i.indexrelid::regclass AS idx, c.conname, c.contype,
                   (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
                      FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(att, n)
                      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.att
                     WHERE k.n <= i.indnkeyatts) AS cols,
                   (SELECT bool_or(k.att = 0) FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(att, n)
                     WHERE k.n <= i.indnkeyatts) AS has_expression
              FROM pg_catalog.pg_index i
              LEFT JOIN pg_catalog.pg_constraint c
                ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')
             WHERE i.indrelid = v_rel AND (i.indisunique OR c.contype = 'x')
               AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(att, n)
                                WHERE k.n <= i.indnkeyatts
                                  AND k.att = (SELECT a.attnum FROM pg_catalog.pg_attribute a
                                                WHERE a.attrelid = v_rel AND a.attname = v_col AND NOT a.attisdropped))
             ORDER BY c.contype = 'p' DESC, 1::text
        LOOP
            table_name := v_rel;
            problem := format('%s %s (%s) does not include %I (Citus: every unique key of a distributed table includes its distribution column)',
                              CASE r.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique constraint'
                                             WHEN 'x' THEN 'exclusion constraint' ELSE 'unique index' END,
                              coalesce(quote_ident(r.conname), r.idx::text), r.cols, v_col);
            IF v_rel <> v_orders THEN
                fix := 'a customer_tracking version whose keys include shop_id (ALTER EXTENSION customer_tracking UPDATE)';
            ELSIF r.contype = 'p' THEN
                -- Two statements: Citus refuses ADD CONSTRAINT with other subcommands once the table is in its metadata.
                fix := format('ALTER TABLE %s DROP CONSTRAINT %I; ALTER TABLE %s ADD PRIMARY KEY (%s, %I);',
                              v_rel, r.conname, v_rel, r.cols, v_col);
            ELSIF r.contype = 'u' THEN
                fix := format('ALTER TABLE %s DROP CONSTRAINT %I; ALTER TABLE %s ADD CONSTRAINT %I UNIQUE (%s, %I);',
                              v_rel, r.conname, v_rel, r.conname, r.cols, v_col);
            ELSIF r.contype = 'x' THEN
                fix := format('recreate %I with %I WITH = among its elements, or drop it', r.conname, v_col);
            ELSIF r.has_expression THEN
                fix := format('DROP INDEX %s; then create it again with %I among its key columns', r.idx, v_col);
            ELSE
                fix := format('DROP INDEX %s; CREATE UNIQUE INDEX %I ON %s (%s, %I);',
                              r.idx, (SELECT relname FROM pg_catalog.pg_class WHERE oid = r.idx), v_rel, r.cols, v_col);
            END IF;
            RETURN NEXT;
        END LOOP;

        -- Citus: no subqueries in the policies of a distributed table.
        FOR r IN
            SELECT p.polname FROM pg_catalog.pg_policy p
             WHERE p.polrelid = v_rel
               AND (p.polqual::text LIKE '%{SUBLINK %' OR p.polwithcheck::text LIKE '%{SUBLINK %')
             ORDER BY 1
        LOOP
            table_name := v_rel;
            problem := format('policy %I has a subquery (Citus: subqueries are not supported in policies on distributed tables)',
                              r.polname);
            fix := CASE WHEN v_rel = v_orders
                        THEN format('rewrite policy %I without a subquery (e.g. call a function)', r.polname)
                        ELSE 'a customer_tracking version whose policies have no subquery (ALTER EXTENSION customer_tracking UPDATE)' END;
            RETURN NEXT;
        END LOOP;
    END LOOP;

    -- The distribution column's type: colocation needs the same type everywhere.
    IF (SELECT a.atttypid FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_orders AND a.attname = v_shop_col AND NOT a.attisdropped) <> 'uuid'::regtype THEN
        RETURN QUERY SELECT v_orders,
            format('shop_orders.%I is not a uuid: the extension''s tables, colocated with shop_orders, are distributed by uuid shop_id', v_shop_col),
            format('ALTER TABLE %s ALTER COLUMN %I TYPE uuid USING %I::uuid;', v_orders, v_shop_col, v_shop_col);
    END IF;

    -- Foreign keys. Citus: a key between distributed tables joins colocated tables on the
    -- distribution column; a distributed or reference table may reference a reference table
    -- (and so may a local table, which Citus then adds to its metadata); nothing references a
    -- distributed table from outside its colocation group; a reference table references only
    -- reference tables; and a key including the distribution column neither SETs NULL/DEFAULT on
    -- delete nor SETs or CASCADEs on update.
    FOR r IN
        SELECT c.conname, c.conrelid::regclass AS src, c.confrelid::regclass AS dst, c.confdeltype, c.confupdtype,
               (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
                  FROM unnest(c.conkey) WITH ORDINALITY k(att, n)
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att) AS cols,
               (SELECT p.partmethod::text || p.repmodel::text FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = c.confrelid) AS dst_kind,
               (SELECT p.partmethod::text || p.repmodel::text FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = c.conrelid) AS src_kind
          FROM pg_catalog.pg_constraint c
         WHERE c.contype = 'f'
           AND (c.conrelid IN (v_orders, v_shops) OR c.confrelid = v_orders
                OR c.conrelid = ANY (v_ext) OR c.confrelid = ANY (v_ext))
         ORDER BY 2::text, 1
    LOOP
        table_name := r.src;
        IF r.src = v_shops AND r.dst <> v_shops AND r.dst <> ALL (v_ext) AND coalesce(r.dst_kind, '') <> 'nt' THEN
            problem := format('foreign key %I references %s, which is not a reference table (Citus: a reference table references only reference tables)',
                              r.conname, r.dst);
            fix := format('SELECT create_reference_table(%L); or ALTER TABLE %s DROP CONSTRAINT %I;', r.dst::text, r.src, r.conname);
            RETURN NEXT;
        ELSIF r.dst = v_orders AND r.src <> ALL (v_colocated) AND coalesce(r.src_kind, '') NOT LIKE 'h%' THEN
            problem := format('foreign key %I references shop_orders (Citus: only tables distributed by shop, colocated with shop_orders, may reference it)',
                              r.conname);
            fix := format('distribute %s by its shop column with colocate_with => %L and make the key include it, or ALTER TABLE %s DROP CONSTRAINT %I;',
                          r.src, v_orders::text, r.src, r.conname);
            RETURN NEXT;
        ELSIF r.src = ANY (v_colocated) AND r.dst <> v_shops AND r.dst <> ALL (v_colocated)
              AND coalesce(r.dst_kind, '') NOT IN ('nt') AND coalesce(r.dst_kind, '') NOT LIKE 'h%' THEN
            problem := format('foreign key %I references %s, a local table (Citus: a distributed table references only reference tables and colocated tables)',
                              r.conname, r.dst);
            fix := format('SELECT create_reference_table(%L); or ALTER TABLE %s DROP CONSTRAINT %I;', r.dst::text, r.src, r.conname);
            RETURN NEXT;
        ELSIF r.src = ANY (v_colocated) AND r.dst = ANY (v_colocated)
              AND NOT (CASE WHEN r.src = v_orders THEN v_shop_col ELSE 'shop_id' END)::text = ANY (string_to_array(replace(r.cols, '"', ''), ', ')) THEN
            problem := format('foreign key %I (%s) between tables distributed by shop does not include the shop column', r.conname, r.cols);
            fix := CASE WHEN r.src = ANY (v_ext) THEN 'a customer_tracking version whose keys include shop_id (ALTER EXTENSION customer_tracking UPDATE)'
                        ELSE format('ALTER TABLE %s DROP CONSTRAINT %I; then add it again with the shop column', r.src, r.conname) END;
            RETURN NEXT;
        END IF;
        IF r.src = ANY (v_colocated)
           AND (CASE WHEN r.src = v_orders THEN v_shop_col ELSE 'shop_id' END)::text = ANY (string_to_array(replace(r.cols, '"', ''), ', '))
           AND (r.confdeltype IN ('n', 'd') OR r.confupdtype IN ('n', 'd', 'c')) THEN
            problem := format('foreign key %I (%s) includes the shop column and has ON %s %s (Citus: not with the distribution column)',
                              r.conname, r.cols, CASE WHEN r.confdeltype IN ('n', 'd') THEN 'DELETE' ELSE 'UPDATE' END,
                              CASE WHEN r.confdeltype = 'n' OR (r.confdeltype NOT IN ('n', 'd') AND r.confupdtype = 'n') THEN 'SET NULL'
                                   WHEN r.confdeltype = 'd' OR r.confupdtype = 'd' THEN 'SET DEFAULT' ELSE 'CASCADE' END);
            fix := CASE WHEN r.src = ANY (v_ext) THEN 'a customer_tracking version without that action (ALTER EXTENSION customer_tracking UPDATE)'
                        ELSE format('ALTER TABLE %s DROP CONSTRAINT %I; then add it again with ON DELETE CASCADE, RESTRICT or NO ACTION (and no ON UPDATE action)', r.src, r.conname) END;
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_tracking_distribution_problems() IS
    'What keeps customer_tracking_distribute() from distributing on this Citus cluster: one row per change '
    'to make first, with the statement (or what to do). No rows when it can run.';
SELECT customer_tracking_set_audience('customer_tracking_distribution_problems()', 'dba');
