/*
 * order.cpp: one version of an order as the extension reads it.
 *
 * decode_order() reads the fields of a shop_orders row through the host
 * description (host_cache.cpp: column map, types, status lists, naive time
 * zone), normalises the network's spelling and the phone (libphonenumber,
 * phone_glue.cpp), derives the customer's id (customer_id.cpp) and decides
 * whether the order can be tracked, with the issues that say why not. It
 * reads no table and writes nothing: the triggers, the commit-time apply, the
 * backfill and customer_tracking_decode_order() all read orders through it.
 *
 * Boundary rule (pg_boundary.hpp): this file calls PostgreSQL throughout, so
 * no object with a destructor lives in any of its frames; C++ is used for
 * the noexcept rules in order_rules.hpp only.
 */
#include "order.h"

#include "customer_id.h"
#include "order_rules.hpp"
#include "phone_glue.h"
#include "statements.h"

extern "C" {
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
}

using ct::rules::StatusClass;

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

/* Where each text field is kept: the width of that column is the width it is clipped to. */
struct TextColumn
{
	int table;
	const char *column;
};
static const TextColumn text_kept_in[CT_TEXT_FIELDS] = {
	{XT_CUSTOMERS, "email"},		  {XT_CUSTOMERS, "customer_name"}, {XT_LEDGER, "network"},
	{XT_LEDGER, "accessed_via_slug"}, {XT_LEDGER, "referrer"},		   {XT_LEDGER, "utm_source"},
	{XT_LEDGER, "utm_medium"},		  {XT_LEDGER, "utm_campaign"}};

struct TextWidths
{
	int width[CT_TEXT_FIELDS]; /* characters; 0: no limit */
};

static void build_widths(const HostCache *hc, void *p)
{
	TextWidths *widths = static_cast<TextWidths *>(p);
	for (int i = 0; i < CT_TEXT_FIELDS; i++)
	{
		Oid relid = hc->table_relid[text_kept_in[i].table];
		AttrNumber attnum = get_attnum(relid, text_kept_in[i].column);
		Oid type;
		int32 typmod = -1;
		Oid collation;
		if (attnum != InvalidAttrNumber)
			get_atttypetypmodcoll(relid, attnum, &type, &typmod, &collation);
		/* varchar(n) and char(n): n + VARHDRSZ; text: -1 */
		widths->width[i] = typmod > static_cast<int32>(VARHDRSZ) ? typmod - VARHDRSZ : 0;
	}
}
static ModuleState text_widths = {"text widths", sizeof(TextWidths), build_widths};

int ct_text_width(const HostCache *hc, int text_field)
{
	return static_cast<const TextWidths *>(ct_module_state(hc, &text_widths))->width[text_field];
}

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
	t->len = limit > 0 ? pg_mbcharcliplen(t->data, t->full_len, limit) : t->full_len;
	if (len == 0)
		t->isnull = true; /* blank: no network */
}

/* The issue code of a text field clipped to its column: "<field>_truncated". */
static const char *truncated_code(int text_field)
{
	static const char *codes[CT_TEXT_FIELDS];
	if (codes[text_field] == nullptr)
	{
		char code[NAMEDATALEN + 16];
		snprintf(code, sizeof(code), "%s_truncated", ct_field_name(ct_text_field_of[text_field]));
		codes[text_field] = MemoryContextStrdup(TopMemoryContext, code);
	}
	return codes[text_field];
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
	const int *limit = static_cast<const TextWidths *>(ct_module_state(hc, &text_widths))->width;
	for (int i = 0; i < CT_TEXT_FIELDS; i++)
		read_text(hc, tuple, desc, ct_text_field_of[i], limit[i], &img->text[i]);
	normalize_network(&img->text[CT_TEXT_NETWORK], limit[CT_TEXT_NETWORK]);
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
			add_issue(img, truncated_code(i), false,
					  psprintf("%d characters, kept the first %d",
							   pg_mbstrlen_with_len(img->text[i].data, img->text[i].full_len),
							   limit[i]));

	if (img->trackable)
		ct_customer_id(&img->shop, img->e164, strlen(img->e164), &img->customer);
}

/* decode_order() for the trigger, the SQL side (customer_tracking_decode_order()) and the backfill. */
void ct_decode_order(const HostCache *hc, HeapTuple tuple, TupleDesc desc, OrderImage *img)
{
	decode_order(hc, tuple, desc, img);
}

bool ct_uuid_equal(const pg_uuid_t *a, const pg_uuid_t *b)
{
	return memcmp(a->data, b->data, UUID_LEN) == 0;
}

bool ct_same_shop(const OrderImage *a, const OrderImage *b)
{
	return a->shop_null == b->shop_null && (a->shop_null || ct_uuid_equal(&a->shop, &b->shop));
}

const char *ct_uuid_text(const pg_uuid_t *u)
{
	return DatumGetCString(
		DirectFunctionCall1(uuid_out, UUIDPGetDatum(const_cast<pg_uuid_t *>(u))));
}


Datum ct_text_datum(const TextValue *t, char *null)
{
	*null = t->isnull ? 'n' : ' ';
	return t->isnull ? (Datum) 0 : PointerGetDatum(cstring_to_text_with_len(t->data, t->len));
}


/* The latest version of an order, decoded for the commit-time apply (nullptr: gone). */
OrderImage *ct_order_decode(const HostCache *hc, TupleDesc desc, HeapTuple tuple)
{
	OrderImage *img = static_cast<OrderImage *>(palloc(sizeof(OrderImage)));
	decode_order(hc, tuple, desc, img);
	/* A link the BEFORE trigger did not set (disabled, or a later trigger changed the order). */
	if (img->trackable && (img->link_null || !ct_uuid_equal(&img->link, &img->customer)))
	{
		img->trackable = false;
		add_issue(img, "not_linked", true,
				  pstrdup("shop_customer_id does not match the order's shop and phone; run "
						  "customer_tracking_backfill()"));
	}
	return img;
}
