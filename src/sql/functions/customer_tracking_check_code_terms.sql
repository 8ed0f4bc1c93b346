-- The terms of a code to issue, checked; raises invalid_parameter_value naming the argument.
CREATE OR REPLACE FUNCTION customer_tracking_check_code_terms(p_kind text, p_value numeric,
                                                             p_expires_at timestamptz, p_max_uses integer)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_kind text := lower(btrim(p_kind));
BEGIN
    IF v_kind IS NULL OR v_kind NOT IN ('percent', 'fixed') THEN
        RAISE EXCEPTION 'customer_tracking: p_kind must be ''percent'' or ''fixed'', not %',
                        coalesce(quote_literal(left(p_kind, 40)), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_value IS NULL OR p_value = 'NaN' OR p_value <= 0 OR p_value >= 'Infinity'
       OR (v_kind = 'percent' AND p_value > 100) THEN
        RAISE EXCEPTION 'customer_tracking: p_value must be a positive number% (got %)',
                        CASE WHEN v_kind = 'percent' THEN ' of at most 100' ELSE '' END,
                        coalesce(p_value::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_expires_at IS NOT NULL AND p_expires_at <= now() THEN
        RAISE EXCEPTION 'customer_tracking: p_expires_at must be in the future (got %)', p_expires_at
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_max_uses IS NULL OR p_max_uses < 1 OR p_max_uses > 1000000 THEN
        RAISE EXCEPTION 'customer_tracking: p_max_uses must be between 1 and 1000000 (got %)',
                        coalesce(p_max_uses::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN v_kind;
END
$$;
COMMENT ON FUNCTION customer_tracking_check_code_terms(text, numeric, timestamptz, integer) IS
    'Checks the terms of a loyalty code to issue; returns the kind in its one spelling.';
SELECT customer_tracking_set_audience('customer_tracking_check_code_terms(text, numeric, timestamptz, integer)', 'dba');
