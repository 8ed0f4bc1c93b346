-- Whether shop_orders is a Citus distributed table: then backfill and verify go shop by shop, on
-- the node holding each shop (customer_tracking_backfill_shop(), customer_tracking_problems());
-- else they are set-based, over chunks of shops.
CREATE OR REPLACE FUNCTION customer_tracking_orders_distributed()
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
SELECT customer_tracking_set_audience('customer_tracking_orders_distributed()', 'dba');
