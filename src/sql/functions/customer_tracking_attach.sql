-- Adds shop_orders.shop_customer_id (with its foreign key and index) and the
-- triggers. Idempotent. Everything it creates belongs
-- to the host table or is dumped by pg_dump, so a restore brings it back.
CREATE OR REPLACE FUNCTION customer_tracking_attach()
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
SELECT customer_tracking_set_audience('customer_tracking_attach()', 'dba');
