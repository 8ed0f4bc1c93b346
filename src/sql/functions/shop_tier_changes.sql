CREATE OR REPLACE FUNCTION shop_tier_changes(p_shop_id uuid, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (customer_id uuid, changed_at timestamptz, from_tier text, from_rank bigint,
               to_tier text, to_rank bigint, direction text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_cfg jsonb := @extschema@.customer_tracking_tier_config(p_shop_id);
    v_zone text := coalesce(v_cfg -> 0 ->> 'time_zone', 'UTC');
    v_customers uuid[];
    v_points timestamptz[];
BEGIN
    IF p_from IS NULL OR p_to IS NULL THEN
        RAISE EXCEPTION 'shop_tier_changes: p_from and p_to must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_cfg = '[]' OR p_from >= p_to THEN
        RETURN;
    END IF;
    -- Every instant in [p_from, p_to) at which a customer's tier can change: a purchase (its
    -- order's time), a purchase leaving a rolling window, the start of a calendar year.
    SELECT array_agg(c.cid), array_agg(c.x) INTO v_customers, v_points
      FROM (SELECT DISTINCT c.cid, c.x
              FROM (SELECT t.shop_customer_id AS cid, t.accessed_at AS x
                      FROM @extschema@.customer_tracking t
                     WHERE t.shop_id = p_shop_id AND t.purchase_completed
                       AND t.accessed_at >= p_from AND t.accessed_at < p_to
                    UNION ALL
                    SELECT t.shop_customer_id, @extschema@.customer_tracking_rolling_leave(t.accessed_at)
                      FROM @extschema@.customer_tracking t
                     WHERE v_cfg @> '[{"window": "rolling_12m"}]'
                       AND t.shop_id = p_shop_id AND t.purchase_completed
                       AND t.accessed_at >= p_from - interval '13 months' AND t.accessed_at < p_to - interval '11 months'
                    UNION ALL
                    SELECT t.shop_customer_id, y.start
                      FROM (SELECT g AT TIME ZONE v_zone AS start
                              FROM generate_series(date_trunc('year', p_from AT TIME ZONE v_zone),
                                                   date_trunc('year', p_to AT TIME ZONE v_zone),
                                                   interval '1 year') g) y
                      JOIN @extschema@.customer_tracking t
                        ON t.shop_id = p_shop_id AND t.purchase_completed
                       AND t.accessed_at >= ((y.start AT TIME ZONE v_zone) - interval '1 year') AT TIME ZONE v_zone
                       AND t.accessed_at < y.start
                     WHERE v_cfg @> '[{"window": "calendar_year"}]') c
             WHERE c.x >= p_from AND c.x < p_to) c;
    IF v_customers IS NULL THEN
        RETURN;
    END IF;
    -- The tier just before and at each instant (timestamps count in microseconds).
    RETURN QUERY
    WITH before AS (SELECT * FROM @extschema@.customer_tracking_tier_eval(p_shop_id, v_cfg, v_customers,
                        ARRAY(SELECT x - interval '1 microsecond' FROM unnest(v_points) x))),
         after AS (SELECT * FROM @extschema@.customer_tracking_tier_eval(p_shop_id, v_cfg, v_customers, v_points)),
         names AS (SELECT c.rank, c.name FROM jsonb_to_recordset(v_cfg) AS c(rank integer, name text))
    SELECT a.customer_id, a.as_of, fn.name, b.rank::bigint, tn.name, a.rank::bigint,
           CASE WHEN a.rank > b.rank THEN 'up' ELSE 'down' END
      FROM after a
      JOIN before b ON b.customer_id = a.customer_id AND b.as_of = a.as_of - interval '1 microsecond'
      LEFT JOIN names fn ON fn.rank = b.rank
      LEFT JOIN names tn ON tn.rank = a.rank
     WHERE a.rank <> b.rank
     ORDER BY a.as_of, a.customer_id;
END
$$;
COMMENT ON FUNCTION shop_tier_changes(uuid, timestamptz, timestamptz) IS
    'Who moved up or down a loyalty tier in [p_from, p_to), and when: at a purchase, when a purchase '
    'leaves a rolling 12-month window, at the start of a calendar year. Computed from the orders as '
    'they are now (a refunded or deleted order never counted), under the shop''s current tiers.';
SELECT customer_tracking_set_audience('shop_tier_changes(uuid, timestamptz, timestamptz)', 'dashboard');
