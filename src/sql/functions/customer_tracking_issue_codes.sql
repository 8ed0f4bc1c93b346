-- Bulk issue (owner only): one new code per selected customer of the shop, returned. Customers:
-- those in p_customer_ids (when given), with at least p_min_purchases paid orders (e.g. 2 for
-- repeat customers) and at least p_min_spent lifetime value (when given); at least one selector
-- is required. Tiers and segments: pass their customers, e.g.
--   p_customer_ids => ARRAY(SELECT customer_id FROM <a tier or segment function> WHERE ...);
-- a p_tier / p_segment selector can be added next to these once those functions exist.
CREATE OR REPLACE FUNCTION customer_tracking_issue_codes(p_shop_id uuid, p_kind text, p_value numeric,
                                                        p_customer_ids uuid[] DEFAULT NULL,
                                                        p_min_purchases integer DEFAULT NULL,
                                                        p_min_spent numeric DEFAULT NULL,
                                                        p_expires_at timestamptz DEFAULT NULL,
                                                        p_max_uses integer DEFAULT 1)
RETURNS TABLE (customer_id uuid, code text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_kind text;
    v_code text;
    v_unknown bigint;
    r record;
BEGIN
    PERFORM @extschema@.customer_tracking_require_shop_owner(p_shop_id);
    v_kind := @extschema@.customer_tracking_check_code_terms(p_kind, p_value, p_expires_at, p_max_uses);
    IF p_customer_ids IS NULL AND p_min_purchases IS NULL AND p_min_spent IS NULL THEN
        RAISE EXCEPTION 'customer_tracking: say which customers: p_customer_ids, p_min_purchases or p_min_spent'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(p_customer_ids) > 100000 OR array_position(p_customer_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'customer_tracking: p_customer_ids must hold at most 100000 ids, none NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_min_purchases < 0 THEN
        RAISE EXCEPTION 'customer_tracking: p_min_purchases must not be negative (got %)', p_min_purchases
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_min_spent = 'NaN' OR p_min_spent < 0 OR p_min_spent >= 'Infinity' THEN
        RAISE EXCEPTION 'customer_tracking: p_min_spent must be a number of at least 0 (got %)', p_min_spent
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT count(*) INTO v_unknown
      FROM unnest(p_customer_ids) AS u(id)
     WHERE NOT EXISTS (SELECT 1 FROM @extschema@.shop_customers c WHERE c.id = u.id AND c.shop_id = p_shop_id);
    IF v_unknown > 0 THEN
        RAISE EXCEPTION 'customer_tracking: % of p_customer_ids are not customers of shop %', v_unknown, p_shop_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR r IN
        SELECT c.id FROM @extschema@.shop_customers c
         WHERE c.shop_id = p_shop_id
           AND (p_customer_ids IS NULL OR c.id = ANY (p_customer_ids))
           AND (p_min_purchases IS NULL OR c.total_purchases >= p_min_purchases)
           AND (p_min_spent IS NULL OR c.total_spent >= p_min_spent)
         ORDER BY c.id
    LOOP
        FOR i IN 1..10 LOOP
            v_code := @extschema@.customer_tracking_random_code(10);
            INSERT INTO @extschema@.customer_tracking_codes AS t
                   (shop_id, code, customer_id, kind, value, expires_at, max_uses)
            VALUES (p_shop_id, v_code, r.id, v_kind, p_value, p_expires_at, p_max_uses)
            ON CONFLICT DO NOTHING;
            EXIT WHEN FOUND;
            IF i = 10 THEN
                RAISE EXCEPTION 'customer_tracking: could not make a unique code' USING ERRCODE = 'unique_violation';
            END IF;
        END LOOP;
        customer_id := r.id;
        code := v_code;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_tracking_issue_codes(uuid, text, numeric, uuid[], integer, numeric, timestamptz, integer) IS
    'Issues one loyalty code to each selected customer of the shop (owner only): by id list, '
    'minimum paid orders, minimum lifetime value.';
SELECT customer_tracking_set_audience('customer_tracking_issue_codes(uuid, text, numeric, uuid[], integer, numeric, timestamptz, integer)', 'dashboard');
