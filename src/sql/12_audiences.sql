--------------------------------------------------------------------------------
-- Privileges on functions: each function's file says who may run it
-- (customer_tracking_set_audience(): dba, dashboard or storefront).
--------------------------------------------------------------------------------
#include "functions/customer_tracking_set_audience.sql"
