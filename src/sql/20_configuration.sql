--------------------------------------------------------------------------------
-- Configuration helpers
--------------------------------------------------------------------------------
#include "functions/customer_tracking_fields.sql"

#include "functions/customer_tracking_columns.sql"

#include "functions/customer_tracking_statuses.sql"

#include "functions/customer_tracking_check_host.sql"
