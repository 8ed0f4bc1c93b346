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
#include "tracking.h"

extern "C" {
#include "catalog/pg_type.h"
#include "storage/backendid.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
}

#define MAX_KEYS 16

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

struct ShopDeltas
{
	pg_uuid_t shop;
	int64 customers;
	int64 repeat_customers;
	int64 purchases;
	int64 checkouts;
	Datum revenue;
	int ndaily, nslug, nnetwork, nfrequency;
	RollupDelta daily[MAX_KEYS];
	RollupDelta slug[MAX_KEYS];
	RollupDelta network[MAX_KEYS];
	RollupDelta frequency[MAX_KEYS];
};

void ct_rollup_prepare(HostCache *hc)
{
	const char *s = hc->schema_sql;
	static const Oid types[] = {
		UUIDOID, INT2OID, INT8OID, INT8OID, INT8OID, NUMERICOID, INT8OID,									  /* totals */
		DATEARRAYOID, INT8ARRAYOID, INT8ARRAYOID, NUMERICARRAYOID, INT8ARRAYOID, INT8ARRAYOID,			  /* daily */
		TEXTARRAYOID, DATEARRAYOID, INT8ARRAYOID, INT8ARRAYOID, NUMERICARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, /* slug */
		TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID, NUMERICARRAYOID,										  /* network */
		INT4ARRAYOID, INT8ARRAYOID};																	  /* frequency */

	ct_prepare(
		hc, P_ROLLUP,
		psprintf(
			"WITH t AS (INSERT INTO %s.customer_tracking_shop_totals AS r "
			"(shop_id, stripe, customers, repeat_customers, purchases, revenue, checkouts) "
			"SELECT $1, $2, $3, $4, $5, $6, $7 WHERE $3 <> 0 OR $4 <> 0 OR $5 <> 0 OR $6 <> 0 OR $7 <> 0 "
			"ON CONFLICT (shop_id, stripe) DO UPDATE SET customers = r.customers + EXCLUDED.customers, "
			"repeat_customers = r.repeat_customers + EXCLUDED.repeat_customers, "
			"purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue, "
			"checkouts = r.checkouts + EXCLUDED.checkouts), "
			"d AS (INSERT INTO %s.customer_tracking_daily AS r "
			"(shop_id, day, stripe, checkouts, purchases, revenue, new_customers, last_purchasers) "
			"SELECT $1, u.day, $2, u.c, u.p, u.v, u.n, u.l FROM unnest($8, $9, $10, $11, $12, $13) "
			"AS u(day, c, p, v, n, l) "
			"ON CONFLICT (shop_id, day, stripe) DO UPDATE SET checkouts = r.checkouts + EXCLUDED.checkouts, "
			"purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue, "
			"new_customers = r.new_customers + EXCLUDED.new_customers, "
			"last_purchasers = r.last_purchasers + EXCLUDED.last_purchasers), "
			"s AS (INSERT INTO %s.customer_tracking_slug_daily AS r "
			"(shop_id, slug, day, stripe, checkouts, purchases, revenue, new_customers, repeat_customers, customers) "
			"SELECT $1, u.slug, u.day, $2, u.c, u.p, u.v, u.n, u.r, u.k "
			"FROM unnest($14, $15, $16, $17, $18, $19, $20, $21) AS u(slug, day, c, p, v, n, r, k) "
			"ON CONFLICT (shop_id, slug, day, stripe) DO UPDATE SET checkouts = r.checkouts + EXCLUDED.checkouts, "
			"purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue, "
			"new_customers = r.new_customers + EXCLUDED.new_customers, "
			"repeat_customers = r.repeat_customers + EXCLUDED.repeat_customers, "
			"customers = r.customers + EXCLUDED.customers), "
			"n AS (INSERT INTO %s.customer_tracking_network_totals AS r "
			"(shop_id, network, stripe, customers_preferring, purchases, revenue) "
			"SELECT $1, u.network, $2, u.k, u.p, u.v FROM unnest($22, $23, $24, $25) AS u(network, k, p, v) "
			"ON CONFLICT (shop_id, network, stripe) DO UPDATE SET "
			"customers_preferring = r.customers_preferring + EXCLUDED.customers_preferring, "
			"purchases = r.purchases + EXCLUDED.purchases, revenue = r.revenue + EXCLUDED.revenue) "
			"INSERT INTO %s.customer_tracking_frequency AS r (shop_id, purchases, stripe, customers) "
			"SELECT $1, u.k, $2, u.c FROM unnest($26, $27) AS u(k, c) "
			"ON CONFLICT (shop_id, purchases, stripe) DO UPDATE SET customers = r.customers + EXCLUDED.customers",
			s, s, s, s, s),
		lengthof(types), types);
}

const char *ct_rollup_truncate_sql(const HostCache *hc)
{
	const char *s = hc->schema_sql;
	return psprintf("DELETE FROM %s.customer_tracking_slug_customers; DELETE FROM %s.customer_tracking_shop_totals; "
					"DELETE FROM %s.customer_tracking_daily; DELETE FROM %s.customer_tracking_slug_daily; "
					"DELETE FROM %s.customer_tracking_network_totals; DELETE FROM %s.customer_tracking_frequency;",
					s, s, s, s, s, s);
}

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

static ShopDeltas *shop_deltas(ShopDeltas *shops, int *nshops, const pg_uuid_t *shop, Datum zero)
{
	for (int i = 0; i < *nshops; i++)
		if (memcmp(shops[i].shop.data, shop->data, UUID_LEN) == 0)
			return &shops[i];
	ShopDeltas *d = &shops[(*nshops)++];
	memset(d, 0, sizeof(*d));
	d->shop = *shop;
	d->revenue = zero;
	return d;
}

static RollupDelta *find_key(RollupDelta *rows, int *n, const char *text, DateADT day, int32 count_key,
							 Datum zero)
{
	for (int i = 0; i < *n; i++)
		if (rows[i].day == day && rows[i].count_key == count_key &&
			((rows[i].text == nullptr && text == nullptr) ||
			 (rows[i].text != nullptr && text != nullptr && strcmp(rows[i].text, text) == 0)))
			return &rows[i];
	if (*n >= MAX_KEYS)
		elog(ERROR, "customer_tracking: too many rollup keys in one event");
	RollupDelta *r = &rows[(*n)++];
	memset(r, 0, sizeof(*r));
	r->text = text;
	r->day = day;
	r->count_key = count_key;
	r->revenue = zero;
	return r;
}

/* An order's contribution: checkouts always, purchases and revenue when paid. */
static void add_order(ShopDeltas *d, const char *slug, const char *network, TimestampTz at, bool purchase,
					  Datum amount, int sign, Datum zero)
{
	DateADT day = utc_day(at);
	RollupDelta *daily = find_key(d->daily, &d->ndaily, nullptr, day, 0, zero);
	RollupDelta *by_slug = find_key(d->slug, &d->nslug, slug, day, 0, zero);

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
		RollupDelta *by_network = find_key(d->network, &d->nnetwork, network, 0, 0, zero);
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
	RollupDelta *acquired = find_key(d->slug, &d->nslug, first_slug, first_day, 0, zero);

	d->customers += sign;
	find_key(d->daily, &d->ndaily, nullptr, first_day, 0, zero)->new_customers += sign;
	find_key(d->daily, &d->ndaily, nullptr, utc_day(c->last_at), 0, zero)->last_purchasers += sign;
	acquired->new_customers += sign;
	if (c->purchases >= 2)
	{
		d->repeat_customers += sign;
		acquired->repeat_customers += sign;
	}
	if (c->preferred != nullptr)
		find_key(d->network, &d->nnetwork, c->preferred, 0, 0, zero)->preferring += sign;
	find_key(d->frequency, &d->nfrequency, nullptr, 0, c->purchases, zero)->customers += sign;
}

/* A (customer, slug) pair's contribution: one customer reached via the slug, on its first day. */
static void add_pair(ShopDeltas *d, const char *slug, const PairState *p, int sign, Datum zero)
{
	if (p->purchases < 1)
		return;
	find_key(d->slug, &d->nslug, slug, utc_day(p->first_at), 0, zero)->customers += sign;
}

static bool numeric_nonzero(Datum value, Datum zero)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, value, zero)) != 0;
}

static bool nonzero(const RollupDelta *r, Datum zero)
{
	return r->checkouts || r->purchases || r->new_customers || r->repeat_customers || r->customers ||
		   r->last_purchasers || r->preferring || numeric_nonzero(r->revenue, zero);
}

static ArrayType *array_of(Datum *items, int n, Oid type)
{
	int16 len;
	bool byval;
	char align;
	get_typlenbyvalalign(type, &len, &byval, &align);
	return construct_array(items, n, type, len, byval, align);
}

static void write_shop(const HostCache *hc, ShopDeltas *d, Datum zero)
{
	Datum values[27];
	Datum *col[6];
	int n;
	bool any = d->customers || d->repeat_customers || d->purchases || d->checkouts ||
			   numeric_nonzero(d->revenue, zero);

	for (int i = 0; i < d->ndaily && !any; i++)
		any = nonzero(&d->daily[i], zero);
	for (int i = 0; i < d->nslug && !any; i++)
		any = nonzero(&d->slug[i], zero);
	for (int i = 0; i < d->nnetwork && !any; i++)
		any = nonzero(&d->network[i], zero);
	for (int i = 0; i < d->nfrequency && !any; i++)
		any = nonzero(&d->frequency[i], zero);
	if (!any)
		return;

	values[0] = UUIDPGetDatum(&d->shop);
	values[1] = Int16GetDatum(static_cast<int16>(MyBackendId));
	values[2] = Int64GetDatum(d->customers);
	values[3] = Int64GetDatum(d->repeat_customers);
	values[4] = Int64GetDatum(d->purchases);
	values[5] = d->revenue;
	values[6] = Int64GetDatum(d->checkouts);

	for (int c = 0; c < 6; c++)
		col[c] = static_cast<Datum *>(palloc(sizeof(Datum) * (MAX_KEYS + 1)));

	n = 0;
	for (int i = 0; i < d->ndaily; i++)
	{
		RollupDelta *r = &d->daily[i];
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
	values[7] = PointerGetDatum(array_of(col[0], n, DATEOID));
	values[8] = PointerGetDatum(array_of(col[1], n, INT8OID));
	values[9] = PointerGetDatum(array_of(col[2], n, INT8OID));
	values[10] = PointerGetDatum(array_of(col[3], n, NUMERICOID));
	values[11] = PointerGetDatum(array_of(col[4], n, INT8OID));
	values[12] = PointerGetDatum(array_of(col[5], n, INT8OID));

	{
		Datum *slug = static_cast<Datum *>(palloc(sizeof(Datum) * (MAX_KEYS + 1)));
		Datum *k = static_cast<Datum *>(palloc(sizeof(Datum) * (MAX_KEYS + 1)));
		n = 0;
		for (int i = 0; i < d->nslug; i++)
		{
			RollupDelta *r = &d->slug[i];
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
		values[13] = PointerGetDatum(array_of(slug, n, TEXTOID));
		values[14] = PointerGetDatum(array_of(col[0], n, DATEOID));
		values[15] = PointerGetDatum(array_of(col[1], n, INT8OID));
		values[16] = PointerGetDatum(array_of(col[2], n, INT8OID));
		values[17] = PointerGetDatum(array_of(col[3], n, NUMERICOID));
		values[18] = PointerGetDatum(array_of(col[4], n, INT8OID));
		values[19] = PointerGetDatum(array_of(col[5], n, INT8OID));
		values[20] = PointerGetDatum(array_of(k, n, INT8OID));

		n = 0;
		for (int i = 0; i < d->nnetwork; i++)
		{
			RollupDelta *r = &d->network[i];
			if (!nonzero(r, zero))
				continue;
			slug[n] = CStringGetTextDatum(r->text);
			col[0][n] = Int64GetDatum(r->preferring);
			col[1][n] = Int64GetDatum(r->purchases);
			col[2][n] = r->revenue;
			n++;
		}
		values[21] = PointerGetDatum(array_of(slug, n, TEXTOID));
		values[22] = PointerGetDatum(array_of(col[0], n, INT8OID));
		values[23] = PointerGetDatum(array_of(col[1], n, INT8OID));
		values[24] = PointerGetDatum(array_of(col[2], n, NUMERICOID));

		n = 0;
		for (int i = 0; i < d->nfrequency; i++)
		{
			RollupDelta *r = &d->frequency[i];
			if (!nonzero(r, zero))
				continue;
			col[0][n] = Int32GetDatum(r->count_key);
			col[1][n] = Int64GetDatum(r->customers);
			n++;
		}
		values[25] = PointerGetDatum(array_of(col[0], n, INT4OID));
		values[26] = PointerGetDatum(array_of(col[1], n, INT8OID));
	}

	ct_exec(hc, P_ROLLUP, values, nullptr, SPI_OK_INSERT);
}

void ct_rollup_apply(const HostCache *hc, const LedgerRow *before, const OrderImage *after,
					 const EventChanges *changes)
{
	ShopDeltas shops[4];
	int nshops = 0;
	Datum zero = hc->zero;

	if (before != nullptr && before->present)
		add_order(shop_deltas(shops, &nshops, &before->shop, zero), before->slug_null ? "" : before->slug,
				  before->network_null ? nullptr : before->network, before->at, before->purchase,
				  before->amount, -1, zero);
	if (after != nullptr && after->trackable)
	{
		const TextValue *slug = &after->text[CT_TEXT_SLUG];
		const TextValue *network = &after->text[CT_TEXT_NETWORK];
		add_order(shop_deltas(shops, &nshops, &after->shop, zero),
				  slug->isnull ? "" : pnstrdup(slug->data, slug->len),
				  network->isnull ? nullptr : pnstrdup(network->data, network->len), after->at,
				  after->purchase, after->amount, +1, zero);
	}
	for (int i = 0; changes != nullptr && i < changes->ncustomers; i++)
	{
		const CustomerChange *c = &changes->customers[i];
		if (!c->known)
			continue;
		ShopDeltas *d = shop_deltas(shops, &nshops, &c->shop, zero);
		add_customer(d, &c->before, -1, zero);
		add_customer(d, &c->after, +1, zero);
	}
	for (int i = 0; changes != nullptr && i < changes->npairs; i++)
	{
		const PairChange *p = &changes->pairs[i];
		ShopDeltas *d = shop_deltas(shops, &nshops, &p->shop, zero);
		add_pair(d, p->slug, &p->before, -1, zero);
		add_pair(d, p->slug, &p->after, +1, zero);
	}

	/* One statement per shop: each statement touches one shop's rows. */
	for (int i = 0; i < nshops; i++)
		write_shop(hc, &shops[i], zero);
}
