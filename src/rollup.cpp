/*
 * rollup.cpp: per-shop rollups kept next to the customer stats so dashboard
 * functions read a handful of rows instead of scanning customers.
 */
#include "tracking.h"

void ct_rollup_prepare(HostCache *hc) {}

const char *ct_rollup_truncate_sql(const HostCache *hc) { return ""; }

void ct_rollup_apply(const HostCache *hc, const OrderImage *after, const LedgerRow *before,
					 const CustomerChange *changes, int nchanges, MemoryContext cxt)
{
}
