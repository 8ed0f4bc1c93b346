-- customer_tracking: per-shop customers, lifetime value and attribution,
-- maintained inside the database by a C++ trigger on the host's shop_orders.
--
-- Installed into the schema that holds the host tables (user_shops, shop_orders).
-- Restore-safe: pg_restore runs CREATE EXTENSION before it creates the host
-- tables, so everything that needs them lives in customer_tracking_attach(),
-- whose effects (column, foreign key, index, triggers, policies) pg_dump keeps
-- with the host table and restores on its own.

\echo Use "CREATE EXTENSION customer_tracking" to load this file. \quit
