/*
 * host_cache.h: what the extension knows about the host table (host_cache.cpp):
 * which column each field is read from, its type, the settings of
 * customer_tracking_settings, and where each of the extension's tables is
 * (on Citus, the shard next to the orders shard), resolved once per backend
 * and orders relation and invalidated by the relcache callback.
 */
#ifndef CT_HOST_CACHE_H
#define CT_HOST_CACHE_H

#include "customer_tracking.h"
#include "order_rules.hpp"

extern "C" {
#include "access/htup.h"
#include "access/tupdesc.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "pgtime.h"
#include "utils/rel.h"
#include "utils/uuid.h"
}

/* The shop_orders fields the extension reads (customer_tracking_fields()). */
enum OrderField
{
	FIELD_ID,
	FIELD_SHOP_ID,
	FIELD_PHONE,
	FIELD_AMOUNT,
	FIELD_CREATED_AT,
	FIELD_STATUS,
	FIELD_EMAIL,
	FIELD_NAME,
	FIELD_NETWORK,
	FIELD_SLUG,
	FIELD_REFERRER,
	FIELD_UTM_SOURCE,
	FIELD_UTM_MEDIUM,
	FIELD_UTM_CAMPAIGN,
	FIELD_DISCOUNT_CODE, /* loyalty codes (codes.cpp) */
	FIELD_REFERRAL_CODE, /* referrals (referrals.cpp) */
	FIELD_COUNT
};

/*
 * How a field is read from the host table (host_cache.cpp). Drift (a column
 * the extension needs that is missing or of a type it cannot read) never
 * makes an order fail: orders are saved untracked (host_drift), or, for
 * fields that change no count (email, name, attribution), the field is read
 * as absent; customer_tracking_host_state() and _health() report it.
 */
enum FieldState
{
	FS_OK,		/* read from its column */
	FS_ABSENT,	/* the host has no such column, by configuration */
	FS_IGNORED, /* drift of a field that changes no count: read as absent, reported */
	FS_DRIFT	/* drift: orders are saved untracked (host_drift), reported */
};

/* The settings as stored in customer_tracking_settings (nullptr = not set, default). */
struct HostSettings
{
	const char *columns[FIELD_COUNT];
	const char *paid;
	const char *unpaid;
	const char *naive_time_zone;
};

/* A field's column (index FIELD_COUNT: shop_customer_id). */
struct HostColumn
{
	int field;
	const char *column; /* effective name; "" = none */
	bool mapped;		/* set in customer_tracking_settings */
	AttrNumber attnum;	/* InvalidAttrNumber unless FS_OK */
	Oid type;
	int32 typmod;
	FieldState state;
	const char *detail; /* what is wrong (FS_IGNORED, FS_DRIFT) */
};

const char *ct_field_name(int field);
void ct_read_settings(Oid schema, HostSettings *out, MemoryContext cxt);
void ct_read_settings_of(Oid relid, HostSettings *out, MemoryContext cxt);
const char *ct_field_type_problem(int field, Oid type);
void ct_resolve_host(Oid orders_relid, const HostSettings *settings, HostColumn *cols);

/* The extension's tables the trigger writes or reads (host_cache.cpp: ct_table_names). */
enum ExtensionTable
{
	XT_CUSTOMERS,
	XT_LEDGER,
	XT_PAIRS,
	XT_ISSUES,
	XT_SETTINGS,
	XT_CODES,			  /* customer_tracking_codes */
	XT_CODE_USES,		  /* customer_tracking_code_uses */
	XT_REFERRAL_CODES,	  /* customer_tracking_referral_codes */
	XT_REFERRALS,		  /* customer_tracking_referrals */
	XT_REFERRAL_SETTINGS, /* customer_tracking_referral_settings (last loyalty table) */
	XT_ROLLUPS,			  /* CT_ROLLUP_TABLES of them, in rollup.cpp's RollupTable order */
	XT_COUNT = XT_ROLLUPS + 5
};
extern const char *const ct_table_names[XT_COUNT];

/* Everything resolved once per backend about the host table and the extension. */
struct HostCache
{
	bool valid;
	uint64 generation; /* unique per build: what statements.cpp keeps is made again for a new one */
	MemoryContext cxt;
	Oid orders_relid;
	Oid schema;
	const char *schema_sql; /* quoted schema name */
	/*
	 * Where each of the extension's tables is read and written: the table
	 * itself, or on Citus the shard colocated with the shard of shop_orders
	 * the trigger fired on (the shard of a reference table for the settings).
	 * table_sql: the schema-qualified name every statement uses.
	 */
	Oid table_relid[XT_COUNT];
	const char *table_sql[XT_COUNT];
	Oid logical_relid[XT_COUNT +
					  1]; /* on Citus, the tables whose shards these are; [XT_COUNT]: orders */
	bool citus_shard;	  /* orders_relid is a shard of a Citus table */
	bool citus_table;	  /* orders_relid is a Citus table itself (its rows are in its shards) */
	const char *unready;  /* why orders cannot be tracked here (nullptr: they can) */
	/*
	 * The loyalty tables (XT_CODES .. XT_REFERRAL_SETTINGS) exist: false on
	 * an install older than 1.4 running this library before ALTER EXTENSION
	 * ... UPDATE (codes and referrals are then left alone, orders tracked;
	 * table_sql is "" for the missing tables).
	 */
	bool loyalty;
	Oid customers_relid;
	Oid ledger_relid;
	Oid issues_relid;
	Oid settings_relid;
	Oid owner;						/* owner of shop_customers: the trigger writes as this role */
	AttrNumber attnum[FIELD_COUNT]; /* InvalidAttrNumber when the host has no such column */
	FieldState state[FIELD_COUNT];
	bool drifted;			  /* a field in FS_DRIFT (or a bad setting): orders are untracked */
	const char *drift_detail; /* the first such problem, for the issue record */
	pg_tz *naive_zone;		  /* timestamp / date created_at columns are read in this zone */
	const char *naive_zone_name;
	Oid atttype[FIELD_COUNT]; /* base type (domains unwrapped) */
	bool is_text[FIELD_COUNT];
	FmgrInfo output[FIELD_COUNT];
	bool attbyval[FIELD_COUNT];
	int16 attlen[FIELD_COUNT];
	AttrNumber link_attnum;	   /* shop_orders.shop_customer_id; InvalidAttrNumber: drift */
	bool link_has_foreign_key; /* the pre-1.4 foreign key to shop_customers is still there */
	ct::rules::StatusVocabulary *statuses;
	OverrideSearchPath *search_path;
	Datum zero;		 /* numeric 0 */
	Oid pairs_relid; /* customer_tracking_slug_customers */
};

/*
 * The cache for the orders relation a trigger fired on; (re)built on demand.
 * The extension's schema is the trigger function's.
 */
const HostCache *ct_host_cache(Relation orders, Oid trigger_function);
/* The same by relation id (SQL functions of the extension's schema). */
const HostCache *ct_host_cache_of(Oid orders_relid, Oid function);

/* False when an UPDATE changed none of the columns the extension reads. */
bool ct_tracked_fields_changed(const HostCache *hc, TupleDesc desc, HeapTuple before,
							   HeapTuple after);
/* The same, ignoring shop_customer_id. */
bool ct_order_fields_changed(const HostCache *hc, TupleDesc desc, HeapTuple before,
							 HeapTuple after);

/* SPI as the owner of the extension's tables with the pinned search_path (host_cache.cpp). */
void ct_begin_as_owner(const HostCache *hc, Oid *save_userid, int *save_sec_context);
void ct_end_as_owner(const Oid *save_userid, const int *save_sec_context);

void ct_host_cache_init(void);
/* A relation changed (module.cpp's relcache callback): caches of or next to it are rebuilt. */
void ct_host_cache_relcache(Oid relid);

#endif
