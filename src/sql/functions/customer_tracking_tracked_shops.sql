-- Every shop the extension's tables hold rows of: per table, a loose index scan on its shop_id
-- (one index lookup per shop), the tables' shops united.
CREATE OR REPLACE FUNCTION customer_tracking_tracked_shops()
RETURNS SETOF uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    RETURN QUERY EXECUTE (
        SELECT string_agg(format(
                   'SELECT k.id FROM (WITH RECURSIVE k(id) AS ('
                   '  SELECT (SELECT x.shop_id FROM %1$s x ORDER BY x.shop_id LIMIT 1)'
                   '  UNION ALL'
                   '  SELECT (SELECT x.shop_id FROM %1$s x WHERE x.shop_id > k.id ORDER BY x.shop_id LIMIT 1)'
                   '    FROM k WHERE k.id IS NOT NULL) SELECT k.id FROM k WHERE k.id IS NOT NULL) k',
                   t), ' UNION ')
          FROM unnest(ARRAY['@extschema@.shop_customers', '@extschema@.customer_tracking',
                            '@extschema@.customer_tracking_slug_customers', '@extschema@.customer_tracking_shop_totals',
                            '@extschema@.customer_tracking_daily', '@extschema@.customer_tracking_slug_daily',
                            '@extschema@.customer_tracking_network_totals', '@extschema@.customer_tracking_frequency']) t);
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_tracked_shops()', 'dba');
