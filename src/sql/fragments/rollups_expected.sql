-- What the rollups hold for the customers of agg and the ledger rows of l (see
-- customer_stats.sql, which comes first in the WITH list): rc, the customers with a purchase;
-- pe, purchases per (shop, slug, customer); and the rollup rows e_totals, e_daily,
-- e_slug_daily, e_networks, e_frequency (summed over stripes). l also has slug_key
-- (coalesce(slug, '')) and day (the UTC day of at).
    rc AS (
        SELECT a.* FROM agg a WHERE a.purchases > 0
    ), pe AS (
        SELECT l.shop_id, l.slug_key AS slug, l.cid, count(*)::int AS purchases, min(l.at) AS first_at
          FROM l WHERE l.p GROUP BY 1, 2, 3
    ), e_totals AS (
        SELECT k.shop_id, sum(k.customers) AS customers, sum(k.repeat_customers) AS repeat_customers,
               sum(k.purchases) AS purchases, sum(k.revenue) AS revenue, sum(k.checkouts) AS checkouts
          FROM (SELECT l.shop_id, 0 AS customers, 0 AS repeat_customers, count(*) FILTER (WHERE l.p) AS purchases,
                       coalesce(sum(l.amount) FILTER (WHERE l.p), 0) AS revenue, count(*) AS checkouts
                  FROM l GROUP BY 1
                UNION ALL
                SELECT rc.shop_id, count(*), count(*) FILTER (WHERE rc.purchases >= 2), 0, 0, 0 FROM rc GROUP BY 1) k
         GROUP BY 1
    ), e_daily AS (
        SELECT k.shop_id, k.day, sum(k.checkouts) AS checkouts, sum(k.purchases) AS purchases,
               sum(k.revenue) AS revenue, sum(k.new_customers) AS new_customers,
               sum(k.last_purchasers) AS last_purchasers
          FROM (SELECT l.shop_id, l.day, count(*) AS checkouts, count(*) FILTER (WHERE l.p) AS purchases,
                       coalesce(sum(l.amount) FILTER (WHERE l.p), 0) AS revenue, 0 AS new_customers,
                       0 AS last_purchasers
                  FROM l GROUP BY 1, 2
                UNION ALL
                SELECT rc.shop_id, (rc.first_at AT TIME ZONE 'UTC')::date, 0, 0, 0, count(*), 0 FROM rc GROUP BY 1, 2
                UNION ALL
                SELECT rc.shop_id, (rc.last_at AT TIME ZONE 'UTC')::date, 0, 0, 0, 0, count(*) FROM rc GROUP BY 1, 2) k
         GROUP BY 1, 2
    ), e_slug_daily AS (
        SELECT k.shop_id, k.slug, k.day, sum(k.checkouts) AS checkouts, sum(k.purchases) AS purchases,
               sum(k.revenue) AS revenue, sum(k.new_customers) AS new_customers,
               sum(k.repeat_customers) AS repeat_customers, sum(k.customers) AS customers
          FROM (SELECT l.shop_id, l.slug_key AS slug, l.day, count(*) AS checkouts,
                       count(*) FILTER (WHERE l.p) AS purchases,
                       coalesce(sum(l.amount) FILTER (WHERE l.p), 0) AS revenue, 0 AS new_customers,
                       0 AS repeat_customers, 0 AS customers
                  FROM l GROUP BY 1, 2, 3
                UNION ALL
                SELECT rc.shop_id, coalesce(rc.first_slug, ''), (rc.first_at AT TIME ZONE 'UTC')::date, 0, 0, 0,
                       count(*), count(*) FILTER (WHERE rc.purchases >= 2), 0
                  FROM rc GROUP BY 1, 2, 3
                UNION ALL
                SELECT pe.shop_id, pe.slug, (pe.first_at AT TIME ZONE 'UTC')::date, 0, 0, 0, 0, 0, count(*)
                  FROM pe GROUP BY 1, 2, 3) k
         GROUP BY 1, 2, 3
    ), e_networks AS (
        SELECT k.shop_id, k.network, sum(k.preferring) AS preferring, sum(k.purchases) AS purchases,
               sum(k.revenue) AS revenue
          FROM (SELECT l.shop_id, l.network, 0 AS preferring, count(*) AS purchases, sum(l.amount) AS revenue
                  FROM l WHERE l.p AND l.network IS NOT NULL GROUP BY 1, 2
                UNION ALL
                SELECT rc.shop_id, rc.preferred, count(*), 0, 0 FROM rc WHERE rc.preferred IS NOT NULL GROUP BY 1, 2) k
         GROUP BY 1, 2
    ), e_frequency AS (
        SELECT rc.shop_id, rc.purchases, count(*) AS customers FROM rc GROUP BY 1, 2
    )
