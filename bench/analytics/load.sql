-- bench/analytics/load.sql: one shop with :customers customers and ~1.3 orders each over the
-- last :days days before :as_of, for bench/analytics.sh.
--
-- Written set-based, as the extension's commit-time apply would leave them: the orders (linked,
-- shop_customer_id set) with the triggers off, then their ledger rows (customer_tracking) and the
-- customers (shop_customers) in one statement each. (customer_tracking_backfill() of a single
-- shop of 1,000,000 customers did not finish in 25 minutes on the shared 2-core machine; see
-- bench/README.md.) The rollups are not written: the analytics functions do not read them;
-- bench/analytics.sh checks the rest with customer_tracking_verify(), rollup rows left out.
--
-- Order g <= N: customer g's first order (paid, so the shop has exactly N customers); g > N: a
-- random customer's later order, 80 % paid, 12 % refunded, 8 % pending. Amounts 5.00 .. 150.00,
-- networks by phone prefix, a few slugs. psql variables: shop, customers, days, as_of.
SET client_min_messages = warning;
SET synchronous_commit = off;
SET session_replication_role = replica;
INSERT INTO user_shops (id, user_id, shop_slug) VALUES (:'shop', gen_random_uuid(), 'bench-' || :'shop');
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status,
                         shop_slug, created_at, shop_customer_id)
SELECT :'shop'::uuid, 'Customer ' || s.c, '0' || s.local,
       (ARRAY['MTN', 'MTN', 'Telecel', 'AirtelTigo'])[1 + s.c % 4],
       (500 + (s.h % 14501)) / 100.0,
       CASE WHEN s.g <= :customers OR s.h % 100 < 80 THEN 'completed'
            WHEN s.h % 100 < 92 THEN 'refunded' ELSE 'pending' END,
       (ARRAY[NULL, 'main', 'promo', 'ig', 'wa'])[1 + s.h % 5],
       -- first orders spread over the whole period, later ones after the customer's first
       CASE WHEN s.g <= :customers
            THEN :'as_of'::timestamptz - (s.g::float8 / :customers) * :days * interval '1 day'
            ELSE :'as_of'::timestamptz - ((s.h % 1000000)::float8 / 1000000 * (s.c::float8 / :customers))
                                         * :days * interval '1 day' END,
       customer_tracking_customer_id(:'shop'::uuid, '+233' || s.local)
  FROM (SELECT g, c, h, (ARRAY['24', '54', '20', '27'])[1 + c % 4] || lpad(c::text, 7, '0') AS local
          FROM (SELECT g, CASE WHEN g <= :customers THEN g ELSE 1 + (hashint8(g) & 2147483647) % :customers END AS c,
                       hashint8(g * 7 + 3) & 2147483647 AS h
                  FROM generate_series(1, (:customers * 13 / 10)::bigint) g) x) s;
RESET session_replication_role;
INSERT INTO customer_tracking (id, shop_order_id, shop_customer_id, shop_id, accessed_via_slug, accessed_at,
                               purchase_completed, completed_at, purchase_amount, network)
SELECT o.id, o.id, o.shop_customer_id, o.shop_id, o.shop_slug, o.created_at, o.payment_status = 'completed',
       CASE WHEN o.payment_status = 'completed' THEN o.created_at END, o.total_price,
       customer_tracking_network_name(o.network)
  FROM shop_orders o WHERE o.shop_id = :'shop';
INSERT INTO shop_customers (id, shop_id, phone_number, customer_name, first_purchase_at, last_purchase_at,
                            total_purchases, total_spent, first_source_slug, preferred_network, total_orders,
                            network_purchases, first_order_id)
SELECT t.shop_customer_id, t.shop_id, '+233' || substr(min(o.customer_phone), 2), min(o.customer_name),
       min(t.accessed_at) FILTER (WHERE t.purchase_completed), max(t.accessed_at) FILTER (WHERE t.purchase_completed),
       count(*) FILTER (WHERE t.purchase_completed), coalesce(sum(t.purchase_amount) FILTER (WHERE t.purchase_completed), 0),
       (array_agg(t.accessed_via_slug ORDER BY t.accessed_at, t.id) FILTER (WHERE t.purchase_completed))[1],
       min(t.network), count(*),
       jsonb_build_object(min(t.network), count(*) FILTER (WHERE t.purchase_completed)),
       (array_agg(t.id ORDER BY t.accessed_at, t.id) FILTER (WHERE t.purchase_completed))[1]
  FROM customer_tracking t JOIN shop_orders o ON o.id = t.shop_order_id
 WHERE t.shop_id = :'shop'
 GROUP BY t.shop_customer_id, t.shop_id;
ANALYZE;
