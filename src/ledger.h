/*
 * ledger.h: the ledger (customer_tracking), one row per tracked order saying
 * what the order counts for (ledger.cpp). What an order has contributed is
 * always read from here, never from OLD.
 */
#ifndef CT_LEDGER_H
#define CT_LEDGER_H

#include "host_cache.h"
#include "order.h"

/* What an order's ledger row says it contributed. */
struct LedgerRow
{
	bool present;
	pg_uuid_t customer;
	pg_uuid_t shop;
	bool purchase;
	Datum amount;
	TimestampTz at;
	bool network_null;
	char *network;
	bool slug_null;
	char *slug;
	char *attribution; /* referrer, UTM fields: compared as one string (ct_ledger_attribution) */
};

/* The order's ledger row (row->present false: none), copied into cxt. */
void ct_ledger_read(const HostCache *hc, const pg_uuid_t *order, const pg_uuid_t *shop,
					LedgerRow *row, MemoryContext cxt);
/* The same, deleting the row. */
void ct_ledger_remove(const HostCache *hc, const pg_uuid_t *order, const pg_uuid_t *shop,
					  LedgerRow *row, MemoryContext cxt);
/* Inserts the order's row; false, with nothing written, when the order has one already. */
bool ct_ledger_insert(const HostCache *hc, const OrderImage *img, TimestampTz completed_at);
/* Rewrites the order's row (completed_at kept from the first time it was paid). */
void ct_ledger_update(const HostCache *hc, const OrderImage *img, TimestampTz completed_at);
/* The order's referrer and UTM fields in the form of LedgerRow::attribution. */
char *ct_ledger_attribution(const OrderImage *img);

#endif
