-- Variant (b) of bench/run.sh: the plan's data flow done in the database with PL/pgSQL.
--
-- This is what an application developer following original-plan.md would write if they moved
-- "Phase 2: Checkout Integration" from the TypeScript service into triggers. It is the baseline
-- the C++ extension is compared against, so it is kept honest and reasonably efficient:
--   * the migration is the plan's section 5 verbatim (tables, FKs, indexes, RLS + policies);
--   * one statement per step: an upsert (INSERT ... ON CONFLICT DO UPDATE ... RETURNING) instead
--     of the plan's SELECT-then-INSERT/UPDATE round trips, and one INSERT for the tracking row;
--   * triggers are gated by WHEN clauses, so unpaid orders do not even call PL/pgSQL;
--   * the functions are plain (not SECURITY DEFINER, no SET search_path): the benchmark inserts
--     as the table owner, and those options would only add per-call cost. A production version
--     behind Supabase RLS would need SECURITY DEFINER + SET search_path and be slightly slower,
--     so this baseline is, if anything, favourable to PL/pgSQL.
-- Like the plan it does not normalise phone numbers and only counts orders that are paid when
-- inserted (no pending -> paid updates, refunds, deletes or amount changes).
--
-- Expects the host schema (bench/host-schema.sql) to exist already.

-- The plan's RLS policies call auth.uid() (Supabase). Outside Supabase there is no auth schema,
-- so install a stub that returns NULL so the policies can be created exactly as written. The
-- policies are SELECT-only and the benchmark connects as the owner, so they cost nothing on insert.
CREATE SCHEMA IF NOT EXISTS auth;
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid
  LANGUAGE sql STABLE AS $$ SELECT NULL::uuid $$;

-- ---------------------------------------------------------------------------------------------
-- original-plan.md, section 5 "DATABASE MIGRATION" (migrations/add_customer_tracking_tables.sql)
-- ---------------------------------------------------------------------------------------------

-- Create shop_customers table
CREATE TABLE IF NOT EXISTS shop_customers (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  shop_id UUID NOT NULL REFERENCES user_shops(id) ON DELETE CASCADE,
  phone_number VARCHAR(20) NOT NULL,
  email VARCHAR(255),
  customer_name VARCHAR(255),
  first_purchase_at TIMESTAMP NOT NULL DEFAULT NOW(),
  last_purchase_at TIMESTAMP NOT NULL DEFAULT NOW(),
  total_purchases INTEGER DEFAULT 1,
  total_spent DECIMAL(12,2) DEFAULT 0,
  repeat_customer BOOLEAN DEFAULT FALSE,
  first_source_slug VARCHAR(255),
  preferred_network VARCHAR(50),
  created_at TIMESTAMP DEFAULT NOW(),
  updated_at TIMESTAMP DEFAULT NOW(),
  UNIQUE(shop_id, phone_number)
);

-- Create customer_tracking table
CREATE TABLE IF NOT EXISTS customer_tracking (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  shop_order_id UUID NOT NULL REFERENCES shop_orders(id) ON DELETE CASCADE,
  shop_customer_id UUID NOT NULL REFERENCES shop_customers(id) ON DELETE CASCADE,
  shop_id UUID NOT NULL REFERENCES user_shops(id) ON DELETE CASCADE,
  accessed_via_slug VARCHAR(255),
  accessed_at TIMESTAMP DEFAULT NOW(),
  purchase_completed BOOLEAN DEFAULT FALSE,
  referrer VARCHAR(255),
  utm_source VARCHAR(255),
  utm_medium VARCHAR(255),
  utm_campaign VARCHAR(255),
  created_at TIMESTAMP DEFAULT NOW()
);

-- Add shop_customer_id to shop_orders
ALTER TABLE shop_orders
ADD COLUMN IF NOT EXISTS shop_customer_id UUID REFERENCES shop_customers(id) ON DELETE SET NULL;

-- Create indexes
CREATE INDEX IF NOT EXISTS idx_shop_customers_shop_id ON shop_customers(shop_id);
CREATE INDEX IF NOT EXISTS idx_shop_customers_repeat_customer ON shop_customers(repeat_customer);
CREATE INDEX IF NOT EXISTS idx_shop_customers_last_purchase_at ON shop_customers(last_purchase_at DESC);
CREATE INDEX IF NOT EXISTS idx_customer_tracking_shop_id ON customer_tracking(shop_id);
CREATE INDEX IF NOT EXISTS idx_customer_tracking_customer_id ON customer_tracking(shop_customer_id);
CREATE INDEX IF NOT EXISTS idx_customer_tracking_slug ON customer_tracking(accessed_via_slug);
CREATE INDEX IF NOT EXISTS idx_customer_tracking_accessed_at ON customer_tracking(accessed_at DESC);
CREATE INDEX IF NOT EXISTS idx_shop_orders_customer_id ON shop_orders(shop_customer_id);

-- Enable RLS
ALTER TABLE shop_customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_tracking ENABLE ROW LEVEL SECURITY;

-- RLS Policies
CREATE POLICY "Shop owners can view their customers"
  ON shop_customers FOR SELECT
  USING (
    EXISTS (
      SELECT 1 FROM user_shops
      WHERE user_shops.id = shop_customers.shop_id
      AND user_shops.user_id = auth.uid()
    )
  );

CREATE POLICY "Shop owners can view their customer tracking"
  ON customer_tracking FOR SELECT
  USING (
    EXISTS (
      SELECT 1 FROM user_shops
      WHERE user_shops.id = customer_tracking.shop_id
      AND user_shops.user_id = auth.uid()
    )
  );

-- ---------------------------------------------------------------------------------------------
-- original-plan.md, section 3 "DATA FLOW", step 3 ("Payment successful"), as triggers.
-- ---------------------------------------------------------------------------------------------

-- BEFORE INSERT: find-or-create the customer (phone + shop_id), update its stats, and link the
-- order to it (shop_order.shop_customer_id = shop_customer.id).
CREATE OR REPLACE FUNCTION track_shop_customer() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO shop_customers AS c
         (shop_id, phone_number, email, customer_name,
          first_purchase_at, last_purchase_at, total_purchases, total_spent,
          repeat_customer, first_source_slug, preferred_network)
  VALUES (NEW.shop_id, NEW.customer_phone, NEW.customer_email, NEW.customer_name,
          now(), now(), 1, NEW.total_price,
          false, NEW.shop_slug, NEW.network)
  ON CONFLICT (shop_id, phone_number) DO UPDATE
     SET total_purchases  = c.total_purchases + 1,          -- Increment total_purchases
         last_purchase_at = EXCLUDED.last_purchase_at,      -- Update last_purchase_at
         total_spent      = c.total_spent + EXCLUDED.total_spent, -- Add to total_spent
         repeat_customer  = true,                           -- Set repeat_customer = true
         updated_at       = now()
  RETURNING c.id INTO NEW.shop_customer_id;
  RETURN NEW;
END
$$;

-- AFTER INSERT: the customer_tracking row (needs the order's id to exist for its FK).
CREATE OR REPLACE FUNCTION track_customer_visit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO customer_tracking
         (shop_order_id, shop_customer_id, shop_id, accessed_via_slug, accessed_at, purchase_completed)
  VALUES (NEW.id, NEW.shop_customer_id, NEW.shop_id, NEW.shop_slug, now(), true);
  RETURN NULL;
END
$$;

-- "Payment successful -> create shop_orders record": only orders inserted paid are tracked
-- (paid statuses as in product.md: completed, paid, success). Orders without a phone cannot be
-- keyed (phone_number is NOT NULL) and are left unlinked.
CREATE TRIGGER shop_orders_track_customer
  BEFORE INSERT ON shop_orders
  FOR EACH ROW
  WHEN (NEW.payment_status IN ('completed', 'paid', 'success') AND NEW.customer_phone IS NOT NULL)
  EXECUTE FUNCTION track_shop_customer();

CREATE TRIGGER shop_orders_track_visit
  AFTER INSERT ON shop_orders
  FOR EACH ROW
  WHEN (NEW.shop_customer_id IS NOT NULL)
  EXECUTE FUNCTION track_customer_visit();
