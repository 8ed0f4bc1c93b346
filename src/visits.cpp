/*
 * visits.cpp: storefront visits, counted per shop, slug and UTC day without keeping who visited.
 *
 * customer_tracking_record_visit(slug, visitor, referrer, utm_source, utm_medium, utm_campaign)
 * is called by the storefront (as anon) for every page view of /shop/<slug>. It keeps two
 * numbers per (shop, slug, day): visits and unique visitors. No event is stored.
 *
 * Unique visitors. The visitor string (whatever the app has: IP + user agent, a cookie) is
 * hashed with HMAC-SHA256 keyed by the day's salt (32 random bytes), over the slug and the
 * visitor; the first 16 bytes are kept, for the day only, in customer_tracking_visitors
 * (primary key (day, shop_id, visitor)): a visit whose hash is new that day counts one unique
 * visitor. 128 bits: two visitors of one shop and day share a hash with a probability of about
 * n^2 / 2^129 (1e-26 for a million visitors), so the daily count is exact in practice. Over
 * several days unique visitors are the sum of the daily counts (a visitor of two days counts
 * twice): hashes of different days are made with different salts and cannot be matched.
 *
 * The salt. One per UTC day, in customer_tracking_visit_salt (UNLOGGED: never written to WAL,
 * hence never in archives, base backups' data or standbys; not dumped; readable by nobody but
 * the extension's owner), made a day ahead (make_salts()). The first call of a new day in each
 * backend destroys the salts of
 * past days: it overwrites their bytes in the table's pages (every row version, and the pages'
 * free space, where an old copy of a moved row may linger), writes the pages out, then deletes
 * the rows; the backend's own copy is zeroed. A past day's salt is then gone, and with it any
 * way to tell whose hash is whose (the kept hashes of past days are deleted too, in batches of
 * CT_VISIT_CLEANUP_BATCH per call, or at once by customer_tracking_visits_rotate(), which a
 * scheduler may call just after midnight UTC so that no storefront request pays for it).
 * A crash empties the unlogged salt table: new salts are made and the day's unique visitors
 * seen before the crash may be counted again. (The hashes are logged: Citus moves shard groups
 * by logical replication, which refuses unlogged tables; a hash tells nothing without its salt.)
 *
 * Concurrency. The counter rows are striped by backend (stripe = the backend id, like the
 * rollups): 16 sessions counting visits of one slug update 16 rows, none waits for another.
 * The hash insert waits only when two sessions insert the same visitor's hash at the same time
 * (the second learns from the first's commit whether it was new). Nothing here touches the
 * orders' tables, so a visit never makes an order wait, nor the reverse.
 *
 * Answers. The function returns nothing and raises no error for an unknown slug, a NULL or
 * oversized argument: the caller cannot tell a known slug from an unknown one by the answer.
 * The time it takes differs (a known slug writes a row); the README says so.
 *
 * Rights. The statements run as the owner of the function (the extension's owner), switched to
 * for the call and back (as owner.cpp does), so anon needs no right on any table: it can only
 * add one visit per call.
 */
#include "visits.h"

#include "citus.h"
#include "pg_boundary.hpp"
#include "statements.h"

extern "C" {
#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type_d.h"
#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/pg_list.h"
#include "parser/parse_func.h"
#include "storage/backendid.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/uuid.h"
}

#include <climits>

int ct_visit_day_offset = 0;

namespace {

/* Resolved once per backend (again after a relcache change of a table involved). */
struct VisitCatalog
{
	Oid function;			/* customer_tracking_record_visit it was made for */
	Oid owner;				/* the function's owner: the statements run as this role */
	Oid shops;				/* user_shops */
	Oid salts;				/* customer_tracking_visit_salt */
	Oid visitors;			/* customer_tracking_visitors */
	Oid counts;				/* customer_tracking_slug_visits */
	const char *schema_sql; /* quoted schema (TopMemoryContext) */
	bool usable;			/* user_shops has a readable shop_slug column */
	SPIPlanPtr plans[4];	/* VisitPlan */
	bool stale;
};
/* The statements of a visit, kept for the backend. */
enum VisitPlan
{
	VP_SHOP,		 /* the shop of a slug (two rows: not one shop) */
	VP_VISITOR,		 /* the visitor's hash into the day's set */
	VP_COUNT,		 /* this backend's counter row of (shop, slug, day) */
	VP_COUNT_CREATE, /* the same, the first time */
	VP_COUNT_PLANS
};
VisitCatalog catalog = {InvalidOid, InvalidOid, InvalidOid, InvalidOid, InvalidOid,
						InvalidOid, nullptr,	false,		{},			true};

/* The day's salt as this backend holds it; zeroed as soon as the day changes. */
uint8 salt[CT_VISIT_SALT_LEN];
bool have_salt = false;
DateADT salt_day = 0;
/* This backend has destroyed the salts of days before salt_checked_day. */
bool salt_checked = false;
DateADT salt_checked_day = 0;
/* Past days' visitor hashes may remain: delete a batch per call. */
bool cleanup_pending = false;

/* The extension table name of the function's schema, or InvalidOid. */
Oid table_of(Oid schema, const char *name) { return get_relname_relid(name, schema); }

/* A text-like type user_shops.shop_slug may have (compared with = to a text value). */
bool slug_type_ok(Oid type)
{
	type = getBaseType(type);
	return type == TEXTOID || type == VARCHAROID || type == BPCHAROID || type == NAMEOID;
}

void resolve(Oid function)
{
	if (!catalog.stale && catalog.function == function)
		return;

	HeapTuple proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(function));
	if (!HeapTupleIsValid(proc))
		elog(ERROR, "customer_tracking: function %u not found", function);
	Oid owner = reinterpret_cast<Form_pg_proc>(GETSTRUCT(proc))->proowner;
	Oid schema = reinterpret_cast<Form_pg_proc>(GETSTRUCT(proc))->pronamespace;
	ReleaseSysCache(proc);
	const char *schema_name = get_namespace_name(schema);
	if (schema_name == nullptr)
		elog(ERROR, "customer_tracking: schema of function %u not found", function);

	for (SPIPlanPtr &plan : catalog.plans)
		if (plan != nullptr)
		{
			SPI_freeplan(plan);
			plan = nullptr;
		}
	catalog.function = function;
	catalog.owner = owner;
	catalog.shops = table_of(schema, "user_shops");
	catalog.salts = table_of(schema, "customer_tracking_visit_salt");
	catalog.visitors = table_of(schema, "customer_tracking_visitors");
	catalog.counts = table_of(schema, "customer_tracking_slug_visits");
	catalog.schema_sql = MemoryContextStrdup(TopMemoryContext, quote_identifier(schema_name));
	catalog.usable = false;
	catalog.stale = false;
	if (!OidIsValid(catalog.shops) || !OidIsValid(catalog.salts) || !OidIsValid(catalog.visitors) ||
		!OidIsValid(catalog.counts))
		return;
	AttrNumber slug = get_attnum(catalog.shops, "shop_slug");
	if (slug == InvalidAttrNumber || !slug_type_ok(get_atttype(catalog.shops, slug)))
		return; /* no slug to look a shop up by: every call counts nothing */

	/*
	 * Simple statements, each with a generic plan: the shop of the slug, the visitor's hash
	 * into the day's set (its row count says whether it was new), then this backend's counter
	 * row, updated in place (HOT: no indexed column changes) or made the first time.
	 */
	const char *q = catalog.schema_sql;
	const char *sql[VP_COUNT_PLANS] = {
		psprintf("SELECT u.id FROM %s.user_shops u "
				 "WHERE u.shop_slug::pg_catalog.text OPERATOR(pg_catalog.=) $1 LIMIT 2",
				 q),
		psprintf("INSERT INTO %s.customer_tracking_visitors (day, shop_id, visitor) "
				 "VALUES ($1, $2, $3) ON CONFLICT (day, shop_id, visitor) DO NOTHING",
				 q),
		psprintf("UPDATE %s.customer_tracking_slug_visits "
				 "SET visits = visits OPERATOR(pg_catalog.+) 1, "
				 "    unique_visitors = unique_visitors OPERATOR(pg_catalog.+) $5 "
				 "WHERE shop_id OPERATOR(pg_catalog.=) $1 AND slug OPERATOR(pg_catalog.=) $2 "
				 "  AND day OPERATOR(pg_catalog.=) $3 AND stripe OPERATOR(pg_catalog.=) $4",
				 q),
		psprintf("INSERT INTO %s.customer_tracking_slug_visits AS c "
				 "(shop_id, slug, day, stripe, visits, unique_visitors) "
				 "VALUES ($1, $2, $3, $4, 1, $5) "
				 "ON CONFLICT (shop_id, slug, day, stripe) DO UPDATE "
				 "SET visits = c.visits OPERATOR(pg_catalog.+) 1, "
				 "    unique_visitors = c.unique_visitors OPERATOR(pg_catalog.+) $5",
				 q)};
	const Oid shop_types[1] = {TEXTOID};
	const Oid visitor_types[3] = {DATEOID, UUIDOID, UUIDOID};
	const Oid count_types[5] = {UUIDOID, TEXTOID, DATEOID, INT2OID, INT8OID};
	const int nargs[VP_COUNT_PLANS] = {1, 3, 5, 5};
	const Oid *types[VP_COUNT_PLANS] = {shop_types, visitor_types, count_types, count_types};
	CitusTableInfo citus;
	bool on_citus = ct_citus_present() && ct_citus_table(catalog.counts, &citus);
	for (int i = 0; i < VP_COUNT_PLANS; i++)
	{
		if (on_citus)
		{
			/* Planned for the values at each call, so that Citus routes it to the shop. */
			SPIPlanPtr plan = SPI_prepare_cursor(sql[i], nargs[i], const_cast<Oid *>(types[i]), 0);
			if (plan == nullptr || SPI_keepplan(plan) != 0)
				elog(ERROR, "customer_tracking: could not prepare a visit statement: %s",
					 SPI_result_code_string(SPI_result));
			catalog.plans[i] = plan;
		}
		else
			catalog.plans[i] =
				ct_keep_generic_plan(sql[i], nargs[i], types[i], "a visit statement");
	}
	catalog.usable = true;
}

/* The UTC day visits are counted on now (the transaction's start), plus the test offset. */
DateADT visit_day(void)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int64 day = now / USECS_PER_DAY;
	if (now < 0 && now % USECS_PER_DAY != 0)
		day--;
	return static_cast<DateADT>(day + ct_visit_day_offset);
}

bool all_zero(const uint8 *bytes, size_t len)
{
	uint8 any = 0;
	for (size_t i = 0; i < len; i++)
		any |= bytes[i];
	return any == 0;
}

/*
 * Overwrites, in place, the salt of every row version of a day before today (live or dead),
 * and the free space of each page, then writes the pages out. The table is unlogged: nothing
 * of it goes to WAL. A backend still reading such a row (a transaction from the day before)
 * sees zeros, which it takes for no salt.
 */
void zero_past_salts(DateADT today)
{
	Relation rel = table_open(catalog.salts, RowExclusiveLock);
	TupleDesc desc = RelationGetDescr(rel);
	BlockNumber blocks = RelationGetNumberOfBlocks(rel);

	for (BlockNumber b = 0; b < blocks; b++)
	{
		Buffer buffer = ReadBuffer(rel, b);
		LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
		Page page = BufferGetPage(buffer);
		bool changed = false;
		if (!PageIsNew(page))
		{
			OffsetNumber last = PageGetMaxOffsetNumber(page);
			for (OffsetNumber off = FirstOffsetNumber; off <= last; off++)
			{
				ItemId item = PageGetItemId(page, off);
				if (!ItemIdIsNormal(item))
					continue;
				HeapTupleData tuple;
				tuple.t_data = reinterpret_cast<HeapTupleHeader>(PageGetItem(page, item));
				tuple.t_len = ItemIdGetLength(item);
				tuple.t_tableOid = catalog.salts;
				ItemPointerSet(&tuple.t_self, b, off);
				bool isnull;
				Datum day = heap_getattr(&tuple, 1, desc, &isnull);
				if (isnull || DatumGetDateADT(day) >= today)
					continue;
				Datum value = heap_getattr(&tuple, 2, desc, &isnull);
				if (isnull)
					continue;
				auto *bytes = reinterpret_cast<struct varlena *>(DatumGetPointer(value));
				if (VARATT_IS_EXTERNAL(bytes) || VARATT_IS_COMPRESSED(bytes))
					continue; /* never: 32 bytes are stored inline */
				if (!all_zero(reinterpret_cast<uint8 *>(VARDATA_ANY(bytes)),
							  VARSIZE_ANY_EXHDR(bytes)))
				{
					memset(VARDATA_ANY(bytes), 0, VARSIZE_ANY_EXHDR(bytes));
					changed = true;
				}
			}
			/* Free space: bytes of rows removed or moved by pruning. */
			PageHeader header = reinterpret_cast<PageHeader>(page);
			if (header->pd_upper > header->pd_lower)
			{
				char *free_start = reinterpret_cast<char *>(page) + header->pd_lower;
				size_t free_len = header->pd_upper - header->pd_lower;
				if (!all_zero(reinterpret_cast<uint8 *>(free_start), free_len))
				{
					memset(free_start, 0, free_len);
					changed = true;
				}
			}
		}
		if (changed)
		{
			MarkBufferDirty(buffer);
			FlushOneBuffer(buffer); /* the zeros reach the file, not only shared memory */
		}
		UnlockReleaseBuffer(buffer);
	}
	table_close(rel, NoLock);
}

/*
 * Past days: salts overwritten and deleted (rows another session is deleting are skipped: no
 * wait); their hashes are left for the batched cleanup.
 */
void destroy_past_salts(DateADT today)
{
	zero_past_salts(today);
	Datum args[1] = {DateADTGetDatum(today)};
	const Oid types[1] = {DATEOID};
	int rc = SPI_execute_with_args(
		psprintf("DELETE FROM %s.customer_tracking_visit_salt WHERE ctid OPERATOR(pg_catalog.=) "
				 "ANY (ARRAY(SELECT ctid FROM %s.customer_tracking_visit_salt "
				 "WHERE day OPERATOR(pg_catalog.<) $1 FOR UPDATE SKIP LOCKED))",
				 catalog.schema_sql, catalog.schema_sql),
		1, const_cast<Oid *>(types), args, nullptr, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "customer_tracking: could not delete past visit salts: %s",
			 SPI_result_code_string(rc));
}

/* Takes a salt value (bytea) into salt, then wipes the value; false if it is not usable. */
bool take_salt(Datum value, DateADT day)
{
	bytea *bytes = DatumGetByteaPP(value);
	bool ok = VARSIZE_ANY_EXHDR(bytes) == CT_VISIT_SALT_LEN &&
			  !all_zero(reinterpret_cast<uint8 *>(VARDATA_ANY(bytes)), CT_VISIT_SALT_LEN);
	if (ok)
	{
		memcpy(salt, VARDATA_ANY(bytes), CT_VISIT_SALT_LEN);
		have_salt = true;
		salt_day = day;
	}
	explicit_bzero(VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes));
	return ok;
}

/* Today's salt into salt (if there is one); whether tomorrow's exists. */
void read_salts(DateADT today, bool *have_tomorrow)
{
	Datum args[1] = {DateADTGetDatum(today)};
	const Oid types[1] = {DATEOID};
	int rc = SPI_execute_with_args(
		psprintf("SELECT day, salt FROM %s.customer_tracking_visit_salt "
				 "WHERE day OPERATOR(pg_catalog.>=) $1 "
				 "AND day OPERATOR(pg_catalog.<=) ($1 OPERATOR(pg_catalog.+) 1)",
				 catalog.schema_sql),
		1, const_cast<Oid *>(types), args, nullptr, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "customer_tracking: could not read the visit salt: %s",
			 SPI_result_code_string(rc));
	*have_tomorrow = false;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool isnull;
		Datum day = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		Datum value = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
		if (isnull)
			continue;
		if (DatumGetDateADT(day) == today)
			take_salt(value, today);
		else
		{
			*have_tomorrow = true;
			explicit_bzero(VARDATA_ANY(DatumGetByteaPP(value)),
						   VARSIZE_ANY_EXHDR(DatumGetByteaPP(value)));
		}
	}
}

/* A fresh random salt, as a bytea; nullptr without randomness. */
bytea *random_salt(void)
{
	bytea *fresh = static_cast<bytea *>(palloc(VARHDRSZ + CT_VISIT_SALT_LEN));
	SET_VARSIZE(fresh, VARHDRSZ + CT_VISIT_SALT_LEN);
	if (!pg_strong_random(VARDATA(fresh), CT_VISIT_SALT_LEN))
	{
		pfree(fresh);
		return nullptr;
	}
	return fresh;
}

/*
 * Makes the salts of today and tomorrow that are missing, if no other transaction is making
 * them now (an advisory lock, tried without waiting): a salt row inserted by a transaction
 * still open would make every other insert of it wait. So tomorrow's salt is made a day ahead
 * and is long committed when its day comes; only on the first day (after installing, or after
 * a crash emptied the unlogged table) may a visit find the salt being made, and count without
 * a unique visitor until its maker commits. A salt is never made for a day when a salt of a day
 * after the next exists (a transaction of a past day must not bring a destroyed day back).
 */
void make_salts(DateADT today)
{
	int rc = SPI_execute("SELECT pg_catalog.pg_try_advisory_xact_lock(1129599305, 1)", false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "customer_tracking: could not lock the visit salts: %s",
			 SPI_result_code_string(rc));
	bool isnull;
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		return;
	bytea *first = random_salt();
	bytea *second = random_salt();
	if (first == nullptr || second == nullptr)
		return; /* no randomness: no unique visitors rather than a guessable salt */
	Datum args[3] = {DateADTGetDatum(today), PointerGetDatum(first), PointerGetDatum(second)};
	const Oid types[3] = {DATEOID, BYTEAOID, BYTEAOID};
	const char *s = catalog.schema_sql;
	rc = SPI_execute_with_args(
		psprintf("INSERT INTO %s.customer_tracking_visit_salt (day, salt) "
				 "SELECT v.day, v.salt FROM (VALUES ($1, $2), (($1 OPERATOR(pg_catalog.+) 1), $3)) "
				 "v(day, salt) WHERE NOT EXISTS (SELECT FROM %s.customer_tracking_visit_salt o "
				 "WHERE o.day OPERATOR(pg_catalog.>) (v.day OPERATOR(pg_catalog.+) 1)) "
				 "ON CONFLICT (day) DO NOTHING",
				 s, s),
		3, const_cast<Oid *>(types), args, nullptr, false, 0);
	explicit_bzero(VARDATA(first), CT_VISIT_SALT_LEN);
	explicit_bzero(VARDATA(second), CT_VISIT_SALT_LEN);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "customer_tracking: could not store the visit salts: %s",
			 SPI_result_code_string(rc));
}

/*
 * Today's salt in salt. False when there is none to use: being made by a transaction still
 * open (first day only), or a transaction that began before midnight once its day's salt is
 * destroyed (its visit then counts no unique visitor rather than bring a past salt back).
 */
bool ensure_salt(DateADT today)
{
	if (have_salt && salt_day == today)
		return true;
	explicit_bzero(salt, sizeof(salt));
	have_salt = false;

	if (!salt_checked || salt_checked_day != today)
	{
		destroy_past_salts(today);
		salt_checked = true;
		salt_checked_day = today;
		cleanup_pending = true;
	}

	bool have_tomorrow;
	read_salts(today, &have_tomorrow);
	if (have_salt && have_tomorrow)
		return true;
	make_salts(today);
	if (!have_salt)
		read_salts(today, &have_tomorrow);
	return have_salt;
}

/* HMAC-SHA256(salt, slug || 0 || visitor), its first 16 bytes. */
bool visitor_hash(const char *slug, int slug_len, const char *visitor, int visitor_len,
				  pg_uuid_t *out)
{
	uint8 digest[PG_SHA256_DIGEST_LENGTH];
	const uint8 separator = 0;
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
	if (ctx == nullptr)
		return false;
	bool ok = pg_hmac_init(ctx, salt, CT_VISIT_SALT_LEN) == 0 &&
			  pg_hmac_update(ctx, reinterpret_cast<const uint8 *>(slug), slug_len) == 0 &&
			  pg_hmac_update(ctx, &separator, 1) == 0 &&
			  pg_hmac_update(ctx, reinterpret_cast<const uint8 *>(visitor), visitor_len) == 0 &&
			  pg_hmac_final(ctx, digest, sizeof(digest)) == 0;
	pg_hmac_free(ctx);
	if (ok)
		memcpy(out->data, digest, CT_VISIT_HASH_LEN);
	explicit_bzero(digest, sizeof(digest));
	return ok;
}

/* Past days' hashes: up to limit rows (0: all), skipping rows another session is deleting. */
uint64 delete_past_hashes(DateADT today, int limit)
{
	Datum args[1] = {DateADTGetDatum(today)};
	const Oid types[1] = {DATEOID};
	const char *sql =
		limit > 0
			? psprintf(
				  "DELETE FROM %s.customer_tracking_visitors WHERE ctid OPERATOR(pg_catalog.=) "
				  "ANY (ARRAY(SELECT ctid FROM %s.customer_tracking_visitors "
				  "WHERE day OPERATOR(pg_catalog.<) $1 LIMIT %d FOR UPDATE SKIP LOCKED))",
				  catalog.schema_sql, catalog.schema_sql, limit)
			: psprintf("DELETE FROM %s.customer_tracking_visitors "
					   "WHERE day OPERATOR(pg_catalog.<) $1",
					   catalog.schema_sql);
	int rc = SPI_execute_with_args(sql, 1, const_cast<Oid *>(types), args, nullptr, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "customer_tracking: could not delete past visitor hashes: %s",
			 SPI_result_code_string(rc));
	return SPI_processed;
}

/* A text argument's bytes, or nullptr when NULL; false when longer than max bytes. */
bool argument(FunctionCallInfo fcinfo, int n, int max, const char **data, int *len)
{
	*data = nullptr;
	*len = 0;
	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		return true;
	/* Its size first, before detoasting anything large. */
	Datum value = PG_GETARG_DATUM(n);
	if (toast_raw_datum_size(value) - VARHDRSZ > static_cast<Size>(max))
		return false;
	text *t = DatumGetTextPP(value);
	*data = VARDATA_ANY(t);
	*len = VARSIZE_ANY_EXHDR(t);
	return *len <= max;
}

/* Runs as the function's owner between SPI_connect and SPI_finish. */
void record(DateADT today, const char *slug, int slug_len, const char *visitor, int visitor_len)
{
	/* The shop: exactly one with this slug. */
	Datum slug_text = PointerGetDatum(cstring_to_text_with_len(slug, slug_len));
	int rc = SPI_execute_plan(catalog.plans[VP_SHOP], &slug_text, nullptr, true, 2);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "customer_tracking: the visit's shop lookup failed: %s",
			 SPI_result_code_string(rc));
	if (SPI_processed != 1)
		return;
	bool isnull;
	Datum shop = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return;
	pg_uuid_t shop_id = *DatumGetUUIDP(shop);

	pg_uuid_t hash;
	bool hashed = visitor != nullptr && visitor_len > 0 && ensure_salt(today) &&
				  visitor_hash(slug, slug_len, visitor, visitor_len, &hash);

	/* A new hash today: a unique visitor. */
	int64 unique = 0;
	if (hashed)
	{
		Datum args[3] = {DateADTGetDatum(today), UUIDPGetDatum(&shop_id), UUIDPGetDatum(&hash)};
		rc = SPI_execute_plan(catalog.plans[VP_VISITOR], args, nullptr, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "customer_tracking: the visitor statement failed: %s",
				 SPI_result_code_string(rc));
		unique = static_cast<int64>(SPI_processed);
	}

	Datum args[5] = {UUIDPGetDatum(&shop_id), slug_text, DateADTGetDatum(today),
					 Int16GetDatum(static_cast<int16>(MyBackendId)), Int64GetDatum(unique)};
	rc = SPI_execute_plan(catalog.plans[VP_COUNT], args, nullptr, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "customer_tracking: the visit count failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		rc = SPI_execute_plan(catalog.plans[VP_COUNT_CREATE], args, nullptr, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "customer_tracking: the visit count failed: %s",
				 SPI_result_code_string(rc));
	}

	if (cleanup_pending && delete_past_hashes(today, CT_VISIT_CLEANUP_BATCH) <
							   static_cast<uint64>(CT_VISIT_CLEANUP_BATCH))
		cleanup_pending = false;
}

} // namespace

void ct_visits_init(void)
{
	DefineCustomIntVariable(
		"customer_tracking.visit_day_offset",
		"Days added to the clock by which visits are counted (a test hook).",
		"Lets a test move customer_tracking_record_visit() to another UTC day, to see the salt "
		"rotate. 0 (the default) in production.",
		&ct_visit_day_offset, 0, -36500, 36500, PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
		nullptr, nullptr, nullptr);
}

void ct_visits_relcache(Oid relid)
{
	if (relid == InvalidOid || relid == catalog.shops || relid == catalog.salts ||
		relid == catalog.visitors || relid == catalog.counts)
		catalog.stale = true; /* resolved again at the next call (nothing freed in a callback) */
}

/*
 * customer_tracking_record_visit(p_shop_slug text, p_visitor text, p_referrer text,
 *   p_utm_source text, p_utm_medium text, p_utm_campaign text) RETURNS void
 */
CT_FUNCTION(ct_record_visit)
{
	const char *slug, *visitor, *other;
	int slug_len, visitor_len, other_len;

	/* Bad input counts nothing and says nothing. */
	if (!argument(fcinfo, 0, CT_VISIT_MAX_SLUG, &slug, &slug_len) || slug == nullptr ||
		slug_len == 0)
		PG_RETURN_VOID();
	if (!argument(fcinfo, 1, CT_VISIT_MAX_VISITOR, &visitor, &visitor_len))
		PG_RETURN_VOID();
	if (!argument(fcinfo, 2, CT_VISIT_MAX_REFERRER, &other, &other_len))
		PG_RETURN_VOID();
	for (int n = 3; n <= 5; n++)
		if (!argument(fcinfo, n, CT_VISIT_MAX_UTM, &other, &other_len))
			PG_RETURN_VOID();

	DateADT today = visit_day();
	Oid save_user;
	int save_context;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "customer_tracking: SPI_connect failed");
	resolve(fcinfo->flinfo->fn_oid);
	if (!catalog.usable)
	{
		SPI_finish();
		PG_RETURN_VOID();
	}
	GetUserIdAndSecContext(&save_user, &save_context);
	SetUserIdAndSecContext(catalog.owner, save_context | SECURITY_LOCAL_USERID_CHANGE);
	record(today, slug, slug_len, visitor, visitor_len);
	SetUserIdAndSecContext(save_user, save_context);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * customer_tracking_visits_rotate() RETURNS bigint: destroys the salts of past days and
 * deletes their visitor hashes now (what the first visits of a day do otherwise, in batches),
 * and makes today's and tomorrow's salts if missing; the number of hashes deleted. For a
 * scheduler, just after midnight UTC; also run by CREATE EXTENSION.
 */
CT_FUNCTION(ct_visits_rotate)
{
	Oid record_fn = InvalidOid;
	{
		Oid schema = get_func_namespace(fcinfo->flinfo->fn_oid);
		const char *schema_name = get_namespace_name(schema);
		List *name = list_make2(makeString(pstrdup(schema_name)),
								makeString(pstrdup("customer_tracking_record_visit")));
		const Oid types[6] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
		record_fn = LookupFuncName(name, 6, types, false);
	}
	DateADT today = visit_day();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "customer_tracking: SPI_connect failed");
	resolve(record_fn);
	if (!OidIsValid(catalog.salts) || !OidIsValid(catalog.visitors))
	{
		SPI_finish();
		PG_RETURN_INT64(0);
	}
	if (!(have_salt && salt_day == today))
	{
		explicit_bzero(salt, sizeof(salt));
		have_salt = false;
	}
	destroy_past_salts(today);
	salt_checked = true;
	salt_checked_day = today;
	uint64 deleted = delete_past_hashes(today, 0);
	cleanup_pending = false;
	make_salts(today); /* today's and tomorrow's, committed with this call */
	SPI_finish();
	PG_RETURN_INT64(static_cast<int64>(deleted));
}
