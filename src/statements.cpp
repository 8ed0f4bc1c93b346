/*
 * statements.cpp: the modules' statements and derived state, prepared or
 * built on first use and kept per orders relation (see statements.h).
 */
#include "statements.h"

#include "host_cache.h"

extern "C" {
#include "access/xact.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

/* What a kept statement or state depends on: the orders relation, and which one it is. */
struct KeptKey
{
	Oid orders_relid;
	const void *def; /* the module's Statement or ModuleState */
};

struct Kept
{
	KeptKey key;	   /* hash key: first */
	uint64 generation; /* of the host description it was made from */
	SPIPlanPtr plan;
	void *state;
};

static HTAB *kept = nullptr;
static MemoryContext kept_cxt = nullptr;
/* Replaced plans and states: freed at transaction end (a caller up the stack may use them). */
static List *retired_plans = NIL;
static List *retired_states = NIL;

static Kept *find(const HostCache *hc, const void *def, bool *fresh)
{
	KeptKey key;
	bool found;

	if (kept == nullptr)
	{
		HASHCTL ctl;
		kept_cxt = AllocSetContextCreate(TopMemoryContext, "customer_tracking statements",
										 ALLOCSET_SMALL_SIZES);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(KeptKey);
		ctl.entrysize = sizeof(Kept);
		ctl.hcxt = kept_cxt;
		kept = hash_create("customer_tracking statements", 64, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.orders_relid = hc->orders_relid;
	key.def = def;
	Kept *entry = static_cast<Kept *>(hash_search(kept, &key, HASH_ENTER, &found));
	if (!found)
	{
		entry->generation = 0;
		entry->plan = nullptr;
		entry->state = nullptr;
	}
	*fresh = found && entry->generation == hc->generation;
	if (!*fresh)
	{
		MemoryContext old = MemoryContextSwitchTo(kept_cxt);
		if (entry->plan != nullptr)
			retired_plans = lappend(retired_plans, entry->plan);
		if (entry->state != nullptr)
			retired_states = lappend(retired_states, entry->state);
		MemoryContextSwitchTo(old);
		entry->plan = nullptr;
		entry->state = nullptr;
	}
	return entry;
}

SPIPlanPtr ct_keep_generic_plan(const char *sql, int nargs, const Oid *types, const char *what)
{
	/*
	 * Generic plans: the statements are keyed lookups whose best plan does not
	 * depend on the values, and planning them again on every order (what the
	 * plan cache may choose for parameterised INSERT ... ON CONFLICT with CTEs)
	 * would cost more than running them.
	 */
	SPIPlanPtr plan =
		SPI_prepare_cursor(sql, nargs, const_cast<Oid *>(types), CURSOR_OPT_GENERIC_PLAN);
	if (plan == nullptr)
		elog(ERROR, "customer_tracking: could not prepare %s: %s", what,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "customer_tracking: could not keep %s", what);
	return plan;
}

/*
 * The memo of a statement or state always holds the result of the last
 * lookup for it: a plan is only replaced by a lookup for the same statement,
 * which updates the memo too, so what the memo holds is never retired.
 */
static SPIPlanPtr plan_of(const HostCache *hc, Statement *stmt)
{
	if (stmt->memo_hc == hc && stmt->memo_generation == hc->generation)
		return stmt->memo_plan;
	bool fresh;
	Kept *entry = find(hc, stmt, &fresh);
	stmt->memo_hc = nullptr;
	if (!fresh)
	{
		/* Until prepared, the entry must not look usable (an error may come). */
		entry->plan = ct_keep_generic_plan(stmt->sql(hc), stmt->nargs, stmt->types,
										   psprintf("statement %s", stmt->name));
		entry->generation = hc->generation;
	}
	stmt->memo_plan = entry->plan;
	stmt->memo_generation = hc->generation;
	stmt->memo_hc = hc;
	return entry->plan;
}

void ct_exec(const HostCache *hc, Statement *stmt, Datum *values, const char *nulls, int expected)
{
	int rc = SPI_execute_plan(plan_of(hc, stmt), values, nulls, false, 0);
	if (rc != expected)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("customer_tracking: internal statement %s failed: %s", stmt->name,
							   SPI_result_code_string(rc))));
}

void ct_exec_latest(const HostCache *hc, Statement *stmt, Datum *values, const char *nulls,
					int expected)
{
	int rc = SPI_execute_snapshot(plan_of(hc, stmt), values, nulls, GetLatestSnapshot(),
								  InvalidSnapshot, false, false, 0);
	if (rc != expected)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("customer_tracking: internal statement %s failed: %s", stmt->name,
							   SPI_result_code_string(rc))));
}

const void *ct_module_state(const HostCache *hc, ModuleState *def)
{
	if (def->memo_hc == hc && def->memo_generation == hc->generation)
		return def->memo_state;
	bool fresh;
	Kept *entry = find(hc, def, &fresh);
	def->memo_hc = nullptr;
	if (!fresh)
	{
		void *state = MemoryContextAllocZero(kept_cxt, def->size);
		def->build(hc, state);
		entry->state = state;
		entry->generation = hc->generation;
	}
	def->memo_state = entry->state;
	def->memo_generation = hc->generation;
	def->memo_hc = hc;
	return entry->state;
}

static void free_retired_at_xact_end(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	ListCell *lc;
	foreach (lc, retired_plans)
		SPI_freeplan(static_cast<SPIPlanPtr>(lfirst(lc)));
	foreach (lc, retired_states)
		pfree(lfirst(lc));
	list_free(retired_plans);
	list_free(retired_states);
	retired_plans = NIL;
	retired_states = NIL;
}

void ct_statements_init(void) { RegisterXactCallback(free_retired_at_xact_end, nullptr); }
