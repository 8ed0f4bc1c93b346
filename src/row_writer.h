/*
 * row_writer.h: writing rows through the table access method (row_writer.cpp).
 */
#ifndef CT_ROW_WRITER_H
#define CT_ROW_WRITER_H

#include "customer_tracking.h"

extern "C" {
#include "executor/tuptable.h"
#include "utils/rel.h"
}

/*
 * Direct writes: whether a table qualifies (plain, no triggers, every non-key
 * column a bigint or numeric counter), and adding rows of deltas (values by
 * attribute number - 1: key columns, then deltas) to it, inserting the rows
 * that are missing. The caller starts a new command (CommandCounterIncrement)
 * before and after a batch of writes, so that rows written earlier in the same
 * command can be locked and later readers see the new versions.
 */
bool ct_row_writer_usable(Relation rel);
void ct_row_writer_add(Oid relid, int nrows, Datum *const *rows);

/*
 * The routines under it, for single rows: open a table, find a row by its
 * primary key (values by attribute number - 1) and lock it, fill its next
 * version (a copy to change), replace it. Between ct_direct_open and
 * ct_direct_close no other statement may run.
 */
struct DirectTable;
struct DirectColumn
{
	const char *name;
	Oid type;		 /* VARCHAROID also accepts text */
	int32 min_width; /* varchar: the width values may need */
};
#define CT_DIRECT_REFERENCED \
	1 /* foreign keys may point at the table (a new version keeps its key) */
#define CT_DIRECT_REFERENCING 2 /* the table's foreign keys are checked, as after a statement */
#define CT_DIRECT_ALL_COLUMNS 4 /* columns is every column (new rows leave none to a default) */
/*
 * Whether relid qualifies: a plain table whose first nkey columns are exactly
 * its primary key, with every column present, of its type, and not generated;
 * without triggers, except the foreign-key checks flags allows. Sets attnums;
 * other columns are carried over unchanged.
 */
bool ct_direct_resolve(Oid relid, const DirectColumn *columns, int ncolumns, int nkey, int flags,
					   AttrNumber *attnums);
DirectTable *ct_direct_open(Oid relid, bool inserts);
/* The same for a single row written as a command of its own, as a statement would be. */
DirectTable *ct_direct_begin_row(Oid relid, bool inserts);
void ct_direct_end_row(DirectTable *t);
int ct_direct_natts(const DirectTable *t);
TupleTableSlot *ct_direct_find(DirectTable *t, const Datum *key);
/*
 * The same for a row no other session writes while this one holds what guards
 * it (its rollup stripe; a per-slug count under its customer's lock): not
 * locked, unless another transaction is changing it after all.
 */
TupleTableSlot *ct_direct_find_guarded(DirectTable *t, const Datum *key);
/* Whether a row with this primary key (values in key column order) is visible to a new statement. */
bool ct_direct_exists(Oid relid, const Datum *key);
TupleTableSlot *ct_direct_next_version(DirectTable *t);
void ct_direct_update(DirectTable *t);
/* A new row (all NULL) to fill; inserting it: false, with nothing written, if a unique key is taken. */
TupleTableSlot *ct_direct_new_row(DirectTable *t);
bool ct_direct_insert(DirectTable *t);
void ct_direct_close(DirectTable *t);

#endif
