/*
 * trigger.cpp: the triggers on shop_orders.
 *
 * customer_tracking_link (BEFORE INSERT OR UPDATE, row): sets
 *   shop_customer_id to the customer's name-based id, or NULL when the order
 *   cannot be tracked, so linking costs no second UPDATE; makes sure the
 *   customer's row exists, so the foreign keys hold even when made immediate.
 * customer_tracking_track (AFTER INSERT OR UPDATE OR DELETE, row): keeps the
 *   ledger (customer_tracking), the customer's stats (shop_customers), the
 *   issue record and the statement's rollup deltas in step with the order.
 * customer_tracking_flush (AFTER INSERT OR UPDATE OR DELETE, statement):
 *   writes the rollup deltas; removes customer rows made for orders that were
 *   not saved after all (ON CONFLICT DO NOTHING).
 * customer_tracking_truncate (AFTER TRUNCATE, statement): clears them.
 *
 * What an order has contributed is read from its ledger row, never from OLD,
 * so a change is applied exactly once even if earlier changes bypassed the
 * trigger. Additions are increment-only upserts whose expressions read only
 * the locked customer row (safe under READ COMMITTED re-checks); anything
 * that removes or alters a counted purchase locks the customer first and then
 * recomputes it from the ledger in a later statement, with a fresh snapshot.
 *
 * Boundary rule (pg_boundary.hpp): this file calls PostgreSQL throughout, so
 * no object with a destructor lives in any of its frames; C++ is used for
 * the noexcept rules in order_rules.hpp only.
 */
#include "customer_tracking.h"
#include "order_rules.hpp"
#include "pg_boundary.hpp"
#include "tracking.h"

extern "C" {
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
}

using ct::rules::ChangeKind;
using ct::rules::StatusClass;

/* ------------------------------------------------------------------------
 * Decoding an order row
 * ------------------------------------------------------------------------ */

static void add_issue(OrderImage *img, const char *code, bool untracked, char *detail)
{
	if (img->nissues < CT_MAX_ISSUES)
	{
		img->issues[img->nissues].code = code;
		img->issues[img->nissues].detail = detail;
		img->issues[img->nissues].untracked = untracked;
		img->nissues++;
	}
}

/* A short, printable excerpt of an offending value for the issue record. */
static char *excerpt(const char *data, int len)
{
	int clip = pg_mbcliplen(data, len, 64);
	return psprintf("%.*s%s", clip, data, clip < len ? "..." : "");
}

static void read_text(const HostCache *hc, HeapTuple tuple, TupleDesc desc, int field, int limit,
					  TextValue *out)
{
	AttrNumber attnum = hc->attnum[field];
	bool isnull = true;
	Datum value = (Datum) 0;

	out->data = nullptr;
	out->len = out->full_len = 0;
	out->isnull = true;
	if (attnum == InvalidAttrNumber)
		return;
	value = heap_getattr(tuple, attnum, desc, &isnull);
	if (isnull)
		return;
	if (hc->is_text[field])
	{
		text *t = DatumGetTextPP(value);
		out->data = VARDATA_ANY(t);
		out->full_len = VARSIZE_ANY_EXHDR(t);
	}
	else
	{
		char *s = OutputFunctionCall(const_cast<FmgrInfo *>(&hc->output[field]), value);
		out->data = s;
		out->full_len = strlen(s);
	}
	out->isnull = false;
	out->len = limit > 0 ? pg_mbcharcliplen(out->data, out->full_len, limit) : out->full_len;
}

static const int text_limit_of[CT_TEXT_FIELDS] = {255, 255, 50, 255, 255, 255, 255, 255};

/*
 * The amount as numeric; (Datum) 0 when it is text that is not a plain
 * decimal number (never an error: the order is saved untracked).
 */
static Datum amount_as_numeric(const HostCache *hc, HeapTuple tuple, TupleDesc desc, Datum value,
							   const char **unreadable)
{
	TextValue t;

	*unreadable = nullptr;
	switch (hc->atttype[FIELD_AMOUNT])
	{
		case NUMERICOID:
			return value;
		case INT2OID:
			return DirectFunctionCall1(int2_numeric, value);
		case INT4OID:
			return DirectFunctionCall1(int4_numeric, value);
		case INT8OID:
			return DirectFunctionCall1(int8_numeric, value);
		case FLOAT4OID:
			return DirectFunctionCall1(float4_numeric, value);
		case FLOAT8OID:
			return DirectFunctionCall1(float8_numeric, value);
		default:
			break;
	}
	/* A string type (host_cache.cpp admits no other): a decimal number or nothing. */
	read_text(hc, tuple, desc, FIELD_AMOUNT, 0, &t);
	if (!ct::rules::IsPlainDecimal(std::string_view(t.data, static_cast<size_t>(t.full_len))))
	{
		*unreadable = excerpt(t.data, t.full_len);
		return (Datum) 0;
	}
	return DirectFunctionCall3(numeric_in, CStringGetDatum(pnstrdup(t.data, t.full_len)),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* A naive time (no zone) read in the configured zone; infinity if out of range. */
static TimestampTz naive_as_timestamptz(const HostCache *hc, Timestamp naive)
{
	struct pg_tm tm;
	fsec_t fsec;
	int offset;
	TimestampTz result;

	if (TIMESTAMP_NOT_FINITE(naive))
		return naive;
	if (timestamp2tm(naive, nullptr, &tm, &fsec, nullptr, nullptr) != 0)
		return DT_NOEND;
	offset = DetermineTimeZoneOffset(&tm, hc->naive_zone);
	if (tm2timestamp(&tm, fsec, &offset, &result) != 0 || !IS_VALID_TIMESTAMP(result))
		return DT_NOEND;
	return result;
}

static TimestampTz time_as_timestamptz(const HostCache *hc, Datum value)
{
	switch (hc->atttype[FIELD_CREATED_AT])
	{
		case TIMESTAMPOID:
			return naive_as_timestamptz(hc, DatumGetTimestamp(value));
		case DATEOID:
		{
			int overflow = 0;
			Timestamp midnight = date2timestamp_opt_overflow(DatumGetDateADT(value), &overflow);
			return overflow != 0 ? DT_NOEND : naive_as_timestamptz(hc, midnight);
		}
		default:
			return DatumGetTimestampTz(value);
	}
}

/*
 * The network in its one spelling (ct::rules::NormalizeNetwork: trimmed,
 * ASCII upper case), clipped to its column; blank = no network.
 */
static void normalize_network(TextValue *t, int limit)
{
	if (t->isnull)
		return;
	char *name = static_cast<char *>(palloc(t->full_len + 1));
	size_t len = ct::rules::NormalizeNetworkTo(
		std::string_view(t->data, static_cast<size_t>(t->full_len)), name);
	name[len] = '\0';
	t->data = name;
	t->full_len = static_cast<int>(len);
	t->len = pg_mbcharcliplen(t->data, t->full_len, limit);
	if (len == 0)
		t->isnull = true; /* blank: no network */
}

/* Reads the fields of one version of an order and decides how it is tracked. */
static void decode_order(const HostCache *hc, HeapTuple tuple, TupleDesc desc, OrderImage *img)
{
	bool isnull;
	Datum value;
	const char *unreadable_amount = nullptr;

	memset(img, 0, sizeof(*img));

	img->id_null = true;
	if (hc->attnum[FIELD_ID] != InvalidAttrNumber)
	{
		value = heap_getattr(tuple, hc->attnum[FIELD_ID], desc, &isnull);
		img->id_null = isnull;
		if (!isnull)
			img->id = *DatumGetUUIDP(value);
	}

	img->shop_null = true;
	if (hc->attnum[FIELD_SHOP_ID] != InvalidAttrNumber)
	{
		value = heap_getattr(tuple, hc->attnum[FIELD_SHOP_ID], desc, &isnull);
		img->shop_null = isnull;
		if (!isnull)
			img->shop = *DatumGetUUIDP(value);
	}

	read_text(hc, tuple, desc, FIELD_PHONE, 0, &img->phone);
	read_text(hc, tuple, desc, FIELD_STATUS, 0, &img->status);
	for (int i = 0; i < CT_TEXT_FIELDS; i++)
		read_text(hc, tuple, desc, ct_text_field_of[i], text_limit_of[i], &img->text[i]);
	normalize_network(&img->text[CT_TEXT_NETWORK], text_limit_of[CT_TEXT_NETWORK]);
	read_text(hc, tuple, desc, FIELD_DISCOUNT_CODE, 0, &img->discount_code);
	read_text(hc, tuple, desc, FIELD_REFERRAL_CODE, 0, &img->referral_code);

	img->amount_null = true;
	if (hc->attnum[FIELD_AMOUNT] != InvalidAttrNumber)
	{
		value = heap_getattr(tuple, hc->attnum[FIELD_AMOUNT], desc, &isnull);
		img->amount_null = isnull;
		if (!isnull)
			img->amount = amount_as_numeric(hc, tuple, desc, value, &unreadable_amount);
	}

	img->at_null = true;
	if (hc->attnum[FIELD_CREATED_AT] != InvalidAttrNumber)
	{
		value = heap_getattr(tuple, hc->attnum[FIELD_CREATED_AT], desc, &isnull);
		img->at_null = isnull;
		if (!isnull)
			img->at = time_as_timestamptz(hc, value);
	}

	img->link_null = true;
	if (hc->link_attnum != InvalidAttrNumber)
	{
		value = heap_getattr(tuple, hc->link_attnum, desc, &isnull);
		img->link_null = isnull;
		if (!isnull)
			img->link = *DatumGetUUIDP(value);
	}

	/* Trackability: everything needed to count the order exactly. */
	img->trackable = !img->id_null;
	if (hc->drifted)
	{
		/* The host table no longer has what the extension reads: never guess. */
		img->trackable = false;
		add_issue(img, "host_drift", true, pstrdup(hc->drift_detail));
	}
	if (img->shop_null && hc->attnum[FIELD_SHOP_ID] != InvalidAttrNumber)
	{
		img->trackable = false;
		add_issue(img, "missing_shop", true, nullptr);
	}

	if (hc->attnum[FIELD_PHONE] == InvalidAttrNumber)
		img->phone_status = CT_PHONE_MISSING; /* drift, reported above */
	else
	{
		if (img->phone.isnull)
			img->phone_status = CT_PHONE_MISSING;
		else
			img->phone_status = ct_phone_normalize(img->phone.data, img->phone.full_len,
												   ct_default_region, img->e164);
		if (img->phone_status != CT_PHONE_VALID)
		{
			img->trackable = false;
			add_issue(img, ct_phone_status_reason(img->phone_status), true,
					  img->phone.isnull ? nullptr : excerpt(img->phone.data, img->phone.full_len));
		}
	}

	if (hc->attnum[FIELD_AMOUNT] == InvalidAttrNumber)
		img->amount_null = true; /* drift, reported above */
	else if (img->amount_null)
	{
		img->trackable = false;
		add_issue(img, "missing_amount", true, nullptr);
	}
	else if (unreadable_amount != nullptr)
	{
		img->trackable = false;
		img->amount_null = true;
		add_issue(img, "invalid_amount", true, const_cast<char *>(unreadable_amount));
	}
	else
	{
		Numeric num = DatumGetNumeric(img->amount);
		if (numeric_is_nan(num) || numeric_is_inf(num))
		{
			img->trackable = false;
			add_issue(img, "invalid_amount", true, numeric_normalize(num));
		}
		else if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, img->amount, hc->zero)) < 0)
		{
			img->trackable = false;
			add_issue(img, "negative_amount", true, numeric_normalize(num));
		}
	}

	if (hc->attnum[FIELD_CREATED_AT] == InvalidAttrNumber)
		; /* drift, reported above */
	else if (img->at_null)
	{
		img->trackable = false;
		add_issue(img, "missing_created_at", true, nullptr);
	}
	else if (TIMESTAMP_NOT_FINITE(img->at))
	{
		img->trackable = false;
		add_issue(img, "invalid_created_at", true, nullptr);
	}

	/* The status decides whether the order is a purchase. */
	if (hc->state[FIELD_STATUS] == FS_ABSENT)
		img->status_class = StatusClass::kPaid; /* no status column, by configuration */
	else if (hc->attnum[FIELD_STATUS] == InvalidAttrNumber)
		img->status_class = StatusClass::kMissing; /* drift: the order is untracked */
	else if (img->status.isnull)
		img->status_class = StatusClass::kMissing;
	else
		img->status_class = hc->statuses->Classify(
			std::string_view(img->status.data, static_cast<size_t>(img->status.full_len)));
	img->purchase = img->status_class == StatusClass::kPaid;
	if (hc->attnum[FIELD_STATUS] == InvalidAttrNumber)
		;
	else if (img->status_class == StatusClass::kUnknown)
		add_issue(img, "unknown_status", false, excerpt(img->status.data, img->status.full_len));
	else if (img->status_class == StatusClass::kMissing)
		add_issue(img, "missing_status", false, nullptr);

	for (int i = 0; i < CT_TEXT_FIELDS; i++)
		if (!img->text[i].isnull && img->text[i].len < img->text[i].full_len)
			add_issue(img, hc->truncated_code[i], false,
					  psprintf("%d characters, kept the first %d",
							   pg_mbstrlen_with_len(img->text[i].data, img->text[i].full_len),
							   text_limit_of[i]));

	if (img->trackable)
		ct_customer_id(&img->shop, img->e164, strlen(img->e164), &img->customer);
}

/* decode_order() for the SQL side (customer_tracking_decode_order(), host_guard.cpp). */
void ct_decode_order(const HostCache *hc, HeapTuple tuple, TupleDesc desc, OrderImage *img)
{
	decode_order(hc, tuple, desc, img);
}

static bool uuid_equal(const pg_uuid_t *a, const pg_uuid_t *b)
{
	return memcmp(a->data, b->data, UUID_LEN) == 0;
}

static bool same_shop(const OrderImage *a, const OrderImage *b)
{
	return a->shop_null == b->shop_null && (a->shop_null || uuid_equal(&a->shop, &b->shop));
}

static const char *uuid_text(const pg_uuid_t *u)
{
	return DatumGetCString(
		DirectFunctionCall1(uuid_out, UUIDPGetDatum(const_cast<pg_uuid_t *>(u))));
}

static void raise_if_strict(const OrderImage *img)
{
	StringInfoData codes;

	if (!ct_strict || img->nissues == 0)
		return;
	initStringInfo(&codes);
	for (int i = 0; i < img->nissues; i++)
		appendStringInfo(&codes, "%s%s", i ? ", " : "", img->issues[i].code);
	ereport(
		ERROR,
		(errcode(ERRCODE_DATA_EXCEPTION),
		 errmsg("customer_tracking: order %s rejected: %s",
				img->id_null ? "(no id)" : uuid_text(&img->id), codes.data),
		 errhint("customer_tracking.strict is on; turn it off to save such orders untracked.")));
}

/* Once per transaction and orders relation: orders saved where they cannot be tracked. */
static void report_not_tracked_here(const HostCache *hc)
{
	static LocalTransactionId reported_in = InvalidLocalTransactionId;
	static Oid reported_for = InvalidOid;
	if (reported_in == MyProc->lxid && reported_for == hc->orders_relid)
		return;
	reported_in = MyProc->lxid;
	reported_for = hc->orders_relid;
	ereport(WARNING, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					  errmsg("customer_tracking: orders saved but not counted: %s", hc->unready),
					  errhint("Run SELECT * FROM customer_tracking_backfill(); once it is done.")));
}

/* ------------------------------------------------------------------------
 * BEFORE trigger: link the order
 * ------------------------------------------------------------------------ */

CT_FUNCTION(ct_link_order)
{
	TriggerData *trigdata = reinterpret_cast<TriggerData *>(fcinfo->context);
	HeapTuple tuple;
	TupleDesc desc;
	const HostCache *hc;
	OrderImage *img;
	Datum link_value;
	bool link_null;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("customer_tracking_link_order() must fire BEFORE INSERT OR UPDATE "
							   "FOR EACH ROW")));

	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple
														: trigdata->tg_trigtuple;
	/* The backfill's own UPDATE sets the link and writes the rest itself (backfill.cpp). */
	if (ct_backfill_active)
		return PointerGetDatum(tuple);
	desc = RelationGetDescr(trigdata->tg_relation);
	hc = ct_host_cache(trigdata->tg_relation, fcinfo->flinfo->fn_oid);

	/*
	 * Unrelated updates (fulfilment status, notes, ...) keep their link. An
	 * update that only clears the link (ON DELETE SET NULL after a customer
	 * row was deleted by hand) is respected: the order shows as untracked
	 * until customer_tracking_backfill() relinks it.
	 */
	if (hc->link_attnum == InvalidAttrNumber)
	{
		/* Drift: no link column to set; the AFTER trigger records the order as untracked. */
		return PointerGetDatum(tuple);
	}
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) && !ct_retrack &&
		!ct_order_fields_changed(hc, desc, trigdata->tg_trigtuple, tuple) &&
		(heap_attisnull(tuple, hc->link_attnum, desc) ||
		 !ct_tracked_fields_changed(hc, desc, trigdata->tg_trigtuple, tuple)))
		return PointerGetDatum(tuple);

	img = static_cast<OrderImage *>(palloc(sizeof(OrderImage)));
	decode_order(hc, tuple, desc, img);
	raise_if_strict(img);

	link_null = !img->trackable;
	if (link_null == img->link_null && (link_null || uuid_equal(&img->customer, &img->link)))
		return PointerGetDatum(tuple);

	/*
	 * The customer's row is written at commit. Only a host table still
	 * carrying the foreign key of versions before 1.4 (library updated,
	 * ALTER EXTENSION ... UPDATE not yet run) needs it to exist now.
	 */
	if (!link_null && hc->link_has_foreign_key)
		ct_customer_ensure_linked(hc, img);
	link_value = link_null ? (Datum) 0 : UUIDPGetDatum(&img->customer);
	{
		int attnum = hc->link_attnum;
		tuple = heap_modify_tuple_by_cols(tuple, desc, 1, &attnum, &link_value, &link_null);
	}
	return PointerGetDatum(tuple);
}

/* ------------------------------------------------------------------------
 * AFTER trigger: ledger, customer stats, rollups, issues
 * ------------------------------------------------------------------------ */

static char *attribution_of(const OrderImage *img)
{
	StringInfoData buf;
	initStringInfo(&buf);
	for (int i = CT_TEXT_REFERRER; i < CT_TEXT_FIELDS; i++)
	{
		if (img->text[i].isnull)
			appendStringInfoString(&buf, "\x01");
		else
			appendBinaryStringInfo(&buf, img->text[i].data, img->text[i].len);
		appendStringInfoChar(&buf, '\x02');
	}
	return buf.data;
}

Datum ct_text_datum(const TextValue *t, char *null)
{
	*null = t->isnull ? 'n' : ' ';
	return t->isnull ? (Datum) 0 : PointerGetDatum(cstring_to_text_with_len(t->data, t->len));
}

/* Parameters shared by the ledger insert and update plans. */
static void ledger_params(const OrderImage *img, TimestampTz completed_at, Datum *values,
						  char *nulls)
{
	static const int ledger_text[] = {CT_TEXT_SLUG,		  CT_TEXT_NETWORK,	  CT_TEXT_REFERRER,
									  CT_TEXT_UTM_SOURCE, CT_TEXT_UTM_MEDIUM, CT_TEXT_UTM_CAMPAIGN};
	static const int ledger_pos[] = {3, 7, 8, 9, 10, 11};

	memset(nulls, ' ', CT_LEDGER_NARGS);
	values[0] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->id));
	values[1] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->customer));
	values[2] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->shop));
	values[4] = TimestampTzGetDatum(img->at);
	values[5] = BoolGetDatum(img->purchase);
	values[6] = img->amount;
	values[12] = TimestampTzGetDatum(completed_at);
	if (!img->purchase)
		nulls[12] = 'n';
	for (int i = 0; i < 6; i++)
		values[ledger_pos[i]] = ct_text_datum(&img->text[ledger_text[i]], &nulls[ledger_pos[i]]);
}

static char *spi_text(HeapTuple tuple, TupleDesc desc, int col, bool *isnull)
{
	Datum d = SPI_getbinval(tuple, desc, col, isnull);
	return *isnull ? nullptr : TextDatumGetCString(d);
}

/* Copies the ledger columns returned by the select/delete plans (caller's context). */
static void read_ledger(LedgerRow *row, MemoryContext cxt)
{
	MemoryContext old;
	HeapTuple tuple;
	TupleDesc desc;
	bool isnull;
	StringInfoData attribution;

	row->present = SPI_processed > 0;
	if (!row->present)
		return;
	old = MemoryContextSwitchTo(cxt);
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	row->customer = *DatumGetUUIDP(SPI_getbinval(tuple, desc, 1, &isnull));
	row->shop = *DatumGetUUIDP(SPI_getbinval(tuple, desc, 11, &isnull));
	row->purchase = DatumGetBool(SPI_getbinval(tuple, desc, 2, &isnull));
	row->amount = datumCopy(SPI_getbinval(tuple, desc, 3, &isnull), false, -1);
	row->at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 4, &isnull));
	row->network = spi_text(tuple, desc, 5, &row->network_null);
	row->slug = spi_text(tuple, desc, 6, &row->slug_null);
	initStringInfo(&attribution);
	for (int col = 7; col <= 10; col++)
	{
		char *s = spi_text(tuple, desc, col, &isnull);
		appendStringInfoString(&attribution, isnull ? "\x01" : s);
		appendStringInfoChar(&attribution, '\x02');
	}
	row->attribution = attribution.data;
	MemoryContextSwitchTo(old);
}

static void contribution_of_ledger(const LedgerRow *row, const pg_uuid_t *order,
								   ct::rules::Contribution *c)
{
	c->present = row->present;
	if (!row->present)
		return;
	c->customer = std::string_view(reinterpret_cast<const char *>(row->customer.data), UUID_LEN);
	c->order = std::string_view(reinterpret_cast<const char *>(order->data), UUID_LEN);
	c->purchase = row->purchase;
	c->amount = numeric_normalize(DatumGetNumeric(row->amount));
	c->purchased_at = row->at;
	c->network_null = row->network_null;
	if (!row->network_null)
		c->network = row->network;
	c->slug_null = row->slug_null;
	if (!row->slug_null)
		c->slug = row->slug;
}

static void contribution_of_order(const OrderImage *img, const LedgerRow *ledger,
								  ct::rules::Contribution *c)
{
	c->present = img->trackable;
	if (!img->trackable)
		return;
	c->customer = std::string_view(reinterpret_cast<const char *>(img->customer.data), UUID_LEN);
	c->order = std::string_view(reinterpret_cast<const char *>(img->id.data), UUID_LEN);
	c->purchase = img->purchase;
	c->amount = numeric_normalize(DatumGetNumeric(img->amount));
	c->purchased_at = img->at;
	c->network_null = img->text[CT_TEXT_NETWORK].isnull;
	if (!c->network_null)
		c->network = std::string_view(img->text[CT_TEXT_NETWORK].data,
									  static_cast<size_t>(img->text[CT_TEXT_NETWORK].len));
	c->slug_null = img->text[CT_TEXT_SLUG].isnull;
	if (!c->slug_null)
		c->slug = std::string_view(img->text[CT_TEXT_SLUG].data,
								   static_cast<size_t>(img->text[CT_TEXT_SLUG].len));
	c->attribution_changed =
		ledger->present && strcmp(attribution_of(img), ledger->attribution) != 0;
}

static void issues_record(const HostCache *hc, const OrderImage *img, const OrderImage *before)
{
	const pg_uuid_t *shop = img->shop_null ? &hc->nil_uuid : &img->shop;

	for (int i = 0; i < img->nissues; i++)
	{
		const Issue *issue = &img->issues[i];
		bool seen_before = false;
		Datum values[5];
		char nulls[5] = {' ', ' ', ' ', ' ', ' '};

		for (int j = 0; before != nullptr && j < before->nissues; j++)
			if (strcmp(before->issues[j].code, issue->code) == 0)
				seen_before = true;

		values[0] = UUIDPGetDatum(const_cast<pg_uuid_t *>(shop));
		values[1] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->id));
		values[2] = CStringGetTextDatum(issue->code);
		if (issue->detail == nullptr)
			nulls[3] = 'n';
		else
			values[3] = CStringGetTextDatum(issue->detail);
		values[4] = BoolGetDatum(issue->untracked);
		ct_exec(hc, P_ISSUE_UPSERT, values, nulls, SPI_OK_INSERT);

		/* One line per new issue, at customer_tracking.report_level (recorded above anyway). */
		if (!seen_before && ct_report_level != 0)
			ereport(ct_report_level,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("customer_tracking: order %s %s: %s", uuid_text(&img->id),
							issue->untracked ? "saved untracked" : "tracked with a caveat",
							issue->code)));
	}
}

static void issues_resolve(const HostCache *hc, const OrderImage *before, const OrderImage *after)
{
	Datum values[3];
	Datum *codes;
	ArrayType *current;

	if (before->nissues == 0)
		return;
	codes = static_cast<Datum *>(palloc(sizeof(Datum) * (after->nissues + 1)));
	for (int i = 0; i < after->nissues; i++)
		codes[i] = CStringGetTextDatum(after->issues[i].code);
	current = construct_array(codes, after->nissues, TEXTOID, -1, false, TYPALIGN_INT);
	values[0] =
		UUIDPGetDatum(const_cast<pg_uuid_t *>(before->shop_null ? &hc->nil_uuid : &before->shop));
	values[1] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&before->id));
	values[2] = PointerGetDatum(current);
	ct_exec(hc, P_ISSUE_RESOLVE, values, nullptr, SPI_OK_UPDATE);
}

static void issues_forget(const HostCache *hc, const OrderImage *before)
{
	Datum values[2];

	/* Also the resolved rows of a fixed order: the order is gone. */
	values[0] =
		UUIDPGetDatum(const_cast<pg_uuid_t *>(before->shop_null ? &hc->nil_uuid : &before->shop));
	values[1] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&before->id));
	ct_exec(hc, P_ISSUE_DELETE, values, nullptr, SPI_OK_DELETE);
}

/* P_LEDGER_INSERT without a statement; its parameters by ledger column. */
static bool ledger_insert_direct(const HostCache *hc, const Datum *values, const char *nulls)
{
	static const int param_of[CT_LEDGER_COLUMNS] = {0, 2, 0, 1, 3,	4,	5,	12,
													6, 7, 8, 9, 10, 11, -1, -1};
	Datum now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());

	DirectTable *t = ct_direct_begin_row(hc->ledger_relid, true);
	TupleTableSlot *row = ct_direct_new_row(t);
	for (int c = 0; c < CT_LEDGER_COLUMNS; c++)
	{
		int i = hc->ledger_att[c] - 1;
		int p = param_of[c];
		row->tts_isnull[i] = p >= 0 && nulls[p] == 'n';
		row->tts_values[i] = p < 0 ? now : row->tts_isnull[i] ? (Datum) 0 : values[p];
	}
	bool inserted = ct_direct_insert(t);
	ct_direct_end_row(t);
	return inserted;
}

/* Writes the order's ledger row; for an insert, false when the row exists already. */
static bool ledger_write(const HostCache *hc, PlanId plan, const OrderImage *img,
						 TimestampTz completed_at)
{
	Datum values[CT_LEDGER_NARGS];
	char nulls[CT_LEDGER_NARGS];

	ledger_params(img, completed_at, values, nulls);
	if (plan == P_LEDGER_INSERT && hc->ledger_direct && ct_direct_writes)
		return ledger_insert_direct(hc, values, nulls);
	ct_exec(hc, plan, values, nulls,
			plan == P_LEDGER_INSERT ? SPI_OK_INSERT_RETURNING : SPI_OK_UPDATE);
	return SPI_processed > 0;
}

static void ledger_fetch(const HostCache *hc, PlanId plan, const pg_uuid_t *order,
						 const pg_uuid_t *shop, LedgerRow *row, MemoryContext cxt)
{
	Datum values[2] = {UUIDPGetDatum(const_cast<pg_uuid_t *>(order)),
					   UUIDPGetDatum(const_cast<pg_uuid_t *>(shop))};

	ct_exec(hc, plan, values, nullptr,
			plan == P_LEDGER_SELECT ? SPI_OK_SELECT : SPI_OK_DELETE_RETURNING);
	read_ledger(row, cxt);
}

static const char *slug_key(const char *slug, bool isnull) { return isnull ? "" : slug; }

/* Adds an order (or its becoming a purchase) to its customer: the increment-only path. */
static void add_to_customer(const HostCache *hc, const OrderImage *img, int order_delta,
							EventChanges *changes, MemoryContext cxt)
{
	ct_customer_add(hc, img, order_delta, &changes->customers[0], cxt);
	changes->ncustomers = 1;
	if (img->purchase)
	{
		ct_pair_add(hc, img, &changes->pairs[0]);
		changes->npairs = 1;
	}
}

static void note_pair(const HostCache *hc, EventChanges *changes, const pg_uuid_t *shop,
					  const char *slug, const pg_uuid_t *customer)
{
	for (int i = 0; i < changes->npairs; i++)
		if (uuid_equal(&changes->pairs[i].customer, customer) &&
			strcmp(changes->pairs[i].slug, slug) == 0)
			return;
	ct_pair_read(hc, shop, slug, customer, &changes->pairs[changes->npairs++]);
}

/* The latest version of an order, decoded for the commit-time apply (nullptr: gone). */
OrderImage *ct_order_decode(const HostCache *hc, TupleDesc desc, HeapTuple tuple)
{
	OrderImage *img = static_cast<OrderImage *>(palloc(sizeof(OrderImage)));
	decode_order(hc, tuple, desc, img);
	/* A link the BEFORE trigger did not set (disabled, or a later trigger changed the order). */
	if (img->trackable && (img->link_null || !uuid_equal(&img->link, &img->customer)))
	{
		img->trackable = false;
		add_issue(img, "not_linked", true,
				  pstrdup("shop_customer_id does not match the order's shop and phone; run "
						  "customer_tracking_backfill()"));
	}
	return img;
}

/*
 * First step of applying an order at commit, before any customer is locked:
 * what its ledger row says it contributed so far (the row is removed when
 * the order is gone or no longer trackable). Sets the customers involved.
 */
void ct_order_prepare(const HostCache *hc, OrderWork *w, MemoryContext cxt)
{
	const OrderImage *img = w->img;
	bool trackable = img != nullptr && img->trackable;

	memset(&w->ledger, 0, sizeof(w->ledger));
	w->skip = false;
	w->ledger_fetched = false;
	w->ledger_deleted = false;
	w->ncustomers = 0;
	if (w->inserted && !trackable)
	{
		w->skip = true; /* inserted by this transaction and never counted */
		return;
	}
	if (!w->inserted)
	{
		ledger_fetch(hc, trackable ? P_LEDGER_SELECT : P_LEDGER_DELETE, &w->id, &w->shop,
					 &w->ledger, cxt);
		w->ledger_fetched = true;
		w->ledger_deleted = !trackable;
		if (w->ledger.present)
		{
			w->customers[w->ncustomers] = w->ledger.customer;
			w->customer_shops[w->ncustomers++] = w->ledger.shop;
		}
	}
	if (trackable && !(w->ncustomers == 1 && uuid_equal(&w->customers[0], &img->customer)))
	{
		w->customers[w->ncustomers] = img->customer;
		w->customer_shops[w->ncustomers++] = img->shop;
	}
}

/*
 * Applies an order's latest version against its ledger row: the ledger,
 * its customers' stats, per-slug counts and rollup deltas. Runs inside SPI,
 * as the extension's owner, after ct_order_prepare().
 */
void ct_order_apply(const HostCache *hc, OrderWork *w, MemoryContext cxt)
{
	OrderImage *after = w->img;
	LedgerRow &ledger = w->ledger;
	ct::rules::Contribution was;
	ct::rules::Contribution now;
	ChangeKind kind;
	EventChanges changes;
	TimestampTz completed_at = w->completed_at;

	if (w->skip)
		return;
	memset(&changes, 0, sizeof(changes));

	if (!w->ledger_fetched)
	{
		/* New in this transaction: no ledger row, unless a stale one is left for this id. */
		if (ledger_write(hc, P_LEDGER_INSERT, after, after->at))
		{
			add_to_customer(hc, after, 1, &changes, cxt);
			ct_rollup_apply(hc, &ledger, after, &changes);
			return;
		}
		ledger_fetch(hc, P_LEDGER_SELECT, &w->id, &w->shop, &ledger, cxt);
	}

	contribution_of_ledger(&ledger, &w->id, &was);
	if (after != nullptr)
		contribution_of_order(after, &ledger, &now);
	else
		now.present = false;
	kind = ct::rules::Classify(was, now);

	switch (kind)
	{
		case ChangeKind::kNothing:
			return;
		case ChangeKind::kLedgerOnly:
			/* Attribution, or the slug/time of an order that is not a purchase (checkouts move). */
			ledger_write(hc, P_LEDGER_UPDATE, after, completed_at);
			ct_rollup_apply(hc, &ledger, after, &changes);
			return;
		case ChangeKind::kAddOrder:
			ledger_write(hc, P_LEDGER_INSERT, after, after->purchase ? completed_at : 0);
			add_to_customer(hc, after, 1, &changes, cxt);
			ct_rollup_apply(hc, &ledger, after, &changes);
			return;
		case ChangeKind::kBecamePurchase:
			ledger_write(hc, P_LEDGER_UPDATE, after, completed_at);
			add_to_customer(hc, after, 0, &changes, cxt);
			ct_rollup_apply(hc, &ledger, after, &changes);
			return;
		case ChangeKind::kRecompute:
			break;
	}

	/*
	 * Lock every customer involved, in id order (the apply locked them all
	 * already when the transaction has several), then rewrite the ledger and
	 * recompute from it in statements that see everything committed before
	 * the locks were granted.
	 */
	{
		const pg_uuid_t *ids[CT_MAX_CUSTOMERS];
		const pg_uuid_t *shops[CT_MAX_CUSTOMERS];
		int n = 0;

		if (ledger.present)
		{
			ids[n] = &ledger.customer;
			shops[n] = &ledger.shop;
			n++;
		}
		/* The order's customer is made at its lock when it has no row yet. */
		if (now.present)
		{
			if (!(n == 1 && uuid_equal(ids[0], &after->customer)))
			{
				ids[n] = &after->customer;
				shops[n] = &after->shop;
				n++;
			}
		}
		if (n == 2 && memcmp(ids[0]->data, ids[1]->data, UUID_LEN) > 0)
		{
			std::swap(ids[0], ids[1]);
			std::swap(shops[0], shops[1]);
		}
		for (int i = 0; i < n; i++)
			if (now.present && uuid_equal(ids[i], &after->customer))
				ct_customer_lock_linked(hc, after, &changes.customers[i], cxt);
			else
				ct_customer_lock(hc, ids[i], shops[i], &changes.customers[i], cxt);
		changes.ncustomers = n;
	}

	/* Per-slug purchase counts of the slugs involved, as they were. */
	if (ledger.present && ledger.purchase)
		note_pair(hc, &changes, &ledger.shop, slug_key(ledger.slug, ledger.slug_null),
				  &ledger.customer);
	if (now.present && after->purchase)
		note_pair(hc, &changes, &after->shop,
				  after->text[CT_TEXT_SLUG].isnull
					  ? ""
					  : pnstrdup(after->text[CT_TEXT_SLUG].data, after->text[CT_TEXT_SLUG].len),
				  &after->customer);

	if (now.present)
	{
		if (ledger.present && !w->ledger_deleted)
			ledger_write(hc, P_LEDGER_UPDATE, after, completed_at);
		else
			ledger_write(hc, P_LEDGER_INSERT, after, after->purchase ? completed_at : 0);
	}

	for (int i = 0; i < changes.ncustomers; i++)
		ct_customer_recompute(hc, &changes.customers[i], cxt);
	for (int i = 0; i < changes.npairs; i++)
		ct_pair_recompute(hc, &changes.pairs[i]);
	ct_rollup_apply(hc, &ledger, now.present ? after : nullptr, &changes);
}

/*
 * A row event: the issue record now (it concerns this order only), the rest
 * noted for the commit-time apply (pending.cpp).
 */
static void note_row_event(const HostCache *hc, TriggerData *trigdata)
{
	TupleDesc desc = RelationGetDescr(trigdata->tg_relation);
	bool is_insert = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event);
	bool is_delete = TRIGGER_FIRED_BY_DELETE(trigdata->tg_event);
	HeapTuple new_tuple = is_insert ? trigdata->tg_trigtuple : trigdata->tg_newtuple;
	OrderImage *before = nullptr;
	OrderImage *after = nullptr;

	if (!is_insert)
	{
		before = static_cast<OrderImage *>(palloc(sizeof(OrderImage)));
		decode_order(hc, trigdata->tg_trigtuple, desc, before);
	}
	if (!is_delete)
		after = ct_order_decode(hc, desc, new_tuple);

	/* Issues: record the current ones, resolve or forget the old ones. */
	bool moved = before != nullptr && (after == nullptr || !same_shop(before, after));
	if ((after != nullptr && after->nissues > 0) || moved ||
		(before != nullptr && before->nissues > 0))
	{
		Oid save_userid;
		int save_sec_context;
		ct_begin_as_owner(hc, &save_userid, &save_sec_context);
		if (after != nullptr && after->nissues > 0)
			issues_record(hc, after, before);
		if (moved)
			issues_forget(hc, before); /* deleted, or moved: its record moves with it */
		else if (before != nullptr)
			issues_resolve(hc, before, after);
		ct_end_as_owner(&save_userid, &save_sec_context);
	}

	/* The order under its old key is gone when deleted or when its id or shop changed. */
	if (before != nullptr && !before->id_null && !before->shop_null &&
		(after == nullptr || after->id_null || after->shop_null ||
		 !uuid_equal(&before->id, &after->id) || !uuid_equal(&before->shop, &after->shop)))
		ct_pending_note(hc, desc, &before->shop, &before->id, nullptr, false, false);
	if (after != nullptr && !after->id_null && !after->shop_null)
		ct_pending_note(hc, desc, &after->shop, &after->id, new_tuple, after->purchase,
						is_insert || before == nullptr || before->id_null || before->shop_null ||
							!uuid_equal(&before->id, &after->id) ||
							!uuid_equal(&before->shop, &after->shop));
}

CT_FUNCTION(ct_track_order)
{
	TriggerData *trigdata = reinterpret_cast<TriggerData *>(fcinfo->context);
	const HostCache *hc;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("customer_tracking_track_order() must fire AFTER ... FOR EACH ROW")));
	if (ct_backfill_active)
		return PointerGetDatum(nullptr);

	hc = ct_host_cache(trigdata->tg_relation, fcinfo->flinfo->fn_oid);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) && !ct_retrack &&
		!ct_tracked_fields_changed(hc, RelationGetDescr(trigdata->tg_relation),
								   trigdata->tg_trigtuple, trigdata->tg_newtuple))
		return PointerGetDatum(nullptr);
	if (hc->unready != nullptr)
	{
		/*
		 * Citus: the extension's tables have no shard here to write (not
		 * distributed yet). The order is saved; nothing is written where
		 * nothing would read it.
		 */
		if (!hc->citus_table)
			report_not_tracked_here(hc);
		return PointerGetDatum(nullptr);
	}

	note_row_event(hc, trigdata);
	return PointerGetDatum(nullptr);
}

/* customer_tracking_flush (AFTER ... FOR EACH STATEMENT): the statement's rollup deltas. */
CT_FUNCTION(ct_flush_rollups)
{
	TriggerData *trigdata = reinterpret_cast<TriggerData *>(fcinfo->context);
	const HostCache *hc;
	Oid save_userid;
	int save_sec_context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(
			ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("customer_tracking_flush_rollups() must fire AFTER ... FOR EACH STATEMENT")));
	bool flush = ct_rollup_pending();
	bool sweep = ct_customers_created();
	if (!flush && !sweep)
		return PointerGetDatum(nullptr);
	hc = flush ? ct_rollup_pending_cache()
			   : ct_host_cache(trigdata->tg_relation, fcinfo->flinfo->fn_oid);
	ct_begin_as_owner(hc, &save_userid, &save_sec_context);
	if (flush)
		ct_rollup_flush(hc);
	if (sweep)
		ct_customers_sweep(hc);
	ct_end_as_owner(&save_userid, &save_sec_context);
	return PointerGetDatum(nullptr);
}

CT_FUNCTION(ct_truncate_orders)
{
	TriggerData *trigdata = reinterpret_cast<TriggerData *>(fcinfo->context);
	const HostCache *hc;
	Oid save_userid;
	int save_sec_context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("customer_tracking_truncate_orders() must fire AFTER TRUNCATE")));
	hc = ct_host_cache(trigdata->tg_relation, fcinfo->flinfo->fn_oid);
	/*
	 * On Citus, TRUNCATE triggers fire on the distributed table on the
	 * coordinator (Citus makes none on the shards): there the statements
	 * name the extension's distributed tables and Citus clears every shard of
	 * them. Should one fire on a shard, it clears the colocated shards only.
	 */
	if (hc->unready != nullptr && !hc->citus_table)
	{
		report_not_tracked_here(hc);
		return PointerGetDatum(nullptr);
	}

	ct_begin_as_owner(hc, &save_userid, &save_sec_context);
	/* Every order is gone: so is everything derived from them. */
	if (SPI_execute(hc->truncate_sql, false, 0) < 0)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("customer_tracking: could not clear tracking data after TRUNCATE")));
	ct_end_as_owner(&save_userid, &save_sec_context);
	ct_pending_forget_all(hc->orders_relid);
	return PointerGetDatum(nullptr);
}

/* customer_tracking_recompute(shop, customer): the trigger's recompute, for repairs. */
CT_FUNCTION(ct_recompute_customer)
{
	pg_uuid_t *shop = PG_GETARG_UUID_P(0);
	pg_uuid_t *customer = PG_GETARG_UUID_P(1);
	Oid schema = get_func_namespace(fcinfo->flinfo->fn_oid);
	Oid orders_relid = get_relname_relid("shop_orders", schema);
	const HostCache *hc;
	Relation orders;
	Oid save_userid;
	int save_sec_context;
	EventChanges changes;
	MemoryContext cxt = CurrentMemoryContext;

	if (!OidIsValid(orders_relid))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("customer_tracking: table shop_orders is missing")));
	/*
	 * Citus: the shop's rows are in the shards of its shop_orders shard's
	 * colocation group, which must be on this node (customer_tracking_distribute()
	 * makes Citus run this function on the node holding the shop).
	 */
	CitusTableInfo citus;
	if (ct_citus_present() && ct_citus_table(orders_relid, &citus) && citus.method == 'h')
	{
		Oid shard = ct_citus_local_shard_for(orders_relid, UUIDOID, UUIDPGetDatum(shop));
		if (!OidIsValid(shard))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("customer_tracking: shop %s is on another node", uuid_text(shop)),
					 errhint("Call it on the coordinator: customer_tracking_distribute() "
							 "makes Citus run it on the node holding the shop.")));
		orders_relid = shard;
	}
	orders = table_open(orders_relid, AccessShareLock);
	hc = ct_host_cache(orders, fcinfo->flinfo->fn_oid);
	table_close(orders, NoLock);

	memset(&changes, 0, sizeof(changes));
	/* As the commit-time apply does: a backfill counting this shop's customers goes first. */
	ct_lock_shops(shop, 1, ShareLock);
	ct_begin_as_owner(hc, &save_userid, &save_sec_context);
	ct_customer_lock(hc, customer, shop, &changes.customers[0], cxt);
	changes.ncustomers = 1;
	ct_customer_recompute(hc, &changes.customers[0], cxt);
	if (changes.customers[0].known)
	{
		/* Its purchases per slug: every slug it bought through or has a row for. */
		Oid types[2] = {UUIDOID, UUIDOID};
		Datum args[2] = {UUIDPGetDatum(customer), UUIDPGetDatum(shop)};
		char *sql =
			psprintf("SELECT coalesce(accessed_via_slug, '') FROM %s "
					 "WHERE shop_customer_id = $1 AND shop_id = $2 AND purchase_completed "
					 "UNION SELECT slug FROM %s WHERE shop_customer_id = $1 AND shop_id = $2",
					 hc->table_sql[XT_LEDGER], hc->table_sql[XT_PAIRS]);
		SPITupleTable *slugs;
		uint64 nslugs;

		if (SPI_execute_with_args(sql, 2, types, args, nullptr, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "customer_tracking: could not list a customer's slugs");
		slugs = SPI_tuptable;
		nslugs = SPI_processed;
		ct_rollup_apply(hc, nullptr, nullptr, &changes);
		for (uint64 i = 0; i < nslugs; i++)
		{
			EventChanges pair_changes;
			memset(&pair_changes, 0, sizeof(pair_changes));
			ct_pair_read(hc, shop, SPI_getvalue(slugs->vals[i], slugs->tupdesc, 1), customer,
						 &pair_changes.pairs[0]);
			pair_changes.npairs = 1;
			ct_pair_recompute(hc, &pair_changes.pairs[0]);
			ct_rollup_apply(hc, nullptr, nullptr, &pair_changes);
		}
		/* Written now: a repair of the rollups may follow in this transaction. */
		ct_rollup_flush(hc);
	}
	ct_end_as_owner(&save_userid, &save_sec_context);
	PG_RETURN_BOOL(changes.customers[0].known);
}
