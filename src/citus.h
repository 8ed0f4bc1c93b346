/*
 * citus.h: Citus metadata (citus.cpp), read from its catalog tables; nothing
 * without Citus.
 */
#ifndef CT_CITUS_H
#define CT_CITUS_H

#include "customer_tracking.h"

extern "C" {
#include "nodes/nodes.h"
}

struct CitusTableInfo
{
	char method;   /* partmethod: 'h' hash-distributed, 'n' reference or Citus local */
	char repmodel; /* 't' reference table */
	int32 colocation;
};
struct CitusShard
{
	Oid logical; /* the distributed table */
	int64 shardid;
	const char *minvalue; /* hash range start; nullptr for a reference / Citus local table */
};
bool ct_citus_present(void);
int ct_citus_local_group(void); /* -1 without Citus; 0 on the coordinator */
bool ct_citus_table(Oid relid, CitusTableInfo *info);
bool ct_citus_shard_of(Oid relid, CitusShard *out);
/* logical's shard on this node covering minvalue's range (nullptr: its only shard); or none. */
Oid ct_citus_local_shard(Oid logical, const char *minvalue);
/* The shard of hash-distributed logical holding value (of type), when it is on this node. */
Oid ct_citus_local_shard_for(Oid logical, Oid type, Datum value);
/* DROP EXTENSION customer_tracking on a coordinator: its tables' shards first (utility hook). */
void ct_citus_before_drop_extension(const Node *parsetree);
/* The relation holding a reference table's rows on this node (the table itself without Citus). */
Oid ct_local_rows_of(Oid relid);

#endif
