/*
 * ledger.cpp: the ledger (customer_tracking), one row per tracked order, keyed
 * by the order's id and shop: which customer it counts for, whether it is a
 * purchase, its amount, time, slug, network and attribution. What an order
 * has contributed is read from here, never from OLD, so a change is applied
 * exactly once even if earlier changes bypassed the trigger.
 *
 * New rows are inserted directly (row_writer.cpp) when the table has the
 * extension's layout, else by P_LEDGER_INSERT.
 */
#include "ledger.h"

#include "row_writer.h"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
}

char *ct_ledger_attribution(const OrderImage *img)
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


void ct_ledger_read(const HostCache *hc, const pg_uuid_t *order, const pg_uuid_t *shop,
					LedgerRow *row, MemoryContext cxt)
{
	ledger_fetch(hc, P_LEDGER_SELECT, order, shop, row, cxt);
}

void ct_ledger_remove(const HostCache *hc, const pg_uuid_t *order, const pg_uuid_t *shop,
					  LedgerRow *row, MemoryContext cxt)
{
	ledger_fetch(hc, P_LEDGER_DELETE, order, shop, row, cxt);
}

bool ct_ledger_insert(const HostCache *hc, const OrderImage *img, TimestampTz completed_at)
{
	return ledger_write(hc, P_LEDGER_INSERT, img, completed_at);
}

void ct_ledger_update(const HostCache *hc, const OrderImage *img, TimestampTz completed_at)
{
	ledger_write(hc, P_LEDGER_UPDATE, img, completed_at);
}
