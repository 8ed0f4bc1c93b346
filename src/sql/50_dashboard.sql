--------------------------------------------------------------------------------
-- Dashboard functions. SECURITY INVOKER: row-level security decides what the
-- caller sees (owners their own shops, service roles everything, anyone else
-- nothing). They read the rollups, so their cost does not grow with orders.
--------------------------------------------------------------------------------
#include "functions/customer_tracking_new_customers.sql"

-- Money as the dashboard functions return it: 2 decimals or more, never rounded.
#include "functions/customer_tracking_money.sql"

#include "types/customer_tracking_metrics.sql"

#include "functions/shop_customer_metrics.sql"

#include "functions/shop_customer_metrics_rows.sql"

#include "functions/shop_customer_overview_json.sql"

#include "functions/shop_customer_overview.sql"

#include "functions/shop_slug_analytics.sql"

#include "functions/customer_tracking_customer_page.sql"
#include "functions/shop_customer_list.sql"

#include "functions/customer_purchase_history.sql"

#include "functions/shop_network_analytics.sql"

#include "functions/shop_purchase_frequency.sql"

#include "functions/shop_last_purchase_decay.sql"

#include "functions/shop_daily_series.sql"
