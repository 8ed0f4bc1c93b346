/*
 * apply.h: applying one order at commit against its ledger row (apply.cpp):
 * the ledger, its customers, per-slug counts and rollup deltas.
 */
#ifndef CT_APPLY_H
#define CT_APPLY_H

#include "customers.h"
#include "host_cache.h"
#include "ledger.h"
#include "order.h"

/*
 * An order as the commit-time apply sees it (pending.cpp, apply.cpp): its
 * key, its latest version in this transaction, and what its ledger row says.
 */
struct OrderWork
{
	pg_uuid_t id;
	pg_uuid_t shop;
	OrderImage *img;		  /* latest version; nullptr: gone (deleted, or moved to another key) */
	bool inserted;			  /* its first change in this transaction inserted it */
	TimestampTz completed_at; /* when this transaction first saw it paid */
	bool skip;
	LedgerRow ledger;
	bool ledger_fetched;
	bool ledger_deleted;
	int ncustomers; /* customers it counted for and counts for now, and its referral's advocate */
	pg_uuid_t customers[CT_MAX_CUSTOMERS + 1];
	pg_uuid_t customer_shops[CT_MAX_CUSTOMERS + 1];
	struct LoyaltyWork *loyalty; /* codes.cpp: what ct_loyalty_prepare() found */
};

/* Applying orders: read its ledger row (before any customer is locked), then apply. */
void ct_order_prepare(const HostCache *hc, OrderWork *w, MemoryContext cxt);
void ct_order_apply(const HostCache *hc, OrderWork *w, MemoryContext cxt);

#endif
