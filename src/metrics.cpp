/*
 * metrics.cpp: shop_customer_metrics(), the numbers at the top of a shop's
 * dashboard.
 *
 * They are read from the rollups (customer_tracking_shop_totals and the daily
 * new-customer counts) with one statement, prepared once per backend with a
 * generic plan. Written in SQL, the same numbers cost more to plan than to
 * read: SQL functions with a SET clause are planned again on every call.
 *
 * The statement runs with the caller's rights, so row-level security applies
 * as it does to any query of the caller: an owner gets their own shops'
 * numbers, anyone else zeros. A role that may not read the rollups gets a
 * permission error naming this function (checked before the statement runs),
 * and no error the statement raises carries its text as context.
 */
#include "pg_boundary.hpp"
#include "metrics.h"
#include "citus.h"
#include "statements.h"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/memutils.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"
}

namespace {

constexpr int kMetricsColumns = 7;

/*
 * The plan and the schema of the function it was made for (a re-created extension has new
 * OIDs; shop_customer_metrics and its deprecated set-returning twin share it).
 */
SPIPlanPtr metrics_plan = nullptr;
Oid metrics_plan_schema = InvalidOid;
/* Its text (TopMemoryContext), to keep it out of error context lines. */
char *metrics_plan_sql = nullptr;
/*
 * On Citus (the rollups distributed), a plan made for the values (custom: Citus
 * routes it to the shop's shard); a generic plan has no shop to route by.
 */
SPIPlanPtr prepare_kept(const char *sql, int nargs, const Oid *types)
{
	SPIPlanPtr plan =
		SPI_prepare_cursor(sql, nargs, const_cast<Oid *>(types), CURSOR_OPT_CUSTOM_PLAN);
	if (plan == nullptr || SPI_keepplan(plan) != 0)
		elog(ERROR, "customer_tracking: could not prepare the metrics statement: %s",
			 SPI_result_code_string(SPI_result));
	return plan;
}

/* What the statement reads; the caller needs SELECT on each. */
const char *const kMetricsTables[] = {"customer_tracking_shop_totals", "customer_tracking_daily",
									  "shop_customers"};
constexpr int kMetricsTableCount = sizeof(kMetricsTables) / sizeof(kMetricsTables[0]);
Oid metrics_tables[kMetricsTableCount];

/*
 * New customers in (as_of - 30 days, as_of] and from the start of as_of's month
 * (session time zone) to as_of: whole UTC days from customer_tracking_daily,
 * the partial days at either end counted in shop_customers. Each window
 * [from, upto) splits into [from, lo) + days [lo, hi] - [upto, hi + 1 day),
 * where lo is from rounded up and hi is upto's UTC day. The last piece is
 * what is left of as_of's day: usually empty when as_of is now, so that a
 * busy shop's many new customers of today are read from the rollup, not from
 * shop_customers (whose rows every order rewrites). A window inside one day
 * (lo > hi) is counted directly as [from, upto).
 *
 * Money has 2 decimals, or more where the amounts have more (never rounded): the rule of
 * customer_tracking_money() in SQL, written out here so that a 1.4 library also serves an
 * install not yet updated from 1.3 (which has no such function).
 */
const char *metrics_sql(const char *s)
{
	return psprintf(
		"SELECT t.customers, t.repeaters, "
		"       CASE WHEN t.customers = 0 THEN 0.0 "
		"            ELSE round(100.0 * t.repeaters / t.customers, 1) END, "
		"       coalesce(d.new_30d, 0)::bigint + e.start_30d "
		"         - CASE WHEN b.lo_30d <= b.hi THEN e.rest_of_day ELSE 0 END, "
		"       coalesce(d.new_month, 0)::bigint + e.start_month "
		"         - CASE WHEN b.lo_month <= b.hi THEN e.rest_of_day ELSE 0 END, "
		"       CASE WHEN t.customers = 0 THEN 0.00 ELSE round(t.revenue / t.customers, 2) END, "
		"       round(t.revenue, greatest(2, scale(t.revenue))) "
		"  FROM (SELECT w.from_30d, w.from_month, w.upto, "
		"               ((w.from_30d AT TIME ZONE 'UTC') + interval '1 day' "
		"                 - interval '1 microsecond')::date AS lo_30d, "
		"               ((w.from_month AT TIME ZONE 'UTC') + interval '1 day' "
		"                 - interval '1 microsecond')::date AS lo_month, "
		"               (w.upto AT TIME ZONE 'UTC')::date AS hi "
		"          FROM (SELECT $2 - interval '30 days' + interval '1 microsecond' AS from_30d, "
		"                       date_trunc('month', $2) AS from_month, "
		"                       $2 + interval '1 microsecond' AS upto) w) b, "
		"       LATERAL (SELECT coalesce(sum(r.customers), 0)::bigint AS customers, "
		"                       coalesce(sum(r.repeat_customers), 0)::bigint AS repeaters, "
		"                       coalesce(sum(r.revenue), 0) AS revenue "
		"                  FROM %s.customer_tracking_shop_totals r WHERE r.shop_id = $1) t, "
		"       LATERAL (SELECT sum(r.new_customers) FILTER (WHERE r.day >= b.lo_30d) AS new_30d, "
		"                       sum(r.new_customers) FILTER (WHERE r.day >= b.lo_month) AS "
		"new_month "
		"                  FROM %s.customer_tracking_daily r "
		"                 WHERE r.shop_id = $1 AND r.day >= least(b.lo_30d, b.lo_month) "
		"                   AND r.day <= b.hi) d, "
		"       LATERAL (SELECT "
		"         (SELECT count(*) FROM %s.shop_customers c "
		"           WHERE c.shop_id = $1 AND c.first_purchase_at >= b.from_30d "
		"             AND c.first_purchase_at < least(b.lo_30d::timestamp AT TIME ZONE 'UTC', "
		"                                             b.upto)) AS start_30d, "
		"         (SELECT count(*) FROM %s.shop_customers c "
		"           WHERE c.shop_id = $1 AND c.first_purchase_at >= b.from_month "
		"             AND c.first_purchase_at < least(b.lo_month::timestamp AT TIME ZONE 'UTC', "
		"                                             b.upto)) AS start_month, "
		"         (SELECT count(*) FROM %s.shop_customers c "
		"           WHERE c.shop_id = $1 AND c.first_purchase_at >= b.upto "
		"             AND c.first_purchase_at < ((b.hi + 1)::timestamp AT TIME ZONE 'UTC')) "
		"           AS rest_of_day "
		"         OFFSET 0) e", /* counted once, though used twice */
		s, s, s, s, s);
}

/* The tables read were changed (e.g. distributed by Citus): prepare again at the next call. */
bool metrics_plan_stale = false;

SPIPlanPtr metrics_statement(Oid function)
{
	Oid namespace_oid = get_func_namespace(function);
	if (metrics_plan != nullptr && metrics_plan_schema == namespace_oid && !metrics_plan_stale)
		return metrics_plan;
	metrics_plan_stale = false;

	const char *schema = get_namespace_name(namespace_oid);
	if (schema == nullptr)
		elog(ERROR, "customer_tracking: schema of function %u not found", function);
	const Oid types[2] = {UUIDOID, TIMESTAMPTZOID};
	const char *sql = metrics_sql(quote_identifier(schema));
	CitusTableInfo citus;
	Oid totals = get_relname_relid(kMetricsTables[0], get_func_namespace(function));
	/* On Citus: prepared without a plan, which each execution then makes (SPI_prepare). */
	SPIPlanPtr plan = ct_citus_present() && ct_citus_table(totals, &citus)
						  ? prepare_kept(sql, 2, types)
						  : ct_keep_generic_plan(sql, 2, types, "the metrics statement");
	if (metrics_plan != nullptr)
		SPI_freeplan(metrics_plan);
	if (metrics_plan_sql != nullptr)
		pfree(metrics_plan_sql);
	metrics_plan_sql = MemoryContextStrdup(TopMemoryContext, sql);
	for (int i = 0; i < kMetricsTableCount; i++)
		metrics_tables[i] = get_relname_relid(kMetricsTables[i], get_func_namespace(function));
	metrics_plan = plan;
	metrics_plan_schema = namespace_oid;
	return plan;
}

/* A clean error, naming the function, for a caller who may not read what it reads. */
void require_readable(Oid function)
{
	for (int i = 0; i < kMetricsTableCount; i++)
		if (OidIsValid(metrics_tables[i]) &&
			pg_class_aclcheck(metrics_tables[i], GetUserId(), ACL_SELECT) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for function %s", get_func_name(function)),
					 errdetail("Role %s may not read %s.", GetUserNameFromId(GetUserId(), false),
							   kMetricsTables[i]),
					 errhint("Dashboard functions are for the roles that may read the extension's "
							 "tables (see the README, Roles).")));
}

/* context without the lines that quote the statement (its text is of no use to a client). */
char *without_statement(const char *context)
{
	StringInfoData kept;

	if (context == nullptr || metrics_plan_sql == nullptr)
		return context == nullptr ? nullptr : pstrdup(context);
	initStringInfo(&kept);
	for (const char *line = context; *line != '\0';)
	{
		const char *end = strchr(line, '\n');
		size_t len = end != nullptr ? static_cast<size_t>(end - line) + 1 : strlen(line);
		char *text = pnstrdup(line, len);
		if (strstr(text, metrics_plan_sql) == nullptr)
			appendStringInfoString(&kept, text);
		pfree(text);
		line += len;
	}
	while (kept.len > 0 && kept.data[kept.len - 1] == '\n')
		kept.data[--kept.len] = '\0';
	return kept.len > 0 ? kept.data : nullptr;
}

int execute_metrics(SPIPlanPtr plan, Datum *args, const char *nulls)
{
	MemoryContext caller = CurrentMemoryContext;
	volatile int rc = 0;

	PG_TRY();
	{
		rc = SPI_execute_plan(plan, args, nulls, true, 1);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		ErrorData *error = CopyErrorData();
		FlushErrorState();
		error->context = without_statement(error->context);
		ReThrowError(error);
	}
	PG_END_TRY();
	return rc;
}

} // namespace

/* A relation changed (host_cache.cpp's relcache callback): one the statement reads? */
void ct_metrics_relcache(Oid relid)
{
	for (int i = 0; i < kMetricsTableCount; i++)
		if (relid == InvalidOid || relid == metrics_tables[i])
			metrics_plan_stale = true;
}

/*
 * shop_customer_metrics(p_shop_id uuid, p_as_of timestamptz DEFAULT now())
 *   RETURNS customer_tracking_metrics: one composite row;
 * shop_customer_metrics_rows(...) RETURNS SETOF customer_tracking_metrics: the same row as a
 * set of one (1.3's form, deprecated).
 */
CT_FUNCTION(ct_shop_customer_metrics)
{
	const bool as_set = fcinfo->flinfo->fn_retset;
	Datum args[2] = {PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0),
					 PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1)};
	char nulls[3] = {PG_ARGISNULL(0) ? 'n' : ' ', PG_ARGISNULL(1) ? 'n' : ' ', '\0'};
	MemoryContext caller = CurrentMemoryContext;
	TupleDesc desc = nullptr;

	if (as_set)
	{
		InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
		desc = ((ReturnSetInfo *) fcinfo->resultinfo)->setDesc;
	}
	else
	{
		if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "customer_tracking: shop_customer_metrics must return a composite type");
		desc = BlessTupleDesc(desc);
	}
	if (desc->natts != kMetricsColumns)
		elog(ERROR, "customer_tracking: shop_customer_metrics must return %d columns",
			 kMetricsColumns);

	SPI_connect();
	SPIPlanPtr plan = metrics_statement(fcinfo->flinfo->fn_oid);
	require_readable(fcinfo->flinfo->fn_oid);
	int rc = execute_metrics(plan, args, nulls);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "customer_tracking: the metrics statement failed: %s",
			 SPI_result_code_string(rc));

	TupleDesc got = SPI_tuptable->tupdesc;
	for (int i = 0; i < kMetricsColumns; i++)
		if (TupleDescAttr(got, i)->atttypid != TupleDescAttr(desc, i)->atttypid)
			elog(ERROR, "customer_tracking: metrics column %d has type %u, expected %u", i + 1,
				 TupleDescAttr(got, i)->atttypid, TupleDescAttr(desc, i)->atttypid);

	Datum values[kMetricsColumns];
	bool isnull[kMetricsColumns];
	heap_deform_tuple(SPI_tuptable->vals[0], got, values, isnull);
	/* Copied out of SPI's memory (into the tuplestore, or a tuple of the caller's) before it goes. */
	if (as_set)
	{
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
		tuplestore_putvalues(rsinfo->setResult, desc, values, isnull);
		SPI_finish();
		return (Datum) 0;
	}
	MemoryContext spi = MemoryContextSwitchTo(caller);
	HeapTuple tuple = heap_form_tuple(desc, values, isnull);
	MemoryContextSwitchTo(spi);
	SPI_finish();
	return HeapTupleGetDatum(tuple);
}
