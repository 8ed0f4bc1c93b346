/*
 * trigger.cpp: the triggers on shop_orders.
 *
 * customer_tracking_link (BEFORE INSERT OR UPDATE, row): sets
 *   shop_customer_id to the customer's name-based id, or NULL when the order
 *   cannot be tracked, so linking costs no second UPDATE; makes sure the
 *   customer's row exists, so the foreign keys hold even when made immediate.
 * customer_tracking_track (AFTER INSERT OR UPDATE OR DELETE, row): writes the
 *   order's issue record (issues.cpp) and notes the order for the commit-time
 *   apply (pending.cpp, apply.cpp), which keeps the ledger, the customer's
 *   stats and the rollups in step with it.
 * customer_tracking_flush (AFTER INSERT OR UPDATE OR DELETE, statement):
 *   writes the rollup deltas; removes customer rows made for orders that were
 *   not saved after all (ON CONFLICT DO NOTHING).
 * customer_tracking_truncate (AFTER TRUNCATE, statement): clears them.
 *
 * Orders are read through ct_decode_order() (order.cpp).
 * customer_tracking_recompute() repairs one customer as the apply's
 * recompute path would.
 *
 * Boundary rule (pg_boundary.hpp): this file calls PostgreSQL throughout, so
 * no object with a destructor lives in any of its frames; C++ is used for
 * the noexcept rules in order_rules.hpp only.
 */
#include "order_rules.hpp"
#include "pg_boundary.hpp"
#include "backfill.h"
#include "citus.h"
#include "codes.h"
#include "customers.h"
#include "host_cache.h"
#include "issues.h"
#include "order.h"
#include "pending.h"
#include "rollup.h"

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
				img->id_null ? "(no id)" : ct_uuid_text(&img->id), codes.data),
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
	ct_decode_order(hc, tuple, desc, img);
	raise_if_strict(img);

	link_null = !img->trackable;
	if (link_null == img->link_null && (link_null || ct_uuid_equal(&img->customer, &img->link)))
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
		ct_decode_order(hc, trigdata->tg_trigtuple, desc, before);
	}
	if (!is_delete)
		after = ct_order_decode(hc, desc, new_tuple);

	/* Issues: record the current ones, resolve or forget the old ones. */
	bool moved = before != nullptr && (after == nullptr || !ct_same_shop(before, after));
	if ((after != nullptr && after->nissues > 0) || moved ||
		(before != nullptr && before->nissues > 0))
	{
		Oid save_userid;
		int save_sec_context;
		ct_begin_as_owner(hc, &save_userid, &save_sec_context);
		if (after != nullptr && after->nissues > 0)
			ct_issues_record(hc, after, before);
		if (moved)
			ct_issues_forget(hc, before); /* deleted, or moved: its record moves with it */
		else if (before != nullptr)
			ct_issues_resolve(hc, before, after);
		ct_end_as_owner(&save_userid, &save_sec_context);
	}

	/* The order under its old key is gone when deleted or when its id or shop changed. */
	if (before != nullptr && !before->id_null && !before->shop_null &&
		(after == nullptr || after->id_null || after->shop_null ||
		 !ct_uuid_equal(&before->id, &after->id) || !ct_uuid_equal(&before->shop, &after->shop)))
		ct_pending_note(hc, desc, &before->shop, &before->id, nullptr, false, false);
	if (after != nullptr && !after->id_null && !after->shop_null)
		ct_pending_note(hc, desc, &after->shop, &after->id, new_tuple, after->purchase,
						is_insert || before == nullptr || before->id_null || before->shop_null ||
							!ct_uuid_equal(&before->id, &after->id) ||
							!ct_uuid_equal(&before->shop, &after->shop));
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

/* Everything derived from the orders, in an order the foreign keys allow (the settings stay). */
static const char *truncate_sql(const HostCache *hc)
{
	static const int cleared[] = {XT_LEDGER, XT_CUSTOMERS, XT_ISSUES, XT_PAIRS};
	StringInfoData sql;
	initStringInfo(&sql);
	for (int t : cleared)
		appendStringInfo(&sql, "DELETE FROM %s; ", hc->table_sql[t]);
	for (int t = XT_ROLLUPS; t < XT_COUNT; t++)
		appendStringInfo(&sql, "DELETE FROM %s; ", hc->table_sql[t]);
	appendStringInfoString(&sql, ct_loyalty_truncate_sql(hc));
	return sql.data;
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
	if (SPI_execute(truncate_sql(hc), false, 0) < 0)
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
					 errmsg("customer_tracking: shop %s is on another node", ct_uuid_text(shop)),
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
