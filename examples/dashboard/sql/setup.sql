-- What the reference dashboard needs in the database, set up as a PostgREST (or Supabase) app
-- has it. Run as a superuser in the database that holds the host tables and the extension, after
-- CREATE EXTENSION customer_tracking. Idempotent. On Supabase the roles exist already, and the
-- host's grants and policies are the app's own business: adapt the second part.
--
-- Roles (cluster-wide):
--   authenticator  the login role the app connects as; it can do nothing by itself (NOINHERIT)
--                  and switches per request with SET LOCAL ROLE to
--   authenticated  signed-in owners: read what row-level security lets them read
--   anon           not signed in: may list shops (the stub sign-in page)
SET client_min_messages = warning;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticator') THEN
        CREATE ROLE authenticator LOGIN NOINHERIT;
    END IF;
END
$$;
GRANT anon, authenticated TO authenticator;

-- The host's own grants and policies: a storefront lists shops to anyone; owners read their own
-- shops' orders (customer_purchase_history() reads each order's payment status from
-- shop_orders with the caller's rights). The owner is the sub of request.jwt.claims, as for the
-- extension's own policies. The extension's tables and dashboard functions need nothing here:
-- CREATE EXTENSION granted them (to PUBLIC with row-level security, or to authenticated and
-- service_role where those existed before it).
GRANT USAGE ON SCHEMA public TO anon, authenticated;
GRANT SELECT ON user_shops TO anon, authenticated;
GRANT SELECT ON shop_orders TO authenticated;
ALTER TABLE shop_orders ENABLE ROW LEVEL SECURITY;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_policies
                    WHERE tablename = 'shop_orders' AND policyname = 'dashboard_owner_read') THEN
        CREATE POLICY dashboard_owner_read ON shop_orders FOR SELECT TO authenticated
            USING (shop_id IN (SELECT s.id FROM user_shops s
                                WHERE s.user_id::text = (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')));
    END IF;
END
$$;
