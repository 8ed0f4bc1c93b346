/*
 * host_cache.cpp: what the trigger needs to know about shop_orders and the
 * extension's own tables, resolved once per backend.
 *
 * Column mapping, status lists and the zone of naive times come from
 * customer_tracking_settings; attribute numbers, types and output functions
 * from the relation, re-validated at every rebuild (ct_resolve_host: a
 * missing column or one of a type the extension cannot read is drift,
 * reported, never an error and never a guess). The modules prepare their
 * statements from it on first use (statements.cpp). A relcache callback
 * (module.cpp) drops the cache when
 * shop_orders or one of the extension's tables changes (ALTER TABLE, and
 * customer_tracking_map_column() sends such an invalidation). A cache that
 * was replaced while a trigger may still use it is freed at transaction end.
 */
#include "pg_boundary.hpp"
#include "host_cache.h"
#include "citus.h"

extern "C" {
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "utils/reltrigger.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
}

static const char *const field_names[FIELD_COUNT] = {
	"id",		  "shop_id",		"customer_phone", "total_price",
	"created_at", "payment_status", "customer_email", "customer_name",
	"network",	  "shop_slug",		"referrer",		  "utm_source",
	"utm_medium", "utm_campaign",	"discount_code",  "referral_code"};

const char *const ct_table_names[XT_COUNT] = {"shop_customers",
											  "customer_tracking",
											  "customer_tracking_slug_customers",
											  "customer_tracking_issues",
											  "customer_tracking_settings",
											  "customer_tracking_codes",
											  "customer_tracking_code_uses",
											  "customer_tracking_referral_codes",
											  "customer_tracking_referrals",
											  "customer_tracking_referral_settings",
											  "customer_tracking_shop_totals",
											  "customer_tracking_daily",
											  "customer_tracking_slug_daily",
											  "customer_tracking_network_totals",
											  "customer_tracking_frequency"};

/*
 * One cache per orders relation: shop_orders on a single node; on a Citus
 * worker each shard of it the triggers fire on (a transaction may write
 * several). last_cache is the one used last (usually the only one).
 */
static List *caches = NIL; /* HostCache *, in TopMemoryContext */
static HostCache *last_cache = nullptr;
static List *retired_caches = NIL; /* replaced caches, freed at transaction end */
static uint64 generations = 0;	   /* caches built so far */

static void free_cache(HostCache *hc)
{
	delete hc->statuses;
	MemoryContextDelete(hc->cxt);
}

/* A relation changed: the caches of it, or of an extension table next to it, are rebuilt. */
void ct_host_cache_relcache(Oid relid)
{
	ListCell *lc;
	foreach (lc, caches)
	{
		HostCache *hc = static_cast<HostCache *>(lfirst(lc));
		if (!hc->valid)
			continue;
		if (relid == InvalidOid || relid == hc->orders_relid)
			hc->valid = false;
		/* e.g. a trigger added to a rollup table: direct writes may no longer apply */
		for (int t = 0; t < XT_COUNT; t++)
			if (relid == hc->table_relid[t])
				hc->valid = false;
		/* Citus's tables (their metadata changes are sent as their invalidations). */
		for (int t = 0; t <= XT_COUNT; t++)
			if (OidIsValid(hc->logical_relid[t]) && relid == hc->logical_relid[t])
				hc->valid = false;
	}
}

static void free_retired_at_xact_end(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	while (retired_caches != NIL)
	{
		HostCache *hc = static_cast<HostCache *>(linitial(retired_caches));
		retired_caches = list_delete_first(retired_caches);
		free_cache(hc);
	}
}

void ct_host_cache_init(void) { RegisterXactCallback(free_retired_at_xact_end, nullptr); }

static Oid relation_in(Oid schema, const char *name)
{
	Oid relid = get_relname_relid(name, schema);
	if (!OidIsValid(relid))
		ereport(
			ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("customer_tracking: table %s.%s is missing", get_namespace_name(schema), name),
			 errhint("Reinstall the extension: DROP EXTENSION customer_tracking; CREATE EXTENSION "
					 "customer_tracking;")));
	return relid;
}

static Oid relation_owner(Oid relid)
{
	HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid owner;
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

const char *ct_field_name(int field)
{
	return field == FIELD_COUNT ? "shop_customer_id" : field_names[field];
}

/*
 * Reads customer_tracking_settings (column mapping, status lists, the zone of
 * naive times) into out, in cxt. A direct scan of the extension's own table:
 * no SPI, no privilege of the calling role needed (DDL guard, SQL helpers).
 */
void ct_read_settings(Oid schema, HostSettings *out, MemoryContext cxt)
{
	/* On Citus, a reference table: its rows are in its shard on this node. */
	ct_read_settings_of(ct_local_rows_of(relation_in(schema, "customer_tracking_settings")), out,
						cxt);
}

void ct_read_settings_of(Oid relid, HostSettings *out, MemoryContext cxt)
{
	Relation rel = table_open(relid, AccessShareLock);
	Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
	TableScanDesc scan = table_beginscan(rel, snapshot, 0, nullptr);
	TupleDesc desc = RelationGetDescr(rel);
	HeapTuple tuple;
	MemoryContext old = MemoryContextSwitchTo(cxt);

	memset(out, 0, sizeof(*out));
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != nullptr)
	{
		bool setting_null;
		bool value_null;
		Datum setting_datum = heap_getattr(tuple, 1, desc, &setting_null);
		Datum value_datum = heap_getattr(tuple, 2, desc, &value_null);
		if (setting_null || value_null)
			continue;
		char *setting = TextDatumGetCString(setting_datum);
		char *value = TextDatumGetCString(value_datum);

		if (strncmp(setting, "column:", 7) == 0)
		{
			for (int f = 0; f < FIELD_COUNT; f++)
				if (strcmp(setting + 7, field_names[f]) == 0)
					out->columns[f] = value;
		}
		else if (strcmp(setting, "paid_statuses") == 0)
			out->paid = value;
		else if (strcmp(setting, "unpaid_statuses") == 0)
			out->unpaid = value;
		else if (strcmp(setting, "naive_time_zone") == 0)
			out->naive_time_zone = value;
	}
	MemoryContextSwitchTo(old);
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
}

/*
 * Why a column of this type cannot be read for the field (nullptr: it can).
 * Ids are uuids; times are instants (timestamptz) or naive times read in the
 * configured zone; amounts are numbers or decimal text; text fields accept
 * types whose text form does not depend on session settings.
 */
const char *ct_field_type_problem(int field, Oid type)
{
	Oid base = getBaseType(type);
	char category;
	bool preferred;

	switch (field)
	{
		case FIELD_ID:
		case FIELD_SHOP_ID:
		case FIELD_COUNT: /* shop_customer_id */
			return base == UUIDOID ? nullptr : "must be of type uuid";
		case FIELD_CREATED_AT:
			return base == TIMESTAMPTZOID || base == TIMESTAMPOID || base == DATEOID
					   ? nullptr
					   : "must be of type timestamptz, timestamp or date";
		case FIELD_AMOUNT:
			if (base == CASHOID)
				return "cannot be of type money (its numeric value depends on the session's "
					   "lc_monetary); use numeric";
			if (base == NUMERICOID || base == INT2OID || base == INT4OID || base == INT8OID ||
				base == FLOAT4OID || base == FLOAT8OID)
				return nullptr;
			get_type_category_preferred(base, &category, &preferred);
			return category == TYPCATEGORY_STRING
					   ? nullptr
					   : "must be a number (numeric, integer, real, double precision) or text";
		default:
			if (base == INT2OID || base == INT4OID || base == INT8OID || base == NUMERICOID ||
				get_typtype(base) == TYPTYPE_ENUM)
				return nullptr;
			get_type_category_preferred(base, &category, &preferred);
			return category == TYPCATEGORY_STRING
					   ? nullptr
					   : "is read as text: use a text, varchar, char, enum, integer or numeric "
						 "column";
	}
}

/* Fields whose loss changes no count: read as absent, reported (email, name, attribution). */
static bool field_is_cosmetic(int field)
{
	return field == FIELD_EMAIL || field == FIELD_NAME || field >= FIELD_REFERRER;
}

/* Optional fields used only when present (unless mapped explicitly). */
static bool field_used_when_present(int field) { return field >= FIELD_REFERRER; }

/*
 * Where each field is read from and whether it can be: cols[FIELD_COUNT] is
 * shop_customer_id. Never raises for a missing or unreadable column: that is
 * drift, reported through the state.
 */
void ct_resolve_host(Oid orders_relid, const HostSettings *settings, HostColumn *cols)
{
	for (int f = 0; f <= FIELD_COUNT; f++)
	{
		HostColumn *c = &cols[f];
		const char *mapped = f < FIELD_COUNT ? settings->columns[f] : nullptr;
		HeapTuple tuple;

		memset(c, 0, sizeof(*c));
		c->field = f;
		c->mapped = mapped != nullptr;
		c->column = mapped != nullptr ? mapped : ct_field_name(f);
		if (c->column[0] == '\0')
		{
			c->state = FS_ABSENT; /* mapped to '': the host has no such column */
			continue;
		}
		tuple = SearchSysCacheAttName(orders_relid, c->column);
		if (HeapTupleIsValid(tuple))
		{
			Form_pg_attribute att = reinterpret_cast<Form_pg_attribute>(GETSTRUCT(tuple));
			if (att->attnum > 0)
			{
				c->attnum = att->attnum;
				c->type = att->atttypid;
				c->typmod = att->atttypmod;
			}
			ReleaseSysCache(tuple);
		}
		if (c->attnum == InvalidAttrNumber)
		{
			if (f < FIELD_COUNT && field_used_when_present(f) && !c->mapped)
				c->state = FS_ABSENT;
			else
			{
				c->state = f < FIELD_COUNT && field_is_cosmetic(f) ? FS_IGNORED : FS_DRIFT;
				c->detail = psprintf("column shop_orders.%s (field %s) is missing",
									 quote_identifier(c->column), ct_field_name(f));
			}
			continue;
		}
		const char *problem = ct_field_type_problem(f, c->type);
		if (problem != nullptr)
		{
			c->state = f < FIELD_COUNT && field_is_cosmetic(f) ? FS_IGNORED : FS_DRIFT;
			c->detail = psprintf("column shop_orders.%s (field %s) is of type %s: it %s",
								 quote_identifier(c->column), ct_field_name(f),
								 format_type_with_typemod(c->type, c->typmod), problem);
			c->attnum = InvalidAttrNumber;
			continue;
		}
		c->state = FS_OK;
	}
}

static void resolve_columns(HostCache *hc, Relation orders, const HostSettings *settings)
{
	TupleDesc desc = RelationGetDescr(orders);
	HostColumn cols[FIELD_COUNT + 1];

	ct_resolve_host(hc->orders_relid, settings, cols);
	hc->drift_detail = nullptr;
	for (int f = 0; f <= FIELD_COUNT; f++)
	{
		const HostColumn *c = &cols[f];

		if (c->state == FS_DRIFT && hc->drift_detail == nullptr)
			hc->drift_detail = pstrdup(c->detail);
		if (f == FIELD_COUNT)
		{
			hc->link_attnum = c->attnum;
			continue;
		}
		hc->state[f] = c->state;
		hc->attnum[f] = c->attnum;
		if (c->attnum == InvalidAttrNumber)
			continue;

		Form_pg_attribute att = TupleDescAttr(desc, c->attnum - 1);
		Oid base = getBaseType(att->atttypid);
		hc->atttype[f] = base;
		hc->attbyval[f] = att->attbyval;
		hc->attlen[f] = att->attlen;
		hc->is_text[f] = base == TEXTOID || base == VARCHAROID || base == BPCHAROID;
		/* Every other type is read through its output function (amounts: strings only). */
		if (!hc->is_text[f])
		{
			Oid output;
			bool varlena;
			getTypeOutputInfo(att->atttypid, &output, &varlena);
			fmgr_info_cxt(output, &hc->output[f], hc->cxt);
		}
	}

	/* Naive times are read in one zone, whatever the session's TimeZone. */
	hc->naive_zone_name =
		pstrdup(settings->naive_time_zone != nullptr ? settings->naive_time_zone : "UTC");
	hc->naive_zone = pg_tzset(hc->naive_zone_name);
	if (hc->naive_zone == nullptr && hc->drift_detail == nullptr)
		hc->drift_detail = psprintf("setting naive_time_zone \"%s\" is not a known time zone",
									hc->naive_zone_name);

	hc->link_has_foreign_key = false;
	ListCell *lc;
	foreach (lc, RelationGetFKeyList(orders))
	{
		const ForeignKeyCacheInfo *fk = static_cast<const ForeignKeyCacheInfo *>(lfirst(lc));
		if (hc->link_attnum != InvalidAttrNumber && fk->confrelid == hc->customers_relid &&
			fk->nkeys == 1 && fk->conkey[0] == hc->link_attnum)
			hc->link_has_foreign_key = true;
	}

	hc->drifted = hc->drift_detail != nullptr;
}

static const char *qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * Where each of the extension's tables is read and written from the orders
 * relation the trigger fired on. Without Citus: the tables themselves, with
 * no further lookup. On Citus (its metadata in this database), when orders is
 * a shard: the colocated shard of each table distributed by shop, the shard
 * of each reference table, never a shell table; when a table has no such
 * shard here (the extension's tables not distributed yet), hc->unready says
 * why and nothing is written. When orders is a Citus table itself (its
 * TRUNCATE trigger on the coordinator), the settings are read from the
 * reference table's shard here and nothing else is written.
 */
static void resolve_tables(HostCache *hc)
{
	Oid logical[XT_COUNT];
	CitusShard shard;
	CitusTableInfo orders_info;

	hc->loyalty = true;
	for (int t = 0; t < XT_COUNT; t++)
	{
		/* The loyalty tables are new in 1.4: without them, no codes or referrals (codes.cpp). */
		if (t >= XT_CODES && t <= XT_REFERRAL_SETTINGS &&
			!OidIsValid(get_relname_relid(ct_table_names[t], hc->schema)))
		{
			hc->loyalty = false;
			logical[t] = hc->table_relid[t] = InvalidOid;
			continue;
		}
		logical[t] = relation_in(hc->schema, ct_table_names[t]);
		hc->table_relid[t] = logical[t];
	}
	if (ct_citus_present())
	{
		if (ct_citus_shard_of(hc->orders_relid, &shard) &&
			ct_citus_table(shard.logical, &orders_info))
		{
			hc->citus_shard = true;
			hc->logical_relid[XT_COUNT] = shard.logical;
		}
		else if (ct_citus_table(hc->orders_relid, &orders_info))
		{
			hc->citus_table = true;
			hc->unready = "the orders of a Citus table are tracked on its shards";
		}
	}
	if (hc->citus_shard || hc->citus_table)
		for (int t = 0; t < XT_COUNT; t++)
		{
			CitusTableInfo info;
			Oid local = InvalidOid;
			if (!OidIsValid(logical[t]))
				continue;
			if (!ct_citus_table(logical[t], &info))
			{
				/* Still a plain table: right only next to a Citus local shop_orders. */
				if (hc->citus_shard && orders_info.method != 'h')
					continue;
				if (hc->unready == nullptr)
					hc->unready = psprintf("table %s is not distributed yet (run SELECT "
										   "customer_tracking_distribute(); on the coordinator)",
										   ct_table_names[t]);
				continue;
			}
			hc->logical_relid[t] = logical[t];
			if (info.method != 'h')
				local = ct_citus_local_shard(logical[t], nullptr);
			else if (hc->citus_shard && orders_info.method == 'h' &&
					 info.colocation == orders_info.colocation)
				local = ct_citus_local_shard(logical[t], shard.minvalue);
			if (OidIsValid(local))
				hc->table_relid[t] = local;
			else if (hc->unready == nullptr)
				hc->unready = psprintf("table %s has no shard on this node colocated with %s",
									   ct_table_names[t], get_rel_name(hc->orders_relid));
		}
	for (int t = 0; t < XT_COUNT; t++)
		hc->table_sql[t] = OidIsValid(hc->table_relid[t]) ? qualified_name(hc->table_relid[t]) : "";
	hc->customers_relid = hc->table_relid[XT_CUSTOMERS];
	hc->ledger_relid = hc->table_relid[XT_LEDGER];
	hc->issues_relid = hc->table_relid[XT_ISSUES];
	hc->settings_relid = hc->table_relid[XT_SETTINGS];
	hc->pairs_relid = hc->table_relid[XT_PAIRS];
}

static HostCache *build_cache(Relation orders, Oid schema)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "customer_tracking host cache",
											  ALLOCSET_SMALL_SIZES);
	HostCache *hc = static_cast<HostCache *>(MemoryContextAllocZero(cxt, sizeof(HostCache)));
	HostSettings settings;
	MemoryContext old;

	hc->cxt = cxt;
	hc->statuses = new ct::rules::StatusVocabulary();
	/* Until it is complete, an error must not leak the half-built cache. */
	old = MemoryContextSwitchTo(TopMemoryContext);
	retired_caches = lappend(retired_caches, hc);
	MemoryContextSwitchTo(old);

	old = MemoryContextSwitchTo(cxt);
	hc->orders_relid = RelationGetRelid(orders);
	hc->schema = schema;
	hc->schema_sql = pstrdup(quote_identifier(get_namespace_name(hc->schema)));
	resolve_tables(hc);
	hc->owner = relation_owner(hc->customers_relid);
	hc->zero = DirectFunctionCall1(int4_numeric, Int32GetDatum(0));
	hc->search_path = static_cast<OverrideSearchPath *>(palloc0(sizeof(OverrideSearchPath)));
	hc->search_path->schemas = list_make1_oid(hc->schema);
	hc->search_path->addCatalog = true;
	hc->search_path->addTemp = false;
	/* Settings and columns: a drifted host table is reported, never an error. */
	ct_read_settings_of(hc->settings_relid, &settings, cxt);
	if (settings.paid != nullptr)
		hc->statuses->SetPaid(settings.paid);
	if (settings.unpaid != nullptr)
		hc->statuses->SetUnpaid(settings.unpaid);
	resolve_columns(hc, orders, &settings);
	MemoryContextSwitchTo(old);

	/* The modules prepare their statements from it when they first need them (statements.cpp). */
	hc->generation = ++generations;
	retired_caches = list_delete_ptr(retired_caches, hc);
	hc->valid = true;
	return hc;
}

static HostCache *find_cache(Oid orders_relid)
{
	ListCell *lc;
	if (last_cache != nullptr && last_cache->valid && last_cache->orders_relid == orders_relid)
		return last_cache;
	foreach (lc, caches)
	{
		HostCache *hc = static_cast<HostCache *>(lfirst(lc));
		if (hc->valid && hc->orders_relid == orders_relid)
			return last_cache = hc;
	}
	return nullptr;
}

const HostCache *ct_host_cache(Relation orders, Oid trigger_function)
{
	HostCache *hc = find_cache(RelationGetRelid(orders));
	if (hc != nullptr)
		return hc;

	hc = build_cache(orders, get_func_namespace(trigger_function));
	/*
	 * Caches no longer valid (this relation's old one, a moved shard's) are
	 * retired: a trigger further up the stack may still hold one, so they are
	 * freed at transaction end.
	 */
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	List *kept = NIL;
	ListCell *lc;
	foreach (lc, caches)
	{
		HostCache *c = static_cast<HostCache *>(lfirst(lc));
		if (c->valid && c->orders_relid != hc->orders_relid)
			kept = lappend(kept, c);
		else
			retired_caches = lappend(retired_caches, c);
	}
	list_free(caches);
	caches = lappend(kept, hc);
	MemoryContextSwitchTo(old);
	last_cache = hc;
	return hc;
}

const HostCache *ct_host_cache_of(Oid orders_relid, Oid function)
{
	HostCache *hc = find_cache(orders_relid);
	if (hc != nullptr)
		return hc;

	Relation orders = table_open(orders_relid, AccessShareLock);
	const HostCache *result = ct_host_cache(orders, function);
	table_close(orders, NoLock);
	return result;
}

static bool fields_changed(const HostCache *hc, TupleDesc desc, HeapTuple before, HeapTuple after,
						   bool with_link)
{
	for (int f = 0; f <= (with_link ? FIELD_COUNT : FIELD_COUNT - 1); f++)
	{
		AttrNumber attnum = f < FIELD_COUNT ? hc->attnum[f] : hc->link_attnum;
		bool before_null;
		bool after_null;
		Datum a;
		Datum b;

		if (attnum == InvalidAttrNumber)
			continue;
		a = heap_getattr(before, attnum, desc, &before_null);
		b = heap_getattr(after, attnum, desc, &after_null);
		if (before_null != after_null)
			return true;
		if (before_null)
			continue;
		Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
		if (!datumIsEqual(a, b, att->attbyval, att->attlen))
			return true;
	}
	return false;
}

bool ct_tracked_fields_changed(const HostCache *hc, TupleDesc desc, HeapTuple before,
							   HeapTuple after)
{
	return fields_changed(hc, desc, before, after, true);
}

bool ct_order_fields_changed(const HostCache *hc, TupleDesc desc, HeapTuple before, HeapTuple after)
{
	return fields_changed(hc, desc, before, after, false);
}

/* customer_tracking_invalidate(): makes every backend re-read the settings. */
CT_FUNCTION(ct_invalidate)
{
	Oid schema = get_func_namespace(fcinfo->flinfo->fn_oid);
	Oid orders = get_relname_relid("shop_orders", schema);

	Oid settings = get_relname_relid("customer_tracking_settings", schema);
	CitusTableInfo citus;

	CacheInvalidateRelcacheByRelid(settings);
	if (OidIsValid(orders))
		CacheInvalidateRelcacheByRelid(orders);
	/*
	 * Citus: the settings are a reference table and the caches are on every
	 * node. A change of nothing that Citus applies to the table on every node,
	 * in this transaction, makes each node's sessions read them again.
	 */
	if (OidIsValid(settings) && ct_citus_present() && ct_citus_table(settings, &citus) &&
		ct_citus_local_group() == 0)
	{
		Oid save_userid;
		int save_sec_context;
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "customer_tracking: SPI_connect failed");
		GetUserIdAndSecContext(&save_userid, &save_sec_context);
		SetUserIdAndSecContext(relation_owner(settings),
							   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
		if (SPI_execute(psprintf("ALTER TABLE %s RESET (fillfactor)", qualified_name(settings)),
						false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "customer_tracking: could not invalidate the settings on the workers");
		SetUserIdAndSecContext(save_userid, save_sec_context);
		SPI_finish();
	}
	PG_RETURN_VOID();
}

/*
 * Connects SPI and switches to the owner of the extension's tables (clients
 * have no write access to them) with a pinned search_path, as ri_triggers.c
 * does. An error on the way is cleaned up by transaction abort.
 */
void ct_begin_as_owner(const HostCache *hc, Oid *save_userid, int *save_sec_context)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR), errmsg("customer_tracking: SPI_connect failed")));
	GetUserIdAndSecContext(save_userid, save_sec_context);
	SetUserIdAndSecContext(hc->owner,
						   *save_sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
	PushOverrideSearchPath(hc->search_path);
}

void ct_end_as_owner(const Oid *save_userid, const int *save_sec_context)
{
	PopOverrideSearchPath();
	SetUserIdAndSecContext(*save_userid, *save_sec_context);
	if (SPI_finish() != SPI_OK_FINISH)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR), errmsg("customer_tracking: SPI_finish failed")));
}
