-- The rank of customer_tracking_tier_eval() as an SQL expression over the columns ls, lp (lifetime
-- spent and purchases), rs, rp (rolling_12m), ys, yp (calendar_year): one CASE over the few
-- tiers, highest first, thresholds as typed literals.
CREATE OR REPLACE FUNCTION customer_tracking_tier_rank_sql(p_tiers jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rank text := '';
    t record;
BEGIN
    FOR t IN SELECT * FROM jsonb_to_recordset(coalesce(p_tiers, '[]'))
                  AS c(rank integer, min_spent numeric, min_purchases integer, "window" text)
             ORDER BY c.rank DESC LOOP
        v_rank := v_rank || format(' WHEN %s >= %L::numeric AND %s >= %L::bigint THEN %s',
            CASE t."window" WHEN 'lifetime' THEN 'ls' WHEN 'rolling_12m' THEN 'rs' ELSE 'ys' END,
            t.min_spent,
            CASE t."window" WHEN 'lifetime' THEN 'lp' WHEN 'rolling_12m' THEN 'rp' ELSE 'yp' END,
            t.min_purchases, t.rank::integer);
    END LOOP;
    RETURN CASE WHEN v_rank = '' THEN '0' ELSE 'CASE WHEN lp = 0 THEN 0' || v_rank || ' ELSE 0 END' END;
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_tier_rank_sql(jsonb)', 'dashboard');
