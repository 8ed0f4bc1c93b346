-- customer_tracking 1.0: per-shop customers, lifetime value and attribution,
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
        CHECK (setting IN ('paid_statuses', 'unpaid_statuses') OR setting LIKE 'column:%'),
    value   text NOT NULL
);
COMMENT ON TABLE customer_tracking_settings IS
    'customer_tracking configuration: column:<field> maps a shop_orders field to a column '
    '(empty value = the column does not exist); paid_statuses / unpaid_statuses are '
    'comma-separated, case-insensitive status lists. Change through '
    'customer_tracking_map_column() / customer_tracking_set_statuses().';
SELECT pg_catalog.pg_extension_config_dump('customer_tracking_settings', '');

--------------------------------------------------------------------------------
-- Customers: one row per (shop, E.164 phone) with at least one linked order.
-- id is a name-based UUID (v5) of (shop_id, phone): the BEFORE trigger can
-- link an order without touching this table.
--------------------------------------------------------------------------------
CREATE TABLE shop_customers (
    id                 uuid PRIMARY KEY,
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
    id                 uuid PRIMARY KEY,
    shop_order_id      uuid NOT NULL,
    shop_customer_id   uuid NOT NULL
        REFERENCES shop_customers (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
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

CREATE FUNCTION customer_tracking_statuses(OUT paid text[], OUT unpaid text[])
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    SELECT coalesce((SELECT string_to_array(lower(replace(value, ' ', '')), ',')
                       FROM customer_tracking_settings WHERE setting = 'paid_statuses'),
                    ARRAY['completed', 'paid', 'success']),
           coalesce((SELECT string_to_array(lower(replace(value, ' ', '')), ',')
                       FROM customer_tracking_settings WHERE setting = 'unpaid_statuses'),
                    ARRAY['pending', 'processing', 'failed', 'refunded', 'cancelled',
                          'canceled', 'reversed', 'abandoned', 'expired', 'declined'])
$$;

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
END
$$;

--------------------------------------------------------------------------------
-- Owner identity and row-level security
--------------------------------------------------------------------------------
-- The current owner: Supabase's auth.uid() where the auth schema has it,
-- else the sub claim PostgREST puts in request.jwt.claims (or the older
-- request.jwt.claim.sub).
-- Which source applies is decided once, at CREATE EXTENSION: an auth schema
-- created later by someone else is never called (it would run with the rights
-- of customer_tracking_owned_shops()).
DO $owner$
BEGIN
    IF to_regprocedure('auth.uid()') IS NOT NULL
       AND (SELECT r.rolsuper OR r.rolname LIKE 'supabase%'
              FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_roles r ON r.oid = p.proowner
             WHERE p.oid = to_regprocedure('auth.uid()')) THEN
        -- auth.uid() casts the claim: a malformed one means nobody, not an error.
        CREATE FUNCTION customer_tracking_current_owner()
        RETURNS uuid
        LANGUAGE plpgsql STABLE
        SET search_path = pg_catalog, pg_temp
        AS 'BEGIN RETURN auth.uid(); EXCEPTION WHEN invalid_text_representation THEN RETURN NULL; END';
    ELSE
        CREATE FUNCTION customer_tracking_current_owner()
        RETURNS uuid
        LANGUAGE sql STABLE
        SET search_path = pg_catalog, pg_temp
        AS $$
            SELECT CASE WHEN s.sub ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                        THEN s.sub::uuid END
              FROM (SELECT coalesce(
                        CASE WHEN pg_catalog.current_setting('request.jwt.claims', true) ~ '^\s*\{'
                             THEN pg_catalog.current_setting('request.jwt.claims', true)::jsonb ->> 'sub' END,
                        nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), '')) AS sub) s
        $$;
    END IF;
END
$owner$;

-- Shops the current owner may see. SECURITY DEFINER so policies work whatever
-- the caller may read of user_shops.
CREATE FUNCTION customer_tracking_owned_shops()
RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    SELECT coalesce(array_agg(s.id), '{}')
      FROM @extschema@.user_shops s
     WHERE s.user_id = (SELECT @extschema@.customer_tracking_current_owner())  -- once, not per shop
$$;

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
    FOR SELECT USING (shop_id = ANY ((SELECT @extschema@.customer_tracking_owned_shops())::uuid[]));
CREATE POLICY customer_tracking_owner_select ON customer_tracking
    FOR SELECT USING (shop_id = ANY ((SELECT @extschema@.customer_tracking_owned_shops())::uuid[]));
CREATE POLICY customer_tracking_issues_owner_select ON customer_tracking_issues
    FOR SELECT USING (shop_id = ANY ((SELECT @extschema@.customer_tracking_owned_shops())::uuid[]));
CREATE POLICY owner_select ON customer_tracking_slug_customers
    FOR SELECT USING (shop_id = ANY ((SELECT @extschema@.customer_tracking_owned_shops())::uuid[]));
CREATE POLICY owner_select ON customer_tracking_shop_totals
    FOR SELECT USING (shop_id = ANY ((SELECT @extschema@.customer_tracking_owned_shops())::uuid[]));
CREATE POLICY owner_select ON customer_tracking_daily
    FOR SELECT USING (shop_id = ANY ((SELECT @extschema@.customer_tracking_owned_shops())::uuid[]));
CREATE POLICY owner_select ON customer_tracking_slug_daily
    FOR SELECT USING (shop_id = ANY ((SELECT @extschema@.customer_tracking_owned_shops())::uuid[]));
CREATE POLICY owner_select ON customer_tracking_network_totals
    FOR SELECT USING (shop_id = ANY ((SELECT @extschema@.customer_tracking_owned_shops())::uuid[]));
CREATE POLICY owner_select ON customer_tracking_frequency
    FOR SELECT USING (shop_id = ANY ((SELECT @extschema@.customer_tracking_owned_shops())::uuid[]));

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
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                    WHERE conrelid = v_orders AND conname = 'shop_orders_shop_customer_id_fkey') THEN
        -- Links left behind by an earlier installation (DROP EXTENSION ... CASCADE keeps the
        -- column) point at customers that no longer exist: clear them; backfill relinks.
        UPDATE @extschema@.shop_orders o SET shop_customer_id = NULL
         WHERE o.shop_customer_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM @extschema@.shop_customers c WHERE c.id = o.shop_customer_id);
        -- Deferred: the customer row is written by the AFTER trigger.
        ALTER TABLE @extschema@.shop_orders
            ADD CONSTRAINT shop_orders_shop_customer_id_fkey FOREIGN KEY (shop_customer_id)
            REFERENCES @extschema@.shop_customers (id) ON DELETE SET NULL
            DEFERRABLE INITIALLY DEFERRED;
    END IF;
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
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = v_orders AND tgname = 'customer_tracking_flush') THEN
        -- Writes each statement's rollup deltas once (bulk loads update each rollup row once).
        CREATE TRIGGER customer_tracking_flush
            AFTER INSERT OR UPDATE OR DELETE ON @extschema@.shop_orders
            FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.customer_tracking_flush_rollups();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = v_orders AND tgname = 'customer_tracking_truncate') THEN
        CREATE TRIGGER customer_tracking_truncate
            AFTER TRUNCATE ON @extschema@.shop_orders
            FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.customer_tracking_truncate_orders();
    END IF;

END
$$;
COMMENT ON FUNCTION customer_tracking_attach() IS
    'Attaches customer_tracking to the host tables (column, foreign key, index, triggers). '
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
    IF coalesce(btrim(p_paid), '') = '' THEN
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

-- Per order: the link and contribution a recomputation from shop_orders gives.
CREATE FUNCTION customer_tracking_expected_orders(p_shop_id uuid DEFAULT NULL)
RETURNS TABLE (shop_order_id uuid, shop_id uuid, stored_customer_id uuid, expected_customer_id uuid,
               purchase boolean, amount numeric, purchased_at timestamptz, network text, slug text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    c record;
    v_sql text;
    v_paid text[] := (SELECT s.paid FROM customer_tracking_statuses() s);
BEGIN
    SELECT max(column_name) FILTER (WHERE field = 'id') AS id,
           max(column_name) FILTER (WHERE field = 'shop_id') AS shop,
           max(column_name) FILTER (WHERE field = 'customer_phone') AS phone,
           max(column_name) FILTER (WHERE field = 'total_price') AS amount,
           max(column_name) FILTER (WHERE field = 'created_at') AS created,
           max(column_name) FILTER (WHERE field = 'payment_status') AS status,
           max(column_name) FILTER (WHERE field = 'network') AS network,
           max(column_name) FILTER (WHERE field = 'shop_slug') AS slug
      INTO c
      FROM customer_tracking_columns();
    v_sql := format($q$
        SELECT o.%1$I, o.%2$I, o.shop_customer_id,
               CASE WHEN o.%2$I IS NOT NULL AND p.e164 IS NOT NULL AND a.amount IS NOT NULL
                         AND a.amount >= 0 AND a.amount <> 'NaN' AND a.amount < 'Infinity'
                         AND a.at IS NOT NULL AND isfinite(a.at)
                    THEN @extschema@.customer_tracking_customer_id(o.%2$I, p.e164) END,
               %3$s, a.amount, a.at, %4$s, %5$s
          FROM @extschema@.shop_orders o
         CROSS JOIN LATERAL (SELECT @extschema@.normalize_phone(o.%6$I::text) AS e164) p
         CROSS JOIN LATERAL (SELECT o.%7$I::numeric AS amount, o.%8$I::timestamptz AS at) a
         WHERE $1 IS NULL OR o.%2$I = $1 $q$,
        c.id, c.shop,
        CASE WHEN c.status = '' OR NOT EXISTS (SELECT 1 FROM pg_attribute
                  WHERE attrelid = '@extschema@.shop_orders'::regclass AND attname = c.status AND NOT attisdropped)
             THEN 'true'
             ELSE format($s$coalesce(translate(btrim(o.%I::text, E' \t\n\r\f\v'), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') = ANY (%L::text[]), false)$s$, c.status, v_paid) END,
        CASE WHEN c.network = '' THEN 'NULL::text' ELSE format('left(o.%I::text, 50)', c.network) END,
        CASE WHEN c.slug = '' THEN 'NULL::text' ELSE format('left(o.%I::text, 255)', c.slug) END,
        c.phone, c.amount, c.created);
    RETURN QUERY EXECUTE v_sql USING p_shop_id;
END
$$;

-- Rollup rows that differ from a recomputation from shop_orders (sums over stripes).
CREATE FUNCTION customer_tracking_verify_rollups(p_shop_id uuid DEFAULT NULL)
RETURNS TABLE (shop_id uuid, problem text, stored text, expected text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    WITH o AS MATERIALIZED (
        SELECT e.*, coalesce(e.slug, '') AS slug_key, (e.purchased_at AT TIME ZONE 'UTC')::date AS day
          FROM @extschema@.customer_tracking_expected_orders(p_shop_id) e
         WHERE e.expected_customer_id IS NOT NULL
    ), c AS MATERIALIZED (
        SELECT o.shop_id, o.expected_customer_id AS id,
               count(*) FILTER (WHERE o.purchase) AS purchases,
               min(o.purchased_at) FILTER (WHERE o.purchase) AS first_at,
               max(o.purchased_at) FILTER (WHERE o.purchase) AS last_at,
               (array_agg(o.slug_key ORDER BY o.purchased_at, o.shop_order_id) FILTER (WHERE o.purchase))[1] AS first_slug,
               (SELECT n.network FROM o n WHERE n.expected_customer_id = o.expected_customer_id
                   AND n.purchase AND n.network IS NOT NULL
                 GROUP BY n.network ORDER BY count(*) DESC, n.network COLLATE "C" LIMIT 1) AS preferred
          FROM o GROUP BY o.shop_id, o.expected_customer_id
        HAVING count(*) FILTER (WHERE o.purchase) > 0
    ), expected AS (
        SELECT o.shop_id, 'totals' AS kind, '' AS k, 'checkouts' AS stat, count(*)::numeric AS v FROM o GROUP BY 1
        UNION ALL SELECT o.shop_id, 'totals', '', 'purchases', count(*) FROM o WHERE o.purchase GROUP BY 1
        UNION ALL SELECT o.shop_id, 'totals', '', 'revenue', sum(o.amount) FROM o WHERE o.purchase GROUP BY 1
        UNION ALL SELECT c.shop_id, 'totals', '', 'customers', count(*) FROM c GROUP BY 1
        UNION ALL SELECT c.shop_id, 'totals', '', 'repeat_customers', count(*) FROM c WHERE c.purchases >= 2 GROUP BY 1
        UNION ALL SELECT o.shop_id, 'daily', to_char(o.day, 'YYYY-MM-DD'), 'checkouts', count(*) FROM o GROUP BY 1, 3
        UNION ALL SELECT o.shop_id, 'daily', to_char(o.day, 'YYYY-MM-DD'), 'purchases', count(*) FROM o WHERE o.purchase GROUP BY 1, 3
        UNION ALL SELECT o.shop_id, 'daily', to_char(o.day, 'YYYY-MM-DD'), 'revenue', sum(o.amount) FROM o WHERE o.purchase GROUP BY 1, 3
        UNION ALL SELECT c.shop_id, 'daily', to_char(c.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'new_customers', count(*) FROM c GROUP BY 1, 3
        UNION ALL SELECT c.shop_id, 'daily', to_char(c.last_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'last_purchasers', count(*) FROM c GROUP BY 1, 3
        UNION ALL SELECT o.shop_id, 'slug_daily', o.slug_key || '|' || to_char(o.day, 'YYYY-MM-DD'), 'checkouts', count(*) FROM o GROUP BY 1, 3
        UNION ALL SELECT o.shop_id, 'slug_daily', o.slug_key || '|' || to_char(o.day, 'YYYY-MM-DD'), 'purchases', count(*) FROM o WHERE o.purchase GROUP BY 1, 3
        UNION ALL SELECT o.shop_id, 'slug_daily', o.slug_key || '|' || to_char(o.day, 'YYYY-MM-DD'), 'revenue', sum(o.amount) FROM o WHERE o.purchase GROUP BY 1, 3
        UNION ALL SELECT c.shop_id, 'slug_daily', c.first_slug || '|' || to_char(c.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'new_customers', count(*) FROM c GROUP BY 1, 3
        UNION ALL SELECT c.shop_id, 'slug_daily', c.first_slug || '|' || to_char(c.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'repeat_customers', count(*) FROM c WHERE c.purchases >= 2 GROUP BY 1, 3
        UNION ALL SELECT p.shop_id, 'slug_daily', p.slug_key || '|' || to_char(p.f AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'customers', count(*)
                    FROM (SELECT o.shop_id, o.slug_key, o.expected_customer_id, min(o.purchased_at) AS f
                            FROM o WHERE o.purchase GROUP BY 1, 2, 3) p GROUP BY 1, 3
        UNION ALL SELECT o.shop_id, 'network', o.network, 'purchases', count(*) FROM o WHERE o.purchase AND o.network IS NOT NULL GROUP BY 1, 3
        UNION ALL SELECT o.shop_id, 'network', o.network, 'revenue', sum(o.amount) FROM o WHERE o.purchase AND o.network IS NOT NULL GROUP BY 1, 3
        UNION ALL SELECT c.shop_id, 'network', c.preferred, 'customers_preferring', count(*) FROM c WHERE c.preferred IS NOT NULL GROUP BY 1, 3
        UNION ALL SELECT c.shop_id, 'frequency', c.purchases::text, 'customers', count(*) FROM c GROUP BY 1, 3
    ), stored AS (
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
    )
    SELECT coalesce(e.shop_id, s.shop_id), 'rollup ' || coalesce(e.kind, s.kind) || ' ' ||
           coalesce(e.k, s.k) || ' ' || coalesce(e.stat, s.stat),
           coalesce(s.v, 0)::text, coalesce(e.v, 0)::text
      FROM expected e
      FULL JOIN stored s ON s.shop_id = e.shop_id AND s.kind = e.kind AND s.k = e.k AND s.stat = e.stat
     WHERE coalesce(s.v, 0) <> coalesce(e.v, 0)
$$;

-- One row per stored value that differs from a recomputation from shop_orders.
CREATE FUNCTION customer_tracking_verify(p_shop_id uuid DEFAULT NULL)
RETURNS TABLE (shop_id uuid, shop_customer_id uuid, shop_order_id uuid, problem text,
               stored text, expected text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    WITH o AS MATERIALIZED (
        SELECT * FROM @extschema@.customer_tracking_expected_orders(p_shop_id)
    ), expected AS (
        SELECT o.expected_customer_id AS id, min(o.shop_id::text)::uuid AS shop_id,
               count(*)::int AS total_orders,
               count(*) FILTER (WHERE o.purchase)::int AS total_purchases,
               coalesce(sum(o.amount) FILTER (WHERE o.purchase), 0) AS total_spent,
               min(o.purchased_at) FILTER (WHERE o.purchase) AS first_purchase_at,
               max(o.purchased_at) FILTER (WHERE o.purchase) AS last_purchase_at,
               (array_agg(o.shop_order_id ORDER BY o.purchased_at, o.shop_order_id) FILTER (WHERE o.purchase))[1] AS first_order_id,
               (array_agg(o.slug ORDER BY o.purchased_at, o.shop_order_id) FILTER (WHERE o.purchase))[1] AS first_source_slug,
               (SELECT n.network FROM o n WHERE n.expected_customer_id = o.expected_customer_id
                   AND n.purchase AND n.network IS NOT NULL
                 GROUP BY n.network ORDER BY count(*) DESC, n.network COLLATE "C" LIMIT 1) AS preferred_network,
               (SELECT coalesce(jsonb_object_agg(x.network, x.n), '{}'::jsonb)
                  FROM (SELECT n.network, count(*) AS n FROM o n
                         WHERE n.expected_customer_id = o.expected_customer_id AND n.purchase AND n.network IS NOT NULL
                         GROUP BY n.network) x) AS network_purchases
          FROM o WHERE o.expected_customer_id IS NOT NULL
         GROUP BY o.expected_customer_id
    ), stored AS (
        SELECT c.* FROM @extschema@.shop_customers c WHERE p_shop_id IS NULL OR c.shop_id = p_shop_id
    ), customers AS (
        SELECT coalesce(e.shop_id, s.shop_id) AS shop_id, coalesce(e.id, s.id) AS id, e AS e, s AS s,
               e.id IS NULL AS stale, s.id IS NULL AS missing
          FROM expected e FULL JOIN stored s ON s.id = e.id
    )
    SELECT o.shop_id, o.expected_customer_id, o.shop_order_id, 'order_link',
           o.stored_customer_id::text, o.expected_customer_id::text
      FROM o WHERE o.stored_customer_id IS DISTINCT FROM o.expected_customer_id
    UNION ALL
    SELECT c.shop_id, c.id, NULL, CASE WHEN c.missing THEN 'customer_missing' ELSE 'customer_stale' END,
           CASE WHEN c.missing THEN NULL ELSE 'exists' END, CASE WHEN c.missing THEN 'exists' END
      FROM customers c WHERE c.missing OR c.stale
    UNION ALL
    SELECT c.shop_id, c.id, NULL, d.stat, d.stored, d.expected
      FROM customers c
     CROSS JOIN LATERAL (VALUES
        ('total_orders', (c.s).total_orders::text, (c.e).total_orders::text),
        ('total_purchases', (c.s).total_purchases::text, (c.e).total_purchases::text),
        ('total_spent', (c.s).total_spent::text, (c.e).total_spent::text),
        ('first_purchase_at', (c.s).first_purchase_at::text, (c.e).first_purchase_at::text),
        ('last_purchase_at', (c.s).last_purchase_at::text, (c.e).last_purchase_at::text),
        ('first_order_id', (c.s).first_order_id::text, (c.e).first_order_id::text),
        ('first_source_slug', (c.s).first_source_slug::text, (c.e).first_source_slug),
        ('preferred_network', (c.s).preferred_network::text, (c.e).preferred_network),
        ('network_purchases', (c.s).network_purchases::text, (c.e).network_purchases::text),
        ('repeat_customer', (c.s).repeat_customer::text, ((c.e).total_purchases >= 2)::text)
     ) AS d(stat, stored, expected)
     WHERE NOT c.missing AND NOT c.stale
       AND CASE WHEN d.stat = 'total_spent' THEN (c.s).total_spent <> (c.e).total_spent
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
     WHERE o.expected_customer_id IS NOT NULL
       AND (t.id IS NULL OR t.shop_customer_id <> o.expected_customer_id
            OR t.purchase_completed <> o.purchase OR t.purchase_amount <> o.amount
            OR t.accessed_at <> o.purchased_at)
    UNION ALL
    SELECT r.shop_id, NULL, NULL, r.problem, r.stored, r.expected
      FROM @extschema@.customer_tracking_verify_rollups(p_shop_id) r
    UNION ALL
    SELECT t.shop_id, t.shop_customer_id, t.id, 'tracking_orphan', 'exists', NULL
      FROM @extschema@.customer_tracking t
     WHERE (p_shop_id IS NULL OR t.shop_id = p_shop_id)
       AND NOT EXISTS (SELECT 1 FROM o WHERE o.shop_order_id = t.id AND o.shop_id = t.shop_id
                                         AND o.expected_customer_id IS NOT NULL)
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

-- Links and counts orders that are unlinked or inconsistent; idempotent.
CREATE FUNCTION customer_tracking_backfill(p_shop_id uuid DEFAULT NULL)
RETURNS TABLE (shop_id uuid, orders_retracked bigint, orders_linked bigint, orders_untracked bigint,
               customers_repaired bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    v_shop uuid;
    v_id name := (SELECT column_name FROM customer_tracking_columns() WHERE field = 'id');
    v_shop_col name := (SELECT column_name FROM customer_tracking_columns() WHERE field = 'shop_id');
    v_retracked bigint;
    v_repaired bigint;
    v_customer uuid;
BEGIN
    -- One shop per statement: each statement touches one shop's rows only.
    FOR v_shop IN
        EXECUTE format('SELECT DISTINCT %1$I FROM @extschema@.shop_orders WHERE %1$I IS NOT NULL AND ($1 IS NULL OR %1$I = $1)',
                       v_shop_col) USING p_shop_id
    LOOP
        -- 1. Orders whose link or tracking row disagrees with the order go through the trigger again.
        PERFORM set_config('customer_tracking.retrack', 'on', true);
        EXECUTE format($q$
            UPDATE @extschema@.shop_orders o SET shop_customer_id = o.shop_customer_id
              FROM @extschema@.customer_tracking_expected_orders($1) e
              LEFT JOIN @extschema@.customer_tracking t ON t.id = e.shop_order_id AND t.shop_id = $1
             WHERE o.%1$I = e.shop_order_id AND o.%2$I = $1
               AND (e.stored_customer_id IS DISTINCT FROM e.expected_customer_id
                    OR (e.expected_customer_id IS NOT NULL
                        AND (t.id IS NULL OR t.shop_customer_id <> e.expected_customer_id
                             OR t.purchase_completed <> e.purchase OR t.purchase_amount <> e.amount
                             OR t.accessed_at <> e.purchased_at OR t.network IS DISTINCT FROM e.network
                             OR t.accessed_via_slug IS DISTINCT FROM e.slug))
                    OR (e.expected_customer_id IS NULL
                        AND NOT EXISTS (SELECT 1 FROM @extschema@.customer_tracking_issues i
                                         WHERE i.shop_id = $1 AND i.shop_order_id = e.shop_order_id
                                           AND i.untracked AND i.resolved_at IS NULL)))$q$, v_id, v_shop_col)
            USING v_shop;
        GET DIAGNOSTICS v_retracked = ROW_COUNT;
        PERFORM set_config('customer_tracking.retrack', 'off', true);

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
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_tracking_backfill(uuid) IS
    'Links and counts orders that predate the extension or were left unlinked, and repairs any '
    'customer whose stats disagree with its orders. Idempotent; safe while orders arrive. '
    'Returns per shop: orders re-tracked now, orders linked and untracked in total, customers repaired.';

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
BEGIN
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
        INSERT INTO @extschema@.customer_tracking_settings VALUES ('column:' || v_field, v_column)
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
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
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
$$;

CREATE FUNCTION shop_customer_metrics(p_shop_id uuid, p_as_of timestamptz DEFAULT now())
RETURNS TABLE (total_customers bigint, repeat_customers bigint, repeat_rate numeric,
               new_customers_30d bigint, new_customers_this_month bigint, average_ltv numeric,
               total_revenue numeric)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    SELECT t.customers, t.repeaters,
           CASE WHEN t.customers = 0 THEN 0.0 ELSE round(100.0 * t.repeaters / t.customers, 1) END,
           @extschema@.customer_tracking_new_customers(p_shop_id,
               p_as_of - interval '30 days' + interval '1 microsecond', p_as_of + interval '1 microsecond'),
           @extschema@.customer_tracking_new_customers(p_shop_id,
               date_trunc('month', p_as_of), p_as_of + interval '1 microsecond'),
           CASE WHEN t.customers = 0 THEN 0.00 ELSE round(t.revenue / t.customers, 2) END,
           t.revenue
      FROM (SELECT coalesce(sum(r.customers), 0)::bigint AS customers,
                   coalesce(sum(r.repeat_customers), 0)::bigint AS repeaters,
                   coalesce(sum(r.revenue), 0) AS revenue
              FROM @extschema@.customer_tracking_shop_totals r
             WHERE r.shop_id = p_shop_id) t
$$;
COMMENT ON FUNCTION shop_customer_metrics(uuid, timestamptz) IS
    'Dashboard numbers of a shop: customers (at least one purchase), repeat customers (2+), repeat '
    'rate (%, 1 decimal), customers whose first purchase is in (p_as_of - 30 days, p_as_of] and in '
    'p_as_of''s calendar month (session time zone), average LTV (2 decimals) and revenue.';

CREATE FUNCTION shop_customer_overview(p_shop_id uuid, p_currency text DEFAULT 'GHS')
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
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
$$;
COMMENT ON FUNCTION shop_customer_overview(uuid, text) IS
    'The plan''s "Customer Overview" box for a shop, as text (psql, quick checks).';

CREATE FUNCTION shop_slug_analytics(p_shop_id uuid, p_from timestamptz DEFAULT NULL,
                                    p_to timestamptz DEFAULT NULL)
RETURNS TABLE (slug text, checkouts bigint, purchases bigint, conversion_rate numeric, revenue numeric,
               customers bigint, new_customers bigint, repeat_customers bigint)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
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
     ORDER BY s.revenue DESC, s.slug
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
    v_has_status boolean;
BEGIN
    SELECT c.shop_id INTO v_shop FROM @extschema@.shop_customers c WHERE c.id = p_customer_id;
    IF v_shop IS NULL THEN
        RETURN;   -- no such customer, or not the caller's
    END IF;
    v_has_status := v_status <> '' AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = '@extschema@.shop_orders'::regclass AND a.attname = v_status AND NOT a.attisdropped);
    RETURN QUERY EXECUTE format($q$
        SELECT t.shop_order_id, t.accessed_at, t.purchase_amount, t.network::text, t.accessed_via_slug::text,
               %s, t.purchase_completed, t.completed_at
          FROM @extschema@.customer_tracking t
          LEFT JOIN @extschema@.shop_orders o ON o.%I = t.shop_order_id
         WHERE t.shop_customer_id = $1 AND t.shop_id = $2
         ORDER BY t.accessed_at DESC, t.id DESC$q$,
        CASE WHEN v_has_status THEN format('o.%I::text', v_status) ELSE 'NULL::text' END, v_id)
    USING p_customer_id, v_shop;
END
$$;
COMMENT ON FUNCTION customer_purchase_history(uuid) IS
    'A customer''s orders, newest first: amount, network, slug, payment status, whether it counts as a purchase.';

CREATE FUNCTION shop_network_analytics(p_shop_id uuid)
RETURNS TABLE (network text, customers_preferring bigint, purchases bigint, revenue numeric)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    SELECT r.network, sum(r.customers_preferring)::bigint, sum(r.purchases)::bigint, sum(r.revenue)
      FROM @extschema@.customer_tracking_network_totals r
     WHERE r.shop_id = p_shop_id
     GROUP BY r.network
    HAVING sum(r.customers_preferring) <> 0 OR sum(r.purchases) <> 0
     ORDER BY 2 DESC, 3 DESC, 1
$$;
COMMENT ON FUNCTION shop_network_analytics(uuid) IS
    'Per network: customers whose preferred network it is, purchases and revenue.';

CREATE FUNCTION shop_purchase_frequency(p_shop_id uuid)
RETURNS TABLE (purchases integer, customers bigint, share numeric)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    SELECT f.purchases, f.customers,
           round(100.0 * f.customers / nullif(sum(f.customers) OVER (), 0), 1)
      FROM (SELECT r.purchases, sum(r.customers)::bigint AS customers
              FROM @extschema@.customer_tracking_frequency r
             WHERE r.shop_id = p_shop_id
             GROUP BY r.purchases HAVING sum(r.customers) <> 0) f
     ORDER BY f.purchases
$$;
COMMENT ON FUNCTION shop_purchase_frequency(uuid) IS
    'How many customers have made 1, 2, 3, ... purchases, and their share (%).';

CREATE FUNCTION shop_last_purchase_decay(p_shop_id uuid, p_as_of timestamptz DEFAULT now())
RETURNS TABLE (bucket text, min_days integer, max_days integer, customers bigint, churn_risk text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
    WITH b(bucket, min_days, max_days, churn_risk, n) AS (VALUES
        ('0-7 days', 0, 7, 'low', 1), ('8-30 days', 8, 30, 'medium', 2),
        ('31-90 days', 31, 90, 'high', 3), ('91+ days', 91, NULL, 'lost', 4))
    SELECT b.bucket, b.min_days, b.max_days,
           coalesce((SELECT sum(d.last_purchasers) FROM @extschema@.customer_tracking_daily d
                      WHERE d.shop_id = p_shop_id
                        AND d.day <= (p_as_of AT TIME ZONE 'UTC')::date - b.min_days
                        AND (b.max_days IS NULL OR d.day >= (p_as_of AT TIME ZONE 'UTC')::date - b.max_days)), 0)::bigint,
           b.churn_risk
      FROM b ORDER BY b.n
$$;
COMMENT ON FUNCTION shop_last_purchase_decay(uuid, timestamptz) IS
    'Customers by whole UTC days since their last purchase, in churn-risk buckets.';

CREATE FUNCTION shop_daily_series(p_shop_id uuid, p_from date DEFAULT NULL, p_to date DEFAULT NULL)
RETURNS TABLE (day date, purchases bigint, revenue numeric, new_customers bigint, checkouts bigint)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
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
     ORDER BY 1
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
    customer_tracking_backfill(uuid), customer_tracking_verify(uuid),
    customer_tracking_verify_rollups(uuid), customer_tracking_expected_orders(uuid),
    customer_tracking_repair_rollups(uuid)
    FROM PUBLIC;
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
                             'customer_tracking_backfill', 'customer_tracking_verify',
                             'customer_tracking_verify_rollups', 'customer_tracking_expected_orders',
                             'customer_tracking_repair_rollups', 'customer_tracking_health')
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %s', r.fn, r.grantee);
    END LOOP;
END
$revoke$;
