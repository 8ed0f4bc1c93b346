/*
 * row_writer.cpp: adds deltas to rollup rows through the table access method,
 * without planning or starting an executor for a statement.
 *
 * A rollup row is found by its primary key, locked (waiting for, and then
 * following, any concurrent change), and replaced by a version with the deltas
 * added; a missing row is inserted. These are the executor's own routines for
 * logical replication (execReplication.c): constraints, index entries and HOT
 * updates are handled as for an UPDATE or INSERT statement. Per order this is a
 * fraction of the cost of the equivalent INSERT ... ON CONFLICT DO UPDATE.
 *
 * Only plain tables whose non-key columns are all bigint or numeric counters
 * and that have no triggers qualify (ct_row_writer_usable); the caller writes
 * anything else with SQL.
 */
#include "tracking.h"

extern "C" {
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"
}

bool ct_row_writer_usable(Relation rel)
{
	bool usable = rel->rd_rel->relkind == RELKIND_RELATION && !rel->rd_rel->relispartition &&
				  rel->trigdesc == nullptr && OidIsValid(RelationGetPrimaryKeyIndex(rel));
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

void ct_row_writer_add(Oid relid, int nrows, Datum *const *rows)
{
	if (nrows == 0)
		return;

	Relation rel = table_open(relid, RowExclusiveLock);
	EState *estate = CreateExecutorState();
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(estate, list_make1(rte));
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, nullptr, 0);
	estate->es_output_cid = GetCurrentCommandId(true);
	estate->es_snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : InvalidSnapshot;
	ExecOpenIndices(rri, false);

	TupleDesc desc = RelationGetDescr(rel);
	Oid pkey = RelationGetPrimaryKeyIndex(rel);
	Bitmapset *key = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	TupleTableSlot *search = ExecInitExtraTupleSlot(estate, desc, &TTSOpsVirtual);
	TupleTableSlot *next = ExecInitExtraTupleSlot(estate, desc, &TTSOpsVirtual);
	TupleTableSlot *found = table_slot_create(rel, &estate->es_tupleTable);
	int natts = desc->natts;

	for (int r = 0; r < nrows; r++)
	{
		const Datum *values = rows[r];

		ExecClearTuple(search);
		for (int i = 0; i < natts; i++)
		{
			search->tts_values[i] = values[i];
			search->tts_isnull[i] = false;
		}
		ExecStoreVirtualTuple(search);

		if (RelationFindReplTupleByIndex(rel, pkey, LockTupleNoKeyExclusive, search, found))
		{
			ExecClearTuple(next);
			slot_getallattrs(found);
			for (int i = 0; i < natts; i++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, i);
				next->tts_isnull[i] = false;
				next->tts_values[i] =
					bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber, key)
						? found->tts_values[i]
						: add_counter(att->atttypid, found->tts_values[i], values[i]);
			}
			ExecStoreVirtualTuple(next);
			ExecSimpleRelationUpdate(rri, estate, nullptr, found, next);
		}
		else
			ExecSimpleRelationInsert(rri, estate, search); /* the deltas are the new row */
		ResetPerTupleExprContext(estate);
	}

	ExecCloseIndices(rri);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	bms_free(key);
	table_close(rel, NoLock);
}
