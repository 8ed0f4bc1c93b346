/*
 * module.cpp: module initialisation and the extension's GUCs.
 */
#include "customer_tracking.h"
#include "backfill.h"
#include "customers.h"
#include "estimates.h"
#include "host_cache.h"
#include "host_guard.h"
#include "metrics.h"
#include "owner.h"
#include "pending.h"
#include "phone_glue.h"
#include "rollup.h"
#include "statements.h"
#include "visits.h"

#include <climits>

extern "C" {
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/inval.h"
#include "utils/memutils.h"

PG_MODULE_MAGIC;

void _PG_init(void);
}

char *ct_default_region = nullptr;
bool ct_strict = false;
char *ct_column_map = nullptr;
bool ct_retrack = false;
bool ct_direct_writes = true;
int ct_report_level = WARNING;
int ct_apply_batch = 100000;
const char *ct_refused_settings = nullptr;

/* customer_tracking.report_level: the elevel untracked orders are reported at (0 = not at all). */
static const struct config_enum_entry report_level_options[] = {{"warning", WARNING, false},
																{"notice", NOTICE, false},
																{"log", LOG, false},
																{"off", 0, false},
																{nullptr, 0, false}};

/*
 * Settings a session changed before this library was loaded.
 *
 * Until then PostgreSQL keeps any customer_tracking.* value as a placeholder: SET accepts it
 * and SHOW shows it, whoever set it. When the library defines the real setting, a value the
 * role may not set (customer_tracking.default_region is for superusers), an invalid value or
 * a misspelt name is dropped with a WARNING, and the session goes on with another value than
 * the one it saw. After loading, the same SET fails at once. To behave the same, such a
 * setting makes the first use of the library in the session fail (ct_settings_check()), with
 * the names and values that were not applied; SHOW then tells the truth.
 */
struct Placeholder
{
	const char *name;
	const char *value;
};

static bool is_ours(const struct config_generic *var)
{
	static const char prefix[] = "customer_tracking.";
	return strncmp(var->name, prefix, sizeof(prefix) - 1) == 0;
}

/* The customer_tracking.* placeholders of this session, with their current values. */
static int placeholders_before_load(Placeholder **out)
{
	struct config_generic **vars = get_guc_variables();
	int n = GetNumConfigOptions();
	int found = 0;

	*out = static_cast<Placeholder *>(palloc(sizeof(Placeholder) * (n + 1)));
	for (int i = 0; i < n; i++)
		/*
		 * What the session asked for (SET, connection options). Values of the configuration
		 * files, ALTER SYSTEM and ALTER DATABASE/ROLE ... SET apply as after loading, or get
		 * PostgreSQL's WARNING in the log, as after loading; a placeholder without a value (made
		 * by ALTER ROLE ... SET in this session) is no setting.
		 */
		if ((vars[i]->flags & GUC_CUSTOM_PLACEHOLDER) != 0 && is_ours(vars[i]) &&
			vars[i]->source >= PGC_S_CLIENT)
		{
			const char *value = GetConfigOption(vars[i]->name, true, false);
			(*out)[found].name = pstrdup(vars[i]->name);
			(*out)[found].value = pstrdup(value != nullptr ? value : "");
			found++;
		}
	return found;
}

/* True if the defined setting now has the value the placeholder had. */
static bool value_applied(const char *name, const char *wanted)
{
	const char *now = GetConfigOption(name, true, false);
	bool a, b;

	if (now == nullptr)
		return false; /* not a setting of ours: a misspelt name */
	for (struct config_generic **v = get_guc_variables(), **end = v + GetNumConfigOptions();
		 v < end; v++)
	{
		if (strcmp((*v)->name, name) != 0)
			continue;
		if (((*v)->flags & GUC_CUSTOM_PLACEHOLDER) != 0)
			return false; /* still a placeholder: no such setting */
		if ((*v)->vartype == PGC_INT)
		{
			/* Values with units ('20s') read as PostgreSQL reads them. */
			int wanted_value;
			return parse_int(wanted, &wanted_value, (*v)->flags, nullptr) &&
				   wanted_value == *reinterpret_cast<struct config_int *>(*v)->variable;
		}
	}
	if (parse_bool(wanted, &a) && parse_bool(now, &b))
		return a == b;
	return pg_strcasecmp(wanted, now) == 0;
}

static void remember_refused(const Placeholder *before, int n)
{
	StringInfoData refused;

	initStringInfo(&refused);
	for (int i = 0; i < n; i++)
		if (!value_applied(before[i].name, before[i].value))
			appendStringInfo(&refused, "%s%s = '%s'", refused.len > 0 ? ", " : "", before[i].name,
							 before[i].value);
	if (refused.len > 0)
		ct_refused_settings = MemoryContextStrdup(TopMemoryContext, refused.data);
	pfree(refused.data);
}

void ct_settings_refused_error(void)
{
	const char *refused = ct_refused_settings;

	ct_refused_settings = nullptr; /* once: SHOW now shows what applies */
	ereport(ERROR,
			(errcode(ERRCODE_CANT_CHANGE_RUNTIME_PARAM),
			 errmsg("customer_tracking: settings made in this session before the extension was "
					"loaded were not applied: %s",
					refused),
			 errdetail("The role may not set them, the value is invalid or there is no such "
					   "setting (see the WARNING above); SHOW now shows the values in effect."),
			 errhint("SET them again (now refused at once if not allowed), or preload the library "
					 "(session_preload_libraries) so that SET is checked from the start.")));
}

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

/*
 * The extension's one relcache callback (PostgreSQL has room for few, and
 * Citus takes several): every module that keeps something about a relation.
 */
static void relcache_changed(Datum arg, Oid relid)
{
	ct_owner_relcache(relid);
	ct_metrics_relcache(relid);
	ct_pending_relcache(relid);
	ct_host_cache_relcache(relid);
	ct_estimates_relcache(relid);
	ct_visits_relcache(relid);
}

void _PG_init(void)
{
	Placeholder *before;
	int nbefore = placeholders_before_load(&before);

	DefineCustomStringVariable(
		"customer_tracking.default_region",
		"Region used to read phone numbers written without a country code.",
		"Two-letter ISO 3166 code, e.g. GH: 0241234567 is read as +233241234567.",
		&ct_default_region, "GH", PGC_SUSET, 0, check_default_region, nullptr, nullptr);

	DefineCustomBoolVariable(
		"customer_tracking.strict",
		"Reject orders that cannot be tracked instead of saving them untracked.",
		"When off (the default) such orders are saved, left unlinked, reported (see "
		"customer_tracking.report_level) and recorded in customer_tracking_issues. Any role may "
		"set it for the orders its sessions write.",
		&ct_strict, false, PGC_USERSET, 0, nullptr, nullptr, nullptr);

	DefineCustomEnumVariable(
		"customer_tracking.report_level",
		"How orders saved untracked or tracked with a caveat are reported to the session.",
		"warning (the default), notice, log (server log only) or off. They are always recorded in "
		"customer_tracking_issues, whatever the level.",
		&ct_report_level, WARNING, report_level_options, PGC_USERSET, 0, nullptr, nullptr, nullptr);

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

	DefineCustomIntVariable(
		"customer_tracking.apply_batch",
		"Orders a transaction may change before they are counted, instead of at its commit.",
		"Orders are counted when their transaction commits, so that no statement waits for "
		"another transaction's customers. A transaction that changes more orders than this (a "
		"bulk load) has them counted in batches as it goes, so that its memory stays bounded; "
		"the customers of a batch then stay locked until it ends. 0: always at commit.",
		&ct_apply_batch, 100000, 0, INT_MAX, PGC_USERSET, 0, nullptr, nullptr, nullptr);

	DefineCustomIntVariable(
		"customer_tracking.progress_notice_interval",
		"How often a running backfill or verify reports its progress with a NOTICE.",
		"At most one NOTICE per interval in the calling session; 0 turns them off. Progress is "
		"always readable from other sessions in the view customer_tracking_progress.",
		&ct_progress_notice_interval, 5000, 0, 3600000, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr,
		nullptr);

	ct_visits_init(); /* its setting, before the placeholders are checked */

	/* Before MarkGUCPrefixReserved(), which removes the placeholders left (misspelt names). */
	remember_refused(before, nbefore);
	MarkGUCPrefixReserved("customer_tracking");

	ct_phone_init();
	ct_host_cache_init();
	ct_statements_init();
	CacheRegisterRelcacheCallback(relcache_changed, (Datum) 0);
	ct_rollup_init();
	ct_customers_init();
	ct_pending_init(); /* after ct_rollup_init: its pre-commit callback runs first */
	ct_estimates_init();
	ct_guard_init();
	ct_backfill_init();
}
