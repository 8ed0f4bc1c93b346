-- Every shop the extension's tables hold rows of (index lookups: one per shop and table).
CREATE OR REPLACE FUNCTION customer_tracking_tracked_shops()
RETURNS SETOF uuid
LANGUAGE sql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    WITH RECURSIVE
    c(id) AS (SELECT (SELECT x.shop_id FROM @extschema@.shop_customers x ORDER BY x.shop_id LIMIT 1)
              UNION ALL
              SELECT (SELECT x.shop_id FROM @extschema@.shop_customers x WHERE x.shop_id > c.id ORDER BY x.shop_id LIMIT 1)
                FROM c WHERE c.id IS NOT NULL),
    t(id) AS (SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking x ORDER BY x.shop_id LIMIT 1)
              UNION ALL
              SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking x WHERE x.shop_id > t.id ORDER BY x.shop_id LIMIT 1)
                FROM t WHERE t.id IS NOT NULL),
    p(id) AS (SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_slug_customers x ORDER BY x.shop_id LIMIT 1)
              UNION ALL
              SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_slug_customers x WHERE x.shop_id > p.id ORDER BY x.shop_id LIMIT 1)
                FROM p WHERE p.id IS NOT NULL),
    s(id) AS (SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_shop_totals x ORDER BY x.shop_id LIMIT 1)
              UNION ALL
              SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_shop_totals x WHERE x.shop_id > s.id ORDER BY x.shop_id LIMIT 1)
                FROM s WHERE s.id IS NOT NULL),
    d(id) AS (SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_daily x ORDER BY x.shop_id LIMIT 1)
              UNION ALL
              SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_daily x WHERE x.shop_id > d.id ORDER BY x.shop_id LIMIT 1)
                FROM d WHERE d.id IS NOT NULL),
    l(id) AS (SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_slug_daily x ORDER BY x.shop_id LIMIT 1)
              UNION ALL
              SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_slug_daily x WHERE x.shop_id > l.id ORDER BY x.shop_id LIMIT 1)
                FROM l WHERE l.id IS NOT NULL),
    n(id) AS (SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_network_totals x ORDER BY x.shop_id LIMIT 1)
              UNION ALL
              SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_network_totals x WHERE x.shop_id > n.id ORDER BY x.shop_id LIMIT 1)
                FROM n WHERE n.id IS NOT NULL),
    f(id) AS (SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_frequency x ORDER BY x.shop_id LIMIT 1)
              UNION ALL
              SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_frequency x WHERE x.shop_id > f.id ORDER BY x.shop_id LIMIT 1)
                FROM f WHERE f.id IS NOT NULL)
    SELECT id FROM c WHERE id IS NOT NULL UNION SELECT id FROM t WHERE id IS NOT NULL
    UNION SELECT id FROM p WHERE id IS NOT NULL UNION SELECT id FROM s WHERE id IS NOT NULL
    UNION SELECT id FROM d WHERE id IS NOT NULL UNION SELECT id FROM l WHERE id IS NOT NULL
    UNION SELECT id FROM n WHERE id IS NOT NULL UNION SELECT id FROM f WHERE id IS NOT NULL
$$;
SELECT customer_tracking_set_audience('customer_tracking_tracked_shops()', 'dba');
