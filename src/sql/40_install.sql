--------------------------------------------------------------------------------
-- Install: attach to the host tables, unless this is a restore replaying the
-- extension before the host tables exist: both tables missing in a session
-- with row_security off, as every pg_dump script and pg_restore sets it
-- (CREATE EXTENSION itself forces check_function_bodies off, so that is no
-- signal). The dump then restores the attachment itself.
--------------------------------------------------------------------------------
DO $install$
DECLARE
    v_map text := coalesce(current_setting('customer_tracking.column_map', true), '');
    v_pair text;
    v_field text;
    v_column text;
    v_citus text := @extschema@.customer_tracking_citus_node();
BEGIN
    IF v_citus = 'worker' THEN
        RETURN;   -- the coordinator attaches (see customer_tracking_citus_node())
    ELSIF v_citus = 'coordinator' THEN
        PERFORM set_config('citus.enable_unsafe_triggers', 'on', true), set_config('citus.multi_shard_modify_mode', 'sequential', true);
    END IF;
    IF to_regclass('@extschema@.shop_orders') IS NULL AND to_regclass('@extschema@.user_shops') IS NULL
       AND current_setting('row_security') = 'off' THEN
        RAISE NOTICE 'customer_tracking: host tables not there yet (restoring a dump?); the dump restores the attachment';
        RETURN;
    END IF;
    FOREACH v_pair IN ARRAY regexp_split_to_array(btrim(v_map), '\s*,\s*') LOOP
        CONTINUE WHEN v_pair = '';
        v_field := btrim(split_part(v_pair, '=', 1));
        v_column := btrim(split_part(v_pair, '=', 2));
        IF position('=' IN v_pair) = 0 OR NOT EXISTS (SELECT 1 FROM @extschema@.customer_tracking_fields() f WHERE f.field = v_field) THEN
            RAISE EXCEPTION 'customer_tracking: bad entry "%" in customer_tracking.column_map', v_pair
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use field=column pairs separated by commas; fields: '
                             || (SELECT string_agg(field, ', ') FROM @extschema@.customer_tracking_fields());
        END IF;
        INSERT INTO @extschema@.customer_tracking_settings VALUES ('column:' || v_field, v_column::name)
        ON CONFLICT (setting) DO UPDATE SET value = EXCLUDED.value;
    END LOOP;
    PERFORM @extschema@.customer_tracking_attach();
END
$install$;
