/*
 * host_guard.cpp: the host table as the extension reads it, seen from SQL,
 * and kept readable when the host's DDL changes it.
 *
 * - customer_tracking_decode_order(shop_orders): the trigger's own reading of
 *   an order (decode_order() in order.cpp), for verify, backfill and the
 *   expected orders: one parser of every setting, one clock, one spelling of
 *   network names on both sides.
 * - customer_tracking_host_state(): every field's column, type and state
 *   (ok, absent, ignored, drift), what _health() and _verify() report.
 * - customer_tracking_statuses() / _status_list() / _status_class(),
 *   _network_name(), _valid_time_zone(): the C rules, for SQL.
 * - customer_tracking_ddl_guard (event trigger, ddl_command_start and
 *   ddl_command_end): a rename of a column the extension reads is followed
 *   (the mapping is updated); the loss of a column that changes no count
 *   (email, name, attribution) maps the field to nothing; anything else that
 *   would leave a field unreadable (drop, rename of the table, a type the
 *   extension cannot read) is refused, and so is a type change that would make
 *   any order count differently than it is counted now.
 *
 * Boundary rule (pg_boundary.hpp): no object with a destructor lives in a
 * frame that calls PostgreSQL; the C++ helpers that allocate return before.
 */
#include "order_rules.hpp"
#include "pg_boundary.hpp"
#include "host_guard.h"
#include "citus.h"
#include "host_cache.h"
#include "order.h"
#include "pending.h"

#include <string>
#include <vector>

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
}

static Oid orders_of_schema(Oid schema, bool missing_ok)
{
	Oid relid = get_relname_relid("shop_orders", schema);
	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("customer_tracking: table %s.shop_orders is missing",
							   quote_identifier(get_namespace_name(schema)))));
	return relid;
}

/* ------------------------------------------------------------------------
 * customer_tracking_decode_order(shop_orders)
 * ------------------------------------------------------------------------ */

struct DecodeState
{
	Oid orders;
	Oid rowtype;
	TupleDesc result;
};

#define DECODE_COLUMNS 10

CT_FUNCTION(ct_decode_order_sql)
{
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(0);
	DecodeState *st = static_cast<DecodeState *>(fcinfo->flinfo->fn_extra);
	Datum values[DECODE_COLUMNS];
	bool nulls[DECODE_COLUMNS];
	HeapTupleData tuple;
	TupleDesc rowdesc;
	OrderImage *img;
	const HostCache *hc;

	if (st == nullptr)
	{
		TupleDesc td;
		MemoryContext old;

		st = static_cast<DecodeState *>(
			MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(DecodeState)));
		st->orders = orders_of_schema(get_func_namespace(fcinfo->flinfo->fn_oid), false);
		st->rowtype = get_rel_type_id(st->orders);
		if (get_call_result_type(fcinfo, nullptr, &td) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "customer_tracking_decode_order() must return a record");
		old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		st->result = BlessTupleDesc(CreateTupleDescCopy(td));
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = st;
	}
	if (HeapTupleHeaderGetTypeId(row) != st->rowtype)
	{
		/*
		 * On a Citus worker, Citus runs the query on a shard of shop_orders:
		 * the row is of the shard's type, and read as the trigger on that
		 * shard reads it.
		 */
		Oid relid = typeidTypeRelid(HeapTupleHeaderGetTypeId(row));
		CitusShard shard;
		if (!OidIsValid(relid) || !ct_citus_shard_of(relid, &shard) || shard.logical != st->orders)
			ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
							errmsg("customer_tracking_decode_order() takes a row of shop_orders")));
		st->orders = relid;
		st->rowtype = HeapTupleHeaderGetTypeId(row);
	}

	hc = ct_host_cache_of(st->orders, fcinfo->flinfo->fn_oid);
	rowdesc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(row), HeapTupleHeaderGetTypMod(row));
	tuple.t_len = HeapTupleHeaderGetDatumLength(row);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = st->orders;
	tuple.t_data = row;
	img = static_cast<OrderImage *>(palloc(sizeof(OrderImage)));
	ct_decode_order(hc, &tuple, rowdesc, img);
	ReleaseTupleDesc(rowdesc);

	memset(nulls, 0, sizeof(nulls));
	nulls[0] = img->id_null;
	values[0] = UUIDPGetDatum(&img->id);
	nulls[1] = img->shop_null;
	values[1] = UUIDPGetDatum(&img->shop);
	nulls[2] = img->link_null;
	values[2] = UUIDPGetDatum(&img->link);
	nulls[3] = !img->trackable;
	values[3] = UUIDPGetDatum(&img->customer);
	values[4] = BoolGetDatum(img->purchase);
	nulls[5] = img->amount_null;
	values[5] = img->amount;
	nulls[6] = img->at_null;
	values[6] = TimestampTzGetDatum(img->at);
	{
		const TextValue *network = &img->text[CT_TEXT_NETWORK];
		const TextValue *slug = &img->text[CT_TEXT_SLUG];
		nulls[7] = network->isnull;
		if (!network->isnull)
			values[7] = PointerGetDatum(cstring_to_text_with_len(network->data, network->len));
		nulls[8] = slug->isnull;
		if (!slug->isnull)
			values[8] = PointerGetDatum(cstring_to_text_with_len(slug->data, slug->len));
	}
	{
		Datum *codes = static_cast<Datum *>(palloc(sizeof(Datum) * (img->nissues + 1)));
		for (int i = 0; i < img->nissues; i++)
			codes[i] = CStringGetTextDatum(img->issues[i].code);
		values[9] =
			PointerGetDatum(construct_array(codes, img->nissues, TEXTOID, -1, false, TYPALIGN_INT));
	}
	return HeapTupleGetDatum(heap_form_tuple(st->result, values, nulls));
}

/* ------------------------------------------------------------------------
 * customer_tracking_host_state()
 * ------------------------------------------------------------------------ */

static const char *state_name(FieldState state)
{
	switch (state)
	{
		case FS_OK:
			return "ok";
		case FS_ABSENT:
			return "absent";
		case FS_IGNORED:
			return "ignored";
		case FS_DRIFT:
			return "drift";
	}
	return "?";
}

CT_FUNCTION(ct_host_state)
{
	ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	Oid schema = get_func_namespace(fcinfo->flinfo->fn_oid);
	Oid orders = orders_of_schema(schema, true);
	HostSettings settings;
	HostColumn cols[FIELD_COUNT + 1];
	Datum values[5];
	bool nulls[5];

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (!OidIsValid(orders))
	{
		memset(nulls, 1, sizeof(nulls));
		values[0] = CStringGetTextDatum("shop_orders");
		nulls[0] = false;
		values[3] = CStringGetTextDatum("drift");
		nulls[3] = false;
		values[4] = CStringGetTextDatum("table shop_orders is missing");
		nulls[4] = false;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		PG_RETURN_NULL();
	}
	ct_read_settings(schema, &settings, CurrentMemoryContext);
	ct_resolve_host(orders, &settings, cols);
	for (int f = 0; f <= FIELD_COUNT; f++)
	{
		const HostColumn *c = &cols[f];
		Oid type = InvalidOid;
		int32 typmod = -1;
		HeapTuple att;

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(ct_field_name(f));
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(c->column));
		/* The column's type as it is, also when it cannot be read. */
		att = c->column[0] != '\0' ? SearchSysCacheAttName(orders, c->column) : nullptr;
		if (att != nullptr && HeapTupleIsValid(att))
		{
			type = reinterpret_cast<Form_pg_attribute>(GETSTRUCT(att))->atttypid;
			typmod = reinterpret_cast<Form_pg_attribute>(GETSTRUCT(att))->atttypmod;
			ReleaseSysCache(att);
		}
		nulls[2] = !OidIsValid(type);
		if (OidIsValid(type))
			values[2] = CStringGetTextDatum(format_type_with_typemod(type, typmod));
		values[3] = CStringGetTextDatum(state_name(c->state));
		nulls[4] = c->detail == nullptr;
		if (c->detail != nullptr)
			values[4] = CStringGetTextDatum(c->detail);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	{
		const char *zone = settings.naive_time_zone != nullptr ? settings.naive_time_zone : "UTC";
		bool known = pg_tzset(zone) != nullptr;
		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum("naive_time_zone");
		nulls[1] = true;
		values[2] = CStringGetTextDatum(zone);
		values[3] = CStringGetTextDatum(known ? "ok" : "drift");
		nulls[4] = known;
		if (!known)
			values[4] = CStringGetTextDatum(
				psprintf("setting naive_time_zone \"%s\" is not a known time zone", zone));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

/* ------------------------------------------------------------------------
 * The rules, for SQL
 * ------------------------------------------------------------------------ */

static Datum text_array(const char *const *items, int n)
{
	Datum *datums = static_cast<Datum *>(palloc(sizeof(Datum) * (n + 1)));
	for (int i = 0; i < n; i++)
		datums[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(datums, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * ct::rules::SplitStatusList into caller memory: the entries, NUL-terminated,
 * one after the other in buf (room for list.size() * 2 + 1 bytes), and a
 * pointer to each in items (room for list.size() + 1). The vector is gone
 * when it returns.
 */
static int split_status_list(std::string_view list, char *buf, const char **items)
{
	std::vector<std::string> parsed = ct::rules::SplitStatusList(list);
	int n = 0;
	for (const std::string &item : parsed)
	{
		memcpy(buf, item.data(), item.size());
		buf[item.size()] = '\0';
		items[n++] = buf;
		buf += item.size() + 1;
	}
	return n;
}

/* customer_tracking_status_list(text): a status list as the trigger reads it. */
CT_FUNCTION(ct_status_list)
{
	text *list = PG_GETARG_TEXT_PP(0);
	size_t len = VARSIZE_ANY_EXHDR(list);
	char *buf = static_cast<char *>(palloc(len * 2 + 1));
	const char **items = static_cast<const char **>(palloc(sizeof(char *) * (len + 1)));
	int n = split_status_list(std::string_view(VARDATA_ANY(list), len), buf, items);
	PG_RETURN_DATUM(text_array(items, n));
}

static const HostCache *cache_of_function(FunctionCallInfo fcinfo)
{
	return ct_host_cache_of(orders_of_schema(get_func_namespace(fcinfo->flinfo->fn_oid), false),
							fcinfo->flinfo->fn_oid);
}

/* customer_tracking_statuses(): the paid and unpaid lists in force. */
CT_FUNCTION(ct_statuses)
{
	const HostCache *hc = cache_of_function(fcinfo);
	const ct::rules::StatusVocabulary *v = hc->statuses;
	TupleDesc td;
	Datum values[2];
	bool nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, nullptr, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "customer_tracking_statuses() must return a record");
	for (int which = 0; which < 2; which++)
	{
		const std::vector<std::string> &list = which == 0 ? v->Paid() : v->Unpaid();
		const char **items = static_cast<const char **>(palloc(sizeof(char *) * (list.size() + 1)));
		for (size_t i = 0; i < list.size(); i++)
			items[i] = list[i].c_str();
		values[which] = text_array(items, static_cast<int>(list.size()));
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(td), values, nulls)));
}

/* customer_tracking_status_class(text): paid, unpaid, unknown or missing, as the trigger says. */
CT_FUNCTION(ct_status_class)
{
	const HostCache *hc = cache_of_function(fcinfo);
	ct::rules::StatusClass c = ct::rules::StatusClass::kMissing;

	if (hc->state[FIELD_STATUS] == FS_ABSENT)
		c = ct::rules::StatusClass::kPaid;
	else if (!PG_ARGISNULL(0))
	{
		text *status = PG_GETARG_TEXT_PP(0);
		c = hc->statuses->Classify(
			std::string_view(VARDATA_ANY(status), VARSIZE_ANY_EXHDR(status)));
	}
	switch (c)
	{
		case ct::rules::StatusClass::kPaid:
			PG_RETURN_TEXT_P(cstring_to_text("paid"));
		case ct::rules::StatusClass::kUnpaid:
			PG_RETURN_TEXT_P(cstring_to_text("unpaid"));
		case ct::rules::StatusClass::kUnknown:
			PG_RETURN_TEXT_P(cstring_to_text("unknown"));
		case ct::rules::StatusClass::kMissing:
			break;
	}
	PG_RETURN_TEXT_P(cstring_to_text("missing"));
}

/* customer_tracking_network_name(text): the one spelling of a network; NULL when blank. */
CT_FUNCTION(ct_network_name)
{
	text *network = PG_GETARG_TEXT_PP(0);
	size_t len = VARSIZE_ANY_EXHDR(network);
	char *name = static_cast<char *>(palloc(len + 1));
	len = ct::rules::NormalizeNetworkTo(std::string_view(VARDATA_ANY(network), len), name);
	if (len == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(name, static_cast<int>(len)));
}

/* customer_tracking_valid_time_zone(text): whether naive times can be read in this zone. */
CT_FUNCTION(ct_valid_time_zone)
{
	char *zone = text_to_cstring(PG_GETARG_TEXT_PP(0));
	PG_RETURN_BOOL(zone[0] != '\0' && strlen(zone) < TZ_STRLEN_MAX && pg_tzset(zone) != nullptr);
}

/* ------------------------------------------------------------------------
 * The DDL guard (event trigger)
 * ------------------------------------------------------------------------ */

/* The host table as it was when a DDL command started. */
struct GuardFrame
{
	MemoryContext cxt;	   /* holds the frame */
	const Node *parsetree; /* the same pointer at ddl_command_end */
	int nest_level;		   /* subtransaction that ran it */
	Oid schema;
	Oid orders;
	HostColumn cols[FIELD_COUNT + 1];
};

static List *guard_frames = NIL; /* in TopMemoryContext, innermost last */

static void guard_free(GuardFrame *frame) { MemoryContextDelete(frame->cxt); }

static void guard_forget(int from_nest_level)
{
	ListCell *cell;
	List *kept = NIL;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	foreach (cell, guard_frames)
	{
		GuardFrame *frame = static_cast<GuardFrame *>(lfirst(cell));
		if (frame->nest_level >= from_nest_level)
			guard_free(frame);
		else
			kept = lappend(kept, frame);
	}
	list_free(guard_frames);
	guard_frames = kept;
	MemoryContextSwitchTo(old);
}

static void guard_at_xact_end(XactEvent event, void *arg)
{
	if (guard_frames != NIL && (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
								event == XACT_EVENT_PARALLEL_COMMIT ||
								event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE))
		guard_forget(0);
}

static void guard_at_subxact_end(SubXactEvent event, SubTransactionId my_subid,
								 SubTransactionId parent_subid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && guard_frames != NIL)
		guard_forget(GetCurrentTransactionNestLevel());
}

void ct_guard_init(void)
{
	RegisterXactCallback(guard_at_xact_end, nullptr);
	RegisterSubXactCallback(guard_at_subxact_end, nullptr);
}

static bool has_tracking_trigger(Oid relid)
{
	Relation triggers = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyData key[2];
	SysScanDesc scan;
	bool found;

	ScanKeyInit(&key[0], Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	ScanKeyInit(&key[1], Anum_pg_trigger_tgname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("customer_tracking_track"));
	scan = systable_beginscan(triggers, TriggerRelidNameIndexId, true, nullptr, 2, key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(triggers, AccessShareLock);
	return found;
}

/* The host state now (columns resolved from the stored settings), in cxt. */
static void guard_resolve(Oid schema, Oid orders, HostColumn *cols, MemoryContext cxt)
{
	HostSettings settings;
	MemoryContext old = MemoryContextSwitchTo(cxt);
	ct_read_settings(schema, &settings, cxt);
	ct_resolve_host(orders, &settings, cols);
	MemoryContextSwitchTo(old);
}

/* Runs sql (with text parameters) as the owner of the extension's tables. */
static void guard_exec_as_owner(Oid owner, const char *sql, int nargs, const char *const *args,
								int expected)
{
	Oid save_userid;
	int save_sec_context;
	Oid types[2] = {TEXTOID, TEXTOID};
	Datum values[2];

	for (int i = 0; i < nargs; i++)
		values[i] = CStringGetTextDatum(args[i]);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "customer_tracking: SPI_connect failed");
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_execute_with_args(sql, nargs, types, values, nullptr, false, 0) != expected)
		elog(ERROR, "customer_tracking: internal statement failed: %s", sql);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	SPI_finish();
}

static void guard_set_column(Oid schema, Oid owner, int field, const char *column)
{
	const char *args[2] = {psprintf("column:%s", ct_field_name(field)), column};
	guard_exec_as_owner(
		owner,
		psprintf("INSERT INTO %s.customer_tracking_settings (setting, value) VALUES ($1, $2) "
				 "ON CONFLICT (setting) DO UPDATE SET value = EXCLUDED.value",
				 quote_identifier(get_namespace_name(schema))),
		2, args, SPI_OK_INSERT);
}

/*
 * Orders whose link or tracking row no longer matches what the trigger reads
 * from them now (the per-order checks of customer_tracking_verify()). Returns
 * how many, and describes the first in *example.
 */
static int64 guard_changed_orders(Oid schema, Oid owner, char **example)
{
	const char *s = quote_identifier(get_namespace_name(schema));
	char *sql = psprintf(
		"SELECT count(*), min(format('order %%s: now customer=%%s purchase=%%s amount=%%s at=%%s "
		"network=%%s slug=%%s, counted as customer=%%s purchase=%%s amount=%%s at=%%s "
		"network=%%s slug=%%s', e.shop_order_id, e.expected_customer_id, e.purchase, e.amount, "
		"e.purchased_at AT TIME ZONE 'UTC', e.network, e.slug, t.shop_customer_id, "
		"t.purchase_completed, t.purchase_amount, t.accessed_at AT TIME ZONE 'UTC', t.network, "
		"t.accessed_via_slug)) "
		"FROM %s.customer_tracking_expected_orders(NULL) e "
		"LEFT JOIN %s.customer_tracking t ON t.id = e.shop_order_id AND t.shop_id = e.shop_id "
		"WHERE e.stored_customer_id IS DISTINCT FROM e.expected_customer_id "
		"OR (e.expected_customer_id IS NOT NULL AND (t.id IS NULL "
		"OR t.shop_customer_id <> e.expected_customer_id OR t.purchase_completed <> e.purchase "
		"OR t.purchase_amount <> e.amount OR t.accessed_at <> e.purchased_at "
		"OR t.network IS DISTINCT FROM e.network OR t.accessed_via_slug IS DISTINCT FROM e.slug))",
		s, s);
	Oid save_userid;
	int save_sec_context;
	int64 count;
	bool isnull;
	MemoryContext caller = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "customer_tracking: SPI_connect failed");
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	/* Not read-only: a fresh snapshot, which sees the rows the command rewrote. */
	if (SPI_execute(sql, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "customer_tracking: could not compare the orders with their tracking");
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	{
		char *text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		*example = text != nullptr ? MemoryContextStrdup(caller, text) : nullptr;
	}
	SetUserIdAndSecContext(save_userid, save_sec_context);
	SPI_finish();
	return count;
}

static bool guard_skipped(FunctionCallInfo fcinfo)
{
	/* The extension's own scripts (CREATE / ALTER EXTENSION) change what they mean to. */
	if (IsBinaryUpgrade || (creating_extension &&
							CurrentExtensionObject ==
								getExtensionOfObject(ProcedureRelationId, fcinfo->flinfo->fn_oid)))
		return true;
	/*
	 * A Citus worker: the host's DDL is guarded on the coordinator, which
	 * Citus then applies to the shards here (and shards are made, moved and
	 * dropped here by Citus itself).
	 */
	return ct_citus_present() && ct_citus_local_group() > 0;
}

/*
 * Citus put shop_orders into its metadata: create_reference_table() of a table
 * it references makes it a Citus local table, and Citus renames the table to
 * be its shard, shop_orders_<shard id> (a table of the old name takes its
 * place right after). Recognised by the name Citus gives a shard, in a
 * database with Citus.
 */
static bool renamed_by_citus(const GuardFrame *frame, const char *name)
{
	static const char prefix[] = "shop_orders_";
	const char *digits = name + sizeof(prefix) - 1;
	return strncmp(name, prefix, sizeof(prefix) - 1) == 0 && digits[0] != '\0' &&
		   strspn(digits, "0123456789") == strlen(digits) &&
		   get_rel_namespace(frame->orders) == frame->schema && ct_citus_present();
}

static void guard_start(FunctionCallInfo fcinfo, EventTriggerData *trigdata)
{
	Oid schema = get_func_namespace(fcinfo->flinfo->fn_oid);
	Oid orders = orders_of_schema(schema, true);
	GuardFrame *frame;
	MemoryContext cxt;
	MemoryContext old;

	if (!OidIsValid(orders) ||
		!OidIsValid(get_relname_relid("customer_tracking_settings", schema)) ||
		!has_tracking_trigger(orders))
		return; /* not attached (e.g. a dump being restored): nothing to guard */

	/*
	 * Orders this transaction changed are counted at its commit; the check
	 * at the end compares every order with what it counts for: count them
	 * now, while their versions still have the layout they were written in.
	 */
	ct_pending_apply_now();

	cxt = AllocSetContextCreate(TopMemoryContext, "customer_tracking DDL guard",
								ALLOCSET_SMALL_SIZES);
	frame = static_cast<GuardFrame *>(MemoryContextAllocZero(cxt, sizeof(GuardFrame)));
	frame->cxt = cxt;
	frame->parsetree = trigdata->parsetree;
	frame->nest_level = GetCurrentTransactionNestLevel();
	frame->schema = schema;
	frame->orders = orders;
	guard_resolve(schema, orders, frame->cols, cxt);
	old = MemoryContextSwitchTo(TopMemoryContext);
	guard_frames = lappend(guard_frames, frame);
	MemoryContextSwitchTo(old);
}

static void guard_drop(GuardFrame *frame)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	guard_frames = list_delete_ptr(guard_frames, frame);
	MemoryContextSwitchTo(old);
	guard_free(frame);
}

static bool drifted(FieldState state) { return state == FS_DRIFT || state == FS_IGNORED; }

static void guard_end(EventTriggerData *trigdata)
{
	GuardFrame *frame = nullptr;
	ListCell *cell;
	Oid settings_relid;
	Oid owner;
	HostColumn now[FIELD_COUNT + 1];
	bool remapped = false;
	bool check_orders = false;

	foreach (cell, guard_frames)
	{
		GuardFrame *f = static_cast<GuardFrame *>(lfirst(cell));
		if (f->parsetree == trigdata->parsetree)
			frame = f;
	}
	if (frame == nullptr)
		return;
	/* The frame stays listed until the end: an error frees it with the (sub)transaction. */

	/* The host table itself: renamed or moved away, the extension would lose it. */
	{
		char *name = get_rel_name(frame->orders);
		if (name == nullptr || renamed_by_citus(frame, name))
		{
			guard_drop(frame); /* dropped: nothing left to read; or Citus's shard now */
			return;
		}
		if (strcmp(name, "shop_orders") != 0 || get_rel_namespace(frame->orders) != frame->schema)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("customer_tracking: shop_orders cannot be renamed or moved to another "
							"schema while customer_tracking tracks it"),
					 errhint("DROP EXTENSION customer_tracking first, or keep the table's name.")));
	}
	settings_relid = get_relname_relid("customer_tracking_settings", frame->schema);
	if (!OidIsValid(settings_relid))
	{
		guard_drop(frame);
		return;
	}
	{
		HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(settings_relid));
		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for relation %u", settings_relid);
		owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relowner;
		ReleaseSysCache(tuple);
	}

	/* Columns the fields were read from: renamed (followed), dropped, or of another type. */
	for (int f = 0; f <= FIELD_COUNT; f++)
	{
		const HostColumn *was = &frame->cols[f];
		HeapTuple tuple;
		Form_pg_attribute att;

		if (was->state != FS_OK)
			continue;
		tuple =
			SearchSysCache2(ATTNUM, ObjectIdGetDatum(frame->orders), Int16GetDatum(was->attnum));
		if (!HeapTupleIsValid(tuple))
			continue;
		att = reinterpret_cast<Form_pg_attribute>(GETSTRUCT(tuple));
		if (att->attisdropped)
		{
			/* Whatever the field reads now (if anything) is another column: compare. */
			check_orders = true;
			/* A field that changes no count follows its column away: read as absent. */
			if (f < FIELD_COUNT && (f == FIELD_EMAIL || f == FIELD_NAME || f >= FIELD_REFERRER) &&
				(was->mapped || f < FIELD_REFERRER))
			{
				guard_set_column(frame->schema, owner, f, "");
				remapped = true;
				ereport(NOTICE, (errmsg("customer_tracking: field %s is no longer read (its "
										"column shop_orders.%s was dropped)",
										ct_field_name(f), quote_identifier(was->column))));
			}
		}
		else if (strcmp(NameStr(att->attname), was->column) != 0 && f < FIELD_COUNT)
		{
			/* Renamed: the field follows its column. */
			guard_set_column(frame->schema, owner, f, NameStr(att->attname));
			remapped = true;
			ereport(
				NOTICE,
				(errmsg("customer_tracking: field %s now reads shop_orders.%s (renamed from %s)",
						ct_field_name(f), quote_identifier(NameStr(att->attname)),
						quote_identifier(was->column))));
		}
		if (!att->attisdropped && (att->atttypid != was->type || att->atttypmod != was->typmod))
			check_orders = true; /* values may have been converted */
		ReleaseSysCache(tuple);
	}

	/* An enum value renamed: statuses (or other text) read from it may change meaning. */
	if (trigdata->parsetree != nullptr && IsA(trigdata->parsetree, AlterEnumStmt) &&
		reinterpret_cast<AlterEnumStmt *>(trigdata->parsetree)->oldVal != nullptr)
	{
		AlterEnumStmt *stmt = reinterpret_cast<AlterEnumStmt *>(trigdata->parsetree);
		Oid type = typenameTypeId(nullptr, makeTypeNameFromNameList(stmt->typeName));
		for (int f = 0; f < FIELD_COUNT; f++)
			if (frame->cols[f].state == FS_OK && getBaseType(frame->cols[f].type) == type)
				check_orders = true;
	}

	if (remapped)
	{
		CacheInvalidateRelcacheByRelid(settings_relid);
		CacheInvalidateRelcacheByRelid(frame->orders);
		CommandCounterIncrement();
	}

	/* Nothing may become unreadable that was readable. */
	guard_resolve(frame->schema, frame->orders, now, CurrentMemoryContext);
	for (int f = 0; f <= FIELD_COUNT; f++)
		if (drifted(now[f].state) && !drifted(frame->cols[f].state))
		{
			const char *field = ct_field_name(f);
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("customer_tracking: refused: after this change %s", now[f].detail),
					 f == FIELD_COUNT
						 ? errhint("shop_orders.shop_customer_id belongs to customer_tracking; "
								   "DROP EXTENSION customer_tracking removes it.")
					 : f == FIELD_STATUS
						 ? errhint("Map the field to another column first (SELECT "
								   "customer_tracking_map_column('%s', '<column>')), or to '' to "
								   "count every order as a purchase.",
								   field)
					 : f >= FIELD_STATUS
						 ? errhint("Map the field to another column first (SELECT "
								   "customer_tracking_map_column('%s', '<column>')), or to '' if "
								   "the host no longer has one.",
								   field)
						 : errhint("Map the field to another column first (SELECT "
								   "customer_tracking_map_column('%s', '<column>')).",
								   field)));
		}

	for (int f = 0; f <= FIELD_COUNT; f++)
		if (drifted(frame->cols[f].state) && !drifted(now[f].state))
			ereport(NOTICE,
					(errmsg("customer_tracking: field %s is readable again", ct_field_name(f)),
					 errhint("Run SELECT * FROM customer_tracking_backfill(); to track the orders "
							 "saved untracked meanwhile.")));

	/* A type change that converted values must not change what any order counts for. */
	if (check_orders)
	{
		char *example = nullptr;
		int64 changed = guard_changed_orders(frame->schema, owner, &example);
		if (changed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("customer_tracking: refused: after this change " INT64_FORMAT
							" order(s) would count differently than they are counted now",
							changed),
					 errdetail("First: %s.", example != nullptr ? example : "?"),
					 errhint("Change the values first with an UPDATE (tracked), e.g. round the "
							 "amounts or SET TimeZone to customer_tracking's naive_time_zone "
							 "before converting times; if the orders were already out of step, "
							 "run customer_tracking_backfill() first.")));
	}
	guard_drop(frame);
}

/* customer_tracking_ddl_guard(): event trigger on ddl_command_start and ddl_command_end. */
CT_FUNCTION(ct_ddl_guard)
{
	EventTriggerData *trigdata;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("customer_tracking_ddl_guard() must be called as an event trigger")));
	trigdata = reinterpret_cast<EventTriggerData *>(fcinfo->context);
	if (guard_skipped(fcinfo))
		PG_RETURN_VOID();
	if (strcmp(trigdata->event, "ddl_command_start") == 0)
		guard_start(fcinfo, trigdata);
	else if (strcmp(trigdata->event, "ddl_command_end") == 0)
		guard_end(trigdata);
	PG_RETURN_VOID();
}
