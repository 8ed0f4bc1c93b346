-- Checks the host tables; raises one error naming everything that is missing.
CREATE OR REPLACE FUNCTION customer_tracking_check_host()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_schema  name := '@extschema@';
    v_missing text[] := '{}';
    v_orders  regclass := to_regclass(format('%I.shop_orders', v_schema));
    v_shops   regclass := to_regclass(format('%I.user_shops', v_schema));
    r record;
BEGIN
    IF v_shops IS NULL THEN
        v_missing := v_missing || format('table %I.user_shops', v_schema);
    ELSE
        SELECT array_agg(format('column user_shops.%I', c)) || v_missing
          INTO v_missing
          FROM unnest(ARRAY['id', 'user_id']::name[]) c
         WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a
                            WHERE a.attrelid = v_shops AND a.attname = c
                              AND a.attnum > 0 AND NOT a.attisdropped);
        v_missing := coalesce(v_missing, '{}');
    END IF;
    IF v_orders IS NULL THEN
        v_missing := v_missing || format('table %I.shop_orders', v_schema);
    ELSE
        FOR r IN SELECT c.field, c.column_name, c.required, c.mapped
                   FROM customer_tracking_columns() c
        LOOP
            IF r.column_name = '' AND r.required THEN
                v_missing := v_missing || format('required field %s (mapped to nothing)', r.field);
            END IF;
            CONTINUE WHEN r.column_name = '';
            -- Attribution columns are used when present, unless explicitly mapped.
            CONTINUE WHEN NOT r.mapped AND r.field IN ('referrer', 'utm_source', 'utm_medium', 'utm_campaign', 'discount_code', 'referral_code');
            IF NOT EXISTS (SELECT 1 FROM pg_attribute a
                            WHERE a.attrelid = v_orders AND a.attname = r.column_name
                              AND a.attnum > 0 AND NOT a.attisdropped) THEN
                v_missing := v_missing || CASE WHEN r.column_name::text = r.field
                    THEN format('column shop_orders.%I', r.column_name)
                    ELSE format('column shop_orders.%I (mapped from %s)', r.column_name, r.field) END;
            END IF;
        END LOOP;
    END IF;
    IF cardinality(v_missing) > 0 THEN
        RAISE EXCEPTION 'customer_tracking: the host schema is missing %', array_to_string(v_missing, ', ')
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create the app''s tables first (see host-schema.sql), or map differently named '
                         'shop_orders columns with SET customer_tracking.column_map = ''field=column, ...'' '
                         'before CREATE EXTENSION (a field mapped to '''' is treated as absent when optional).';
    END IF;
    -- Columns that exist but cannot be read (types: ct_field_type_problem, src/host_cache.cpp).
    SELECT array_agg(h.detail ORDER BY h.field) INTO v_missing
      FROM customer_tracking_host_state() h
     WHERE h.state IN ('drift', 'ignored') AND h.column_type IS NOT NULL;
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'customer_tracking: shop_orders cannot be read: %', array_to_string(v_missing, '; ')
            USING ERRCODE = 'datatype_mismatch',
                  HINT = 'Change the column''s type, or map the field to another column.';
    END IF;
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_check_host()', 'dba');
