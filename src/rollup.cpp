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

static const char *const rollup_names[R_TABLES] = {
	"customer_tracking_shop_totals", "customer_tracking_daily", "customer_tracking_slug_daily",
	"customer_tracking_network_totals", "customer_tracking_frequency"};

static const RollupColumn rollup_columns[R_TABLES][CT_ROLLUP_MAX_COLUMNS] = {
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
 * The statement for tables direct writes do not take: every rollup row of one
 * shop in one statement. Parameters: $1 shop, $2 stripe, $3-$7 the shop's
 * totals, then one array per column of each keyed table (first_param_of).
 */
static const Oid rollup_types[] = {
	UUIDOID,		 INT2OID,	   INT8OID,		 INT8OID,
	INT8OID,		 NUMERICOID,   INT8OID, /* totals */
	DATEARRAYOID,	 INT8ARRAYOID, INT8ARRAYOID, NUMERICARRAYOID,
	INT8ARRAYOID,	 INT8ARRAYOID, /* daily */
	TEXTARRAYOID,	 DATEARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
	NUMERICARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID,	  /* slug */
	TEXTARRAYOID,	 INT8ARRAYOID, INT8ARRAYOID, NUMERICARRAYOID, /* network */
	INT4ARRAYOID,	 INT8ARRAYOID};

/* Where each keyed table's arrays start ($N = index + 1). */
enum RollupParam
{
	RP_SHOP = 0,
	RP_STRIPE = 1,
	RP_TOTALS = 2,	   /* customers, repeat customers, purchases, revenue, checkouts */
	RP_DAILY = 7,	   /* day, checkouts, purchases, revenue, new customers, last purchasers */
	RP_SLUG = 13,	   /* slug, day, checkouts, purchases, revenue, new, repeat, customers */
	RP_NETWORK = 21,   /* network, preferring, purchases, revenue */
	RP_FREQUENCY = 25, /* purchases bucket, customers */
	RP_COUNT = 27
};
static_assert(lengthof(rollup_types) == RP_COUNT, "one type per parameter");

static char *rollup_sql(const HostCache *hc)
{
	const char *const *t = &hc->table_sql[XT_ROLLUPS];
	return psprintf(
		"WITH t AS (INSERT INTO %s AS r "
		"(shop_id, stripe, customers, repeat_customers, purchases, revenue, checkouts) "
		"SELECT $1, $2, $3, $4, $5, $6, $7 WHERE $3 <> 0 OR $4 <> 0 OR $5 <> 0 OR $6 <> 0 OR "
		"$7 <> 0 "
		"ON CONFLICT (shop_id, stripe) DO UPDATE SET customers = r.customers + "
		"EXCLUDED.customers, "
		"repeat_customers = r.repeat_customers + EXCLUDED.repeat_customers, "
		"purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue, "
		"checkouts = r.checkouts + EXCLUDED.checkouts), "
		"d AS (INSERT INTO %s AS r "
		"(shop_id, day, stripe, checkouts, purchases, revenue, new_customers, last_purchasers) "
		"SELECT $1, u.day, $2, u.c, u.p, u.v, u.n, u.l FROM unnest($8, $9, $10, $11, $12, $13) "
		"AS u(day, c, p, v, n, l) "
		"ON CONFLICT (shop_id, day, stripe) DO UPDATE SET checkouts = r.checkouts + "
		"EXCLUDED.checkouts, "
		"purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue, "
		"new_customers = r.new_customers + EXCLUDED.new_customers, "
		"last_purchasers = r.last_purchasers + EXCLUDED.last_purchasers), "
		"s AS (INSERT INTO %s AS r "
		"(shop_id, slug, day, stripe, checkouts, purchases, revenue, new_customers, "
		"repeat_customers, customers) "
		"SELECT $1, u.slug, u.day, $2, u.c, u.p, u.v, u.n, u.r, u.k "
		"FROM unnest($14, $15, $16, $17, $18, $19, $20, $21) AS u(slug, day, c, p, v, n, r, k) "
		"ON CONFLICT (shop_id, slug, day, stripe) DO UPDATE SET checkouts = r.checkouts + "
		"EXCLUDED.checkouts, "
		"purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue, "
		"new_customers = r.new_customers + EXCLUDED.new_customers, "
		"repeat_customers = r.repeat_customers + EXCLUDED.repeat_customers, "
		"customers = r.customers + EXCLUDED.customers), "
		"n AS (INSERT INTO %s AS r "
		"(shop_id, network, stripe, customers_preferring, purchases, revenue) "
		"SELECT $1, u.network, $2, u.k, u.p, u.v FROM unnest($22, $23, $24, $25) AS u(network, "
		"k, p, v) "
		"ON CONFLICT (shop_id, network, stripe) DO UPDATE SET "
		"customers_preferring = r.customers_preferring + EXCLUDED.customers_preferring, "
		"purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue) "
		"INSERT INTO %s AS r (shop_id, purchases, stripe, "
		"customers) "
		"SELECT $1, u.k, $2, u.c FROM unnest($26, $27) AS u(k, c) "
		"ON CONFLICT (shop_id, purchases, stripe) DO UPDATE SET customers = r.customers + "
		"EXCLUDED.customers",
		t[R_SHOP_TOTALS], t[R_DAILY], t[R_SLUG_DAILY], t[R_NETWORK_TOTALS], t[R_FREQUENCY]);
}
static Statement rollup_write = {"rollup write", rollup_sql, RP_COUNT, rollup_types};

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

/* One rollup row's values, in the table's column order. */
static Datum *row_values(const RollupLayout *layout, const ShopDeltas *d, const RollupDelta *r)
{
	Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * layout->natts));
	for (int i = 0; i < layout->natts; i++)
	{
		switch (layout->source[i])
		{
			case RS_SHOP:
				values[i] = UUIDPGetDatum(&d->shop);
				break;
			case RS_STRIPE:
				values[i] = Int16GetDatum(static_cast<int16>(MyBackendId));
				break;
			case RS_DAY:
				values[i] = DateADTGetDatum(r->day);
				break;
			case RS_TEXT:
				values[i] = CStringGetTextDatum(r->text);
				break;
			case RS_COUNT_KEY:
				values[i] = Int32GetDatum(r->count_key);
				break;
			case RS_CHECKOUTS:
				values[i] = Int64GetDatum(r->checkouts);
				break;
			case RS_PURCHASES:
				values[i] = Int64GetDatum(r->purchases);
				break;
			case RS_REVENUE:
				values[i] = r->revenue;
				break;
			case RS_NEW_CUSTOMERS:
				values[i] = Int64GetDatum(r->new_customers);
				break;
			case RS_REPEAT_CUSTOMERS:
				values[i] = Int64GetDatum(r->repeat_customers);
				break;
			case RS_CUSTOMERS:
				values[i] = Int64GetDatum(r->customers);
				break;
			case RS_LAST_PURCHASERS:
				values[i] = Int64GetDatum(r->last_purchasers);
				break;
			case RS_PREFERRING:
				values[i] = Int64GetDatum(r->preferring);
				break;
		}
	}
	return values;
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
	memset(&totals, 0, sizeof(totals));
	totals.customers = d->customers;
	totals.repeat_customers = d->repeat_customers;
	totals.purchases = d->purchases;
	totals.checkouts = d->checkouts;
	totals.revenue = d->revenue;
	KeyArray total_keys = {&totals, 1, 1};

	/*
	 * A new command first, as every SPI statement starts one: rows this
	 * transaction wrote earlier in the same command (an earlier flush) must be
	 * lockable. Another after, so later readers in this command see the writes.
	 */
	CommandCounterIncrement();
	write_rows(state, R_SHOP_TOTALS, d, &total_keys, zero);
	write_rows(state, R_DAILY, d, &d->daily, zero);
	write_rows(state, R_SLUG_DAILY, d, &d->slug, zero);
	write_rows(state, R_NETWORK_TOTALS, d, &d->network, zero);
	write_rows(state, R_FREQUENCY, d, &d->frequency, zero);
	CommandCounterIncrement();
}

static void write_shop(const HostCache *hc, ShopDeltas *d, Datum zero)
{
	Datum values[RP_COUNT];
	Datum *col[6];
	int n;
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

	values[RP_SHOP] = UUIDPGetDatum(&d->shop);
	values[RP_STRIPE] = Int16GetDatum(static_cast<int16>(MyBackendId));
	values[RP_TOTALS] = Int64GetDatum(d->customers);
	values[RP_TOTALS + 1] = Int64GetDatum(d->repeat_customers);
	values[RP_TOTALS + 2] = Int64GetDatum(d->purchases);
	values[RP_TOTALS + 3] = d->revenue;
	values[RP_TOTALS + 4] = Int64GetDatum(d->checkouts);

	int most = 1 + Max(Max(d->daily.n, d->slug.n), Max(d->network.n, d->frequency.n));
	for (int c = 0; c < 6; c++)
		col[c] = static_cast<Datum *>(palloc(sizeof(Datum) * most));

	n = 0;
	for (int i = 0; i < d->daily.n; i++)
	{
		RollupDelta *r = &d->daily.rows[i];
		if (!nonzero(r, zero))
			continue;
		col[0][n] = DateADTGetDatum(r->day);
		col[1][n] = Int64GetDatum(r->checkouts);
		col[2][n] = Int64GetDatum(r->purchases);
		col[3][n] = r->revenue;
		col[4][n] = Int64GetDatum(r->new_customers);
		col[5][n] = Int64GetDatum(r->last_purchasers);
		n++;
	}
	values[RP_DAILY] = PointerGetDatum(array_of(col[0], n, DATEOID));
	values[RP_DAILY + 1] = PointerGetDatum(array_of(col[1], n, INT8OID));
	values[RP_DAILY + 2] = PointerGetDatum(array_of(col[2], n, INT8OID));
	values[RP_DAILY + 3] = PointerGetDatum(array_of(col[3], n, NUMERICOID));
	values[RP_DAILY + 4] = PointerGetDatum(array_of(col[4], n, INT8OID));
	values[RP_DAILY + 5] = PointerGetDatum(array_of(col[5], n, INT8OID));

	{
		Datum *slug = static_cast<Datum *>(palloc(sizeof(Datum) * most));
		Datum *k = static_cast<Datum *>(palloc(sizeof(Datum) * most));
		n = 0;
		for (int i = 0; i < d->slug.n; i++)
		{
			RollupDelta *r = &d->slug.rows[i];
			if (!nonzero(r, zero))
				continue;
			slug[n] = CStringGetTextDatum(r->text);
			col[0][n] = DateADTGetDatum(r->day);
			col[1][n] = Int64GetDatum(r->checkouts);
			col[2][n] = Int64GetDatum(r->purchases);
			col[3][n] = r->revenue;
			col[4][n] = Int64GetDatum(r->new_customers);
			col[5][n] = Int64GetDatum(r->repeat_customers);
			k[n] = Int64GetDatum(r->customers);
			n++;
		}
		values[RP_SLUG] = PointerGetDatum(array_of(slug, n, TEXTOID));
		values[RP_SLUG + 1] = PointerGetDatum(array_of(col[0], n, DATEOID));
		values[RP_SLUG + 2] = PointerGetDatum(array_of(col[1], n, INT8OID));
		values[RP_SLUG + 3] = PointerGetDatum(array_of(col[2], n, INT8OID));
		values[RP_SLUG + 4] = PointerGetDatum(array_of(col[3], n, NUMERICOID));
		values[RP_SLUG + 5] = PointerGetDatum(array_of(col[4], n, INT8OID));
		values[RP_SLUG + 6] = PointerGetDatum(array_of(col[5], n, INT8OID));
		values[RP_SLUG + 7] = PointerGetDatum(array_of(k, n, INT8OID));

		n = 0;
		for (int i = 0; i < d->network.n; i++)
		{
			RollupDelta *r = &d->network.rows[i];
			if (!nonzero(r, zero))
				continue;
			slug[n] = CStringGetTextDatum(r->text);
			col[0][n] = Int64GetDatum(r->preferring);
			col[1][n] = Int64GetDatum(r->purchases);
			col[2][n] = r->revenue;
			n++;
		}
		values[RP_NETWORK] = PointerGetDatum(array_of(slug, n, TEXTOID));
		values[RP_NETWORK + 1] = PointerGetDatum(array_of(col[0], n, INT8OID));
		values[RP_NETWORK + 2] = PointerGetDatum(array_of(col[1], n, INT8OID));
		values[RP_NETWORK + 3] = PointerGetDatum(array_of(col[2], n, NUMERICOID));

		n = 0;
		for (int i = 0; i < d->frequency.n; i++)
		{
			RollupDelta *r = &d->frequency.rows[i];
			if (!nonzero(r, zero))
				continue;
			col[0][n] = Int32GetDatum(r->count_key);
			col[1][n] = Int64GetDatum(r->customers);
			n++;
		}
		values[RP_FREQUENCY] = PointerGetDatum(array_of(col[0], n, INT4OID));
		values[RP_FREQUENCY + 1] = PointerGetDatum(array_of(col[1], n, INT8OID));
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
				RollupDelta *t = find_key(to[k], f->text, f->day, f->count_key, zero);
				t->checkouts += f->checkouts;
				t->purchases += f->purchases;
				t->revenue = numeric_plus(t->revenue, f->revenue);
				t->new_customers += f->new_customers;
				t->repeat_customers += f->repeat_customers;
				t->customers += f->customers;
				t->last_purchasers += f->last_purchasers;
				t->preferring += f->preferring;
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
