--------------------------------------------------------------------------------
-- Segments, rates, cohorts and seasons: RFM scores and segments, retention rates,
-- cohorts and seasonality. Computed at read from the ledger (customer_tracking)
-- and the customers, with the caller's rights: row-level security decides the
-- shops. Rules in the README ("Segments, rates, cohorts and seasons").
--------------------------------------------------------------------------------
#include "functions/customer_tracking_time_zone.sql"

#include "functions/shop_customer_rfm.sql"

#include "functions/shop_customer_segments.sql"

#include "functions/shop_segment_flow.sql"

#include "functions/shop_retention_rates.sql"

#include "functions/shop_cohort_retention.sql"

#include "functions/shop_seasonality.sql"
