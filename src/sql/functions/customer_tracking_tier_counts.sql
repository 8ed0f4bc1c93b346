-- Customers with a purchase per tier at p_as_of and what they spent up to it: the statement of
-- customer_tracking_tier_eval() for every customer, counted where it runs.
CREATE OR REPLACE FUNCTION customer_tracking_tier_counts(p_shop_id uuid, p_tiers jsonb, p_as_of timestamptz)
RETURNS TABLE (rank integer, customers bigint, revenue numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_zone text := coalesce(p_tiers -> 0 ->> 'time_zone', 'UTC');
    v_ranks integer[] := ARRAY(SELECT generate_series(0, coalesce(jsonb_array_length(p_tiers), 0)));
BEGIN
    -- One aggregate row with a count and a sum per rank (FILTER), not GROUP BY on the rank: the
    -- planner cannot know that the rank has a few values, and would sort every customer. OFFSET 0
    -- keeps the rank computed once per customer (else each FILTER computes it again).
    RETURN QUERY EXECUTE format(
        'SELECT unnest($7), unnest(ARRAY[%s]), unnest(ARRAY[%s]) FROM (SELECT (%s)::integer AS r, ls FROM (%s) s OFFSET 0) s',
        (SELECT string_agg(format('count(*) FILTER (WHERE r = %s)', r), ', ' ORDER BY r) FROM unnest(v_ranks) r),
        (SELECT string_agg(format('coalesce(sum(ls) FILTER (WHERE r = %s), 0)', r), ', ' ORDER BY r) FROM unnest(v_ranks) r),
        @extschema@.customer_tracking_tier_rank_sql(p_tiers),
        @extschema@.customer_tracking_tier_stats_sql())
    USING p_shop_id, p_as_of,
          ((p_as_of AT TIME ZONE 'UTC') - interval '12 months') AT TIME ZONE 'UTC',
          date_trunc('year', p_as_of AT TIME ZONE v_zone) AT TIME ZONE v_zone,
          coalesce(p_tiers @> '[{"window": "rolling_12m"}]', false),
          coalesce(p_tiers @> '[{"window": "calendar_year"}]', false),
          v_ranks;
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_tier_counts(uuid, jsonb, timestamptz)', 'dashboard');
