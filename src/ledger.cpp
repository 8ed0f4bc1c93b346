/*
 * ledger.cpp: the ledger (customer_tracking), one row per tracked order, keyed
 * by the order's id and shop: which customer it counts for, whether it is a
 * purchase, its amount, time, slug, network and attribution. What an order
 * has contributed is read from here, never from OLD, so a change is applied
 * exactly once even if earlier changes bypassed the trigger.
 *
 * New rows are inserted directly (row_writer.cpp) when the table has the
 * extension's layout, else by the ledger insert statement.
 */
#include "ledger.h"

#include "row_writer.h"
#include "statements.h"

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


/*
 * The statements. Parameters of the insert and update ($1 = LP_ORDER + 1, ...).
 */
enum LedgerParam
{
	LP_ORDER,		 /* $1 */
	LP_CUSTOMER,	 /* $2 */
	LP_SHOP,		 /* $3 */
	LP_SLUG,		 /* $4 */
	LP_AT,			 /* $5 */
	LP_PURCHASE,	 /* $6 */
	LP_AMOUNT,		 /* $7 */
	LP_NETWORK,		 /* $8 */
	LP_REFERRER,	 /* $9 */
	LP_UTM_SOURCE,	 /* $10 */
	LP_UTM_MEDIUM,	 /* $11 */
	LP_UTM_CAMPAIGN, /* $12 */
	LP_COMPLETED_AT, /* $13: NULL unless a purchase */
	LP_COUNT
};
static const Oid write_types[LP_COUNT] = {
	UUIDOID, UUIDOID, UUIDOID, TEXTOID, TIMESTAMPTZOID, BOOLOID,	   NUMERICOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,		TIMESTAMPTZOID};
static const Oid key_types[2] = {UUIDOID, UUIDOID}; /* $1 order, $2 shop */

/* What the select and delete return, in this order (LR_CUSTOMER is column 1). */
#define LEDGER_RESULT                                                               \
	"shop_customer_id, purchase_completed, purchase_amount, accessed_at, network, " \
	"accessed_via_slug, referrer, utm_source, utm_medium, utm_campaign, shop_id"
enum LedgerResult
{
	LR_CUSTOMER = 1,
	LR_PURCHASE,
	LR_AMOUNT,
	LR_AT,
	LR_NETWORK,
	LR_SLUG,
	LR_REFERRER, /* ... LR_REFERRER + 3: the attribution fields */
	LR_UTM_SOURCE,
	LR_UTM_MEDIUM,
	LR_UTM_CAMPAIGN,
	LR_SHOP
};

static char *insert_sql(const HostCache *hc)
{
	return psprintf(
		"INSERT INTO %s (id, shop_order_id, shop_customer_id, shop_id, "
		"accessed_via_slug, accessed_at, purchase_completed, completed_at, purchase_amount, "
		"network, referrer, utm_source, utm_medium, utm_campaign) "
		"VALUES ($1, $1, $2, $3, $4, $5, $6, $13, $7, $8, $9, $10, $11, $12) "
		"ON CONFLICT DO NOTHING RETURNING 1", /* whichever key the table has */
		hc->table_sql[XT_LEDGER]);
}

static char *update_sql(const HostCache *hc)
{
	return psprintf(
		"UPDATE %s SET shop_customer_id = $2, accessed_via_slug = $4, "
		"accessed_at = $5, completed_at = CASE WHEN $6 THEN coalesce(completed_at, $13) END, "
		"purchase_completed = $6, purchase_amount = $7, network = $8, referrer = $9, "
		"utm_source = $10, utm_medium = $11, utm_campaign = $12, updated_at = now() "
		"WHERE id = $1 AND shop_id = $3",
		hc->table_sql[XT_LEDGER]);
}

static char *select_sql(const HostCache *hc)
{
	return psprintf("SELECT " LEDGER_RESULT " FROM %s WHERE id = $1 AND shop_id = $2",
					hc->table_sql[XT_LEDGER]);
}

static char *delete_sql(const HostCache *hc)
{
	return psprintf("DELETE FROM %s WHERE id = $1 AND shop_id = $2 RETURNING " LEDGER_RESULT,
					hc->table_sql[XT_LEDGER]);
}

static Statement ledger_insert = {"ledger insert", insert_sql, LP_COUNT, write_types};
static Statement ledger_update = {"ledger update", update_sql, LP_COUNT, write_types};
static Statement ledger_select = {"ledger select", select_sql, 2, key_types};
static Statement ledger_delete = {"ledger delete", delete_sql, 2, key_types};

/*
 * customer_tracking, every column, as a direct insert fills them. Text values
 * are clipped to these very columns (ct_text_width), so they fit any width.
 */
enum LedgerColumn
{
	LC_ID,
	LC_SHOP,
	LC_ORDER,
	LC_CUSTOMER,
	LC_SLUG,
	LC_AT,
	LC_PURCHASE,
	LC_COMPLETED_AT,
	LC_AMOUNT,
	LC_NETWORK,
	LC_REFERRER,
	LC_UTM_SOURCE,
	LC_UTM_MEDIUM,
	LC_UTM_CAMPAIGN,
	LC_CREATED_AT,
	LC_UPDATED_AT,
	LC_COUNT
};
static const DirectColumn direct_columns[LC_COUNT] = {{"id", UUIDOID, 0},
													  {"shop_id", UUIDOID, 0},
													  {"shop_order_id", UUIDOID, 0},
													  {"shop_customer_id", UUIDOID, 0},
													  {"accessed_via_slug", VARCHAROID, 0},
													  {"accessed_at", TIMESTAMPTZOID, 0},
													  {"purchase_completed", BOOLOID, 0},
													  {"completed_at", TIMESTAMPTZOID, 0},
													  {"purchase_amount", NUMERICOID, 0},
													  {"network", VARCHAROID, 0},
													  {"referrer", VARCHAROID, 0},
													  {"utm_source", VARCHAROID, 0},
													  {"utm_medium", VARCHAROID, 0},
													  {"utm_campaign", VARCHAROID, 0},
													  {"created_at", TIMESTAMPTZOID, 0},
													  {"updated_at", TIMESTAMPTZOID, 0}};
/* The parameter each column of a direct insert takes (-1: the transaction's start). */
static const int direct_param_of[LC_COUNT] = {
	LP_ORDER,	   LP_SHOP,			LP_ORDER,  LP_CUSTOMER, LP_SLUG,	 LP_AT,
	LP_PURCHASE,   LP_COMPLETED_AT, LP_AMOUNT, LP_NETWORK,	LP_REFERRER, LP_UTM_SOURCE,
	LP_UTM_MEDIUM, LP_UTM_CAMPAIGN, -1,		   -1};

/* Whether the table takes direct inserts, and where its columns are. */
struct LedgerState
{
	bool direct;
	AttrNumber att[LC_COUNT];
};

static void build_state(const HostCache *hc, void *p)
{
	LedgerState *state = static_cast<LedgerState *>(p);
	/* Its foreign key (the customer, whose row the BEFORE trigger made sure of) is checked as after a statement. */
	state->direct = ct_direct_resolve(hc->table_relid[XT_LEDGER], direct_columns, LC_COUNT, 2,
									  CT_DIRECT_REFERENCING | CT_DIRECT_ALL_COLUMNS, state->att);
}
static ModuleState ledger_state = {"ledger", sizeof(LedgerState), build_state};

/* Parameters shared by the ledger insert and update plans. */
static void ledger_params(const OrderImage *img, TimestampTz completed_at, Datum *values,
						  char *nulls)
{
	static const int ledger_text[] = {CT_TEXT_SLUG,		  CT_TEXT_NETWORK,	  CT_TEXT_REFERRER,
									  CT_TEXT_UTM_SOURCE, CT_TEXT_UTM_MEDIUM, CT_TEXT_UTM_CAMPAIGN};
	static const int ledger_pos[] = {LP_SLUG,		LP_NETWORK,	   LP_REFERRER,
									 LP_UTM_SOURCE, LP_UTM_MEDIUM, LP_UTM_CAMPAIGN};

	memset(nulls, ' ', LP_COUNT);
	values[LP_ORDER] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->id));
	values[LP_CUSTOMER] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->customer));
	values[LP_SHOP] = UUIDPGetDatum(const_cast<pg_uuid_t *>(&img->shop));
	values[LP_AT] = TimestampTzGetDatum(img->at);
	values[LP_PURCHASE] = BoolGetDatum(img->purchase);
	values[LP_AMOUNT] = img->amount;
	values[LP_COMPLETED_AT] = TimestampTzGetDatum(completed_at);
	if (!img->purchase)
		nulls[LP_COMPLETED_AT] = 'n';
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
	row->customer = *DatumGetUUIDP(SPI_getbinval(tuple, desc, LR_CUSTOMER, &isnull));
	row->shop = *DatumGetUUIDP(SPI_getbinval(tuple, desc, LR_SHOP, &isnull));
	row->purchase = DatumGetBool(SPI_getbinval(tuple, desc, LR_PURCHASE, &isnull));
	row->amount = datumCopy(SPI_getbinval(tuple, desc, LR_AMOUNT, &isnull), false, -1);
	row->at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, LR_AT, &isnull));
	row->network = spi_text(tuple, desc, LR_NETWORK, &row->network_null);
	row->slug = spi_text(tuple, desc, LR_SLUG, &row->slug_null);
	initStringInfo(&attribution);
	for (int col = LR_REFERRER; col <= LR_UTM_CAMPAIGN; col++)
	{
		char *s = spi_text(tuple, desc, col, &isnull);
		appendStringInfoString(&attribution, isnull ? "\x01" : s);
		appendStringInfoChar(&attribution, '\x02');
	}
	row->attribution = attribution.data;
	MemoryContextSwitchTo(old);
}

/* ledger_insert without a statement. */
static bool ledger_insert_direct(const HostCache *hc, const LedgerState *state, const Datum *values,
								 const char *nulls)
{
	Datum now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());

	DirectTable *t = ct_direct_begin_row(hc->table_relid[XT_LEDGER], true);
	TupleTableSlot *row = ct_direct_new_row(t);
	for (int c = 0; c < LC_COUNT; c++)
	{
		int i = state->att[c] - 1;
		int p = direct_param_of[c];
		row->tts_isnull[i] = p >= 0 && nulls[p] == 'n';
		row->tts_values[i] = p < 0 ? now : row->tts_isnull[i] ? (Datum) 0 : values[p];
	}
	bool inserted = ct_direct_insert(t);
	ct_direct_end_row(t);
	return inserted;
}

static void ledger_fetch(const HostCache *hc, Statement *stmt, int expected, const pg_uuid_t *order,
						 const pg_uuid_t *shop, LedgerRow *row, MemoryContext cxt)
{
	Datum values[2] = {UUIDPGetDatum(const_cast<pg_uuid_t *>(order)),
					   UUIDPGetDatum(const_cast<pg_uuid_t *>(shop))};

	ct_exec(hc, stmt, values, nullptr, expected);
	read_ledger(row, cxt);
}

void ct_ledger_read(const HostCache *hc, const pg_uuid_t *order, const pg_uuid_t *shop,
					LedgerRow *row, MemoryContext cxt)
{
	ledger_fetch(hc, &ledger_select, SPI_OK_SELECT, order, shop, row, cxt);
}

void ct_ledger_remove(const HostCache *hc, const pg_uuid_t *order, const pg_uuid_t *shop,
					  LedgerRow *row, MemoryContext cxt)
{
	ledger_fetch(hc, &ledger_delete, SPI_OK_DELETE_RETURNING, order, shop, row, cxt);
}

bool ct_ledger_insert(const HostCache *hc, const OrderImage *img, TimestampTz completed_at)
{
	Datum values[LP_COUNT];
	char nulls[LP_COUNT];

	ledger_params(img, completed_at, values, nulls);
	if (ct_direct_writes)
	{
		const LedgerState *state =
			static_cast<const LedgerState *>(ct_module_state(hc, &ledger_state));
		if (state->direct)
			return ledger_insert_direct(hc, state, values, nulls);
	}
	ct_exec(hc, &ledger_insert, values, nulls, SPI_OK_INSERT_RETURNING);
	return SPI_processed > 0;
}

void ct_ledger_update(const HostCache *hc, const OrderImage *img, TimestampTz completed_at)
{
	Datum values[LP_COUNT];
	char nulls[LP_COUNT];

	ledger_params(img, completed_at, values, nulls);
	ct_exec(hc, &ledger_update, values, nulls, SPI_OK_UPDATE);
}
