/*
 * rollup.cpp: per-shop rollups that dashboard functions read instead of
 * scanning customers or orders.
 *
 * Every event is turned into deltas: an order's old contribution (its ledger
 * row) is subtracted and its new one added; a customer's state before is
 * subtracted and after added; likewise per (customer, slug). Deltas are
 * summed per key here, then written by one statement per shop.
 *
 * Rows are striped by backend (stripe = the backend id, unique among live
 * sessions): two sessions taking orders for the same shop never update the
 * same rollup row, so a popular shop's orders neither queue on one row lock
 * nor deadlock across multi-statement transactions. Stripes are bounded by
 * max_connections; readers sum them. Stripe 0 is left to repairs.
 */
#include "rollup.h"

#include "statements.h"
#include "row_writer.h"

extern "C" {
#include "catalog/pg_type.h"
#include "access/table.h"
#include "access/xact.h"
#include "storage/backendid.h"
#include "lib/stringinfo.h"
#include "utils/memutils.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
}


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

/* Where a rollup column's value comes from . */
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

static_assert(XT_COUNT == XT_ROLLUPS + R_TABLES, "every rollup table is an extension table");

/* One rollup row's delta. Keys are (day), (slug, day), (network) or (purchases). */
struct RollupDelta
{
	const char *text; /* slug or network */
	DateADT day;
	int32 count_key; /* purchases bucket */
	int64 checkouts;
	int64 purchases;
	Datum revenue; /* numeric */
	int64 new_customers;
	int64 repeat_customers;
	int64 customers;
	int64 last_purchasers;
	int64 preferring;
};

/* Key arrays grow in the memory context the ShopDeltas was made in. */
struct KeyArray
{
	RollupDelta *rows;
	int n;
	int cap;
};

struct ShopDeltas
{
	pg_uuid_t shop;
	const HostCache *hc; /* where its rows are (on Citus, the shard of the shop's orders) */
	int64 customers;
	int64 repeat_customers;
	int64 purchases;
	int64 checkouts;
	Datum revenue;
	KeyArray daily, slug, network, frequency;
};

/*
 * Deltas of the running statement, per subtransaction level, written by the
 * statement-level trigger (customer_tracking_flush) in one statement per shop:
 * a bulk INSERT ... SELECT, COPY or backfill updates each rollup row once
 * instead of once per order (repeated updates of one row in one transaction
 * leave ever longer version chains to walk). A subtransaction's deltas go
 * with it on abort and to its parent on commit.
 */
struct PendingLevel
{
	SubTransactionId subxid;
	MemoryContext cxt;
	List *shops; /* ShopDeltas * */
	int keys;
	int events;
	PendingLevel *parent;
};

static PendingLevel *pending = nullptr; /* innermost level with deltas */
static const HostCache *pending_cache = nullptr;

#define FLUSH_AFTER_KEYS   2000
#define FLUSH_AFTER_EVENTS 20000

/* Each rollup table's columns and what they hold. */
struct RollupColumn
{
	const char *name;
	RollupSource source;
	Oid type;
};

static constexpr RollupColumn rollup_columns[R_TABLES][CT_ROLLUP_MAX_COLUMNS] = {
	{{"shop_id", RS_SHOP, UUIDOID},
	 {"stripe", RS_STRIPE, INT2OID},
	 {"customers", RS_CUSTOMERS, INT8OID},
	 {"repeat_customers", RS_REPEAT_CUSTOMERS, INT8OID},
	 {"purchases", RS_PURCHASES, INT8OID},
	 {"revenue", RS_REVENUE, NUMERICOID},
	 {"checkouts", RS_CHECKOUTS, INT8OID}},
	{{"shop_id", RS_SHOP, UUIDOID},
	 {"day", RS_DAY, DATEOID},
	 {"stripe", RS_STRIPE, INT2OID},
	 {"checkouts", RS_CHECKOUTS, INT8OID},
	 {"purchases", RS_PURCHASES, INT8OID},
	 {"revenue", RS_REVENUE, NUMERICOID},
	 {"new_customers", RS_NEW_CUSTOMERS, INT8OID},
	 {"last_purchasers", RS_LAST_PURCHASERS, INT8OID}},
	{{"shop_id", RS_SHOP, UUIDOID},
	 {"slug", RS_TEXT, TEXTOID},
	 {"day", RS_DAY, DATEOID},
	 {"stripe", RS_STRIPE, INT2OID},
	 {"checkouts", RS_CHECKOUTS, INT8OID},
	 {"purchases", RS_PURCHASES, INT8OID},
	 {"revenue", RS_REVENUE, NUMERICOID},
	 {"new_customers", RS_NEW_CUSTOMERS, INT8OID},
	 {"repeat_customers", RS_REPEAT_CUSTOMERS, INT8OID},
	 {"customers", RS_CUSTOMERS, INT8OID}},
	{{"shop_id", RS_SHOP, UUIDOID},
	 {"network", RS_TEXT, TEXTOID},
	 {"stripe", RS_STRIPE, INT2OID},
	 {"customers_preferring", RS_PREFERRING, INT8OID},
	 {"purchases", RS_PURCHASES, INT8OID},
	 {"revenue", RS_REVENUE, NUMERICOID}},
	{{"shop_id", RS_SHOP, UUIDOID},
	 {"purchases", RS_COUNT_KEY, INT4OID},
	 {"stripe", RS_STRIPE, INT2OID},
	 {"customers", RS_CUSTOMERS, INT8OID}}};

/* A table's layout, or false when it has columns this file does not know. */
static bool resolve_layout(const HostCache *hc, int table, RollupLayout *layout)
{
	layout->relid = hc->table_relid[XT_ROLLUPS + table];
	if (!OidIsValid(layout->relid))
		return false;
	Relation rel = table_open(layout->relid, RowExclusiveLock);
	TupleDesc desc = RelationGetDescr(rel);
	bool known = desc->natts <= CT_ROLLUP_MAX_COLUMNS;
	layout->natts = desc->natts;
	for (int i = 0; i < desc->natts && known; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		known = false;
		for (const RollupColumn *c = rollup_columns[table]; c->name != nullptr && !known; c++)
			if (!att->attisdropped && strcmp(NameStr(att->attname), c->name) == 0 &&
				att->atttypid == c->type)
			{
				layout->source[i] = c->source;
				known = true;
			}
	}
	known = known && ct_row_writer_usable(rel);
	table_close(rel, NoLock);
	return known;
}

/*
 * The statement for tables direct writes do not take, made from rollup_columns
 * as the direct writes are: every rollup row of one shop in one statement, an
 * INSERT ... ON CONFLICT DO UPDATE per table adding the deltas. Parameters: $1
 * the shop, $2 the stripe, then one array per other column of each table, in
 * rollup_columns order (the rows of that table with a nonzero delta).
 */
static constexpr bool shop_or_stripe(RollupSource s) { return s == RS_SHOP || s == RS_STRIPE; }
static constexpr bool key_column(RollupSource s) { return s <= RS_COUNT_KEY; }

static constexpr Oid array_type_of(Oid type)
{
	switch (type)
	{
		case DATEOID:
			return DATEARRAYOID;
		case TEXTOID:
			return TEXTARRAYOID;
		case INT4OID:
			return INT4ARRAYOID;
		case INT8OID:
			return INT8ARRAYOID;
		default:
			return NUMERICARRAYOID;
	}
}

static constexpr int count_params()
{
	int n = 2;
	for (const auto &table : rollup_columns)
		for (const RollupColumn &c : table)
			if (c.name != nullptr && !shop_or_stripe(c.source))
				n++;
	return n;
}
static constexpr int ROLLUP_NPARAMS = count_params();

struct RollupTypes
{
	Oid types[ROLLUP_NPARAMS];
};
static constexpr RollupTypes param_types()
{
	RollupTypes p{};
	int n = 2;
	p.types[0] = UUIDOID; /* $1 shop */
	p.types[1] = INT2OID; /* $2 stripe */
	for (const auto &table : rollup_columns)
		for (const RollupColumn &c : table)
			if (c.name != nullptr && !shop_or_stripe(c.source))
				p.types[n++] = array_type_of(c.type);
	return p;
}
static constexpr RollupTypes rollup_types = param_types();

static char *rollup_sql(const HostCache *hc)
{
	StringInfoData sql;
	int param = 3;

	initStringInfo(&sql);
	for (int t = 0; t < R_TABLES; t++)
	{
		StringInfoData columns, select, arrays, names, keys, set;
		initStringInfo(&columns);
		initStringInfo(&select);
		initStringInfo(&arrays);
		initStringInfo(&names);
		initStringInfo(&keys);
		initStringInfo(&set);
		for (int i = 0; i < CT_ROLLUP_MAX_COLUMNS && rollup_columns[t][i].name != nullptr; i++)
		{
			const RollupColumn *c = &rollup_columns[t][i];
			const char *sep = i == 0 ? "" : ", ";
			appendStringInfo(&columns, "%s%s", sep, c->name);
			if (c->source == RS_SHOP)
				appendStringInfo(&select, "%s$1", sep);
			else if (c->source == RS_STRIPE)
				appendStringInfo(&select, "%s$2", sep);
			else
			{
				appendStringInfo(&select, "%su.c%d", sep, i);
				appendStringInfo(&arrays, "%s$%d", arrays.len == 0 ? "" : ", ", param++);
				appendStringInfo(&names, "%sc%d", names.len == 0 ? "" : ", ", i);
			}
			if (key_column(c->source))
				appendStringInfo(&keys, "%s%s", keys.len == 0 ? "" : ", ", c->name);
			else
				appendStringInfo(&set, "%s%s = r.%s + EXCLUDED.%s", set.len == 0 ? "" : ", ",
								 c->name, c->name, c->name);
		}
		/* Every table but the last in a CTE of the last one's INSERT. */
		if (t < R_TABLES - 1)
			appendStringInfo(&sql, "%sx%d AS (", t == 0 ? "WITH " : ", ", t);
		else
			appendStringInfoChar(&sql, ' ');
		appendStringInfo(&sql,
						 "INSERT INTO %s AS r (%s) SELECT %s FROM unnest(%s) AS u(%s) "
						 "ON CONFLICT (%s) DO UPDATE SET %s",
						 hc->table_sql[XT_ROLLUPS + t], columns.data, select.data, arrays.data,
						 names.data, keys.data, set.data);
		if (t < R_TABLES - 1)
			appendStringInfoChar(&sql, ')');
	}
	return sql.data;
}
static Statement rollup_write = {"rollup write", rollup_sql, ROLLUP_NPARAMS, rollup_types.types};

/* Whether every rollup table takes direct writes, and their layouts. */
struct RollupState
{
	bool direct;
	RollupLayout tables[R_TABLES];
};

static void build_state(const HostCache *hc, void *p)
{
	RollupState *state = static_cast<RollupState *>(p);
	state->direct = true;
	for (int t = 0; t < R_TABLES; t++)
		if (!resolve_layout(hc, t, &state->tables[t]))
			state->direct = false;
}
static ModuleState rollup_state = {"rollups", sizeof(RollupState), build_state};

/* The UTC calendar day of a time: the rollups' day. */
static DateADT utc_day(TimestampTz t)
{
	int64 days = t / USECS_PER_DAY;
	if (t < 0 && t % USECS_PER_DAY != 0)
		days--;
	return static_cast<DateADT>(days);
}

static Datum numeric_plus(Datum a, Datum b) { return DirectFunctionCall2(numeric_add, a, b); }

static Datum numeric_times(Datum a, int sign)
{
	return sign >= 0 ? a : DirectFunctionCall1(numeric_uminus, a);
}

/*
 * The shop's deltas in a list (allocated in the current memory context),
 * written where hc says (the latest cache the shop's orders were applied with).
 */
static ShopDeltas *shop_deltas(List **shops, const pg_uuid_t *shop, const HostCache *hc, Datum zero)
{
	ListCell *lc;
	foreach (lc, *shops)
	{
		ShopDeltas *d = static_cast<ShopDeltas *>(lfirst(lc));
		if (memcmp(d->shop.data, shop->data, UUID_LEN) == 0)
		{
			if (hc != nullptr)
				d->hc = hc;
			return d;
		}
	}
	ShopDeltas *d = static_cast<ShopDeltas *>(palloc0(sizeof(ShopDeltas)));
	d->shop = *shop;
	d->hc = hc;
	d->revenue = zero;
	*shops = lappend(*shops, d);
	return d;
}

static int new_keys = 0; /* keys created since the counter was read */

static RollupDelta *find_key(KeyArray *a, const char *text, DateADT day, int32 count_key,
							 Datum zero)
{
	for (int i = 0; i < a->n; i++)
		if (a->rows[i].day == day && a->rows[i].count_key == count_key &&
			((a->rows[i].text == nullptr && text == nullptr) ||
			 (a->rows[i].text != nullptr && text != nullptr && strcmp(a->rows[i].text, text) == 0)))
			return &a->rows[i];
	if (a->n == a->cap)
	{
		a->cap = a->cap == 0 ? 8 : a->cap * 2;
		a->rows = static_cast<RollupDelta *>(a->rows == nullptr
												 ? palloc(sizeof(RollupDelta) * a->cap)
												 : repalloc(a->rows, sizeof(RollupDelta) * a->cap));
	}
	RollupDelta *r = &a->rows[a->n++];
	memset(r, 0, sizeof(*r));
	r->text = text != nullptr ? pstrdup(text) : nullptr;
	r->day = day;
	r->count_key = count_key;
	r->revenue = zero;
	new_keys++;
	return r;
}

/* An order's contribution: checkouts always, purchases and revenue when paid. */
static void add_order(ShopDeltas *d, const char *slug, const char *network, TimestampTz at,
					  bool purchase, Datum amount, int sign, Datum zero)
{
	DateADT day = utc_day(at);
	RollupDelta *daily = find_key(&d->daily, nullptr, day, 0, zero);
	RollupDelta *by_slug = find_key(&d->slug, slug, day, 0, zero);

	d->checkouts += sign;
	daily->checkouts += sign;
	by_slug->checkouts += sign;
	if (!purchase)
		return;
	Datum signed_amount = numeric_times(amount, sign);
	d->purchases += sign;
	d->revenue = numeric_plus(d->revenue, signed_amount);
	daily->purchases += sign;
	daily->revenue = numeric_plus(daily->revenue, signed_amount);
	by_slug->purchases += sign;
	by_slug->revenue = numeric_plus(by_slug->revenue, signed_amount);
	if (network != nullptr)
	{
		RollupDelta *by_network = find_key(&d->network, network, 0, 0, zero);
		by_network->purchases += sign;
		by_network->revenue = numeric_plus(by_network->revenue, signed_amount);
	}
}

/* A customer's contribution: counted while it has a purchase. */
static void add_customer(ShopDeltas *d, const CustomerState *c, int sign, Datum zero)
{
	if (!c->exists || c->purchases < 1)
		return;
	const char *first_slug = c->first_slug != nullptr ? c->first_slug : "";
	DateADT first_day = utc_day(c->first_at);
	RollupDelta *acquired = find_key(&d->slug, first_slug, first_day, 0, zero);

	d->customers += sign;
	find_key(&d->daily, nullptr, first_day, 0, zero)->new_customers += sign;
	find_key(&d->daily, nullptr, utc_day(c->last_at), 0, zero)->last_purchasers += sign;
	acquired->new_customers += sign;
	if (c->purchases >= 2)
	{
		d->repeat_customers += sign;
		acquired->repeat_customers += sign;
	}
	if (c->preferred != nullptr)
		find_key(&d->network, c->preferred, 0, 0, zero)->preferring += sign;
	find_key(&d->frequency, nullptr, 0, c->purchases, zero)->customers += sign;
}

/* A (customer, slug) pair's contribution: one customer reached via the slug, on its first day. */
static void add_pair(ShopDeltas *d, const char *slug, const PairState *p, int sign, Datum zero)
{
	if (p->purchases < 1)
		return;
	find_key(&d->slug, slug, utc_day(p->first_at), 0, zero)->customers += sign;
}

static bool numeric_nonzero(Datum value, Datum zero)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, value, zero)) != 0;
}

static bool nonzero(const RollupDelta *r, Datum zero)
{
	return r->checkouts || r->purchases || r->new_customers || r->repeat_customers ||
		   r->customers || r->last_purchasers || r->preferring || numeric_nonzero(r->revenue, zero);
}

static ArrayType *array_of(Datum *items, int n, Oid type)
{
	int16 len;
	bool byval;
	char align;
	get_typlenbyvalalign(type, &len, &byval, &align);
	return construct_array(items, n, type, len, byval, align);
}

/* The value of a rollup column for one row of deltas. */
static Datum value_of(RollupSource source, const ShopDeltas *d, const RollupDelta *r)
{
	switch (source)
	{
		case RS_SHOP:
			return UUIDPGetDatum(const_cast<pg_uuid_t *>(&d->shop));
		case RS_STRIPE:
			return Int16GetDatum(static_cast<int16>(MyBackendId));
		case RS_DAY:
			return DateADTGetDatum(r->day);
		case RS_TEXT:
			return CStringGetTextDatum(r->text);
		case RS_COUNT_KEY:
			return Int32GetDatum(r->count_key);
		case RS_CHECKOUTS:
			return Int64GetDatum(r->checkouts);
		case RS_PURCHASES:
			return Int64GetDatum(r->purchases);
		case RS_REVENUE:
			return r->revenue;
		case RS_NEW_CUSTOMERS:
			return Int64GetDatum(r->new_customers);
		case RS_REPEAT_CUSTOMERS:
			return Int64GetDatum(r->repeat_customers);
		case RS_CUSTOMERS:
			return Int64GetDatum(r->customers);
		case RS_LAST_PURCHASERS:
			return Int64GetDatum(r->last_purchasers);
		case RS_PREFERRING:
			return Int64GetDatum(r->preferring);
	}
	return (Datum) 0;
}

/* One rollup row's values, in the table's column order. */
static Datum *row_values(const RollupLayout *layout, const ShopDeltas *d, const RollupDelta *r)
{
	Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * layout->natts));
	for (int i = 0; i < layout->natts; i++)
		values[i] = value_of(layout->source[i], d, r);
	return values;
}

/* The rows of each table: the shop's totals are one row (in *totals), the others keyed. */
static const KeyArray *rows_of(const ShopDeltas *d, int table, RollupDelta *totals,
							   KeyArray *total_keys)
{
	switch (table)
	{
		case R_SHOP_TOTALS:
			memset(totals, 0, sizeof(*totals));
			totals->customers = d->customers;
			totals->repeat_customers = d->repeat_customers;
			totals->purchases = d->purchases;
			totals->checkouts = d->checkouts;
			totals->revenue = d->revenue;
			*total_keys = {totals, 1, 1};
			return total_keys;
		case R_DAILY:
			return &d->daily;
		case R_SLUG_DAILY:
			return &d->slug;
		case R_NETWORK_TOTALS:
			return &d->network;
		default:
			return &d->frequency;
	}
}

/* The rows of one table with a nonzero delta, written directly. */
static void write_rows(const RollupState *state, int table, const ShopDeltas *d,
					   const KeyArray *keys, Datum zero)
{
	const RollupLayout *layout = &state->tables[table];
	Datum **rows = static_cast<Datum **>(palloc(sizeof(Datum *) * (keys->n + 1)));
	int n = 0;
	for (int i = 0; i < keys->n; i++)
		if (nonzero(&keys->rows[i], zero))
			rows[n++] = row_values(layout, d, &keys->rows[i]);
	ct_row_writer_add(layout->relid, n, rows);
}

static void write_shop_direct(const RollupState *state, const ShopDeltas *d, Datum zero)
{
	RollupDelta totals;
	KeyArray total_keys;

	/*
	 * A new command first, as every SPI statement starts one: rows this
	 * transaction wrote earlier in the same command (an earlier flush) must be
	 * lockable. Another after, so later readers in this command see the writes.
	 */
	CommandCounterIncrement();
	for (int t = 0; t < R_TABLES; t++)
		write_rows(state, t, d, rows_of(d, t, &totals, &total_keys), zero);
	CommandCounterIncrement();
}

static void write_shop(const HostCache *hc, ShopDeltas *d, Datum zero)
{
	Datum values[ROLLUP_NPARAMS];
	bool any = d->customers || d->repeat_customers || d->purchases || d->checkouts ||
			   numeric_nonzero(d->revenue, zero);

	for (int i = 0; i < d->daily.n && !any; i++)
		any = nonzero(&d->daily.rows[i], zero);
	for (int i = 0; i < d->slug.n && !any; i++)
		any = nonzero(&d->slug.rows[i], zero);
	for (int i = 0; i < d->network.n && !any; i++)
		any = nonzero(&d->network.rows[i], zero);
	for (int i = 0; i < d->frequency.n && !any; i++)
		any = nonzero(&d->frequency.rows[i], zero);
	if (!any)
		return;
	if (ct_direct_writes)
	{
		const RollupState *state =
			static_cast<const RollupState *>(ct_module_state(hc, &rollup_state));
		if (state->direct)
		{
			write_shop_direct(state, d, zero);
			return;
		}
	}

	values[0] = UUIDPGetDatum(&d->shop);
	values[1] = Int16GetDatum(static_cast<int16>(MyBackendId));
	int param = 2;
	for (int t = 0; t < R_TABLES; t++)
	{
		RollupDelta totals;
		KeyArray total_keys;
		const KeyArray *keys = rows_of(d, t, &totals, &total_keys);
		const RollupDelta **rows =
			static_cast<const RollupDelta **>(palloc(sizeof(RollupDelta *) * (keys->n + 1)));
		int n = 0;
		for (int i = 0; i < keys->n; i++)
			if (nonzero(&keys->rows[i], zero))
				rows[n++] = &keys->rows[i];
		Datum *items = static_cast<Datum *>(palloc(sizeof(Datum) * (n + 1)));
		for (int i = 0; i < CT_ROLLUP_MAX_COLUMNS && rollup_columns[t][i].name != nullptr; i++)
		{
			const RollupColumn *c = &rollup_columns[t][i];
			if (shop_or_stripe(c->source))
				continue;
			for (int k = 0; k < n; k++)
				items[k] = value_of(c->source, d, rows[k]);
			values[param++] = PointerGetDatum(array_of(items, n, c->type));
		}
	}
	ct_exec(hc, &rollup_write, values, nullptr, SPI_OK_INSERT);
}

/* Adds an event's deltas to shops (in the current memory context). */
static void add_event(List **shops, const HostCache *hc, const LedgerRow *before,
					  const OrderImage *after, const EventChanges *changes, Datum zero)
{
	if (before != nullptr && before->present)
		add_order(shop_deltas(shops, &before->shop, hc, zero),
				  before->slug_null ? "" : before->slug,
				  before->network_null ? nullptr : before->network, before->at, before->purchase,
				  before->amount, -1, zero);
	if (after != nullptr && after->trackable)
	{
		const TextValue *slug = &after->text[CT_TEXT_SLUG];
		const TextValue *network = &after->text[CT_TEXT_NETWORK];
		add_order(shop_deltas(shops, &after->shop, hc, zero),
				  slug->isnull ? "" : pnstrdup(slug->data, slug->len),
				  network->isnull ? nullptr : pnstrdup(network->data, network->len), after->at,
				  after->purchase, after->amount, +1, zero);
	}
	for (int i = 0; changes != nullptr && i < changes->ncustomers; i++)
	{
		const CustomerChange *c = &changes->customers[i];
		if (!c->known)
			continue;
		ShopDeltas *d = shop_deltas(shops, &c->shop, hc, zero);
		add_customer(d, &c->before, -1, zero);
		add_customer(d, &c->after, +1, zero);
	}
	for (int i = 0; changes != nullptr && i < changes->npairs; i++)
	{
		const PairChange *p = &changes->pairs[i];
		ShopDeltas *d = shop_deltas(shops, &p->shop, hc, zero);
		add_pair(d, p->slug, &p->before, -1, zero);
		add_pair(d, p->slug, &p->after, +1, zero);
	}
}

/* The level for the current subtransaction, made on first use. */
static PendingLevel *current_level(void)
{
	SubTransactionId subxid = GetCurrentSubTransactionId();
	if (pending != nullptr && pending->subxid == subxid)
		return pending;
	PendingLevel *level = static_cast<PendingLevel *>(
		MemoryContextAllocZero(TopTransactionContext, sizeof(PendingLevel)));
	level->subxid = subxid;
	level->cxt = AllocSetContextCreate(TopTransactionContext, "customer_tracking pending rollups",
									   ALLOCSET_DEFAULT_SIZES);
	level->parent = pending;
	pending = level;
	return level;
}

static void write_level(const HostCache *hc, PendingLevel *level)
{
	ListCell *lc;
	/* One statement per shop: each statement touches one shop's rows. */
	foreach (lc, level->shops)
	{
		ShopDeltas *d = static_cast<ShopDeltas *>(lfirst(lc));
		write_shop(d->hc != nullptr ? d->hc : hc, d, hc->zero);
	}
	MemoryContextReset(level->cxt);
	level->shops = NIL;
	level->keys = 0;
	level->events = 0;
}

void ct_rollup_apply(const HostCache *hc, const LedgerRow *before, const OrderImage *after,
					 const EventChanges *changes)
{
	PendingLevel *level = current_level();
	MemoryContext old = MemoryContextSwitchTo(level->cxt);
	new_keys = 0;
	add_event(&level->shops, hc, before, after, changes, hc->zero);
	MemoryContextSwitchTo(old);
	level->keys += new_keys;
	level->events++;
	pending_cache = hc;
	/* Bounded memory and search time for huge statements. */
	if (level->keys > FLUSH_AFTER_KEYS || level->events > FLUSH_AFTER_EVENTS)
		write_level(hc, level);
}

void ct_rollup_flush(const HostCache *hc)
{
	if (pending != nullptr && pending->subxid == GetCurrentSubTransactionId())
		write_level(hc, pending);
}

bool ct_rollup_pending(void)
{
	for (PendingLevel *level = pending; level != nullptr; level = level->parent)
		if (level->shops != NIL)
			return true;
	return false;
}

const HostCache *ct_rollup_pending_cache(void) { return pending_cache; }

/* to += from, for every counter. */
static void add_delta(RollupDelta *to, const RollupDelta *from)
{
	to->checkouts += from->checkouts;
	to->purchases += from->purchases;
	to->revenue = numeric_plus(to->revenue, from->revenue);
	to->new_customers += from->new_customers;
	to->repeat_customers += from->repeat_customers;
	to->customers += from->customers;
	to->last_purchasers += from->last_purchasers;
	to->preferring += from->preferring;
}

/* Merges a committed subtransaction's deltas into its parent's. */
static void merge_into_parent(PendingLevel *child, SubTransactionId parent_subxid)
{
	PendingLevel *parent = child->parent;
	if (parent == nullptr || parent->subxid != parent_subxid)
	{
		/* The parent had no deltas of its own: the child's become its. */
		child->subxid = parent_subxid;
		return;
	}
	MemoryContext old = MemoryContextSwitchTo(parent->cxt);
	ListCell *lc;
	Datum zero = pending_cache->zero;
	new_keys = 0;
	foreach (lc, child->shops)
	{
		ShopDeltas *c = static_cast<ShopDeltas *>(lfirst(lc));
		ShopDeltas *p = shop_deltas(&parent->shops, &c->shop, c->hc, zero);
		p->customers += c->customers;
		p->repeat_customers += c->repeat_customers;
		p->purchases += c->purchases;
		p->checkouts += c->checkouts;
		p->revenue = numeric_plus(p->revenue, c->revenue);
		KeyArray *from[4] = {&c->daily, &c->slug, &c->network, &c->frequency};
		KeyArray *to[4] = {&p->daily, &p->slug, &p->network, &p->frequency};
		for (int k = 0; k < 4; k++)
			for (int i = 0; i < from[k]->n; i++)
			{
				RollupDelta *f = &from[k]->rows[i];
				add_delta(find_key(to[k], f->text, f->day, f->count_key, zero), f);
			}
	}
	MemoryContextSwitchTo(old);
	parent->keys += new_keys;
	parent->events += child->events;
	pending = parent;
	MemoryContextDelete(child->cxt);
}

static void at_subxact_end(SubXactEvent event, SubTransactionId subxid,
						   SubTransactionId parent_subxid, void *arg)
{
	if (pending == nullptr || pending->subxid != subxid)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		/* The statements that made these deltas were rolled back. */
		PendingLevel *level = pending;
		pending = level->parent;
		MemoryContextDelete(level->cxt);
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		merge_into_parent(pending, parent_subxid);
}

static void at_xact_end(XactEvent event, void *arg)
{
	/*
	 * Before commit, nothing may stay unwritten: when the statement trigger
	 * did not fire (disabled, or session_replication_role let only the row
	 * trigger fire), write here.
	 */
	if ((event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE) && ct_rollup_pending())
	{
		Oid save_userid;
		int save_sec_context;
		ct_begin_as_owner(pending_cache, &save_userid, &save_sec_context);
		for (PendingLevel *level = pending; level != nullptr; level = level->parent)
			write_level(pending_cache, level);
		ct_end_as_owner(&save_userid, &save_sec_context);
		return;
	}

	/* All pending memory lives in TopTransactionContext: forget it. */
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
	{
		pending = nullptr;
		pending_cache = nullptr;
	}
}

void ct_rollup_init(void)
{
	RegisterSubXactCallback(at_subxact_end, nullptr);
	RegisterXactCallback(at_xact_end, nullptr);
}
