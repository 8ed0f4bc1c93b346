/*
 * customers.cpp: a customer's statistics (shop_customers) and its purchases
 * per slug (customer_tracking_slug_customers), as the trigger changes them.
 *
 * Each operation reports the state before and after, from which rollup.cpp
 * derives the shop rollups. Increments read only the locked, latest row
 * (correct under READ COMMITTED re-checks). Recomputations run after the
 * customer row is locked, in a new statement with a fresh snapshot, so they
 * see every committed ledger row.
 *
 * The common case, an order of a returning customer, and a purchase through a
 * slug already counted, are written directly (row_writer.cpp): the row is
 * locked and its next version built here, as the SET lists of
 * customer_increment and pair_increment would. Those statements remain the
 * path for tables the direct writer does not take, and the reference that
 * sql/07_customer_writes compares it with.
 */
#include "customers.h"

#include "statements.h"
#include "row_writer.h"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/uuid.h"
}

/* shop_customers columns a direct increment reads or sets; the key first. */
enum CustomerColumn
{
	CC_ID,
	CC_SHOP,
	CC_EMAIL,
	CC_NAME,
	CC_ORDERS,
	CC_PURCHASES,
	CC_SPENT,
	CC_FIRST_AT,
	CC_FIRST_ORDER,
	CC_FIRST_SLUG,
	CC_LAST_AT,
	CC_NETWORKS,
	CC_PREFERRED,
	CC_UPDATED_AT,
	CC_COUNT
};
static const DirectColumn customer_columns[CC_COUNT] = {
	{"id", UUIDOID, 0},
	{"shop_id", UUIDOID, 0},
	{"email", VARCHAROID, 0},
	{"customer_name", VARCHAROID, 0},
	{"total_orders", INT4OID, 0},
	{"total_purchases", INT4OID, 0},
	{"total_spent", NUMERICOID, 0},
	{"first_purchase_at", TIMESTAMPTZOID, 0},
	{"first_order_id", UUIDOID, 0},
	{"first_source_slug", VARCHAROID, 0} /* min_width: build_state() */,
	{"last_purchase_at", TIMESTAMPTZOID, 0},
	{"network_purchases", JSONBOID, 0},
	{"preferred_network", VARCHAROID, 0} /* min_width: build_state() */,
	{"updated_at", TIMESTAMPTZOID, 0}};

/* customer_tracking_slug_customers columns; the key first. */
enum PairColumn
{
	PC_SHOP,
	PC_SLUG,
	PC_CUSTOMER,
	PC_PURCHASES,
	PC_FIRST_AT,
	PC_COUNT
};
static const DirectColumn pair_columns[PC_COUNT] = {{"shop_id", UUIDOID, 0},
													{"slug", TEXTOID, 0},
													{"shop_customer_id", UUIDOID, 0},
													{"purchases", INT4OID, 0},
													{"first_purchase_at", TIMESTAMPTZOID, 0}};

/* Columns describing a customer's state, in this order, in every statement below. */
#define STATE_COLUMNS(p)                                                                           \
	p "total_purchases, " p "first_purchase_at, " p "first_source_slug, " p "last_purchase_at, " p \
	  "preferred_network"
/* Their positions: a state read from column first is at first + SC_*. */
enum StateColumn
{
	SC_PURCHASES,
	SC_FIRST_AT,
	SC_FIRST_SLUG,
	SC_LAST_AT,
	SC_PREFERRED,
	SC_COUNT
};

/*
 * Parameters of the increment, create and ensure statements ($1 = CP_CUSTOMER
 * + 1, ...): the order added and its customer.
 */
enum CustomerParam
{
	CP_CUSTOMER, /* $1 */
	CP_SHOP,	 /* $2 */
	CP_PHONE,	 /* $3 */
	CP_EMAIL,	 /* $4 */
	CP_NAME,	 /* $5 */
	CP_ORDERS,	 /* $6: orders added (0: it became a purchase) */
	CP_PURCHASE, /* $7 */
	CP_AMOUNT,	 /* $8 */
	CP_AT,		 /* $9 */
	CP_ORDER,	 /* $10 */
	CP_SLUG,	 /* $11 */
	CP_NETWORK,	 /* $12 */
	CP_COUNT
};
static const Oid add_types[CP_COUNT] = {UUIDOID,		UUIDOID, TEXTOID, TEXTOID,
										TEXTOID,		INT4OID, BOOLOID, NUMERICOID,
										TIMESTAMPTZOID, UUIDOID, TEXTOID, TEXTOID};
static const Oid key_types[2] = {UUIDOID, UUIDOID}; /* $1 customer, $2 shop */
/* Per-slug counts: $1 shop, $2 slug ('' = none), $3 customer, $4 purchase time. */
static const Oid pair_types[4] = {UUIDOID, TEXTOID, UUIDOID, TIMESTAMPTZOID};

/*
 * New values for an added order: the customer's next version. add_order()
 * builds the same next version for direct writes.
 */
static const char *const increments =
	"email = coalesce($4, c.email), customer_name = coalesce($5, c.customer_name), "
	"total_orders = c.total_orders + $6, "
	"total_purchases = c.total_purchases + CASE WHEN $7 THEN 1 ELSE 0 END, "
	"total_spent = c.total_spent + CASE WHEN $7 THEN $8 ELSE 0 END, "
	"first_purchase_at = CASE WHEN $7 AND c.first_purchase_at IS NULL THEN $9 ELSE "
	"c.first_purchase_at END, "
	"first_order_id = CASE WHEN $7 AND c.first_purchase_at IS NULL THEN $10 ELSE "
	"c.first_order_id END, "
	"first_source_slug = CASE WHEN $7 AND c.first_purchase_at IS NULL THEN $11 ELSE "
	"c.first_source_slug END, "
	"last_purchase_at = CASE WHEN $7 THEN greatest(c.last_purchase_at, $9) ELSE "
	"c.last_purchase_at END, "
	"network_purchases = CASE WHEN $7 AND $12 IS NOT NULL THEN c.network_purchases || "
	"jsonb_build_object($12, coalesce((c.network_purchases ->> $12)::numeric::int, 0) + 1) "
	"ELSE c.network_purchases END, "
	"preferred_network = CASE WHEN NOT $7 OR $12 IS NULL THEN c.preferred_network "
	"WHEN c.preferred_network IS NULL OR c.preferred_network = $12 THEN $12 "
	"WHEN coalesce((c.network_purchases ->> $12)::numeric::int, 0) + 1 > "
	"coalesce((c.network_purchases ->> c.preferred_network::text)::numeric::int, 0) THEN $12 "
	"WHEN coalesce((c.network_purchases ->> $12)::numeric::int, 0) + 1 = "
	"coalesce((c.network_purchases ->> c.preferred_network::text)::numeric::int, 0) "
	"AND $12 COLLATE \"C\" < c.preferred_network::text COLLATE \"C\" THEN $12 "
	"ELSE c.preferred_network END, "
	"updated_at = now()";

/*
 * The increment: o is the row as this statement found it after waiting for
 * its lock, so RETURNING gives the state before and after (STATE_COLUMNS
 * twice). A purchase earlier than the first one, and network_purchases
 * holding something else than counts (edited by hand), are left to
 * lock-and-recompute (WHERE).
 */
static char *increment_sql(const HostCache *hc)
{
	const char *customers = hc->table_sql[XT_CUSTOMERS];
	return psprintf("UPDATE %s c SET %s "
					"FROM (SELECT id, " STATE_COLUMNS(
						"") " FROM %s "
							"WHERE id = $1 AND shop_id = $2 FOR UPDATE) o "
							"WHERE c.id = o.id AND c.shop_id = $2 "
							"AND NOT ($7 AND c.first_purchase_at IS NOT NULL "
							"AND ($9, $10) < (c.first_purchase_at, c.first_order_id)) "
							"AND (NOT $7 OR $12 IS NULL OR (jsonb_typeof(c.network_purchases) = "
							"'object' AND coalesce(jsonb_typeof(c.network_purchases -> $12), "
							"'null') IN ('number', 'null') AND coalesce(jsonb_typeof("
							"c.network_purchases -> c.preferred_network::text), 'null') IN "
							"('number', 'null'))) "
							"RETURNING " STATE_COLUMNS("o.") ", " STATE_COLUMNS("c."),
					customers, increments, customers);
}

/*
 * Creating a customer: ON CONFLICT without a target, so a concurrent
 * creation seen through either unique index (id, or shop and phone) means
 * "exists" rather than a duplicate-key error.
 */
static char *create_sql(const HostCache *hc)
{
	const char *customers = hc->table_sql[XT_CUSTOMERS];
	return psprintf(
		"INSERT INTO %s AS c (id, shop_id, phone_number, email, customer_name, "
		"total_orders, total_purchases, total_spent, first_purchase_at, last_purchase_at, "
		"first_order_id, first_source_slug, network_purchases, preferred_network) "
		"VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 THEN 1 ELSE 0 END, "
		"CASE WHEN $7 THEN $8 ELSE 0 END, CASE WHEN $7 THEN $9 END, CASE WHEN $7 THEN $9 END, "
		"CASE WHEN $7 THEN $10 END, CASE WHEN $7 THEN $11 END, "
		"CASE WHEN $7 AND $12 IS NOT NULL THEN jsonb_build_object($12, 1) ELSE '{}'::jsonb "
		"END, "
		"CASE WHEN $7 THEN $12 END) "
		"ON CONFLICT DO NOTHING RETURNING " STATE_COLUMNS(""),
		customers);
}

static char *ensure_sql(const HostCache *hc)
{
	const char *customers = hc->table_sql[XT_CUSTOMERS];
	return psprintf("INSERT INTO %s (id, shop_id, phone_number, email, customer_name) "
					"VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
					customers);
}

static char *lock_sql(const HostCache *hc)
{
	const char *customers = hc->table_sql[XT_CUSTOMERS];
	return psprintf("SELECT " STATE_COLUMNS("") " FROM %s "
												"WHERE id = $1 AND shop_id = $2 FOR UPDATE",
					customers);
}

/*
 * A customer's stats from its ledger rows: the WITH list that recomputes, backfills and
 * verifies customers in SQL too (src/sql/fragments/customer_stats.sql; agg has a row for a
 * customer with ledger rows).
 */
static const char *const customer_stats_ctes =
#include "sql/fragments/customer_stats.sql"
	;

/* Returns total_orders (RECOMPUTED_ORDERS), then STATE_COLUMNS. */
#define RECOMPUTED_ORDERS 1
static char *recompute_sql(const HostCache *hc)
{
	const char *customers = hc->table_sql[XT_CUSTOMERS];
	const char *ledger = hc->table_sql[XT_LEDGER];
	return psprintf(
		"WITH l AS (SELECT t.shop_id, t.shop_customer_id AS cid, t.id, t.accessed_at AS at, "
		"t.purchase_completed AS p, t.purchase_amount AS amount, t.network::text AS network, "
		"t.accessed_via_slug::text AS slug FROM %s t "
		"WHERE t.shop_customer_id = $1 AND t.shop_id = $2), %s "
		"UPDATE %s c SET total_orders = coalesce(a.orders, 0), "
		"total_purchases = coalesce(a.purchases, 0), total_spent = coalesce(a.spent, 0), "
		"first_purchase_at = a.first_at, last_purchase_at = a.last_at, "
		"first_order_id = a.first_id, first_source_slug = a.first_slug, "
		"network_purchases = coalesce(a.networks, '{}'::jsonb), preferred_network = a.preferred, "
		"updated_at = now() "
		"FROM (SELECT) one LEFT JOIN agg a ON true "
		"WHERE c.id = $1 AND c.shop_id = $2 "
		"RETURNING c.total_orders, " STATE_COLUMNS("c."),
		ledger, customer_stats_ctes, customers);
}

/* A customer without orders, linked orders included (also while the host table has drifted). */
static char *delete_sql(const HostCache *hc)
{
	const char *customers = hc->table_sql[XT_CUSTOMERS];
	const char *orders_link =
		hc->link_attnum == InvalidAttrNumber ? "false"
		: hc->attnum[FIELD_SHOP_ID] == InvalidAttrNumber
			? "o.shop_customer_id = c.id"
			: psprintf("o.shop_customer_id = c.id AND o.%s = $2",
					   quote_identifier(
						   get_attname(hc->orders_relid, hc->attnum[FIELD_SHOP_ID], false)));
	return psprintf(
		"DELETE FROM %s c WHERE c.id = $1 AND c.shop_id = $2 AND c.total_orders "
		"= 0 "
		"AND NOT EXISTS (SELECT 1 FROM %s o WHERE %s)",
		customers,
		quote_qualified_identifier(get_namespace_name(get_rel_namespace(hc->orders_relid)),
								   get_rel_name(hc->orders_relid)),
		orders_link);
}

/* Returns the pair's purchases and first purchase before, then after. */
static char *pair_increment_sql(const HostCache *hc)
{
	const char *pairs = hc->table_sql[XT_PAIRS];
	return psprintf("UPDATE %s p SET purchases = p.purchases + 1, "
					"first_purchase_at = least(p.first_purchase_at, $4) "
					"FROM (SELECT purchases, first_purchase_at FROM %s "
					"WHERE shop_id = $1 AND slug = $2 AND shop_customer_id = $3) o "
					"WHERE p.shop_id = $1 AND p.slug = $2 AND p.shop_customer_id = $3 "
					"RETURNING o.purchases, o.first_purchase_at, p.purchases, p.first_purchase_at",
					pairs, pairs);
}

static char *pair_create_sql(const HostCache *hc)
{
	const char *pairs = hc->table_sql[XT_PAIRS];
	return psprintf("INSERT INTO %s "
					"(shop_id, slug, shop_customer_id, purchases, first_purchase_at) "
					"VALUES ($1, $2, $3, 1, $4) ON CONFLICT DO NOTHING RETURNING purchases",
					pairs);
}

static char *pair_read_sql(const HostCache *hc)
{
	const char *pairs = hc->table_sql[XT_PAIRS];
	return psprintf("SELECT purchases, first_purchase_at FROM %s "
					"WHERE shop_id = $1 AND slug = $2 AND shop_customer_id = $3",
					pairs);
}

static char *pair_recompute_sql(const HostCache *hc)
{
	const char *ledger = hc->table_sql[XT_LEDGER];
	const char *pairs = hc->table_sql[XT_PAIRS];
	return psprintf(
		"WITH a AS (SELECT count(*)::int AS n, min(accessed_at) AS f FROM %s "
		"WHERE shop_customer_id = $3 AND shop_id = $1 AND coalesce(accessed_via_slug, '') = $2 "
		"AND purchase_completed), "
		"gone AS (DELETE FROM %s "
		"WHERE shop_id = $1 AND slug = $2 AND shop_customer_id = $3 AND (SELECT n FROM a) = "
		"0), "
		"kept AS (INSERT INTO %s AS p "
		"(shop_id, slug, shop_customer_id, purchases, first_purchase_at) "
		"SELECT $1, $2, $3, a.n, a.f FROM a WHERE a.n > 0 "
		"ON CONFLICT (shop_id, slug, shop_customer_id) DO UPDATE SET "
		"purchases = EXCLUDED.purchases, first_purchase_at = EXCLUDED.first_purchase_at) "
		"SELECT n, f FROM a",
		ledger, pairs, pairs);
}

static Statement customer_increment = {"customer increment", increment_sql, CP_COUNT, add_types};
static Statement customer_create = {"customer create", create_sql, CP_COUNT, add_types};
static Statement customer_ensure = {"customer ensure", ensure_sql, 5, add_types};
static Statement customer_lock = {"customer lock", lock_sql, 2, key_types};
static Statement customer_recompute = {"customer recompute", recompute_sql, 2, key_types};
static Statement customer_delete = {"customer delete", delete_sql, 2, key_types};
static Statement pair_increment = {"per-slug increment", pair_increment_sql, 4, pair_types};
static Statement pair_create = {"per-slug create", pair_create_sql, 4, pair_types};
static Statement pair_read = {"per-slug read", pair_read_sql, 3, pair_types};
static Statement pair_recompute = {"per-slug recompute", pair_recompute_sql, 3, pair_types};

/* Whether the tables take direct writes, and where their columns are. */
struct CustomersState
{
	bool customers_direct;
	AttrNumber customer_att[CC_COUNT];
	bool pairs_direct;
	AttrNumber pair_att[PC_COUNT];
};

/* The width a column must have to take a text field's values (no limit: only an unlimited one). */
static int32 width_needed(const HostCache *hc, int text_field)
{
	int width = ct_text_width(hc, text_field);
	return width > 0 ? width : PG_INT32_MAX - VARHDRSZ;
}

static void build_state(const HostCache *hc, void *p)
{
	CustomersState *state = static_cast<CustomersState *>(p);
	/*
	 * Email and name are clipped to their own columns; the first slug and the
	 * preferred network to the ledger's (ct_text_width): a narrower column
	 * here is written by the statements, which check widths.
	 */
	DirectColumn columns[CC_COUNT];
	memcpy(columns, customer_columns, sizeof(columns));
	columns[CC_FIRST_SLUG].min_width = width_needed(hc, CT_TEXT_SLUG);
	columns[CC_PREFERRED].min_width = width_needed(hc, CT_TEXT_NETWORK);
	/* Rows referencing customers keep their keys: their foreign-key checks never fire. */
	state->customers_direct = ct_direct_resolve(hc->table_relid[XT_CUSTOMERS], columns, CC_COUNT, 2,
												CT_DIRECT_REFERENCED, state->customer_att);
	state->pairs_direct =
		ct_direct_resolve(hc->table_relid[XT_PAIRS], pair_columns, PC_COUNT, 3, 0, state->pair_att);
}
static ModuleState customers_state = {"customers", sizeof(CustomersState), build_state};

static const CustomersState *state_of(const HostCache *hc)
{
	return static_cast<const CustomersState *>(ct_module_state(hc, &customers_state));
}

static char *copy_text(HeapTuple tuple, TupleDesc desc, int col, MemoryContext cxt)
{
	bool isnull;
	Datum d = SPI_getbinval(tuple, desc, col, &isnull);
	if (isnull)
		return nullptr;
	return MemoryContextStrdup(cxt, TextDatumGetCString(d));
}

/* Reads STATE_COLUMNS starting at column first (1-based). */
static void read_state(HeapTuple tuple, TupleDesc desc, int first, CustomerState *state,
					   MemoryContext cxt)
{
	bool isnull;

	state->exists = true;
	state->purchases = DatumGetInt32(SPI_getbinval(tuple, desc, first + SC_PURCHASES, &isnull));
	state->first_at =
		DatumGetTimestampTz(SPI_getbinval(tuple, desc, first + SC_FIRST_AT, &state->first_null));
	state->first_slug = copy_text(tuple, desc, first + SC_FIRST_SLUG, cxt);
	state->last_at =
		DatumGetTimestampTz(SPI_getbinval(tuple, desc, first + SC_LAST_AT, &state->last_null));
	state->preferred = copy_text(tuple, desc, first + SC_PREFERRED, cxt);
}

static void customer_params(const OrderImage *img, int order_delta, Datum *values, char *nulls)
{
	const TextValue *email = &img->text[CT_TEXT_EMAIL];
	const TextValue *name = &img->text[CT_TEXT_NAME];
	const TextValue *slug = &img->text[CT_TEXT_SLUG];
	const TextValue *network = &img->text[CT_TEXT_NETWORK];

	memset(nulls, ' ', CP_COUNT);
	values[CP_CUSTOMER] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->customer));
	values[CP_SHOP] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->shop));
	values[CP_PHONE] = CStringGetTextDatum(img->e164);
	values[CP_EMAIL] = ct_text_datum(email, &nulls[CP_EMAIL]);
	values[CP_NAME] = ct_text_datum(name, &nulls[CP_NAME]);
	values[CP_ORDERS] = Int32GetDatum(order_delta);
	values[CP_PURCHASE] = BoolGetDatum(img->purchase);
	values[CP_AMOUNT] = img->amount;
	values[CP_AT] = TimestampTzGetDatum(img->at);
	values[CP_ORDER] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->id));
	values[CP_SLUG] = ct_text_datum(slug, &nulls[CP_SLUG]);
	values[CP_NETWORK] = ct_text_datum(network, &nulls[CP_NETWORK]);
}

/* A column of a found row or of its next version. */
static Datum slot_value(TupleTableSlot *slot, AttrNumber attnum, bool *isnull)
{
	*isnull = slot->tts_isnull[attnum - 1];
	return slot->tts_values[attnum - 1];
}

static void set_value(TupleTableSlot *slot, AttrNumber attnum, Datum value, bool isnull)
{
	slot->tts_values[attnum - 1] = value;
	slot->tts_isnull[attnum - 1] = isnull;
}

static char *slot_text(TupleTableSlot *slot, AttrNumber attnum, MemoryContext cxt)
{
	bool isnull;
	Datum d = slot_value(slot, attnum, &isnull);
	return isnull ? nullptr : MemoryContextStrdup(cxt, TextDatumGetCString(d));
}

/* The same state read_state() gives, from a row of shop_customers. */
static void slot_state(const HostCache *hc, TupleTableSlot *slot, CustomerState *state,
					   MemoryContext cxt)
{
	const AttrNumber *att = state_of(hc)->customer_att;
	bool isnull;

	state->exists = true;
	state->purchases = DatumGetInt32(slot_value(slot, att[CC_PURCHASES], &isnull));
	state->first_at = DatumGetTimestampTz(slot_value(slot, att[CC_FIRST_AT], &state->first_null));
	state->first_slug = slot_text(slot, att[CC_FIRST_SLUG], cxt);
	state->last_at = DatumGetTimestampTz(slot_value(slot, att[CC_LAST_AT], &state->last_null));
	state->preferred = slot_text(slot, att[CC_PREFERRED], cxt);
}

static int32 add_int32(int32 a, int32 b)
{
	int32 sum;
	if (pg_add_s32_overflow(a, b, &sum))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE), errmsg("integer out of range")));
	return sum;
}

/* Purchases through a network in network_purchases; false when the entry is not a number. */
static bool network_count(Jsonb *networks, const char *network, int len, int32 *count)
{
	JsonbValue value;
	*count = 0;
	if (getKeyJsonValueFromContainer(&networks->root, network, len, &value) == nullptr ||
		value.type == jbvNull)
		return true;
	if (value.type != jbvNumeric)
		return false;
	*count = DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(value.val.numeric)));
	return true;
}

/* networks || {network: count}, as jsonb_build_object() would build the right side. */
static Datum network_set(Jsonb *networks, const char *network, int len, int32 count)
{
	JsonbParseState *state = nullptr;
	JsonbValue key;
	JsonbValue value;

	key.type = jbvString;
	key.val.string.val = const_cast<char *>(network);
	key.val.string.len = len;
	value.type = jbvNumeric;
	value.val.numeric = DatumGetNumeric(DirectFunctionCall1(int4_numeric, Int32GetDatum(count)));
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, nullptr);
	pushJsonbValue(&state, WJB_KEY, &key);
	pushJsonbValue(&state, WJB_VALUE, &value);
	Jsonb *entry = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, nullptr));
	return DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(networks), JsonbPGetDatum(entry));
}

/* Byte order of network names (COLLATE "C"), as in customer_tracking_verify(). */
static int compare_c(const char *a, int alen, const char *b, int blen)
{
	int cmp = memcmp(a, b, Min(alen, blen));
	return cmp != 0 ? cmp : alen - blen;
}

/*
 * The purchase's network in the next version: its count, and the preferred
 * network (most purchases, ties to the first name in byte order). False when
 * network_purchases holds something else than counts: recomputed instead.
 */
static bool add_network(const HostCache *hc, TupleTableSlot *found, TupleTableSlot *next,
						const TextValue *network)
{
	const AttrNumber *att = state_of(hc)->customer_att;
	bool isnull;
	Datum networks_datum = slot_value(found, att[CC_NETWORKS], &isnull);
	if (isnull)
		return false;
	Jsonb *networks = DatumGetJsonbP(networks_datum);
	int32 count;
	if (!JB_ROOT_IS_OBJECT(networks))
		return false;
	if (!network_count(networks, network->data, network->len, &count))
		return false;
	count = add_int32(count, 1);
	set_value(next, att[CC_NETWORKS], network_set(networks, network->data, network->len, count),
			  false);

	Datum preferred = slot_value(found, att[CC_PREFERRED], &isnull);
	bool take = isnull;
	if (!take)
	{
		text *current = DatumGetTextPP(preferred);
		const char *name = VARDATA_ANY(current);
		int len = VARSIZE_ANY_EXHDR(current);
		int32 current_count;
		int order = compare_c(network->data, network->len, name, len);
		if (!network_count(networks, name, len, &current_count))
			return false;
		take = order == 0 || count > current_count || (count == current_count && order < 0);
	}
	if (take)
		set_value(next, att[CC_PREFERRED],
				  PointerGetDatum(cstring_to_text_with_len(network->data, network->len)), false);
	return true;
}

/* (at, order) < (first_at, first_order), where a NULL makes it unknown (true: recompute). */
static bool before_first_purchase(TimestampTz at, const pg_uuid_t *order, TimestampTz first_at,
								  Datum first_order, bool first_order_null)
{
	if (at != first_at)
		return at < first_at;
	return first_order_null || memcmp(order->data, DatumGetUUIDP(first_order)->data, UUID_LEN) < 0;
}

static void set_text(TupleTableSlot *slot, AttrNumber attnum, const TextValue *value)
{
	char null;
	Datum d = ct_text_datum(value, &null);
	set_value(slot, attnum, d, null == 'n');
}

static int32 slot_int32(TupleTableSlot *slot, AttrNumber attnum)
{
	bool isnull;
	return DatumGetInt32(slot_value(slot, attnum, &isnull));
}

/*
 * The customer's next version with the order added: the SET list of
 * customer_increment. False where that statement would update no row (a
 * purchase before the first one), or network_purchases needs recomputing.
 */
static bool add_order(const HostCache *hc, const OrderImage *img, int order_delta,
					  TupleTableSlot *found, TupleTableSlot *next)
{
	const AttrNumber *att = state_of(hc)->customer_att;
	bool first_null;
	TimestampTz first_at = DatumGetTimestampTz(slot_value(found, att[CC_FIRST_AT], &first_null));
	bool first_order_null;
	Datum first_order = slot_value(found, att[CC_FIRST_ORDER], &first_order_null);
	bool last_null;
	TimestampTz last_at = DatumGetTimestampTz(slot_value(found, att[CC_LAST_AT], &last_null));
	bool isnull;

	if (img->purchase && !first_null &&
		before_first_purchase(img->at, &img->id, first_at, first_order, first_order_null))
		return false;
	if (!img->text[CT_TEXT_EMAIL].isnull)
		set_text(next, att[CC_EMAIL], &img->text[CT_TEXT_EMAIL]);
	if (!img->text[CT_TEXT_NAME].isnull)
		set_text(next, att[CC_NAME], &img->text[CT_TEXT_NAME]);
	set_value(next, att[CC_ORDERS],
			  Int32GetDatum(add_int32(slot_int32(found, att[CC_ORDERS]), order_delta)), false);
	set_value(next, att[CC_UPDATED_AT], TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
			  false);
	if (!img->purchase)
		return true;

	set_value(next, att[CC_PURCHASES],
			  Int32GetDatum(add_int32(slot_int32(found, att[CC_PURCHASES]), 1)), false);
	set_value(
		next, att[CC_SPENT],
		DirectFunctionCall2(numeric_add, slot_value(found, att[CC_SPENT], &isnull), img->amount),
		false);
	if (first_null)
	{
		set_value(next, att[CC_FIRST_AT], TimestampTzGetDatum(img->at), false);
		set_value(next, att[CC_FIRST_ORDER], UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->id)),
				  false);
		set_text(next, att[CC_FIRST_SLUG], &img->text[CT_TEXT_SLUG]);
	}
	if (last_null || img->at > last_at)
		set_value(next, att[CC_LAST_AT], TimestampTzGetDatum(img->at), false);
	return img->text[CT_TEXT_NETWORK].isnull ||
		   add_network(hc, found, next, &img->text[CT_TEXT_NETWORK]);
}

/*
 * customer_increment without a statement: the customer row is found by its
 * key, locked, and replaced by its next version. False, with nothing written,
 * where the statement would have updated no row or add_order() declines.
 */
static bool customer_increment_direct(const HostCache *hc, const OrderImage *img, int order_delta,
									  CustomerChange *change, MemoryContext cxt)
{
	const AttrNumber *att = state_of(hc)->customer_att;
	bool done = false;

	DirectTable *t = ct_direct_begin_row(hc->table_relid[XT_CUSTOMERS], false);
	Datum *key = static_cast<Datum *>(palloc0(sizeof(Datum) * ct_direct_natts(t)));
	key[att[CC_ID] - 1] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->customer));
	key[att[CC_SHOP] - 1] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->shop));
	TupleTableSlot *found = ct_direct_find(t, key);
	if (found != nullptr)
	{
		bool isnull;
		Datum shop = slot_value(found, att[CC_SHOP], &isnull);
		TupleTableSlot *next = ct_direct_next_version(t);
		done = !isnull && memcmp(DatumGetUUIDP(shop)->data, img->shop.data, UUID_LEN) == 0 &&
			   add_order(hc, img, order_delta, found, next);
		if (done)
		{
			slot_state(hc, found, &change->before, cxt);
			slot_state(hc, next, &change->after, cxt);
			ct_direct_update(t);
		}
	}
	ct_direct_end_row(t);
	return done;
}

void ct_customer_lock(const HostCache *hc, const pg_uuid_t *customer, const pg_uuid_t *shop,
					  CustomerChange *change, MemoryContext cxt)
{
	Datum values[2] = {UUIDPGetDatum(const_cast<pg_uuid_t *>(customer)),
					   UUIDPGetDatum(const_cast<pg_uuid_t *>(shop))};

	ct_exec(hc, &customer_lock, values, nullptr, SPI_OK_SELECT);
	memset(change, 0, sizeof(*change));
	change->shop = *shop;
	change->customer = *customer;
	change->known = SPI_processed > 0;
	if (change->known)
		read_state(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &change->before, cxt);
}

void ct_customer_lock_linked(const HostCache *hc, const OrderImage *img, CustomerChange *change,
							 MemoryContext cxt)
{
	ct_customer_lock(hc, &img->customer, &img->shop, change, cxt);
	/*
	 * Gone: a session that removed the customer's last order deleted the row
	 * after this order was linked to it (it cannot see this order yet). The
	 * order links to it, so it is made again and counted by the recomputation.
	 */
	for (int attempt = 0; !change->known; attempt++)
	{
		if (attempt == 10)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("customer_tracking: the customer of order %s keeps being deleted "
							"concurrently; retry the transaction",
							DatumGetCString(DirectFunctionCall1(
								uuid_out, UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->id)))))));
		ct_customer_ensure(hc, img);
		ct_customer_lock(hc, &img->customer, &img->shop, change, cxt);
	}
}

void ct_customer_recompute(const HostCache *hc, CustomerChange *change, MemoryContext cxt)
{
	Datum values[2] = {UUIDPGetDatum(&change->customer), UUIDPGetDatum(&change->shop)};
	bool isnull;

	if (!change->known)
		return;
	ct_exec(hc, &customer_recompute, values, nullptr, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed == 0)
		return;
	read_state(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, RECOMPUTED_ORDERS + 1, &change->after,
			   cxt);
	if (DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, RECOMPUTED_ORDERS,
									&isnull)) == 0)
	{
		ct_exec(hc, &customer_delete, values, nullptr, SPI_OK_DELETE);
		change->after.exists = SPI_processed == 0;
	}
}

bool ct_customer_ensure(const HostCache *hc, const OrderImage *img)
{
	Datum values[CP_COUNT];
	char nulls[CP_COUNT];

	customer_params(img, 0, values, nulls);
	ct_exec(hc, &customer_ensure, values, nulls, SPI_OK_INSERT);
	return SPI_processed > 0;
}

/*
 * Customers the BEFORE trigger created for rows of the running statement.
 * One whose order was not saved after all (INSERT ... ON CONFLICT DO NOTHING,
 * a later BEFORE trigger returning NULL) has no order: the statement-level
 * trigger removes it. (shop, customer) pairs, in TopTransactionContext.
 */
static List *created_customers = NIL;

static void forget_created_at_xact_end(XactEvent event, void *arg) { created_customers = NIL; }

void ct_customers_init(void) { RegisterXactCallback(forget_created_at_xact_end, nullptr); }

bool ct_customers_created(void) { return created_customers != NIL; }

void ct_customers_sweep(const HostCache *hc)
{
	List *created = created_customers;
	ListCell *cell;

	created_customers = NIL;
	foreach (cell, created)
	{
		pg_uuid_t *ids = static_cast<pg_uuid_t *>(lfirst(cell));
		Datum values[2] = {UUIDPGetDatum(&ids[1]), UUIDPGetDatum(&ids[0])};
		ct_exec(hc, &customer_delete, values, nullptr, SPI_OK_DELETE); /* only if order-less */
	}
}

void ct_customer_ensure_linked(const HostCache *hc, const OrderImage *img)
{
	Oid save_userid;
	int save_sec_context;

	if (ct_direct_writes && state_of(hc)->customers_direct)
	{
		Datum key[2] = {UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->customer)),
						UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->shop))};
		CommandCounterIncrement(); /* customers created for earlier rows of this statement */
		if (ct_direct_exists(hc->table_relid[XT_CUSTOMERS], key))
			return;
	}
	ct_begin_as_owner(hc, &save_userid, &save_sec_context);
	if (ct_customer_ensure(hc, img))
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
		pg_uuid_t *ids = static_cast<pg_uuid_t *>(palloc(2 * sizeof(pg_uuid_t)));
		ids[0] = img->shop;
		ids[1] = img->customer;
		created_customers = lappend(created_customers, ids);
		MemoryContextSwitchTo(old);
	}
	ct_end_as_owner(&save_userid, &save_sec_context);
}

void ct_customer_add(const HostCache *hc, const OrderImage *img, int order_delta,
					 CustomerChange *change, MemoryContext cxt)
{
	Datum values[CP_COUNT];
	char nulls[CP_COUNT];

	customer_params(img, order_delta, values, nulls);
	memset(change, 0, sizeof(*change));
	change->shop = img->shop;
	change->customer = img->customer;
	change->known = true;

	if (ct_direct_writes && state_of(hc)->customers_direct)
	{
		if (customer_increment_direct(hc, img, order_delta, change, cxt))
			return;
	}
	else
	{
		ct_exec(hc, &customer_increment, values, nulls, SPI_OK_UPDATE_RETURNING);
		if (SPI_processed > 0)
		{
			read_state(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &change->before, cxt);
			read_state(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1 + SC_COUNT, &change->after,
					   cxt);
			return;
		}
	}
	ct_exec(hc, &customer_create, values, nulls, SPI_OK_INSERT_RETURNING);
	if (SPI_processed > 0)
	{
		change->before.exists = false;
		read_state(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &change->after, cxt);
		return;
	}
	/* Created concurrently, or a backdated first purchase: the ledger already holds the order. */
	ct_customer_lock_linked(hc, img, change, cxt);
	ct_customer_recompute(hc, change, cxt);
}

static Datum pair_values(const pg_uuid_t *shop, const char *slug, const pg_uuid_t *customer,
						 TimestampTz at, Datum *values)
{
	values[0] = UUIDPGetDatum(const_cast<pg_uuid_t *>(shop));
	values[1] = CStringGetTextDatum(slug);
	values[2] = UUIDPGetDatum(const_cast<pg_uuid_t *>(customer));
	values[3] = TimestampTzGetDatum(at);
	return values[0];
}

static void read_pair(HeapTuple tuple, TupleDesc desc, int first, PairState *state)
{
	bool isnull;
	state->purchases = DatumGetInt32(SPI_getbinval(tuple, desc, first, &isnull));
	state->first_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, first + 1, &isnull));
	if (isnull)
		state->purchases = 0;
}

/* pair_increment without a statement; false when the pair has no row yet. */
static bool pair_increment_direct(const HostCache *hc, const OrderImage *img, PairChange *pair)
{
	const AttrNumber *att = state_of(hc)->pair_att;
	bool found_row;

	DirectTable *t = ct_direct_begin_row(hc->table_relid[XT_PAIRS], false);
	Datum *key = static_cast<Datum *>(palloc0(sizeof(Datum) * ct_direct_natts(t)));
	key[att[PC_SHOP] - 1] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->shop));
	key[att[PC_SLUG] - 1] = CStringGetTextDatum(pair->slug);
	key[att[PC_CUSTOMER] - 1] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->customer));
	/* Every writer of a customer's per-slug counts holds the customer's row lock. */
	TupleTableSlot *found = ct_direct_find_guarded(t, key);
	found_row = found != nullptr;
	if (found_row)
	{
		bool isnull;
		TupleTableSlot *next = ct_direct_next_version(t);
		pair->before.purchases = slot_int32(found, att[PC_PURCHASES]);
		pair->before.first_at = DatumGetTimestampTz(slot_value(found, att[PC_FIRST_AT], &isnull));
		pair->after.purchases = add_int32(pair->before.purchases, 1);
		pair->after.first_at = Min(pair->before.first_at, img->at);
		set_value(next, att[PC_PURCHASES], Int32GetDatum(pair->after.purchases), false);
		set_value(next, att[PC_FIRST_AT], TimestampTzGetDatum(pair->after.first_at), false);
		ct_direct_update(t);
	}
	ct_direct_end_row(t);
	return found_row;
}

void ct_pair_add(const HostCache *hc, const OrderImage *img, PairChange *pair)
{
	Datum values[4];
	const TextValue *slug = &img->text[CT_TEXT_SLUG];

	memset(pair, 0, sizeof(*pair));
	pair->shop = img->shop;
	pair->customer = img->customer;
	pair->slug = slug->isnull ? pstrdup("") : pnstrdup(slug->data, slug->len);
	pair_values(&img->shop, pair->slug, &img->customer, img->at, values);

	for (int attempt = 0; attempt < 2; attempt++)
	{
		if (ct_direct_writes && state_of(hc)->pairs_direct)
		{
			if (pair_increment_direct(hc, img, pair))
				return;
		}
		else
		{
			ct_exec(hc, &pair_increment, values, nullptr, SPI_OK_UPDATE_RETURNING);
			if (SPI_processed > 0)
			{
				read_pair(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &pair->before);
				read_pair(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &pair->after);
				return;
			}
		}
		ct_exec(hc, &pair_create, values, nullptr, SPI_OK_INSERT_RETURNING);
		if (SPI_processed > 0)
		{
			pair->after.purchases = 1;
			pair->after.first_at = img->at;
			return;
		}
	}
	elog(ERROR, "customer_tracking: could not count a purchase per slug");
}

void ct_pair_read(const HostCache *hc, const pg_uuid_t *shop, const char *slug,
				  const pg_uuid_t *customer, PairChange *pair)
{
	Datum values[4];

	memset(pair, 0, sizeof(*pair));
	pair->shop = *shop;
	pair->customer = *customer;
	pair->slug = pstrdup(slug);
	pair_values(shop, slug, customer, 0, values);
	ct_exec(hc, &pair_read, values, nullptr, SPI_OK_SELECT);
	if (SPI_processed > 0)
		read_pair(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &pair->before);
}

void ct_pair_recompute(const HostCache *hc, PairChange *pair)
{
	Datum values[4];

	pair_values(&pair->shop, pair->slug, &pair->customer, 0, values);
	ct_exec(hc, &pair_recompute, values, nullptr, SPI_OK_SELECT);
	read_pair(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &pair->after);
}
