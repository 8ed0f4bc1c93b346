-- customer_tracking: per-shop customers, lifetime value and attribution,
-- maintained inside the database by a C++ trigger on the host's shop_orders.
--
-- Installed into the schema that holds the host tables (user_shops, shop_orders).
-- Restore-safe: pg_restore runs CREATE EXTENSION before it creates the host
-- tables, so everything that needs them lives in customer_tracking_attach(),
-- whose effects (column, foreign key, index, triggers, policies) pg_dump keeps
-- with the host table and restores on its own.

\echo Use "CREATE EXTENSION customer_tracking" to load this file. \quit

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

--------------------------------------------------------------------------------
-- C functions
--------------------------------------------------------------------------------
CREATE FUNCTION normalize_phone(phone text, region text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'ct_normalize_phone'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION normalize_phone(text, text) IS
    'E.164 form of phone (region: default region for numbers without a country code; '
    'NULL = customer_tracking.default_region), or NULL when it is not a valid number.';

CREATE FUNCTION customer_tracking_customer_id(p_shop_id uuid, p_phone_e164 text)
RETURNS uuid
AS 'MODULE_PATHNAME', 'ct_customer_id_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_tracking_customer_id(uuid, text) IS
    'The shop_customers.id of a (shop, E.164 phone): UUID v5 with the shop id as namespace.';

CREATE FUNCTION customer_tracking_link_order()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ct_link_order'
LANGUAGE C;

CREATE FUNCTION customer_tracking_track_order()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ct_track_order'
LANGUAGE C;

CREATE FUNCTION customer_tracking_flush_rollups()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ct_flush_rollups'
LANGUAGE C;

CREATE FUNCTION customer_tracking_truncate_orders()
RETURNS trigger
AS 'MODULE_PATHNAME', 'ct_truncate_orders'
LANGUAGE C;

CREATE FUNCTION customer_tracking_apply_pending()
RETURNS void
AS 'MODULE_PATHNAME', 'ct_apply_pending'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION customer_tracking_apply_pending() IS
    'Counts the orders this transaction changed now instead of at its commit (their customers stay '
    'locked until the transaction ends). Used by customer_tracking_backfill().';
-- Citus: the same on a worker, for the backend a query of the distributed transaction's
-- initiator reaches (which calls it just before the nodes prepare); a one-time filter.
-- Applies only the caller's own transaction's orders.
CREATE FUNCTION customer_tracking_apply_pending_here()
RETURNS boolean
AS 'MODULE_PATHNAME', 'ct_apply_pending_here'
LANGUAGE C STABLE;

-- 1.4 (host DDL, one parser, one clock, network names): src/host_guard.cpp.
-- An order as the trigger reads it: the one reading of shop_orders (column map, status lists,
-- naive time zone, network spelling) that verify, backfill and the expected orders use too.
CREATE FUNCTION customer_tracking_decode_order(
    p_order record, OUT shop_order_id uuid, OUT shop_id uuid, OUT stored_customer_id uuid,
    OUT expected_customer_id uuid, OUT purchase boolean, OUT amount numeric,
    OUT purchased_at timestamptz, OUT network text, OUT slug text, OUT issues text[])
RETURNS record
AS 'MODULE_PATHNAME', 'ct_decode_order_sql'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION customer_tracking_decode_order(record) IS
    'A shop_orders row as the trigger reads it: ids, stored and expected customer link, whether '
    'it is a purchase, amount, purchase time, network, slug and issue codes.';

-- Where each field is read from, and whether it can be (ok, absent, ignored, drift).
CREATE FUNCTION customer_tracking_host_state(
    OUT field text, OUT column_name name, OUT column_type text, OUT state text, OUT detail text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'ct_host_state'
LANGUAGE C STABLE;
COMMENT ON FUNCTION customer_tracking_host_state() IS
    'Per field: the shop_orders column it is read from, its type and state: ok, absent (no such '
    'column, by configuration), ignored (lost; the field changes no count and is read as absent) '
    'or drift (orders are saved untracked with issue host_drift until it is fixed).';

CREATE FUNCTION customer_tracking_status_list(p_list text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'ct_status_list'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_tracking_status_list(text) IS
    'A comma-separated status list as the trigger reads it: entries trimmed and lower-cased '
    '(ASCII letters), empty entries dropped.';

CREATE FUNCTION customer_tracking_status_class(p_status text)
RETURNS text
AS 'MODULE_PATHNAME', 'ct_status_class'
LANGUAGE C STABLE;
COMMENT ON FUNCTION customer_tracking_status_class(text) IS
    'How the trigger classifies a payment status: paid (a purchase), unpaid, unknown or missing.';

CREATE FUNCTION customer_tracking_network_name(p_network text)
RETURNS text
AS 'MODULE_PATHNAME', 'ct_network_name'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_tracking_network_name(text) IS
    'The one spelling of a network name: blanks at both ends removed, ASCII letters upper-cased; '
    'NULL when blank.';

CREATE FUNCTION customer_tracking_valid_time_zone(p_zone text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ct_valid_time_zone'
LANGUAGE C STABLE STRICT;

CREATE FUNCTION customer_tracking_ddl_guard()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'ct_ddl_guard'
LANGUAGE C;
COMMENT ON FUNCTION customer_tracking_ddl_guard() IS
    'Event trigger: follows renames of the shop_orders columns customer_tracking reads, and '
    'refuses DDL that would leave one unreadable or change what an order counts for.';
-- End of the 1.4 host functions.

--------------------------------------------------------------------------------
-- Configuration helpers
--------------------------------------------------------------------------------
CREATE FUNCTION customer_tracking_fields(
    OUT field text, OUT default_column name, OUT required boolean)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    VALUES ('id',             'id'::name,             true),
           ('shop_id',        'shop_id',              true),
           ('customer_phone', 'customer_phone',       true),
           ('total_price',    'total_price',          true),
           ('created_at',     'created_at',           true),
           ('payment_status', 'payment_status',       false),
           ('customer_email', 'customer_email',       false),
           ('customer_name',  'customer_name',        false),
           ('network',        'network',              false),
           ('shop_slug',      'shop_slug',            false),
           ('referrer',       'referrer',             false),
           ('utm_source',     'utm_source',           false),
           ('utm_medium',     'utm_medium',           false),
           ('utm_campaign',   'utm_campaign',         false)
$$;
COMMENT ON FUNCTION customer_tracking_fields() IS
    'The shop_orders fields customer_tracking reads. Required fields must exist; optional '
    'ones are used when present (payment_status, email, name, network and slug must exist '
    'unless mapped to '''' to say the host has no such column).';

-- The column each field is read from ('' = none), after mapping.
CREATE FUNCTION customer_tracking_columns(
    OUT field text, OUT column_name name, OUT required boolean, OUT mapped boolean)
RETURNS SETOF record
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    SELECT f.field, coalesce(s.value, f.default_column)::name, f.required, s.value IS NOT NULL
      FROM customer_tracking_fields() WITH ORDINALITY AS f(field, default_column, required, n)
      LEFT JOIN customer_tracking_settings s ON s.setting = 'column:' || f.field
     ORDER BY f.n
$$;

-- The status lists in force, as the trigger parsed them (one parser: src/order_rules.cpp).
CREATE FUNCTION customer_tracking_statuses(OUT paid text[], OUT unpaid text[])
AS 'MODULE_PATHNAME', 'ct_statuses'
LANGUAGE C STABLE;

-- Checks the host tables; raises one error naming everything that is missing.
CREATE FUNCTION customer_tracking_check_host()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_schema  name := '@extschema@';
    v_missing text[] := '{}';
    v_orders  regclass := to_regclass(format('%I.shop_orders', v_schema));
    v_shops   regclass := to_regclass(format('%I.user_shops', v_schema));
    r record;
BEGIN
    IF v_shops IS NULL THEN
        v_missing := v_missing || format('table %I.user_shops', v_schema);
    ELSE
        SELECT array_agg(format('column user_shops.%I', c)) || v_missing
          INTO v_missing
          FROM unnest(ARRAY['id', 'user_id']::name[]) c
         WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a
                            WHERE a.attrelid = v_shops AND a.attname = c
                              AND a.attnum > 0 AND NOT a.attisdropped);
        v_missing := coalesce(v_missing, '{}');
    END IF;
    IF v_orders IS NULL THEN
        v_missing := v_missing || format('table %I.shop_orders', v_schema);
    ELSE
        FOR r IN SELECT c.field, c.column_name, c.required, c.mapped
                   FROM customer_tracking_columns() c
        LOOP
            IF r.column_name = '' AND r.required THEN
                v_missing := v_missing || format('required field %s (mapped to nothing)', r.field);
            END IF;
            CONTINUE WHEN r.column_name = '';
            -- Attribution columns are used when present, unless explicitly mapped.
            CONTINUE WHEN NOT r.mapped AND r.field IN ('referrer', 'utm_source', 'utm_medium', 'utm_campaign');
            IF NOT EXISTS (SELECT 1 FROM pg_attribute a
                            WHERE a.attrelid = v_orders AND a.attname = r.column_name
                              AND a.attnum > 0 AND NOT a.attisdropped) THEN
                v_missing := v_missing || CASE WHEN r.column_name::text = r.field
                    THEN format('column shop_orders.%I', r.column_name)
                    ELSE format('column shop_orders.%I (mapped from %s)', r.column_name, r.field) END;
            END IF;
        END LOOP;
    END IF;
    IF cardinality(v_missing) > 0 THEN
        RAISE EXCEPTION 'customer_tracking: the host schema is missing %', array_to_string(v_missing, ', ')
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create the app''s tables first (see host-schema.sql), or map differently named '
                         'shop_orders columns with SET customer_tracking.column_map = ''field=column, ...'' '
                         'before CREATE EXTENSION (a field mapped to '''' is treated as absent when optional).';
    END IF;
    -- 1.4: columns that exist but cannot be read (types: ct_field_type_problem, src/host_cache.cpp).
    SELECT array_agg(h.detail ORDER BY h.field) INTO v_missing
      FROM customer_tracking_host_state() h
     WHERE h.state IN ('drift', 'ignored') AND h.column_type IS NOT NULL;
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'customer_tracking: shop_orders cannot be read: %', array_to_string(v_missing, '; ')
            USING ERRCODE = 'datatype_mismatch',
                  HINT = 'Change the column''s type, or map the field to another column.';
    END IF;
END
$$;

--------------------------------------------------------------------------------
-- Owner identity and row-level security
--------------------------------------------------------------------------------
-- The current owner: Supabase's auth.uid() where the auth schema has it,
-- else the sub claim PostgREST puts in request.jwt.claims (or the older
-- request.jwt.claim.sub).
-- Which source applies is decided once, at CREATE EXTENSION: an auth schema
-- created later by someone else is never called.
-- It runs with the caller's rights, never the extension owner's: auth.uid()
-- belongs to another role (Supabase's auth admin), which may replace it, and
-- customer_tracking_owned_shops() calls this before it reads user_shops as
-- the owner. A superuser caller runs auth.uid() only while a superuser owns it.
DO $owner$
BEGIN
    IF to_regprocedure('auth.uid()') IS NOT NULL
       AND (SELECT r.rolsuper OR r.rolname LIKE 'supabase%'
              FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_roles r ON r.oid = p.proowner
             WHERE p.oid = to_regprocedure('auth.uid()')) THEN
        CREATE FUNCTION customer_tracking_current_owner()
        RETURNS uuid
        LANGUAGE plpgsql STABLE
        SET search_path = pg_catalog, pg_temp
        AS $body$
        BEGIN
            IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER) THEN
                IF NOT coalesce((SELECT o.rolsuper FROM pg_catalog.pg_proc p
                                   JOIN pg_catalog.pg_roles o ON o.oid = p.proowner
                                  WHERE p.oid = pg_catalog.to_regprocedure('auth.uid()')), false) THEN
                    RETURN NULL;   -- not another role's code as superuser
                END IF;
            END IF;
            RETURN auth.uid();
        EXCEPTION WHEN invalid_text_representation THEN
            RETURN NULL;   -- auth.uid() casts the claim: a malformed one means nobody, not an error
        END
        $body$;
    ELSE
        CREATE FUNCTION customer_tracking_current_owner()
        RETURNS uuid
        LANGUAGE plpgsql STABLE
        SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE
            v_claims text := pg_catalog.current_setting('request.jwt.claims', true);
            v_sub text;
        BEGIN
            IF v_claims ~ '^\s*\{' THEN
                v_sub := v_claims::jsonb ->> 'sub';
            END IF;
            v_sub := coalesce(v_sub, nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''));
            IF v_sub ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
                RETURN v_sub::uuid;
            END IF;
            RETURN NULL;
        END
        $$;
    END IF;
END
$owner$;

-- Shops the current owner may see; every policy calls it, as an expression
-- (Citus refuses subqueries in the policies of distributed tables), and it
-- looks the owner up once per statement and call site (its result is kept for
-- the rest of the statement). In C (src/owner.cpp):
-- customer_tracking_current_owner() runs with the caller's rights, then
-- user_shops is read with the rights of this function's owner (so policies
-- work whatever the caller may read of user_shops), with a plan kept for the
-- session. Not SECURITY DEFINER: that would run the owner lookup (auth.uid())
-- with the extension owner's rights. No SET clause: its statement names
-- everything with its schema, and a SET clause would cost a configuration
-- change at each of its calls.
CREATE FUNCTION customer_tracking_owned_shops()
RETURNS uuid[]
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'ct_owned_shops';
COMMENT ON FUNCTION customer_tracking_owned_shops() IS
    'Shops of the current owner (customer_tracking_current_owner(), with the caller''s rights), '
    'as the row-level security policies see them.';

ALTER TABLE shop_customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_issues ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_slug_customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_shop_totals ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_slug_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_network_totals ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_frequency ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON shop_customers, customer_tracking, customer_tracking_issues,
              customer_tracking_settings, customer_tracking_slug_customers,
              customer_tracking_shop_totals, customer_tracking_daily, customer_tracking_slug_daily,
              customer_tracking_network_totals, customer_tracking_frequency FROM PUBLIC;
-- Readers: where Supabase's roles exist, authenticated owners and service_role
-- (anon places orders but reads no customer data); elsewhere every role, with
-- row-level security deciding which rows. Nobody but the owner writes them.
DO $grants$
DECLARE
    r record;
    v_readers text := CASE
        WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated')
         AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role')
        THEN 'authenticated, service_role' ELSE 'PUBLIC' END;
BEGIN
    -- Default privileges (Supabase grants ALL on new objects in public to its roles) must not
    -- reach the extension's tables: revoke whatever any role but the owner got.
    FOR r IN
        SELECT DISTINCT c.oid::regclass AS rel, a.grantee::regrole AS grantee
          FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) a
         WHERE c.relnamespace = '@extschema@'::regnamespace AND a.grantee <> 0 AND a.grantee <> c.relowner
           AND c.relname IN ('shop_customers', 'customer_tracking', 'customer_tracking_issues',
                             'customer_tracking_untracked', 'customer_tracking_settings',
                             'customer_tracking_slug_customers', 'customer_tracking_shop_totals',
                             'customer_tracking_daily', 'customer_tracking_slug_daily',
                             'customer_tracking_network_totals', 'customer_tracking_frequency')
    LOOP
        EXECUTE format('REVOKE ALL ON %s FROM %s', r.rel, r.grantee);
    END LOOP;
    EXECUTE 'GRANT SELECT ON @extschema@.shop_customers, @extschema@.customer_tracking, '
         || '@extschema@.customer_tracking_issues, @extschema@.customer_tracking_untracked, '
         || '@extschema@.customer_tracking_slug_customers, @extschema@.customer_tracking_shop_totals, '
         || '@extschema@.customer_tracking_daily, @extschema@.customer_tracking_slug_daily, '
         || '@extschema@.customer_tracking_network_totals, @extschema@.customer_tracking_frequency TO ' || v_readers;
END
$grants$;
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

--------------------------------------------------------------------------------
-- Attaching to the host tables
--------------------------------------------------------------------------------
-- Adds shop_orders.shop_customer_id (with its foreign key and index) and the
-- triggers. Idempotent. Everything it creates belongs
-- to the host table or is dumped by pg_dump, so a restore brings it back.
CREATE FUNCTION customer_tracking_attach()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_orders regclass;
BEGIN
    PERFORM customer_tracking_check_host();
    v_orders := '@extschema@.shop_orders'::regclass;

    ALTER TABLE @extschema@.shop_orders ADD COLUMN IF NOT EXISTS shop_customer_id uuid;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = v_orders AND tgname = 'customer_tracking_track') THEN
        -- Links left behind by an earlier installation (DROP EXTENSION ... CASCADE keeps the
        -- column) point at customers that no longer exist: clear them; backfill relinks.
        -- Without customers (CREATE EXTENSION) every link is such a link: no join, which Citus
        -- could not run between a distributed shop_orders and a still local shop_customers.
        IF NOT EXISTS (SELECT 1 FROM @extschema@.shop_customers) THEN
            UPDATE @extschema@.shop_orders o SET shop_customer_id = NULL
             WHERE o.shop_customer_id IS NOT NULL;
        ELSE
            UPDATE @extschema@.shop_orders o SET shop_customer_id = NULL
             WHERE o.shop_customer_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM @extschema@.shop_customers c WHERE c.id = o.shop_customer_id);
        END IF;
    END IF;
    -- No foreign key to shop_customers: the customer's row is written when the order's
    -- transaction commits, so that two first orders of one customer never wait on each other.
    -- (Versions before 1.4 had one; customer_tracking_verify() checks every link.)
    ALTER TABLE @extschema@.shop_orders DROP CONSTRAINT IF EXISTS shop_orders_shop_customer_id_fkey;
    CREATE INDEX IF NOT EXISTS idx_shop_orders_customer_id
        ON @extschema@.shop_orders (shop_customer_id);

    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = v_orders AND tgname = 'customer_tracking_link') THEN
        CREATE TRIGGER customer_tracking_link
            BEFORE INSERT OR UPDATE ON @extschema@.shop_orders
            FOR EACH ROW EXECUTE FUNCTION @extschema@.customer_tracking_link_order();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = v_orders AND tgname = 'customer_tracking_track') THEN
        CREATE TRIGGER customer_tracking_track
            AFTER INSERT OR UPDATE OR DELETE ON @extschema@.shop_orders
            FOR EACH ROW EXECUTE FUNCTION @extschema@.customer_tracking_track_order();
    END IF;
    -- Rollups are written at commit with the rest (versions before 1.4 had a statement trigger).
    DROP TRIGGER IF EXISTS customer_tracking_flush ON @extschema@.shop_orders;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = v_orders AND tgname = 'customer_tracking_truncate') THEN
        CREATE TRIGGER customer_tracking_truncate
            AFTER TRUNCATE ON @extschema@.shop_orders
            FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.customer_tracking_truncate_orders();
    END IF;

END
$$;
COMMENT ON FUNCTION customer_tracking_attach() IS
    'Attaches customer_tracking to the host tables (column, index, triggers). '
    'Run by CREATE EXTENSION; idempotent.';

--------------------------------------------------------------------------------
-- Configuration after install
--------------------------------------------------------------------------------
CREATE FUNCTION customer_tracking_invalidate()
RETURNS void
AS 'MODULE_PATHNAME', 'ct_invalidate'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION customer_tracking_invalidate() IS
    'Makes every session re-read customer_tracking_settings (done by the setters).';

-- Maps a field to a differently named shop_orders column ('' = the host has no such column).
CREATE FUNCTION customer_tracking_map_column(p_field text, p_column name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM customer_tracking_fields() f WHERE f.field = p_field) THEN
        RAISE EXCEPTION 'customer_tracking: unknown field "%"', p_field
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Fields: ' || (SELECT string_agg(field, ', ') FROM customer_tracking_fields());
    END IF;
    INSERT INTO customer_tracking_settings (setting, value)
    VALUES ('column:' || p_field, coalesce(p_column, ''))
    ON CONFLICT (setting) DO UPDATE SET value = EXCLUDED.value;
    IF to_regclass('@extschema@.shop_orders') IS NOT NULL THEN
        PERFORM customer_tracking_check_host();
    END IF;
    PERFORM customer_tracking_invalidate();
    IF coalesce(p_column, '') = '' THEN
        RAISE NOTICE 'customer_tracking: % is no longer read from shop_orders; run customer_tracking_backfill() to re-derive existing orders',
            p_field;
    ELSE
        RAISE NOTICE 'customer_tracking: % now reads shop_orders.%; run customer_tracking_backfill() to re-derive existing orders',
            p_field, quote_ident(p_column);
    END IF;
END
$$;

-- Sets the paid (and known unpaid) status lists, comma-separated, case-insensitive.
CREATE FUNCTION customer_tracking_set_statuses(p_paid text, p_unpaid text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    IF coalesce(cardinality(customer_tracking_status_list(p_paid)), 0) = 0 THEN
        RAISE EXCEPTION 'customer_tracking: at least one paid status is needed'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO customer_tracking_settings VALUES ('paid_statuses', p_paid)
    ON CONFLICT (setting) DO UPDATE SET value = EXCLUDED.value;
    IF p_unpaid IS NOT NULL THEN
        INSERT INTO customer_tracking_settings VALUES ('unpaid_statuses', p_unpaid)
        ON CONFLICT (setting) DO UPDATE SET value = EXCLUDED.value;
    END IF;
    PERFORM customer_tracking_invalidate();
    RAISE NOTICE 'customer_tracking: status lists changed; run customer_tracking_backfill() to re-derive existing orders';
END
$$;

-- The zone naive (timestamp / date) creation times are read in, whatever a session's TimeZone.
CREATE FUNCTION customer_tracking_set_naive_time_zone(p_zone text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    IF p_zone IS NULL OR NOT customer_tracking_valid_time_zone(p_zone) THEN
        RAISE EXCEPTION 'customer_tracking: "%" is not a time zone name', p_zone
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a name from pg_timezone_names, e.g. UTC or Africa/Accra.';
    END IF;
    INSERT INTO customer_tracking_settings VALUES ('naive_time_zone', p_zone)
    ON CONFLICT (setting) DO UPDATE SET value = EXCLUDED.value;
    PERFORM customer_tracking_invalidate();
    RAISE NOTICE 'customer_tracking: naive creation times are now read in %; run customer_tracking_backfill() to re-derive existing orders',
        p_zone;
END
$$;

--------------------------------------------------------------------------------
-- Recomputation, verification and backfill
--------------------------------------------------------------------------------
-- Recomputes one customer from its ledger under the customer's row lock.
CREATE FUNCTION customer_tracking_recompute(p_shop_id uuid, p_customer_id uuid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'ct_recompute_customer'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION customer_tracking_recompute(uuid, uuid) IS
    'Recomputes a customer''s stats from customer_tracking (as the trigger does); false if no such customer.';

--------------------------------------------------------------------------------
-- Backfill and verify of a store with history (1.4, issue 12): src/backfill.cpp.
-- Set-based, in chunks of whole shops; progress in customer_tracking_progress.
--------------------------------------------------------------------------------
-- The orders of shops (NULL: every shop) as the trigger reads them (its decoder, each distinct
-- raw phone parsed once), with what a backfill writes: the ledger fields, e-mail, name, issues.
CREATE FUNCTION customer_tracking_backfill_decode(
    p_shops uuid[], OUT tid tid, OUT shop_order_id uuid, OUT shop_id uuid, OUT stored_customer_id uuid,
    OUT expected_customer_id uuid, OUT phone text, OUT purchase boolean, OUT amount numeric,
    OUT purchased_at timestamptz, OUT network text, OUT slug text, OUT referrer text,
    OUT utm_source text, OUT utm_medium text, OUT utm_campaign text, OUT email text,
    OUT customer_name text, OUT issues text[], OUT issue_details text[], OUT issue_untracked boolean[])
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'ct_backfill_decode'
LANGUAGE C STABLE ROWS 100000;

-- The order step of a backfill for a group of shops: links, ledger rows and issues of every
-- order that differs from the decoder, in one statement (the orders it writes stay locked).
CREATE FUNCTION customer_tracking_backfill_orders(p_shops uuid[])
RETURNS TABLE (shop_id uuid, orders bigint, retracked bigint, linked bigint, untracked bigint)
AS 'MODULE_PATHNAME', 'ct_backfill_orders'
LANGUAGE C VOLATILE
SET jit = off;

-- Locks shops until the transaction ends, as the backfill's customer step needs: the commit of
-- an order of one of them waits until then.
CREATE FUNCTION customer_tracking_lock_shops(p_shops uuid[])
RETURNS void
AS 'MODULE_PATHNAME', 'ct_lock_shops_sql'
LANGUAGE C VOLATILE;

-- Progress of the running backfill or verify, in this backend's progress slots.
CREATE FUNCTION customer_tracking_progress_begin(p_command text, p_shops_total bigint,
                                                 p_orders_total bigint, p_chunks_total bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'ct_progress_begin'
LANGUAGE C VOLATILE;
CREATE FUNCTION customer_tracking_progress_set(p_phase text, p_shops_done bigint DEFAULT NULL,
                                               p_orders_done bigint DEFAULT NULL,
                                               p_chunks_done bigint DEFAULT NULL,
                                               p_shops_total bigint DEFAULT NULL,
                                               p_orders_total bigint DEFAULT NULL,
                                               p_chunks_total bigint DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'ct_progress_set'
LANGUAGE C VOLATILE;
CREATE FUNCTION customer_tracking_progress_end()
RETURNS void
AS 'MODULE_PATHNAME', 'ct_progress_end'
LANGUAGE C VOLATILE;
CREATE FUNCTION customer_tracking_progress_info(
    OUT pid integer, OUT datid oid, OUT relid oid, OUT command text, OUT phase text,
    OUT shops_total bigint, OUT shops_done bigint, OUT orders_total bigint, OUT orders_done bigint,
    OUT chunks_total bigint, OUT chunks_done bigint, OUT started_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'ct_progress_info'
LANGUAGE C VOLATILE;

-- In the style of pg_stat_progress_*: one row per backend running a backfill or verify (values
-- NULL for backends of roles the caller may not see, as there).
CREATE VIEW customer_tracking_progress AS
    SELECT p.pid, p.datid, d.datname, p.relid, p.command, p.phase, p.shops_total, p.shops_done,
           p.orders_total, p.orders_done, p.chunks_total, p.chunks_done, p.started_at
      FROM customer_tracking_progress_info() p
      LEFT JOIN pg_catalog.pg_database d ON d.oid = p.datid;
COMMENT ON VIEW customer_tracking_progress IS
    'Running customer_tracking_backfill(), customer_tracking_backfill_all() and '
    'customer_tracking_verify() calls: phase, shops and orders done of the totals, chunks.';

-- Where customer_tracking_backfill_all() is: a resumed run goes on after last_shop_id.
CREATE TABLE customer_tracking_backfill_state (
    id                 boolean PRIMARY KEY DEFAULT true CHECK (id),
    started_at         timestamptz NOT NULL,
    finished_at        timestamptz,
    chunk_orders       integer NOT NULL,
    last_shop_id       uuid,
    chunks_done        bigint NOT NULL DEFAULT 0,
    shops_done         bigint NOT NULL DEFAULT 0,
    orders_done        bigint NOT NULL DEFAULT 0,
    orders_retracked   bigint NOT NULL DEFAULT 0,
    customers_repaired bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE customer_tracking_backfill_state IS
    'The last run of customer_tracking_backfill_all(): committed with each chunk, so that a run '
    'cancelled or failed goes on after last_shop_id when called again.';
-- Maintenance only: no role but the owner reads or writes either (default privileges included).
REVOKE ALL ON customer_tracking_backfill_state, customer_tracking_progress FROM PUBLIC;
DO $revoke$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT DISTINCT c.oid::regclass AS rel, a.grantee::regrole AS grantee
          FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) a
         WHERE c.relnamespace = '@extschema@'::regnamespace AND a.grantee <> 0 AND a.grantee <> c.relowner
           AND c.relname IN ('customer_tracking_backfill_state', 'customer_tracking_progress')
    LOOP
        EXECUTE format('REVOKE ALL ON %s FROM %s', r.rel, r.grantee);
    END LOOP;
END
$revoke$;

-- Every shop the extension's tables hold rows of (index lookups: one per shop and table).
CREATE FUNCTION customer_tracking_tracked_shops()
RETURNS SETOF uuid
LANGUAGE sql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    WITH RECURSIVE
    c(id) AS (SELECT (SELECT x.shop_id FROM @extschema@.shop_customers x ORDER BY x.shop_id LIMIT 1)
              UNION ALL
              SELECT (SELECT x.shop_id FROM @extschema@.shop_customers x WHERE x.shop_id > c.id ORDER BY x.shop_id LIMIT 1)
                FROM c WHERE c.id IS NOT NULL),
    t(id) AS (SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking x ORDER BY x.shop_id LIMIT 1)
              UNION ALL
              SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking x WHERE x.shop_id > t.id ORDER BY x.shop_id LIMIT 1)
                FROM t WHERE t.id IS NOT NULL),
    p(id) AS (SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_slug_customers x ORDER BY x.shop_id LIMIT 1)
              UNION ALL
              SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_slug_customers x WHERE x.shop_id > p.id ORDER BY x.shop_id LIMIT 1)
                FROM p WHERE p.id IS NOT NULL),
    s(id) AS (SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_shop_totals x ORDER BY x.shop_id LIMIT 1)
              UNION ALL
              SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_shop_totals x WHERE x.shop_id > s.id ORDER BY x.shop_id LIMIT 1)
                FROM s WHERE s.id IS NOT NULL),
    d(id) AS (SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_daily x ORDER BY x.shop_id LIMIT 1)
              UNION ALL
              SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_daily x WHERE x.shop_id > d.id ORDER BY x.shop_id LIMIT 1)
                FROM d WHERE d.id IS NOT NULL),
    l(id) AS (SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_slug_daily x ORDER BY x.shop_id LIMIT 1)
              UNION ALL
              SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_slug_daily x WHERE x.shop_id > l.id ORDER BY x.shop_id LIMIT 1)
                FROM l WHERE l.id IS NOT NULL),
    n(id) AS (SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_network_totals x ORDER BY x.shop_id LIMIT 1)
              UNION ALL
              SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_network_totals x WHERE x.shop_id > n.id ORDER BY x.shop_id LIMIT 1)
                FROM n WHERE n.id IS NOT NULL),
    f(id) AS (SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_frequency x ORDER BY x.shop_id LIMIT 1)
              UNION ALL
              SELECT (SELECT x.shop_id FROM @extschema@.customer_tracking_frequency x WHERE x.shop_id > f.id ORDER BY x.shop_id LIMIT 1)
                FROM f WHERE f.id IS NOT NULL)
    SELECT id FROM c WHERE id IS NOT NULL UNION SELECT id FROM t WHERE id IS NOT NULL
    UNION SELECT id FROM p WHERE id IS NOT NULL UNION SELECT id FROM s WHERE id IS NOT NULL
    UNION SELECT id FROM d WHERE id IS NOT NULL UNION SELECT id FROM l WHERE id IS NOT NULL
    UNION SELECT id FROM n WHERE id IS NOT NULL UNION SELECT id FROM f WHERE id IS NOT NULL
$$;

-- The shops to backfill or verify (those with orders or tracked rows; p_shop_id: that one; p_after:
-- those after it), in id order, in chunks of about p_chunk_orders orders (a bigger shop is a chunk
-- of its own; at most ~10,000 shops per chunk). Each row carries the totals.
CREATE FUNCTION customer_tracking_backfill_chunks(p_shop_id uuid, p_after uuid, p_chunk_orders bigint)
RETURNS TABLE (chunk bigint, shops uuid[], orders bigint, chunks_total bigint, shops_total bigint,
               orders_total bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
SET jit = off
AS $$
DECLARE
    v_shop name := (SELECT h.column_name FROM customer_tracking_host_state() h
                     WHERE h.field = 'shop_id' AND h.state = 'ok');
BEGIN
    IF v_shop IS NULL THEN
        RAISE EXCEPTION 'customer_tracking: the shop column of shop_orders cannot be read'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'SELECT * FROM customer_tracking_host_state();';
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH per_shop AS (
            SELECT x.id, sum(x.n)::bigint AS n
              FROM (SELECT o.%1$I AS id, count(*) AS n FROM @extschema@.shop_orders o
                     WHERE o.%1$I IS NOT NULL AND ($1 IS NULL OR o.%1$I = $1) AND ($2 IS NULL OR o.%1$I > $2)
                     GROUP BY 1
                    %2$s) x
             GROUP BY x.id
        ), numbered AS (
            SELECT p.id, p.n,
                   greatest(((sum(p.n) OVER (ORDER BY p.id))::bigint - p.n) / greatest($3, 1),
                            (row_number() OVER (ORDER BY p.id) - 1) / 10000) AS g
              FROM per_shop p
        ), chunks AS (
            SELECT g, array_agg(id ORDER BY id) AS shops, sum(n)::bigint AS orders, count(*) AS nshops
              FROM numbered GROUP BY g
        )
        SELECT row_number() OVER (ORDER BY g), c.shops, c.orders, count(*) OVER (),
               (sum(c.nshops) OVER ())::bigint, (sum(c.orders) OVER ())::bigint
          FROM chunks c ORDER BY g $q$, v_shop,
        -- Shops with tracked rows but no order left (on one node; on Citus, shops with orders).
        CASE WHEN customer_tracking_orders_distributed() THEN ''
             ELSE 'UNION ALL SELECT s.id, 0 FROM @extschema@.customer_tracking_tracked_shops() s(id)
                    WHERE ($1 IS NULL OR s.id = $1) AND ($2 IS NULL OR s.id > $2)' END)
    USING p_shop_id, p_after, p_chunk_orders;
END
$$;

-- The customer step of a backfill for a group of shops, which the caller has locked
-- (customer_tracking_lock_shops(), after the order step): ledger rows whose order is gone are
-- removed; customers, per-slug purchases and rollups are recomputed from the ledger in one
-- statement and only differences written. Returns the customers repaired (changed, though no
-- order of theirs was rewritten by the order step).
CREATE FUNCTION customer_tracking_backfill_customers(p_shops uuid[])
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
SET jit = off
AS $$
DECLARE
    v_id name := (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'id');
    v_shop name := (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'shop_id');
    v_repaired bigint;
BEGIN
    EXECUTE format($q$
        DELETE FROM @extschema@.customer_tracking t USING pg_temp.customer_tracking_backfill_orphans x
         WHERE x.shop_id = ANY ($1) AND t.id = x.id AND t.shop_id = x.shop_id
           AND NOT EXISTS (SELECT 1 FROM @extschema@.shop_orders o WHERE o.%1$I = t.id AND o.%2$I = t.shop_id)$q$,
        v_id, v_shop)
    USING p_shops;

    WITH l AS MATERIALIZED (
        SELECT t.shop_id, t.shop_customer_id AS cid, t.id, t.accessed_at AS at, t.purchase_completed AS p,
               t.purchase_amount AS amount, t.network::text AS network, t.accessed_via_slug::text AS slug,
               coalesce(t.accessed_via_slug::text, '') AS slug_key, (t.accessed_at AT TIME ZONE 'UTC')::date AS day
          FROM @extschema@.customer_tracking t WHERE t.shop_id = ANY (p_shops)
    ), firsts AS (
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
    ), cmp AS MATERIALIZED (
        SELECT coalesce(a.shop_id, c.shop_id) AS shop_id, coalesce(a.cid, c.id) AS cid, a.orders, a.purchases,
               a.spent, a.first_at, a.last_at, a.first_id, a.first_slug, a.networks, a.preferred,
               CASE WHEN a.cid IS NULL THEN 'delete'
                    WHEN c.id IS NULL THEN 'insert'
                    WHEN (c.total_orders, c.total_purchases, c.first_purchase_at, c.last_purchase_at,
                          c.first_order_id, c.first_source_slug::text, c.preferred_network::text)
                         IS DISTINCT FROM (a.orders, a.purchases, a.first_at, a.last_at, a.first_id,
                                           a.first_slug, a.preferred)
                      OR c.total_spent <> a.spent OR c.network_purchases <> a.networks THEN 'update'
               END AS action
          FROM agg a
          FULL JOIN (SELECT c.* FROM @extschema@.shop_customers c WHERE c.shop_id = ANY (p_shops)) c
            ON c.id = a.cid AND c.shop_id = a.shop_id
    ), w_insert AS (
        INSERT INTO @extschema@.shop_customers AS c
            (id, shop_id, phone_number, email, customer_name, total_orders, total_purchases, total_spent,
             first_purchase_at, last_purchase_at, first_order_id, first_source_slug, network_purchases,
             preferred_network)
        SELECT m.cid, m.shop_id, x.phone, x.email, x.customer_name, m.orders, m.purchases, m.spent,
               m.first_at, m.last_at, m.first_id, m.first_slug, m.networks, m.preferred
          FROM cmp m
          JOIN pg_temp.customer_tracking_backfill_customers x ON x.id = m.cid AND x.shop_id = m.shop_id
         WHERE m.action = 'insert' AND x.phone IS NOT NULL
    ), w_update AS (
        UPDATE @extschema@.shop_customers c
           SET total_orders = m.orders, total_purchases = m.purchases, total_spent = m.spent,
               first_purchase_at = m.first_at, last_purchase_at = m.last_at, first_order_id = m.first_id,
               first_source_slug = m.first_slug, network_purchases = m.networks,
               preferred_network = m.preferred, updated_at = now()
          FROM cmp m
         WHERE m.action = 'update' AND c.id = m.cid AND c.shop_id = m.shop_id
    ), w_delete AS (
        DELETE FROM @extschema@.shop_customers c USING cmp m
         WHERE m.action = 'delete' AND c.id = m.cid AND c.shop_id = m.shop_id
    ), pe AS (
        SELECT l.shop_id, l.slug_key AS slug, l.cid, count(*)::int AS purchases, min(l.at) AS first_at
          FROM l WHERE l.p GROUP BY 1, 2, 3
    ), pcmp AS MATERIALIZED (
        SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, coalesce(e.slug, s.slug) AS slug,
               coalesce(e.cid, s.shop_customer_id) AS cid, e.purchases, e.first_at,
               CASE WHEN e.cid IS NULL THEN 'delete'
                    WHEN s.shop_customer_id IS NULL THEN 'insert'
                    WHEN (s.purchases, s.first_purchase_at) IS DISTINCT FROM (e.purchases, e.first_at) THEN 'update'
               END AS action
          FROM pe e
          FULL JOIN (SELECT s.* FROM @extschema@.customer_tracking_slug_customers s WHERE s.shop_id = ANY (p_shops)) s
            ON s.shop_id = e.shop_id AND s.slug = e.slug AND s.shop_customer_id = e.cid
    ), w_pairs AS (
        INSERT INTO @extschema@.customer_tracking_slug_customers
            (shop_id, slug, shop_customer_id, purchases, first_purchase_at)
        SELECT m.shop_id, m.slug, m.cid, m.purchases, m.first_at FROM pcmp m WHERE m.action = 'insert'
    ), w_repairs AS (
        UPDATE @extschema@.customer_tracking_slug_customers s
           SET purchases = m.purchases, first_purchase_at = m.first_at
          FROM pcmp m
         WHERE m.action = 'update' AND s.shop_id = m.shop_id AND s.slug = m.slug AND s.shop_customer_id = m.cid
    ), w_unpairs AS (
        DELETE FROM @extschema@.customer_tracking_slug_customers s USING pcmp m
         WHERE m.action = 'delete' AND s.shop_id = m.shop_id AND s.slug = m.slug AND s.shop_customer_id = m.cid
    ), rc AS (
        SELECT a.* FROM agg a WHERE a.purchases > 0
    ), e_totals AS (
        SELECT k.shop_id, sum(k.customers) AS customers, sum(k.repeat_customers) AS repeat_customers,
               sum(k.purchases) AS purchases, sum(k.revenue) AS revenue, sum(k.checkouts) AS checkouts
          FROM (SELECT l.shop_id, 0 AS customers, 0 AS repeat_customers, count(*) FILTER (WHERE l.p) AS purchases,
                       coalesce(sum(l.amount) FILTER (WHERE l.p), 0) AS revenue, count(*) AS checkouts
                  FROM l GROUP BY 1
                UNION ALL
                SELECT rc.shop_id, count(*), count(*) FILTER (WHERE rc.purchases >= 2), 0, 0, 0
                  FROM rc GROUP BY 1) k
         GROUP BY 1
    ), s_totals AS (
        SELECT r.shop_id, sum(r.customers) AS customers, sum(r.repeat_customers) AS repeat_customers,
               sum(r.purchases) AS purchases, sum(r.revenue) AS revenue, sum(r.checkouts) AS checkouts
          FROM @extschema@.customer_tracking_shop_totals r WHERE r.shop_id = ANY (p_shops) GROUP BY 1
    ), w_totals AS (
        INSERT INTO @extschema@.customer_tracking_shop_totals AS r
            (shop_id, stripe, customers, repeat_customers, purchases, revenue, checkouts)
        SELECT coalesce(e.shop_id, s.shop_id), 0,
               coalesce(e.customers, 0) - coalesce(s.customers, 0),
               coalesce(e.repeat_customers, 0) - coalesce(s.repeat_customers, 0),
               coalesce(e.purchases, 0) - coalesce(s.purchases, 0),
               coalesce(e.revenue, 0) - coalesce(s.revenue, 0),
               coalesce(e.checkouts, 0) - coalesce(s.checkouts, 0)
          FROM e_totals e FULL JOIN s_totals s ON s.shop_id = e.shop_id
         WHERE (coalesce(e.customers, 0), coalesce(e.repeat_customers, 0), coalesce(e.purchases, 0),
                coalesce(e.revenue, 0), coalesce(e.checkouts, 0))
               IS DISTINCT FROM (coalesce(s.customers, 0), coalesce(s.repeat_customers, 0),
                                 coalesce(s.purchases, 0), coalesce(s.revenue, 0), coalesce(s.checkouts, 0))
        ON CONFLICT (shop_id, stripe) DO UPDATE SET customers = r.customers + EXCLUDED.customers,
            repeat_customers = r.repeat_customers + EXCLUDED.repeat_customers,
            purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue,
            checkouts = r.checkouts + EXCLUDED.checkouts
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
    ), s_daily AS (
        SELECT r.shop_id, r.day, sum(r.checkouts) AS checkouts, sum(r.purchases) AS purchases,
               sum(r.revenue) AS revenue, sum(r.new_customers) AS new_customers,
               sum(r.last_purchasers) AS last_purchasers
          FROM @extschema@.customer_tracking_daily r WHERE r.shop_id = ANY (p_shops) GROUP BY 1, 2
    ), d_daily AS MATERIALIZED (
        SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, coalesce(e.day, s.day) AS day,
               coalesce(e.checkouts, 0) - coalesce(s.checkouts, 0) AS checkouts,
               coalesce(e.purchases, 0) - coalesce(s.purchases, 0) AS purchases,
               coalesce(e.revenue, 0) - coalesce(s.revenue, 0) AS revenue,
               coalesce(e.new_customers, 0) - coalesce(s.new_customers, 0) AS new_customers,
               coalesce(e.last_purchasers, 0) - coalesce(s.last_purchasers, 0) AS last_purchasers,
               s.shop_id IS NULL AS fresh
          FROM e_daily e FULL JOIN s_daily s ON s.shop_id = e.shop_id AND s.day = e.day
         WHERE (coalesce(e.checkouts, 0), coalesce(e.purchases, 0), coalesce(e.revenue, 0),
                coalesce(e.new_customers, 0), coalesce(e.last_purchasers, 0))
               IS DISTINCT FROM (coalesce(s.checkouts, 0), coalesce(s.purchases, 0), coalesce(s.revenue, 0),
                                 coalesce(s.new_customers, 0), coalesce(s.last_purchasers, 0))
    ), w_daily_new AS (
        -- A day without a row (in any stripe): nobody else writes these shops now.
        INSERT INTO @extschema@.customer_tracking_daily
            (shop_id, day, stripe, checkouts, purchases, revenue, new_customers, last_purchasers)
        SELECT d.shop_id, d.day, 0, d.checkouts, d.purchases, d.revenue, d.new_customers, d.last_purchasers
          FROM d_daily d WHERE d.fresh
    ), w_daily AS (
        INSERT INTO @extschema@.customer_tracking_daily AS r
            (shop_id, day, stripe, checkouts, purchases, revenue, new_customers, last_purchasers)
        SELECT d.shop_id, d.day, 0, d.checkouts, d.purchases, d.revenue, d.new_customers, d.last_purchasers
          FROM d_daily d WHERE NOT d.fresh
        ON CONFLICT (shop_id, day, stripe) DO UPDATE SET checkouts = r.checkouts + EXCLUDED.checkouts,
            purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue,
            new_customers = r.new_customers + EXCLUDED.new_customers,
            last_purchasers = r.last_purchasers + EXCLUDED.last_purchasers
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
    ), s_slug_daily AS (
        SELECT r.shop_id, r.slug, r.day, sum(r.checkouts) AS checkouts, sum(r.purchases) AS purchases,
               sum(r.revenue) AS revenue, sum(r.new_customers) AS new_customers,
               sum(r.repeat_customers) AS repeat_customers, sum(r.customers) AS customers
          FROM @extschema@.customer_tracking_slug_daily r WHERE r.shop_id = ANY (p_shops) GROUP BY 1, 2, 3
    ), d_slug_daily AS MATERIALIZED (
        SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, coalesce(e.slug, s.slug) AS slug,
               coalesce(e.day, s.day) AS day,
               coalesce(e.checkouts, 0) - coalesce(s.checkouts, 0) AS checkouts,
               coalesce(e.purchases, 0) - coalesce(s.purchases, 0) AS purchases,
               coalesce(e.revenue, 0) - coalesce(s.revenue, 0) AS revenue,
               coalesce(e.new_customers, 0) - coalesce(s.new_customers, 0) AS new_customers,
               coalesce(e.repeat_customers, 0) - coalesce(s.repeat_customers, 0) AS repeat_customers,
               coalesce(e.customers, 0) - coalesce(s.customers, 0) AS customers,
               s.shop_id IS NULL AS fresh
          FROM e_slug_daily e
          FULL JOIN s_slug_daily s ON s.shop_id = e.shop_id AND s.slug = e.slug AND s.day = e.day
         WHERE (coalesce(e.checkouts, 0), coalesce(e.purchases, 0), coalesce(e.revenue, 0),
                coalesce(e.new_customers, 0), coalesce(e.repeat_customers, 0), coalesce(e.customers, 0))
               IS DISTINCT FROM (coalesce(s.checkouts, 0), coalesce(s.purchases, 0), coalesce(s.revenue, 0),
                                 coalesce(s.new_customers, 0), coalesce(s.repeat_customers, 0),
                                 coalesce(s.customers, 0))
    ), w_slug_daily_new AS (
        INSERT INTO @extschema@.customer_tracking_slug_daily
            (shop_id, slug, day, stripe, checkouts, purchases, revenue, new_customers, repeat_customers, customers)
        SELECT d.shop_id, d.slug, d.day, 0, d.checkouts, d.purchases, d.revenue, d.new_customers,
               d.repeat_customers, d.customers
          FROM d_slug_daily d WHERE d.fresh
    ), w_slug_daily AS (
        INSERT INTO @extschema@.customer_tracking_slug_daily AS r
            (shop_id, slug, day, stripe, checkouts, purchases, revenue, new_customers, repeat_customers, customers)
        SELECT d.shop_id, d.slug, d.day, 0, d.checkouts, d.purchases, d.revenue, d.new_customers,
               d.repeat_customers, d.customers
          FROM d_slug_daily d WHERE NOT d.fresh
        ON CONFLICT (shop_id, slug, day, stripe) DO UPDATE SET checkouts = r.checkouts + EXCLUDED.checkouts,
            purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue,
            new_customers = r.new_customers + EXCLUDED.new_customers,
            repeat_customers = r.repeat_customers + EXCLUDED.repeat_customers,
            customers = r.customers + EXCLUDED.customers
    ), e_networks AS (
        SELECT k.shop_id, k.network, sum(k.preferring) AS preferring, sum(k.purchases) AS purchases,
               sum(k.revenue) AS revenue
          FROM (SELECT l.shop_id, l.network, 0 AS preferring, count(*) AS purchases, sum(l.amount) AS revenue
                  FROM l WHERE l.p AND l.network IS NOT NULL GROUP BY 1, 2
                UNION ALL
                SELECT rc.shop_id, rc.preferred, count(*), 0, 0
                  FROM rc WHERE rc.preferred IS NOT NULL GROUP BY 1, 2) k
         GROUP BY 1, 2
    ), s_networks AS (
        SELECT r.shop_id, r.network, sum(r.customers_preferring) AS preferring, sum(r.purchases) AS purchases,
               sum(r.revenue) AS revenue
          FROM @extschema@.customer_tracking_network_totals r WHERE r.shop_id = ANY (p_shops) GROUP BY 1, 2
    ), w_networks AS (
        INSERT INTO @extschema@.customer_tracking_network_totals AS r
            (shop_id, network, stripe, customers_preferring, purchases, revenue)
        SELECT coalesce(e.shop_id, s.shop_id), coalesce(e.network, s.network), 0,
               coalesce(e.preferring, 0) - coalesce(s.preferring, 0),
               coalesce(e.purchases, 0) - coalesce(s.purchases, 0),
               coalesce(e.revenue, 0) - coalesce(s.revenue, 0)
          FROM e_networks e FULL JOIN s_networks s ON s.shop_id = e.shop_id AND s.network = e.network
         WHERE (coalesce(e.preferring, 0), coalesce(e.purchases, 0), coalesce(e.revenue, 0))
               IS DISTINCT FROM (coalesce(s.preferring, 0), coalesce(s.purchases, 0), coalesce(s.revenue, 0))
        ON CONFLICT (shop_id, network, stripe) DO UPDATE SET
            customers_preferring = r.customers_preferring + EXCLUDED.customers_preferring,
            purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue
    ), e_frequency AS (
        SELECT rc.shop_id, rc.purchases, count(*) AS customers FROM rc GROUP BY 1, 2
    ), s_frequency AS (
        SELECT r.shop_id, r.purchases, sum(r.customers) AS customers
          FROM @extschema@.customer_tracking_frequency r WHERE r.shop_id = ANY (p_shops) GROUP BY 1, 2
    ), w_frequency AS (
        INSERT INTO @extschema@.customer_tracking_frequency AS r (shop_id, purchases, stripe, customers)
        SELECT coalesce(e.shop_id, s.shop_id), coalesce(e.purchases, s.purchases), 0,
               coalesce(e.customers, 0) - coalesce(s.customers, 0)
          FROM e_frequency e FULL JOIN s_frequency s ON s.shop_id = e.shop_id AND s.purchases = e.purchases
         WHERE coalesce(e.customers, 0) <> coalesce(s.customers, 0)
        ON CONFLICT (shop_id, purchases, stripe) DO UPDATE SET customers = r.customers + EXCLUDED.customers
    ), repaired AS (
        SELECT r.shop_id, count(*) AS n
          FROM (SELECT m.shop_id, m.cid FROM cmp m WHERE m.action IS NOT NULL
                UNION SELECT m.shop_id, m.cid FROM pcmp m WHERE m.action IS NOT NULL) r
         WHERE NOT EXISTS (SELECT 1 FROM pg_temp.customer_tracking_backfill_customers x
                            WHERE x.id = r.cid AND x.shop_id = r.shop_id AND x.affected)
         GROUP BY 1
    ), w_repaired AS (
        UPDATE pg_temp.customer_tracking_backfill_shops b SET repaired = b.repaired + r.n
          FROM repaired r WHERE b.shop_id = r.shop_id
    )
    SELECT coalesce(sum(r.n), 0) INTO v_repaired FROM repaired r;

    DELETE FROM pg_temp.customer_tracking_backfill_customers x WHERE x.shop_id = ANY (p_shops);
    DELETE FROM pg_temp.customer_tracking_backfill_orphans x WHERE x.shop_id = ANY (p_shops);
    RETURN v_repaired;
END
$$;

-- Whether shop_orders is a Citus distributed table: then backfill and verify go shop by shop, on
-- the node holding each shop (customer_tracking_backfill_shop(), customer_tracking_problems());
-- else they are set-based, over chunks of shops.
CREATE FUNCTION customer_tracking_orders_distributed()
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_distributed boolean;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
        INTO v_distributed USING '@extschema@.shop_orders'::regclass;
    RETURN v_distributed;
END
$$;

-- Every stored value of shops (NULL: all) that differs from a recomputation from shop_orders:
-- links, tracking rows and customer stats (when p_customers), and rollup rows (sums over
-- stripes). One pass over the orders (decoded as the trigger reads them) serves all; stored
-- and expected rows are compared by their keys, and only differences are spelled out.
CREATE FUNCTION customer_tracking_problems_of(p_shops uuid[], p_customers boolean)
RETURNS TABLE (shop_id uuid, shop_customer_id uuid, shop_order_id uuid, problem text,
               stored text, expected text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
SET jit = off
AS $f$
BEGIN
    -- Planned with the shops known ($1), so that each table is read through its shop index.
    RETURN QUERY EXECUTE $q$
    WITH o AS MATERIALIZED (
        SELECT d.shop_order_id, d.shop_id, d.stored_customer_id, d.expected_customer_id AS cid,
               d.purchase AS p, d.amount, d.purchased_at AS at, d.network, d.slug,
               coalesce(d.slug, '') AS slug_key, (d.purchased_at AT TIME ZONE 'UTC')::date AS day
          FROM @extschema@.customer_tracking_backfill_decode($1) d
    ), l AS (
        SELECT o.* FROM o WHERE o.cid IS NOT NULL
    ), firsts AS (
        SELECT DISTINCT ON (l.shop_id, l.cid) l.shop_id, l.cid, l.shop_order_id AS first_id, l.slug AS first_slug
          FROM l WHERE l.p ORDER BY l.shop_id, l.cid, l.at, l.shop_order_id
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
    ), customers AS MATERIALIZED (
        SELECT coalesce(a.shop_id, c.shop_id) AS shop_id, coalesce(a.cid, c.id) AS cid,
               a.cid IS NULL AS stale, c.id IS NULL AS missing, a.orders, a.purchases, a.spent, a.first_at,
               a.last_at, a.first_id, a.first_slug, a.networks, a.preferred, c.total_orders,
               c.total_purchases, c.total_spent, c.first_purchase_at, c.last_purchase_at, c.first_order_id,
               c.first_source_slug::text AS first_source_slug, c.preferred_network::text AS preferred_network,
               c.network_purchases, c.repeat_customer
          FROM agg a
          FULL JOIN (SELECT c.* FROM @extschema@.shop_customers c WHERE $1 IS NULL OR c.shop_id = ANY ($1)) c
            ON c.id = a.cid AND c.shop_id = a.shop_id
         WHERE $2
    ), rc AS (
        SELECT a.* FROM agg a WHERE a.purchases > 0
    ), pe AS (
        SELECT l.shop_id, l.slug_key AS slug, l.cid, min(l.at) AS first_at FROM l WHERE l.p GROUP BY 1, 2, 3
    ), e_totals AS (
        SELECT k.shop_id, sum(k.customers) AS customers, sum(k.repeat_customers) AS repeat_customers,
               sum(k.purchases) AS purchases, sum(k.revenue) AS revenue, sum(k.checkouts) AS checkouts
          FROM (SELECT l.shop_id, 0 AS customers, 0 AS repeat_customers, count(*) FILTER (WHERE l.p) AS purchases,
                       coalesce(sum(l.amount) FILTER (WHERE l.p), 0) AS revenue, count(*) AS checkouts
                  FROM l GROUP BY 1
                UNION ALL
                SELECT rc.shop_id, count(*), count(*) FILTER (WHERE rc.purchases >= 2), 0, 0, 0 FROM rc GROUP BY 1) k
         GROUP BY 1
    ), s_totals AS (
        SELECT r.shop_id, sum(r.customers) AS customers, sum(r.repeat_customers) AS repeat_customers,
               sum(r.purchases) AS purchases, sum(r.revenue) AS revenue, sum(r.checkouts) AS checkouts
          FROM @extschema@.customer_tracking_shop_totals r WHERE $1 IS NULL OR r.shop_id = ANY ($1) GROUP BY 1
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
    ), s_daily AS (
        SELECT r.shop_id, r.day, sum(r.checkouts) AS checkouts, sum(r.purchases) AS purchases,
               sum(r.revenue) AS revenue, sum(r.new_customers) AS new_customers,
               sum(r.last_purchasers) AS last_purchasers
          FROM @extschema@.customer_tracking_daily r WHERE $1 IS NULL OR r.shop_id = ANY ($1) GROUP BY 1, 2
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
    ), s_slug_daily AS (
        SELECT r.shop_id, r.slug, r.day, sum(r.checkouts) AS checkouts, sum(r.purchases) AS purchases,
               sum(r.revenue) AS revenue, sum(r.new_customers) AS new_customers,
               sum(r.repeat_customers) AS repeat_customers, sum(r.customers) AS customers
          FROM @extschema@.customer_tracking_slug_daily r WHERE $1 IS NULL OR r.shop_id = ANY ($1) GROUP BY 1, 2, 3
    ), e_networks AS (
        SELECT k.shop_id, k.network, sum(k.preferring) AS preferring, sum(k.purchases) AS purchases,
               sum(k.revenue) AS revenue
          FROM (SELECT l.shop_id, l.network, 0 AS preferring, count(*) AS purchases, sum(l.amount) AS revenue
                  FROM l WHERE l.p AND l.network IS NOT NULL GROUP BY 1, 2
                UNION ALL
                SELECT rc.shop_id, rc.preferred, count(*), 0, 0 FROM rc WHERE rc.preferred IS NOT NULL GROUP BY 1, 2) k
         GROUP BY 1, 2
    ), s_networks AS (
        SELECT r.shop_id, r.network, sum(r.customers_preferring) AS preferring, sum(r.purchases) AS purchases,
               sum(r.revenue) AS revenue
          FROM @extschema@.customer_tracking_network_totals r WHERE $1 IS NULL OR r.shop_id = ANY ($1) GROUP BY 1, 2
    ), e_frequency AS (
        SELECT rc.shop_id, rc.purchases, count(*) AS customers FROM rc GROUP BY 1, 2
    ), s_frequency AS (
        SELECT r.shop_id, r.purchases, sum(r.customers) AS customers
          FROM @extschema@.customer_tracking_frequency r WHERE $1 IS NULL OR r.shop_id = ANY ($1) GROUP BY 1, 2
    ), rollups (shop_id, problem, stored, expected) AS (
        SELECT x.shop_id, 'rollup totals  ' || v.stat, coalesce(v.s, 0)::text, coalesce(v.e, 0)::text
          FROM (SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, e.customers AS e_customers,
                       e.repeat_customers AS e_repeat, e.purchases AS e_purchases, e.revenue AS e_revenue,
                       e.checkouts AS e_checkouts, s.customers AS s_customers, s.repeat_customers AS s_repeat,
                       s.purchases AS s_purchases, s.revenue AS s_revenue, s.checkouts AS s_checkouts
                  FROM e_totals e FULL JOIN s_totals s ON s.shop_id = e.shop_id) x
         CROSS JOIN LATERAL (VALUES ('checkouts', x.s_checkouts::numeric, x.e_checkouts::numeric),
                                    ('purchases', x.s_purchases, x.e_purchases), ('revenue', x.s_revenue, x.e_revenue),
                                    ('customers', x.s_customers, x.e_customers),
                                    ('repeat_customers', x.s_repeat, x.e_repeat)) v(stat, s, e)
         WHERE coalesce(v.s, 0) <> coalesce(v.e, 0)
        UNION ALL
        SELECT x.shop_id, 'rollup daily ' || to_char(x.day, 'YYYY-MM-DD') || ' ' || v.stat,
               coalesce(v.s, 0)::text, coalesce(v.e, 0)::text
          FROM (SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, coalesce(e.day, s.day) AS day,
                       e.checkouts AS e_checkouts, e.purchases AS e_purchases, e.revenue AS e_revenue,
                       e.new_customers AS e_new, e.last_purchasers AS e_last,
                       s.checkouts AS s_checkouts, s.purchases AS s_purchases, s.revenue AS s_revenue,
                       s.new_customers AS s_new, s.last_purchasers AS s_last
                  FROM e_daily e FULL JOIN s_daily s ON s.shop_id = e.shop_id AND s.day = e.day
                 WHERE (coalesce(e.checkouts, 0), coalesce(e.purchases, 0), coalesce(e.revenue, 0),
                        coalesce(e.new_customers, 0), coalesce(e.last_purchasers, 0))
                       IS DISTINCT FROM (coalesce(s.checkouts, 0), coalesce(s.purchases, 0), coalesce(s.revenue, 0),
                                         coalesce(s.new_customers, 0), coalesce(s.last_purchasers, 0))) x
         CROSS JOIN LATERAL (VALUES ('checkouts', x.s_checkouts::numeric, x.e_checkouts::numeric),
                                    ('purchases', x.s_purchases, x.e_purchases), ('revenue', x.s_revenue, x.e_revenue),
                                    ('new_customers', x.s_new, x.e_new),
                                    ('last_purchasers', x.s_last, x.e_last)) v(stat, s, e)
         WHERE coalesce(v.s, 0) <> coalesce(v.e, 0)
        UNION ALL
        SELECT x.shop_id, 'rollup slug_daily ' || x.slug || '|' || to_char(x.day, 'YYYY-MM-DD') || ' ' || v.stat,
               coalesce(v.s, 0)::text, coalesce(v.e, 0)::text
          FROM (SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, coalesce(e.slug, s.slug) AS slug,
                       coalesce(e.day, s.day) AS day, e.checkouts AS e_checkouts, e.purchases AS e_purchases,
                       e.revenue AS e_revenue, e.new_customers AS e_new, e.repeat_customers AS e_repeat,
                       e.customers AS e_customers, s.checkouts AS s_checkouts, s.purchases AS s_purchases,
                       s.revenue AS s_revenue, s.new_customers AS s_new, s.repeat_customers AS s_repeat,
                       s.customers AS s_customers
                  FROM e_slug_daily e
                  FULL JOIN s_slug_daily s ON s.shop_id = e.shop_id AND s.slug = e.slug AND s.day = e.day
                 WHERE (coalesce(e.checkouts, 0), coalesce(e.purchases, 0), coalesce(e.revenue, 0),
                        coalesce(e.new_customers, 0), coalesce(e.repeat_customers, 0), coalesce(e.customers, 0))
                       IS DISTINCT FROM (coalesce(s.checkouts, 0), coalesce(s.purchases, 0), coalesce(s.revenue, 0),
                                         coalesce(s.new_customers, 0), coalesce(s.repeat_customers, 0),
                                         coalesce(s.customers, 0))) x
         CROSS JOIN LATERAL (VALUES ('checkouts', x.s_checkouts::numeric, x.e_checkouts::numeric),
                                    ('purchases', x.s_purchases, x.e_purchases), ('revenue', x.s_revenue, x.e_revenue),
                                    ('new_customers', x.s_new, x.e_new),
                                    ('repeat_customers', x.s_repeat, x.e_repeat),
                                    ('customers', x.s_customers, x.e_customers)) v(stat, s, e)
         WHERE coalesce(v.s, 0) <> coalesce(v.e, 0)
        UNION ALL
        SELECT x.shop_id, 'rollup network ' || x.network || ' ' || v.stat, coalesce(v.s, 0)::text,
               coalesce(v.e, 0)::text
          FROM (SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, coalesce(e.network, s.network) AS network,
                       e.preferring AS e_preferring, e.purchases AS e_purchases, e.revenue AS e_revenue,
                       s.preferring AS s_preferring, s.purchases AS s_purchases, s.revenue AS s_revenue
                  FROM e_networks e FULL JOIN s_networks s ON s.shop_id = e.shop_id AND s.network = e.network) x
         CROSS JOIN LATERAL (VALUES ('purchases', x.s_purchases::numeric, x.e_purchases::numeric),
                                    ('revenue', x.s_revenue, x.e_revenue),
                                    ('customers_preferring', x.s_preferring, x.e_preferring)) v(stat, s, e)
         WHERE coalesce(v.s, 0) <> coalesce(v.e, 0)
        UNION ALL
        SELECT coalesce(e.shop_id, s.shop_id), 'rollup frequency ' || coalesce(e.purchases, s.purchases) || ' customers',
               coalesce(s.customers, 0)::text, coalesce(e.customers, 0)::text
          FROM e_frequency e FULL JOIN s_frequency s ON s.shop_id = e.shop_id AND s.purchases = e.purchases
         WHERE coalesce(s.customers, 0) <> coalesce(e.customers, 0)
    )
    SELECT o.shop_id, o.cid, o.shop_order_id, 'order_link', o.stored_customer_id::text, o.cid::text
      FROM o WHERE $2 AND o.stored_customer_id IS DISTINCT FROM o.cid
    UNION ALL
    SELECT c.shop_id, c.cid, NULL, CASE WHEN c.missing THEN 'customer_missing' ELSE 'customer_stale' END,
           CASE WHEN c.missing THEN NULL ELSE 'exists' END, CASE WHEN c.missing THEN 'exists' END
      FROM customers c WHERE c.missing OR c.stale
    UNION ALL
    SELECT c.shop_id, c.cid, NULL, d.stat, d.stored, d.expected
      FROM customers c
     CROSS JOIN LATERAL (VALUES
        ('total_orders', c.total_orders::text, c.orders::text),
        ('total_purchases', c.total_purchases::text, c.purchases::text),
        ('total_spent', c.total_spent::text, c.spent::text),
        ('first_purchase_at', c.first_purchase_at::text, c.first_at::text),
        ('last_purchase_at', c.last_purchase_at::text, c.last_at::text),
        ('first_order_id', c.first_order_id::text, c.first_id::text),
        ('first_source_slug', c.first_source_slug, c.first_slug),
        ('preferred_network', c.preferred_network, c.preferred),
        ('network_purchases', c.network_purchases::text, c.networks::text),
        ('repeat_customer', c.repeat_customer::text, (c.purchases >= 2)::text)
     ) AS d(stat, stored, expected)
     WHERE NOT c.missing AND NOT c.stale
       AND ((c.total_orders, c.total_purchases, c.first_purchase_at, c.last_purchase_at, c.first_order_id,
             c.first_source_slug, c.preferred_network)
            IS DISTINCT FROM (c.orders, c.purchases, c.first_at, c.last_at, c.first_id, c.first_slug, c.preferred)
            OR c.total_spent <> c.spent OR c.network_purchases <> c.networks
            OR c.repeat_customer <> (c.purchases >= 2))
       AND CASE WHEN d.stat = 'total_spent' THEN c.total_spent <> c.spent
                ELSE d.stored IS DISTINCT FROM d.expected END
    UNION ALL
    SELECT l.shop_id, l.cid, l.shop_order_id, 'tracking_row',
           CASE WHEN t.id IS NULL THEN NULL
                ELSE format('customer=%s purchase=%s amount=%s at=%s', t.shop_customer_id,
                            t.purchase_completed, t.purchase_amount, t.accessed_at) END,
           format('customer=%s purchase=%s amount=%s at=%s', l.cid, l.p, l.amount, l.at)
      FROM l
      LEFT JOIN (SELECT t.* FROM @extschema@.customer_tracking t WHERE $1 IS NULL OR t.shop_id = ANY ($1)) t
        ON t.id = l.shop_order_id AND t.shop_id = l.shop_id
     WHERE $2 AND (t.id IS NULL OR t.shop_customer_id <> l.cid OR t.purchase_completed <> l.p
                   OR t.purchase_amount <> l.amount OR t.accessed_at <> l.at)
    UNION ALL
    SELECT r.shop_id, NULL, NULL, r.problem, r.stored, r.expected FROM rollups r
    UNION ALL
    SELECT t.shop_id, t.shop_customer_id, t.id, 'tracking_orphan', 'exists', NULL
      FROM @extschema@.customer_tracking t
     WHERE $2 AND ($1 IS NULL OR t.shop_id = ANY ($1))
       AND NOT EXISTS (SELECT 1 FROM l WHERE l.shop_order_id = t.id AND l.shop_id = t.shop_id)
    $q$ USING p_shops, p_customers;
END
$f$;


-- Per order: the link and contribution a recomputation from shop_orders gives, as the trigger
-- reads the order (customer_tracking_decode_order(): one reading of every setting).
CREATE FUNCTION customer_tracking_expected_orders(p_shop_id uuid DEFAULT NULL)
RETURNS TABLE (shop_order_id uuid, shop_id uuid, stored_customer_id uuid, expected_customer_id uuid,
               purchase boolean, amount numeric, purchased_at timestamptz, network text, slug text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_shop name := (SELECT h.column_name FROM customer_tracking_host_state() h
                     WHERE h.field = 'shop_id' AND h.state = 'ok');
BEGIN
    -- The shop filter on the column (its index; on Citus, the shop's shard), when the column can
    -- be read.
    RETURN QUERY EXECUTE format($q$
        SELECT d.shop_order_id, d.shop_id, d.stored_customer_id, d.expected_customer_id, d.purchase,
               d.amount, d.purchased_at, d.network, d.slug
          FROM @extschema@.shop_orders o
         CROSS JOIN LATERAL @extschema@.customer_tracking_decode_order(o) d
         WHERE %s $q$,
        CASE WHEN p_shop_id IS NULL THEN 'true'
             WHEN v_shop IS NULL THEN 'd.shop_id = $1' ELSE format('o.%I = $1', v_shop) END)
    USING p_shop_id;
END
$$;

-- Every stored value that differs from a recomputation from shop_orders: links, tracking rows
-- and customer stats (when p_customers), and rollup rows (sums over stripes). One pass over the
-- orders serves both, so customer_tracking_verify() recomputes them once.
CREATE FUNCTION customer_tracking_problems(p_shop_id uuid, p_customers boolean)
RETURNS TABLE (shop_id uuid, shop_customer_id uuid, shop_order_id uuid, problem text,
               stored text, expected text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
BEGIN
    IF NOT @extschema@.customer_tracking_orders_distributed() THEN
        -- One node: set-based over the shop's (or every) orders.
        RETURN QUERY
        SELECT * FROM @extschema@.customer_tracking_problems_of(
            CASE WHEN p_shop_id IS NOT NULL THEN ARRAY[p_shop_id] END, p_customers)
        UNION ALL
        SELECT NULL, NULL, NULL, 'host_drift', h.detail, 'a readable column'
          FROM @extschema@.customer_tracking_host_state() h
         WHERE p_customers AND h.state IN ('drift', 'ignored');
        RETURN;
    END IF;
    -- Citus: through the coordinator, one statement the nodes run on their shards.
    RETURN QUERY
    WITH o AS MATERIALIZED (
        SELECT * FROM @extschema@.customer_tracking_expected_orders(p_shop_id)
    ), networks AS (
        -- One pass over the orders (a lookup per customer into o would read o once per customer).
        SELECT x.id, (array_agg(x.network ORDER BY x.n DESC, x.network COLLATE "C"))[1] AS preferred_network,
               jsonb_object_agg(x.network, x.n) AS network_purchases
          FROM (SELECT o.expected_customer_id AS id, o.network, count(*) AS n
                  FROM o WHERE o.expected_customer_id IS NOT NULL AND o.purchase AND o.network IS NOT NULL
                 GROUP BY 1, 2) x
         GROUP BY x.id
    ), expected AS (
        SELECT a.*, n.preferred_network, coalesce(n.network_purchases, '{}'::jsonb) AS network_purchases
          FROM (SELECT o.expected_customer_id AS id, min(o.shop_id::text)::uuid AS shop_id,
                       count(*)::int AS total_orders,
                       count(*) FILTER (WHERE o.purchase)::int AS total_purchases,
                       coalesce(sum(o.amount) FILTER (WHERE o.purchase), 0) AS total_spent,
                       min(o.purchased_at) FILTER (WHERE o.purchase) AS first_purchase_at,
                       max(o.purchased_at) FILTER (WHERE o.purchase) AS last_purchase_at,
                       (array_agg(o.shop_order_id ORDER BY o.purchased_at, o.shop_order_id) FILTER (WHERE o.purchase))[1] AS first_order_id,
                       (array_agg(o.slug ORDER BY o.purchased_at, o.shop_order_id) FILTER (WHERE o.purchase))[1] AS first_source_slug
                  FROM o WHERE o.expected_customer_id IS NOT NULL
                 GROUP BY o.expected_customer_id) a
          LEFT JOIN networks n ON n.id = a.id
    ), stored AS (
        SELECT c.* FROM @extschema@.shop_customers c WHERE p_shop_id IS NULL OR c.shop_id = p_shop_id
    ), customers AS (
        -- Columns, not whole rows: on Citus the parts become intermediate results, which carry
        -- no anonymous record types.
        SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, coalesce(e.id, s.id) AS id,
               e.id IS NULL AS stale, s.id IS NULL AS missing,
               e.total_orders AS e_total_orders, s.total_orders AS s_total_orders,
               e.total_purchases AS e_total_purchases, s.total_purchases AS s_total_purchases,
               e.total_spent AS e_total_spent, s.total_spent AS s_total_spent,
               e.first_purchase_at AS e_first_purchase_at, s.first_purchase_at AS s_first_purchase_at,
               e.last_purchase_at AS e_last_purchase_at, s.last_purchase_at AS s_last_purchase_at,
               e.first_order_id AS e_first_order_id, s.first_order_id AS s_first_order_id,
               e.first_source_slug AS e_first_source_slug, s.first_source_slug AS s_first_source_slug,
               e.preferred_network AS e_preferred_network, s.preferred_network AS s_preferred_network,
               e.network_purchases AS e_network_purchases, s.network_purchases AS s_network_purchases,
               s.repeat_customer AS s_repeat_customer
          FROM expected e FULL JOIN stored s ON s.id = e.id
    ), ro AS (
        -- Tracked orders, by slug and UTC day, for the rollups.
        SELECT e.*, coalesce(e.slug, '') AS slug_key, (e.purchased_at AT TIME ZONE 'UTC')::date AS day
          FROM o e
         WHERE e.expected_customer_id IS NOT NULL
    ), rc AS MATERIALIZED (
        SELECT a.*, n.preferred_network AS preferred
          FROM (SELECT ro.shop_id, ro.expected_customer_id AS id,
                       count(*) FILTER (WHERE ro.purchase) AS purchases,
                       min(ro.purchased_at) FILTER (WHERE ro.purchase) AS first_at,
                       max(ro.purchased_at) FILTER (WHERE ro.purchase) AS last_at,
                       (array_agg(ro.slug_key ORDER BY ro.purchased_at, ro.shop_order_id) FILTER (WHERE ro.purchase))[1] AS first_slug
                  FROM ro GROUP BY ro.shop_id, ro.expected_customer_id
                HAVING count(*) FILTER (WHERE ro.purchase) > 0) a
          LEFT JOIN networks n ON n.id = a.id
    ), rollup_expected AS (
        SELECT ro.shop_id, 'totals' AS kind, '' AS k, 'checkouts' AS stat, count(*)::numeric AS v FROM ro GROUP BY 1
        UNION ALL SELECT ro.shop_id, 'totals', '', 'purchases', count(*) FROM ro WHERE ro.purchase GROUP BY 1
        UNION ALL SELECT ro.shop_id, 'totals', '', 'revenue', sum(ro.amount) FROM ro WHERE ro.purchase GROUP BY 1
        UNION ALL SELECT rc.shop_id, 'totals', '', 'customers', count(*) FROM rc GROUP BY 1
        UNION ALL SELECT rc.shop_id, 'totals', '', 'repeat_customers', count(*) FROM rc WHERE rc.purchases >= 2 GROUP BY 1
        UNION ALL SELECT ro.shop_id, 'daily', to_char(ro.day, 'YYYY-MM-DD'), 'checkouts', count(*) FROM ro GROUP BY 1, 3
        UNION ALL SELECT ro.shop_id, 'daily', to_char(ro.day, 'YYYY-MM-DD'), 'purchases', count(*) FROM ro WHERE ro.purchase GROUP BY 1, 3
        UNION ALL SELECT ro.shop_id, 'daily', to_char(ro.day, 'YYYY-MM-DD'), 'revenue', sum(ro.amount) FROM ro WHERE ro.purchase GROUP BY 1, 3
        UNION ALL SELECT rc.shop_id, 'daily', to_char(rc.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'new_customers', count(*) FROM rc GROUP BY 1, 3
        UNION ALL SELECT rc.shop_id, 'daily', to_char(rc.last_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'last_purchasers', count(*) FROM rc GROUP BY 1, 3
        UNION ALL SELECT ro.shop_id, 'slug_daily', ro.slug_key || '|' || to_char(ro.day, 'YYYY-MM-DD'), 'checkouts', count(*) FROM ro GROUP BY 1, 3
        UNION ALL SELECT ro.shop_id, 'slug_daily', ro.slug_key || '|' || to_char(ro.day, 'YYYY-MM-DD'), 'purchases', count(*) FROM ro WHERE ro.purchase GROUP BY 1, 3
        UNION ALL SELECT ro.shop_id, 'slug_daily', ro.slug_key || '|' || to_char(ro.day, 'YYYY-MM-DD'), 'revenue', sum(ro.amount) FROM ro WHERE ro.purchase GROUP BY 1, 3
        UNION ALL SELECT rc.shop_id, 'slug_daily', rc.first_slug || '|' || to_char(rc.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'new_customers', count(*) FROM rc GROUP BY 1, 3
        UNION ALL SELECT rc.shop_id, 'slug_daily', rc.first_slug || '|' || to_char(rc.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'repeat_customers', count(*) FROM rc WHERE rc.purchases >= 2 GROUP BY 1, 3
        UNION ALL SELECT p.shop_id, 'slug_daily', p.slug_key || '|' || to_char(p.f AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'customers', count(*)
                    FROM (SELECT ro.shop_id, ro.slug_key, ro.expected_customer_id, min(ro.purchased_at) AS f
                            FROM ro WHERE ro.purchase GROUP BY 1, 2, 3) p GROUP BY 1, 3
        UNION ALL SELECT ro.shop_id, 'network', ro.network, 'purchases', count(*) FROM ro WHERE ro.purchase AND ro.network IS NOT NULL GROUP BY 1, 3
        UNION ALL SELECT ro.shop_id, 'network', ro.network, 'revenue', sum(ro.amount) FROM ro WHERE ro.purchase AND ro.network IS NOT NULL GROUP BY 1, 3
        UNION ALL SELECT rc.shop_id, 'network', rc.preferred, 'customers_preferring', count(*) FROM rc WHERE rc.preferred IS NOT NULL GROUP BY 1, 3
        UNION ALL SELECT rc.shop_id, 'frequency', rc.purchases::text, 'customers', count(*) FROM rc GROUP BY 1, 3
    ), rollup_stored AS (
        SELECT r.shop_id, 'totals' AS kind, '' AS k, x.stat, sum(x.v) AS v
          FROM @extschema@.customer_tracking_shop_totals r
         CROSS JOIN LATERAL (VALUES ('checkouts', r.checkouts::numeric), ('purchases', r.purchases),
                                    ('revenue', r.revenue), ('customers', r.customers),
                                    ('repeat_customers', r.repeat_customers)) x(stat, v)
         WHERE p_shop_id IS NULL OR r.shop_id = p_shop_id GROUP BY 1, 4
        UNION ALL
        SELECT r.shop_id, 'daily', to_char(r.day, 'YYYY-MM-DD'), x.stat, sum(x.v)
          FROM @extschema@.customer_tracking_daily r
         CROSS JOIN LATERAL (VALUES ('checkouts', r.checkouts::numeric), ('purchases', r.purchases),
                                    ('revenue', r.revenue), ('new_customers', r.new_customers),
                                    ('last_purchasers', r.last_purchasers)) x(stat, v)
         WHERE p_shop_id IS NULL OR r.shop_id = p_shop_id GROUP BY 1, 3, 4
        UNION ALL
        SELECT r.shop_id, 'slug_daily', r.slug || '|' || to_char(r.day, 'YYYY-MM-DD'), x.stat, sum(x.v)
          FROM @extschema@.customer_tracking_slug_daily r
         CROSS JOIN LATERAL (VALUES ('checkouts', r.checkouts::numeric), ('purchases', r.purchases),
                                    ('revenue', r.revenue), ('new_customers', r.new_customers),
                                    ('repeat_customers', r.repeat_customers), ('customers', r.customers)) x(stat, v)
         WHERE p_shop_id IS NULL OR r.shop_id = p_shop_id GROUP BY 1, 3, 4
        UNION ALL
        SELECT r.shop_id, 'network', r.network, x.stat, sum(x.v)
          FROM @extschema@.customer_tracking_network_totals r
         CROSS JOIN LATERAL (VALUES ('purchases', r.purchases::numeric), ('revenue', r.revenue),
                                    ('customers_preferring', r.customers_preferring)) x(stat, v)
         WHERE p_shop_id IS NULL OR r.shop_id = p_shop_id GROUP BY 1, 3, 4
        UNION ALL
        SELECT r.shop_id, 'frequency', r.purchases::text, 'customers', sum(r.customers)
          FROM @extschema@.customer_tracking_frequency r
         WHERE p_shop_id IS NULL OR r.shop_id = p_shop_id GROUP BY 1, 3
    ), rollups (shop_id, problem, stored, expected) AS (
        SELECT coalesce(e.shop_id, s.shop_id), 'rollup ' || coalesce(e.kind, s.kind) || ' ' ||
               coalesce(e.k, s.k) || ' ' || coalesce(e.stat, s.stat),
               coalesce(s.v, 0)::text, coalesce(e.v, 0)::text
          FROM rollup_expected e
          FULL JOIN rollup_stored s ON s.shop_id = e.shop_id AND s.kind = e.kind AND s.k = e.k AND s.stat = e.stat
         WHERE coalesce(s.v, 0) <> coalesce(e.v, 0)
    )
    SELECT o.shop_id, o.expected_customer_id, o.shop_order_id, 'order_link',
           o.stored_customer_id::text, o.expected_customer_id::text
      FROM o WHERE p_customers AND o.stored_customer_id IS DISTINCT FROM o.expected_customer_id
    UNION ALL
    SELECT c.shop_id, c.id, NULL, CASE WHEN c.missing THEN 'customer_missing' ELSE 'customer_stale' END,
           CASE WHEN c.missing THEN NULL ELSE 'exists' END, CASE WHEN c.missing THEN 'exists' END
      FROM customers c WHERE p_customers AND (c.missing OR c.stale)
    UNION ALL
    SELECT c.shop_id, c.id, NULL, d.stat, d.stored, d.expected
      FROM customers c
     CROSS JOIN LATERAL (VALUES
        ('total_orders', c.s_total_orders::text, c.e_total_orders::text),
        ('total_purchases', c.s_total_purchases::text, c.e_total_purchases::text),
        ('total_spent', c.s_total_spent::text, c.e_total_spent::text),
        ('first_purchase_at', c.s_first_purchase_at::text, c.e_first_purchase_at::text),
        ('last_purchase_at', c.s_last_purchase_at::text, c.e_last_purchase_at::text),
        ('first_order_id', c.s_first_order_id::text, c.e_first_order_id::text),
        ('first_source_slug', c.s_first_source_slug::text, c.e_first_source_slug),
        ('preferred_network', c.s_preferred_network::text, c.e_preferred_network),
        ('network_purchases', c.s_network_purchases::text, c.e_network_purchases::text),
        ('repeat_customer', c.s_repeat_customer::text, (c.e_total_purchases >= 2)::text)
     ) AS d(stat, stored, expected)
     WHERE p_customers AND NOT c.missing AND NOT c.stale
       AND CASE WHEN d.stat = 'total_spent' THEN c.s_total_spent <> c.e_total_spent
                ELSE d.stored IS DISTINCT FROM d.expected END
    UNION ALL
    SELECT o.shop_id, o.expected_customer_id, o.shop_order_id, 'tracking_row',
           CASE WHEN t.id IS NULL THEN NULL
                ELSE format('customer=%s purchase=%s amount=%s at=%s', t.shop_customer_id,
                            t.purchase_completed, t.purchase_amount, t.accessed_at) END,
           format('customer=%s purchase=%s amount=%s at=%s', o.expected_customer_id, o.purchase,
                  o.amount, o.purchased_at)
      FROM o
      LEFT JOIN @extschema@.customer_tracking t ON t.id = o.shop_order_id AND t.shop_id = o.shop_id
     WHERE p_customers AND o.expected_customer_id IS NOT NULL
       AND (t.id IS NULL OR t.shop_customer_id <> o.expected_customer_id
            OR t.purchase_completed <> o.purchase OR t.purchase_amount <> o.amount
            OR t.accessed_at <> o.purchased_at)
    UNION ALL
    SELECT r.shop_id, NULL, NULL, r.problem, r.stored, r.expected FROM rollups r
    UNION ALL
    SELECT t.shop_id, t.shop_customer_id, t.id, 'tracking_orphan', 'exists', NULL
      FROM @extschema@.customer_tracking t
     WHERE p_customers AND (p_shop_id IS NULL OR t.shop_id = p_shop_id)
       AND NOT EXISTS (SELECT 1 FROM o WHERE o.shop_order_id = t.id AND o.shop_id = t.shop_id
                                         AND o.expected_customer_id IS NOT NULL)
    UNION ALL
    -- The host table no longer has what a field is read from (1.4).
    SELECT NULL, NULL, NULL, 'host_drift', h.detail, 'a readable column'
      FROM @extschema@.customer_tracking_host_state() h
     WHERE p_customers AND h.state IN ('drift', 'ignored');
END
$$;

-- Rollup rows that differ from a recomputation from shop_orders (sums over stripes).
CREATE FUNCTION customer_tracking_verify_rollups(p_shop_id uuid DEFAULT NULL)
RETURNS TABLE (shop_id uuid, problem text, stored text, expected text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    SELECT r.shop_id, r.problem, r.stored, r.expected
      FROM @extschema@.customer_tracking_problems(p_shop_id, false) r
$$;

-- One row per stored value that differs from a recomputation from shop_orders. All shops: in
-- chunks of whole shops (memory stays bounded), in one snapshot; progress in
-- customer_tracking_progress.
CREATE FUNCTION customer_tracking_verify(p_shop_id uuid DEFAULT NULL)
RETURNS TABLE (shop_id uuid, shop_customer_id uuid, shop_order_id uuid, problem text,
               stored text, expected text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_chunk record;
    v_shops bigint := 0;
    v_chunks bigint := 0;
    v_shop name := (SELECT h.column_name FROM customer_tracking_host_state() h
                     WHERE h.field = 'shop_id' AND h.state = 'ok');
BEGIN
    PERFORM customer_tracking_progress_begin('verify', NULL, NULL, NULL);
    IF p_shop_id IS NOT NULL OR v_shop IS NULL OR customer_tracking_orders_distributed() THEN
        PERFORM customer_tracking_progress_set('verifying', 0, 0, 0, 1, NULL, 1);
        RETURN QUERY SELECT * FROM customer_tracking_problems(p_shop_id, true);
        PERFORM customer_tracking_progress_end();
        RETURN;
    END IF;
    FOR v_chunk IN SELECT * FROM customer_tracking_backfill_chunks(NULL, NULL, 100000) LOOP
        IF v_chunks = 0 THEN
            PERFORM customer_tracking_progress_set('verifying', 0, 0, 0, v_chunk.shops_total,
                                                   v_chunk.orders_total, v_chunk.chunks_total);
        END IF;
        RETURN QUERY SELECT * FROM customer_tracking_problems_of(v_chunk.shops, true);
        v_shops := v_shops + cardinality(v_chunk.shops);
        v_chunks := v_chunks + 1;
        PERFORM customer_tracking_progress_set(NULL, v_shops, NULL, v_chunks);
    END LOOP;
    -- Orders of no shop are never linked.
    IF (SELECT count(*) FROM customer_tracking_host_state() h
         WHERE h.field IN ('id', 'shop_id', 'shop_customer_id') AND h.state = 'ok') = 3 THEN
        RETURN QUERY EXECUTE format($q$
        SELECT NULL::uuid, NULL::uuid, o.%1$I, 'order_link'::text, o.shop_customer_id::text, NULL::text
              FROM @extschema@.shop_orders o WHERE o.%2$I IS NULL AND o.shop_customer_id IS NOT NULL$q$,
            (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'id'), v_shop);
    END IF;
    RETURN QUERY
        SELECT NULL::uuid, NULL::uuid, NULL::uuid, 'host_drift'::text, h.detail, 'a readable column'::text
          FROM customer_tracking_host_state() h WHERE h.state IN ('drift', 'ignored');
    PERFORM customer_tracking_progress_end();
END
$$;
COMMENT ON FUNCTION customer_tracking_verify(uuid) IS
    'Rows for every stored link, tracking row or customer stat that differs from a recomputation '
    'from shop_orders; no rows when everything is consistent.';

-- Brings a shop's rollups in line with the customers and tracking rows they derive from: the
-- difference (computed within one snapshot per table) is added as an increment, so it
-- commutes with the increments of orders arriving meanwhile. Returns the rows adjusted.
CREATE FUNCTION customer_tracking_repair_rollups(p_shop_id uuid)
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

-- One shop of customer_tracking_backfill(). On Citus, customer_tracking_distribute() makes it a
-- function Citus runs on the node holding the shop (by p_shop_id), where each statement reads
-- and writes that shop's shards and the trigger counts the orders it touches in the same session.
CREATE FUNCTION customer_tracking_backfill_shop(p_shop_id uuid)
RETURNS TABLE (shop_id uuid, orders_retracked bigint, orders_linked bigint, orders_untracked bigint,
               customers_repaired bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_shop uuid := p_shop_id;
    v_id name := (SELECT column_name FROM customer_tracking_columns() WHERE field = 'id');
    v_shop_col name := (SELECT column_name FROM customer_tracking_columns() WHERE field = 'shop_id');
    v_orders uuid[];
    v_retracked bigint;
    v_repaired bigint;
    v_customer uuid;
BEGIN
    -- 0. Tracking rows of customers deleted by hand: their orders are tracked again below.
    DELETE FROM @extschema@.customer_tracking t
     WHERE t.shop_id = v_shop
       AND NOT EXISTS (SELECT 1 FROM @extschema@.shop_customers c
                        WHERE c.id = t.shop_customer_id AND c.shop_id = v_shop);

    -- 1. Orders whose link or tracking row disagrees with the order go through the trigger again.
    SELECT coalesce(array_agg(e.shop_order_id), '{}') INTO v_orders
      FROM @extschema@.customer_tracking_expected_orders(v_shop) e
      LEFT JOIN @extschema@.customer_tracking t ON t.id = e.shop_order_id AND t.shop_id = v_shop
     WHERE e.stored_customer_id IS DISTINCT FROM e.expected_customer_id
        OR (e.expected_customer_id IS NOT NULL
            AND (t.id IS NULL OR t.shop_customer_id <> e.expected_customer_id
                 OR t.purchase_completed <> e.purchase OR t.purchase_amount <> e.amount
                 OR t.accessed_at <> e.purchased_at OR t.network IS DISTINCT FROM e.network
                 OR t.accessed_via_slug IS DISTINCT FROM e.slug))
        OR (e.expected_customer_id IS NULL
            AND NOT EXISTS (SELECT 1 FROM @extschema@.customer_tracking_issues i
                             WHERE i.shop_id = v_shop AND i.shop_order_id = e.shop_order_id
                               AND i.untracked AND i.resolved_at IS NULL));
    PERFORM set_config('customer_tracking.retrack', 'on', true);
    EXECUTE format('UPDATE @extschema@.shop_orders o SET shop_customer_id = o.shop_customer_id
                     WHERE o.%2$I = $1 AND o.%1$I = ANY ($2)', v_id, v_shop_col)
        USING v_shop, v_orders;
    GET DIAGNOSTICS v_retracked = ROW_COUNT;
    PERFORM set_config('customer_tracking.retrack', 'off', true);
    PERFORM @extschema@.customer_tracking_apply_pending();

    -- 2. Tracking rows of orders that no longer exist (deleted while tracking was off).
    v_repaired := 0;
    FOR v_customer IN
        EXECUTE format($q$
            DELETE FROM @extschema@.customer_tracking t
             WHERE t.shop_id = $1
               AND NOT EXISTS (SELECT 1 FROM @extschema@.shop_orders o
                                WHERE o.%1$I = t.id AND o.%2$I = $1 AND o.shop_customer_id = t.shop_customer_id)
            RETURNING t.shop_customer_id$q$, v_id, v_shop_col) USING v_shop
    LOOP
        PERFORM customer_tracking_recompute(v_shop, v_customer);
        v_repaired := v_repaired + 1;
    END LOOP;

    -- 3. Customers whose stats or purchases per slug disagree with their tracking rows.
    FOR v_customer IN
        SELECT c.id FROM @extschema@.shop_customers c
          LEFT JOIN LATERAL (
              SELECT count(*)::int AS orders,
                     count(*) FILTER (WHERE t.purchase_completed)::int AS purchases,
                     coalesce(sum(t.purchase_amount) FILTER (WHERE t.purchase_completed), 0) AS spent,
                     min(t.accessed_at) FILTER (WHERE t.purchase_completed) AS first_at,
                     max(t.accessed_at) FILTER (WHERE t.purchase_completed) AS last_at,
                     (array_agg(t.id ORDER BY t.accessed_at, t.id) FILTER (WHERE t.purchase_completed))[1] AS first_id,
                     (array_agg(t.accessed_via_slug ORDER BY t.accessed_at, t.id) FILTER (WHERE t.purchase_completed))[1] AS first_slug,
                     (SELECT coalesce(jsonb_object_agg(n.network, n.k), '{}'::jsonb)
                        FROM (SELECT t2.network, count(*) AS k FROM @extschema@.customer_tracking t2
                               WHERE t2.shop_customer_id = c.id AND t2.shop_id = v_shop AND t2.purchase_completed
                                 AND t2.network IS NOT NULL GROUP BY t2.network) n) AS networks,
                     (SELECT t2.network FROM @extschema@.customer_tracking t2
                       WHERE t2.shop_customer_id = c.id AND t2.shop_id = v_shop AND t2.purchase_completed
                         AND t2.network IS NOT NULL
                       GROUP BY t2.network ORDER BY count(*) DESC, t2.network::text COLLATE "C" LIMIT 1) AS preferred,
                     (SELECT coalesce(jsonb_object_agg(ps.slug, ps.k || '@' || ps.f), '{}'::jsonb)
                        FROM (SELECT coalesce(t2.accessed_via_slug, '') AS slug, count(*) AS k, min(t2.accessed_at) AS f
                                FROM @extschema@.customer_tracking t2
                               WHERE t2.shop_customer_id = c.id AND t2.shop_id = v_shop AND t2.purchase_completed
                               GROUP BY 1) ps) AS pairs
                FROM @extschema@.customer_tracking t
               WHERE t.shop_customer_id = c.id AND t.shop_id = v_shop) a ON true
         WHERE c.shop_id = v_shop
           AND (c.total_orders <> a.orders OR c.total_purchases <> a.purchases
                OR c.total_spent <> a.spent OR c.first_purchase_at IS DISTINCT FROM a.first_at
                OR c.last_purchase_at IS DISTINCT FROM a.last_at OR c.first_order_id IS DISTINCT FROM a.first_id
                OR c.first_source_slug IS DISTINCT FROM a.first_slug
                OR c.preferred_network IS DISTINCT FROM a.preferred OR c.network_purchases <> a.networks
                OR a.pairs <> (SELECT coalesce(jsonb_object_agg(p.slug, p.purchases || '@' || p.first_purchase_at), '{}'::jsonb)
                                 FROM @extschema@.customer_tracking_slug_customers p
                                WHERE p.shop_id = v_shop AND p.shop_customer_id = c.id))
    LOOP
        PERFORM customer_tracking_recompute(v_shop, v_customer);
        v_repaired := v_repaired + 1;
    END LOOP;

    -- 4. Rollups that disagree with the customers and tracking rows.
    PERFORM customer_tracking_repair_rollups(v_shop);

    shop_id := v_shop;
    orders_retracked := v_retracked;
    EXECUTE format('SELECT count(*) FILTER (WHERE shop_customer_id IS NOT NULL), count(*) FILTER (WHERE shop_customer_id IS NULL)
                      FROM @extschema@.shop_orders WHERE %I = $1', v_shop_col)
        INTO orders_linked, orders_untracked USING v_shop;
    customers_repaired := v_repaired;
    RETURN NEXT;
END
$$;

-- Links and counts orders that are unlinked or inconsistent, and repairs customers and rollups;
-- idempotent, safe while orders arrive. One transaction: first the order step of every chunk of
-- shops, then, with those shops locked, their customer step (customer_tracking_backfill_all()
-- commits chunk by chunk instead).
CREATE FUNCTION customer_tracking_backfill(p_shop_id uuid DEFAULT NULL)
RETURNS TABLE (shop_id uuid, orders_retracked bigint, orders_linked bigint, orders_untracked bigint,
               customers_repaired bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_chunk record;
    v_shops uuid[] := '{}';
    v_chunks bigint := 0;
    v_done bigint := 0;
    v_drift text := (SELECT string_agg(h.detail, '; ') FROM customer_tracking_host_state() h
                      WHERE h.state = 'drift');
BEGIN
    -- Under drift every order would read as untracked: re-deriving would unlink them all.
    IF v_drift IS NOT NULL THEN
        RAISE EXCEPTION 'customer_tracking: backfill refused: %', v_drift
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Fix the host table or the mapping first (SELECT * FROM customer_tracking_host_state()).';
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'customer_tracking: backfill must run in READ COMMITTED, not %',
            upper(current_setting('transaction_isolation'))
            USING ERRCODE = 'invalid_transaction_state',
                  DETAIL = 'Its customer step must see every order committed before it locked the shops.';
    END IF;
    IF customer_tracking_orders_distributed() THEN
        -- Citus: shop by shop, each in a statement of its own with the shop as a constant, which
        -- Citus runs on the shop's node (customer_tracking_backfill_shop()).
        FOR v_chunk IN
            EXECUTE format('SELECT DISTINCT %1$I AS shop FROM @extschema@.shop_orders
                             WHERE %1$I IS NOT NULL AND ($1 IS NULL OR %1$I = $1)',
                           (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'shop_id'))
            USING p_shop_id
        LOOP
            RETURN QUERY EXECUTE format('SELECT * FROM @extschema@.customer_tracking_backfill_shop(%L)', v_chunk.shop);
        END LOOP;
        RETURN;
    END IF;
    -- This transaction's own changed orders are counted first.
    PERFORM customer_tracking_apply_pending();
    PERFORM customer_tracking_progress_begin('backfill', NULL, NULL, NULL);

    -- 1. Orders, chunk by chunk: links, ledger rows and issues (the orders written stay locked).
    FOR v_chunk IN SELECT * FROM customer_tracking_backfill_chunks(p_shop_id, NULL, 100000) LOOP
        IF v_chunks = 0 THEN
            PERFORM customer_tracking_progress_set('linking orders', 0, 0, 0, v_chunk.shops_total,
                                                   v_chunk.orders_total, v_chunk.chunks_total);
        END IF;
        PERFORM customer_tracking_backfill_orders(v_chunk.shops);
        v_shops := v_shops || v_chunk.shops;
        v_chunks := v_chunks + 1;
    END LOOP;

    -- 2. Customers, per-slug purchases and rollups, with every shop locked (in one order: the
    --    commit of an order of these shops waits until this transaction ends).
    IF v_chunks > 0 THEN
        PERFORM customer_tracking_progress_set('waiting for shop locks');
        PERFORM customer_tracking_lock_shops(v_shops);
        PERFORM customer_tracking_progress_set('counting customers');
        v_chunks := 0;
        FOR v_chunk IN
            SELECT array_agg(b.shop_id ORDER BY b.shop_id) AS shops
              FROM (SELECT b.shop_id, ((sum(b.orders) OVER (ORDER BY b.shop_id))::bigint - b.orders) / 100000 AS g
                      FROM pg_temp.customer_tracking_backfill_shops b WHERE b.shop_id = ANY (v_shops)) b
             GROUP BY b.g ORDER BY b.g
        LOOP
            PERFORM customer_tracking_backfill_customers(v_chunk.shops);
            v_done := v_done + cardinality(v_chunk.shops);
            v_chunks := v_chunks + 1;
            PERFORM customer_tracking_progress_set(NULL, v_done, NULL, v_chunks);
        END LOOP;
        RETURN QUERY
            SELECT b.shop_id, b.retracked, b.linked, b.untracked, b.repaired
              FROM pg_temp.customer_tracking_backfill_shops b WHERE b.shop_id = ANY (v_shops)
             ORDER BY b.shop_id;
    END IF;
    PERFORM customer_tracking_progress_end();
END
$$;
COMMENT ON FUNCTION customer_tracking_backfill(uuid) IS
    'Links and counts orders that predate the extension or were left unlinked, and repairs any '
    'customer whose stats disagree with its orders. Idempotent; safe while orders arrive. '
    'Returns per shop: orders re-tracked now, orders linked and untracked in total, customers repaired.';

-- The whole store in bounded transactions: one per chunk of about p_chunk_orders orders (whole
-- shops), committed before the next. Cancelled or failed, it goes on after the last chunk
-- committed when called again (p_restart: from the first shop). CALL it outside a transaction
-- block.
CREATE PROCEDURE customer_tracking_backfill_all(p_chunk_orders integer DEFAULT 100000,
                                                p_restart boolean DEFAULT false)
LANGUAGE plpgsql
AS $$
DECLARE
    v_state @extschema@.customer_tracking_backfill_state;
    v_chunk record;
    v_first boolean := true;
    v_orders bigint;
    v_retracked bigint;
    v_repaired bigint;
    v_drift text := (SELECT string_agg(h.detail, '; ') FROM @extschema@.customer_tracking_host_state() h
                      WHERE h.state = 'drift');
    v_distributed boolean := @extschema@.customer_tracking_orders_distributed();
BEGIN
    IF v_drift IS NOT NULL THEN
        RAISE EXCEPTION 'customer_tracking: backfill refused: %', v_drift
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Fix the host table or the mapping first (SELECT * FROM customer_tracking_host_state()).';
    END IF;
    IF p_chunk_orders IS NULL OR p_chunk_orders < 1 THEN
        RAISE EXCEPTION 'customer_tracking: p_chunk_orders must be a positive number of orders'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO v_state FROM @extschema@.customer_tracking_backfill_state;
    IF p_restart OR v_state.id IS NULL OR v_state.finished_at IS NOT NULL THEN
        INSERT INTO @extschema@.customer_tracking_backfill_state AS s (id, started_at, chunk_orders)
        VALUES (true, pg_catalog.now(), p_chunk_orders)
        ON CONFLICT (id) DO UPDATE SET started_at = EXCLUDED.started_at, finished_at = NULL,
            chunk_orders = EXCLUDED.chunk_orders, last_shop_id = NULL, chunks_done = 0, shops_done = 0,
            orders_done = 0, orders_retracked = 0, customers_repaired = 0
        RETURNING * INTO v_state;
    ELSE
        UPDATE @extschema@.customer_tracking_backfill_state SET chunk_orders = p_chunk_orders
        RETURNING * INTO v_state;
        RAISE NOTICE 'customer_tracking: resuming the backfill started at %: % shops (% orders) done, going on after shop %',
            v_state.started_at, v_state.shops_done, v_state.orders_done, v_state.last_shop_id;
    END IF;
    COMMIT;

    PERFORM @extschema@.customer_tracking_progress_begin('backfill', NULL, NULL, NULL);
    FOR v_chunk IN
        SELECT * FROM @extschema@.customer_tracking_backfill_chunks(NULL, v_state.last_shop_id, p_chunk_orders)
    LOOP
        IF v_first THEN
            PERFORM @extschema@.customer_tracking_progress_set('linking orders', v_state.shops_done,
                v_state.orders_done, v_state.chunks_done, v_state.shops_done + v_chunk.shops_total,
                v_state.orders_done + v_chunk.orders_total, v_state.chunks_done + v_chunk.chunks_total);
            v_first := false;
        ELSE
            PERFORM @extschema@.customer_tracking_progress_set('linking orders');
        END IF;
        IF v_distributed THEN
            -- Citus: shop by shop, each on its node (customer_tracking_backfill()).
            SELECT coalesce(sum(b.orders_linked + b.orders_untracked), 0), coalesce(sum(b.orders_retracked), 0),
                   coalesce(sum(b.customers_repaired), 0)
              INTO v_orders, v_retracked, v_repaired
              FROM pg_catalog.unnest(v_chunk.shops) s(id), LATERAL @extschema@.customer_tracking_backfill(s.id) b;
        ELSE
            SELECT coalesce(sum(o.orders), 0), coalesce(sum(o.retracked), 0) INTO v_orders, v_retracked
              FROM @extschema@.customer_tracking_backfill_orders(v_chunk.shops) o;
            PERFORM @extschema@.customer_tracking_progress_set('waiting for shop locks');
            PERFORM @extschema@.customer_tracking_lock_shops(v_chunk.shops);
            PERFORM @extschema@.customer_tracking_progress_set('counting customers');
            v_repaired := @extschema@.customer_tracking_backfill_customers(v_chunk.shops);
        END IF;
        UPDATE @extschema@.customer_tracking_backfill_state
           SET last_shop_id = v_chunk.shops[pg_catalog.cardinality(v_chunk.shops)],
               chunks_done = chunks_done + 1, shops_done = shops_done + pg_catalog.cardinality(v_chunk.shops),
               orders_done = orders_done + v_orders, orders_retracked = orders_retracked + v_retracked,
               customers_repaired = customers_repaired + v_repaired
        RETURNING * INTO v_state;
        PERFORM @extschema@.customer_tracking_progress_set(NULL, v_state.shops_done, v_state.orders_done,
                                                            v_state.chunks_done);
        COMMIT;
    END LOOP;
    UPDATE @extschema@.customer_tracking_backfill_state SET finished_at = pg_catalog.now()
    RETURNING * INTO v_state;
    COMMIT;
    PERFORM @extschema@.customer_tracking_progress_end();
    RAISE NOTICE 'customer_tracking: backfill done: % shops, % orders (% re-tracked), % customers repaired, % chunks',
        v_state.shops_done, v_state.orders_done, v_state.orders_retracked, v_state.customers_repaired,
        v_state.chunks_done;
END
$$;
COMMENT ON PROCEDURE customer_tracking_backfill_all(integer, boolean) IS
    'customer_tracking_backfill() for every shop, in one transaction per chunk of about p_chunk_orders '
    'orders (whole shops); goes on after the last chunk committed when called again after a cancel '
    '(p_restart: from the start). State in customer_tracking_backfill_state, progress in '
    'customer_tracking_progress.';


--------------------------------------------------------------------------------
-- Citus: which node this is. NULL without Citus in this database; 'worker' on a
-- node Citus gave a group other than 0 (the coordinator's). CREATE EXTENSION
-- (and ALTER EXTENSION) on the coordinator runs on every worker too, and adding
-- a worker creates the extension there (Citus sets the node's group first, and
-- creates the extension before any table). A worker holds no host tables of its
-- own, at most Citus's shell tables, which the coordinator's DDL changes: there
-- the extension installs only its own objects. Its tables become the workers'
-- copies of the extension's distributed tables (Citus creates none for tables an
-- extension owns), its functions are what the triggers on the shards of
-- shop_orders call. On the coordinator, where shop_orders may already be
-- distributed, attaching creates triggers on it, which Citus accepts only with
-- citus.enable_unsafe_triggers (it then creates them on every shard), and Citus
-- propagates CREATE EXTENSION to the workers only if the transaction used one
-- connection per node (citus.multi_shard_modify_mode = sequential): the install
-- sets both for its own transaction.
--------------------------------------------------------------------------------
CREATE FUNCTION customer_tracking_citus_node()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_group integer;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_local_group') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO v_group;
    RETURN CASE WHEN coalesce(v_group, 0) = 0 THEN 'coordinator' ELSE 'worker' END;
END
$$;
COMMENT ON FUNCTION customer_tracking_citus_node() IS
    'Citus role of this node: coordinator, worker, or NULL when Citus is not installed in this database.';

--------------------------------------------------------------------------------
-- Install: attach to the host tables, unless this is a restore replaying the
-- extension before the host tables exist: both tables missing in a session
-- with row_security off, as every pg_dump script and pg_restore sets it
-- (CREATE EXTENSION itself forces check_function_bodies off, so that is no
-- signal). The dump then restores the attachment itself.
--------------------------------------------------------------------------------
DO $install$
DECLARE
    v_map text := coalesce(current_setting('customer_tracking.column_map', true), '');
    v_pair text;
    v_field text;
    v_column text;
    v_citus text := @extschema@.customer_tracking_citus_node();
BEGIN
    IF v_citus = 'worker' THEN
        RETURN;   -- the coordinator attaches (see customer_tracking_citus_node())
    ELSIF v_citus = 'coordinator' THEN
        PERFORM set_config('citus.enable_unsafe_triggers', 'on', true), set_config('citus.multi_shard_modify_mode', 'sequential', true);
    END IF;
    IF to_regclass('@extschema@.shop_orders') IS NULL AND to_regclass('@extschema@.user_shops') IS NULL
       AND current_setting('row_security') = 'off' THEN
        RAISE NOTICE 'customer_tracking: host tables not there yet (restoring a dump?); the dump restores the attachment';
        RETURN;
    END IF;
    FOREACH v_pair IN ARRAY regexp_split_to_array(btrim(v_map), '\s*,\s*') LOOP
        CONTINUE WHEN v_pair = '';
        v_field := btrim(split_part(v_pair, '=', 1));
        v_column := btrim(split_part(v_pair, '=', 2));
        IF position('=' IN v_pair) = 0 OR NOT EXISTS (SELECT 1 FROM @extschema@.customer_tracking_fields() f WHERE f.field = v_field) THEN
            RAISE EXCEPTION 'customer_tracking: bad entry "%" in customer_tracking.column_map', v_pair
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Use field=column pairs separated by commas; fields: '
                             || (SELECT string_agg(field, ', ') FROM @extschema@.customer_tracking_fields());
        END IF;
        INSERT INTO @extschema@.customer_tracking_settings VALUES ('column:' || v_field, v_column::name)
        ON CONFLICT (setting) DO UPDATE SET value = EXCLUDED.value;
    END LOOP;
    PERFORM @extschema@.customer_tracking_attach();
END
$install$;

--------------------------------------------------------------------------------
-- Dashboard functions. SECURITY INVOKER: row-level security decides what the
-- caller sees (owners their own shops, service roles everything, anyone else
-- nothing). They read the rollups, so their cost does not grow with orders.
--------------------------------------------------------------------------------
-- Customers whose first purchase falls in [p_from, p_to): whole UTC days from
-- the daily rollup, the partial days at either end from the customer index.
CREATE FUNCTION customer_tracking_new_customers(p_shop_id uuid, p_from timestamptz, p_to timestamptz)
RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    -- A role that may not read what it reads gets an error naming this function (not the
    -- statement below as context).
    IF NOT has_table_privilege('@extschema@.shop_customers', 'SELECT')
       OR NOT has_table_privilege('@extschema@.customer_tracking_daily', 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for function customer_tracking_new_customers'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('It reads shop_customers and customer_tracking_daily; role %s may not read them.', current_user);
    END IF;
    RETURN (
    SELECT CASE
        WHEN b.lo_day >= b.hi_day THEN
            (SELECT count(*) FROM @extschema@.shop_customers c
              WHERE c.shop_id = p_shop_id AND c.first_purchase_at >= p_from AND c.first_purchase_at < p_to)
        ELSE
            coalesce((SELECT sum(d.new_customers) FROM @extschema@.customer_tracking_daily d
                       WHERE d.shop_id = p_shop_id AND d.day >= b.lo_day AND d.day < b.hi_day), 0)::bigint
          + (SELECT count(*) FROM @extschema@.shop_customers c
              WHERE c.shop_id = p_shop_id AND c.first_purchase_at >= p_from
                AND c.first_purchase_at < (b.lo_day::timestamp AT TIME ZONE 'UTC'))
          + (SELECT count(*) FROM @extschema@.shop_customers c
              WHERE c.shop_id = p_shop_id AND c.first_purchase_at >= (b.hi_day::timestamp AT TIME ZONE 'UTC')
                AND c.first_purchase_at < p_to)
        END
      FROM (SELECT ((p_from AT TIME ZONE 'UTC') + interval '1 day' - interval '1 microsecond')::date AS lo_day,
                   (p_to AT TIME ZONE 'UTC')::date AS hi_day) b
    );
END
$$;

-- In C (src/metrics.cpp): one statement over the rollups, planned once per session.
CREATE FUNCTION shop_customer_metrics(p_shop_id uuid, p_as_of timestamptz DEFAULT now())
RETURNS TABLE (total_customers bigint, repeat_customers bigint, repeat_rate numeric,
               new_customers_30d bigint, new_customers_this_month bigint, average_ltv numeric,
               total_revenue numeric)
LANGUAGE c STABLE PARALLEL SAFE ROWS 1
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'ct_shop_customer_metrics';
COMMENT ON FUNCTION shop_customer_metrics(uuid, timestamptz) IS
    'Dashboard numbers of a shop: customers (at least one purchase), repeat customers (2+), repeat '
    'rate (%, 1 decimal), customers whose first purchase is in (p_as_of - 30 days, p_as_of] and in '
    'p_as_of''s calendar month (session time zone), average LTV (2 decimals) and revenue.';

CREATE FUNCTION shop_customer_overview(p_shop_id uuid, p_currency text DEFAULT 'GHS')
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN (
    WITH m AS (SELECT * FROM @extschema@.shop_customer_metrics(p_shop_id)),
    lines AS (
        SELECT n, line FROM m, LATERAL (VALUES
            (1, 'Total Customers: ' || to_char(m.total_customers, 'FM999,999,999,990')),
            (2, 'Repeat Customers: ' || to_char(m.repeat_customers, 'FM999,999,999,990')
                 || ' (' || to_char(m.repeat_rate, 'FM990.0') || '%)'),
            (3, 'New This Month: ' || to_char(m.new_customers_this_month, 'FM999,999,999,990')),
            (4, 'Average LTV: ' || p_currency || ' ' || to_char(m.average_ltv, 'FM999,999,999,990.00')),
            (5, 'Total Revenue: ' || p_currency || ' ' || to_char(m.total_revenue, 'FM999,999,999,999,990.00'))
        ) v(n, line)
    ), w AS (SELECT greatest(39, max(length(line))) + 2 AS inner_width FROM lines)
    SELECT '┌' || repeat('─', w.inner_width) || '┐' || E'\n'
        || '│ ' || rpad('Customer Overview', w.inner_width - 1) || '│' || E'\n'
        || '├' || repeat('─', w.inner_width) || '┤' || E'\n'
        || (SELECT string_agg('│ ' || rpad(line, w.inner_width - 1) || '│', E'\n' ORDER BY n) FROM lines) || E'\n'
        || '└' || repeat('─', w.inner_width) || '┘'
      FROM w
    );
END
$$;
COMMENT ON FUNCTION shop_customer_overview(uuid, text) IS
    'The plan''s "Customer Overview" box for a shop, as text (psql, quick checks).';

CREATE FUNCTION shop_slug_analytics(p_shop_id uuid, p_from timestamptz DEFAULT NULL,
                                    p_to timestamptz DEFAULT NULL)
RETURNS TABLE (slug text, checkouts bigint, purchases bigint, conversion_rate numeric, revenue numeric,
               customers bigint, new_customers bigint, repeat_customers bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    -- A role that may not read what it reads gets an error naming this function (not the
    -- statement below as context).
    IF NOT has_table_privilege('@extschema@.customer_tracking_slug_daily', 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for function shop_slug_analytics'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('It reads customer_tracking_slug_daily; role %s may not read it.', current_user);
    END IF;
    RETURN QUERY
    SELECT nullif(s.slug, ''), s.checkouts, s.purchases,
           CASE WHEN s.checkouts = 0 THEN 0.0 ELSE round(100.0 * s.purchases / s.checkouts, 1) END,
           s.revenue, s.customers, s.new_customers, s.repeat_customers
      FROM (SELECT r.slug, sum(r.checkouts)::bigint AS checkouts, sum(r.purchases)::bigint AS purchases,
                   sum(r.revenue) AS revenue, sum(r.customers)::bigint AS customers,
                   sum(r.new_customers)::bigint AS new_customers,
                   sum(r.repeat_customers)::bigint AS repeat_customers
              FROM @extschema@.customer_tracking_slug_daily r
             WHERE r.shop_id = p_shop_id
               AND (p_from IS NULL OR r.day >= (p_from AT TIME ZONE 'UTC')::date)
               AND (p_to IS NULL OR r.day <= (p_to AT TIME ZONE 'UTC')::date)
             GROUP BY r.slug) s
     WHERE s.checkouts <> 0 OR s.customers <> 0 OR s.new_customers <> 0
     ORDER BY s.revenue DESC, s.slug;
END
$$;
COMMENT ON FUNCTION shop_slug_analytics(uuid, timestamptz, timestamptz) IS
    'Per slug, over the UTC days from p_from''s to p_to''s (NULL = unbounded): checkouts (orders '
    'placed via it, any status), purchases, conversion rate (%), revenue, customers (distinct '
    'customers whose first purchase via the slug is in the period), new customers acquired (first '
    'purchase overall via the slug) and how many of those are repeat customers. NULL slug = orders '
    'without one.';

CREATE FUNCTION shop_customer_list(p_shop_id uuid, p_search text DEFAULT NULL,
                                   p_repeat_only boolean DEFAULT false,
                                   p_sort text DEFAULT 'last_purchase', p_limit integer DEFAULT 50,
                                   p_after_value text DEFAULT NULL, p_after_id uuid DEFAULT NULL)
RETURNS TABLE (id uuid, customer_name text, phone_number text, email text, total_purchases integer,
               repeat_customer boolean, total_spent numeric, first_purchase_at timestamptz,
               last_purchase_at timestamptz, preferred_network text, sort_value text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_limit integer := least(greatest(coalesce(p_limit, 50), 1), 500);
    v_phone text;
    v_pattern text;
BEGIN
    -- A role that may not read the customers gets an error naming this function (not the
    -- statement below as context).
    IF NOT has_table_privilege('@extschema@.shop_customers', 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for function shop_customer_list'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('It reads shop_customers; role %s may not read it.', current_user);
    END IF;
    IF p_sort IS NULL OR p_sort NOT IN ('last_purchase', 'total_spent', 'purchases') THEN
        RAISE EXCEPTION 'shop_customer_list: p_sort must be last_purchase, total_spent or purchases'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (p_after_value IS NULL) <> (p_after_id IS NULL) THEN
        RAISE EXCEPTION 'shop_customer_list: give both p_after_value and p_after_id (from the last row) or neither'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF nullif(btrim(p_search), '') IS NOT NULL THEN
        -- A phone typed in any format finds the customer; otherwise name or email contain the text.
        v_phone := CASE WHEN p_search ~ '^[\s+()0-9.-]+$' THEN @extschema@.normalize_phone(p_search) END;
        v_pattern := '%' || replace(replace(replace(btrim(p_search), '\', '\\'), '%', '\%'), '_', '\_') || '%';
    END IF;

    IF p_sort = 'last_purchase' THEN
        RETURN QUERY
        SELECT c.id, c.customer_name::text, c.phone_number::text, c.email::text, c.total_purchases,
               c.repeat_customer, c.total_spent, c.first_purchase_at, c.last_purchase_at,
               c.preferred_network::text,
               to_char(c.last_purchase_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
          FROM @extschema@.shop_customers c
         WHERE c.shop_id = p_shop_id AND c.total_purchases > 0
           AND (NOT p_repeat_only OR c.total_purchases >= 2)
           AND (v_phone IS NOT NULL AND c.phone_number = v_phone
                OR v_phone IS NULL AND (v_pattern IS NULL OR c.customer_name ILIKE v_pattern OR c.email ILIKE v_pattern))
           AND (p_after_id IS NULL
                OR (c.last_purchase_at, c.id) < ((p_after_value::timestamp AT TIME ZONE 'UTC'), p_after_id))
         ORDER BY c.last_purchase_at DESC, c.id DESC
         LIMIT v_limit;
    ELSIF p_sort = 'total_spent' THEN
        RETURN QUERY
        SELECT c.id, c.customer_name::text, c.phone_number::text, c.email::text, c.total_purchases,
               c.repeat_customer, c.total_spent, c.first_purchase_at, c.last_purchase_at,
               c.preferred_network::text, c.total_spent::text
          FROM @extschema@.shop_customers c
         WHERE c.shop_id = p_shop_id AND c.total_purchases > 0
           AND (NOT p_repeat_only OR c.total_purchases >= 2)
           AND (v_phone IS NOT NULL AND c.phone_number = v_phone
                OR v_phone IS NULL AND (v_pattern IS NULL OR c.customer_name ILIKE v_pattern OR c.email ILIKE v_pattern))
           AND (p_after_id IS NULL OR (c.total_spent, c.id) < (p_after_value::numeric, p_after_id))
         ORDER BY c.total_spent DESC, c.id DESC
         LIMIT v_limit;
    ELSE
        RETURN QUERY
        SELECT c.id, c.customer_name::text, c.phone_number::text, c.email::text, c.total_purchases,
               c.repeat_customer, c.total_spent, c.first_purchase_at, c.last_purchase_at,
               c.preferred_network::text, c.total_purchases::text
          FROM @extschema@.shop_customers c
         WHERE c.shop_id = p_shop_id AND c.total_purchases > 0
           AND (NOT p_repeat_only OR c.total_purchases >= 2)
           AND (v_phone IS NOT NULL AND c.phone_number = v_phone
                OR v_phone IS NULL AND (v_pattern IS NULL OR c.customer_name ILIKE v_pattern OR c.email ILIKE v_pattern))
           AND (p_after_id IS NULL OR (c.total_purchases, c.id) < (p_after_value::integer, p_after_id))
         ORDER BY c.total_purchases DESC, c.id DESC
         LIMIT v_limit;
    END IF;
END
$$;
COMMENT ON FUNCTION shop_customer_list(uuid, text, boolean, text, integer, text, uuid) IS
    'The Customers page: customers with a purchase, newest purchase / biggest spend / most purchases '
    'first. Search by name, email or phone (any format). Next page: pass the last row''s sort_value '
    'and id as p_after_value and p_after_id (keyset: page 1,000 costs what page 1 does).';

CREATE FUNCTION customer_purchase_history(p_customer_id uuid)
RETURNS TABLE (order_id uuid, created_at timestamptz, amount numeric, network text, slug text,
               payment_status text, purchase_completed boolean, completed_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_shop uuid;
    v_id name := (SELECT c.column_name FROM @extschema@.customer_tracking_columns() c WHERE c.field = 'id');
    v_status name := (SELECT c.column_name FROM @extschema@.customer_tracking_columns() c WHERE c.field = 'payment_status');
    v_shop_col name := (SELECT c.column_name FROM @extschema@.customer_tracking_columns() c WHERE c.field = 'shop_id');
    v_has_status boolean;
BEGIN
    v_has_status := v_status <> '' AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = '@extschema@.shop_orders'::regclass AND a.attname = v_status AND NOT a.attisdropped);
    -- It also shows the orders' status from the host's shop_orders: a role that may not read
    -- what it reads gets an error naming this function, not a table.
    IF NOT has_table_privilege('@extschema@.shop_customers', 'SELECT')
       OR NOT has_table_privilege('@extschema@.customer_tracking', 'SELECT')
       OR NOT has_column_privilege('@extschema@.shop_orders', v_id::text, 'SELECT')
       OR v_has_status AND NOT has_column_privilege('@extschema@.shop_orders', v_status::text, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for function customer_purchase_history'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('It reads shop_customers, customer_tracking and shop_orders.%s; role %s may not read all of them.',
                                  CASE WHEN v_has_status THEN v_status ELSE v_id END, current_user);
    END IF;
    SELECT c.shop_id INTO v_shop FROM @extschema@.shop_customers c WHERE c.id = p_customer_id;
    IF v_shop IS NULL THEN
        RETURN;   -- no such customer, or not the caller's
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT t.shop_order_id, t.accessed_at, t.purchase_amount, t.network::text, t.accessed_via_slug::text,
               %s, t.purchase_completed, t.completed_at
          FROM @extschema@.customer_tracking t
          LEFT JOIN @extschema@.shop_orders o ON o.%I = t.shop_order_id AND o.%I = t.shop_id
         WHERE t.shop_customer_id = $1 AND t.shop_id = $2
         ORDER BY t.accessed_at DESC, t.id DESC$q$,
        CASE WHEN v_has_status THEN format('o.%I::text', v_status) ELSE 'NULL::text' END, v_id, v_shop_col)
    USING p_customer_id, v_shop;
END
$$;
COMMENT ON FUNCTION customer_purchase_history(uuid) IS
    'A customer''s orders, newest first: amount, network, slug, payment status, whether it counts as a purchase.';

CREATE FUNCTION shop_network_analytics(p_shop_id uuid)
RETURNS TABLE (network text, customers_preferring bigint, purchases bigint, revenue numeric)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    -- A role that may not read what it reads gets an error naming this function (not the
    -- statement below as context).
    IF NOT has_table_privilege('@extschema@.customer_tracking_network_totals', 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for function shop_network_analytics'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('It reads customer_tracking_network_totals; role %s may not read it.', current_user);
    END IF;
    RETURN QUERY
    SELECT r.network, sum(r.customers_preferring)::bigint, sum(r.purchases)::bigint, sum(r.revenue)
      FROM @extschema@.customer_tracking_network_totals r
     WHERE r.shop_id = p_shop_id
     GROUP BY r.network
    HAVING sum(r.customers_preferring) <> 0 OR sum(r.purchases) <> 0
     ORDER BY 2 DESC, 3 DESC, 1;
END
$$;
COMMENT ON FUNCTION shop_network_analytics(uuid) IS
    'Per network: customers whose preferred network it is, purchases and revenue.';

CREATE FUNCTION shop_purchase_frequency(p_shop_id uuid)
RETURNS TABLE (purchases integer, customers bigint, share numeric)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    -- A role that may not read what it reads gets an error naming this function (not the
    -- statement below as context).
    IF NOT has_table_privilege('@extschema@.customer_tracking_frequency', 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for function shop_purchase_frequency'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('It reads customer_tracking_frequency; role %s may not read it.', current_user);
    END IF;
    RETURN QUERY
    SELECT f.purchases, f.customers,
           round(100.0 * f.customers / nullif(sum(f.customers) OVER (), 0), 1)
      FROM (SELECT r.purchases, sum(r.customers)::bigint AS customers
              FROM @extschema@.customer_tracking_frequency r
             WHERE r.shop_id = p_shop_id
             GROUP BY r.purchases HAVING sum(r.customers) <> 0) f
     ORDER BY f.purchases;
END
$$;
COMMENT ON FUNCTION shop_purchase_frequency(uuid) IS
    'How many customers have made 1, 2, 3, ... purchases, and their share (%).';

CREATE FUNCTION shop_last_purchase_decay(p_shop_id uuid, p_as_of timestamptz DEFAULT now())
RETURNS TABLE (bucket text, min_days integer, max_days integer, customers bigint, churn_risk text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    -- A role that may not read what it reads gets an error naming this function (not the
    -- statement below as context).
    IF NOT has_table_privilege('@extschema@.customer_tracking_daily', 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for function shop_last_purchase_decay'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('It reads customer_tracking_daily; role %s may not read it.', current_user);
    END IF;
    RETURN QUERY
    WITH b(bucket, min_days, max_days, churn_risk, n) AS (VALUES
        ('0-7 days', 0, 7, 'low', 1), ('8-30 days', 8, 30, 'medium', 2),
        ('31-90 days', 31, 90, 'high', 3), ('91+ days', 91, NULL, 'lost', 4))
    SELECT b.bucket, b.min_days, b.max_days,
           coalesce((SELECT sum(d.last_purchasers) FROM @extschema@.customer_tracking_daily d
                      WHERE d.shop_id = p_shop_id
                        AND d.day <= (p_as_of AT TIME ZONE 'UTC')::date - b.min_days
                        AND (b.max_days IS NULL OR d.day >= (p_as_of AT TIME ZONE 'UTC')::date - b.max_days)), 0)::bigint,
           b.churn_risk
      FROM b ORDER BY b.n;
END
$$;
COMMENT ON FUNCTION shop_last_purchase_decay(uuid, timestamptz) IS
    'Customers by whole UTC days since their last purchase, in churn-risk buckets.';

CREATE FUNCTION shop_daily_series(p_shop_id uuid, p_from date DEFAULT NULL, p_to date DEFAULT NULL)
RETURNS TABLE (day date, purchases bigint, revenue numeric, new_customers bigint, checkouts bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    -- A role that may not read what it reads gets an error naming this function (not the
    -- statement below as context).
    IF NOT has_table_privilege('@extschema@.customer_tracking_daily', 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for function shop_daily_series'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('It reads customer_tracking_daily; role %s may not read it.', current_user);
    END IF;
    RETURN QUERY
    WITH bounds AS (
        SELECT coalesce(p_to, (now() AT TIME ZONE 'UTC')::date) AS hi,
               coalesce(p_from, coalesce(p_to, (now() AT TIME ZONE 'UTC')::date) - 29) AS lo
    )
    SELECT g.day::date, coalesce(r.purchases, 0), coalesce(r.revenue, 0), coalesce(r.new_customers, 0),
           coalesce(r.checkouts, 0)
      FROM bounds, generate_series(bounds.lo, bounds.hi, interval '1 day') AS g(day)
      LEFT JOIN (SELECT d.day, sum(d.purchases)::bigint AS purchases, sum(d.revenue) AS revenue,
                        sum(d.new_customers)::bigint AS new_customers, sum(d.checkouts)::bigint AS checkouts
                   FROM @extschema@.customer_tracking_daily d, bounds
                  WHERE d.shop_id = p_shop_id AND d.day BETWEEN bounds.lo AND bounds.hi
                  GROUP BY d.day) r ON r.day = g.day::date
     ORDER BY 1;
END
$$;
COMMENT ON FUNCTION shop_daily_series(uuid, date, date) IS
    'Per UTC day from p_from to p_to (default: the last 30 days): purchases, revenue, new customers '
    'and checkouts, zeros included, for charts.';

--------------------------------------------------------------------------------
-- Privileges on functions: maintenance is for the DBA (the extension owner);
-- dashboard functions run with the caller's rights, so everyone may call them.
--------------------------------------------------------------------------------
REVOKE EXECUTE ON FUNCTION customer_tracking_attach(), customer_tracking_check_host(),
    customer_tracking_invalidate(), customer_tracking_map_column(text, name),
    customer_tracking_set_statuses(text, text), customer_tracking_recompute(uuid, uuid),
    customer_tracking_backfill(uuid), customer_tracking_backfill_shop(uuid), customer_tracking_verify(uuid),
    customer_tracking_verify_rollups(uuid), customer_tracking_expected_orders(uuid),
    customer_tracking_problems(uuid, boolean), customer_tracking_repair_rollups(uuid),
    customer_tracking_decode_order(record), customer_tracking_host_state(),
    customer_tracking_set_naive_time_zone(text), customer_tracking_apply_pending(),
    customer_tracking_backfill_decode(uuid[]), customer_tracking_backfill_orders(uuid[]),
    customer_tracking_lock_shops(uuid[]), customer_tracking_progress_begin(text, bigint, bigint, bigint),
    customer_tracking_progress_set(text, bigint, bigint, bigint, bigint, bigint, bigint),
    customer_tracking_progress_end(), customer_tracking_progress_info(),
    customer_tracking_tracked_shops(), customer_tracking_backfill_chunks(uuid, uuid, bigint),
    customer_tracking_backfill_customers(uuid[]), customer_tracking_problems_of(uuid[], boolean),
    customer_tracking_orders_distributed()
    FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE customer_tracking_backfill_all(integer, boolean) FROM PUBLIC;
DO $revoke$
DECLARE
    r record;
BEGIN
    -- Also from roles that default privileges granted EXECUTE to.
    FOR r IN
        SELECT DISTINCT p.oid::regprocedure AS fn, a.grantee::regrole AS grantee
          FROM pg_catalog.pg_proc p, LATERAL pg_catalog.aclexplode(p.proacl) a
         WHERE p.pronamespace = '@extschema@'::regnamespace AND a.grantee <> 0 AND a.grantee <> p.proowner
           AND p.proname IN ('customer_tracking_attach', 'customer_tracking_check_host',
                             'customer_tracking_invalidate', 'customer_tracking_map_column',
                             'customer_tracking_set_statuses', 'customer_tracking_recompute',
                             'customer_tracking_backfill', 'customer_tracking_backfill_shop',
                             'customer_tracking_verify', 'customer_tracking_verify_rollups',
                             'customer_tracking_expected_orders',
                             'customer_tracking_problems', 'customer_tracking_repair_rollups',
                             'customer_tracking_health', 'customer_tracking_decode_order',
                             'customer_tracking_host_state', 'customer_tracking_set_naive_time_zone',
                             'customer_tracking_apply_pending', 'customer_tracking_backfill_decode',
                             'customer_tracking_backfill_orders', 'customer_tracking_lock_shops',
                             'customer_tracking_progress_begin', 'customer_tracking_progress_set',
                             'customer_tracking_progress_end', 'customer_tracking_progress_info',
                             'customer_tracking_tracked_shops', 'customer_tracking_backfill_chunks',
                             'customer_tracking_backfill_customers', 'customer_tracking_problems_of',
                             'customer_tracking_orders_distributed', 'customer_tracking_backfill_all')
    LOOP
        EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM %s', r.fn, r.grantee);
    END LOOP;
END
$revoke$;

-- 1.4: the DDL guard (src/host_guard.cpp). Created last: the install's own DDL is done.
CREATE EVENT TRIGGER customer_tracking_ddl_guard_start ON ddl_command_start
    EXECUTE FUNCTION customer_tracking_ddl_guard();
CREATE EVENT TRIGGER customer_tracking_ddl_guard_end ON ddl_command_end
    EXECUTE FUNCTION customer_tracking_ddl_guard();

--------------------------------------------------------------------------------
-- 1.1
--------------------------------------------------------------------------------
\echo Use "ALTER EXTENSION customer_tracking UPDATE TO '1.1'" to load this file. \quit

-- One row: is tracking attached and enabled, how much is tracked, what is not.
CREATE FUNCTION customer_tracking_health()
RETURNS TABLE (version text, triggers_enabled boolean, shops bigint, customers bigint,
               tracked_orders bigint, untracked_orders bigint, open_issues jsonb, host_drift jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    SELECT (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'customer_tracking'),
           (SELECT count(*) = 3 AND bool_and(t.tgenabled IN ('O', 'A'))
              FROM pg_catalog.pg_trigger t
             WHERE t.tgrelid = to_regclass('@extschema@.shop_orders')
               AND t.tgname IN ('customer_tracking_link', 'customer_tracking_track', 'customer_tracking_truncate')),
           (SELECT count(DISTINCT c.shop_id) FROM @extschema@.shop_customers c),
           (SELECT count(*) FROM @extschema@.shop_customers c WHERE c.total_purchases > 0),
           (SELECT count(*) FROM @extschema@.customer_tracking t),
           (SELECT count(*) FROM @extschema@.customer_tracking_issues i WHERE i.untracked AND i.resolved_at IS NULL),
           (SELECT coalesce(jsonb_object_agg(x.issue, x.n), '{}'::jsonb)
              FROM (SELECT i.issue, count(*) AS n FROM @extschema@.customer_tracking_issues i
                     WHERE i.resolved_at IS NULL GROUP BY i.issue) x),
           -- 1.4: fields the host table no longer lets the extension read, and a DDL guard that
           -- is not there to stop such changes.
           (SELECT coalesce(jsonb_object_agg(d.k, d.v), '{}'::jsonb)
              FROM (SELECT h.field AS k, h.state || ': ' || h.detail AS v
                      FROM @extschema@.customer_tracking_host_state() h
                     WHERE h.state IN ('drift', 'ignored')
                    UNION ALL
                    SELECT g.name, 'the DDL guard event trigger is ' ||
                           CASE WHEN e.evtenabled IS NULL THEN 'missing' ELSE 'disabled' END
                      FROM (VALUES ('customer_tracking_ddl_guard_start'),
                                   ('customer_tracking_ddl_guard_end')) g(name)
                      LEFT JOIN pg_catalog.pg_event_trigger e ON e.evtname = g.name
                     WHERE e.evtenabled IS DISTINCT FROM 'O' AND e.evtenabled IS DISTINCT FROM 'A') d)
$$;
COMMENT ON FUNCTION customer_tracking_health() IS
    'Tracking status for DBAs: version, whether the triggers are enabled, counts of shops, customers, '
    'tracked and untracked orders, open issues by reason, and host drift (fields that cannot be '
    'read, a missing or disabled DDL guard).';
REVOKE EXECUTE ON FUNCTION customer_tracking_health() FROM PUBLIC;
DO $revoke$
DECLARE
    r record;
BEGIN
    -- Also from roles that default privileges granted EXECUTE to.
    FOR r IN
        SELECT a.grantee::regrole AS grantee
          FROM pg_catalog.aclexplode((SELECT p.proacl FROM pg_catalog.pg_proc p
                                       WHERE p.oid = '@extschema@.customer_tracking_health()'::regprocedure)) a
         WHERE a.grantee <> 0
           AND a.grantee <> (SELECT p.proowner FROM pg_catalog.pg_proc p
                              WHERE p.oid = '@extschema@.customer_tracking_health()'::regprocedure)
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION @extschema@.customer_tracking_health() FROM %s', r.grantee);
    END LOOP;
END
$revoke$;

--------------------------------------------------------------------------------
-- 1.4, roles (issue 10): dashboard functions are for the roles that may read
-- the extension's tables, so any other role gets "permission denied for
-- function ..." when it calls one, not an error from inside it. Where
-- Supabase's roles exist those are authenticated and service_role (anon and
-- other roles, also ones Supabase's default privileges granted EXECUTE to,
-- may not call them); elsewhere every role may (row-level security decides).
--------------------------------------------------------------------------------
DO $dashboard_grants$
DECLARE
    r record;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticated')
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        FOR r IN
            SELECT DISTINCT p.oid::regprocedure AS fn,
                   CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS grantee
              FROM pg_catalog.pg_proc p,
                   LATERAL pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
             WHERE p.pronamespace = '@extschema@'::regnamespace AND a.grantee <> p.proowner
               AND p.proname IN ('shop_customer_metrics', 'shop_customer_overview', 'shop_slug_analytics',
                                 'shop_customer_list', 'customer_purchase_history', 'shop_network_analytics',
                                 'shop_purchase_frequency', 'shop_last_purchase_decay', 'shop_daily_series',
                                 'customer_tracking_new_customers')
             ORDER BY 1, 2
        LOOP
            EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %s', r.fn, r.grantee);
        END LOOP;
        GRANT EXECUTE ON FUNCTION
            @extschema@.shop_customer_metrics(uuid, timestamptz), @extschema@.shop_customer_overview(uuid, text),
            @extschema@.shop_slug_analytics(uuid, timestamptz, timestamptz),
            @extschema@.shop_customer_list(uuid, text, boolean, text, integer, text, uuid),
            @extschema@.customer_purchase_history(uuid), @extschema@.shop_network_analytics(uuid),
            @extschema@.shop_purchase_frequency(uuid), @extschema@.shop_last_purchase_decay(uuid, timestamptz),
            @extschema@.shop_daily_series(uuid, date, date),
            @extschema@.customer_tracking_new_customers(uuid, timestamptz, timestamptz)
            TO authenticated, service_role;
    END IF;
END
$dashboard_grants$;

-- Citus: distributing the host tables and the extension's by shop
-- (issue 11; groundwork). On a Citus coordinator, customer_tracking_distribute()
-- makes user_shops a reference table, distributes shop_orders by its shop
-- column and the extension's tables by shop_id colocated with it
-- (customer_tracking_settings, which holds no shop, becomes a reference table).
-- customer_tracking_distribution_problems() lists what must change first.
--------------------------------------------------------------------------------
-- The extension's tables and how each is distributed: 'reference' or 'shop' (by shop_id,
-- colocated with shop_orders), in the order customer_tracking_distribute() distributes them.
CREATE FUNCTION customer_tracking_distributed_tables(OUT table_name name, OUT method text)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    VALUES ('customer_tracking_settings'::name, 'reference'),
           ('shop_customers', 'shop'),
           ('customer_tracking', 'shop'),
           ('customer_tracking_slug_customers', 'shop'),
           ('customer_tracking_issues', 'shop'),
           ('customer_tracking_shop_totals', 'shop'),
           ('customer_tracking_daily', 'shop'),
           ('customer_tracking_slug_daily', 'shop'),
           ('customer_tracking_network_totals', 'shop'),
           ('customer_tracking_frequency', 'shop')
$$;

-- Everything that keeps customer_tracking_distribute() from distributing, one row per change to
-- make (fix: the statement, or what to do). Empty when it can run. Only on a Citus coordinator.
CREATE FUNCTION customer_tracking_distribution_problems()
RETURNS TABLE (table_name regclass, problem text, fix text)
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_orders regclass := to_regclass('@extschema@.shop_orders');
    v_shops regclass := to_regclass('@extschema@.user_shops');
    v_shop_col name := (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'shop_id');
    v_rel regclass;
    v_method text;
    v_col name;
    v_kind text;
    v_dist_col name;
    v_ext regclass[];
    v_colocated regclass[];
    r record;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        table_name := NULL;
        problem := 'Citus is not installed in this database';
        fix := 'CREATE EXTENSION citus; (with citus in shared_preload_libraries), then add the workers';
        RETURN NEXT;
        RETURN;
    END IF;
    IF (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g) <> 0 THEN
        table_name := NULL;
        problem := 'this node is a Citus worker';
        fix := 'run customer_tracking_distribute() on the coordinator';
        RETURN NEXT;
        RETURN;
    END IF;
    IF v_orders IS NULL OR v_shops IS NULL THEN
        table_name := NULL;
        problem := 'the host tables are missing';
        fix := 'create user_shops and shop_orders and run SELECT customer_tracking_attach();';
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT array_agg(format('%I.%I', '@extschema@', d.table_name)::regclass) INTO v_ext
      FROM customer_tracking_distributed_tables() d;
    -- Tables that are (or will be) distributed by shop, colocated with shop_orders.
    v_colocated := v_ext || v_orders;

    -- What each table is now, and must become.
    FOR v_rel, v_method, v_col IN
        SELECT v_shops, 'reference', NULL::name
        UNION ALL SELECT v_orders, 'shop', v_shop_col
        UNION ALL SELECT format('%I.%I', '@extschema@', d.table_name)::regclass, d.method,
                         CASE WHEN d.method = 'shop' THEN 'shop_id'::name END
                    FROM customer_tracking_distributed_tables() d
    LOOP
        SELECT CASE WHEN p.partmethod = 'h' THEN 'distributed'
                    WHEN p.partmethod = 'n' AND p.repmodel = 't' THEN 'reference'
                    WHEN p.partmethod = 'n' THEN 'citus local'
                    ELSE 'distributed (' || p.partmethod::text || ')' END,
               CASE WHEN p.partmethod = 'h' THEN column_to_column_name(p.logicalrelid, p.partkey)::name END
          INTO v_kind, v_dist_col
          FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = v_rel;
        IF v_method = 'reference' AND v_kind IS NOT NULL AND v_kind NOT IN ('reference', 'citus local') THEN
            RETURN QUERY SELECT v_rel, format('%s is a %s table; it must be a reference table', v_rel, v_kind),
                                format('SELECT undistribute_table(%L);', v_rel::text);
        END IF;
        IF v_method = 'shop' AND v_kind IS NOT NULL AND v_kind NOT IN ('citus local')
           AND (v_kind <> 'distributed' OR v_dist_col <> v_col) THEN
            RETURN QUERY SELECT v_rel, format('%s is a %s table%s; it must be distributed by %I', v_rel, v_kind,
                                              CASE WHEN v_dist_col IS NOT NULL THEN format(' by %I', v_dist_col) ELSE '' END, v_col),
                                CASE WHEN v_kind = 'distributed' THEN format('SELECT alter_distributed_table(%L, %L);', v_rel::text, v_col)
                                     ELSE format('SELECT undistribute_table(%L);', v_rel::text) END;
        END IF;
        CONTINUE WHEN v_method <> 'shop' OR v_kind = 'distributed';

        -- Citus: every unique constraint, unique index and exclusion constraint of a distributed
        -- table includes the distribution column.
        FOR r IN
            SELECT i.indexrelid::regclass AS idx, c.conname, c.contype,
                   (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
                      FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(att, n)
                      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.att
                     WHERE k.n <= i.indnkeyatts) AS cols,
                   (SELECT bool_or(k.att = 0) FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(att, n)
                     WHERE k.n <= i.indnkeyatts) AS has_expression
              FROM pg_catalog.pg_index i
              LEFT JOIN pg_catalog.pg_constraint c
                ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')
             WHERE i.indrelid = v_rel AND (i.indisunique OR c.contype = 'x')
               AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(att, n)
                                WHERE k.n <= i.indnkeyatts
                                  AND k.att = (SELECT a.attnum FROM pg_catalog.pg_attribute a
                                                WHERE a.attrelid = v_rel AND a.attname = v_col AND NOT a.attisdropped))
             ORDER BY c.contype = 'p' DESC, 1::text
        LOOP
            table_name := v_rel;
            problem := format('%s %s (%s) does not include %I (Citus: every unique key of a distributed table includes its distribution column)',
                              CASE r.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique constraint'
                                             WHEN 'x' THEN 'exclusion constraint' ELSE 'unique index' END,
                              coalesce(quote_ident(r.conname), r.idx::text), r.cols, v_col);
            IF v_rel <> v_orders THEN
                fix := 'a customer_tracking version whose keys include shop_id (ALTER EXTENSION customer_tracking UPDATE)';
            ELSIF r.contype = 'p' THEN
                -- Two statements: Citus refuses ADD CONSTRAINT with other subcommands once the table is in its metadata.
                fix := format('ALTER TABLE %s DROP CONSTRAINT %I; ALTER TABLE %s ADD PRIMARY KEY (%s, %I);',
                              v_rel, r.conname, v_rel, r.cols, v_col);
            ELSIF r.contype = 'u' THEN
                fix := format('ALTER TABLE %s DROP CONSTRAINT %I; ALTER TABLE %s ADD CONSTRAINT %I UNIQUE (%s, %I);',
                              v_rel, r.conname, v_rel, r.conname, r.cols, v_col);
            ELSIF r.contype = 'x' THEN
                fix := format('recreate %I with %I WITH = among its elements, or drop it', r.conname, v_col);
            ELSIF r.has_expression THEN
                fix := format('DROP INDEX %s; then create it again with %I among its key columns', r.idx, v_col);
            ELSE
                fix := format('DROP INDEX %s; CREATE UNIQUE INDEX %I ON %s (%s, %I);',
                              r.idx, (SELECT relname FROM pg_catalog.pg_class WHERE oid = r.idx), v_rel, r.cols, v_col);
            END IF;
            RETURN NEXT;
        END LOOP;

        -- Citus: no subqueries in the policies of a distributed table.
        FOR r IN
            SELECT p.polname FROM pg_catalog.pg_policy p
             WHERE p.polrelid = v_rel
               AND (p.polqual::text LIKE '%{SUBLINK %' OR p.polwithcheck::text LIKE '%{SUBLINK %')
             ORDER BY 1
        LOOP
            table_name := v_rel;
            problem := format('policy %I has a subquery (Citus: subqueries are not supported in policies on distributed tables)',
                              r.polname);
            fix := CASE WHEN v_rel = v_orders
                        THEN format('rewrite policy %I without a subquery (e.g. call a function)', r.polname)
                        ELSE 'a customer_tracking version whose policies have no subquery (ALTER EXTENSION customer_tracking UPDATE)' END;
            RETURN NEXT;
        END LOOP;
    END LOOP;

    -- The distribution column's type: colocation needs the same type everywhere.
    IF (SELECT a.atttypid FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_orders AND a.attname = v_shop_col AND NOT a.attisdropped) <> 'uuid'::regtype THEN
        RETURN QUERY SELECT v_orders,
            format('shop_orders.%I is not a uuid: the extension''s tables, colocated with shop_orders, are distributed by uuid shop_id', v_shop_col),
            format('ALTER TABLE %s ALTER COLUMN %I TYPE uuid USING %I::uuid;', v_orders, v_shop_col, v_shop_col);
    END IF;

    -- Foreign keys. Citus: a key between distributed tables joins colocated tables on the
    -- distribution column; a distributed or reference table may reference a reference table
    -- (and so may a local table, which Citus then adds to its metadata); nothing references a
    -- distributed table from outside its colocation group; a reference table references only
    -- reference tables; and a key including the distribution column neither SETs NULL/DEFAULT on
    -- delete nor SETs or CASCADEs on update.
    FOR r IN
        SELECT c.conname, c.conrelid::regclass AS src, c.confrelid::regclass AS dst, c.confdeltype, c.confupdtype,
               (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
                  FROM unnest(c.conkey) WITH ORDINALITY k(att, n)
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att) AS cols,
               (SELECT p.partmethod::text || p.repmodel::text FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = c.confrelid) AS dst_kind,
               (SELECT p.partmethod::text || p.repmodel::text FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = c.conrelid) AS src_kind
          FROM pg_catalog.pg_constraint c
         WHERE c.contype = 'f'
           AND (c.conrelid IN (v_orders, v_shops) OR c.confrelid = v_orders
                OR c.conrelid = ANY (v_ext) OR c.confrelid = ANY (v_ext))
         ORDER BY 2::text, 1
    LOOP
        table_name := r.src;
        IF r.src = v_shops AND r.dst <> v_shops AND r.dst <> ALL (v_ext) AND coalesce(r.dst_kind, '') <> 'nt' THEN
            problem := format('foreign key %I references %s, which is not a reference table (Citus: a reference table references only reference tables)',
                              r.conname, r.dst);
            fix := format('SELECT create_reference_table(%L); or ALTER TABLE %s DROP CONSTRAINT %I;', r.dst::text, r.src, r.conname);
            RETURN NEXT;
        ELSIF r.dst = v_orders AND r.src <> ALL (v_colocated) AND coalesce(r.src_kind, '') NOT LIKE 'h%' THEN
            problem := format('foreign key %I references shop_orders (Citus: only tables distributed by shop, colocated with shop_orders, may reference it)',
                              r.conname);
            fix := format('distribute %s by its shop column with colocate_with => %L and make the key include it, or ALTER TABLE %s DROP CONSTRAINT %I;',
                          r.src, v_orders::text, r.src, r.conname);
            RETURN NEXT;
        ELSIF r.src = ANY (v_colocated) AND r.dst <> v_shops AND r.dst <> ALL (v_colocated)
              AND coalesce(r.dst_kind, '') NOT IN ('nt') AND coalesce(r.dst_kind, '') NOT LIKE 'h%' THEN
            problem := format('foreign key %I references %s, a local table (Citus: a distributed table references only reference tables and colocated tables)',
                              r.conname, r.dst);
            fix := format('SELECT create_reference_table(%L); or ALTER TABLE %s DROP CONSTRAINT %I;', r.dst::text, r.src, r.conname);
            RETURN NEXT;
        ELSIF r.src = ANY (v_colocated) AND r.dst = ANY (v_colocated)
              AND NOT (CASE WHEN r.src = v_orders THEN v_shop_col ELSE 'shop_id' END)::text = ANY (string_to_array(replace(r.cols, '"', ''), ', ')) THEN
            problem := format('foreign key %I (%s) between tables distributed by shop does not include the shop column', r.conname, r.cols);
            fix := CASE WHEN r.src = ANY (v_ext) THEN 'a customer_tracking version whose keys include shop_id (ALTER EXTENSION customer_tracking UPDATE)'
                        ELSE format('ALTER TABLE %s DROP CONSTRAINT %I; then add it again with the shop column', r.src, r.conname) END;
            RETURN NEXT;
        END IF;
        IF r.src = ANY (v_colocated)
           AND (CASE WHEN r.src = v_orders THEN v_shop_col ELSE 'shop_id' END)::text = ANY (string_to_array(replace(r.cols, '"', ''), ', '))
           AND (r.confdeltype IN ('n', 'd') OR r.confupdtype IN ('n', 'd', 'c')) THEN
            problem := format('foreign key %I (%s) includes the shop column and has ON %s %s (Citus: not with the distribution column)',
                              r.conname, r.cols, CASE WHEN r.confdeltype IN ('n', 'd') THEN 'DELETE' ELSE 'UPDATE' END,
                              CASE WHEN r.confdeltype = 'n' OR (r.confdeltype NOT IN ('n', 'd') AND r.confupdtype = 'n') THEN 'SET NULL'
                                   WHEN r.confdeltype = 'd' OR r.confupdtype = 'd' THEN 'SET DEFAULT' ELSE 'CASCADE' END);
            fix := CASE WHEN r.src = ANY (v_ext) THEN 'a customer_tracking version without that action (ALTER EXTENSION customer_tracking UPDATE)'
                        ELSE format('ALTER TABLE %s DROP CONSTRAINT %I; then add it again with ON DELETE CASCADE, RESTRICT or NO ACTION (and no ON UPDATE action)', r.src, r.conname) END;
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_tracking_distribution_problems() IS
    'What keeps customer_tracking_distribute() from distributing on this Citus cluster: one row per change '
    'to make first, with the statement (or what to do). No rows when it can run.';

-- Distributes, on a Citus coordinator, whatever of the host tables and the extension's is still
-- local, in one transaction: user_shops (reference table), customer_tracking_settings
-- (reference), shop_orders (by its shop column), then the extension's tables by shop_id,
-- colocated with shop_orders. Fails with one message naming every change needed first.
CREATE FUNCTION customer_tracking_distribute()
RETURNS TABLE (table_name regclass, distribution text, action text)
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    -- By name, never by OID: Citus replaces a table by a new one of the same name when it adds
    -- it to its metadata (making user_shops a reference table turns shop_orders, which
    -- references it, into a "Citus local" table: the old OID is then its shard).
    v_orders text := format('%I.shop_orders', '@extschema@');
    v_shops text := format('%I.user_shops', '@extschema@');
    v_shop_col name := (SELECT c.column_name FROM customer_tracking_columns() c WHERE c.field = 'shop_id');
    v_problems text;
    v_rel text;
    v_method text;
    v_kind text;
    v_done text[] := '{}';
    v_triggers text[];
    v_trigger text;
BEGIN
    SELECT string_agg(format('%s- %s%s: %s', E'\n', coalesce(p.table_name::text || ': ', ''), p.problem, p.fix), '' ORDER BY n)
      INTO v_problems
      FROM customer_tracking_distribution_problems() WITH ORDINALITY AS p(table_name, problem, fix, n);
    IF v_problems IS NOT NULL THEN
        RAISE EXCEPTION 'customer_tracking: cannot distribute yet; change first:%', v_problems
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'SELECT * FROM customer_tracking_distribution_problems(); lists them. Nothing was changed.';
    END IF;

    -- No order, shop or tracking write while the tables move: the derived rows are copied
    -- consistent with the orders. shop_orders first: a transaction writing orders writes the
    -- extension's tables at its commit.
    EXECUTE format('LOCK TABLE %s, %s IN EXCLUSIVE MODE', v_shops, v_orders);
    FOR v_rel IN SELECT format('%I.%I', '@extschema@', d.table_name) FROM customer_tracking_distributed_tables() d LOOP
        EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE', v_rel);
    END LOOP;

    -- Citus refuses triggers on distributed tables without it (and creates them on every shard).
    PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
    -- The tracking triggers stay off while the tables move: copying the orders into the shards
    -- of shop_orders would fire them there, and truncating the coordinator's local copy of
    -- shop_orders (truncate_local_data_after_distributing_table) would fire the TRUNCATE trigger,
    -- which empties the (then distributed) tracking tables. The copied extension tables already
    -- count every order.
    SELECT array_agg(t.tgname::text) INTO v_triggers
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid = v_orders::regclass AND t.tgenabled <> 'D'
       AND t.tgname IN ('customer_tracking_link', 'customer_tracking_track', 'customer_tracking_truncate');
    FOREACH v_trigger IN ARRAY coalesce(v_triggers, '{}') LOOP
        EXECUTE format('ALTER TABLE %s DISABLE TRIGGER %I', v_orders, v_trigger);
    END LOOP;

    FOR v_rel, v_method IN
        SELECT v_shops, 'reference'
        UNION ALL
        SELECT format('%I.%I', '@extschema@', d.table_name), d.method
          FROM customer_tracking_distributed_tables() d WHERE d.method = 'reference'
        UNION ALL SELECT v_orders, 'shop'
        UNION ALL
        SELECT format('%I.%I', '@extschema@', d.table_name), d.method
          FROM customer_tracking_distributed_tables() d WHERE d.method = 'shop'
    LOOP
        SELECT CASE WHEN p.partmethod = 'h' THEN 'shop' WHEN p.repmodel = 't' THEN 'reference' END
          INTO v_kind FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = v_rel::regclass;
        distribution := CASE WHEN v_method = 'reference' THEN 'reference'
                             WHEN v_rel = v_orders THEN format('by %I', v_shop_col)
                             ELSE format('by shop_id, colocated with %s', v_orders) END;
        IF v_kind IS NOT DISTINCT FROM v_method THEN
            action := 'already';
        ELSIF v_method = 'reference' THEN
            PERFORM create_reference_table(v_rel::regclass);
            v_done := v_done || v_rel;
            action := 'distributed';
        ELSIF v_rel = v_orders THEN
            PERFORM create_distributed_table(v_rel::regclass, v_shop_col::text);
            v_done := v_done || v_rel;
            action := 'distributed';
        ELSE
            PERFORM create_distributed_table(v_rel::regclass, 'shop_id', colocate_with => v_orders);
            v_done := v_done || v_rel;
            action := 'distributed';
        END IF;
        table_name := v_rel::regclass;
        RETURN NEXT;
    END LOOP;

    -- The coordinator's local copies of the moved rows (Citus leaves them on disk, unread).
    -- Referencing tables first (truncating user_shops's copy cascades to shop_orders's).
    FOR v_rel IN SELECT u.t FROM unnest(v_done) WITH ORDINALITY u(t, n) ORDER BY u.t = v_shops, u.n DESC LOOP
        PERFORM truncate_local_data_after_distributing_table(v_rel::regclass);
    END LOOP;

    FOREACH v_trigger IN ARRAY coalesce(v_triggers, '{}') LOOP
        EXECUTE format('ALTER TABLE %s ENABLE TRIGGER %I', v_orders, v_trigger);
    END LOOP;

    -- Maintenance of one shop runs on the node holding it: Citus runs these calls there
    -- (force_delegation: also inside a transaction, e.g. from customer_tracking_backfill()).
    PERFORM create_distributed_function(f::regprocedure, 'p_shop_id', colocate_with => v_orders,
                                        force_delegation => true)
       FROM unnest(ARRAY[format('%I.customer_tracking_backfill_shop(uuid)', '@extschema@'),
                         format('%I.customer_tracking_recompute(uuid, uuid)', '@extschema@'),
                         format('%I.customer_tracking_repair_rollups(uuid)', '@extschema@')]) f;
END
$$;
COMMENT ON FUNCTION customer_tracking_distribute() IS
    'On a Citus coordinator: makes user_shops and customer_tracking_settings reference tables, distributes '
    'shop_orders by shop and the extension''s tables by shop_id colocated with it (those still local), '
    'in one transaction. Fails with one message naming every change needed first '
    '(customer_tracking_distribution_problems()).';
REVOKE EXECUTE ON FUNCTION customer_tracking_distribution_problems(), customer_tracking_distribute() FROM PUBLIC;
DO $revoke$
DECLARE
    r record;
BEGIN
    -- Also from roles that default privileges granted EXECUTE to.
    FOR r IN
        SELECT DISTINCT p.oid::regprocedure AS fn, a.grantee::regrole AS grantee
          FROM pg_catalog.pg_proc p, LATERAL pg_catalog.aclexplode(p.proacl) a
         WHERE p.pronamespace = '@extschema@'::regnamespace AND a.grantee <> 0 AND a.grantee <> p.proowner
           AND p.proname IN ('customer_tracking_distribution_problems', 'customer_tracking_distribute')
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %s', r.fn, r.grantee);
    END LOOP;
END
$revoke$;
