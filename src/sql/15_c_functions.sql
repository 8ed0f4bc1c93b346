--------------------------------------------------------------------------------
-- C functions
--------------------------------------------------------------------------------
#include "functions/normalize_phone.sql"

#include "functions/customer_tracking_customer_id.sql"

#include "functions/customer_tracking_link_order.sql"

#include "functions/customer_tracking_track_order.sql"

#include "functions/customer_tracking_flush_rollups.sql"

#include "functions/customer_tracking_truncate_orders.sql"

#include "functions/customer_tracking_apply_pending.sql"
#include "functions/customer_tracking_apply_pending_here.sql"

#include "functions/customer_tracking_decode_order.sql"

#include "functions/customer_tracking_host_state.sql"

#include "functions/customer_tracking_status_list.sql"

#include "functions/customer_tracking_status_class.sql"

#include "functions/customer_tracking_network_name.sql"

#include "functions/customer_tracking_valid_time_zone.sql"

#include "functions/customer_tracking_ddl_guard.sql"
