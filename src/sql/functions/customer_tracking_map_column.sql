-- Maps a field to a differently named shop_orders column ('' = the host has no such column).
CREATE OR REPLACE FUNCTION customer_tracking_map_column(p_field text, p_column name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM customer_tracking_fields() f WHERE f.field = p_field) THEN
        RAISE EXCEPTION 'customer_tracking: unknown field "%"', p_field
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Fields: ' || (SELECT string_agg(field, ', ') FROM customer_tracking_fields());
    END IF;
    INSERT INTO customer_tracking_settings (setting, value)
    VALUES ('column:' || p_field, coalesce(p_column, ''))
    ON CONFLICT (setting) DO UPDATE SET value = EXCLUDED.value;
    IF to_regclass('@extschema@.shop_orders') IS NOT NULL THEN
        PERFORM customer_tracking_check_host();
    END IF;
    PERFORM customer_tracking_invalidate();
    IF coalesce(p_column, '') = '' THEN
        RAISE NOTICE 'customer_tracking: % is no longer read from shop_orders; run customer_tracking_backfill() to re-derive existing orders',
            p_field;
    ELSE
        RAISE NOTICE 'customer_tracking: % now reads shop_orders.%; run customer_tracking_backfill() to re-derive existing orders',
            p_field, quote_ident(p_column);
    END IF;
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_map_column(text, name)', 'dba');
