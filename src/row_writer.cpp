/*
 * row_writer.cpp: writes rows through the table access method, without
 * planning or starting an executor for a statement.
 *
 * A row is found by its primary key, locked (waiting for, and then following,
 * any concurrent change), and replaced by its next version; a missing rollup
 * row is inserted. These are the executor's own routines for logical
 * replication (execReplication.c): constraints, generated columns, index
 * entries and HOT updates are handled as for an UPDATE or INSERT statement.
 * Per row this is a fraction of the cost of the equivalent statement.
 *
 * Rollups add deltas to counters (ct_row_writer_add); customers.cpp builds a
 * customer's and a per-slug count's next version itself (ct_direct_*). Only
 * tables without triggers of their own qualify, and only columns of the types
 * the caller expects; the callers write anything else with SQL.
 */
#include "tracking.h"

extern "C" {
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"
}

/* Plain, keyed, and without triggers other than (when referenced_ok) checks of referencing rows. */
static bool direct_table_usable(Relation rel, bool referenced_ok)
{
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relispartition ||
		!OidIsValid(RelationGetPrimaryKeyIndex(rel)))
		return false;
	if (rel->trigdesc == nullptr)
		return true;
	if (!referenced_ok)
		return false;
	for (int i = 0; i < rel->trigdesc->numtriggers; i++)
	{
		const Trigger *trigger = &rel->trigdesc->triggers[i];
		if (RI_FKey_trigger_type(trigger->tgfoid) != RI_TRIGGER_PK ||
			!TRIGGER_FOR_AFTER(trigger->tgtype))
			return false;
	}
	return true;
}

bool ct_row_writer_usable(Relation rel)
{
	bool usable = direct_table_usable(rel, false);
	if (usable)
	{
		Bitmapset *key = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
		TupleDesc desc = RelationGetDescr(rel);
		for (int i = 0; i < desc->natts && usable; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);
			if (att->attisdropped)
			{
				usable = false; /* a dropped column would need a NULL, not a delta */
				continue;
			}
			if (bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber, key))
				continue;
			usable = (att->atttypid == INT8OID || att->atttypid == NUMERICOID) &&
					 att->attgenerated == '\0';
		}
		bms_free(key);
	}
	return usable;
}

static bool column_fits(Form_pg_attribute att, const DirectColumn *column)
{
	if (att->attgenerated != '\0')
		return false;
	if (column->type == VARCHAROID)
		return att->atttypid == TEXTOID ||
			   (att->atttypid == VARCHAROID &&
				(att->atttypmod < 0 || att->atttypmod - VARHDRSZ >= column->min_width));
	if (column->type == NUMERICOID)
		return att->atttypid == NUMERICOID && att->atttypmod < 0; /* no rounding to apply */
	return att->atttypid == column->type;
}

bool ct_direct_resolve(Oid relid, const DirectColumn *columns, int ncolumns, int nkey,
					   bool referenced_ok, AttrNumber *attnums)
{
	if (!OidIsValid(relid))
		return false;
	Relation rel = table_open(relid, AccessShareLock);
	bool usable = direct_table_usable(rel, referenced_ok);
	Bitmapset *wanted_key = nullptr;
	for (int c = 0; c < ncolumns && usable; c++)
	{
		attnums[c] = InvalidAttrNumber;
		TupleDesc desc = RelationGetDescr(rel);
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);
			if (!att->attisdropped && strcmp(NameStr(att->attname), columns[c].name) == 0)
			{
				if (column_fits(att, &columns[c]))
					attnums[c] = att->attnum;
				break;
			}
		}
		usable = attnums[c] != InvalidAttrNumber;
		if (usable && c < nkey)
			wanted_key =
				bms_add_member(wanted_key, attnums[c] - FirstLowInvalidHeapAttributeNumber);
	}
	if (usable)
	{
		Bitmapset *key = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
		usable = bms_equal(key, wanted_key);
		bms_free(key);
	}
	bms_free(wanted_key);
	table_close(rel, AccessShareLock);
	return usable;
}

static Datum add_counter(Oid type, Datum current, Datum delta)
{
	if (type == NUMERICOID)
		return DirectFunctionCall2(numeric_add, current, delta);
	int64 sum;
	if (pg_add_s64_overflow(DatumGetInt64(current), DatumGetInt64(delta), &sum))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE), errmsg("bigint out of range")));
	return Int64GetDatum(sum);
}

/* A table opened for direct writes: the executor state the routines need. */
struct DirectTable
{
	Relation rel;
	EState *estate;
	ResultRelInfo *rri;
	Oid pkey;
	TupleTableSlot *search; /* key values to look up */
	TupleTableSlot *found;	/* the locked, latest version */
	TupleTableSlot *next;	/* the version replacing it */
};

DirectTable *ct_direct_open(Oid relid)
{
	DirectTable *t = static_cast<DirectTable *>(palloc0(sizeof(DirectTable)));
	t->rel = table_open(relid, RowExclusiveLock);
	t->estate = CreateExecutorState();
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(t->estate, list_make1(rte));
	t->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(t->rri, t->rel, 1, nullptr, 0);
	t->estate->es_output_cid = GetCurrentCommandId(true);
	t->estate->es_snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : InvalidSnapshot;
	ExecOpenIndices(t->rri, false);
	t->pkey = RelationGetPrimaryKeyIndex(t->rel);
	TupleDesc desc = RelationGetDescr(t->rel);
	t->search = ExecInitExtraTupleSlot(t->estate, desc, &TTSOpsVirtual);
	t->next = ExecInitExtraTupleSlot(t->estate, desc, &TTSOpsVirtual);
	t->found = table_slot_create(t->rel, &t->estate->es_tupleTable);
	return t;
}

int ct_direct_natts(const DirectTable *t) { return RelationGetDescr(t->rel)->natts; }

void ct_direct_close(DirectTable *t)
{
	ExecCloseIndices(t->rri);
	ExecResetTupleTable(t->estate->es_tupleTable, false);
	FreeExecutorState(t->estate);
	table_close(t->rel, NoLock);
	pfree(t);
}

TupleTableSlot *ct_direct_find(DirectTable *t, const Datum *key)
{
	TupleTableSlot *search = t->search;
	int natts = RelationGetDescr(t->rel)->natts;

	ExecClearTuple(search);
	for (int i = 0; i < natts; i++)
	{
		search->tts_values[i] = key[i];
		search->tts_isnull[i] = false;
	}
	ExecStoreVirtualTuple(search);
	if (!RelationFindReplTupleByIndex(t->rel, t->pkey, LockTupleNoKeyExclusive, search, t->found))
		return nullptr;
	slot_getallattrs(t->found);
	return t->found;
}

TupleTableSlot *ct_direct_next_version(DirectTable *t)
{
	TupleDesc desc = RelationGetDescr(t->rel);
	TupleTableSlot *next = t->next;

	ExecClearTuple(next);
	for (int i = 0; i < desc->natts; i++)
	{
		/* A dropped column is NULL in a new version, as after UPDATE. */
		next->tts_isnull[i] = t->found->tts_isnull[i] || TupleDescAttr(desc, i)->attisdropped;
		next->tts_values[i] = next->tts_isnull[i] ? (Datum) 0 : t->found->tts_values[i];
	}
	return next;
}

void ct_direct_update(DirectTable *t)
{
	ExecStoreVirtualTuple(t->next);
	ExecSimpleRelationUpdate(t->rri, t->estate, nullptr, t->found, t->next);
	ResetPerTupleExprContext(t->estate);
}

void ct_row_writer_add(Oid relid, int nrows, Datum *const *rows)
{
	if (nrows == 0)
		return;

	DirectTable *t = ct_direct_open(relid);
	TupleDesc desc = RelationGetDescr(t->rel);
	Bitmapset *key = RelationGetIndexAttrBitmap(t->rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);

	for (int r = 0; r < nrows; r++)
	{
		const Datum *values = rows[r];
		TupleTableSlot *found = ct_direct_find(t, values);

		if (found != nullptr)
		{
			TupleTableSlot *next = ct_direct_next_version(t);
			for (int i = 0; i < desc->natts; i++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, i);
				if (!bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber, key))
					next->tts_values[i] =
						add_counter(att->atttypid, found->tts_values[i], values[i]);
			}
			ct_direct_update(t);
		}
		else
		{
			ExecSimpleRelationInsert(t->rri, t->estate, t->search); /* the deltas are the new row */
			ResetPerTupleExprContext(t->estate);
		}
	}
	bms_free(key);
	ct_direct_close(t);
}
