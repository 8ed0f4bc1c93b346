--------------------------------------------------------------------------------
-- Attaching to the host tables
--------------------------------------------------------------------------------
#include "functions/customer_tracking_attach.sql"

--------------------------------------------------------------------------------
-- Configuration after install
--------------------------------------------------------------------------------
#include "functions/customer_tracking_invalidate.sql"

#include "functions/customer_tracking_map_column.sql"

#include "functions/customer_tracking_set_statuses.sql"

#include "functions/customer_tracking_set_naive_time_zone.sql"
