-- p_length (1 to 15) characters of a 32-letter alphabet without look-alikes (no I, O, 0, 1), 5
-- random bits each from gen_random_uuid() (a strong random source): 10 characters = 50 bits.
CREATE OR REPLACE FUNCTION customer_tracking_random_code(p_length integer)
RETURNS text
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(substr('ABCDEFGHJKLMNPQRSTUVWXYZ23456789', (get_byte(r.b, u.i) & 31) + 1, 1), ''
                      ORDER BY u.o)
      FROM (SELECT uuid_send(gen_random_uuid()) AS b) r,
           -- byte 6 holds the UUID version in its low bits' neighbour: left out
           unnest('{0,1,2,3,4,5,7,8,9,10,11,12,13,14,15}'::int[]) WITH ORDINALITY AS u(i, o)
     WHERE u.o <= least(greatest(p_length, 1), 15)
$$;
COMMENT ON FUNCTION customer_tracking_random_code(integer) IS
    'A random code of p_length characters (1 to 15) from ABCDEFGHJKLMNPQRSTUVWXYZ23456789.';
SELECT customer_tracking_set_audience('customer_tracking_random_code(integer)', 'dba');
