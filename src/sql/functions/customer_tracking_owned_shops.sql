-- Shops the current owner may see; every policy calls it, as an expression
-- (Citus refuses subqueries in the policies of distributed tables), and it
-- looks the owner up once per statement and call site (its result is kept for
-- the rest of the statement). In C (src/owner.cpp):
-- customer_tracking_current_owner() runs with the caller's rights, then
-- user_shops is read with the rights of this function's owner (so policies
-- work whatever the caller may read of user_shops), with a plan kept for the
-- session. Not SECURITY DEFINER: that would run the owner lookup (auth.uid())
-- with the extension owner's rights. No SET clause: its statement names
-- everything with its schema, and a SET clause would cost a configuration
-- change at each of its calls.
CREATE OR REPLACE FUNCTION customer_tracking_owned_shops()
RETURNS uuid[]
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'ct_owned_shops';
COMMENT ON FUNCTION customer_tracking_owned_shops() IS
    'Shops of the current owner (customer_tracking_current_owner(), with the caller''s rights), '
    'as the row-level security policies see them.';
