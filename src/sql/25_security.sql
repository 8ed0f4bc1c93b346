--------------------------------------------------------------------------------
-- Owner identity and row-level security
--------------------------------------------------------------------------------
#include "functions/customer_tracking_current_owner.sql"

#include "functions/customer_tracking_owned_shops.sql"

#include "functions/customer_tracking_require_read.sql"

ALTER TABLE shop_customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_issues ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_slug_customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_shop_totals ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_slug_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_network_totals ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_frequency ENABLE ROW LEVEL SECURITY;
-- Readers: where Supabase's roles exist, authenticated owners and service_role
-- (anon places orders but reads no customer data); elsewhere every role, with
-- row-level security deciding which rows. Nobody but the owner writes them, nor reads the
-- settings (default privileges included).
SELECT customer_tracking_set_table_audience(t, 'dashboard')
  FROM unnest(ARRAY['shop_customers', 'customer_tracking', 'customer_tracking_issues',
                    'customer_tracking_untracked', 'customer_tracking_slug_customers',
                    'customer_tracking_shop_totals', 'customer_tracking_daily',
                    'customer_tracking_slug_daily', 'customer_tracking_network_totals',
                    'customer_tracking_frequency']::regclass[]) t;
SELECT customer_tracking_set_table_audience('customer_tracking_settings', 'dba');
-- Owners read their own shops' rows. The policies only name extension
-- functions, so they are created here even while restoring a dump.
CREATE POLICY shop_customers_owner_select ON shop_customers
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY customer_tracking_owner_select ON customer_tracking
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY customer_tracking_issues_owner_select ON customer_tracking_issues
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_slug_customers
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_shop_totals
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_daily
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_slug_daily
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_network_totals
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_frequency
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
