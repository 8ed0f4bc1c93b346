/*
 * issues.cpp: the issue record (customer_tracking_issues): one row per order
 * and issue, written as the order is saved (it concerns that order only),
 * resolved when a later version no longer has it, removed with the order.
 * Orders without a shop are recorded under the nil uuid.
 */
#include "issues.h"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
}

static const pg_uuid_t nil_uuid = {{0}};

void ct_issues_record(const HostCache *hc, const OrderImage *img, const OrderImage *before)
{
	const pg_uuid_t *shop = img->shop_null ? &nil_uuid : &img->shop;

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
	ct_exec(hc, P_ISSUE_RESOLVE, values, nullptr, SPI_OK_UPDATE);
}

void ct_issues_forget(const HostCache *hc, const OrderImage *before)
{
	Datum values[2];

	/* Also the resolved rows of a fixed order: the order is gone. */
	values[0] =
		UUIDPGetDatum(const_cast<pg_uuid_t *>(before->shop_null ? &nil_uuid : &before->shop));
	values[1] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&before->id));
	ct_exec(hc, P_ISSUE_DELETE, values, nullptr, SPI_OK_DELETE);
}


void ct_issue_not_counted(const HostCache *hc, const pg_uuid_t *shop, const pg_uuid_t *order,
						  const char *message)
{
	Datum values[5];
	char nulls[5] = {' ', ' ', ' ', ' ', ' '};
	values[0] = UUIDPGetDatum(const_cast<pg_uuid_t *>(shop));
	values[1] = UUIDPGetDatum(const_cast<pg_uuid_t *>(order));
	values[2] = CStringGetTextDatum("not_counted");
	values[3] = CStringGetTextDatum(message);
	values[4] = BoolGetDatum(false);
	ct_exec(hc, P_ISSUE_UPSERT, values, nulls, SPI_OK_INSERT);
}
