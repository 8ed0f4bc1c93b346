/*
 * metrics.cpp: shop_customer_metrics(), the numbers at the top of a shop's
 * dashboard, and customer_tracking_new_customers(), the rule for its new
 * customers in a window (new_customers_sql()).
 *
 * They are read from the rollups (customer_tracking_shop_totals and the daily
 * new-customer counts) with one statement each, prepared once per backend with a
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
constexpr int kMaxTables = 3;

/*
 * A statement kept for the session with the schema of the function it was made for (a
 * re-created extension has new OIDs; shop_customer_metrics and its deprecated set-returning
 * twin share one), made again when a table it reads changes (e.g. distributed by Citus).
 */
struct KeptStatement
{
	const char *what;
	const char *(*sql)(const char *schema);
	int nargs;
	const Oid *types;
	/* What the statement reads; the caller needs SELECT on each. The first tells Citus's. */
	const char *tables[kMaxTables];
	int ntables;
	SPIPlanPtr plan;
	Oid schema;
	/* Its text (TopMemoryContext), to keep it out of error context lines. */
	char *text;
	bool stale;
	Oid table_oids[kMaxTables];
};

/*
 * On Citus (the rollups distributed), a plan made for the values (custom: Citus
 * routes it to the shop's shard); a generic plan has no shop to route by.
 */
SPIPlanPtr prepare_kept(const KeptStatement *st, const char *sql)
{
	SPIPlanPtr plan =
		SPI_prepare_cursor(sql, st->nargs, const_cast<Oid *>(st->types), CURSOR_OPT_CUSTOM_PLAN);
	if (plan == nullptr || SPI_keepplan(plan) != 0)
		elog(ERROR, "customer_tracking: could not prepare %s: %s", st->what,
			 SPI_result_code_string(SPI_result));
	return plan;
}

/*
 * The one rule for the customers whose first purchase falls in [from, upto) (SQL expressions
 * of the statement): whole UTC days from customer_tracking_daily, the partial days at either
 * end counted in shop_customers. The window splits into [from, lo) + days [lo, hi] -
 * [upto, hi + 1 day), where lo is from rounded up to a day and hi is upto's UTC day. The last
 * piece is what is left of upto's day: usually empty when upto is now, so that a busy shop's
 * many new customers of today are read from the rollup, not from shop_customers (whose rows
 * every order rewrites). A window inside one day (lo > hi) is counted directly as
 * [from, upto). Serves shop_customer_metrics() and customer_tracking_new_customers().
 */
const char *new_customers_sql(const char *s, const char *shop, const char *from, const char *upto)
{
	return psprintf(
		"(SELECT coalesce((SELECT sum(r.new_customers) FROM %s.customer_tracking_daily r "
		"                   WHERE r.shop_id = %s AND r.day >= w.lo AND r.day <= w.hi), 0)::bigint "
		"      + (SELECT count(*) FROM %s.shop_customers c "
		"          WHERE c.shop_id = %s AND c.first_purchase_at >= w.f "
		"            AND c.first_purchase_at < least(w.lo::timestamp AT TIME ZONE 'UTC', w.u)) "
		"      - CASE WHEN w.lo <= w.hi THEN "
		"          (SELECT count(*) FROM %s.shop_customers c "
		"            WHERE c.shop_id = %s AND c.first_purchase_at >= w.u "
		"              AND c.first_purchase_at < ((w.hi + 1)::timestamp AT TIME ZONE 'UTC')) "
		"        ELSE 0 END "
		"   FROM (SELECT %s AS f, %s AS u, "
		"                ((%s AT TIME ZONE 'UTC') + interval '1 day' - interval '1 "
		"microsecond')::date "
		"                  AS lo, "
		"                (%s AT TIME ZONE 'UTC')::date AS hi) w)",
		s, shop, s, shop, s, shop, from, upto, from, upto);
}

/*
 * New customers in (as_of - 30 days, as_of] and from the start of as_of's month (session
 * time zone) to as_of: new_customers_sql() with upto = as_of + 1 microsecond.
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
		"       %s, %s, "
		"       CASE WHEN t.customers = 0 THEN 0.00 ELSE round(t.revenue / t.customers, 2) END, "
		"       round(t.revenue, greatest(2, scale(t.revenue))) "
		"  FROM (SELECT $2 - interval '30 days' + interval '1 microsecond' AS from_30d, "
		"               date_trunc('month', $2) AS from_month, "
		"               $2 + interval '1 microsecond' AS upto) b, "
		"       LATERAL (SELECT coalesce(sum(r.customers), 0)::bigint AS customers, "
		"                       coalesce(sum(r.repeat_customers), 0)::bigint AS repeaters, "
		"                       coalesce(sum(r.revenue), 0) AS revenue "
		"                  FROM %s.customer_tracking_shop_totals r WHERE r.shop_id = $1) t",
		new_customers_sql(s, "$1", "b.from_30d", "b.upto"),
		new_customers_sql(s, "$1", "b.from_month", "b.upto"), s);
}

const char *new_customers_statement_sql(const char *s)
{
	return psprintf("SELECT %s", new_customers_sql(s, "$1", "$2", "$3"));
}

const Oid metrics_types[2] = {UUIDOID, TIMESTAMPTZOID};
const Oid new_customers_types[3] = {UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID};

KeptStatement metrics_statement = {
	"the metrics statement",
	metrics_sql,
	2,
	metrics_types,
	{"customer_tracking_shop_totals", "customer_tracking_daily", "shop_customers"},
	3};
KeptStatement new_customers_statement = {"the new customers statement",
										 new_customers_statement_sql,
										 3,
										 new_customers_types,
										 {"customer_tracking_daily", "shop_customers"},
										 2};
KeptStatement *const kept_statements[] = {&metrics_statement, &new_customers_statement};

SPIPlanPtr kept_plan(KeptStatement *st, Oid function)
{
	Oid namespace_oid = get_func_namespace(function);
	if (st->plan != nullptr && st->schema == namespace_oid && !st->stale)
		return st->plan;
	st->stale = false;

	const char *schema = get_namespace_name(namespace_oid);
	if (schema == nullptr)
		elog(ERROR, "customer_tracking: schema of function %u not found", function);
	const char *sql = st->sql(quote_identifier(schema));
	CitusTableInfo citus;
	Oid first = get_relname_relid(st->tables[0], namespace_oid);
	/* On Citus: prepared without a plan, which each execution then makes (SPI_prepare). */
	SPIPlanPtr plan = ct_citus_present() && ct_citus_table(first, &citus)
						  ? prepare_kept(st, sql)
						  : ct_keep_generic_plan(sql, st->nargs, st->types, st->what);
	if (st->plan != nullptr)
		SPI_freeplan(st->plan);
	if (st->text != nullptr)
		pfree(st->text);
	st->text = MemoryContextStrdup(TopMemoryContext, sql);
	for (int i = 0; i < st->ntables; i++)
		st->table_oids[i] = get_relname_relid(st->tables[i], namespace_oid);
	st->plan = plan;
	st->schema = namespace_oid;
	return plan;
}

/* A clean error, naming the function, for a caller who may not read what it reads. */
void require_readable(const KeptStatement *st, Oid function)
{
	for (int i = 0; i < st->ntables; i++)
		if (OidIsValid(st->table_oids[i]) &&
			pg_class_aclcheck(st->table_oids[i], GetUserId(), ACL_SELECT) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for function %s", get_func_name(function)),
					 errdetail("Role %s may not read %s.", GetUserNameFromId(GetUserId(), false),
							   st->tables[i]),
					 errhint("Dashboard functions are for the roles that may read the extension's "
							 "tables (see the README, Roles).")));
}

/* context without the lines that quote the statement (its text is of no use to a client). */
char *without_statement(const char *context, const char *statement)
{
	StringInfoData kept;

	if (context == nullptr || statement == nullptr)
		return context == nullptr ? nullptr : pstrdup(context);
	initStringInfo(&kept);
	for (const char *line = context; *line != '\0';)
	{
		const char *end = strchr(line, '\n');
		size_t len = end != nullptr ? static_cast<size_t>(end - line) + 1 : strlen(line);
		char *text = pnstrdup(line, len);
		if (strstr(text, statement) == nullptr)
			appendStringInfoString(&kept, text);
		pfree(text);
		line += len;
	}
	while (kept.len > 0 && kept.data[kept.len - 1] == '\n')
		kept.data[--kept.len] = '\0';
	return kept.len > 0 ? kept.data : nullptr;
}

/* Runs a kept statement for the function being called; one row expected. */
void execute_kept(KeptStatement *st, FunctionCallInfo fcinfo, Datum *args, const char *nulls)
{
	MemoryContext caller = CurrentMemoryContext;
	volatile int rc = 0;

	SPIPlanPtr plan = kept_plan(st, fcinfo->flinfo->fn_oid);
	require_readable(st, fcinfo->flinfo->fn_oid);
	PG_TRY();
	{
		rc = SPI_execute_plan(plan, args, nulls, true, 1);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		ErrorData *error = CopyErrorData();
		FlushErrorState();
		error->context = without_statement(error->context, st->text);
		ReThrowError(error);
	}
	PG_END_TRY();
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "customer_tracking: %s failed: %s", st->what, SPI_result_code_string(rc));
}

/* The function's arguments as SPI parameters (NULL ones included). */
void call_args(FunctionCallInfo fcinfo, int nargs, Datum *args, char *nulls)
{
	for (int i = 0; i < nargs; i++)
	{
		args[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	nulls[nargs] = '\0';
}

} // namespace

/* A relation changed (host_cache.cpp's relcache callback): one the statement reads? */
void ct_metrics_relcache(Oid relid)
{
	for (KeptStatement *st : kept_statements)
		for (int i = 0; i < st->ntables; i++)
			if (relid == InvalidOid || relid == st->table_oids[i])
				st->stale = true;
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
	Datum args[2];
	char nulls[3];
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

	call_args(fcinfo, 2, args, nulls);
	SPI_connect();
	execute_kept(&metrics_statement, fcinfo, args, nulls);

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

/*
 * customer_tracking_new_customers(p_shop_id uuid, p_from timestamptz, p_to timestamptz)
 *   RETURNS bigint: customers whose first purchase falls in [p_from, p_to), by the rule the
 * metrics use (new_customers_sql()); 0 when an argument is NULL.
 */
CT_FUNCTION(ct_new_customers)
{
	Datum args[3];
	char nulls[4];
	bool isnull;

	call_args(fcinfo, 3, args, nulls);
	SPI_connect();
	execute_kept(&new_customers_statement, fcinfo, args, nulls);
	int64 count =
		DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_INT64(isnull ? 0 : count);
}
