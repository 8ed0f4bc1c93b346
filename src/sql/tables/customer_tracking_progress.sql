-- In the style of pg_stat_progress_*: one row per backend running a backfill or verify (values
-- NULL for backends of roles the caller may not see, as there).
CREATE VIEW customer_tracking_progress AS
    SELECT p.pid, p.datid, d.datname, p.relid, p.command, p.phase, p.shops_total, p.shops_done,
           p.orders_total, p.orders_done, p.chunks_total, p.chunks_done, p.started_at
      FROM customer_tracking_progress_info() p
      LEFT JOIN pg_catalog.pg_database d ON d.oid = p.datid;
COMMENT ON VIEW customer_tracking_progress IS
    'Running customer_tracking_backfill(), customer_tracking_backfill_all() and '
    'customer_tracking_verify() calls: phase, shops and orders done of the totals, chunks.';
-- Maintenance only: no role but the owner reads it (default privileges included).
SELECT customer_tracking_set_table_audience('customer_tracking_progress', 'dba');
