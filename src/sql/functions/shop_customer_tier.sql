CREATE OR REPLACE FUNCTION shop_customer_tier(p_shop_id uuid, p_customer_id uuid,
                                              p_as_of timestamptz DEFAULT now())
RETURNS TABLE (tier text, rank bigint, spent_in_window numeric, purchases_in_window bigint,
               next_tier text, to_next_spent numeric, to_next_purchases bigint,
               tier_expires_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_cfg jsonb;
    v_zone text;
    e record;
    v_cur jsonb;
    v_next jsonb;
    v_win text;
    v_points timestamptz[];
BEGIN
    IF p_as_of IS NULL THEN
        RAISE EXCEPTION 'shop_customer_tier: p_as_of must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM @extschema@.shop_customers c WHERE c.id = p_customer_id AND c.shop_id = p_shop_id) THEN
        RETURN;   -- no such customer of this shop, or not the caller's
    END IF;
    v_cfg := @extschema@.customer_tracking_tier_config(p_shop_id);
    v_zone := coalesce(v_cfg -> 0 ->> 'time_zone', 'UTC');
    SELECT * INTO e FROM @extschema@.customer_tracking_tier_eval(p_shop_id, v_cfg, ARRAY[p_customer_id], ARRAY[p_as_of]);
    v_cur := (SELECT x FROM jsonb_array_elements(v_cfg) x WHERE (x ->> 'rank')::integer = e.rank);
    v_next := (SELECT x FROM jsonb_array_elements(v_cfg) x WHERE (x ->> 'rank')::integer = e.rank + 1);
    v_win := coalesce(v_cur, v_next) ->> 'window';

    tier := v_cur ->> 'name';
    rank := e.rank;
    spent_in_window := CASE v_win WHEN 'rolling_12m' THEN e.rolling_spent WHEN 'calendar_year' THEN e.year_spent
                                  ELSE e.lifetime_spent END;
    purchases_in_window := CASE v_win WHEN 'rolling_12m' THEN e.rolling_purchases WHEN 'calendar_year' THEN e.year_purchases
                                      ELSE e.lifetime_purchases END;
    next_tier := v_next ->> 'name';
    IF v_next IS NOT NULL THEN
        to_next_spent := greatest(0, (v_next ->> 'min_spent')::numeric
            - CASE v_next ->> 'window' WHEN 'rolling_12m' THEN e.rolling_spent WHEN 'calendar_year' THEN e.year_spent
                                       ELSE e.lifetime_spent END);
        to_next_purchases := greatest(0, (v_next ->> 'min_purchases')::bigint
            - CASE v_next ->> 'window' WHEN 'rolling_12m' THEN e.rolling_purchases WHEN 'calendar_year' THEN e.year_purchases
                                       ELSE e.lifetime_purchases END);
    END IF;

    -- The first instant after p_as_of at which, with no further purchase, the customer is in a
    -- lower tier: where a purchase leaves a rolling window, a calendar year ends, or (orders dated
    -- in the future) a purchase enters; the rank is computed at each such instant.
    IF e.rank > 0 AND v_cur ->> 'window' <> 'lifetime' THEN
        SELECT array_agg(DISTINCT x ORDER BY x) INTO v_points
          FROM (SELECT @extschema@.customer_tracking_rolling_leave(t.accessed_at) AS x
                  FROM @extschema@.customer_tracking t
                 WHERE t.shop_customer_id = p_customer_id AND t.shop_id = p_shop_id AND t.purchase_completed
                   AND t.accessed_at > ((p_as_of AT TIME ZONE 'UTC') - interval '12 months') AT TIME ZONE 'UTC'
                   AND v_cfg @> '[{"window": "rolling_12m"}]'
                UNION ALL
                SELECT t.accessed_at
                  FROM @extschema@.customer_tracking t
                 WHERE t.shop_customer_id = p_customer_id AND t.shop_id = p_shop_id AND t.purchase_completed
                   AND t.accessed_at > p_as_of
                UNION ALL
                SELECT (y.y AT TIME ZONE v_zone)
                  FROM generate_series(date_trunc('year', p_as_of AT TIME ZONE v_zone) + interval '1 year',
                                       date_trunc('year', greatest(p_as_of,
                                           (SELECT max(t.accessed_at) FROM @extschema@.customer_tracking t
                                             WHERE t.shop_customer_id = p_customer_id AND t.shop_id = p_shop_id
                                               AND t.purchase_completed)) AT TIME ZONE v_zone) + interval '1 year',
                                       interval '1 year') y(y)
                 WHERE v_cfg @> '[{"window": "calendar_year"}]') c
         WHERE x > p_as_of;
        tier_expires_at := (SELECT min(r.as_of)
                              FROM @extschema@.customer_tracking_tier_eval(p_shop_id, v_cfg,
                                       array_fill(p_customer_id, ARRAY[cardinality(v_points)]), v_points) r
                             WHERE r.rank < e.rank);
    END IF;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION shop_customer_tier(uuid, uuid, timestamptz) IS
    'A customer''s loyalty tier at p_as_of (default now): tier (NULL: none), rank (0: none), spent '
    'and purchases in the window of that tier (or of the lowest tier), the next tier and what is '
    'missing to reach it, and when the tier ends if the customer buys nothing more (NULL: never).';
SELECT customer_tracking_set_audience('shop_customer_tier(uuid, uuid, timestamptz)', 'dashboard');
