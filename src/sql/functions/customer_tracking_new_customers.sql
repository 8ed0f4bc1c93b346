-- Customers whose first purchase falls in [p_from, p_to): whole UTC days from
-- the daily rollup, the partial days at either end from the customer index.
CREATE OR REPLACE FUNCTION customer_tracking_new_customers(p_shop_id uuid, p_from timestamptz, p_to timestamptz)
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
SELECT customer_tracking_set_audience('customer_tracking_new_customers(uuid, timestamptz, timestamptz)', 'dashboard');
