/*
 * owner.cpp: customer_tracking_owned_shops(), the shops the current owner may see, which every
 * row-level security policy of the extension calls.
 *
 * Two steps with two sets of rights:
 *   1. who is asking: customer_tracking_current_owner() (auth.uid() on Supabase, else the sub
 *      of PostgREST's JWT claims), called with the caller's rights. auth.uid() belongs to
 *      another role (Supabase's auth admin), which may replace it: its code must never run with
 *      the extension owner's rights;
 *   2. which shops that user owns: user_shops, read as the owner of this function (the
 *      extension's owner), so the policies work whatever the caller may read of user_shops.
 * A SECURITY DEFINER function would run step 1 with the owner's rights too; a definer function
 * taking the user as a parameter would tell anyone the shops of any user. Hence C: no
 * parameter, and the switch of user between the steps.
 *
 * The policies call it as an expression (shop_id = ANY (customer_tracking_owned_shops())), not
 * in a subquery, which Citus does not accept in the policies of distributed tables. So that a
 * scan does not look the owner up once per row, the result is kept for the rest of the query
 * (per call site, fn_extra: made again for every execution of a statement), as the STABLE
 * marking allows and as the subquery's InitPlan did. On Citus, user_shops is a reference table:
 * it is read from its shard on this node (the policies of the shards on a worker call this
 * function inside a query Citus sent there, where no distributed query may run).
 */
#include "pg_boundary.hpp"
#include "owner.h"
#include "citus.h"
#include "statements.h"
#include "order.h"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/pg_list.h"
#include "parser/parse_func.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

const char *ct_function_home(Oid function, Oid *owner, Oid *schema)
{
	HeapTuple proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(function));
	if (!HeapTupleIsValid(proc))
		elog(ERROR, "customer_tracking: function %u not found", function);
	*owner = reinterpret_cast<Form_pg_proc>(GETSTRUCT(proc))->proowner;
	*schema = reinterpret_cast<Form_pg_proc>(GETSTRUCT(proc))->pronamespace;
	ReleaseSysCache(proc);
	const char *schema_name = get_namespace_name(*schema);
	if (schema_name == nullptr)
		elog(ERROR, "customer_tracking: schema of function %u not found", function);
	return schema_name;
}

namespace {

/* The user_shops lookup and the function it was prepared for (new OIDs after re-creation). */
SPIPlanPtr shops_plan = nullptr;
Oid shops_plan_function = InvalidOid;
Oid shops_plan_tables[2]; /* user_shops, and the relation it reads (on Citus: its shard) */
bool shops_plan_stale = false;


/* Per call site (fn_extra): the owner lookup function and this function's owner. */
struct OwnedShopsCall
{
	FmgrInfo current_owner;
	Oid function_owner;
	/* The result, for the rest of this execution of the statement. */
	bool cached;
	Datum shops;
	LocalTransactionId lxid;
	CommandId command;
	Oid user;
};

OwnedShopsCall *call_state(FunctionCallInfo fcinfo)
{
	FmgrInfo *flinfo = fcinfo->flinfo;
	if (flinfo->fn_extra != nullptr)
		return static_cast<OwnedShopsCall *>(flinfo->fn_extra);

	Oid owner;
	Oid schema;
	const char *schema_name = ct_function_home(flinfo->fn_oid, &owner, &schema);
	List *name = list_make2(makeString(pstrdup(schema_name)),
							makeString(pstrdup("customer_tracking_current_owner")));
	Oid lookup = LookupFuncName(name, 0, nullptr, false);

	auto *state = static_cast<OwnedShopsCall *>(
		MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(OwnedShopsCall)));
	fmgr_info_cxt(lookup, &state->current_owner, flinfo->fn_mcxt);
	state->function_owner = owner;
	flinfo->fn_extra = state;
	return state;
}

SPIPlanPtr shops_statement(Oid function)
{
	if (shops_plan != nullptr && shops_plan_function == function && !shops_plan_stale)
		return shops_plan;

	Oid schema = get_func_namespace(function);
	Oid shops = get_relname_relid("user_shops", schema);
	if (!OidIsValid(shops))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("customer_tracking: table %s.user_shops is missing",
							   quote_identifier(get_namespace_name(schema)))));
	Oid rows = ct_local_rows_of(shops);
	const Oid types[1] = {UUIDOID};
	SPIPlanPtr plan = ct_keep_generic_plan(
		psprintf("SELECT COALESCE(pg_catalog.array_agg(s.id), '{}'::pg_catalog.uuid[]) "
				 "FROM %s s WHERE s.user_id OPERATOR(pg_catalog.=) $1",
				 quote_qualified_identifier(get_namespace_name(get_rel_namespace(rows)),
											get_rel_name(rows))),
		1, types, "the owned shops statement");
	if (shops_plan != nullptr)
		SPI_freeplan(shops_plan);
	shops_plan = plan;
	shops_plan_function = function;
	shops_plan_tables[0] = shops;
	shops_plan_tables[1] = rows;
	shops_plan_stale = false;
	return plan;
}

/* The shops of the owner asking now. */
Datum owned_shops(FunctionCallInfo fcinfo, OwnedShopsCall *state)
{
	/* 1. Who is asking, with the caller's rights. */
	FunctionCallInfo owner_call =
		static_cast<FunctionCallInfo>(palloc0(SizeForFunctionCallInfo(0)));
	InitFunctionCallInfoData(*owner_call, &state->current_owner, 0, InvalidOid, nullptr, nullptr);
	Datum user = FunctionCallInvoke(owner_call);
	bool nobody = owner_call->isnull;
	pfree(owner_call);
	if (nobody)
		return PointerGetDatum(construct_empty_array(UUIDOID));

	/* 2. Their shops, with the rights of this function's owner. */
	Oid save_userid;
	int save_sec_context;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "customer_tracking: SPI_connect failed");
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(state->function_owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	Datum args[1] = {user};
	int rc = SPI_execute_plan(shops_statement(fcinfo->flinfo->fn_oid), args, nullptr, true, 1);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "customer_tracking: the owned shops statement failed: %s",
			 SPI_result_code_string(rc));
	bool isnull;
	Datum shops = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	shops = SPI_datumTransfer(shops, false, -1); /* into the caller's memory */
	SPI_finish();
	return shops;
}

} // namespace

/* A relation changed (host_cache.cpp's relcache callback): user_shops, or what is read of it? */
void ct_owner_relcache(Oid relid)
{
	if (shops_plan != nullptr &&
		(relid == InvalidOid || relid == shops_plan_tables[0] || relid == shops_plan_tables[1]))
		shops_plan_stale = true; /* made again at the next call (not freed in a callback) */
}

/* customer_tracking_owned_shops() RETURNS uuid[] */
CT_FUNCTION(ct_owned_shops)
{
	OwnedShopsCall *state = call_state(fcinfo);

	if (state->cached && state->lxid == MyProc->lxid &&
		state->command == GetCurrentCommandId(false) && state->user == GetUserId())
		PG_RETURN_DATUM(state->shops);
	Datum shops = owned_shops(fcinfo, state);
	if (state->cached)
		pfree(DatumGetPointer(state->shops));
	MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	state->shops = datumCopy(shops, false, -1);
	MemoryContextSwitchTo(old);
	state->cached = true;
	state->lxid = MyProc->lxid;
	state->command = GetCurrentCommandId(false);
	state->user = GetUserId();
	PG_RETURN_DATUM(state->shops);
}

bool ct_role_manages_shop(const pg_uuid_t *shop, Oid schema)
{
	Oid outer = GetOuterUserId();
	if (superuser_arg(outer) || has_bypassrls_privilege(outer))
		return true;

	List *name = list_make2(makeString(get_namespace_name(schema)),
							makeString(pstrdup("customer_tracking_owned_shops")));
	Oid owned = LookupFuncName(name, 0, nullptr, false);
	Oid save_userid;
	int save_sec_context;
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(outer, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	Datum shops = OidFunctionCall0(owned);
	SetUserIdAndSecContext(save_userid, save_sec_context);

	ArrayType *array = DatumGetArrayTypeP(shops);
	Datum *elems;
	bool *nulls;
	int n;
	deconstruct_array(array, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i] && ct_uuid_equal(DatumGetUUIDP(elems[i]), shop))
			return true;
	return false;
}
