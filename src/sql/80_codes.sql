--------------------------------------------------------------------------------
-- Loyalty codes and referrals (src/codes.cpp, src/referrals.cpp).
--
-- A code belongs to one customer of one shop; an order carrying it (the optional
-- shop_orders column mapped to the field discount_code) uses it when the order
-- becomes a paid purchase of that customer, at commit, under the customer's row
-- lock, and gives the use back when it stops being one. Each customer may have
-- a stable referral code; a first paid order carrying one (field referral_code,
-- or a ref=<code> value in utm_source / referrer) makes a referral. Owners
-- manage both through the functions below (SECURITY DEFINER, checked by
-- customer_tracking_require_shop_owner()); storefronts check a code with
-- shop_check_code() (anon); every table is keyed by shop_id.
--------------------------------------------------------------------------------
CREATE TABLE customer_tracking_codes (
    shop_id      uuid NOT NULL,
    code         text NOT NULL CHECK (code ~ '^[A-Z0-9]{1,32}$'),
    customer_id  uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('percent', 'fixed')),
    value        numeric NOT NULL CHECK (value > 0 AND value < 'Infinity' AND (kind <> 'percent' OR value <= 100)),
    expires_at   timestamptz,
    max_uses     integer NOT NULL CHECK (max_uses BETWEEN 1 AND 1000000),
    uses         integer NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
    voided_at    timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, code)
);
COMMENT ON TABLE customer_tracking_codes IS
    'Loyalty codes, one customer each; uses = the paid orders holding one (customer_tracking_code_uses).';
CREATE INDEX idx_customer_tracking_codes_customer ON customer_tracking_codes (shop_id, customer_id);
SELECT pg_catalog.pg_extension_config_dump('customer_tracking_codes', '');

CREATE TABLE customer_tracking_code_uses (
    shop_id      uuid NOT NULL,
    order_id     uuid NOT NULL,
    code         text NOT NULL,
    customer_id  uuid NOT NULL,
    used_at      timestamptz NOT NULL,
    PRIMARY KEY (shop_id, order_id)
);
COMMENT ON TABLE customer_tracking_code_uses IS
    'The paid orders that hold a use of a loyalty code (one code per order), kept at commit.';
CREATE INDEX idx_customer_tracking_code_uses_code ON customer_tracking_code_uses (shop_id, code);
SELECT pg_catalog.pg_extension_config_dump('customer_tracking_code_uses', '');

CREATE TABLE customer_tracking_referral_codes (
    shop_id      uuid NOT NULL,
    customer_id  uuid NOT NULL,
    code         text NOT NULL CHECK (code ~ '^[A-Z0-9]{1,32}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, customer_id),
    UNIQUE (shop_id, code)
);
COMMENT ON TABLE customer_tracking_referral_codes IS
    'Each customer''s referral code (stable once made by customer_tracking_referral_code()).';
SELECT pg_catalog.pg_extension_config_dump('customer_tracking_referral_codes', '');

CREATE TABLE customer_tracking_referrals (
    shop_id               uuid NOT NULL,
    referred_customer_id  uuid NOT NULL,
    order_id              uuid NOT NULL,
    advocate_customer_id  uuid NOT NULL,
    referral_code         text NOT NULL,
    paid_at               timestamptz NOT NULL,
    review_ends_at        timestamptz NOT NULL,
    blocked_reason        text CHECK (blocked_reason IN ('self_referral', 'already_customer', 'daily_limit')),
    voided_at             timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, referred_customer_id)
);
COMMENT ON TABLE customer_tracking_referrals IS
    'One referral per referred customer, made at commit when their paid order carries a referral '
    'code; status (shop_referrals()): blocked, voided, approved once review_ends_at has passed, '
    'else pending.';
CREATE INDEX idx_customer_tracking_referrals_order ON customer_tracking_referrals (shop_id, order_id);
CREATE INDEX idx_customer_tracking_referrals_advocate
    ON customer_tracking_referrals (shop_id, advocate_customer_id, paid_at);
SELECT pg_catalog.pg_extension_config_dump('customer_tracking_referrals', '');

CREATE TABLE customer_tracking_referral_settings (
    shop_id      uuid NOT NULL PRIMARY KEY,
    review_days  integer NOT NULL DEFAULT 7 CHECK (review_days BETWEEN 0 AND 365),
    daily_limit  integer NOT NULL DEFAULT 10 CHECK (daily_limit BETWEEN 0 AND 1000000),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE customer_tracking_referral_settings IS
    'Per-shop referral settings (customer_tracking_set_referral_settings()); a shop without a row '
    'has the defaults: 7 review days, 10 referrals per advocate per day.';
SELECT pg_catalog.pg_extension_config_dump('customer_tracking_referral_settings', '');

-- Row-level security as on the other tables: owners read their own shops' rows; nobody but the
-- extension's owner writes (the functions below do, as definer).
ALTER TABLE customer_tracking_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_code_uses ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_referral_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_referrals ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking_referral_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_select ON customer_tracking_codes
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_code_uses
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_referral_codes
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_referrals
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
CREATE POLICY owner_select ON customer_tracking_referral_settings
    FOR SELECT USING (shop_id = ANY (@extschema@.customer_tracking_owned_shops()));
SELECT customer_tracking_set_table_audience(t, 'dashboard')
  FROM unnest(ARRAY['customer_tracking_codes', 'customer_tracking_code_uses',
                    'customer_tracking_referral_codes', 'customer_tracking_referrals',
                    'customer_tracking_referral_settings']::regclass[]) t;

#include "functions/customer_tracking_require_shop_owner.sql"
#include "functions/customer_tracking_random_code.sql"
#include "functions/customer_tracking_normalize_code.sql"
#include "functions/customer_tracking_check_code_terms.sql"
#include "functions/customer_tracking_issue_code.sql"
#include "functions/customer_tracking_issue_codes.sql"
#include "functions/customer_tracking_void_code.sql"
#include "functions/shop_loyalty_codes.sql"
#include "functions/shop_check_code.sql"
#include "functions/customer_tracking_referral_code.sql"
#include "functions/customer_tracking_set_referral_settings.sql"
#include "functions/shop_referrals.sql"
#include "functions/shop_referral_summary.sql"
#include "functions/customer_tracking_verify_loyalty.sql"

