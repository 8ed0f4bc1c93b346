-- Sets the paid (and known unpaid) status lists, comma-separated, case-insensitive.
CREATE OR REPLACE FUNCTION customer_tracking_set_statuses(p_paid text, p_unpaid text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    IF coalesce(cardinality(customer_tracking_status_list(p_paid)), 0) = 0 THEN
        RAISE EXCEPTION 'customer_tracking: at least one paid status is needed'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO customer_tracking_settings VALUES ('paid_statuses', p_paid)
    ON CONFLICT (setting) DO UPDATE SET value = EXCLUDED.value;
    IF p_unpaid IS NOT NULL THEN
        INSERT INTO customer_tracking_settings VALUES ('unpaid_statuses', p_unpaid)
        ON CONFLICT (setting) DO UPDATE SET value = EXCLUDED.value;
    END IF;
    PERFORM customer_tracking_invalidate();
    RAISE NOTICE 'customer_tracking: status lists changed; run customer_tracking_backfill() to re-derive existing orders';
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_set_statuses(text, text)', 'dba');
