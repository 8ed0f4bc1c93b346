/*
 * row_writer.cpp: writes rows through the table access method, without
 * planning or starting an executor for a statement.
 *
 * A row is found by its primary key (any version, dirty snapshot) and locked
 * with table_tuple_lock, which waits in line for a concurrent change as UPDATE
 * does and follows it to the latest version (a row only this session writes,
 * e.g. its rollup stripe, is not locked: a lock is a WAL record of its own);
 * that version is replaced by the
 * next one, or a missing row is inserted, through the executor's routines for
 * logical replication (execReplication.c): constraints, generated columns,
 * index entries, HOT updates and foreign-key checks are handled as for an
 * UPDATE or INSERT statement. Per row this is a fraction of the cost of the
 * equivalent statement.
 *
 * Rollups add deltas to counters (ct_row_writer_add); customers.cpp builds a
 * customer's and a per-slug count's next version itself (ct_direct_*). Only
 * tables without triggers of their own qualify, and only columns of the types
 * the caller expects; the callers write anything else with SQL.
 */
#include "row_writer.h"

extern "C" {
#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"
}

/* Plain, keyed, and without triggers other than the foreign-key checks in allowed_ri. */
static bool direct_table_usable(Relation rel, int allowed_ri)
{
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relispartition ||
		!OidIsValid(RelationGetPrimaryKeyIndex(rel)))
		return false;
	for (int i = 0; rel->trigdesc != nullptr && i < rel->trigdesc->numtriggers; i++)
	{
		const Trigger *trigger = &rel->trigdesc->triggers[i];
		int kind = RI_FKey_trigger_type(trigger->tgfoid);
		if (!TRIGGER_FOR_AFTER(trigger->tgtype) ||
			!((kind == RI_TRIGGER_PK && (allowed_ri & CT_DIRECT_REFERENCED)) ||
			  (kind == RI_TRIGGER_FK && (allowed_ri & CT_DIRECT_REFERENCING))))
			return false;
	}
	return true;
}

bool ct_row_writer_usable(Relation rel)
{
	bool usable = direct_table_usable(rel, 0);
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

bool ct_direct_resolve(Oid relid, const DirectColumn *columns, int ncolumns, int nkey, int flags,
					   AttrNumber *attnums)
{
	if (!OidIsValid(relid))
		return false;
	Relation rel = table_open(relid, AccessShareLock);
	bool usable = direct_table_usable(rel, flags);
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
	if (usable && (flags & CT_DIRECT_ALL_COLUMNS))
	{
		/* New rows: no column may be left to a default this file does not know. */
		int known = 0;
		TupleDesc desc = RelationGetDescr(rel);
		for (int i = 0; i < desc->natts; i++)
			known += !TupleDescAttr(desc, i)->attisdropped;
		usable = known == ncolumns;
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
	TupleTableSlot *found; /* the locked, latest version */
	TupleTableSlot *next;  /* the version replacing it */
};

DirectTable *ct_direct_open(Oid relid, bool inserts)
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
	ExecOpenIndices(t->rri, inserts); /* inserts check unique keys first */
	t->pkey = RelationGetPrimaryKeyIndex(t->rel);
	TupleDesc desc = RelationGetDescr(t->rel);
	t->next = ExecInitExtraTupleSlot(t->estate, desc, &TTSOpsVirtual);
	t->found = table_slot_create(t->rel, &t->estate->es_tupleTable);
	return t;
}

/* Equality scan keys on index's key columns; value_of(i) gives column i's value. */
template <typename ValueOf>
static ScanKey key_equals(Relation index, ValueOf value_of)
{
	int nkeys = IndexRelationGetNumberOfKeyAttributes(index);
	ScanKey skey = static_cast<ScanKey>(palloc(sizeof(ScanKeyData) * nkeys));

	for (int i = 0; i < nkeys; i++)
	{
		Oid op = get_opfamily_member(index->rd_opfamily[i], index->rd_opcintype[i],
									 index->rd_opcintype[i], BTEqualStrategyNumber);
		if (!OidIsValid(op))
			elog(ERROR, "customer_tracking: no equality operator for key column %d of \"%s\"",
				 i + 1, RelationGetRelationName(index));
		ScanKeyInit(&skey[i], i + 1, BTEqualStrategyNumber, get_opcode(op), value_of(i));
		skey[i].sk_collation = index->rd_indcollation[i];
	}
	return skey;
}

bool ct_direct_exists(Oid relid, const Datum *key)
{
	Relation rel = table_open(relid, AccessShareLock);
	Relation index = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	int nkeys = IndexRelationGetNumberOfKeyAttributes(index);
	ScanKey skey = key_equals(index, [key](int i) { return key[i]; });

	/* Committed rows and this transaction's, as a statement starting now would see them. */
	Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
	IndexScanDesc scan = index_beginscan(rel, index, snapshot, nkeys, 0);
	index_rescan(scan, skey, nkeys, nullptr, 0);
	TupleTableSlot *slot = table_slot_create(rel, nullptr);
	bool found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);
	pfree(skey);
	return found;
}

DirectTable *ct_direct_begin_row(Oid relid, bool inserts)
{
	CommandCounterIncrement(); /* rows written earlier in this command become lockable */
	return ct_direct_open(relid, inserts);
}

void ct_direct_end_row(DirectTable *t)
{
	ct_direct_close(t);
	CommandCounterIncrement(); /* and visible to the statements that follow */
}

int ct_direct_natts(const DirectTable *t) { return RelationGetDescr(t->rel)->natts; }

void ct_direct_close(DirectTable *t)
{
	/* Closes what foreign-key checks opened (ours is not listed there). */
	ExecCloseResultRelations(t->estate);
	ExecCloseIndices(t->rri);
	ExecResetTupleTable(t->estate->es_tupleTable, false);
	FreeExecutorState(t->estate);
	table_close(t->rel, NoLock);
	pfree(t);
}

/*
 * The row with this key among all versions (dirty snapshot), or false. A
 * version another transaction is still writing is passed over for the one it
 * replaces, so that locking waits in line with other lockers of the row (as
 * UPDATE and SELECT ... FOR UPDATE do); *inserter is set when that version is
 * all there is (a row being inserted).
 */
static bool find_version(DirectTable *t, Relation index, ScanKey skey, TransactionId *inserter,
						 TransactionId *updater)
{
	SnapshotData dirty;
	InitDirtySnapshot(dirty);
	int nkeys = IndexRelationGetNumberOfKeyAttributes(index);
	IndexScanDesc scan = index_beginscan(t->rel, index, &dirty, nkeys, 0);
	bool found = false;

	*inserter = InvalidTransactionId;
	*updater = InvalidTransactionId;
	index_rescan(scan, skey, nkeys, nullptr, 0);
	while (!found && index_getnext_slot(scan, ForwardScanDirection, t->found))
	{
		if (TransactionIdIsValid(dirty.xmin))
			*inserter = dirty.xmin;
		else
		{
			found = true;
			*updater = dirty.xmax;
		}
	}
	index_endscan(scan);
	return found;
}

TupleTableSlot *ct_direct_find_guarded(DirectTable *t, const Datum *key)
{
	Relation index = index_open(t->pkey, RowExclusiveLock);
	const int16 *key_attnums = index->rd_index->indkey.values;
	ScanKey skey = key_equals(index, [key, key_attnums](int i) { return key[key_attnums[i] - 1]; });
	TransactionId inserter;
	TransactionId updater;
	bool found = find_version(t, index, skey, &inserter, &updater);

	pfree(skey);
	index_close(index, NoLock);
	/* Anyone else at it (a prepared transaction of a backend that had this id): wait in line. */
	if (TransactionIdIsValid(inserter) || (found && TransactionIdIsValid(updater)))
		return ct_direct_find(t, key);
	if (!found)
		return nullptr;
	slot_getallattrs(t->found);
	return t->found;
}

TupleTableSlot *ct_direct_find(DirectTable *t, const Datum *key)
{
	Relation index = index_open(t->pkey, RowExclusiveLock);
	const int16 *key_attnums = index->rd_index->indkey.values;
	ScanKey skey = key_equals(index, [key, key_attnums](int i) { return key[key_attnums[i] - 1]; });
	TupleTableSlot *locked = nullptr;

	for (;;)
	{
		TransactionId inserter;
		TransactionId updater;
		TM_FailureData failure;

		if (!find_version(t, index, skey, &inserter, &updater))
		{
			if (!TransactionIdIsValid(inserter))
				break;
			XactLockTableWait(inserter, t->rel, nullptr, XLTW_None); /* then look again */
			continue;
		}
		/* Waits for a concurrent change, then locks the latest version. */
		TM_Result result = table_tuple_lock(
			t->rel, &t->found->tts_tid, GetLatestSnapshot(), t->found, GetCurrentCommandId(false),
			LockTupleNoKeyExclusive, LockWaitBlock, TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &failure);
		if (result == TM_Ok)
		{
			slot_getallattrs(t->found);
			locked = t->found;
			break;
		}
		if (result != TM_Deleted && result != TM_Updated)
			elog(ERROR, "customer_tracking: could not lock a row of \"%s\" (%d)",
				 RelationGetRelationName(t->rel), static_cast<int>(result));
		/* Deleted, or moved on: look it up again. */
	}
	pfree(skey);
	index_close(index, NoLock);
	return locked;
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

TupleTableSlot *ct_direct_new_row(DirectTable *t)
{
	TupleTableSlot *next = t->next;
	ExecClearTuple(next);
	for (int i = 0; i < next->tts_tupleDescriptor->natts; i++)
	{
		next->tts_values[i] = (Datum) 0;
		next->tts_isnull[i] = true;
	}
	return next;
}

bool ct_direct_insert(DirectTable *t)
{
	ItemPointerData conflict;

	ExecStoreVirtualTuple(t->next);
	/* Foreign-key checks are queued at this level, then deferred or run, as after a statement. */
	AfterTriggerBeginQuery();
	bool inserted = ExecCheckIndexConstraints(t->rri, t->next, t->estate, &conflict, NIL);
	if (inserted)
		ExecSimpleRelationInsert(t->rri, t->estate, t->next);
	AfterTriggerEndQuery(t->estate);
	ResetPerTupleExprContext(t->estate);
	return inserted;
}

void ct_direct_update(DirectTable *t)
{
	bool triggers = t->rri->ri_TrigDesc != nullptr; /* foreign keys pointing here: as an UPDATE */

	ExecStoreVirtualTuple(t->next);
	if (triggers)
		AfterTriggerBeginQuery();
	ExecSimpleRelationUpdate(t->rri, t->estate, nullptr, t->found, t->next);
	if (triggers)
		AfterTriggerEndQuery(t->estate);
	ResetPerTupleExprContext(t->estate);
}

void ct_row_writer_add(Oid relid, int nrows, Datum *const *rows)
{
	if (nrows == 0)
		return;

	DirectTable *t = ct_direct_open(relid, false);
	TupleDesc desc = RelationGetDescr(t->rel);
	Bitmapset *key = RelationGetIndexAttrBitmap(t->rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);

	for (int r = 0; r < nrows; r++)
	{
		const Datum *values = rows[r];
		/* This backend's stripe: no other live session writes it. */
		TupleTableSlot *found = ct_direct_find_guarded(t, values);

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
			TupleTableSlot *row = ct_direct_new_row(t); /* the deltas are the new row */
			for (int i = 0; i < desc->natts; i++)
			{
				row->tts_values[i] = values[i];
				row->tts_isnull[i] = false;
			}
			ExecStoreVirtualTuple(row);
			ExecSimpleRelationInsert(t->rri, t->estate, row);
			ResetPerTupleExprContext(t->estate);
		}
	}
	bms_free(key);
	ct_direct_close(t);
}
