--------------------------------------------------------------------------------
-- Citus: distributing the host tables and the extension's by shop.
--------------------------------------------------------------------------------
#include "functions/customer_tracking_distributed_tables.sql"

#include "functions/customer_tracking_distribution_problems.sql"

#include "functions/customer_tracking_distribute.sql"
