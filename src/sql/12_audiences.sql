--------------------------------------------------------------------------------
-- Privileges on functions: each function's file says who may run it
-- (customer_tracking_set_audience(): dba, dashboard or storefront); on tables and views, the
-- concern file that creates them (customer_tracking_set_table_audience(): dba or dashboard).
--------------------------------------------------------------------------------
#include "functions/customer_tracking_set_audience.sql"
#include "functions/customer_tracking_set_table_audience.sql"
