/*
 * backfill.cpp: set-based backfill and verify of a store with history.
 *
 * customer_tracking_backfill() (src/sql/functions/customer_tracking_backfill.sql) works on groups of
 * whole shops, in two steps per group:
 *
 *   1. Orders (customer_tracking_backfill_orders(), here): one statement reads
 *      every order of the group through the trigger's own decoder
 *      (customer_tracking_backfill_decode(): decode_order() in order.cpp,
 *      with a phone memo, so each distinct raw phone is parsed once), compares
 *      it with its link, ledger row and open issues, and for each order that
 *      differs sets the link (an UPDATE, which also locks the order until the
 *      transaction ends), writes its ledger row and its issues. The order
 *      triggers stand aside for that UPDATE (ct_backfill_active): what they
 *      would do is what the statement does, for all orders at once.
 *   2. Customers (customer_tracking_backfill_customers(), SQL): with the
 *      group's shops locked (customer_tracking_lock_shops()), the customers,
 *      per-slug purchases and rollups are recomputed from the ledger in one
 *      statement and only differences written.
 *
 * Why it is exact while orders arrive: an order's ledger row says what the
 * order counts for, and every writer changes it only while holding the order
 * (its row lock): the trigger's commit-time apply after the transaction that
 * changed the order, the backfill after its UPDATE. Customers and rollups are
 * sums over ledger rows; the commit-time apply changes them holding the
 * shop's lock in share mode (pending.cpp), the backfill recomputes them
 * holding it exclusively, in a statement that starts after the lock is
 * granted, so it sees every apply that came before and none comes in between.
 * A transaction whose orders the backfill did not see (not yet committed)
 * applies them at its commit, after the backfill, against the ledger rows the
 * backfill wrote. The order step waits for transactions that hold orders it
 * must write; it holds no shop lock then, so those can commit. Rows nobody
 * else can write meanwhile (new ledger rows of held orders; customers,
 * per-slug counts and new rollup rows of locked shops) are plain inserts.
 * These statements run without JIT: compiling them cost more than running.
 *
 * On Citus, with shop_orders distributed, backfill and verify go shop by shop
 * through the trigger's path on the shop's node instead (SQL:
 * customer_tracking_orders_distributed()): these statements read a group of
 * shops' orders at once, which Citus does not plan across shards.
 *
 * Shop locks are advisory-type locks (locktype advisory in pg_locks, classid
 * CT_SHOP_LOCK_MAGIC, objsubid 3; a SQL advisory lock cannot collide with
 * them) on one of CT_SHOP_LOCK_SLOTS slots per database, by a hash of the
 * shop id: a transaction locks at most that many, whatever the shops.
 *
 * Progress (customer_tracking_progress): the backend status progress slots
 * that pg_stat_progress_* read, under a command type of the extension's own,
 * so no shared memory of its own and no shared_preload_libraries are needed;
 * customer_tracking_progress_info() reads them back for every backend the
 * caller may see (as pg_stat_get_progress_info() does). A NOTICE goes to the
 * calling session at most every customer_tracking.progress_notice_interval.
 *
 * Boundary rule (pg_boundary.hpp): this file calls PostgreSQL throughout and
 * holds no object with a destructor in any frame.
 */
#include "pg_boundary.hpp"
#include "backfill.h"
#include "host_cache.h"
#include "order.h"
#include "phone_glue.h"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/backend_progress.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"
#include "utils/uuid.h"
}

#include <cstdlib>

bool ct_backfill_active = false;
int ct_progress_notice_interval = 5000;

/* ------------------------------------------------------------------------
 * Shop locks
 * ------------------------------------------------------------------------ */

static uint32 shop_slot(const pg_uuid_t *shop)
{
	return hash_bytes(shop->data, UUID_LEN) % CT_SHOP_LOCK_SLOTS;
}

static int compare_slots(const void *a, const void *b)
{
	uint32 x = *static_cast<const uint32 *>(a);
	uint32 y = *static_cast<const uint32 *>(b);
	return x < y ? -1 : x > y ? 1 : 0;
}

void ct_lock_shops(const pg_uuid_t *shops, int n, LOCKMODE mode)
{
	uint32 *slots;
	int nslots = 0;

	if (n <= 0)
		return;
	slots = static_cast<uint32 *>(palloc(sizeof(uint32) * n));
	for (int i = 0; i < n; i++)
		slots[i] = shop_slot(&shops[i]);
	qsort(slots, n, sizeof(uint32), compare_slots);
	/* In slot order, once each: every locker takes them in one global order. */
	for (int i = 0; i < n; i++)
	{
		LOCKTAG tag;
		if (i > 0 && slots[i] == slots[i - 1])
			continue;
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, CT_SHOP_LOCK_MAGIC, slots[i], CT_SHOP_LOCK_FIELD4);
		(void) LockAcquire(&tag, mode, false, false);
		nslots++;
	}
	pfree(slots);
}

/* customer_tracking_lock_shops(uuid[]): the backfill's exclusive lock on shops, to the end of the transaction. */
CT_FUNCTION(ct_lock_shops_sql)
{
	ArrayType *array;
	Datum *elems;
	bool *nulls;
	int n;
	pg_uuid_t *shops;
	int nshops = 0;

	if (PG_ARGISNULL(0))
		PG_RETURN_VOID();
	array = PG_GETARG_ARRAYTYPE_P(0);
	deconstruct_array(array, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems, &nulls, &n);
	shops = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t) * (n + 1)));
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			shops[nshops++] = *DatumGetUUIDP(elems[i]);
	ct_lock_shops(shops, nshops, ExclusiveLock);
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * Progress
 * ------------------------------------------------------------------------ */

/*
 * Our command type: not one of PostgreSQL's, so that no pg_stat_progress_*
 * view shows it and pg_stat_get_progress_info() never returns it.
 */
#define CT_PROGRESS_COMMAND (static_cast<ProgressCommandType>(0x4354))

enum ProgressParam
{
	PP_COMMAND,
	PP_PHASE,
	PP_SHOPS_TOTAL,
	PP_SHOPS_DONE,
	PP_ORDERS_TOTAL,
	PP_ORDERS_DONE,
	PP_STARTED_AT,
	PP_CHUNKS_TOTAL,
	PP_CHUNKS_DONE,
	PP_COUNT
};

static const char *const command_names[] = {"", "backfill", "verify"};
static const char *const phase_names[] = {
	"",			 "listing shops", "linking orders", "waiting for shop locks", "counting customers",
	"verifying", "done"};
#define N_COMMANDS (sizeof(command_names) / sizeof(command_names[0]))
#define N_PHASES   (sizeof(phase_names) / sizeof(phase_names[0]))

static struct
{
	bool on;
	bool noticed; /* a NOTICE went out: the end gets one too */
	Oid relid;
	int64 values[PP_COUNT];
	TimestampTz last_notice;
} progress;

static int code_of(const char *name, const char *const *names, int n, const char *what)
{
	for (int i = 1; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("customer_tracking: unknown progress %s \"%s\"", what, name)));
	return 0;
}

/* Publishes every value (again: another command in this backend may have taken the slots). */
static void progress_publish(void)
{
	static const int index[PP_COUNT] = {PP_COMMAND,	   PP_PHASE,		PP_SHOPS_TOTAL,
										PP_SHOPS_DONE, PP_ORDERS_TOTAL, PP_ORDERS_DONE,
										PP_STARTED_AT, PP_CHUNKS_TOTAL, PP_CHUNKS_DONE};
	if (MyBEEntry != nullptr && MyBEEntry->st_progress_command != CT_PROGRESS_COMMAND)
		pgstat_progress_start_command(CT_PROGRESS_COMMAND, progress.relid);
	pgstat_progress_update_multi_param(PP_COUNT, index, progress.values);
}

static void progress_notice(bool force)
{
	TimestampTz now;

	if (ct_progress_notice_interval <= 0)
		return;
	now = GetCurrentTimestamp();
	if (force ? !progress.noticed
			  : !TimestampDifferenceExceeds(progress.last_notice, now, ct_progress_notice_interval))
		return;
	progress.last_notice = now;
	progress.noticed = true;
	const int64 *v = progress.values;
	long secs;
	int usecs;
	TimestampDifference(v[PP_STARTED_AT], now, &secs, &usecs);
	ereport(
		NOTICE,
		(errmsg("customer_tracking: %s: %s, %lld of %lld shops, %lld of %lld orders, %ld s",
				command_names[v[PP_COMMAND]], phase_names[v[PP_PHASE]],
				static_cast<long long>(v[PP_SHOPS_DONE]), static_cast<long long>(v[PP_SHOPS_TOTAL]),
				static_cast<long long>(v[PP_ORDERS_DONE]),
				static_cast<long long>(v[PP_ORDERS_TOTAL]), secs),
		 errhidestmt(true), errhidecontext(true)));
}

/* Orders read so far by the running backfill or verify (the decoder counts them). */
static void progress_add_orders(int64 n)
{
	if (!progress.on || n == 0)
		return;
	progress.values[PP_ORDERS_DONE] += n;
	pgstat_progress_update_param(PP_ORDERS_DONE, progress.values[PP_ORDERS_DONE]);
	progress_notice(false);
}

static void progress_reset(void) { memset(&progress, 0, sizeof(progress)); }

/* customer_tracking_progress_begin(command, shops_total, orders_total, chunks_total) */
CT_FUNCTION(ct_progress_begin)
{
	const char *command = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid schema = get_func_namespace(fcinfo->flinfo->fn_oid);

	progress_reset();
	progress.on = true;
	progress.relid = get_relname_relid("shop_orders", schema);
	progress.values[PP_COMMAND] = code_of(command, command_names, N_COMMANDS, "command");
	progress.values[PP_PHASE] = code_of("listing shops", phase_names, N_PHASES, "phase");
	progress.values[PP_SHOPS_TOTAL] = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	progress.values[PP_ORDERS_TOTAL] = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2);
	progress.values[PP_CHUNKS_TOTAL] = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3);
	progress.values[PP_STARTED_AT] = GetCurrentTimestamp();
	progress.last_notice = progress.values[PP_STARTED_AT];
	pgstat_progress_start_command(CT_PROGRESS_COMMAND, progress.relid);
	progress_publish();
	PG_RETURN_VOID();
}

/*
 * customer_tracking_progress_set(phase, shops_done, orders_done, chunks_done, totals...):
 * NULL keeps a value.
 */
CT_FUNCTION(ct_progress_set)
{
	static const int fields[] = {-1,
								 PP_SHOPS_DONE,
								 PP_ORDERS_DONE,
								 PP_CHUNKS_DONE,
								 PP_SHOPS_TOTAL,
								 PP_ORDERS_TOTAL,
								 PP_CHUNKS_TOTAL};
	if (!progress.on)
		PG_RETURN_VOID();
	if (!PG_ARGISNULL(0))
		progress.values[PP_PHASE] =
			code_of(text_to_cstring(PG_GETARG_TEXT_PP(0)), phase_names, N_PHASES, "phase");
	for (int i = 1; i < static_cast<int>(lengthof(fields)) && i < PG_NARGS(); i++)
		if (!PG_ARGISNULL(i))
			progress.values[fields[i]] = PG_GETARG_INT64(i);
	progress_publish();
	progress_notice(false);
	PG_RETURN_VOID();
}

/* customer_tracking_progress_end(): a last NOTICE (when on), and the slots are freed. */
CT_FUNCTION(ct_progress_end)
{
	if (progress.on)
	{
		progress.values[PP_PHASE] = code_of("done", phase_names, N_PHASES, "phase");
		progress_notice(true);
		pgstat_progress_end_command();
	}
	progress_reset();
	PG_RETURN_VOID();
}

/* Whether the caller may see another backend's progress (as pg_stat_progress_* decide). */
static bool may_see(Oid role)
{
	return has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS) ||
		   has_privs_of_role(GetUserId(), role);
}

/* customer_tracking_progress_info(): one row per backend running a backfill or verify. */
CT_FUNCTION(ct_progress_info)
{
	ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	int nbackends;

	InitMaterializedSRF(fcinfo, 0);
	nbackends = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= nbackends; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *be;
		Datum values[12];
		bool nulls[12];

		if (local == nullptr)
			continue;
		be = &local->backendStatus;
		if (be->st_progress_command != CT_PROGRESS_COMMAND)
			continue;
		memset(nulls, 0, sizeof(nulls));
		values[0] = Int32GetDatum(be->st_procpid);
		values[1] = ObjectIdGetDatum(be->st_databaseid);
		values[2] = ObjectIdGetDatum(be->st_progress_command_target);
		if (!may_see(be->st_userid))
		{
			for (int c = 3; c < 12; c++)
				nulls[c] = true;
		}
		else
		{
			const int64 *p = be->st_progress_param;
			int64 command = p[PP_COMMAND];
			int64 phase = p[PP_PHASE];
			values[3] = CStringGetTextDatum(command > 0 && command < static_cast<int64>(N_COMMANDS)
												? command_names[command]
												: "unknown");
			values[4] = CStringGetTextDatum(
				phase > 0 && phase < static_cast<int64>(N_PHASES) ? phase_names[phase] : "unknown");
			values[5] = Int64GetDatum(p[PP_SHOPS_TOTAL]);
			values[6] = Int64GetDatum(p[PP_SHOPS_DONE]);
			values[7] = Int64GetDatum(p[PP_ORDERS_TOTAL]);
			values[8] = Int64GetDatum(p[PP_ORDERS_DONE]);
			values[9] = Int64GetDatum(p[PP_CHUNKS_TOTAL]);
			values[10] = Int64GetDatum(p[PP_CHUNKS_DONE]);
			values[11] = TimestampTzGetDatum(p[PP_STARTED_AT]);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * customer_tracking_backfill_decode(shops uuid[]): the orders of shops as
 * the trigger reads them, one row each, plus what a backfill writes.
 * ------------------------------------------------------------------------ */

#define BF_DECODE_COLUMNS 20

/* Per-shop counts of the decode that ran last in this statement (customer_tracking_backfill_orders()). */
struct ShopCounts
{
	pg_uuid_t shop; /* hash key */
	int64 orders;
	int64 trackable;
};
static HTAB *decode_counts = nullptr; /* set while customer_tracking_backfill_orders() runs */

static Oid orders_relid_of(Oid function)
{
	Oid schema = get_func_namespace(function);
	Oid relid = get_relname_relid("shop_orders", schema);
	if (!OidIsValid(relid))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("customer_tracking: table %s.shop_orders is missing",
							   quote_identifier(get_namespace_name(schema)))));
	return relid;
}

static const char *column_sql(const HostCache *hc, AttrNumber attnum)
{
	return quote_identifier(get_attname(hc->orders_relid, attnum, false));
}

static Datum text_or_null(const TextValue *t, bool *isnull)
{
	*isnull = t->isnull;
	return t->isnull ? (Datum) 0 : PointerGetDatum(cstring_to_text_with_len(t->data, t->len));
}

static Datum text_array(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* One decoded order as a row of customer_tracking_backfill_decode(). */
static void decoded_row(const OrderImage *img, Datum tid, Datum *values, bool *nulls)
{
	Datum codes[CT_MAX_ISSUES];
	Datum details[CT_MAX_ISSUES];
	Datum untracked[CT_MAX_ISSUES];
	bool detail_nulls[CT_MAX_ISSUES];
	int dims[1] = {img->nissues};
	int lbs[1] = {1};

	memset(nulls, 0, sizeof(bool) * BF_DECODE_COLUMNS);
	values[0] = tid;
	values[1] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->id));
	nulls[1] = img->id_null;
	values[2] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->shop));
	nulls[2] = img->shop_null;
	values[3] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->link));
	nulls[3] = img->link_null;
	values[4] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->customer));
	nulls[4] = !img->trackable;
	nulls[5] = !img->trackable;
	if (img->trackable)
		values[5] = CStringGetTextDatum(img->e164);
	values[6] = BoolGetDatum(img->purchase);
	values[7] = img->amount;
	nulls[7] = img->amount_null;
	values[8] = TimestampTzGetDatum(img->at);
	nulls[8] = img->at_null;
	values[9] = text_or_null(&img->text[CT_TEXT_NETWORK], &nulls[9]);
	values[10] = text_or_null(&img->text[CT_TEXT_SLUG], &nulls[10]);
	values[11] = text_or_null(&img->text[CT_TEXT_REFERRER], &nulls[11]);
	values[12] = text_or_null(&img->text[CT_TEXT_UTM_SOURCE], &nulls[12]);
	values[13] = text_or_null(&img->text[CT_TEXT_UTM_MEDIUM], &nulls[13]);
	values[14] = text_or_null(&img->text[CT_TEXT_UTM_CAMPAIGN], &nulls[14]);
	values[15] = text_or_null(&img->text[CT_TEXT_EMAIL], &nulls[15]);
	values[16] = text_or_null(&img->text[CT_TEXT_NAME], &nulls[16]);
	for (int i = 0; i < img->nissues; i++)
	{
		codes[i] = CStringGetTextDatum(img->issues[i].code);
		detail_nulls[i] = img->issues[i].detail == nullptr;
		details[i] = detail_nulls[i] ? (Datum) 0 : CStringGetTextDatum(img->issues[i].detail);
		untracked[i] = BoolGetDatum(img->issues[i].untracked);
	}
	values[17] = text_array(codes, img->nissues);
	values[18] = PointerGetDatum(
		construct_md_array(details, detail_nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	values[19] =
		PointerGetDatum(construct_array(untracked, img->nissues, BOOLOID, 1, true, TYPALIGN_CHAR));
}

static void count_decoded(const OrderImage *img)
{
	bool found;
	ShopCounts *c;

	if (decode_counts == nullptr || img->shop_null)
		return;
	c = static_cast<ShopCounts *>(hash_search(decode_counts, &img->shop, HASH_ENTER, &found));
	if (!found)
		c->orders = c->trackable = 0;
	c->orders++;
	if (img->trackable)
		c->trackable++;
}

CT_FUNCTION(ct_backfill_decode)
{
	ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	Oid orders = orders_relid_of(fcinfo->flinfo->fn_oid);
	const HostCache *hc = ct_host_cache_of(orders, fcinfo->flinfo->fn_oid);
	bool all_shops = PG_ARGISNULL(0);
	Datum shops = all_shops ? (Datum) 0 : PG_GETARG_DATUM(0);
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext rows_cxt;
	PhoneMemo *memo;
	PhoneMemo *volatile before = nullptr;
	TupleDesc volatile rowdesc = nullptr;
	Portal portal;
	Oid argtypes[1] = {UUIDARRAYOID};
	char *sql;

	InitMaterializedSRF(fcinfo, 0);
	/* Without a readable shop column every order reads as of no shop: none is of these shops. */
	if (hc->attnum[FIELD_SHOP_ID] == InvalidAttrNumber && !all_shops)
		return (Datum) 0;
	sql = psprintf("SELECT o.ctid, o FROM %s.%s o%s%s%s", hc->schema_sql,
				   quote_identifier(get_rel_name(orders)), all_shops ? "" : " WHERE o.",
				   all_shops ? "" : column_sql(hc, hc->attnum[FIELD_SHOP_ID]),
				   all_shops ? "" : " = ANY ($1)");
	rows_cxt =
		AllocSetContextCreate(caller, "customer_tracking backfill rows", ALLOCSET_DEFAULT_SIZES);
	memo = ct_phone_memo_create(caller);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "customer_tracking: SPI_connect failed");
	portal = SPI_cursor_open_with_args(nullptr, sql, all_shops ? 0 : 1, argtypes, &shops, nullptr,
									   true, CURSOR_OPT_NO_SCROLL);
	before = ct_phone_memo_activate(memo);
	PG_TRY();
	{
		for (;;)
		{
			SPI_cursor_fetch(portal, true, 1000);
			uint64 n = SPI_processed;
			if (n == 0)
				break;
			SPITupleTable *tuptable = SPI_tuptable;
			MemoryContext old = MemoryContextSwitchTo(rows_cxt);
			for (uint64 r = 0; r < n; r++)
			{
				bool isnull;
				Datum tid = SPI_getbinval(tuptable->vals[r], tuptable->tupdesc, 1, &isnull);
				HeapTupleHeader row = DatumGetHeapTupleHeader(
					SPI_getbinval(tuptable->vals[r], tuptable->tupdesc, 2, &isnull));
				HeapTupleData tuple;
				OrderImage img;
				Datum values[BF_DECODE_COLUMNS];
				bool nulls[BF_DECODE_COLUMNS];

				tuple.t_len = HeapTupleHeaderGetDatumLength(row);
				ItemPointerSetInvalid(&tuple.t_self);
				tuple.t_tableOid = orders;
				tuple.t_data = row;
				if (rowdesc == nullptr)
				{
					MemoryContextSwitchTo(caller);
					rowdesc = lookup_rowtype_tupdesc_copy(HeapTupleHeaderGetTypeId(row),
														  HeapTupleHeaderGetTypMod(row));
					MemoryContextSwitchTo(rows_cxt);
				}
				ct_decode_order(hc, &tuple, rowdesc, &img);
				count_decoded(&img);
				decoded_row(&img, tid, values, nulls);
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
			MemoryContextSwitchTo(old);
			MemoryContextReset(rows_cxt);
			SPI_freetuptable(tuptable);
			progress_add_orders(static_cast<int64>(n));
		}
	}
	PG_FINALLY();
	{
		ct_phone_memo_activate(before);
	}
	PG_END_TRY();
	SPI_cursor_close(portal);
	SPI_finish();
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * customer_tracking_backfill_orders(shops uuid[]): step 1 for a group of shops.
 * ------------------------------------------------------------------------ */

/* The session's work tables (ON COMMIT DELETE ROWS), made on first use. */
static void ensure_work_tables(void)
{
	static const char *const tables[][2] = {
		{"customer_tracking_backfill_customers",
		 "(shop_id uuid NOT NULL, id uuid NOT NULL, phone text, email text, customer_name text, "
		 "affected boolean NOT NULL)"},
		{"customer_tracking_backfill_orphans", "(shop_id uuid NOT NULL, id uuid NOT NULL)"},
		{"customer_tracking_backfill_shops",
		 "(shop_id uuid NOT NULL, orders bigint NOT NULL, retracked bigint NOT NULL, linked bigint "
		 "NOT NULL, untracked bigint NOT NULL, repaired bigint NOT NULL DEFAULT 0)"}};

	for (const auto &t : tables)
	{
		RangeVar *rv = makeRangeVar(pstrdup("pg_temp"), pstrdup(t[0]), -1);
		if (OidIsValid(RangeVarGetRelid(rv, NoLock, true)))
			continue;
		if (SPI_execute(psprintf("CREATE TEMP TABLE %s %s ON COMMIT DELETE ROWS", t[0], t[1]),
						false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "customer_tracking: could not create the temporary table %s", t[0]);
	}
}

/*
 * The order step. Orders to write: a link, ledger row or open issue list
 * that is not what the decoder says. The UPDATE locks them; the same
 * statement writes their ledger rows and issues, and notes for the customer
 * step the customers they concern (with phone, e-mail and name, for customers
 * without a row) and ledger rows whose order it did not find.
 */
static char *orders_statement(const HostCache *hc, Oid orders)
{
	const char *s = hc->schema_sql;
	const char *table = quote_identifier(get_rel_name(orders));
	const char *id = column_sql(hc, hc->attnum[FIELD_ID]);
	const char *shop = column_sql(hc, hc->attnum[FIELD_SHOP_ID]);
	const char *link = column_sql(hc, hc->link_attnum);

	return psprintf(
		"WITH d AS (SELECT * FROM %1$s.customer_tracking_backfill_decode($1)), "
		"t AS MATERIALIZED (SELECT t.id, t.shop_id, t.shop_customer_id, "
		"t.accessed_via_slug::text AS slug, "
		"t.accessed_at, t.purchase_completed, t.purchase_amount, t.network::text AS network, "
		"t.referrer::text AS referrer, t.utm_source::text AS utm_source, "
		"t.utm_medium::text AS utm_medium, t.utm_campaign::text AS utm_campaign "
		"FROM %1$s.customer_tracking t WHERE t.shop_id = ANY ($1)), "
		"i AS (SELECT i.shop_id, i.shop_order_id, array_agg(i.issue) AS codes "
		"FROM %1$s.customer_tracking_issues i WHERE i.shop_id = ANY ($1) AND i.resolved_at IS NULL "
		"GROUP BY 1, 2), "
		"j AS (SELECT d.*, t.id AS ledger_id, t.shop_id AS ledger_shop, "
		"t.shop_customer_id AS ledger_customer, "
		"(d.expected_customer_id IS NOT NULL AND c.id IS NULL) AS customer_missing, "
		"(d.shop_order_id IS NOT NULL AND ("
		"d.stored_customer_id IS DISTINCT FROM d.expected_customer_id "
		"OR (d.expected_customer_id IS NULL AND t.id IS NOT NULL) "
		"OR (d.expected_customer_id IS NOT NULL AND (t.id IS NULL "
		"OR t.shop_customer_id <> d.expected_customer_id OR t.purchase_completed <> d.purchase "
		"OR t.purchase_amount <> d.amount OR t.accessed_at <> d.purchased_at "
		"OR t.network IS DISTINCT FROM d.network OR t.slug IS DISTINCT FROM d.slug "
		"OR t.referrer IS DISTINCT FROM d.referrer OR t.utm_source IS DISTINCT FROM d.utm_source "
		"OR t.utm_medium IS DISTINCT FROM d.utm_medium "
		"OR t.utm_campaign IS DISTINCT FROM d.utm_campaign)) "
		"OR (d.expected_customer_id IS NOT NULL AND t.id IS NOT NULL AND c.id IS NULL) "
		"OR NOT (coalesce(i.codes, '{}') @> d.issues AND d.issues @> coalesce(i.codes, '{}')))) "
		"AS pin "
		"FROM d FULL JOIN t ON t.id = d.shop_order_id AND t.shop_id = d.shop_id "
		"LEFT JOIN i ON i.shop_order_id = d.shop_order_id AND i.shop_id = d.shop_id "
		"LEFT JOIN (SELECT c.id, c.shop_id FROM %1$s.shop_customers c WHERE c.shop_id = ANY ($1)) "
		"c "
		"ON c.id = d.expected_customer_id AND c.shop_id = d.shop_id), "
		"p AS MATERIALIZED (SELECT * FROM j WHERE j.pin OR j.customer_missing OR j.shop_order_id "
		"IS NULL), "
		"u AS (UPDATE %1$s.%2$s o SET %5$s = p.expected_customer_id FROM p "
		"WHERE p.pin AND o.ctid = p.tid AND o.%3$s = p.shop_order_id AND o.%4$s = p.shop_id "
		"RETURNING p.shop_order_id, p.shop_id, p.expected_customer_id, p.phone, p.purchase, "
		"p.amount, p.purchased_at, p.network, p.slug, p.referrer, p.utm_source, p.utm_medium, "
		"p.utm_campaign, p.email, p.customer_name, p.issues, p.issue_details, p.issue_untracked, "
		"p.ledger_id, p.ledger_customer), "
		/* New ledger rows: no writer but this one touches an order it holds (see above). */
		"w_ledger_new AS (INSERT INTO %1$s.customer_tracking (id, shop_order_id, "
		"shop_customer_id, shop_id, accessed_via_slug, accessed_at, purchase_completed, "
		"completed_at, purchase_amount, network, referrer, utm_source, utm_medium, utm_campaign) "
		"SELECT u.shop_order_id, u.shop_order_id, u.expected_customer_id, u.shop_id, u.slug, "
		"u.purchased_at, u.purchase, CASE WHEN u.purchase THEN now() END, u.amount, u.network, "
		"u.referrer, u.utm_source, u.utm_medium, u.utm_campaign "
		"FROM u WHERE u.expected_customer_id IS NOT NULL AND u.ledger_id IS NULL), "
		"w_ledger AS (UPDATE %1$s.customer_tracking t SET shop_customer_id = "
		"u.expected_customer_id, "
		"accessed_via_slug = u.slug, accessed_at = u.purchased_at, "
		"completed_at = CASE WHEN u.purchase THEN coalesce(t.completed_at, now()) END, "
		"purchase_completed = u.purchase, purchase_amount = u.amount, network = u.network, "
		"referrer = u.referrer, utm_source = u.utm_source, utm_medium = u.utm_medium, "
		"utm_campaign = u.utm_campaign, updated_at = now() FROM u "
		"WHERE u.expected_customer_id IS NOT NULL AND u.ledger_id IS NOT NULL "
		"AND t.id = u.shop_order_id AND t.shop_id = u.shop_id "
		"AND (t.shop_customer_id, t.accessed_via_slug::text, t.accessed_at, "
		"t.purchase_completed, t.purchase_amount, t.network::text, t.referrer::text, "
		"t.utm_source::text, t.utm_medium::text, t.utm_campaign::text) IS DISTINCT FROM "
		"(u.expected_customer_id, u.slug, u.purchased_at, u.purchase, u.amount, u.network, "
		"u.referrer, u.utm_source, u.utm_medium, u.utm_campaign)), "
		"w_unledger AS (DELETE FROM %1$s.customer_tracking t USING u "
		"WHERE u.expected_customer_id IS NULL AND u.ledger_id IS NOT NULL "
		"AND t.id = u.shop_order_id AND t.shop_id = u.shop_id), "
		"w_issues AS (INSERT INTO %1$s.customer_tracking_issues AS i (shop_id, shop_order_id, "
		"issue, detail, untracked) "
		"SELECT u.shop_id, u.shop_order_id, x.issue, x.detail, x.untracked "
		"FROM u, unnest(u.issues, u.issue_details, u.issue_untracked) AS x(issue, detail, "
		"untracked) "
		"ON CONFLICT (shop_id, shop_order_id, issue) DO UPDATE SET detail = EXCLUDED.detail, "
		"untracked = EXCLUDED.untracked, last_seen_at = now(), resolved_at = NULL "
		"WHERE i.resolved_at IS NOT NULL OR i.detail IS DISTINCT FROM EXCLUDED.detail "
		"OR i.untracked <> EXCLUDED.untracked), "
		"w_resolved AS (UPDATE %1$s.customer_tracking_issues i SET resolved_at = now() FROM u "
		"WHERE i.shop_id = u.shop_id AND i.shop_order_id = u.shop_order_id "
		"AND i.resolved_at IS NULL AND i.issue <> ALL (u.issues)), "
		/* Customers of the orders rewritten, and whether their row disagreed with their ledger rows. */
		"aff AS (SELECT DISTINCT x.shop_id, x.cid FROM (SELECT p.shop_id, p.expected_customer_id "
		"AS cid "
		"FROM p WHERE p.pin AND p.expected_customer_id IS NOT NULL "
		"UNION ALL SELECT p.ledger_shop, p.ledger_customer FROM p WHERE p.pin AND "
		"p.ledger_customer "
		"IS NOT NULL) x), "
		"before AS (SELECT t.shop_id, t.shop_customer_id AS cid, count(*)::int AS orders, "
		"count(*) FILTER (WHERE t.purchase_completed)::int AS purchases, "
		"coalesce(sum(t.purchase_amount) FILTER (WHERE t.purchase_completed), 0) AS spent, "
		"min(t.accessed_at) FILTER (WHERE t.purchase_completed) AS first_at, "
		"max(t.accessed_at) FILTER (WHERE t.purchase_completed) AS last_at "
		"FROM t JOIN aff ON aff.shop_id = t.shop_id AND aff.cid = t.shop_customer_id GROUP BY 1, "
		"2), "
		"damaged AS (SELECT a.shop_id, a.cid FROM aff a "
		"LEFT JOIN before b ON b.shop_id = a.shop_id AND b.cid = a.cid "
		"LEFT JOIN %1$s.shop_customers c ON c.id = a.cid AND c.shop_id = a.shop_id "
		"WHERE CASE WHEN c.id IS NULL THEN b.cid IS NOT NULL "
		"ELSE (c.total_orders, c.total_purchases, c.first_purchase_at, c.last_purchase_at) "
		"IS DISTINCT FROM (coalesce(b.orders, 0), coalesce(b.purchases, 0), b.first_at, b.last_at) "
		"OR c.total_spent <> coalesce(b.spent, 0) END), "
		"w_customers AS (INSERT INTO pg_temp.customer_tracking_backfill_customers "
		"(shop_id, id, phone, email, customer_name, affected) "
		"SELECT x.shop_id, x.id, max(x.phone), "
		"(array_agg(x.email ORDER BY x.at DESC, x.oid DESC) FILTER (WHERE x.email IS NOT "
		"NULL))[1], "
		"(array_agg(x.customer_name ORDER BY x.at DESC, x.oid DESC) FILTER (WHERE "
		"x.customer_name IS NOT NULL))[1], "
		"bool_or(x.affected) AND NOT EXISTS (SELECT 1 FROM damaged g WHERE g.shop_id = x.shop_id "
		"AND g.cid = x.id) "
		"FROM (SELECT p.shop_id, p.expected_customer_id AS id, p.phone, p.email, "
		"p.customer_name, p.purchased_at AS at, p.shop_order_id AS oid, p.pin AS affected "
		"FROM p WHERE p.expected_customer_id IS NOT NULL "
		"UNION ALL SELECT u.shop_id, u.ledger_customer, NULL, NULL, NULL, NULL, NULL, true "
		"FROM u WHERE u.ledger_customer IS DISTINCT FROM u.expected_customer_id "
		"AND u.ledger_customer IS NOT NULL) x "
		"GROUP BY x.shop_id, x.id), "
		"w_orphans AS (INSERT INTO pg_temp.customer_tracking_backfill_orphans (shop_id, id) "
		"SELECT p.ledger_shop, p.ledger_id FROM p WHERE p.shop_order_id IS NULL) "
		/* Out of step when read (an order another transaction fixed meanwhile included). */
		"SELECT p.shop_id, count(*) AS retracked FROM p WHERE p.pin GROUP BY p.shop_id",
		s, table, id, shop, link);
}

/*
 * customer_tracking_backfill_orders(shops uuid[]) RETURNS TABLE (shop_id, orders, retracked,
 * linked, untracked): the order step for those shops; the per-shop counts also go to
 * pg_temp.customer_tracking_backfill_shops.
 */
CT_FUNCTION(ct_backfill_orders)
{
	ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	Oid orders = orders_relid_of(fcinfo->flinfo->fn_oid);
	const HostCache *hc = ct_host_cache_of(orders, fcinfo->flinfo->fn_oid);
	Datum shops;
	Oid argtypes[1] = {UUIDARRAYOID};
	MemoryContext caller = CurrentMemoryContext;
	HASHCTL ctl;
	HTAB *counts;
	HTAB *retracked;
	char *sql;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("customer_tracking_backfill_orders() needs a list of shops")));
	shops = PG_GETARG_DATUM(0);
	if (hc->link_attnum == InvalidAttrNumber || hc->attnum[FIELD_SHOP_ID] == InvalidAttrNumber ||
		hc->attnum[FIELD_ID] == InvalidAttrNumber)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("customer_tracking: backfill refused: shop_orders has drifted"),
						errhint("SELECT * FROM customer_tracking_host_state();")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR, (errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
						errmsg("customer_tracking: backfill must run in READ COMMITTED"),
						errdetail("Each step must see what transactions committed before it.")));
	InitMaterializedSRF(fcinfo, 0);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(pg_uuid_t);
	ctl.entrysize = sizeof(ShopCounts);
	ctl.hcxt = caller;
	counts = hash_create("customer_tracking backfill counts", 256, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	retracked = hash_create("customer_tracking backfill retracked", 256, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "customer_tracking: SPI_connect failed");
	ensure_work_tables();
	{
		/* Counts of an earlier backfill of these shops in this transaction are replaced. */
		Oid types[1] = {UUIDARRAYOID};
		if (SPI_execute_with_args("DELETE FROM pg_temp.customer_tracking_backfill_shops "
								  "WHERE shop_id = ANY ($1)",
								  1, types, &shops, nullptr, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "customer_tracking: could not reset the backfill's shop counts");
	}
	sql = orders_statement(hc, orders);

	/* The triggers stand aside for this statement's UPDATE of the links. */
	decode_counts = counts;
	ct_backfill_active = true;
	PG_TRY();
	{
		if (SPI_execute_with_args(sql, 1, argtypes, &shops, nullptr, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "customer_tracking: the backfill's order step failed");
	}
	PG_FINALLY();
	{
		ct_backfill_active = false;
		decode_counts = nullptr;
	}
	PG_END_TRY();

	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool isnull;
		HeapTuple tuple = SPI_tuptable->vals[r];
		pg_uuid_t *shop = DatumGetUUIDP(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull));
		bool found;
		ShopCounts *c = static_cast<ShopCounts *>(hash_search(retracked, shop, HASH_ENTER, &found));
		c->orders = DatumGetInt64(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2, &isnull));
	}

	/* One row per shop asked for. */
	{
		ArrayType *array = DatumGetArrayTypeP(shops);
		Datum *elems;
		bool *nulls;
		int n;
		Oid types[5] = {UUIDOID, INT8OID, INT8OID, INT8OID, INT8OID};
		SPIPlanPtr insert = SPI_prepare(
			"INSERT INTO pg_temp.customer_tracking_backfill_shops (shop_id, orders, retracked, "
			"linked, untracked) VALUES ($1, $2, $3, $4, $5)",
			5, types);

		if (insert == nullptr)
			elog(ERROR, "customer_tracking: could not prepare the backfill's shop counts");
		deconstruct_array(array, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			if (nulls[i])
				continue;
			pg_uuid_t *shop = DatumGetUUIDP(elems[i]);
			ShopCounts *c =
				static_cast<ShopCounts *>(hash_search(counts, shop, HASH_FIND, nullptr));
			ShopCounts *r =
				static_cast<ShopCounts *>(hash_search(retracked, shop, HASH_FIND, nullptr));
			Datum values[5];
			bool out_nulls[5] = {false, false, false, false, false};
			values[0] = UUIDPGetDatum(shop);
			values[1] = Int64GetDatum(c != nullptr ? c->orders : 0);
			values[2] = Int64GetDatum(r != nullptr ? r->orders : 0);
			values[3] = Int64GetDatum(c != nullptr ? c->trackable : 0);
			values[4] = Int64GetDatum(c != nullptr ? c->orders - c->trackable : 0);
			if (SPI_execute_plan(insert, values, nullptr, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "customer_tracking: could not note the backfill's shop counts");
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, out_nulls);
		}
	}
	SPI_finish();
	return (Datum) 0;
}

/* ------------------------------------------------------------------------ */

static void at_xact_event(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		/* PostgreSQL ends the progress command of an aborted transaction. */
		progress_reset();
		ct_backfill_active = false;
		decode_counts = nullptr;
	}
}

void ct_backfill_init(void) { RegisterXactCallback(at_xact_event, nullptr); }
