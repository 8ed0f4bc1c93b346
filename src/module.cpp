/*
 * module.cpp: module initialisation and the extension's GUCs.
 */
#include "customer_tracking.h"

extern "C" {
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);
}

char *ct_default_region = nullptr;
bool ct_strict = false;
char *ct_column_map = nullptr;
bool ct_retrack = false;
bool ct_direct_writes = true;

static bool check_default_region(char **newval, void **extra, GucSource source)
{
	if (*newval == nullptr || !ct_region_is_known(*newval))
	{
		GUC_check_errdetail("\"%s\" is not a region known to libphonenumber; use a two-letter "
							"ISO 3166 code such as GH or NG.",
							*newval ? *newval : "");
		return false;
	}
	return true;
}

void _PG_init(void)
{
	DefineCustomStringVariable(
		"customer_tracking.default_region",
		"Region used to read phone numbers written without a country code.",
		"Two-letter ISO 3166 code, e.g. GH: 0241234567 is read as +233241234567.",
		&ct_default_region, "GH", PGC_SUSET, 0, check_default_region, nullptr, nullptr);

	DefineCustomBoolVariable(
		"customer_tracking.strict",
		"Reject orders that cannot be tracked instead of saving them untracked.",
		"When off (the default) such orders are saved, left unlinked, reported with a WARNING "
		"and recorded in customer_tracking_issues.",
		&ct_strict, false, PGC_SUSET, 0, nullptr, nullptr, nullptr);

	DefineCustomStringVariable(
		"customer_tracking.column_map",
		"shop_orders column names to use at CREATE EXTENSION, as field=column pairs.",
		"Example: 'customer_phone=buyer_phone, total_price=amount'. Read once by the install "
		"script and stored in customer_tracking_settings; later changes go through "
		"customer_tracking_map_column().",
		&ct_column_map, "", PGC_USERSET, 0, nullptr, nullptr, nullptr);

	DefineCustomBoolVariable(
		"customer_tracking.retrack",
		"Re-derive orders even when an UPDATE changes none of their tracked columns.",
		"Set by customer_tracking_backfill() around its no-op UPDATEs.", &ct_retrack, false,
		PGC_USERSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, nullptr, nullptr, nullptr);

	DefineCustomBoolVariable(
		"customer_tracking.direct_writes",
		"Write rollup rows, returning customers and per-slug counts through the table access "
		"method instead of SQL statements.",
		"On (the default) the trigger updates those rows without planning or executing a "
		"statement; off uses UPDATE and INSERT ... ON CONFLICT statements. Both give the same "
		"rows.",
		&ct_direct_writes, true, PGC_SUSET, 0, nullptr, nullptr, nullptr);

	MarkGUCPrefixReserved("customer_tracking");

	ct_phone_init();
	ct_trigger_init();
	ct_rollup_init();
	ct_customers_init();
	ct_pending_init(); /* after ct_rollup_init: its pre-commit callback runs first */
	ct_estimates_init();
	ct_guard_init();
}
