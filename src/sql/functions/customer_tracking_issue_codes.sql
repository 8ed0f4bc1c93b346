-- Bulk issue (owner only): one new code per selected customer of the shop, returned. Customers:
-- those in p_customer_ids (when given), with at least p_min_purchases paid orders (e.g. 2 for
-- repeat customers) and at least p_min_spent lifetime value (when given); at least one selector
-- is required. p_tier: the customers whose current tier (shop_loyalty_tiers) has that name;
-- p_segment: the customers in that RFM segment now (shop_customer_rfm). Selectors combine (AND).
CREATE OR REPLACE FUNCTION customer_tracking_issue_codes(p_shop_id uuid, p_kind text, p_value numeric,
                                                        p_customer_ids uuid[] DEFAULT NULL,
                                                        p_min_purchases integer DEFAULT NULL,
                                                        p_min_spent numeric DEFAULT NULL,
                                                        p_expires_at timestamptz DEFAULT NULL,
                                                        p_max_uses integer DEFAULT 1,
                                                        p_tier text DEFAULT NULL,
                                                        p_segment text DEFAULT NULL)
RETURNS TABLE (customer_id uuid, code text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_kind text;
    v_code text;
    v_unknown bigint;
    v_tier_rank bigint;
    v_in_tier uuid[];
    v_in_segment uuid[];
    r record;
BEGIN
    PERFORM @extschema@.customer_tracking_require_shop_owner(p_shop_id);
    v_kind := @extschema@.customer_tracking_check_code_terms(p_kind, p_value, p_expires_at, p_max_uses);
    IF p_customer_ids IS NULL AND p_min_purchases IS NULL AND p_min_spent IS NULL
       AND p_tier IS NULL AND p_segment IS NULL THEN
        RAISE EXCEPTION 'customer_tracking: say which customers: p_customer_ids, p_min_purchases, p_min_spent, p_tier or p_segment'
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
    IF p_tier IS NOT NULL THEN
        SELECT t.rank INTO v_tier_rank FROM @extschema@.shop_loyalty_tiers(p_shop_id) t WHERE t.name = p_tier;
        IF v_tier_rank IS NULL THEN
            RAISE EXCEPTION 'customer_tracking: shop % has no tier named %', p_shop_id, p_tier
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_in_tier := ARRAY(SELECT e.customer_id
                             FROM @extschema@.customer_tracking_tier_eval(
                                      p_shop_id, @extschema@.customer_tracking_tier_config(p_shop_id),
                                      NULL, ARRAY[pg_catalog.now()]) e
                            WHERE e.rank = v_tier_rank);
    END IF;
    IF p_segment IS NOT NULL THEN
        -- shop_customer_rfm() refuses a name that is not one of the ten segments.
        v_in_segment := ARRAY(SELECT s.customer_id
                                FROM @extschema@.shop_customer_rfm(p_shop_id, pg_catalog.now(), p_segment) s);
    END IF;
    FOR r IN
        SELECT c.id FROM @extschema@.shop_customers c
         WHERE c.shop_id = p_shop_id
           AND (p_customer_ids IS NULL OR c.id = ANY (p_customer_ids))
           AND (p_min_purchases IS NULL OR c.total_purchases >= p_min_purchases)
           AND (p_min_spent IS NULL OR c.total_spent >= p_min_spent)
           AND (p_tier IS NULL OR c.id = ANY (v_in_tier))
           AND (p_segment IS NULL OR c.id = ANY (v_in_segment))
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
COMMENT ON FUNCTION customer_tracking_issue_codes(uuid, text, numeric, uuid[], integer, numeric, timestamptz, integer, text, text) IS
    'Issues one loyalty code to each selected customer of the shop (owner only): by id list, '
    'minimum paid orders, minimum lifetime value, current tier, RFM segment.';
SELECT customer_tracking_set_audience('customer_tracking_issue_codes(uuid, text, numeric, uuid[], integer, numeric, timestamptz, integer, text, text)', 'dashboard');
