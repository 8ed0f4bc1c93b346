-- Money as the dashboard functions return it: 2 decimals (0.00, 12.50), or the amounts' own
-- scale where they have more (never rounded: numbers are exact). SQL, IMMUTABLE and without a
-- SET clause, so that the planner inlines it.
CREATE OR REPLACE FUNCTION customer_tracking_money(p_amount numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT pg_catalog.round(p_amount, GREATEST(2, pg_catalog.scale(p_amount))) $$;
COMMENT ON FUNCTION customer_tracking_money(numeric) IS
    'A sum of money as the dashboard functions return it: at least 2 decimals, never rounded.';
