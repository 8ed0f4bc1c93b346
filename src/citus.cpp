/*
 * citus.cpp: what the trigger needs of Citus's metadata, read straight from
 * its catalog tables (pg_dist_partition, pg_dist_shard, pg_dist_local_group)
 * with heap scans: no SPI, never Citus's planner, nothing at all when Citus is
 * not installed in the database (one syscache lookup, at cache build only).
 *
 * On a Citus worker the triggers on shop_orders fire on a shard of it
 * (shop_orders_102008); the extension's tables there are Citus's empty shell
 * tables, their rows live in the colocated shards (shop_customers_102040, ...).
 * A shard of a hash-distributed table is colocated with the shard of another
 * table of the same colocation group that covers the same hash range (same
 * shardminvalue); a reference table, or a Citus local table, has one shard.
 *
 * Boundary rule (pg_boundary.hpp): this file calls PostgreSQL throughout and
 * holds no object with a destructor in any frame.
 */
#include "citus.h"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "catalog/pg_namespace.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"
}

static Oid catalog_table(const char *name) { return get_relname_relid(name, PG_CATALOG_NAMESPACE); }

bool ct_citus_present(void) { return OidIsValid(catalog_table("pg_dist_partition")); }

/* A column's attribute number in a Citus catalog table, by name (layouts differ by version). */
static AttrNumber column_of(Relation rel, const char *name)
{
	TupleDesc desc = RelationGetDescr(rel);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	elog(ERROR, "customer_tracking: Citus catalog %s has no column %s",
		 RelationGetRelationName(rel), name);
	return InvalidAttrNumber;
}

int ct_citus_local_group(void)
{
	Oid relid = catalog_table("pg_dist_local_group");
	int group = -1;
	if (!OidIsValid(relid))
		return -1;
	Relation rel = table_open(relid, AccessShareLock);
	AttrNumber att = column_of(rel, "groupid");
	Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, nullptr);
	HeapTuple tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool isnull;
		Datum d = heap_getattr(tuple, att, RelationGetDescr(rel), &isnull);
		group = isnull ? 0 : DatumGetInt32(d);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return group;
}

bool ct_citus_table(Oid relid, CitusTableInfo *info)
{
	Oid catalog = catalog_table("pg_dist_partition");
	bool found = false;
	ScanKeyData key;

	memset(info, 0, sizeof(*info));
	if (!OidIsValid(catalog))
		return false;
	Relation rel = table_open(catalog, AccessShareLock);
	AttrNumber att_rel = column_of(rel, "logicalrelid");
	AttrNumber att_method = column_of(rel, "partmethod");
	AttrNumber att_colocation = column_of(rel, "colocationid");
	AttrNumber att_repmodel = column_of(rel, "repmodel");
	ScanKeyInit(&key, att_rel, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snapshot, 1, &key);
	HeapTuple tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		TupleDesc desc = RelationGetDescr(rel);
		bool isnull;
		found = true;
		info->method = DatumGetChar(heap_getattr(tuple, att_method, desc, &isnull));
		info->repmodel = DatumGetChar(heap_getattr(tuple, att_repmodel, desc, &isnull));
		Datum colocation = heap_getattr(tuple, att_colocation, desc, &isnull);
		info->colocation = isnull ? 0 : DatumGetInt32(colocation);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return found;
}

/* The name Citus gives shard shardid of a table named name ("" when it would not fit). */
static char *shard_name(const char *name, int64 shardid)
{
	char *result = psprintf("%s_" INT64_FORMAT, name, shardid);
	return strlen(result) < NAMEDATALEN ? result : pstrdup("");
}

/*
 * Scans pg_dist_shard for key (shardid or logicalrelid); calls back with each
 * row's logical relation, shard id and minimum value (nullptr: NULL).
 */
template <typename Visit>
static void scan_shards(AttrNumber (*pick)(Relation), Datum value, RegProcedure eq, Visit visit)
{
	Oid catalog = catalog_table("pg_dist_shard");
	ScanKeyData key;
	if (!OidIsValid(catalog))
		return;
	Relation rel = table_open(catalog, AccessShareLock);
	TupleDesc desc = RelationGetDescr(rel);
	AttrNumber att_rel = column_of(rel, "logicalrelid");
	AttrNumber att_shard = column_of(rel, "shardid");
	AttrNumber att_min = column_of(rel, "shardminvalue");
	ScanKeyInit(&key, pick(rel), BTEqualStrategyNumber, eq, value);
	Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snapshot, 1, &key);
	HeapTuple tuple;
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool isnull;
		Oid logical = DatumGetObjectId(heap_getattr(tuple, att_rel, desc, &isnull));
		int64 shardid = DatumGetInt64(heap_getattr(tuple, att_shard, desc, &isnull));
		Datum min = heap_getattr(tuple, att_min, desc, &isnull);
		if (!visit(logical, shardid, isnull ? nullptr : TextDatumGetCString(min)))
			break;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
}

static AttrNumber shardid_column(Relation rel) { return column_of(rel, "shardid"); }
static AttrNumber logicalrelid_column(Relation rel) { return column_of(rel, "logicalrelid"); }

bool ct_citus_shard_of(Oid relid, CitusShard *out)
{
	memset(out, 0, sizeof(*out));
	if (!ct_citus_present())
		return false;
	/* A shard is named <table>_<shard id>. */
	const char *name = get_rel_name(relid);
	if (name == nullptr)
		return false;
	const char *underscore = strrchr(name, '_');
	if (underscore == nullptr || underscore[1] == '\0' ||
		strspn(underscore + 1, "0123456789") != strlen(underscore + 1) ||
		strlen(underscore + 1) > 18)
		return false;
	int64 shardid = strtoll(underscore + 1, nullptr, 10);
	bool found = false;
	scan_shards(shardid_column, Int64GetDatum(shardid), F_INT8EQ,
				[&](Oid logical, int64 id, const char *min) {
					const char *logical_name = get_rel_name(logical);
					if (logical_name != nullptr &&
						get_rel_namespace(logical) == get_rel_namespace(relid) &&
						strcmp(shard_name(logical_name, id), name) == 0)
					{
						found = true;
						out->logical = logical;
						out->shardid = id;
						out->minvalue = min != nullptr ? pstrdup(min) : nullptr;
					}
					return false;
				});
	return found;
}

Oid ct_citus_local_shard(Oid logical, const char *minvalue)
{
	Oid result = InvalidOid;
	const char *name = get_rel_name(logical);
	Oid schema = get_rel_namespace(logical);
	if (name == nullptr)
		return InvalidOid;
	scan_shards(logicalrelid_column, ObjectIdGetDatum(logical), F_OIDEQ,
				[&](Oid, int64 id, const char *min) {
					if (minvalue != nullptr && (min == nullptr || strcmp(min, minvalue) != 0))
						return true;
					const char *shard = shard_name(name, id);
					result = shard[0] != '\0' ? get_relname_relid(shard, schema) : InvalidOid;
					return false;
				});
	return result;
}

Oid ct_local_rows_of(Oid relid)
{
	CitusTableInfo info;
	if (!ct_citus_present() || !ct_citus_table(relid, &info) || info.method == 'h')
		return relid;
	Oid shard = ct_citus_local_shard(relid, nullptr);
	return OidIsValid(shard) ? shard : relid;
}

/*
 * The shard of a hash-distributed table holding value (of the distribution
 * column's type), if it is on this node. Citus hashes with the type's standard
 * hash function and gives each shard a range of hashes.
 */
Oid ct_citus_local_shard_for(Oid logical, Oid type, Datum value)
{
	TypeCacheEntry *entry = lookup_type_cache(type, TYPECACHE_HASH_PROC_FINFO);
	if (!OidIsValid(entry->hash_proc))
		return InvalidOid;
	int32 hash = DatumGetInt32(FunctionCall1Coll(&entry->hash_proc_finfo, InvalidOid, value));
	Oid result = InvalidOid;
	const char *name = get_rel_name(logical);
	Oid schema = get_rel_namespace(logical);
	Oid catalog = catalog_table("pg_dist_shard");
	if (name == nullptr || !OidIsValid(catalog))
		return InvalidOid;
	Relation rel = table_open(catalog, AccessShareLock);
	TupleDesc desc = RelationGetDescr(rel);
	AttrNumber att_shard = column_of(rel, "shardid");
	AttrNumber att_min = column_of(rel, "shardminvalue");
	AttrNumber att_max = column_of(rel, "shardmaxvalue");
	ScanKeyData key;
	ScanKeyInit(&key, column_of(rel, "logicalrelid"), BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(logical));
	Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snapshot, 1, &key);
	HeapTuple tuple;
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool min_null;
		bool max_null;
		bool isnull;
		Datum min = heap_getattr(tuple, att_min, desc, &min_null);
		Datum max = heap_getattr(tuple, att_max, desc, &max_null);
		if (min_null || max_null)
			continue;
		int64 lo = strtoll(TextDatumGetCString(min), nullptr, 10);
		int64 hi = strtoll(TextDatumGetCString(max), nullptr, 10);
		if (hash < lo || hash > hi)
			continue;
		const char *shard =
			shard_name(name, DatumGetInt64(heap_getattr(tuple, att_shard, desc, &isnull)));
		result = shard[0] != '\0' ? get_relname_relid(shard, schema) : InvalidOid;
		break;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * DROP EXTENSION customer_tracking on a Citus coordinator: Citus removes the
 * extension's distributed and reference tables from its metadata and drops
 * their shell tables on the workers, but leaves their shards there (and the
 * coordinator's placement of a reference table). So, just before the drop and
 * in its transaction, drop the shards of every Citus table that belongs to the
 * extension (citus_drop_all_shards(), what Citus itself runs for a DROP TABLE).
 * A drop that fails afterwards rolls this back with it. Called by the utility
 * hook (src/pending.cpp), so only in sessions that loaded the library: on a
 * cluster it is preloaded (README, Scaling out with Citus).
 */
void ct_citus_before_drop_extension(const Node *parsetree)
{
	if (!IsA(parsetree, DropStmt))
		return;
	const DropStmt *stmt = castNode(DropStmt, parsetree);
	bool ours = false;
	ListCell *lc;
	if (stmt->removeType != OBJECT_EXTENSION)
		return;
	foreach (lc, stmt->objects)
		if (strcmp(strVal(lfirst(lc)), "customer_tracking") == 0)
			ours = true;
	if (!ours || !ct_citus_present() || ct_citus_local_group() != 0)
		return;
	Oid extension = get_extension_oid("customer_tracking", true);
	if (!OidIsValid(extension))
		return;
	Oid types[1] = {OIDOID};
	Datum args[1] = {ObjectIdGetDatum(extension)};
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "customer_tracking: SPI_connect failed");
	int rc = SPI_execute_with_args(
		"SELECT pg_catalog.citus_drop_all_shards(p.logicalrelid, n.nspname, c.relname) "
		"FROM pg_catalog.pg_dist_partition p "
		"JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid "
		"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		"JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
		" AND d.objid = c.oid AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass "
		" AND d.refobjid = $1 AND d.deptype = 'e'",
		1, types, args, nullptr, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "customer_tracking: could not drop the shards of the extension's tables: %s",
			 SPI_result_code_string(rc));
	SPI_finish();
}
