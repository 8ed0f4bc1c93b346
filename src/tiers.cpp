/*
 * tiers.cpp: customer_tracking_tiers_write(p_shop_id, p_tiers), the one write of a shop's
 * loyalty tiers, behind customer_tracking_set_tiers().
 *
 * An owner may set the tiers of their own shops, yet clients write none of the extension's
 * tables. Two steps with two sets of rights, as in owner.cpp:
 *   1. may the caller set this shop's tiers: the shop is among customer_tracking_owned_shops()
 *      (the owner lookup, auth.uid() or the JWT claim, runs with the caller's rights), or the
 *      caller is a superuser or bypasses row-level security (Supabase's service_role);
 *   2. the write, customer_tracking_store_tiers() (validation, then the rows of that shop only),
 *      with the rights of this function's owner (the extension's owner).
 * A SECURITY DEFINER function would run step 1 with the owner's rights too (auth.uid() belongs
 * to another role, which may replace it); hence C and the switch of user between the steps.
 *
 * Tiers are read, never kept by the trigger: a customer's tier is computed at read from the
 * ledger (customer_tracking), so refunds, deletions, moves and the passing of time (rolling and
 * calendar windows) need no write and no maintenance call. Nothing here runs on the write path.
 */
#include "customer_tracking.h"
#include "owner.h"
#include "pg_boundary.hpp"

extern "C" {
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/uuid.h"
}

/* customer_tracking_tiers_write(p_shop_id uuid, p_tiers jsonb) RETURNS void */
CT_FUNCTION(ct_tiers_write)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("customer_tracking_set_tiers: p_shop_id must not be NULL")));

	Oid owner;
	Oid schema;
	const char *qschema =
		quote_identifier(ct_function_home(fcinfo->flinfo->fn_oid, &owner, &schema));

	Datum args[2] = {PG_GETARG_DATUM(0), PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1)};
	const char nulls[2] = {' ', PG_ARGISNULL(1) ? 'n' : ' '};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "customer_tracking: SPI_connect failed");

	/* 1. The caller's shop, or a role that sees every shop (the owner lookup with its rights). */
	if (!ct_role_manages_shop(DatumGetUUIDP(args[0]), schema))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("customer_tracking_set_tiers: shop %s is not one of your shops",
							   DatumGetCString(DirectFunctionCall1(uuid_out, args[0])))));

	/* 2. With the rights of this function's owner: validate and store that shop's tiers. */
	Oid save_userid;
	int save_sec_context;
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	const Oid store_types[2] = {UUIDOID, JSONBOID};
	int rc =
		SPI_execute_with_args(psprintf("SELECT %s.customer_tracking_store_tiers($1, $2)", qschema),
							  2, const_cast<Oid *>(store_types), args, nulls, false, 0);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "customer_tracking: storing the tiers failed: %s", SPI_result_code_string(rc));
	SPI_finish();
	PG_RETURN_VOID();
}
