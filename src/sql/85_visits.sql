--------------------------------------------------------------------------------
-- Storefront visits and the funnel per slug (src/visits.cpp).
-- customer_tracking_record_visit() keeps, per shop, slug and UTC day, visits and
-- unique visitors: no event, no visitor. Unique visitors are counted with a hash
-- of the visitor made with the day's salt, kept for the day only; the salt is
-- destroyed when the day ends (see the README, Visits).
--------------------------------------------------------------------------------
-- Counters, striped per backend like the rollups (readers sum the stripes).
CREATE TABLE customer_tracking_slug_visits (
    shop_id          uuid NOT NULL,
    slug             text NOT NULL,
    day              date NOT NULL,
    stripe           smallint NOT NULL,
    visits           bigint NOT NULL DEFAULT 0,
    unique_visitors  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, slug, day, stripe)
) WITH (fillfactor = 70);
COMMENT ON TABLE customer_tracking_slug_visits IS
    'Per shop, slug (user_shops.shop_slug) and UTC day: storefront visits and unique visitors '
    '(customer_tracking_record_visit()); striped per backend, readers sum the stripes.';
SELECT pg_catalog.pg_extension_config_dump('customer_tracking_slug_visits', '');

-- The day's visitor hashes (HMAC-SHA256 of slug and visitor keyed by the day's salt, 16
-- bytes): a new one is a unique visitor. Past days' are deleted. Not dumped (useless without
-- the salt). Logged, unlike the salt: Citus moves a shard group by logical replication, which
-- refuses unlogged tables, and a hash tells nothing without its salt.
CREATE TABLE customer_tracking_visitors (
    day      date NOT NULL,
    shop_id  uuid NOT NULL,
    visitor  uuid NOT NULL,
    PRIMARY KEY (day, shop_id, visitor)
);
COMMENT ON TABLE customer_tracking_visitors IS
    'The current UTC day''s visitor hashes per shop (keyed by a salt destroyed at the end of the '
    'day); past days'' rows are deleted. Not readable by clients.';

-- The salts of the current UTC day and the next (32 random bytes each). Not per shop: one
-- salt for the node (like customer_tracking_settings, it holds no shop's data; not
-- distributed). UNLOGGED (never in WAL), not dumped, readable only by the extension's owner;
-- past days' rows are overwritten in place and deleted by src/visits.cpp. Vacuumed as soon
-- as a row is dead.
CREATE UNLOGGED TABLE customer_tracking_visit_salt (
    day   date PRIMARY KEY,
    salt  bytea NOT NULL
) WITH (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0);
COMMENT ON TABLE customer_tracking_visit_salt IS
    'The visitor-hash salt of the current UTC day; destroyed (overwritten, deleted) when the day ends. '
    'Not readable by clients, never written to WAL, not dumped.';

ALTER TABLE customer_tracking_slug_visits ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_visitors ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_visit_salt ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_select ON customer_tracking_slug_visits
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_visitors
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
-- (customer_tracking_visit_salt: no policy, no grant; only its owner reads it.)

-- Readers read the counters as they read the rollups; nobody but the owner reads the
-- hashes or the salt (also not roles that default privileges granted rights to).
SELECT customer_tracking_set_table_audience('customer_tracking_slug_visits', 'dashboard');
SELECT customer_tracking_set_table_audience('customer_tracking_visitors', 'dba');
SELECT customer_tracking_set_table_audience('customer_tracking_visit_salt', 'dba');

#include "functions/customer_tracking_record_visit.sql"
#include "functions/customer_tracking_visits_rotate.sql"
#include "functions/shop_slug_funnel.sql"

-- Today's and tomorrow's salts, committed with the installation: no visit of the first day
-- has to make one (see src/visits.cpp, make_salts()).
SELECT @extschema@.customer_tracking_visits_rotate();
