/*
 * backfill.h: the set-based backfill (backfill.cpp) and the shop locks it
 * shares with the commit-time apply.
 */
#ifndef CT_BACKFILL_H
#define CT_BACKFILL_H

#include "customer_tracking.h"

extern "C" {
#include "storage/lockdefs.h"
#include "utils/uuid.h"
}

/*
 * While ct_backfill_active, the order triggers stand aside: the backfill's
 * own UPDATE of the links does what they would do. Shops are locked on one of
 * CT_SHOP_LOCK_SLOTS advisory-type locks by a hash of their id: in share mode
 * by the commit-time apply (pending.cpp) and customer_tracking_recompute(),
 * exclusively by the backfill while it counts customers. ct_lock_shops()
 * takes the slots in one global order.
 */
extern bool ct_backfill_active;
#define CT_SHOP_LOCK_SLOTS	1024
#define CT_SHOP_LOCK_MAGIC	0x43544246 /* "CTBF" */
#define CT_SHOP_LOCK_FIELD4 3		   /* SQL advisory locks use 1 and 2 */
void ct_lock_shops(const pg_uuid_t *shops, int n, LOCKMODE mode);

void ct_backfill_init(void);

#endif
