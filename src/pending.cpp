/*
 * pending.cpp: orders are counted once per transaction, at commit.
 *
 * A row lock taken during a statement is held until commit. Taken in the
 * application's row order, locks on shared rows (a customer, its per-slug
 * counts) deadlock between two transactions that write the same customers in
 * opposite orders, and a transaction left open (a checkout waiting on a
 * payment provider) makes every other order of its customers wait. So the
 * AFTER row trigger only notes which orders changed; just before the
 * transaction commits (or prepares) this module
 *
 *   1. takes each changed order's latest version in the transaction,
 *   2. reads what its ledger row says it counted so far,
 *   3. locks every customer involved in customer id order, and
 *   4. applies each order against its ledger row (apply.cpp), then writes
 *      the rollup deltas.
 *
 * Locks on shared rows are thus only taken by committing transactions, in
 * one global order, and held for the few milliseconds of the commit.
 *
 * Notes are kept per (shop, order) key, one version per subtransaction level:
 * ROLLBACK TO SAVEPOINT drops what the rolled-back statements noted.
 *
 * Boundary rule (pg_boundary.hpp): this file calls PostgreSQL throughout and
 * holds no object with a destructor in any frame.
 */
#include "pg_boundary.hpp"
#include "pending.h"
#include "apply.h"
#include "backfill.h"
#include "citus.h"
#include "codes.h"
#include "customers.h"
#include "issues.h"
#include "order.h"
#include "rollup.h"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include <algorithm>

struct PendingVersion
{
	SubTransactionId subxid;
	const HostCache *hc;
	TupleDesc desc;
	HeapTuple tuple; /* nullptr: gone */
	bool purchase;
	TimestampTz paid_since; /* when this transaction first saw it paid */
	PendingVersion *below;	/* the version of an enclosing subtransaction level */
};

struct PendingKey
{
	pg_uuid_t shop;
	pg_uuid_t id;
};

struct PendingEntry
{
	PendingKey key; /* hash key: first */
	int64 seq;		/* first noted: the apply goes in this order */
	bool inserted;	/* its first change in this transaction inserted it */
	PendingVersion *top;
};

static MemoryContext pending_cxt = nullptr; /* child of TopTransactionContext */
static HTAB *pending_orders = nullptr;
static int64 pending_seq = 0;
static SubTransactionId pending_max_subxid = InvalidSubTransactionId;
/*
 * The layout of the last note and its copy (tuples keep the layout they had).
 * Keyed by the cache too: a freed descriptor's address may be reused for a
 * new layout, but any DDL on the table replaces the cache first.
 */
static TupleDesc last_rel_desc = nullptr;
static const HostCache *last_desc_cache = nullptr;
static TupleDesc last_desc_copy = nullptr;

static void forget_everything(void)
{
	/* The memory goes with TopTransactionContext. */
	pending_cxt = nullptr;
	pending_orders = nullptr;
	pending_seq = 0;
	pending_max_subxid = InvalidSubTransactionId;
	last_rel_desc = nullptr;
	last_desc_cache = nullptr;
	last_desc_copy = nullptr;
}

static void ensure_table(void)
{
	HASHCTL ctl;

	if (pending_orders != nullptr)
		return;
	pending_cxt = AllocSetContextCreate(TopTransactionContext, "customer_tracking pending orders",
										ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(PendingKey);
	ctl.entrysize = sizeof(PendingEntry);
	ctl.hcxt = pending_cxt;
	pending_orders = hash_create("customer_tracking pending orders", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static TupleDesc desc_copy(const HostCache *hc, TupleDesc desc)
{
	if (desc != last_rel_desc || hc != last_desc_cache || last_desc_copy == nullptr)
	{
		MemoryContext old = MemoryContextSwitchTo(pending_cxt);
		last_desc_copy = CreateTupleDescCopy(desc);
		MemoryContextSwitchTo(old);
		last_rel_desc = desc;
		last_desc_cache = hc;
	}
	return last_desc_copy;
}

void ct_pending_note(const HostCache *hc, TupleDesc desc, const pg_uuid_t *shop,
					 const pg_uuid_t *id, HeapTuple tuple, bool purchase, bool inserted)
{
	PendingKey key;
	bool found;
	SubTransactionId subxid = GetCurrentSubTransactionId();

	ensure_table();
	memset(&key, 0, sizeof(key));
	key.shop = *shop;
	key.id = *id;
	PendingEntry *entry =
		static_cast<PendingEntry *>(hash_search(pending_orders, &key, HASH_ENTER, &found));
	if (!found)
	{
		entry->seq = pending_seq++;
		entry->inserted = inserted;
		entry->top = nullptr;
	}

	MemoryContext old = MemoryContextSwitchTo(pending_cxt);
	PendingVersion *prev = entry->top;
	TimestampTz paid_since = 0;
	if (purchase)
		paid_since = prev != nullptr && prev->tuple != nullptr && prev->purchase
						 ? prev->paid_since
						 : GetCurrentStatementStartTimestamp();

	PendingVersion *v;
	if (prev != nullptr && prev->subxid >= subxid)
	{
		/* This level (or a committed inner one) already has a version: replace it. */
		v = prev;
		if (v->tuple != nullptr)
			heap_freetuple(v->tuple);
	}
	else
	{
		v = static_cast<PendingVersion *>(palloc(sizeof(PendingVersion)));
		v->below = prev;
		entry->top = v;
	}
	v->subxid = subxid;
	v->hc = hc;
	v->desc = desc_copy(hc, desc);
	v->tuple = tuple != nullptr ? heap_copytuple(tuple) : nullptr;
	v->purchase = purchase;
	v->paid_since = paid_since;
	MemoryContextSwitchTo(old);
	pending_max_subxid = std::max(pending_max_subxid, subxid);

	/* A bulk load: count what it changed so far, so that the notes stay bounded. */
	if (ct_apply_batch > 0 && hash_get_num_entries(pending_orders) >= ct_apply_batch &&
		GetCurrentTransactionNestLevel() == 1)
		ct_pending_apply_now();
}

void ct_pending_forget_all(Oid orders_relid)
{
	HASH_SEQ_STATUS status;
	PendingEntry *entry;

	if (pending_orders == nullptr)
		return;
	hash_seq_init(&status, pending_orders);
	while ((entry = static_cast<PendingEntry *>(hash_seq_search(&status))) != nullptr)
		if (entry->top->hc->orders_relid == orders_relid)
			ct_pending_note(entry->top->hc, entry->top->desc, &entry->key.shop, &entry->key.id,
							nullptr, false, false);
}

/* ROLLBACK TO SAVEPOINT: the versions noted at this level and inside it. */
static void drop_level(SubTransactionId subxid)
{
	HASH_SEQ_STATUS status;
	PendingEntry *entry;

	if (pending_orders == nullptr || pending_max_subxid < subxid)
		return;
	hash_seq_init(&status, pending_orders);
	while ((entry = static_cast<PendingEntry *>(hash_seq_search(&status))) != nullptr)
	{
		while (entry->top != nullptr && entry->top->subxid >= subxid)
			entry->top = entry->top->below;
		if (entry->top == nullptr)
			hash_search(pending_orders, &entry->key, HASH_REMOVE, nullptr);
	}
}

static int compare_work_customer(const void *a, const void *b)
{
	return memcmp(static_cast<const pg_uuid_t *>(a)->data, static_cast<const pg_uuid_t *>(b)->data,
				  UUID_LEN);
}

/* A customer to lock, with the order that links to it (its row is made if missing). */
struct CustomerLock
{
	pg_uuid_t customer;
	pg_uuid_t shop;
	const OrderWork *linked;
	const HostCache *hc;
};

static int compare_locks(const void *a, const void *b)
{
	return compare_work_customer(&static_cast<const CustomerLock *>(a)->customer,
								 &static_cast<const CustomerLock *>(b)->customer);
}

static int compare_entries(const void *a, const void *b)
{
	int64 x = (*static_cast<PendingEntry *const *>(a))->seq;
	int64 y = (*static_cast<PendingEntry *const *>(b))->seq;
	return x < y ? -1 : x > y ? 1 : 0;
}

/* The noted orders, in the order they were first noted. */
static PendingEntry **collect(int *n)
{
	HASH_SEQ_STATUS status;
	PendingEntry *entry;
	int count = 0;
	PendingEntry **entries = static_cast<PendingEntry **>(
		palloc(sizeof(PendingEntry *) * (hash_get_num_entries(pending_orders) + 1)));

	hash_seq_init(&status, pending_orders);
	while ((entry = static_cast<PendingEntry *>(hash_seq_search(&status))) != nullptr)
		entries[count++] = entry;
	qsort(entries, count, sizeof(PendingEntry *), compare_entries);
	*n = count;
	return entries;
}

/*
 * Applies the noted orders. Every shared row is locked here: customers in id
 * order first when the transaction has several, then the rollup stripes of
 * this backend. Runs in the caller's memory context, which it fills.
 */
static void apply(PendingEntry **entries, int n, bool at_commit)
{
	MemoryContext cxt = CurrentMemoryContext;
	OrderWork *work = static_cast<OrderWork *>(palloc0(sizeof(OrderWork) * n));
	/*
	 * Every cache is of the same extension (owner, schema); on a Citus worker
	 * they may be of several shards: each order is applied with its own.
	 */
	const HostCache *owner_hc = entries[0]->top->hc;
	Oid save_userid;
	int save_sec_context;
	int nlocks = 0;
	CustomerLock *locks;

	/*
	 * The shops involved, in share mode: a backfill counting their customers
	 * (backfill.cpp) holds them exclusively until it commits, and the
	 * snapshot below must see what it wrote.
	 */
	{
		pg_uuid_t *shops = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t) * n));
		for (int i = 0; i < n; i++)
			shops[i] = entries[i]->key.shop;
		ct_lock_shops(shops, n, ShareLock);
		pfree(shops);
	}

	/* At commit no statement is running: the writes below need a snapshot of their own. */
	PushActiveSnapshot(GetTransactionSnapshot());
	ct_begin_as_owner(owner_hc, &save_userid, &save_sec_context);

	/* 1-2. Latest versions and ledger rows; no shared row is locked yet. */
	for (int i = 0; i < n; i++)
	{
		const PendingVersion *v = entries[i]->top;
		OrderWork *w = &work[i];
		w->id = entries[i]->key.id;
		w->shop = entries[i]->key.shop;
		w->inserted = entries[i]->inserted;
		w->completed_at = v->paid_since != 0 ? v->paid_since : GetCurrentStatementStartTimestamp();
		w->img = v->tuple != nullptr ? ct_order_decode(v->hc, v->desc, v->tuple) : nullptr;
		ct_order_prepare(v->hc, w, cxt);
		ct_loyalty_prepare(v->hc, w, cxt);
	}

	/* 3. The customers involved, in id order, when there is more than one. */
	locks = static_cast<CustomerLock *>(
		palloc(sizeof(CustomerLock) * ((CT_MAX_CUSTOMERS + 1) * n + 1)));
	for (int i = 0; i < n; i++)
		for (int c = 0; c < work[i].ncustomers; c++)
		{
			CustomerLock *l = &locks[nlocks++];
			l->customer = work[i].customers[c];
			l->shop = work[i].customer_shops[c];
			l->hc = entries[i]->top->hc;
			l->linked = work[i].img != nullptr && work[i].img->trackable &&
								memcmp(work[i].img->customer.data, l->customer.data, UUID_LEN) == 0
							? &work[i]
							: nullptr;
		}
	qsort(locks, nlocks, sizeof(CustomerLock), compare_locks);
	bool several = nlocks > 1 && compare_locks(&locks[0], &locks[nlocks - 1]) != 0;
	for (int i = 0; several && i < nlocks; i++)
	{
		CustomerChange change;
		int j = i;
		const OrderWork *linked = nullptr;
		/* One lock per customer; made when an order links to it. */
		while (j < nlocks && compare_locks(&locks[i], &locks[j]) == 0)
		{
			if (locks[j].linked != nullptr)
				linked = locks[j].linked;
			j++;
		}
		if (linked != nullptr)
			ct_customer_lock_linked(locks[i].hc, linked->img, &change, cxt);
		else
			ct_customer_lock(locks[i].hc, &locks[i].customer, &locks[i].shop, &change, cxt);
		i = j - 1;
	}

	/* 4. Each order against its ledger row, then the rollups. */
	for (int i = 0; i < n; i++)
	{
		ct_order_apply(entries[i]->top->hc, &work[i], cxt);
		ct_loyalty_apply(entries[i]->top->hc, &work[i], cxt);
	}
	ct_rollup_flush(owner_hc);
	ct_end_as_owner(&save_userid, &save_sec_context);
	PopActiveSnapshot();

	/*
	 * Deferred trigger events the writes above queued (a DBA's constraint
	 * trigger on a table of the extension): at commit they would be dropped.
	 * Mid-transaction (customer_tracking_apply_pending()) they fire at commit
	 * as usual; firing them here could fire the events of a running query.
	 */
	if (at_commit)
		AfterTriggerFireDeferred();
}

void ct_pending_apply_now(void)
{
	int n;

	if (pending_orders == nullptr || hash_get_num_entries(pending_orders) == 0)
		return;
	PendingEntry **entries = collect(&n);
	apply(entries, n, false);
	/*
	 * Inside a subtransaction the writes above may yet be rolled back while
	 * the orders stay: keep the notes, and the commit applies them again
	 * (against ledger rows that already say so, that changes nothing).
	 */
	if (GetCurrentTransactionNestLevel() > 1)
		return;
	MemoryContextDelete(pending_cxt);
	forget_everything();
}

/*
 * customer_tracking_apply_pending_here(): on a Citus worker, the commit-time apply of the notes
 * of this backend, asked for by the initiator of the distributed transaction before it
 * prepares it, or by its customer_tracking_apply_pending() (citus_flush()). In a
 * subtransaction: a failure leaves the notes for the apply at PREPARE, and never fails the
 * initiator's query; inside a savepoint of the initiator the notes stay after the apply too.
 * STABLE, returns false: a one-time filter, evaluated once per shard of the initiator's query.
 */
CT_FUNCTION(ct_apply_pending_here)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	int n;

	if (pending_orders == nullptr || hash_get_num_entries(pending_orders) == 0)
		PG_RETURN_BOOL(false);
	PendingEntry **entries = collect(&n);
	volatile bool applied = false;
	BeginInternalSubTransaction(nullptr);
	PG_TRY();
	{
		apply(entries, n, false);
		ReleaseCurrentSubTransaction();
		applied = true;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		ErrorData *error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		elog(DEBUG1, "customer_tracking: orders left for the prepare to apply: %s", error->message);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	/* In a savepoint (customer_tracking_apply_pending()): kept, as ct_pending_apply_now() does. */
	if (applied && GetCurrentTransactionNestLevel() == 1)
	{
		MemoryContextDelete(pending_cxt);
		forget_everything();
	}
	PG_RETURN_BOOL(false);
}

/* What is left when the apply at commit failed: the orders stay saved and are listed. */
static void record_not_applied(PendingEntry **entries, int n, const ErrorData *error)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile int recorded = 0;

	BeginInternalSubTransaction(nullptr);
	PG_TRY();
	{
		Oid save_userid;
		int save_sec_context;
		PushActiveSnapshot(GetTransactionSnapshot());
		ct_begin_as_owner(entries[0]->top->hc, &save_userid, &save_sec_context);
		for (int i = 0; i < n; i++)
		{
			/* Each order's own cache: on Citus, the issues shard next to its orders shard. */
			ct_issue_not_counted(entries[i]->top->hc, &entries[i]->key.shop, &entries[i]->key.id,
								 error->message != nullptr ? error->message : "");
			recorded++;
		}
		ct_end_as_owner(&save_userid, &save_sec_context);
		PopActiveSnapshot();
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		recorded = 0;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;

	ereport(WARNING,
			(errcode(error->sqlerrcode),
			 errmsg("customer_tracking: %d changed order(s) saved but not counted: %s", n,
					error->message != nullptr ? error->message : "unknown error"),
			 recorded > 0
				 ? errdetail("Listed in customer_tracking_issues as \"not_counted\".")
				 : errdetail("They could not be listed in customer_tracking_issues either."),
			 errhint("Run SELECT * FROM customer_tracking_backfill(); to count them.")));
}

static bool must_fail_commit(const ErrorData *error)
{
	/* Strict mode, and errors a client retries anyway at these isolation levels. */
	if (ct_strict)
		return true;
	if (IsolationUsesXactSnapshot() && (error->sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE ||
										error->sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED))
		return true;
	/* The session is going away: nothing can be done. */
	return error->elevel > ERROR;
}

/*
 * At commit: apply in a subtransaction, so that a failure (a timeout while
 * waiting for a committing transaction, out of memory) never takes the
 * orders with it; a deadlock, which the id order rules out between orders,
 * is retried.
 */
static void apply_at_commit(bool prepare)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	int n;

	if (pending_orders == nullptr || hash_get_num_entries(pending_orders) == 0)
		return;
	PendingEntry **entries = collect(&n);
	MemoryContext work_cxt = AllocSetContextCreate(TopTransactionContext, "customer_tracking apply",
												   ALLOCSET_DEFAULT_SIZES);
	int save_lock_timeout = LockTimeout;
	/*
	 * A Citus worker preparing its part of a distributed transaction whose
	 * initiator did not apply here first (citus_flush(): the
	 * library not loaded there, or no SELECT on shop_orders): waiting for a
	 * customer locked by a transaction prepared on this node, which may be
	 * waiting for us on another node, could last forever. Bounded: past it
	 * the orders are saved but not counted, and listed.
	 */
	int wait_limit = 0;
	for (int i = 0; prepare && i < n; i++)
		if (entries[i]->top->hc->citus_shard)
			wait_limit = 10000;

	for (int attempt = 1;; attempt++)
	{
		ErrorData *error = nullptr;

		/* Waits here are for other commits only: a client's lock_timeout is not meant for them. */
		LockTimeout = wait_limit;
		BeginInternalSubTransaction(nullptr);
		MemoryContextSwitchTo(work_cxt);
		PG_TRY();
		{
			apply(entries, n, true);
			ReleaseCurrentSubTransaction();
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(cxt);
			error = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
		}
		PG_END_TRY();
		LockTimeout = save_lock_timeout;
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		MemoryContextReset(work_cxt);

		if (error == nullptr)
			break;
		if (must_fail_commit(error))
			ReThrowError(error);
		if (error->sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED && attempt < 3)
		{
			FreeErrorData(error);
			continue;
		}
		record_not_applied(entries, n, error);
		FreeErrorData(error);
		break;
	}
	MemoryContextDelete(work_cxt);
}

/* ------------------------------------------------------------------------
 * Citus: applying on the workers before the distributed transaction prepares
 * ------------------------------------------------------------------------
 *
 * On a Citus worker the notes are applied when the initiator (the coordinator,
 * or the node the client is connected to) prepares the distributed transaction
 * on every node at once. A transaction that wrote orders on two nodes would
 * then lock customers on both at the same time, while other ones already
 * prepared on one of them hold theirs until the commit: two such transactions
 * writing customers of both nodes can wait for each other forever (every node
 * locks in customer id order, but not the two together).
 *
 * So the initiator, just before its commit starts the prepares (this callback
 * runs before Citus's), asks each node in turn, in node group order, to apply
 * the notes of the transaction's backends there: a query over the shards of
 * shop_orders on that node whose one-time filter is
 * customer_tracking_apply_pending_here(). Citus runs it on the connections that
 * wrote those shards, i.e. in the backends holding the notes. Customers are
 * then locked in one order over the whole cluster (node, then customer id),
 * while every transaction involved is still running, and nothing is left to
 * lock when the nodes prepare. Needed only when the transaction may have
 * written more than one shard: one statement that changed at most one row
 * (a checkout, a payment webhook) commits on one node, without prepares.
 */
static int citus_writes = 0;  /* DML statements on a distributed shop_orders in this transaction */
static uint64 citus_rows = 0; /* rows they changed */
static Oid citus_orders_relid =
	InvalidOid; /* the distributed shop_orders last seen (or InvalidOid) */
static Oid citus_checked_relid = InvalidOid;
static List *citus_flush_plan = NIL; /* per node group, in order: one shop id per shard there */
static char *citus_flush_sql = nullptr;
static ExecutorEnd_hook_type previous_executor_end = nullptr;

/* Whether relid is a hash-distributed shop_orders (Citus's table, not a shard). */
static bool is_distributed_orders(Oid relid)
{
	if (relid == citus_orders_relid)
		return true;
	if (relid == citus_checked_relid)
		return false;
	const char *name = get_rel_name(relid);
	CitusTableInfo info;
	if (name != nullptr && strcmp(name, "shop_orders") == 0 && ct_citus_present() &&
		ct_citus_table(relid, &info) && info.method == 'h')
	{
		citus_orders_relid = relid;
		return true;
	}
	citus_checked_relid = relid;
	return false;
}

void ct_pending_relcache(Oid relid)
{
	if (relid == InvalidOid || relid == citus_orders_relid || relid == citus_checked_relid)
	{
		citus_orders_relid = InvalidOid;
		citus_checked_relid = InvalidOid;
		citus_flush_plan = NIL; /* in TopMemoryContext: a small leak until the next build */
		citus_flush_sql = nullptr;
	}
}

static bool writes_orders(const PlannedStmt *stmt)
{
	ListCell *lc;
	if (stmt->commandType != CMD_INSERT && stmt->commandType != CMD_UPDATE &&
		stmt->commandType != CMD_DELETE && stmt->commandType != CMD_MERGE)
		return false;
	foreach (lc, stmt->rtable)
	{
		const RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		if (rte->rtekind == RTE_RELATION && rte->relkind == RELKIND_RELATION &&
			is_distributed_orders(rte->relid))
			return true;
	}
	return false;
}

static void count_citus_writes(QueryDesc *desc)
{
	if (desc->plannedstmt != nullptr && desc->estate != nullptr && writes_orders(desc->plannedstmt))
	{
		citus_writes++;
		citus_rows += desc->estate->es_processed;
	}
	if (previous_executor_end != nullptr)
		previous_executor_end(desc);
	else
		standard_ExecutorEnd(desc);
}

/* Node groups in order, each with a shop id of every shard of shop_orders placed there. */
static List *flush_plan(Oid orders)
{
	if (citus_flush_plan != NIL)
		return citus_flush_plan;
	Oid types[1] = {REGCLASSOID};
	Datum args[1] = {ObjectIdGetDatum(orders)};
	const char *sql =
		"SELECT p.groupid, pg_catalog.array_agg(r.v ORDER BY r.shardid) "
		"FROM (SELECT s.shardid, (SELECT x.v FROM (SELECT pg_catalog.md5(s.shardid::text || ':' "
		"|| i)::uuid AS v FROM pg_catalog.generate_series(1, 100000) i) x "
		"WHERE pg_catalog.worker_hash(x.v) BETWEEN s.shardminvalue::int AND "
		"s.shardmaxvalue::int LIMIT 1) AS v "
		"FROM pg_catalog.pg_dist_shard s WHERE s.logicalrelid = $1) r "
		"JOIN pg_catalog.pg_dist_placement p USING (shardid) WHERE r.v IS NOT NULL "
		"GROUP BY 1 ORDER BY 1";
	if (SPI_execute_with_args(sql, 1, types, args, nullptr, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "customer_tracking: could not list the shards of shop_orders");
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	List *plan = NIL;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool isnull;
		Datum shops = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
		plan = lappend(plan, DatumGetPointer(datumCopy(shops, false, -1)));
	}
	MemoryContextSwitchTo(old);

	/* The statement, on the distribution column (the host's shop column). */
	if (SPI_execute_with_args("SELECT pg_catalog.column_to_column_name(logicalrelid, partkey) "
							  "FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1",
							  1, types, args, nullptr, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "customer_tracking: shop_orders is not in Citus's metadata");
	const char *column = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	const char *schema = quote_identifier(get_namespace_name(get_rel_namespace(orders)));
	citus_flush_sql = MemoryContextStrdup(
		TopMemoryContext,
		psprintf("SELECT pg_catalog.count(*) FROM %s.shop_orders o WHERE o.%s "
				 "OPERATOR(pg_catalog.=) ANY ($1) AND %s.customer_tracking_apply_pending_here()",
				 schema, quote_identifier(column), schema));
	citus_flush_plan = plan;
	return plan;
}

/* A backend Citus opened for a distributed transaction started elsewhere (application_name). */
static bool serving_citus(void)
{
	const char *name = GetConfigOption("application_name", true, false);
	return name != nullptr && strncmp(name, "citus_internal", 14) == 0;
}

/*
 * Asks each node in turn to apply the notes of this transaction's backends there: before the
 * prepare (only when more than one row may have been written), or for
 * customer_tracking_apply_pending() (the counters stay: the commit asks again for what the
 * transaction writes afterwards).
 */
static void citus_flush(bool before_prepare)
{
	Oid orders = citus_orders_relid;
	bool several = citus_writes > 1 || citus_rows > 1;
	if (before_prepare)
	{
		citus_writes = 0;
		citus_rows = 0;
	}
	else
		several = true;
	/* Only the initiator: a backend serving another node's transaction is one of those asked. */
	if (!several || !OidIsValid(orders) || serving_citus() ||
		pg_class_aclcheck(orders, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		return; /* without SELECT on shop_orders: applied when the nodes prepare */

	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "customer_tracking: SPI_connect failed");
	Oid types[1] = {UUIDARRAYOID};
	ListCell *lc;
	foreach (lc, flush_plan(orders))
	{
		Datum args[1] = {PointerGetDatum(lfirst(lc))};
		int rc = SPI_execute_with_args(citus_flush_sql, 1, types, args, nullptr, false, 0);
		/* Not applied here: the node applies them when it prepares (never fail the commit). */
		if (rc != SPI_OK_SELECT)
			elog(DEBUG1, "customer_tracking: orders not applied before the prepare: %s",
				 SPI_result_code_string(rc));
	}
	SPI_finish();
	PopActiveSnapshot();
}

/*
 * customer_tracking_apply_pending(): count this transaction's orders now, before commit. On a
 * Citus node that wrote a distributed shop_orders in this transaction (the coordinator, or a
 * worker a client writes through), also on every node holding its orders, as before the prepare.
 */
CT_FUNCTION(ct_apply_pending)
{
	ct_pending_apply_now();
	if (citus_writes > 0)
		citus_flush(false);
	PG_RETURN_VOID();
}

static void at_xact_event(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (citus_writes > 0 && event == XACT_EVENT_PRE_COMMIT)
				citus_flush(true);
			apply_at_commit(event == XACT_EVENT_PRE_PREPARE);
			forget_everything();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			forget_everything();
			citus_writes = 0;
			citus_rows = 0;
			break;
		default:
			break;
	}
}

static void at_subxact_event(SubXactEvent event, SubTransactionId subxid,
							 SubTransactionId parent_subxid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		drop_level(subxid);
}

/*
 * TRUNCATE of a table whose orders this transaction noted: they are gone. The
 * TRUNCATE trigger says so on one node; on Citus the trigger fires on the
 * coordinator only, while the notes are on the workers, where Citus truncates
 * the shards (TRUNCATE TABLE shop_orders_102008) without firing it.
 */
static ProcessUtility_hook_type previous_utility_hook = nullptr;

static void forget_truncated(PlannedStmt *pstmt, const char *query, bool read_only_tree,
							 ProcessUtilityContext context, ParamListInfo params,
							 QueryEnvironment *env, DestReceiver *dest, QueryCompletion *qc)
{
	List *truncated = NIL;
	ListCell *lc;

	/* COPY into a distributed shop_orders: rows of any shards (see citus_flush()). */
	if (IsA(pstmt->utilityStmt, CopyStmt) && castNode(CopyStmt, pstmt->utilityStmt)->is_from &&
		castNode(CopyStmt, pstmt->utilityStmt)->relation != nullptr)
	{
		Oid relid =
			RangeVarGetRelid(castNode(CopyStmt, pstmt->utilityStmt)->relation, NoLock, true);
		if (OidIsValid(relid) && is_distributed_orders(relid))
			citus_writes += 2;
	}
	if (pending_orders != nullptr && hash_get_num_entries(pending_orders) > 0 &&
		IsA(pstmt->utilityStmt, TruncateStmt))
		foreach (lc, castNode(TruncateStmt, pstmt->utilityStmt)->relations)
		{
			Oid relid = RangeVarGetRelid(lfirst_node(RangeVar, lc), NoLock, true);
			if (OidIsValid(relid))
				truncated = lappend_oid(truncated, relid);
		}
	ct_citus_before_drop_extension(pstmt->utilityStmt);
	if (previous_utility_hook != nullptr)
		previous_utility_hook(pstmt, query, read_only_tree, context, params, env, dest, qc);
	else
		standard_ProcessUtility(pstmt, query, read_only_tree, context, params, env, dest, qc);
	foreach (lc, truncated)
		ct_pending_forget_all(lfirst_oid(lc));
}

void ct_pending_init(void)
{
	RegisterXactCallback(at_xact_event, nullptr);
	RegisterSubXactCallback(at_subxact_event, nullptr);
	previous_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = forget_truncated;
	previous_executor_end = ExecutorEnd_hook;
	ExecutorEnd_hook = count_citus_writes;
}
