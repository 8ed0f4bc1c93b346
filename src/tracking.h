/*
 * tracking.h: state shared by the trigger (trigger.cpp), the host-table cache
 * (host_cache.cpp) and the shop rollups (rollup.cpp).
 */
#ifndef CT_TRACKING_H
#define CT_TRACKING_H

#include "customer_tracking.h"
#include "order_rules.hpp"

extern "C" {
#include "access/htup.h"
#include "access/tupdesc.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "storage/lockdefs.h"
#include "pgtime.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
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

/* Text fields kept (clipped to their column width) in the extension's tables. */
enum TextField
{
	CT_TEXT_EMAIL,
	CT_TEXT_NAME,
	CT_TEXT_NETWORK,
	CT_TEXT_SLUG,
	CT_TEXT_REFERRER,
	CT_TEXT_UTM_SOURCE,
	CT_TEXT_UTM_MEDIUM,
	CT_TEXT_UTM_CAMPAIGN,
	CT_TEXT_FIELDS
};

/* The order field each text field is read from. */
inline constexpr int ct_text_field_of[CT_TEXT_FIELDS] = {
	FIELD_EMAIL,	FIELD_NAME,		  FIELD_NETWORK,	FIELD_SLUG,
	FIELD_REFERRER, FIELD_UTM_SOURCE, FIELD_UTM_MEDIUM, FIELD_UTM_CAMPAIGN};

/* Prepared statements, kept for the life of the cache. */
enum PlanId
{
	P_LEDGER_INSERT,
	P_LEDGER_UPDATE,
	P_LEDGER_SELECT,
	P_LEDGER_DELETE,
	P_CUSTOMER_INCREMENT,
	P_CUSTOMER_CREATE,
	P_CUSTOMER_ENSURE,
	P_CUSTOMER_LOCK,
	P_CUSTOMER_RECOMPUTE,
	P_CUSTOMER_DELETE,
	P_PAIR_INCREMENT,
	P_PAIR_CREATE,
	P_PAIR_READ,
	P_PAIR_RECOMPUTE,
	P_ISSUE_UPSERT,
	P_ISSUE_RESOLVE,
	P_ISSUE_DELETE,
	P_ROLLUP,
	/* loyalty codes and referrals (codes.cpp, referrals.cpp) */
	P_LOYALTY_LOCK,
	P_CODE_USE_FIND,
	P_CODE_USE_DELETE,
	P_CODE_USE_INSERT,
	P_CODE_TAKE,
	P_CODE_GIVE_BACK,
	P_CODE_READ,
	P_ISSUE_REOPEN,
	P_REFERRAL_ADVOCATE,
	P_REFERRAL_FACTS,
	P_REFERRAL_INSERT,
	P_REFERRAL_VOID,
	P_COUNT
};

/* Columns of shop_customers and of the per-slug purchases that direct writes set (customers.cpp). */
#define CT_CUSTOMER_COLUMNS 14
#define CT_PAIR_COLUMNS		5
/* customer_tracking, every column, as a direct insert fills them (host_cache.cpp). */
enum LedgerColumn
{
	LC_ID,
	LC_SHOP,
	LC_ORDER,
	LC_CUSTOMER,
	LC_SLUG,
	LC_AT,
	LC_PURCHASE,
	LC_COMPLETED_AT,
	LC_AMOUNT,
	LC_NETWORK,
	LC_REFERRER,
	LC_UTM_SOURCE,
	LC_UTM_MEDIUM,
	LC_UTM_CAMPAIGN,
	LC_CREATED_AT,
	LC_UPDATED_AT,
	CT_LEDGER_COLUMNS
};

/* The shop rollups, in the order they are written. */
enum RollupTable
{
	R_SHOP_TOTALS,
	R_DAILY,
	R_SLUG_DAILY,
	R_NETWORK_TOTALS,
	R_FREQUENCY,
	R_TABLES
};

/* Where a rollup column's value comes from (rollup.cpp). */
enum RollupSource : int8
{
	RS_SHOP,
	RS_STRIPE,
	RS_DAY,
	RS_TEXT,	  /* slug or network */
	RS_COUNT_KEY, /* purchases bucket */
	RS_CHECKOUTS,
	RS_PURCHASES,
	RS_REVENUE,
	RS_NEW_CUSTOMERS,
	RS_REPEAT_CUSTOMERS,
	RS_CUSTOMERS,
	RS_LAST_PURCHASERS,
	RS_PREFERRING
};

#define CT_ROLLUP_MAX_COLUMNS 16
struct RollupLayout
{
	Oid relid;
	int natts;
	RollupSource source[CT_ROLLUP_MAX_COLUMNS]; /* by attribute number - 1 */
};

#define CT_LEDGER_NARGS		  13
#define CT_CUSTOMER_ADD_NARGS 12

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
	XT_ROLLUPS,			  /* R_TABLES of them, in RollupTable order */
	XT_COUNT = XT_ROLLUPS + R_TABLES
};
extern const char *const ct_table_names[XT_COUNT];

/* Everything resolved once per backend about the host table and the extension. */
struct HostCache
{
	bool valid;
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
	 * ... UPDATE (codes and referrals are then left alone, orders tracked).
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
	const char *truncated_code[CT_TEXT_FIELDS];
	ct::rules::StatusVocabulary *statuses;
	OverrideSearchPath *search_path;
	SPIPlanPtr plans[P_COUNT];
	const char *truncate_sql;
	Datum zero; /* numeric 0 */
	RollupLayout rollups[R_TABLES];
	bool rollups_direct; /* every rollup table qualifies for ct_row_writer_add() */
	bool ledger_direct;	 /* customer_tracking qualifies for direct inserts */
	AttrNumber ledger_att[CT_LEDGER_COLUMNS];
	bool customers_direct; /* shop_customers qualifies for direct increments */
	AttrNumber customer_att[CT_CUSTOMER_COLUMNS];
	Oid pairs_relid; /* customer_tracking_slug_customers */
	bool pairs_direct;
	AttrNumber pair_att[CT_PAIR_COLUMNS];
	pg_uuid_t nil_uuid;
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

/* What the rollups need of a customer, before or after an event. */
struct CustomerState
{
	bool exists;
	int purchases;
	bool first_null;
	TimestampTz first_at;
	char *first_slug; /* nullptr = NULL */
	bool last_null;
	TimestampTz last_at;
	char *preferred; /* nullptr = NULL */
};

struct CustomerChange
{
	bool known; /* false: no such customer row */
	pg_uuid_t shop;
	pg_uuid_t customer;
	CustomerState before;
	CustomerState after;
};

/* A customer's purchases through one slug ('' = no slug). */
struct PairState
{
	int purchases;
	TimestampTz first_at;
};

struct PairChange
{
	pg_uuid_t shop;
	pg_uuid_t customer;
	char *slug;
	PairState before;
	PairState after;
};

/* Everything an event changed that the rollups derive from. */
#define CT_MAX_CUSTOMERS 2
#define CT_MAX_PAIRS	 4
struct EventChanges
{
	int ncustomers;
	CustomerChange customers[CT_MAX_CUSTOMERS];
	int npairs;
	PairChange pairs[CT_MAX_PAIRS];
};

struct TextValue
{
	const char *data; /* not NUL-terminated */
	int len;		  /* bytes, after clipping to the column width */
	int full_len;	  /* bytes before clipping */
	bool isnull;
};

#define CT_MAX_ISSUES 16

struct Issue
{
	const char *code;
	char *detail;
	bool untracked;
};

struct OrderImage
{
	bool id_null;
	pg_uuid_t id;
	bool shop_null;
	pg_uuid_t shop;
	TextValue phone;
	TextValue status;
	bool amount_null;
	Datum amount; /* numeric */
	bool at_null;
	TimestampTz at;
	TextValue text[CT_TEXT_FIELDS]; /* email, name, network, slug, referrer, utm x3 */
	TextValue discount_code;		/* unclipped; null without the column */
	TextValue referral_code;
	bool link_null; /* the shop_customer_id column */
	pg_uuid_t link;

	/* derived */
	int phone_status;
	char e164[CT_E164_BUFSIZE];
	bool trackable;
	pg_uuid_t customer; /* valid when trackable */
	ct::rules::StatusClass status_class;
	bool purchase;
	int nissues;
	Issue issues[CT_MAX_ISSUES];
};

/* What an order's ledger row says it contributed. */
struct LedgerRow
{
	bool present;
	pg_uuid_t customer;
	pg_uuid_t shop;
	bool purchase;
	Datum amount;
	TimestampTz at;
	bool network_null;
	char *network;
	bool slug_null;
	char *slug;
	char *attribution; /* referrer, UTM fields: compared as one string */
};


/*
 * An order as the commit-time apply sees it (pending.cpp, trigger.cpp): its
 * key, its latest version in this transaction, and what its ledger row says.
 */
struct OrderWork
{
	pg_uuid_t id;
	pg_uuid_t shop;
	OrderImage *img;		  /* latest version; nullptr: gone (deleted, or moved to another key) */
	bool inserted;			  /* its first change in this transaction inserted it */
	TimestampTz completed_at; /* when this transaction first saw it paid */
	bool skip;
	LedgerRow ledger;
	bool ledger_fetched;
	bool ledger_deleted;
	int ncustomers; /* customers it counted for and counts for now, and its referral's advocate */
	pg_uuid_t customers[CT_MAX_CUSTOMERS + 1];
	pg_uuid_t customer_shops[CT_MAX_CUSTOMERS + 1];
	struct LoyaltyWork *loyalty; /* codes.cpp: what ct_loyalty_prepare() found */
};

/* Applying orders (trigger.cpp): decode a version, read its ledger row, apply. */
OrderImage *ct_order_decode(const HostCache *hc, TupleDesc desc, HeapTuple tuple);
void ct_order_prepare(const HostCache *hc, OrderWork *w, MemoryContext cxt);
void ct_order_apply(const HostCache *hc, OrderWork *w, MemoryContext cxt);
/*
 * Loyalty codes and referrals (codes.cpp), hooked into the commit-time apply:
 * ct_loyalty_prepare() after ct_order_prepare() (no shared row locked yet; may
 * add a referral's advocate to the customers to lock), ct_loyalty_apply()
 * after ct_order_apply() (the order's customers are locked).
 */
void ct_loyalty_prepare(const HostCache *hc, OrderWork *w, MemoryContext cxt);
void ct_loyalty_apply(const HostCache *hc, OrderWork *w, MemoryContext cxt);
void ct_loyalty_prepare_statements(HostCache *hc);
const char *ct_loyalty_truncate_sql(const HostCache *hc);

/*
 * Orders changed by the running transaction, applied once at commit
 * (pending.cpp). tuple nullptr: the order under this key is gone; inserted:
 * the change inserted it (only the first change of a key counts).
 */
void ct_pending_note(const HostCache *hc, TupleDesc desc, const pg_uuid_t *shop,
					 const pg_uuid_t *id, HeapTuple tuple, bool purchase, bool inserted);
/* TRUNCATE: every order of this orders relation noted so far is gone. */
void ct_pending_forget_all(Oid orders_relid);
/* Applies what is noted now (maintenance functions), without the commit-time guard. */
void ct_pending_apply_now(void);
/* How the trigger reads an order (trigger.cpp); also customer_tracking_decode_order(). */
void ct_decode_order(const HostCache *hc, HeapTuple tuple, TupleDesc desc, OrderImage *img);

/* Citus metadata (citus.cpp), read from its catalog tables; nothing without Citus. */
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
void ct_citus_before_drop_extension(const Node *parsetree); /* DROP EXTENSION: shards first */
/* The relation holding a reference table's rows on this node (the table itself without Citus). */
Oid ct_local_rows_of(Oid relid);

/* A relation changed: statements kept by owner.cpp, metrics.cpp, pending.cpp (called from host_cache.cpp). */
void ct_owner_relcache(Oid relid);
void ct_metrics_relcache(Oid relid);
void ct_pending_relcache(Oid relid);

/* Prepared statements (host_cache.cpp): prepare and keep; execute or fail loudly. */
SPIPlanPtr ct_keep_generic_plan(const char *sql, int nargs, const Oid *types, const char *what);
void ct_prepare(HostCache *hc, PlanId id, const char *sql, int nargs, const Oid *types);
void ct_exec(const HostCache *hc, PlanId plan, Datum *values, const char *nulls, int expected);

/* Shop rollups (rollup.cpp): statements, TRUNCATE clean-up, and applying an event. */
void ct_rollup_prepare(HostCache *hc);
const char *ct_rollup_truncate_sql(const HostCache *hc);

/* Text parameter from an order field (clipped); sets *null for NULL. */
Datum ct_text_datum(const TextValue *t, char *null);

/* Customers and per-slug purchases (customers.cpp). */
void ct_customers_prepare(HostCache *hc);
void ct_customer_add(const HostCache *hc, const OrderImage *img, int order_delta,
					 CustomerChange *change, MemoryContext cxt);
bool ct_customer_ensure(const HostCache *hc, const OrderImage *img); /* true: created */
/* The same from the BEFORE trigger, which links orders: only for a customer without a row. */
void ct_customer_ensure_linked(const HostCache *hc, const OrderImage *img);
/* Customers it created whose order was not saved after all: removed at the end of the statement. */
bool ct_customers_created(void);
void ct_customers_sweep(const HostCache *hc);
void ct_customer_lock(const HostCache *hc, const pg_uuid_t *customer, const pg_uuid_t *shop,
					  CustomerChange *change, MemoryContext cxt);
/* ct_customer_lock() for the customer an order links to: its row is made again if it was deleted. */
void ct_customer_lock_linked(const HostCache *hc, const OrderImage *img, CustomerChange *change,
							 MemoryContext cxt);
void ct_customer_recompute(const HostCache *hc, CustomerChange *change, MemoryContext cxt);
void ct_pair_add(const HostCache *hc, const OrderImage *img, PairChange *pair);
void ct_pair_read(const HostCache *hc, const pg_uuid_t *shop, const char *slug,
				  const pg_uuid_t *customer, PairChange *pair);
void ct_pair_recompute(const HostCache *hc, PairChange *pair);

/*
 * Applies an event to the shop rollups: the order's old contribution (its
 * ledger row, if present) and new one (after, if it contributes), and the
 * customer and per-slug changes.
 */
void ct_rollup_apply(const HostCache *hc, const LedgerRow *before, const OrderImage *after,
					 const EventChanges *changes);
/* Writes the running (sub)transaction's pending rollup deltas. */
void ct_rollup_flush(const HostCache *hc);
/* Deltas not yet written (checked before commit), and the cache they were made with. */
bool ct_rollup_pending(void);
const HostCache *ct_rollup_pending_cache(void);
void ct_rollup_init(void);

/*
 * Direct writes (row_writer.cpp): whether a table qualifies (plain, no
 * triggers, every non-key column a bigint or numeric counter), and adding
 * rows of deltas (values by attribute number - 1: key columns, then deltas)
 * to it, inserting the rows that are missing. The caller starts a new command
 * (CommandCounterIncrement) before and after a batch of writes, so that rows
 * written earlier in the same command can be locked and later readers see
 * the new versions.
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

/*
 * Backfill (backfill.cpp). While ct_backfill_active, the order triggers stand
 * aside: the backfill's own UPDATE of the links does what they would do.
 * Shops are locked on one of CT_SHOP_LOCK_SLOTS advisory-type locks by a hash
 * of their id: in share mode by the commit-time apply (pending.cpp) and
 * customer_tracking_recompute(), exclusively by the backfill while it counts
 * customers. ct_lock_shops() takes the slots in one global order.
 */
extern bool ct_backfill_active;
#define CT_SHOP_LOCK_SLOTS	1024
#define CT_SHOP_LOCK_MAGIC	0x43544246 /* "CTBF" */
#define CT_SHOP_LOCK_FIELD4 3		   /* SQL advisory locks use 1 and 2 */
void ct_lock_shops(const pg_uuid_t *shops, int n, LOCKMODE mode);

/* SPI as the owner of the extension's tables with the pinned search_path (host_cache.cpp). */
void ct_begin_as_owner(const HostCache *hc, Oid *save_userid, int *save_sec_context);
void ct_end_as_owner(const Oid *save_userid, const int *save_sec_context);

#endif
