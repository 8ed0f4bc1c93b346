-- Brings a shop's rollups in line with the customers and tracking rows they derive from: the
-- difference (computed within one snapshot per table) is added as an increment, so it
-- commutes with the increments of orders arriving meanwhile. Returns the rows adjusted.
CREATE OR REPLACE FUNCTION customer_tracking_repair_rollups(p_shop_id uuid)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_rows bigint;
    v_total bigint := 0;
BEGIN
    WITH e AS (
        SELECT (SELECT count(*) FROM shop_customers c WHERE c.shop_id = p_shop_id AND c.total_purchases > 0) AS customers,
               (SELECT count(*) FROM shop_customers c WHERE c.shop_id = p_shop_id AND c.total_purchases >= 2) AS repeat_customers,
               (SELECT count(*) FROM customer_tracking t WHERE t.shop_id = p_shop_id AND t.purchase_completed) AS purchases,
               (SELECT coalesce(sum(t.purchase_amount), 0) FROM customer_tracking t WHERE t.shop_id = p_shop_id AND t.purchase_completed) AS revenue,
               (SELECT count(*) FROM customer_tracking t WHERE t.shop_id = p_shop_id) AS checkouts
    ), s AS (
        SELECT coalesce(sum(r.customers), 0) AS customers, coalesce(sum(r.repeat_customers), 0) AS repeat_customers,
               coalesce(sum(r.purchases), 0) AS purchases, coalesce(sum(r.revenue), 0) AS revenue,
               coalesce(sum(r.checkouts), 0) AS checkouts
          FROM customer_tracking_shop_totals r WHERE r.shop_id = p_shop_id
    )
    INSERT INTO customer_tracking_shop_totals AS r (shop_id, stripe, customers, repeat_customers, purchases, revenue, checkouts)
    SELECT p_shop_id, 0, e.customers - s.customers, e.repeat_customers - s.repeat_customers,
           e.purchases - s.purchases, e.revenue - s.revenue, e.checkouts - s.checkouts
      FROM e, s
     WHERE (e.customers, e.repeat_customers, e.purchases, e.revenue, e.checkouts)
           IS DISTINCT FROM (s.customers, s.repeat_customers, s.purchases, s.revenue, s.checkouts)
    ON CONFLICT (shop_id, stripe) DO UPDATE SET customers = r.customers + EXCLUDED.customers,
        repeat_customers = r.repeat_customers + EXCLUDED.repeat_customers, purchases = r.purchases + EXCLUDED.purchases,
        revenue = r.revenue + EXCLUDED.revenue, checkouts = r.checkouts + EXCLUDED.checkouts;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    v_total := v_total + v_rows;

    WITH e AS (
        SELECT k.day, sum(k.checkouts) AS checkouts, sum(k.purchases) AS purchases, sum(k.revenue) AS revenue,
               sum(k.new_customers) AS new_customers, sum(k.last_purchasers) AS last_purchasers
          FROM (SELECT (t.accessed_at AT TIME ZONE 'UTC')::date AS day, 1 AS checkouts,
                       t.purchase_completed::int AS purchases,
                       CASE WHEN t.purchase_completed THEN t.purchase_amount ELSE 0 END AS revenue,
                       0 AS new_customers, 0 AS last_purchasers
                  FROM customer_tracking t WHERE t.shop_id = p_shop_id
                UNION ALL
                SELECT (c.first_purchase_at AT TIME ZONE 'UTC')::date, 0, 0, 0, 1, 0
                  FROM shop_customers c WHERE c.shop_id = p_shop_id AND c.total_purchases > 0
                UNION ALL
                SELECT (c.last_purchase_at AT TIME ZONE 'UTC')::date, 0, 0, 0, 0, 1
                  FROM shop_customers c WHERE c.shop_id = p_shop_id AND c.total_purchases > 0) k
         GROUP BY k.day
    ), s AS (
        SELECT r.day, sum(r.checkouts) AS checkouts, sum(r.purchases) AS purchases, sum(r.revenue) AS revenue,
               sum(r.new_customers) AS new_customers, sum(r.last_purchasers) AS last_purchasers
          FROM customer_tracking_daily r WHERE r.shop_id = p_shop_id GROUP BY r.day
    )
    INSERT INTO customer_tracking_daily AS r (shop_id, day, stripe, checkouts, purchases, revenue, new_customers, last_purchasers)
    SELECT p_shop_id, coalesce(e.day, s.day), 0,
           coalesce(e.checkouts, 0) - coalesce(s.checkouts, 0), coalesce(e.purchases, 0) - coalesce(s.purchases, 0),
           coalesce(e.revenue, 0) - coalesce(s.revenue, 0), coalesce(e.new_customers, 0) - coalesce(s.new_customers, 0),
           coalesce(e.last_purchasers, 0) - coalesce(s.last_purchasers, 0)
      FROM e FULL JOIN s ON s.day = e.day
     WHERE (coalesce(e.checkouts, 0), coalesce(e.purchases, 0), coalesce(e.revenue, 0), coalesce(e.new_customers, 0), coalesce(e.last_purchasers, 0))
           IS DISTINCT FROM (coalesce(s.checkouts, 0), coalesce(s.purchases, 0), coalesce(s.revenue, 0), coalesce(s.new_customers, 0), coalesce(s.last_purchasers, 0))
    ON CONFLICT (shop_id, day, stripe) DO UPDATE SET checkouts = r.checkouts + EXCLUDED.checkouts,
        purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue,
        new_customers = r.new_customers + EXCLUDED.new_customers, last_purchasers = r.last_purchasers + EXCLUDED.last_purchasers;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    v_total := v_total + v_rows;

    WITH e AS (
        SELECT k.slug, k.day, sum(k.checkouts) AS checkouts, sum(k.purchases) AS purchases, sum(k.revenue) AS revenue,
               sum(k.new_customers) AS new_customers, sum(k.repeat_customers) AS repeat_customers, sum(k.customers) AS customers
          FROM (SELECT coalesce(t.accessed_via_slug, '') AS slug, (t.accessed_at AT TIME ZONE 'UTC')::date AS day,
                       1 AS checkouts, t.purchase_completed::int AS purchases,
                       CASE WHEN t.purchase_completed THEN t.purchase_amount ELSE 0 END AS revenue,
                       0 AS new_customers, 0 AS repeat_customers, 0 AS customers
                  FROM customer_tracking t WHERE t.shop_id = p_shop_id
                UNION ALL
                SELECT coalesce(c.first_source_slug, ''), (c.first_purchase_at AT TIME ZONE 'UTC')::date, 0, 0, 0,
                       1, (c.total_purchases >= 2)::int, 0
                  FROM shop_customers c WHERE c.shop_id = p_shop_id AND c.total_purchases > 0
                UNION ALL
                SELECT p.slug, (p.first_purchase_at AT TIME ZONE 'UTC')::date, 0, 0, 0, 0, 0, 1
                  FROM customer_tracking_slug_customers p WHERE p.shop_id = p_shop_id AND p.purchases > 0) k
         GROUP BY k.slug, k.day
    ), s AS (
        SELECT r.slug, r.day, sum(r.checkouts) AS checkouts, sum(r.purchases) AS purchases, sum(r.revenue) AS revenue,
               sum(r.new_customers) AS new_customers, sum(r.repeat_customers) AS repeat_customers, sum(r.customers) AS customers
          FROM customer_tracking_slug_daily r WHERE r.shop_id = p_shop_id GROUP BY r.slug, r.day
    )
    INSERT INTO customer_tracking_slug_daily AS r
        (shop_id, slug, day, stripe, checkouts, purchases, revenue, new_customers, repeat_customers, customers)
    SELECT p_shop_id, coalesce(e.slug, s.slug), coalesce(e.day, s.day), 0,
           coalesce(e.checkouts, 0) - coalesce(s.checkouts, 0), coalesce(e.purchases, 0) - coalesce(s.purchases, 0),
           coalesce(e.revenue, 0) - coalesce(s.revenue, 0), coalesce(e.new_customers, 0) - coalesce(s.new_customers, 0),
           coalesce(e.repeat_customers, 0) - coalesce(s.repeat_customers, 0), coalesce(e.customers, 0) - coalesce(s.customers, 0)
      FROM e FULL JOIN s ON s.slug = e.slug AND s.day = e.day
     WHERE (coalesce(e.checkouts, 0), coalesce(e.purchases, 0), coalesce(e.revenue, 0), coalesce(e.new_customers, 0),
            coalesce(e.repeat_customers, 0), coalesce(e.customers, 0))
           IS DISTINCT FROM (coalesce(s.checkouts, 0), coalesce(s.purchases, 0), coalesce(s.revenue, 0), coalesce(s.new_customers, 0),
            coalesce(s.repeat_customers, 0), coalesce(s.customers, 0))
    ON CONFLICT (shop_id, slug, day, stripe) DO UPDATE SET checkouts = r.checkouts + EXCLUDED.checkouts,
        purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue,
        new_customers = r.new_customers + EXCLUDED.new_customers,
        repeat_customers = r.repeat_customers + EXCLUDED.repeat_customers, customers = r.customers + EXCLUDED.customers;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    v_total := v_total + v_rows;

    WITH e AS (
        SELECT k.network, sum(k.preferring) AS preferring, sum(k.purchases) AS purchases, sum(k.revenue) AS revenue
          FROM (SELECT t.network::text AS network, 0 AS preferring, 1 AS purchases, t.purchase_amount AS revenue
                  FROM customer_tracking t
                 WHERE t.shop_id = p_shop_id AND t.purchase_completed AND t.network IS NOT NULL
                UNION ALL
                SELECT c.preferred_network::text, 1, 0, 0
                  FROM shop_customers c
                 WHERE c.shop_id = p_shop_id AND c.total_purchases > 0 AND c.preferred_network IS NOT NULL) k
         GROUP BY k.network
    ), s AS (
        SELECT r.network, sum(r.customers_preferring) AS preferring, sum(r.purchases) AS purchases, sum(r.revenue) AS revenue
          FROM customer_tracking_network_totals r WHERE r.shop_id = p_shop_id GROUP BY r.network
    )
    INSERT INTO customer_tracking_network_totals AS r (shop_id, network, stripe, customers_preferring, purchases, revenue)
    SELECT p_shop_id, coalesce(e.network, s.network), 0, coalesce(e.preferring, 0) - coalesce(s.preferring, 0),
           coalesce(e.purchases, 0) - coalesce(s.purchases, 0), coalesce(e.revenue, 0) - coalesce(s.revenue, 0)
      FROM e FULL JOIN s ON s.network = e.network
     WHERE (coalesce(e.preferring, 0), coalesce(e.purchases, 0), coalesce(e.revenue, 0))
           IS DISTINCT FROM (coalesce(s.preferring, 0), coalesce(s.purchases, 0), coalesce(s.revenue, 0))
    ON CONFLICT (shop_id, network, stripe) DO UPDATE SET
        customers_preferring = r.customers_preferring + EXCLUDED.customers_preferring,
        purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    v_total := v_total + v_rows;

    WITH e AS (
        SELECT c.total_purchases AS purchases, count(*) AS customers
          FROM shop_customers c WHERE c.shop_id = p_shop_id AND c.total_purchases > 0 GROUP BY 1
    ), s AS (
        SELECT r.purchases, sum(r.customers) AS customers
          FROM customer_tracking_frequency r WHERE r.shop_id = p_shop_id GROUP BY 1
    )
    INSERT INTO customer_tracking_frequency AS r (shop_id, purchases, stripe, customers)
    SELECT p_shop_id, coalesce(e.purchases, s.purchases), 0, coalesce(e.customers, 0) - coalesce(s.customers, 0)
      FROM e FULL JOIN s ON s.purchases = e.purchases
     WHERE coalesce(e.customers, 0) <> coalesce(s.customers, 0)
    ON CONFLICT (shop_id, purchases, stripe) DO UPDATE SET customers = r.customers + EXCLUDED.customers;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_total + v_rows;
END
$$;
SELECT customer_tracking_set_audience('customer_tracking_repair_rollups(uuid)', 'dba');
