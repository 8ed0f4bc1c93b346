/*
 * referrals.cpp: referrals at the commit-time apply.
 *
 * Each customer may have a stable referral code (customer_tracking_referral_codes,
 * made by customer_tracking_referral_code()). An order that becomes a paid
 * purchase carrying one (the optional referral_code column, else a ref=<code>
 * value in utm_source or referrer) makes a referral of its customer by the
 * code's owner, the advocate, once per referred customer: pending until its
 * review period ends (review_ends_at, set from the shop's review_days when it
 * is made), then approved (the status is computed when read), voided when the
 * order stops being that customer's paid purchase before then, or blocked
 * with a reason when it is made: self_referral (same customer, i.e. same
 * phone, or same email), already_customer (the referred customer has another
 * paid order), daily_limit (the advocate has daily_limit referrals that day).
 *
 * The referred customer and the advocate are both locked by the apply, in
 * customer id order (codes.cpp adds the advocate to the order's customers),
 * so the checks below read, with the latest snapshot, what every committed
 * transaction did to both: the daily count cannot be overtaken by a
 * concurrent referral of the same advocate.
 *
 * Boundary rule (pg_boundary.hpp): no object with a destructor in any frame.
 */
#include "codes.h"

#include "statements.h"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

/* ------------------------------------------------------------------------
 * The statements (prepared on first use, only when the tables exist)
 * ------------------------------------------------------------------------ */

/* $1 shop, $2 code: the customer whose referral code it is. */
enum AdvocateResult
{
	AR_CUSTOMER = 1
};
static char *advocate_sql(const HostCache *hc)
{
	return psprintf("SELECT customer_id FROM %s WHERE shop_id = $1 AND code = $2",
					hc->table_sql[XT_REFERRAL_CODES]);
}
static const Oid advocate_types[2] = {UUIDOID, TEXTOID};
static Statement referral_advocate = {"referral advocate", advocate_sql, 2, advocate_types};

/*
 * $1 shop, $2 the referred customer, $3 the advocate, $4 when the order
 * was paid, $5 the order's email. Read with the latest snapshot, under
 * the locks of both customers.
 */
enum FactsResult
{
	FR_PURCHASES = 1, /* the referred customer's purchases, this order's included */
	FR_SAME_EMAIL,	  /* the advocate has the order's or the customer's email */
	FR_EXISTS,		  /* the referred customer has a referral already */
	FR_TODAY,		  /* the advocate's referrals (not blocked) on the order's UTC day */
	FR_REVIEW_DAYS,
	FR_DAILY_LIMIT
};
static char *facts_sql(const HostCache *hc)
{
	const char *const *t = hc->table_sql;
	return psprintf(
		"WITH c AS (SELECT total_purchases, lower(btrim(email)) AS email FROM %s "
		"WHERE id = $2 AND shop_id = $1), "
		"a AS (SELECT nullif(lower(btrim(email)), '') AS email FROM %s "
		"WHERE id = $3 AND shop_id = $1), "
		"s AS (SELECT review_days, daily_limit FROM %s WHERE shop_id = $1) "
		"SELECT coalesce((SELECT total_purchases FROM c), 0), "
		"coalesce((SELECT a.email = lower(btrim($5)) OR a.email = (SELECT email FROM c) "
		"FROM a), false), "
		"EXISTS (SELECT 1 FROM %s r WHERE r.shop_id = $1 AND r.referred_customer_id = $2), "
		"(SELECT count(*) FROM %s r WHERE r.shop_id = $1 AND r.advocate_customer_id = $3 "
		"AND r.blocked_reason IS NULL AND r.paid_at >= date_trunc('day', $4, 'UTC') "
		"AND r.paid_at < date_trunc('day', $4, 'UTC') + interval '1 day'), "
		"coalesce((SELECT review_days FROM s), 7), coalesce((SELECT daily_limit FROM s), 10)",
		t[XT_CUSTOMERS], t[XT_CUSTOMERS], t[XT_REFERRAL_SETTINGS], t[XT_REFERRALS],
		t[XT_REFERRALS]);
}
static const Oid facts_types[5] = {UUIDOID, UUIDOID, UUIDOID, TIMESTAMPTZOID, TEXTOID};
static Statement referral_facts = {"referral facts", facts_sql, 5, facts_types};

/*
 * $1 shop, $2 referred customer, $3 order, $4 advocate, $5 code, $6 paid at,
 * $7 review days, $8 blocked reason (NULL: pending)
 */
static char *insert_sql(const HostCache *hc)
{
	return psprintf("INSERT INTO %s (shop_id, referred_customer_id, order_id, "
					"advocate_customer_id, referral_code, paid_at, review_ends_at, "
					"blocked_reason) VALUES ($1, $2, $3, $4, $5, $6, "
					"$6 + pg_catalog.make_interval(days => $7), $8) ON CONFLICT DO NOTHING",
					hc->table_sql[XT_REFERRALS]);
}
static const Oid insert_types[8] = {UUIDOID, UUIDOID,		 UUIDOID, UUIDOID,
									TEXTOID, TIMESTAMPTZOID, INT4OID, TEXTOID};
static Statement referral_insert = {"referral insert", insert_sql, 8, insert_types};

/* $1 shop, $2 order, $3 now */
static char *void_sql(const HostCache *hc)
{
	return psprintf("UPDATE %s SET voided_at = $3 WHERE shop_id = $1 AND order_id = $2 "
					"AND voided_at IS NULL AND blocked_reason IS NULL AND review_ends_at > $3",
					hc->table_sql[XT_REFERRALS]);
}
static const Oid void_types[3] = {UUIDOID, UUIDOID, TIMESTAMPTZOID};
static Statement referral_void = {"referral void", void_sql, 3, void_types};

/* A ref=<code> parameter: at the start of the value or after '?', '&' or ';'. */
static bool ref_parameter(const TextValue *t, char *out)
{
	if (t->isnull)
		return false;
	const char *s = t->data;
	int len = t->full_len;
	for (int i = 0; i + 4 <= len; i++)
	{
		if (i > 0 && s[i - 1] != '?' && s[i - 1] != '&' && s[i - 1] != ';')
			continue;
		if ((s[i] != 'r' && s[i] != 'R') || (s[i + 1] != 'e' && s[i + 1] != 'E') ||
			(s[i + 2] != 'f' && s[i + 2] != 'F') || s[i + 3] != '=')
			continue;
		int start = i + 4;
		int end = start;
		while (end < len && s[end] != '&' && s[end] != '#' && s[end] != ';')
			end++;
		return ct_code_normalize(s + start, end - start, out);
	}
	return false;
}

char *ct_referral_code_of(const HostCache *hc, const OrderImage *img)
{
	char buf[CT_CODE_MAX + 1];
	const TextValue *column = &img->referral_code;
	if (!column->isnull)
		return ct_code_normalize(column->data, column->full_len, buf) ? pstrdup(buf) : nullptr;
	/* Attribution values are kept clipped to 255 characters; the code is read from the whole. */
	if (ref_parameter(&img->text[CT_TEXT_UTM_SOURCE], buf) ||
		ref_parameter(&img->text[CT_TEXT_REFERRER], buf))
		return pstrdup(buf);
	return nullptr;
}

bool ct_referral_advocate(const HostCache *hc, const pg_uuid_t *shop, const char *code,
						  pg_uuid_t *advocate)
{
	Datum values[2] = {UUIDPGetDatum(const_cast<pg_uuid_t *>(shop)), CStringGetTextDatum(code)};
	ct_exec(hc, &referral_advocate, values, nullptr, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	bool isnull;
	*advocate = *DatumGetUUIDP(
		SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, AR_CUSTOMER, &isnull));
	return true;
}

void ct_referral_apply(const HostCache *hc, const OrderWork *w, const LoyaltyWork *lw)
{
	const OrderImage *img = w->img;

	/* Refunded (cancelled, deleted, moved) within its review period: voided. */
	if (lw->moved)
	{
		Datum values[3] = {UUIDPGetDatum(const_cast<pg_uuid_t *>(&w->shop)),
						   UUIDPGetDatum(const_cast<pg_uuid_t *>(&w->id)),
						   TimestampTzGetDatum(GetCurrentStatementStartTimestamp())};
		ct_exec(hc, &referral_void, values, nullptr, SPI_OK_UPDATE);
	}
	if (lw->referral == nullptr)
		return;
	if (!lw->has_advocate)
	{
		ct_loyalty_issue(hc, img, "unknown_referral_code",
						 psprintf("referral code \"%s\" is no customer's code", lw->referral));
		return;
	}

	Datum values[8];
	char nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	values[0] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->shop));
	values[1] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->customer));
	values[2] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&lw->advocate));
	values[3] = TimestampTzGetDatum(w->completed_at);
	values[4] = ct_text_datum(&img->text[CT_TEXT_EMAIL], &nulls[4]);
	/* Latest snapshot (also under REPEATABLE READ): both customers are locked. */
	ct_exec_latest(hc, &referral_facts, values, nulls, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "customer_tracking: could not read the facts of a referral");
	HeapTuple row = SPI_tuptable->vals[0];
	TupleDesc desc = SPI_tuptable->tupdesc;
	bool isnull;
	int32 purchases = DatumGetInt32(SPI_getbinval(row, desc, FR_PURCHASES, &isnull));
	bool same_email = DatumGetBool(SPI_getbinval(row, desc, FR_SAME_EMAIL, &isnull));
	bool exists = DatumGetBool(SPI_getbinval(row, desc, FR_EXISTS, &isnull));
	int64 today = DatumGetInt64(SPI_getbinval(row, desc, FR_TODAY, &isnull));
	int32 review_days = DatumGetInt32(SPI_getbinval(row, desc, FR_REVIEW_DAYS, &isnull));
	int32 daily_limit = DatumGetInt32(SPI_getbinval(row, desc, FR_DAILY_LIMIT, &isnull));
	if (exists)
		return; /* one referral per referred customer */

	const char *blocked = nullptr;
	if (ct_uuid_equal(&lw->advocate, &img->customer) || same_email)
		blocked = "self_referral";
	else if (purchases > 1)
		blocked = "already_customer";
	else if (today >= daily_limit)
		blocked = "daily_limit";

	Datum insert[8];
	char insert_nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	insert[0] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->shop));
	insert[1] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->customer));
	insert[2] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->id));
	insert[3] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&lw->advocate));
	insert[4] = CStringGetTextDatum(lw->referral);
	insert[5] = TimestampTzGetDatum(w->completed_at);
	insert[6] = Int32GetDatum(review_days);
	if (blocked == nullptr)
		insert_nulls[7] = 'n';
	else
		insert[7] = CStringGetTextDatum(blocked);
	ct_exec(hc, &referral_insert, insert, insert_nulls, SPI_OK_INSERT);
}
