-- Where customer_tracking_backfill_all() is: a resumed run goes on after last_shop_id.
CREATE TABLE customer_tracking_backfill_state (
    id                 boolean PRIMARY KEY DEFAULT true CHECK (id),
    started_at         timestamptz NOT NULL,
    finished_at        timestamptz,
    chunk_orders       integer NOT NULL,
    last_shop_id       uuid,
    chunks_done        bigint NOT NULL DEFAULT 0,
    shops_done         bigint NOT NULL DEFAULT 0,
    orders_done        bigint NOT NULL DEFAULT 0,
    orders_retracked   bigint NOT NULL DEFAULT 0,
    customers_repaired bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE customer_tracking_backfill_state IS
    'The last run of customer_tracking_backfill_all(): committed with each chunk, so that a run '
    'cancelled or failed goes on after last_shop_id when called again.';
-- Maintenance only: no role but the owner reads or writes it (default privileges included).
SELECT customer_tracking_set_table_audience('customer_tracking_backfill_state', 'dba');
