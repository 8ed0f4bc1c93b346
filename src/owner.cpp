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
 */
#include "pg_boundary.hpp"
#include "tracking.h"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/pg_list.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace {

/* The user_shops lookup and the function it was prepared for (new OIDs after re-creation). */
SPIPlanPtr shops_plan = nullptr;
Oid shops_plan_function = InvalidOid;

/* Per call site (fn_extra): the owner lookup function and this function's owner. */
struct OwnedShopsCall
{
	FmgrInfo current_owner;
	Oid function_owner;
};

OwnedShopsCall *call_state(FunctionCallInfo fcinfo)
{
	FmgrInfo *flinfo = fcinfo->flinfo;
	if (flinfo->fn_extra != nullptr)
		return static_cast<OwnedShopsCall *>(flinfo->fn_extra);

	Oid self = flinfo->fn_oid;
	HeapTuple proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(self));
	if (!HeapTupleIsValid(proc))
		elog(ERROR, "customer_tracking: function %u not found", self);
	Oid owner = reinterpret_cast<Form_pg_proc>(GETSTRUCT(proc))->proowner;
	Oid schema = reinterpret_cast<Form_pg_proc>(GETSTRUCT(proc))->pronamespace;
	ReleaseSysCache(proc);

	const char *schema_name = get_namespace_name(schema);
	if (schema_name == nullptr)
		elog(ERROR, "customer_tracking: schema of function %u not found", self);
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
	if (shops_plan != nullptr && shops_plan_function == function)
		return shops_plan;

	const char *schema = get_namespace_name(get_func_namespace(function));
	if (schema == nullptr)
		elog(ERROR, "customer_tracking: schema of function %u not found", function);
	const Oid types[1] = {UUIDOID};
	SPIPlanPtr plan = ct_keep_generic_plan(
		psprintf("SELECT COALESCE(pg_catalog.array_agg(s.id), '{}'::pg_catalog.uuid[]) "
				 "FROM %s.user_shops s WHERE s.user_id OPERATOR(pg_catalog.=) $1",
				 quote_identifier(schema)),
		1, types, "the owned shops statement");
	if (shops_plan != nullptr)
		SPI_freeplan(shops_plan);
	shops_plan = plan;
	shops_plan_function = function;
	return plan;
}

} // namespace

/* customer_tracking_owned_shops() RETURNS uuid[] */
CT_FUNCTION(ct_owned_shops)
{
	OwnedShopsCall *state = call_state(fcinfo);

	/* 1. Who is asking, with the caller's rights. */
	FunctionCallInfo owner_call =
		static_cast<FunctionCallInfo>(palloc0(SizeForFunctionCallInfo(0)));
	InitFunctionCallInfoData(*owner_call, &state->current_owner, 0, InvalidOid, nullptr, nullptr);
	Datum user = FunctionCallInvoke(owner_call);
	bool nobody = owner_call->isnull;
	pfree(owner_call);
	if (nobody)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(UUIDOID));

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
	PG_RETURN_DATUM(shops);
}
