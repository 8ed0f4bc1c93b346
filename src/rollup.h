/*
 * rollup.h: the per-shop rollups the dashboard reads (rollup.cpp): an event's
 * deltas, summed per key and written once per shop into this backend's stripe.
 */
#ifndef CT_ROLLUP_H
#define CT_ROLLUP_H

#include "customers.h"
#include "host_cache.h"
#include "ledger.h"
#include "order.h"

/* Everything an event changed that the rollups derive from. */
struct EventChanges
{
	int ncustomers;
	CustomerChange customers[CT_MAX_CUSTOMERS];
	int npairs;
	PairChange pairs[CT_MAX_PAIRS];
};

/* Shop rollups: statements, TRUNCATE clean-up. */
void ct_rollup_prepare(HostCache *hc);
const char *ct_rollup_truncate_sql(const HostCache *hc);

/*
 * Applies an event to the shop rollups: the order's old contribution (its
 * ledger row, if present) and new one (after, if it contributes), and the
 * customer and per-slug changes.
 */
void ct_rollup_apply(const HostCache *hc, const LedgerRow *before, const OrderImage *after,
					 const EventChanges *changes);
/* Writes the running (sub)transaction's pending rollup deltas. */
void ct_rollup_flush(const HostCache *hc);
/* Deltas not yet written (checked before commit), and the cache they were made with. */
bool ct_rollup_pending(void);
const HostCache *ct_rollup_pending_cache(void);
void ct_rollup_init(void);


#endif
