/*
 * pending.h: the orders changed by the running transaction, applied once at
 * commit (pending.cpp).
 */
#ifndef CT_PENDING_H
#define CT_PENDING_H

#include "host_cache.h"

/*
 * Orders changed by the running transaction, applied once at commit
 * (pending.cpp). tuple nullptr: the order under this key is gone; inserted:
 * the change inserted it (only the first change of a key counts).
 */
void ct_pending_note(const HostCache *hc, TupleDesc desc, const pg_uuid_t *shop,
					 const pg_uuid_t *id, HeapTuple tuple, bool purchase, bool inserted);
/* TRUNCATE: every order of this orders relation noted so far is gone. */
void ct_pending_forget_all(Oid orders_relid);
/* Applies what is noted now (maintenance functions), without the commit-time guard. */
void ct_pending_apply_now(void);
/* A relation changed: what is kept about a distributed shop_orders. */
void ct_pending_relcache(Oid relid);
void ct_pending_init(void);

#endif
