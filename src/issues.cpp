/*
 * issues.cpp: the issue record (customer_tracking_issues): one row per order
 * and issue, written as the order is saved (it concerns that order only),
 * resolved when a later version no longer has it, removed with the order.
 * Orders without a shop are recorded under the nil uuid.
 */
#include "issues.h"

#include "statements.h"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
}

static const pg_uuid_t nil_uuid = {{0}};

/* $1 shop, $2 order, $3 issue, $4 detail, $5 untracked */
static char *upsert_sql(const HostCache *hc)
{
	return psprintf(
		"INSERT INTO %s AS i (shop_id, shop_order_id, issue, detail, "
		"untracked) "
		"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (shop_id, shop_order_id, issue) DO UPDATE SET "
		"detail = EXCLUDED.detail, untracked = EXCLUDED.untracked, last_seen_at = now(), "
		"resolved_at = NULL",
		hc->table_sql[XT_ISSUES]);
}
static const Oid upsert_types[5] = {UUIDOID, UUIDOID, TEXTOID, TEXTOID, BOOLOID};
static Statement issue_upsert = {"issue upsert", upsert_sql, 5, upsert_types};

/* $1 shop, $2 order, $3 the issues it has now */
static char *resolve_sql(const HostCache *hc)
{
	return psprintf("UPDATE %s SET resolved_at = now() "
					"WHERE shop_id = $1 AND shop_order_id = $2 AND resolved_at IS NULL AND "
					"issue <> ALL ($3)",
					hc->table_sql[XT_ISSUES]);
}
static const Oid resolve_types[3] = {UUIDOID, UUIDOID, TEXTARRAYOID};
static Statement issue_resolve = {"issue resolve", resolve_sql, 3, resolve_types};

/* $1 shop, $2 order */
static char *delete_sql(const HostCache *hc)
{
	return psprintf("DELETE FROM %s WHERE shop_id = $1 AND shop_order_id = $2",
					hc->table_sql[XT_ISSUES]);
}
static const Oid delete_types[2] = {UUIDOID, UUIDOID};
static Statement issue_delete = {"issue delete", delete_sql, 2, delete_types};

/* $1 shop, $2 order, $3 issue, $4 the start of its detail */
static char *reopen_sql(const HostCache *hc)
{
	return psprintf("UPDATE %s SET resolved_at = NULL, last_seen_at = now() "
					"WHERE shop_id = $1 AND shop_order_id = $2 AND issue = $3 "
					"AND starts_with(detail, $4)",
					hc->table_sql[XT_ISSUES]);
}
static const Oid reopen_types[4] = {UUIDOID, UUIDOID, TEXTOID, TEXTOID};
static Statement issue_reopen = {"issue reopen", reopen_sql, 4, reopen_types};

static void upsert(const HostCache *hc, const pg_uuid_t *shop, const pg_uuid_t *order,
				   const char *code, const char *detail, bool untracked)
{
	Datum values[5];
	char nulls[5] = {' ', ' ', ' ', ' ', ' '};

	values[0] = UUIDPGetDatum(const_cast<pg_uuid_t *>(shop));
	values[1] = UUIDPGetDatum(const_cast<pg_uuid_t *>(order));
	values[2] = CStringGetTextDatum(code);
	if (detail == nullptr)
		nulls[3] = 'n';
	else
		values[3] = CStringGetTextDatum(detail);
	values[4] = BoolGetDatum(untracked);
	ct_exec(hc, &issue_upsert, values, nulls, SPI_OK_INSERT);
}

void ct_issues_record(const HostCache *hc, const OrderImage *img, const OrderImage *before)
{
	const pg_uuid_t *shop = img->shop_null ? &nil_uuid : &img->shop;

	for (int i = 0; i < img->nissues; i++)
	{
		const Issue *issue = &img->issues[i];
		bool seen_before = false;

		for (int j = 0; before != nullptr && j < before->nissues; j++)
			if (strcmp(before->issues[j].code, issue->code) == 0)
				seen_before = true;

		upsert(hc, shop, &img->id, issue->code, issue->detail, issue->untracked);

		/* One line per new issue, at customer_tracking.report_level (recorded above anyway). */
		if (!seen_before && ct_report_level != 0)
			ereport(ct_report_level,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("customer_tracking: order %s %s: %s", ct_uuid_text(&img->id),
							issue->untracked ? "saved untracked" : "tracked with a caveat",
							issue->code)));
	}
}

void ct_issues_resolve(const HostCache *hc, const OrderImage *before, const OrderImage *after)
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
		UUIDPGetDatum(const_cast<pg_uuid_t *>(before->shop_null ? &nil_uuid : &before->shop));
	values[1] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&before->id));
	values[2] = PointerGetDatum(current);
	ct_exec(hc, &issue_resolve, values, nullptr, SPI_OK_UPDATE);
}

void ct_issues_forget(const HostCache *hc, const OrderImage *before)
{
	Datum values[2];

	/* Also the resolved rows of a fixed order: the order is gone. */
	values[0] =
		UUIDPGetDatum(const_cast<pg_uuid_t *>(before->shop_null ? &nil_uuid : &before->shop));
	values[1] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&before->id));
	ct_exec(hc, &issue_delete, values, nullptr, SPI_OK_DELETE);
}

void ct_issue_at_commit(const HostCache *hc, const pg_uuid_t *shop, const pg_uuid_t *order,
						const char *code, const char *detail)
{
	upsert(hc, shop, order, code, detail, false);
}

bool ct_issue_reopen(const HostCache *hc, const pg_uuid_t *shop, const pg_uuid_t *order,
					 const char *code, const char *detail_prefix)
{
	Datum values[4] = {UUIDPGetDatum(const_cast<pg_uuid_t *>(shop)),
					   UUIDPGetDatum(const_cast<pg_uuid_t *>(order)), CStringGetTextDatum(code),
					   CStringGetTextDatum(detail_prefix)};
	ct_exec(hc, &issue_reopen, values, nullptr, SPI_OK_UPDATE);
	return SPI_processed > 0;
}

void ct_issue_not_counted(const HostCache *hc, const pg_uuid_t *shop, const pg_uuid_t *order,
						  const char *message)
{
	upsert(hc, shop, order, "not_counted", message, false);
}
