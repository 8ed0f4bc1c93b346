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
#include "codes.hpp"
#include "customer_tracking.h"
#include "tracking.h"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

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

static bool same_uuid(const pg_uuid_t *a, const pg_uuid_t *b)
{
	return memcmp(a->data, b->data, UUID_LEN) == 0;
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
		ct_exec(hc, P_REFERRAL_VOID, values, nullptr, SPI_OK_UPDATE);
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
	int rc = SPI_execute_snapshot(hc->plans[P_REFERRAL_FACTS], values, nulls, GetLatestSnapshot(),
								  InvalidSnapshot, false, false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "customer_tracking: could not read the facts of a referral");
	HeapTuple row = SPI_tuptable->vals[0];
	TupleDesc desc = SPI_tuptable->tupdesc;
	bool isnull;
	int32 purchases = DatumGetInt32(SPI_getbinval(row, desc, 1, &isnull));
	bool same_email = DatumGetBool(SPI_getbinval(row, desc, 2, &isnull));
	bool exists = DatumGetBool(SPI_getbinval(row, desc, 3, &isnull));
	int64 today = DatumGetInt64(SPI_getbinval(row, desc, 4, &isnull));
	int32 review_days = DatumGetInt32(SPI_getbinval(row, desc, 5, &isnull));
	int32 daily_limit = DatumGetInt32(SPI_getbinval(row, desc, 6, &isnull));
	if (exists)
		return; /* one referral per referred customer */

	const char *blocked = nullptr;
	if (same_uuid(&lw->advocate, &img->customer) || same_email)
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
	ct_exec(hc, P_REFERRAL_INSERT, insert, insert_nulls, SPI_OK_INSERT);
}
