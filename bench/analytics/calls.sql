-- bench/analytics/calls.sql: the calls bench/analytics.sh times, each next to plain SQL giving
-- the same answer from shop_orders (grouped by the link shop_orders.shop_customer_id, paid
-- statuses compared as the default list; what an application would write without the
-- extension's ledger). psql variables: shop, as_of. Prints one row per call.
SET client_min_messages = warning;
SET jit = off;
-- Server time of a statement: median and minimum over :reps runs after :warm untimed ones
-- (each run counts the rows inside the server, so no row is sent to the client).
CREATE OR REPLACE FUNCTION pg_temp.bench_ms(p_sql text, p_reps integer, p_warm integer)
RETURNS TABLE (median_ms numeric, min_ms numeric, result_rows bigint)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    v numeric[] := '{}';
    n bigint;
BEGIN
    IF p_sql IS NULL THEN
        RETURN;
    END IF;
    FOR i IN 1..p_warm LOOP
        EXECUTE 'SELECT count(*) FROM (' || p_sql || ') x' INTO n;
    END LOOP;
    FOR i IN 1..p_reps LOOP
        t0 := clock_timestamp();
        EXECUTE 'SELECT count(*) FROM (' || p_sql || ') x' INTO n;
        v := v || (extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric;
    END LOOP;
    RETURN QUERY SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 2), round(min(x), 2), n
      FROM unnest(v) x;
END
$$;
CREATE TEMP TABLE calls (n int, label text, kind text, sql text, plain text);
INSERT INTO calls VALUES
 (1, 'shop_customer_segments, now', 'summary',
  format('SELECT * FROM shop_customer_segments(%L, %L)', :'shop', :'as_of'),
  format($q$WITH c AS (SELECT o.shop_customer_id AS cid, count(*) AS fr, sum(o.total_price) AS mo,
                      floor(extract(epoch FROM %2$L::timestamptz - max(o.created_at)) / 86400) AS rd
                 FROM shop_orders o WHERE o.shop_id = %1$L AND o.payment_status IN ('completed', 'paid', 'success')
                  AND o.created_at <= %2$L GROUP BY 1),
           r AS (SELECT c.*, count(*) OVER () AS n, rank() OVER (ORDER BY rd DESC) - 1 AS rb,
                        rank() OVER (ORDER BY fr) - 1 AS fb, rank() OVER (ORDER BY mo) - 1 AS mb FROM c),
           s AS (SELECT 1 + 5 * rb / n AS r, 1 + 5 * fb / n AS f, 1 + 5 * mb / n AS m, mo FROM r)
      SELECT CASE WHEN r >= 4 AND f >= 4 AND m >= 4 THEN 'champions' WHEN r >= 3 AND f >= 4 THEN 'loyal'
                  WHEN r <= 2 AND f >= 4 AND m >= 4 THEN 'cannot_lose' WHEN r <= 2 AND f >= 3 THEN 'at_risk'
                  WHEN r >= 4 AND f >= 2 THEN 'potential_loyalist' WHEN r = 5 THEN 'new' WHEN r = 4 THEN 'promising'
                  WHEN r = 3 THEN 'needs_attention' WHEN r = 2 THEN 'hibernating' ELSE 'lost' END AS segment,
             count(*), sum(mo) FROM s GROUP BY 1$q$, :'shop', :'as_of')),
 (2, 'shop_customer_segments, a year ago', 'summary',
  format('SELECT * FROM shop_customer_segments(%L, %L::timestamptz - interval ''1 year'')', :'shop', :'as_of'), NULL),
 (3, 'shop_customer_rfm, one segment (at_risk)', 'list',
  format('SELECT * FROM shop_customer_rfm(%L, %L, ''at_risk'')', :'shop', :'as_of'), NULL),
 (4, 'shop_segment_flow, 90 days', 'summary',
  format('SELECT * FROM shop_segment_flow(%L, %L::timestamptz - interval ''90 days'', %L)', :'shop', :'as_of', :'as_of'), NULL),
 (5, 'shop_retention_rates, 30 days', 'summary',
  format('SELECT * FROM shop_retention_rates(%L, %L::timestamptz - interval ''30 days'', %L)', :'shop', :'as_of', :'as_of'),
  format($q$SELECT count(*), count(*) FILTER (WHERE earlier OR k >= 2), count(*) FILTER (WHERE k >= 2)
              FROM (SELECT o.shop_customer_id, count(*) AS k,
                           EXISTS (SELECT 1 FROM shop_orders e WHERE e.shop_id = %1$L AND e.shop_customer_id = o.shop_customer_id
                                      AND e.payment_status IN ('completed', 'paid', 'success')
                                      AND e.created_at < %2$L::timestamptz - interval '30 days') AS earlier
                      FROM shop_orders o WHERE o.shop_id = %1$L AND o.payment_status IN ('completed', 'paid', 'success')
                       AND o.created_at >= %2$L::timestamptz - interval '30 days' AND o.created_at < %2$L
                     GROUP BY 1) x$q$, :'shop', :'as_of')),
 (6, 'shop_retention_rates, 365 days', 'summary',
  format('SELECT * FROM shop_retention_rates(%L, %L::timestamptz - interval ''365 days'', %L)', :'shop', :'as_of', :'as_of'),
  format($q$SELECT count(*), count(*) FILTER (WHERE earlier OR k >= 2), count(*) FILTER (WHERE k >= 2)
              FROM (SELECT o.shop_customer_id, count(*) AS k,
                           EXISTS (SELECT 1 FROM shop_orders e WHERE e.shop_id = %1$L AND e.shop_customer_id = o.shop_customer_id
                                      AND e.payment_status IN ('completed', 'paid', 'success')
                                      AND e.created_at < %2$L::timestamptz - interval '365 days') AS earlier
                      FROM shop_orders o WHERE o.shop_id = %1$L AND o.payment_status IN ('completed', 'paid', 'success')
                       AND o.created_at >= %2$L::timestamptz - interval '365 days' AND o.created_at < %2$L
                     GROUP BY 1) x$q$, :'shop', :'as_of')),
 (7, 'shop_cohort_retention, 12 months', 'summary',
  format('SELECT * FROM shop_cohort_retention(%L, ''month'', 12, %L)', :'shop', :'as_of'),
  format($q$WITH p AS (SELECT o.shop_customer_id AS cid, o.created_at AS at, o.total_price AS amount
                         FROM shop_orders o WHERE o.shop_id = %1$L AND o.payment_status IN ('completed', 'paid', 'success')
                          AND o.created_at <= %2$L),
                f AS (SELECT cid, date_trunc('month', min(at) AT TIME ZONE 'UTC') AS cohort FROM p GROUP BY cid),
                k AS (SELECT f.cohort, (extract(year FROM p.at AT TIME ZONE 'UTC') - extract(year FROM f.cohort)) * 12
                             + extract(month FROM p.at AT TIME ZONE 'UTC') - extract(month FROM f.cohort) AS k, p.cid, p.amount
                        FROM p JOIN f USING (cid)
                       WHERE f.cohort >= date_trunc('month', %2$L::timestamptz AT TIME ZONE 'UTC') - interval '11 months')
           SELECT cohort, k, count(DISTINCT cid), sum(amount) FROM k WHERE k < 12 GROUP BY 1, 2$q$, :'shop', :'as_of')),
 (8, 'shop_cohort_retention, 12 weeks', 'summary',
  format('SELECT * FROM shop_cohort_retention(%L, ''week'', 12, %L)', :'shop', :'as_of'), NULL),
 (9, 'shop_seasonality, dow, 365 days', 'summary',
  format('SELECT * FROM shop_seasonality(%L, ''dow'', %L::timestamptz - interval ''365 days'', %L)', :'shop', :'as_of', :'as_of'),
  format($q$SELECT extract(isodow FROM o.created_at AT TIME ZONE 'UTC'), count(*), sum(o.total_price), count(DISTINCT o.shop_customer_id)
              FROM shop_orders o WHERE o.shop_id = %1$L AND o.payment_status IN ('completed', 'paid', 'success')
               AND o.created_at >= %2$L::timestamptz - interval '365 days' AND o.created_at < %2$L GROUP BY 1$q$, :'shop', :'as_of')),
 (10, 'shop_seasonality, hour, 30 days', 'summary',
  format('SELECT * FROM shop_seasonality(%L, ''hour'', %L::timestamptz - interval ''30 days'', %L)', :'shop', :'as_of', :'as_of'),
  format($q$SELECT extract(hour FROM o.created_at AT TIME ZONE 'UTC'), count(*), sum(o.total_price), count(DISTINCT o.shop_customer_id)
              FROM shop_orders o WHERE o.shop_id = %1$L AND o.payment_status IN ('completed', 'paid', 'success')
               AND o.created_at >= %2$L::timestamptz - interval '30 days' AND o.created_at < %2$L GROUP BY 1$q$, :'shop', :'as_of'));
\pset footer off
SELECT c.n, c.label, c.kind, e.result_rows AS rows, e.median_ms AS ext_median_ms, e.min_ms AS ext_min_ms,
       p.median_ms AS plain_median_ms,
       CASE WHEN p.median_ms IS NOT NULL THEN round(p.median_ms / nullif(e.median_ms, 0), 2) END AS plain_over_ext
  FROM calls c
  CROSS JOIN LATERAL pg_temp.bench_ms(c.sql, :reps, :warm) e
  LEFT JOIN LATERAL pg_temp.bench_ms(c.plain, :plain_reps, 1) p ON c.plain IS NOT NULL
 ORDER BY c.n;
