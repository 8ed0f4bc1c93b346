--------------------------------------------------------------------------------
-- Settings: column mapping and status vocabulary. Empty means defaults.
--------------------------------------------------------------------------------
CREATE TABLE customer_tracking_settings (
    setting text PRIMARY KEY
        CHECK (setting IN ('paid_statuses', 'unpaid_statuses', 'naive_time_zone') OR setting LIKE 'column:%'),
    value   text NOT NULL
);
COMMENT ON TABLE customer_tracking_settings IS
    'customer_tracking configuration: column:<field> maps a shop_orders field to a column '
    '(empty value = the column does not exist); paid_statuses / unpaid_statuses are '
    'comma-separated, case-insensitive status lists; naive_time_zone is the zone timestamp/date '
    'creation times are read in (default UTC). Change through customer_tracking_map_column() / '
    'customer_tracking_set_statuses() / customer_tracking_set_naive_time_zone().';
SELECT pg_catalog.pg_extension_config_dump('customer_tracking_settings', '');

--------------------------------------------------------------------------------
-- Customers: one row per (shop, E.164 phone) with at least one linked order.
-- id is a name-based UUID (v5) of (shop_id, phone): the BEFORE trigger can
-- link an order without touching this table.
--------------------------------------------------------------------------------
CREATE TABLE shop_customers (
    id                 uuid NOT NULL,
    shop_id            uuid NOT NULL,
    phone_number       varchar(20) NOT NULL,
    email              varchar(255),
    customer_name      varchar(255),
    first_purchase_at  timestamptz,
    last_purchase_at   timestamptz,
    total_purchases    integer NOT NULL DEFAULT 0 CHECK (total_purchases >= 0),
    total_spent        numeric NOT NULL DEFAULT 0,
    repeat_customer    boolean GENERATED ALWAYS AS (total_purchases >= 2) STORED,
    first_source_slug  varchar(255),
    preferred_network  varchar(50),
    total_orders       integer NOT NULL DEFAULT 0 CHECK (total_orders >= 0),
    network_purchases  jsonb NOT NULL DEFAULT '{}',
    first_order_id     uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- Keys include shop_id, so that the table can be distributed by shop (Citus).
    CONSTRAINT shop_customers_pkey PRIMARY KEY (id, shop_id),
    CONSTRAINT shop_customers_shop_id_phone_number_key UNIQUE (shop_id, phone_number)
) WITH (fillfactor = 85);
COMMENT ON TABLE shop_customers IS
    'One row per (shop, customer phone in E.164), maintained by customer_tracking. '
    'Read-only for clients; every stat equals a recomputation from shop_orders '
    '(see customer_tracking_verify()).';
COMMENT ON COLUMN shop_customers.total_purchases IS 'Orders of this customer in a paid status.';
COMMENT ON COLUMN shop_customers.total_spent IS 'Sum of the amounts of those purchases (LTV).';
COMMENT ON COLUMN shop_customers.total_orders IS 'All linked orders of this customer, any status.';
COMMENT ON COLUMN shop_customers.network_purchases IS 'Purchases per network, e.g. {"MTN": 3}.';
COMMENT ON COLUMN shop_customers.first_order_id IS 'The purchase that set first_purchase_at and first_source_slug.';
-- Customer list pages: keyset order (sort key, id), both descending.
CREATE INDEX idx_shop_customers_shop_last_purchase
    ON shop_customers (shop_id, last_purchase_at DESC, id DESC) WHERE total_purchases > 0;
CREATE INDEX idx_shop_customers_shop_total_spent
    ON shop_customers (shop_id, total_spent DESC, id DESC) WHERE total_purchases > 0;
CREATE INDEX idx_shop_customers_shop_total_purchases
    ON shop_customers (shop_id, total_purchases DESC, id DESC) WHERE total_purchases > 0;
CREATE INDEX idx_shop_customers_shop_first_purchase
    ON shop_customers (shop_id, first_purchase_at);
SELECT pg_catalog.pg_extension_config_dump('shop_customers', '');

--------------------------------------------------------------------------------
-- Attribution: one row per linked order (id = the order's id). It is also the
-- ledger of what each order contributes to its customer's stats.
--------------------------------------------------------------------------------
CREATE TABLE customer_tracking (
    id                 uuid NOT NULL,
    shop_order_id      uuid NOT NULL,
    shop_customer_id   uuid NOT NULL,
    shop_id            uuid NOT NULL,
    accessed_via_slug  varchar(255),
    accessed_at        timestamptz NOT NULL,
    purchase_completed boolean NOT NULL DEFAULT false,
    completed_at       timestamptz,
    purchase_amount    numeric NOT NULL DEFAULT 0,
    network            varchar(50),
    referrer           varchar(255),
    utm_source         varchar(255),
    utm_medium         varchar(255),
    utm_campaign       varchar(255),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customer_tracking_pkey PRIMARY KEY (id, shop_id),
    CHECK (id = shop_order_id)
) WITH (fillfactor = 90);
COMMENT ON TABLE customer_tracking IS
    'One attribution row per linked order of shop_orders, maintained by customer_tracking.';
COMMENT ON COLUMN customer_tracking.accessed_at IS 'The order''s created_at: the purchase time.';
COMMENT ON COLUMN customer_tracking.completed_at IS 'When the order was first seen in a paid status.';
COMMENT ON COLUMN customer_tracking.purchase_amount IS 'The order''s amount (counted in total_spent while purchase_completed).';
CREATE INDEX idx_customer_tracking_customer_id
    ON customer_tracking (shop_customer_id, accessed_at, id);
CREATE INDEX idx_customer_tracking_shop_accessed_at
    ON customer_tracking (shop_id, accessed_at DESC);
SELECT pg_catalog.pg_extension_config_dump('customer_tracking', '');

--------------------------------------------------------------------------------
-- Rollups: what dashboards read. Kept by the trigger next to the customer
-- stats; rows are striped per backend so concurrent orders of one shop do not
-- queue on one row; readers sum the stripes. Days are UTC calendar days.
--------------------------------------------------------------------------------
-- Purchases of a customer through a slug ('' = no slug): distinct customers per slug.
CREATE TABLE customer_tracking_slug_customers (
    shop_id            uuid NOT NULL,
    slug               text NOT NULL,
    shop_customer_id   uuid NOT NULL,
    purchases          integer NOT NULL CHECK (purchases > 0),
    first_purchase_at  timestamptz NOT NULL,
    PRIMARY KEY (shop_id, slug, shop_customer_id)
);
CREATE INDEX idx_customer_tracking_slug_customers_customer
    ON customer_tracking_slug_customers (shop_id, shop_customer_id);
CREATE TABLE customer_tracking_shop_totals (
    shop_id          uuid NOT NULL,
    stripe           smallint NOT NULL,
    customers        bigint NOT NULL DEFAULT 0,
    repeat_customers bigint NOT NULL DEFAULT 0,
    purchases        bigint NOT NULL DEFAULT 0,
    revenue          numeric NOT NULL DEFAULT 0,
    checkouts        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, stripe)
) WITH (fillfactor = 50);
CREATE TABLE customer_tracking_daily (
    shop_id          uuid NOT NULL,
    day              date NOT NULL,
    stripe           smallint NOT NULL,
    checkouts        bigint NOT NULL DEFAULT 0,
    purchases        bigint NOT NULL DEFAULT 0,
    revenue          numeric NOT NULL DEFAULT 0,
    new_customers    bigint NOT NULL DEFAULT 0,
    last_purchasers  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, day, stripe)
) WITH (fillfactor = 70);
CREATE TABLE customer_tracking_slug_daily (
    shop_id          uuid NOT NULL,
    slug             text NOT NULL,
    day              date NOT NULL,
    stripe           smallint NOT NULL,
    checkouts        bigint NOT NULL DEFAULT 0,
    purchases        bigint NOT NULL DEFAULT 0,
    revenue          numeric NOT NULL DEFAULT 0,
    new_customers    bigint NOT NULL DEFAULT 0,
    repeat_customers bigint NOT NULL DEFAULT 0,
    customers        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, slug, day, stripe)
) WITH (fillfactor = 70);
CREATE TABLE customer_tracking_network_totals (
    shop_id              uuid NOT NULL,
    network              text NOT NULL,
    stripe               smallint NOT NULL,
    customers_preferring bigint NOT NULL DEFAULT 0,
    purchases            bigint NOT NULL DEFAULT 0,
    revenue              numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, network, stripe)
) WITH (fillfactor = 70);
CREATE TABLE customer_tracking_frequency (
    shop_id    uuid NOT NULL,
    purchases  integer NOT NULL,
    stripe     smallint NOT NULL,
    customers  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, purchases, stripe)
) WITH (fillfactor = 70);
COMMENT ON TABLE customer_tracking_daily IS
    'Per shop and UTC day: checkouts, purchases and revenue of orders created that day; customers '
    'whose first purchase (new_customers) or last purchase (last_purchasers) is that day.';
COMMENT ON TABLE customer_tracking_slug_daily IS
    'Per shop, slug and UTC day: checkouts, purchases, revenue of orders placed via the slug; '
    'new_customers/repeat_customers acquired (first purchase) via it that day; customers whose '
    'first purchase via the slug is that day.';
SELECT pg_catalog.pg_extension_config_dump('customer_tracking_slug_customers', '');
SELECT pg_catalog.pg_extension_config_dump('customer_tracking_shop_totals', '');
SELECT pg_catalog.pg_extension_config_dump('customer_tracking_daily', '');
SELECT pg_catalog.pg_extension_config_dump('customer_tracking_slug_daily', '');
SELECT pg_catalog.pg_extension_config_dump('customer_tracking_network_totals', '');
SELECT pg_catalog.pg_extension_config_dump('customer_tracking_frequency', '');

--------------------------------------------------------------------------------
-- Orders that could not be tracked (or were tracked with a caveat).
--------------------------------------------------------------------------------
CREATE TABLE customer_tracking_issues (
    shop_id        uuid NOT NULL,
    shop_order_id  uuid NOT NULL,
    issue          text NOT NULL,
    detail         text,
    untracked      boolean NOT NULL,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    PRIMARY KEY (shop_id, shop_order_id, issue)
);
COMMENT ON TABLE customer_tracking_issues IS
    'Orders customer_tracking could not track (untracked = true: left unlinked) or tracked '
    'with a caveat (e.g. text truncated). resolved_at is set once the order is fixed.';
CREATE INDEX idx_customer_tracking_issues_open
    ON customer_tracking_issues (shop_id, last_seen_at DESC) WHERE resolved_at IS NULL;
SELECT pg_catalog.pg_extension_config_dump('customer_tracking_issues', '');

CREATE VIEW customer_tracking_untracked WITH (security_barrier, security_invoker) AS
    SELECT shop_id, shop_order_id, issue AS reason, detail, first_seen_at, last_seen_at
      FROM customer_tracking_issues
     WHERE untracked AND resolved_at IS NULL;
COMMENT ON VIEW customer_tracking_untracked IS
    'Orders currently left unlinked, with the reason. Fix the order (e.g. its phone) and it links.';
