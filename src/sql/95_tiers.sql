--------------------------------------------------------------------------------
-- Loyalty tiers. A shop's own tiers, lowest first; each customer's
-- tier is computed at read from the ledger (customer_tracking), so it is exact
-- after every commit (refunds, deletions, moves lower it at once) and rolling
-- and calendar windows move with time without a write or a cron job. Nothing is
-- added to the write path.
--------------------------------------------------------------------------------
CREATE TABLE customer_tracking_tiers (
    shop_id        uuid NOT NULL,
    rank           integer NOT NULL CHECK (rank BETWEEN 1 AND 20),
    name           text NOT NULL CHECK (btrim(name) <> '' AND length(name) <= 100),
    min_spent      numeric NOT NULL DEFAULT 0 CHECK (min_spent >= 0),
    min_purchases  integer NOT NULL DEFAULT 0 CHECK (min_purchases >= 0),
    tier_window    text NOT NULL DEFAULT 'lifetime'
                   CHECK (tier_window IN ('lifetime', 'rolling_12m', 'calendar_year')),
    time_zone      text NOT NULL DEFAULT 'UTC',
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, rank),
    UNIQUE (shop_id, name)
);
COMMENT ON TABLE customer_tracking_tiers IS
    'Loyalty tiers per shop, rank 1 = lowest; a customer is in the highest tier whose min_spent and '
    'min_purchases their purchases in its window (lifetime, rolling_12m, calendar_year in time_zone) '
    'reach. Set through customer_tracking_set_tiers(); read through shop_loyalty_tiers().';
SELECT pg_catalog.pg_extension_config_dump('customer_tracking_tiers', '');
ALTER TABLE customer_tracking_tiers ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_select ON customer_tracking_tiers
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
-- Readers as for the other tables: Supabase's authenticated and service_role where they exist,
-- else every role; row-level security decides the rows. Nobody but the owner writes it.
SELECT customer_tracking_set_table_audience('customer_tracking_tiers', 'dashboard');

#include "functions/customer_tracking_parse_tiers.sql"
#include "functions/customer_tracking_store_tiers.sql"
#include "functions/customer_tracking_tiers_write.sql"
#include "functions/shop_loyalty_tiers.sql"
#include "functions/customer_tracking_set_tiers.sql"
#include "functions/customer_tracking_tier_config.sql"
#include "functions/customer_tracking_rolling_leave.sql"
#include "functions/customer_tracking_tier_rank_sql.sql"
#include "functions/customer_tracking_tier_stats_sql.sql"
#include "functions/customer_tracking_tier_eval.sql"
#include "functions/customer_tracking_tier_counts.sql"
#include "functions/customer_tracking_tier_spread.sql"
#include "functions/shop_customer_tier.sql"
#include "functions/shop_tier_summary.sql"
#include "functions/shop_tier_preview.sql"
#include "functions/shop_tier_changes.sql"
