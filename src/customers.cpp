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
 * What one added order does to its customer's row (totals, first and last
 * purchase, first order and slug, purchases per network and the preferred
 * one) has one statement: add_order(), in C, on the columns of
 * customer_columns. Whoever writes the row runs it: the direct writer
 * (row_writer.cpp) on the locked row it found, the statement path (tables the
 * direct writer does not take, or customer_tracking.direct_writes off) on the
 * row read by customer_read (SELECT ... FOR UPDATE) before writing its result
 * back with customer_update, and a new customer's INSERT on an empty row; the
 * texts of those statements are generated from customer_columns. A
 * recomputation from the ledger is the other statement of the same numbers
 * (src/sql/fragments/customer_stats.sql, shared with backfill and verify);
 * verify() checks that both agree. Per-slug purchase counts follow the same
 * pattern with their own rule, pair_with_purchase().
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

/* Parameters of the ensure statement ($1 = EP_CUSTOMER + 1, ...): an order's customer. */
enum EnsureParam
{
	EP_CUSTOMER, /* $1 */
	EP_SHOP,	 /* $2 */
	EP_PHONE,	 /* $3 */
	EP_EMAIL,	 /* $4 */
	EP_NAME,	 /* $5 */
	EP_COUNT
};
static const Oid ensure_types[EP_COUNT] = {UUIDOID, UUIDOID, TEXTOID, TEXTOID, TEXTOID};
static const Oid key_types[2] = {UUIDOID, UUIDOID}; /* $1 customer, $2 shop */
/* Per-slug counts: $1 shop, $2 slug ('' = none), $3 customer, $4 purchase time. */
static const Oid pair_types[4] = {UUIDOID, TEXTOID, UUIDOID, TIMESTAMPTZOID};
static const Oid pair_write_types[5] = {UUIDOID, TEXTOID, UUIDOID, INT4OID, TIMESTAMPTZOID};

/*
 * The statement path's parameters: a customer row, $1 = CC_ID + 1 ... (types
 * of customer_columns), then the phone number (creating only).
 */
#define CUSTOMER_PHONE_PARAM CC_COUNT
static Oid row_types[CC_COUNT + 1];

/* customer_columns[i] as an SQL name. */
static const char *column_name(int i) { return quote_identifier(customer_columns[i].name); }

/*
 * A customer row for add_order(), locked: every column of customer_columns in
 * their order, of their types, whatever the table's own (the key is $1, $2).
 */
static char *read_sql(const HostCache *hc)
{
	StringInfoData sql;
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int i = 0; i < CC_COUNT; i++)
		appendStringInfo(&sql, "%s%s::%s", i > 0 ? ", " : "", column_name(i),
						 format_type_be(customer_columns[i].type));
	appendStringInfo(&sql, " FROM %s WHERE %s = $1 AND %s = $2 FOR UPDATE",
					 hc->table_sql[XT_CUSTOMERS], column_name(CC_ID), column_name(CC_SHOP));
	return sql.data;
}

/* Writes back what add_order() made of the row customer_read locked; RETURNING STATE_COLUMNS. */
static char *update_sql(const HostCache *hc)
{
	StringInfoData sql;
	initStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE %s SET ", hc->table_sql[XT_CUSTOMERS]);
	for (int i = CC_SHOP + 1; i < CC_COUNT; i++)
		appendStringInfo(&sql, "%s%s = $%d", i > CC_SHOP + 1 ? ", " : "", column_name(i), i + 1);
	appendStringInfo(&sql, " WHERE %s = $1 AND %s = $2 RETURNING " STATE_COLUMNS(""),
					 column_name(CC_ID), column_name(CC_SHOP));
	return sql.data;
}

/*
 * Creating a customer: add_order() on an empty row, inserted with ON CONFLICT
 * without a target, so that a concurrent creation seen through either unique
 * index (id, or shop and phone) means "exists" rather than a duplicate-key
 * error. updated_at keeps its default.
 */
static char *create_sql(const HostCache *hc)
{
	StringInfoData columns;
	StringInfoData values;
	initStringInfo(&columns);
	initStringInfo(&values);
	appendStringInfoString(&columns, "phone_number");
	appendStringInfo(&values, "$%d", CUSTOMER_PHONE_PARAM + 1);
	for (int i = 0; i < CC_COUNT; i++)
	{
		if (i == CC_UPDATED_AT)
			continue;
		appendStringInfo(&columns, ", %s", column_name(i));
		appendStringInfo(&values, ", $%d", i + 1);
	}
	return psprintf("INSERT INTO %s AS c (%s) VALUES (%s) "
					"ON CONFLICT DO NOTHING RETURNING " STATE_COLUMNS(""),
					hc->table_sql[XT_CUSTOMERS], columns.data, values.data);
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

/* Writes a pair's counts as pair_with_purchase() computed them. */
static char *pair_update_sql(const HostCache *hc)
{
	return psprintf("UPDATE %s SET purchases = $4, first_purchase_at = $5 "
					"WHERE shop_id = $1 AND slug = $2 AND shop_customer_id = $3",
					hc->table_sql[XT_PAIRS]);
}

static char *pair_create_sql(const HostCache *hc)
{
	const char *pairs = hc->table_sql[XT_PAIRS];
	return psprintf("INSERT INTO %s "
					"(shop_id, slug, shop_customer_id, purchases, first_purchase_at) "
					"VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING purchases",
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

static Statement customer_read = {"customer read", read_sql, 2, key_types};
static Statement customer_update = {"customer update", update_sql, CC_COUNT, row_types};
static Statement customer_create = {"customer create", create_sql, CC_COUNT + 1, row_types};
static Statement customer_ensure = {"customer ensure", ensure_sql, EP_COUNT, ensure_types};
static Statement customer_lock = {"customer lock", lock_sql, 2, key_types};
static Statement customer_recompute = {"customer recompute", recompute_sql, 2, key_types};
static Statement customer_delete = {"customer delete", delete_sql, 2, key_types};
static Statement pair_update = {"per-slug update", pair_update_sql, 5, pair_write_types};
static Statement pair_create = {"per-slug create", pair_create_sql, 5, pair_write_types};
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

static void ensure_params(const OrderImage *img, Datum *values, char *nulls)
{
	memset(nulls, ' ', EP_COUNT);
	values[EP_CUSTOMER] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->customer));
	values[EP_SHOP] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->shop));
	values[EP_PHONE] = CStringGetTextDatum(img->e164);
	values[EP_EMAIL] = ct_text_datum(&img->text[CT_TEXT_EMAIL], &nulls[EP_EMAIL]);
	values[EP_NAME] = ct_text_datum(&img->text[CT_TEXT_NAME], &nulls[EP_NAME]);
}

/* A shop_customers row as add_order() reads and writes it: its values by CustomerColumn. */
struct CustomerRow
{
	Datum value[CC_COUNT];
	bool isnull[CC_COUNT];
};

static void set_value(CustomerRow *row, int column, Datum value, bool isnull)
{
	row->value[column] = value;
	row->isnull[column] = isnull;
}

static char *row_text(const CustomerRow *row, int column, MemoryContext cxt)
{
	return row->isnull[column] ? nullptr
							   : MemoryContextStrdup(cxt, TextDatumGetCString(row->value[column]));
}

/* The same state read_state() gives, from a customer row. */
static void row_state(const CustomerRow *row, CustomerState *state, MemoryContext cxt)
{
	state->exists = true;
	state->purchases = DatumGetInt32(row->value[CC_PURCHASES]);
	state->first_null = row->isnull[CC_FIRST_AT];
	state->first_at = DatumGetTimestampTz(row->value[CC_FIRST_AT]);
	state->first_slug = row_text(row, CC_FIRST_SLUG, cxt);
	state->last_null = row->isnull[CC_LAST_AT];
	state->last_at = DatumGetTimestampTz(row->value[CC_LAST_AT]);
	state->preferred = row_text(row, CC_PREFERRED, cxt);
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
static bool add_network(const CustomerRow *found, CustomerRow *next, const TextValue *network)
{
	if (found->isnull[CC_NETWORKS])
		return false;
	Jsonb *networks = DatumGetJsonbP(found->value[CC_NETWORKS]);
	int32 count;
	if (!JB_ROOT_IS_OBJECT(networks))
		return false;
	if (!network_count(networks, network->data, network->len, &count))
		return false;
	count = add_int32(count, 1);
	set_value(next, CC_NETWORKS, network_set(networks, network->data, network->len, count), false);

	bool take = found->isnull[CC_PREFERRED];
	if (!take)
	{
		text *current = DatumGetTextPP(found->value[CC_PREFERRED]);
		const char *name = VARDATA_ANY(current);
		int len = VARSIZE_ANY_EXHDR(current);
		int32 current_count;
		int order = compare_c(network->data, network->len, name, len);
		if (!network_count(networks, name, len, &current_count))
			return false;
		take = order == 0 || count > current_count || (count == current_count && order < 0);
	}
	if (take)
		set_value(next, CC_PREFERRED,
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

static void set_text(CustomerRow *row, int column, const TextValue *value)
{
	char null;
	Datum d = ct_text_datum(value, &null);
	set_value(row, column, d, null == 'n');
}

/*
 * The rule: next is the customer row found with the order added (order_delta
 * orders, and a purchase if it is one). False where the increment does not
 * apply and the customer is recomputed from its ledger rows instead: a
 * purchase before the first one, or network_purchases holding something else
 * than counts (also a NULL count, which the table's NOT NULL rules out).
 */
static bool add_order(const OrderImage *img, int order_delta, const CustomerRow *found,
					  CustomerRow *next)
{
	*next = *found;
	if (found->isnull[CC_ORDERS] || found->isnull[CC_PURCHASES] || found->isnull[CC_SPENT])
		return false;
	if (img->purchase && !found->isnull[CC_FIRST_AT] &&
		before_first_purchase(img->at, &img->id, DatumGetTimestampTz(found->value[CC_FIRST_AT]),
							  found->value[CC_FIRST_ORDER], found->isnull[CC_FIRST_ORDER]))
		return false;
	if (!img->text[CT_TEXT_EMAIL].isnull)
		set_text(next, CC_EMAIL, &img->text[CT_TEXT_EMAIL]);
	if (!img->text[CT_TEXT_NAME].isnull)
		set_text(next, CC_NAME, &img->text[CT_TEXT_NAME]);
	set_value(next, CC_ORDERS,
			  Int32GetDatum(add_int32(DatumGetInt32(found->value[CC_ORDERS]), order_delta)), false);
	set_value(next, CC_UPDATED_AT, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
			  false);
	if (!img->purchase)
		return true;

	set_value(next, CC_PURCHASES,
			  Int32GetDatum(add_int32(DatumGetInt32(found->value[CC_PURCHASES]), 1)), false);
	set_value(next, CC_SPENT, DirectFunctionCall2(numeric_add, found->value[CC_SPENT], img->amount),
			  false);
	if (found->isnull[CC_FIRST_AT])
	{
		set_value(next, CC_FIRST_AT, TimestampTzGetDatum(img->at), false);
		set_value(next, CC_FIRST_ORDER, UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->id)), false);
		set_text(next, CC_FIRST_SLUG, &img->text[CT_TEXT_SLUG]);
	}
	if (found->isnull[CC_LAST_AT] || img->at > DatumGetTimestampTz(found->value[CC_LAST_AT]))
		set_value(next, CC_LAST_AT, TimestampTzGetDatum(img->at), false);
	return img->text[CT_TEXT_NETWORK].isnull ||
		   add_network(found, next, &img->text[CT_TEXT_NETWORK]);
}

/* A customer without a row yet, to which add_order() adds its first order. */
static void empty_row(const OrderImage *img, CustomerRow *row)
{
	for (int i = 0; i < CC_COUNT; i++)
		set_value(row, i, (Datum) 0, true);
	set_value(row, CC_ID, UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->customer)), false);
	set_value(row, CC_SHOP, UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->shop)), false);
	set_value(row, CC_ORDERS, Int32GetDatum(0), false);
	set_value(row, CC_PURCHASES, Int32GetDatum(0), false);
	set_value(row, CC_SPENT, DirectFunctionCall1(int4_numeric, Int32GetDatum(0)), false);
	set_value(row, CC_NETWORKS, DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")), false);
}

/* A column of a row found by the direct writer, or of its next version. */
static Datum slot_value(TupleTableSlot *slot, AttrNumber attnum, bool *isnull)
{
	*isnull = slot->tts_isnull[attnum - 1];
	return slot->tts_values[attnum - 1];
}

static void set_slot_value(TupleTableSlot *slot, AttrNumber attnum, Datum value, bool isnull)
{
	slot->tts_values[attnum - 1] = value;
	slot->tts_isnull[attnum - 1] = isnull;
}

static int32 slot_int32(TupleTableSlot *slot, AttrNumber attnum)
{
	bool isnull;
	return DatumGetInt32(slot_value(slot, attnum, &isnull));
}

/*
 * The increment by the direct writer: the customer row is found by its key,
 * locked, and replaced by what add_order() makes of it. False, with nothing
 * written, where there is no such row or add_order() declines.
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
		CustomerRow before;
		CustomerRow after;
		for (int i = 0; i < CC_COUNT; i++)
			before.value[i] = slot_value(found, att[i], &before.isnull[i]);
		done = !before.isnull[CC_SHOP] &&
			   memcmp(DatumGetUUIDP(before.value[CC_SHOP])->data, img->shop.data, UUID_LEN) == 0 &&
			   add_order(img, order_delta, &before, &after);
		if (done)
		{
			TupleTableSlot *next = ct_direct_next_version(t);
			for (int i = 0; i < CC_COUNT; i++)
				set_slot_value(next, att[i], after.value[i], after.isnull[i]);
			row_state(&before, &change->before, cxt);
			row_state(&after, &change->after, cxt);
			ct_direct_update(t);
		}
	}
	ct_direct_end_row(t);
	return done;
}

/*
 * The same by statements: customer_read locks the row and reads it,
 * customer_update writes what add_order() made of it. False, with nothing
 * written, where there is no such row, add_order() declines, or the update
 * writes no row (a trigger of the table's may skip it).
 */
static bool customer_increment_sql(const HostCache *hc, const OrderImage *img, int order_delta,
								   CustomerChange *change, MemoryContext cxt)
{
	Datum key[2] = {UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->customer)),
					UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->shop))};
	CustomerRow before;
	CustomerRow after;
	char nulls[CC_COUNT];

	ct_exec(hc, &customer_read, key, nullptr, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	for (int i = 0; i < CC_COUNT; i++)
		before.value[i] =
			SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &before.isnull[i]);
	if (!add_order(img, order_delta, &before, &after))
		return false;
	row_state(&before, &change->before, cxt);
	for (int i = 0; i < CC_COUNT; i++)
		nulls[i] = after.isnull[i] ? 'n' : ' ';
	ct_exec(hc, &customer_update, after.value, nulls, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed == 0)
		return false;
	read_state(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &change->after, cxt);
	return true;
}

/* A new customer with the order added; false where it exists already (nothing written). */
static bool customer_create_sql(const HostCache *hc, const OrderImage *img, int order_delta,
								CustomerChange *change, MemoryContext cxt)
{
	CustomerRow empty;
	CustomerRow row;
	Datum values[CC_COUNT + 1];
	char nulls[CC_COUNT + 1];

	empty_row(img, &empty);
	if (!add_order(img, order_delta, &empty, &row))
		elog(ERROR, "customer_tracking: an order cannot be added to a new customer");
	for (int i = 0; i < CC_COUNT; i++)
	{
		values[i] = row.value[i];
		nulls[i] = row.isnull[i] ? 'n' : ' ';
	}
	values[CUSTOMER_PHONE_PARAM] = CStringGetTextDatum(img->e164);
	nulls[CUSTOMER_PHONE_PARAM] = ' ';
	ct_exec(hc, &customer_create, values, nulls, SPI_OK_INSERT_RETURNING);
	if (SPI_processed == 0)
		return false;
	change->before.exists = false;
	read_state(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &change->after, cxt);
	return true;
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
	Datum values[EP_COUNT];
	char nulls[EP_COUNT];

	ensure_params(img, values, nulls);
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

void ct_customers_init(void)
{
	for (int i = 0; i < CC_COUNT; i++)
		row_types[i] = customer_columns[i].type;
	row_types[CUSTOMER_PHONE_PARAM] = TEXTOID;
	RegisterXactCallback(forget_created_at_xact_end, nullptr);
}

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
	memset(change, 0, sizeof(*change));
	change->shop = img->shop;
	change->customer = img->customer;
	change->known = true;

	if (ct_direct_writes && state_of(hc)->customers_direct
			? customer_increment_direct(hc, img, order_delta, change, cxt)
			: customer_increment_sql(hc, img, order_delta, change, cxt))
		return;
	if (customer_create_sql(hc, img, order_delta, change, cxt))
		return;
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

/*
 * The one rule of a purchase through a slug: one more, and the earliest first
 * purchase (a pair without purchases has none yet).
 */
static PairState pair_with_purchase(const PairState *before, TimestampTz at)
{
	PairState after;
	after.purchases = add_int32(before->purchases, 1);
	after.first_at = before->purchases > 0 ? Min(before->first_at, at) : at;
	return after;
}

/* The purchase added to the pair's row in place; false when the pair has no row yet. */
static bool pair_add_direct(const HostCache *hc, const OrderImage *img, PairChange *pair)
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
		pair->after = pair_with_purchase(&pair->before, img->at);
		set_slot_value(next, att[PC_PURCHASES], Int32GetDatum(pair->after.purchases), false);
		set_slot_value(next, att[PC_FIRST_AT], TimestampTzGetDatum(pair->after.first_at), false);
		ct_direct_update(t);
	}
	ct_direct_end_row(t);
	return found_row;
}

/* The purchase added to pair->before, written by stmt (pair_update or pair_create). */
static void pair_write(const HostCache *hc, Statement *stmt, const OrderImage *img,
					   PairChange *pair, const Datum *key, int expected)
{
	pair->after = pair_with_purchase(&pair->before, img->at);
	Datum values[5] = {key[0], key[1], key[2], Int32GetDatum(pair->after.purchases),
					   TimestampTzGetDatum(pair->after.first_at)};
	ct_exec(hc, stmt, values, nullptr, expected);
}

/* A new pair row holding the purchase; false when it exists already (nothing written). */
static bool pair_create_row(const HostCache *hc, const OrderImage *img, PairChange *pair,
							const Datum *key)
{
	memset(&pair->before, 0, sizeof(pair->before));
	pair_write(hc, &pair_create, img, pair, key, SPI_OK_INSERT_RETURNING);
	return SPI_processed > 0;
}

/* pair_add_direct() through statements (the row read, the rule applied, written back). */
static bool pair_add_statement(const HostCache *hc, const OrderImage *img, PairChange *pair,
							   Datum *key)
{
	ct_exec(hc, &pair_read, key, nullptr, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	read_pair(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &pair->before);
	pair_write(hc, &pair_update, img, pair, key, SPI_OK_UPDATE);
	return true;
}

void ct_pair_add(const HostCache *hc, const OrderImage *img, PairChange *pair)
{
	Datum key[4];
	const TextValue *slug = &img->text[CT_TEXT_SLUG];

	memset(pair, 0, sizeof(*pair));
	pair->shop = img->shop;
	pair->customer = img->customer;
	pair->slug = slug->isnull ? pstrdup("") : pnstrdup(slug->data, slug->len);
	pair_values(&img->shop, pair->slug, &img->customer, img->at, key);

	/* A second round when the pair was created concurrently. */
	for (int attempt = 0; attempt < 2; attempt++)
	{
		bool added = ct_direct_writes && state_of(hc)->pairs_direct
						 ? pair_add_direct(hc, img, pair)
						 : pair_add_statement(hc, img, pair, key);
		if (added || pair_create_row(hc, img, pair, key))
			return;
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
