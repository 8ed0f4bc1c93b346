/*
 * codes.cpp: loyalty codes at the commit-time apply, and the owner check of
 * the owner-facing loyalty functions.
 *
 * A code belongs to one customer of one shop (customer_tracking_codes). An
 * order that carries it (the optional discount_code column) uses it when the
 * order becomes a paid purchase of that customer: the code's count of uses
 * goes up by one unless it is used up, voided or expired, and a row in
 * customer_tracking_code_uses says which order holds the use. The use is
 * given back (row deleted, count down) when the order stops being a paid
 * purchase of that customer with that code: refunded, cancelled, deleted,
 * moved to another phone, or its code changed. An order never paid never
 * takes one.
 *
 * Why this cannot race or deadlock: a code's row is only written by the
 * commit-time apply (pending.cpp) while it holds the row lock of the code's
 * customer, which the apply takes in customer id order before anything else
 * shared; so two transactions using the same code queue on the customer, the
 * second sees the first's count (READ COMMITTED re-reads the row; REPEATABLE
 * READ and SERIALIZABLE fail with a serialization error, as they do for the
 * customer row itself), and the code row is the last lock either takes.
 * customer_tracking_void_code() writes the row outside the apply: it waits for
 * no customer, so it can only queue behind an apply, never the other way round
 * unless its own transaction goes on to commit orders (see the README).
 *
 * Boundary rule (pg_boundary.hpp): no object with a destructor in any frame.
 */
#include "codes.h"

#include "issues.h"
#include "owner.h"
#include "pg_boundary.hpp"
#include "statements.h"

extern "C" {
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"
#include "nodes/value.h"
}

#include <algorithm>

bool ct_code_normalize(const char *data, int len, char *out)
{
	int n = 0;
	for (int i = 0; i < len; i++)
	{
		char c = data[i];
		if (c == ' ' || c == '-' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
			continue;
		if (c >= 'a' && c <= 'z')
			c = static_cast<char>(c - 'a' + 'A');
		else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return false;
		if (n == CT_CODE_MAX)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	return n > 0;
}

/* ------------------------------------------------------------------------
 * The statements (prepared on first use, only when the tables exist)
 * ------------------------------------------------------------------------ */

static const Oid two_uuids[2] = {UUIDOID, UUIDOID};
static const Oid code_key_types[2] = {UUIDOID, TEXTOID}; /* $1 shop, $2 code */

/* $1 customer, $2 shop: the customer's row lock. */
static char *lock_sql(const HostCache *hc)
{
	return psprintf("SELECT 1 FROM %s WHERE id = $1 AND shop_id = $2 FOR UPDATE",
					hc->table_sql[XT_CUSTOMERS]);
}
static Statement loyalty_lock = {"loyalty lock", lock_sql, 2, two_uuids};

/* $1 shop, $2 order: the use the order holds. */
enum UseFindResult
{
	UF_CODE = 1,
	UF_CUSTOMER
};
static char *use_find_sql(const HostCache *hc)
{
	return psprintf("SELECT code, customer_id FROM %s WHERE shop_id = $1 AND order_id = $2",
					hc->table_sql[XT_CODE_USES]);
}
static Statement code_use_find = {"code use find", use_find_sql, 2, two_uuids};

/* $1 shop, $2 order */
static char *use_delete_sql(const HostCache *hc)
{
	return psprintf("DELETE FROM %s WHERE shop_id = $1 AND order_id = $2",
					hc->table_sql[XT_CODE_USES]);
}
static Statement code_use_delete = {"code use delete", use_delete_sql, 2, two_uuids};

/* $1 shop, $2 order, $3 code, $4 customer, $5 used at */
static char *use_insert_sql(const HostCache *hc)
{
	return psprintf("INSERT INTO %s (shop_id, order_id, code, customer_id, used_at) "
					"VALUES ($1, $2, $3, $4, $5)",
					hc->table_sql[XT_CODE_USES]);
}
static const Oid use_insert_types[5] = {UUIDOID, UUIDOID, TEXTOID, UUIDOID, TIMESTAMPTZOID};
static Statement code_use_insert = {"code use insert", use_insert_sql, 5, use_insert_types};

/* $1 shop, $2 code, $3 customer, $4 when: one use taken, unless it cannot be. */
static char *take_sql(const HostCache *hc)
{
	return psprintf("UPDATE %s SET uses = uses + 1 WHERE shop_id = $1 AND code = $2 "
					"AND customer_id = $3 AND voided_at IS NULL "
					"AND (expires_at IS NULL OR expires_at > $4) AND uses < max_uses",
					hc->table_sql[XT_CODES]);
}
static const Oid take_types[4] = {UUIDOID, TEXTOID, UUIDOID, TIMESTAMPTZOID};
static Statement code_take = {"code take", take_sql, 4, take_types};

/* $1 shop, $2 code */
static char *give_back_sql(const HostCache *hc)
{
	return psprintf("UPDATE %s SET uses = uses - 1 WHERE shop_id = $1 AND code = $2 "
					"AND uses > 0",
					hc->table_sql[XT_CODES]);
}
static Statement code_give_back = {"code give back", give_back_sql, 2, code_key_types};

/* $1 shop, $2 code, $3 when: why it could not be taken. */
enum CodeReadResult
{
	CR_CUSTOMER = 1,
	CR_VOIDED,
	CR_EXPIRED,
	CR_USED_UP
};
static char *read_sql(const HostCache *hc)
{
	return psprintf("SELECT customer_id, voided_at IS NOT NULL, "
					"coalesce(expires_at <= $3, false), uses >= max_uses "
					"FROM %s WHERE shop_id = $1 AND code = $2",
					hc->table_sql[XT_CODES]);
}
static const Oid read_types[3] = {UUIDOID, TEXTOID, TIMESTAMPTZOID};
static Statement code_read = {"code read", read_sql, 3, read_types};

const char *ct_loyalty_truncate_sql(const HostCache *hc)
{
	/* Every order is gone: no use is held and no referral stands; the codes stay issued. */
	if (!hc->loyalty)
		return "";
	return psprintf("DELETE FROM %s; UPDATE %s SET uses = 0 WHERE uses <> 0; DELETE FROM %s;",
					hc->table_sql[XT_CODE_USES], hc->table_sql[XT_CODES],
					hc->table_sql[XT_REFERRALS]);
}

/* ------------------------------------------------------------------------
 * The hooks
 * ------------------------------------------------------------------------ */

void ct_loyalty_prepare(const HostCache *hc, OrderWork *w, MemoryContext cxt)
{
	const OrderImage *img = w->img;
	bool was_paid = w->ledger.present && w->ledger.purchase;
	bool now_paid = img != nullptr && img->trackable && img->purchase;
	char buf[CT_CODE_MAX + 1];
	bool has_code = now_paid && !img->discount_code.isnull;
	char *referral = nullptr;

	w->loyalty = nullptr;
	if (!hc->loyalty || w->skip || (!was_paid && !now_paid))
		return;
	if (now_paid && !was_paid)
		referral = ct_referral_code_of(hc, img);
	if (!was_paid && !has_code && referral == nullptr)
		return; /* the common case: a new purchase without a code costs nothing more */

	LoyaltyWork *lw = static_cast<LoyaltyWork *>(MemoryContextAllocZero(cxt, sizeof(LoyaltyWork)));
	lw->was_paid = was_paid;
	lw->now_paid = now_paid;
	lw->moved = was_paid && (!now_paid || !ct_uuid_equal(&w->ledger.customer, &img->customer));
	if (has_code)
	{
		const TextValue *t = &img->discount_code;
		if (ct_code_normalize(t->data, t->full_len, buf))
			lw->code = MemoryContextStrdup(cxt, buf);
		else
		{
			bool blank = true;
			for (int i = 0; i < t->full_len && blank; i++)
				blank = t->data[i] == ' ' || t->data[i] == '\t' || t->data[i] == '-';
			lw->code_bad = !blank; /* a blank code is no code */
		}
		lw->raw_code = MemoryContextStrdup(cxt, psprintf("%.*s%s", std::min(t->full_len, 40),
														 t->data, t->full_len > 40 ? "..." : ""));
	}
	if (referral != nullptr)
	{
		lw->referral = MemoryContextStrdup(cxt, referral);
		if (ct_referral_advocate(hc, &img->shop, referral, &lw->advocate))
		{
			lw->has_advocate = true;
			/* Locked with the order's customers, in id order (pending.cpp). */
			bool listed = false;
			for (int i = 0; i < w->ncustomers; i++)
				listed = listed || ct_uuid_equal(&w->customers[i], &lw->advocate);
			if (!listed && w->ncustomers < CT_MAX_CUSTOMERS + 1)
			{
				w->customers[w->ncustomers] = lw->advocate;
				w->customer_shops[w->ncustomers++] = img->shop;
			}
		}
	}
	w->loyalty = lw;
}

/* The customer's row lock (held already when the apply took it: then no wait). */
static void lock_customer(const HostCache *hc, const pg_uuid_t *shop, const pg_uuid_t *customer)
{
	Datum values[2] = {UUIDPGetDatum(const_cast<pg_uuid_t *>(customer)),
					   UUIDPGetDatum(const_cast<pg_uuid_t *>(shop))};
	ct_exec(hc, &loyalty_lock, values, nullptr, SPI_OK_SELECT);
}

void ct_loyalty_issue(const HostCache *hc, const OrderImage *img, const char *code,
					  const char *detail)
{
	if (ct_strict)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("customer_tracking: order %s rejected: %s", ct_uuid_text(&img->id), code),
				 errdetail("%s", detail),
				 errhint("customer_tracking.strict is on; turn it off to save such orders.")));
	ct_issue_at_commit(hc, &img->shop, &img->id, code, detail);
	if (ct_report_level != 0)
		ereport(ct_report_level, (errcode(ERRCODE_DATA_EXCEPTION),
								  errmsg("customer_tracking: order %s tracked with a caveat: %s",
										 ct_uuid_text(&img->id), code),
								  errdetail("%s", detail)));
}

/* Why a code could not be used (it was not taken). */
static const char *refusal(const HostCache *hc, const OrderImage *img, const char *code,
						   TimestampTz at)
{
	Datum values[3] = {UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->shop)),
					   CStringGetTextDatum(code), TimestampTzGetDatum(at)};
	bool isnull;
	ct_exec(hc, &code_read, values, nullptr, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return "no such code in this shop";
	HeapTuple row = SPI_tuptable->vals[0];
	TupleDesc desc = SPI_tuptable->tupdesc;
	if (!ct_uuid_equal(DatumGetUUIDP(SPI_getbinval(row, desc, CR_CUSTOMER, &isnull)),
					   &img->customer))
		return "the code belongs to another customer";
	if (DatumGetBool(SPI_getbinval(row, desc, CR_VOIDED, &isnull)))
		return "the code is voided";
	if (DatumGetBool(SPI_getbinval(row, desc, CR_EXPIRED, &isnull)))
		return "the code expired";
	return "the code is used up";
}

static void take_use(const HostCache *hc, const OrderWork *w, const LoyaltyWork *lw)
{
	const OrderImage *img = w->img;
	if (lw->code == nullptr)
	{
		if (lw->code_bad)
			ct_loyalty_issue(hc, img, "discount_code_not_used",
							 psprintf("code \"%s\": not a code", lw->raw_code));
		return;
	}
	lock_customer(hc, &img->shop, &img->customer);
	Datum values[5] = {UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->shop)),
					   CStringGetTextDatum(lw->code),
					   UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->customer)),
					   TimestampTzGetDatum(w->completed_at), (Datum) 0};
	ct_exec(hc, &code_take, values, nullptr, SPI_OK_UPDATE);
	if (SPI_processed == 0)
	{
		ct_loyalty_issue(
			hc, img, "discount_code_not_used",
			psprintf("code \"%s\": %s", lw->code, refusal(hc, img, lw->code, w->completed_at)));
		return;
	}
	Datum use[5] = {UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->shop)),
					UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->id)), CStringGetTextDatum(lw->code),
					UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->customer)),
					TimestampTzGetDatum(w->completed_at)};
	ct_exec(hc, &code_use_insert, use, nullptr, SPI_OK_INSERT);
}

void ct_loyalty_apply(const HostCache *hc, OrderWork *w, MemoryContext cxt)
{
	LoyaltyWork *lw = w->loyalty;
	if (lw == nullptr || w->skip)
		return;
	const OrderImage *img = w->img;
	/*
	 * What the ledger said before this apply: ct_order_apply() reads it for
	 * an order inserted in this transaction whose ledger row exists already
	 * (applied earlier, e.g. by customer_tracking_apply_pending() inside a
	 * savepoint): applying again then changes nothing.
	 */
	lw->was_paid = w->ledger.present && w->ledger.purchase;
	lw->moved =
		lw->was_paid && (!lw->now_paid || !ct_uuid_equal(&w->ledger.customer, &img->customer));
	if (lw->was_paid && lw->referral != nullptr)
		lw->referral = nullptr; /* made by the earlier apply, or not at all */

	/* Codes: reconcile the use the order holds with the one it should hold. */
	if (lw->was_paid)
	{
		Datum key[2] = {UUIDPGetDatum(&w->shop), UUIDPGetDatum(&w->id)};
		ct_exec(hc, &code_use_find, key, nullptr, SPI_OK_SELECT);
		if (SPI_processed > 0)
		{
			bool isnull;
			char *held = TextDatumGetCString(
				SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, UF_CODE, &isnull));
			pg_uuid_t holder = *DatumGetUUIDP(
				SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, UF_CUSTOMER, &isnull));
			bool keep = lw->now_paid && lw->code != nullptr && strcmp(held, lw->code) == 0 &&
						ct_uuid_equal(&holder, &img->customer);
			if (!keep)
			{
				Datum code_key[2] = {UUIDPGetDatum(&w->shop), CStringGetTextDatum(held)};
				lock_customer(hc, &w->shop, &holder);
				ct_exec(hc, &code_use_delete, key, nullptr, SPI_OK_DELETE);
				ct_exec(hc, &code_give_back, code_key, nullptr, SPI_OK_UPDATE);
				/* A paid order whose code (or customer) changed uses its new code. */
				if (lw->now_paid && (lw->code != nullptr || lw->code_bad))
					take_use(hc, w, lw);
			}
		}
		else if (lw->now_paid && (lw->code != nullptr || lw->code_bad))
		{
			/*
			 * Paid before without a use: if this code was refused then, the
			 * refusal stands (listed again); a code new to the paid order is
			 * taken now.
			 */
			if (!ct_issue_reopen(
					hc, &w->shop, &w->id, "discount_code_not_used",
					psprintf("code \"%s\":", lw->code != nullptr ? lw->code : lw->raw_code)))
				take_use(hc, w, lw);
		}
	}
	else if (lw->now_paid && (lw->code != nullptr || lw->code_bad))
		take_use(hc, w, lw);

	ct_referral_apply(hc, w, lw);
}

/* ------------------------------------------------------------------------
 * Owner check of the owner-facing loyalty functions
 * ------------------------------------------------------------------------ */

/*
 * customer_tracking_require_shop_owner(p_shop_id): raises unless the role
 * that made the request may manage the shop: the shop is one of
 * customer_tracking_owned_shops() for it, or it is a superuser or bypasses
 * row-level security (service_role), as it would read every row anyway.
 * Called from the SECURITY DEFINER loyalty functions: the request's role is
 * the outer one (session user or SET ROLE), and the owner lookup
 * (auth.uid()) runs with its rights, never the extension owner's.
 */
CT_FUNCTION(ct_require_shop_owner)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("customer_tracking: p_shop_id must not be NULL")));
	pg_uuid_t *shop = PG_GETARG_UUID_P(0);
	if (ct_role_manages_shop(shop, get_func_namespace(fcinfo->flinfo->fn_oid)))
		PG_RETURN_VOID();
	ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					errmsg("customer_tracking: permission denied for shop %s", ct_uuid_text(shop)),
					errdetail("Only the shop's owner may manage its codes and referrals.")));
	PG_RETURN_VOID();
}
