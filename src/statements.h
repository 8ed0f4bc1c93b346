/*
 * statements.h: the statements the trigger's modules run, and what they
 * derive from the host description (statements.cpp).
 *
 * Each module owns its statements: their text, parameter types and the
 * positions of their result columns, next to each other in its own file.
 * They are prepared on first use and kept the way ri_triggers.c keeps its
 * plans: in a hash keyed by what a statement depends on, the orders relation
 * whose host description (host_cache.h) names every table it reads or writes
 * (on Citus, the shards next to that orders shard), and the statement. When
 * the relcache callback makes the host description be rebuilt, each statement
 * is prepared again from the new one at its next use; the plan it replaces is
 * freed at transaction end (a trigger further up the stack may be running
 * it). The same holds for a module's state derived from the host description
 * (e.g. whether its table takes direct writes, and its column positions).
 */
#ifndef CT_STATEMENTS_H
#define CT_STATEMENTS_H

#include "customer_tracking.h"

extern "C" {
#include "executor/spi.h"
}

struct HostCache;

/*
 * A statement: its text is built from the host description when it is first
 * prepared. The memo_* fields are statements.cpp's: the last plan looked up
 * for it, so the common case (one orders relation) needs no hash lookup.
 */
struct Statement
{
	const char *name; /* for errors */
	char *(*sql)(const HostCache *hc);
	int nargs;
	const Oid *types;
	const HostCache *memo_hc = nullptr;
	uint64 memo_generation = 0;
	SPIPlanPtr memo_plan = nullptr;
};

/* Runs stmt for hc's orders relation (prepared on first use); an unexpected result code raises. */
void ct_exec(const HostCache *hc, Statement *stmt, Datum *values, const char *nulls, int expected);

/*
 * The same with the latest snapshot, also under REPEATABLE READ: a read made
 * under row locks just granted that must see what every committed
 * transaction wrote (referrals.cpp).
 */
void ct_exec_latest(const HostCache *hc, Statement *stmt, Datum *values, const char *nulls,
					int expected);

/* What a module derives from the host description: built on first use into size zeroed bytes. */
struct ModuleState
{
	const char *name;
	size_t size;
	void (*build)(const HostCache *hc, void *state);
	const HostCache *memo_hc = nullptr; /* as in Statement */
	uint64 memo_generation = 0;
	const void *memo_state = nullptr;
};
const void *ct_module_state(const HostCache *hc, ModuleState *def);

/* Prepares a statement with a generic plan and keeps it (SPI_keepplan); raises on failure. */
SPIPlanPtr ct_keep_generic_plan(const char *sql, int nargs, const Oid *types, const char *what);

void ct_statements_init(void);

#endif
