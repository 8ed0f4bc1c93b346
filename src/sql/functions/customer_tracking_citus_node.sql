CREATE OR REPLACE FUNCTION customer_tracking_citus_node()
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
