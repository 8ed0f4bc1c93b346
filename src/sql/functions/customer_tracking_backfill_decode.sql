-- The orders of shops (NULL: every shop) as the trigger reads them (its decoder, each distinct
-- raw phone parsed once), with what a backfill writes: the ledger fields, e-mail, name, issues.
CREATE OR REPLACE FUNCTION customer_tracking_backfill_decode(
    p_shops uuid[], OUT tid tid, OUT shop_order_id uuid, OUT shop_id uuid, OUT stored_customer_id uuid,
    OUT expected_customer_id uuid, OUT phone text, OUT purchase boolean, OUT amount numeric,
    OUT purchased_at timestamptz, OUT network text, OUT slug text, OUT referrer text,
    OUT utm_source text, OUT utm_medium text, OUT utm_campaign text, OUT email text,
    OUT customer_name text, OUT issues text[], OUT issue_details text[], OUT issue_untracked boolean[])
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'ct_backfill_decode'
LANGUAGE C STABLE ROWS 100000;
SELECT customer_tracking_set_audience('customer_tracking_backfill_decode(uuid[])', 'dba');
