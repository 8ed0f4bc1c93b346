-- Copy of /work/shared/brief/host-schema.sql (the host application's schema), used by bench/run.sh.
-- The host application's own tables, as the reference storefront app has them.
-- customer_tracking is installed on top of these; tests and the demo create them first.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TABLE IF NOT EXISTS user_shops (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL,
  shop_name text NOT NULL DEFAULT 'shop',
  shop_slug text UNIQUE,
  created_at timestamptz DEFAULT now()
);
CREATE TABLE IF NOT EXISTS shop_orders (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  shop_id uuid NOT NULL REFERENCES user_shops(id) ON DELETE CASCADE,
  customer_name text,
  customer_email text,
  customer_phone text,
  network text,
  volume_gb numeric,
  base_price numeric(12,2),
  total_price numeric(12,2) NOT NULL DEFAULT 0,
  profit_amount numeric(12,2),
  order_status text NOT NULL DEFAULT 'pending',
  payment_status text NOT NULL DEFAULT 'pending',
  payment_method text,
  reference_code text,
  shop_slug text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_shop_orders_shop_id ON shop_orders(shop_id);
