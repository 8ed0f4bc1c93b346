R"sql(
-- A customer's stats derived from its ledger rows: the one statement of the rule, pulled by
-- `#include` into the SQL that recomputes, backfills or verifies customers and compiled into
-- customers.cpp (the first and last lines make this file a C++ raw string; scripts/
-- assemble_sql.awk drops them). It is the part of a WITH list after a relation l of ledger
-- rows (shop_id, cid, id, at, p, amount, network text, slug text), one row per order, p = a
-- counted purchase, and leaves one row per customer having rows in l in agg (shop_id, cid,
-- orders, purchases, spent, first_at, last_at, first_id, first_slug, networks, preferred):
-- the first purchase is the earliest by (at, id); the preferred network has the most
-- purchases, ties to the first name in byte order.
    firsts AS (
        SELECT DISTINCT ON (l.shop_id, l.cid) l.shop_id, l.cid, l.id AS first_id, l.slug AS first_slug
          FROM l WHERE l.p ORDER BY l.shop_id, l.cid, l.at, l.id
    ), nets AS (
        SELECT l.shop_id, l.cid, l.network, count(*)::int AS n
          FROM l WHERE l.p AND l.network IS NOT NULL GROUP BY 1, 2, 3
    ), netagg AS (
        SELECT n.shop_id, n.cid, jsonb_object_agg(n.network, n.n) AS networks,
               (array_agg(n.network ORDER BY n.n DESC, n.network COLLATE "C"))[1] AS preferred
          FROM nets n GROUP BY 1, 2
    ), agg AS MATERIALIZED (
        SELECT a.shop_id, a.cid, a.orders, a.purchases, a.spent, a.first_at, a.last_at, f.first_id,
               f.first_slug, coalesce(n.networks, '{}'::jsonb) AS networks, n.preferred
          FROM (SELECT l.shop_id, l.cid, count(*)::int AS orders, count(*) FILTER (WHERE l.p)::int AS purchases,
                       coalesce(sum(l.amount) FILTER (WHERE l.p), 0) AS spent,
                       min(l.at) FILTER (WHERE l.p) AS first_at, max(l.at) FILTER (WHERE l.p) AS last_at
                  FROM l GROUP BY 1, 2) a
          LEFT JOIN firsts f ON f.shop_id = a.shop_id AND f.cid = a.cid
          LEFT JOIN netagg n ON n.shop_id = a.shop_id AND n.cid = a.cid
    )
)sql"
