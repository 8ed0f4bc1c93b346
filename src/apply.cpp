/*
 * apply.cpp: applying one order at commit (pending.cpp calls it for every
 * order the transaction changed, customers locked in id order).
 *
 * ct_order_prepare() reads what the order's ledger row says it contributed
 * so far; ct_order_apply() compares that with the order's latest version
 * (ct::rules::Classify) and takes one of two paths:
 *   - the fast path: a new order, or one that became a purchase, is added to
 *     its customer by increment-only writes that read only the locked
 *     customer row (customers.cpp), with its per-slug count;
 *   - the recompute path: anything that removes or changes a counted
 *     purchase locks every customer involved and recomputes them, and their
 *     per-slug counts, from the ledger in statements that see everything
 *     committed before the locks were granted.
 * Both end with the order's rollup deltas (rollup.cpp).
 *
 * Boundary rule (pg_boundary.hpp): this file calls PostgreSQL throughout, so
 * no object with a destructor lives in any of its frames.
 */
#include "apply.h"

#include "customers.h"
#include "ledger.h"
#include "order_rules.hpp"
#include "rollup.h"

extern "C" {
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/uuid.h"
}

#include <utility>

using ct::rules::ChangeKind;

static void contribution_of_ledger(const LedgerRow *row, const pg_uuid_t *order,
								   ct::rules::Contribution *c)
{
	c->present = row->present;
	if (!row->present)
		return;
	c->customer = std::string_view(reinterpret_cast<const char *>(row->customer.data), UUID_LEN);
	c->order = std::string_view(reinterpret_cast<const char *>(order->data), UUID_LEN);
	c->purchase = row->purchase;
	c->amount = numeric_normalize(DatumGetNumeric(row->amount));
	c->purchased_at = row->at;
	c->network_null = row->network_null;
	if (!row->network_null)
		c->network = row->network;
	c->slug_null = row->slug_null;
	if (!row->slug_null)
		c->slug = row->slug;
}

static void contribution_of_order(const OrderImage *img, const LedgerRow *ledger,
								  ct::rules::Contribution *c)
{
	c->present = img->trackable;
	if (!img->trackable)
		return;
	c->customer = std::string_view(reinterpret_cast<const char *>(img->customer.data), UUID_LEN);
	c->order = std::string_view(reinterpret_cast<const char *>(img->id.data), UUID_LEN);
	c->purchase = img->purchase;
	c->amount = numeric_normalize(DatumGetNumeric(img->amount));
	c->purchased_at = img->at;
	c->network_null = img->text[CT_TEXT_NETWORK].isnull;
	if (!c->network_null)
		c->network = std::string_view(img->text[CT_TEXT_NETWORK].data,
									  static_cast<size_t>(img->text[CT_TEXT_NETWORK].len));
	c->slug_null = img->text[CT_TEXT_SLUG].isnull;
	if (!c->slug_null)
		c->slug = std::string_view(img->text[CT_TEXT_SLUG].data,
								   static_cast<size_t>(img->text[CT_TEXT_SLUG].len));
	c->attribution_changed =
		ledger->present && strcmp(ct_ledger_attribution(img), ledger->attribution) != 0;
}


static const char *slug_key(const char *slug, bool isnull) { return isnull ? "" : slug; }

/* Adds an order (or its becoming a purchase) to its customer: the increment-only path. */
static void add_to_customer(const HostCache *hc, const OrderImage *img, int order_delta,
							EventChanges *changes, MemoryContext cxt)
{
	ct_customer_add(hc, img, order_delta, &changes->customers[0], cxt);
	changes->ncustomers = 1;
	if (img->purchase)
	{
		ct_pair_add(hc, img, &changes->pairs[0]);
		changes->npairs = 1;
	}
}

static void note_pair(const HostCache *hc, EventChanges *changes, const pg_uuid_t *shop,
					  const char *slug, const pg_uuid_t *customer)
{
	for (int i = 0; i < changes->npairs; i++)
		if (ct_uuid_equal(&changes->pairs[i].customer, customer) &&
			strcmp(changes->pairs[i].slug, slug) == 0)
			return;
	ct_pair_read(hc, shop, slug, customer, &changes->pairs[changes->npairs++]);
}


/*
 * First step of applying an order at commit, before any customer is locked:
 * what its ledger row says it contributed so far (the row is removed when
 * the order is gone or no longer trackable). Sets the customers involved.
 */
void ct_order_prepare(const HostCache *hc, OrderWork *w, MemoryContext cxt)
{
	const OrderImage *img = w->img;
	bool trackable = img != nullptr && img->trackable;

	memset(&w->ledger, 0, sizeof(w->ledger));
	w->skip = false;
	w->ledger_fetched = false;
	w->ledger_deleted = false;
	w->ncustomers = 0;
	if (w->inserted && !trackable)
	{
		w->skip = true; /* inserted by this transaction and never counted */
		return;
	}
	if (!w->inserted)
	{
		if (trackable)
			ct_ledger_read(hc, &w->id, &w->shop, &w->ledger, cxt);
		else
			ct_ledger_remove(hc, &w->id, &w->shop, &w->ledger, cxt);
		w->ledger_fetched = true;
		w->ledger_deleted = !trackable;
		if (w->ledger.present)
		{
			w->customers[w->ncustomers] = w->ledger.customer;
			w->customer_shops[w->ncustomers++] = w->ledger.shop;
		}
	}
	if (trackable && !(w->ncustomers == 1 && ct_uuid_equal(&w->customers[0], &img->customer)))
	{
		w->customers[w->ncustomers] = img->customer;
		w->customer_shops[w->ncustomers++] = img->shop;
	}
}

/*
 * The fast path: the change only adds to its customer, or only rewrites the
 * ledger row (checkouts move). False for a change that needs the recompute
 * path.
 */
static bool apply_increment(const HostCache *hc, OrderWork *w, ChangeKind kind,
							EventChanges *changes, MemoryContext cxt)
{
	OrderImage *after = w->img;
	TimestampTz completed_at = w->completed_at;

	switch (kind)
	{
		case ChangeKind::kNothing:
			return true;
		case ChangeKind::kLedgerOnly:
			/* Attribution, or the slug/time of an order that is not a purchase (checkouts move). */
			ct_ledger_update(hc, after, completed_at);
			ct_rollup_apply(hc, &w->ledger, after, changes);
			return true;
		case ChangeKind::kAddOrder:
			ct_ledger_insert(hc, after, after->purchase ? completed_at : 0);
			add_to_customer(hc, after, 1, changes, cxt);
			ct_rollup_apply(hc, &w->ledger, after, changes);
			return true;
		case ChangeKind::kBecamePurchase:
			ct_ledger_update(hc, after, completed_at);
			add_to_customer(hc, after, 0, changes, cxt);
			ct_rollup_apply(hc, &w->ledger, after, changes);
			return true;
		case ChangeKind::kRecompute:
			break;
	}
	return false;
}

/*
 * The recompute path: anything that removes or changes a counted purchase.
 * now: what the order's latest version counts for.
 */
static void apply_recompute(const HostCache *hc, OrderWork *w, const ct::rules::Contribution &now,
							EventChanges *changes_out, MemoryContext cxt)
{
	OrderImage *after = w->img;
	LedgerRow &ledger = w->ledger;
	EventChanges &changes = *changes_out;
	TimestampTz completed_at = w->completed_at;

	/*
	 * Lock every customer involved, in id order (the apply locked them all
	 * already when the transaction has several), then rewrite the ledger and
	 * recompute from it in statements that see everything committed before
	 * the locks were granted.
	 */
	{
		const pg_uuid_t *ids[CT_MAX_CUSTOMERS];
		const pg_uuid_t *shops[CT_MAX_CUSTOMERS];
		int n = 0;

		if (ledger.present)
		{
			ids[n] = &ledger.customer;
			shops[n] = &ledger.shop;
			n++;
		}
		/* The order's customer is made at its lock when it has no row yet. */
		if (now.present)
		{
			if (!(n == 1 && ct_uuid_equal(ids[0], &after->customer)))
			{
				ids[n] = &after->customer;
				shops[n] = &after->shop;
				n++;
			}
		}
		if (n == 2 && memcmp(ids[0]->data, ids[1]->data, UUID_LEN) > 0)
		{
			std::swap(ids[0], ids[1]);
			std::swap(shops[0], shops[1]);
		}
		for (int i = 0; i < n; i++)
			if (now.present && ct_uuid_equal(ids[i], &after->customer))
				ct_customer_lock_linked(hc, after, &changes.customers[i], cxt);
			else
				ct_customer_lock(hc, ids[i], shops[i], &changes.customers[i], cxt);
		changes.ncustomers = n;
	}

	/* Per-slug purchase counts of the slugs involved, as they were. */
	if (ledger.present && ledger.purchase)
		note_pair(hc, &changes, &ledger.shop, slug_key(ledger.slug, ledger.slug_null),
				  &ledger.customer);
	if (now.present && after->purchase)
		note_pair(hc, &changes, &after->shop,
				  after->text[CT_TEXT_SLUG].isnull
					  ? ""
					  : pnstrdup(after->text[CT_TEXT_SLUG].data, after->text[CT_TEXT_SLUG].len),
				  &after->customer);

	if (now.present)
	{
		if (ledger.present && !w->ledger_deleted)
			ct_ledger_update(hc, after, completed_at);
		else
			ct_ledger_insert(hc, after, after->purchase ? completed_at : 0);
	}

	for (int i = 0; i < changes.ncustomers; i++)
		ct_customer_recompute(hc, &changes.customers[i], cxt);
	for (int i = 0; i < changes.npairs; i++)
		ct_pair_recompute(hc, &changes.pairs[i]);
	ct_rollup_apply(hc, &ledger, now.present ? after : nullptr, &changes);
}

/*
 * Applies an order's latest version against its ledger row: the ledger,
 * its customers' stats, per-slug counts and rollup deltas. Runs inside SPI,
 * as the extension's owner, after ct_order_prepare().
 */
void ct_order_apply(const HostCache *hc, OrderWork *w, MemoryContext cxt)
{
	OrderImage *after = w->img;
	LedgerRow &ledger = w->ledger;
	ct::rules::Contribution was;
	ct::rules::Contribution now;
	EventChanges changes;

	if (w->skip)
		return;
	memset(&changes, 0, sizeof(changes));

	if (!w->ledger_fetched)
	{
		/* New in this transaction: no ledger row, unless a stale one is left for this id. */
		if (ct_ledger_insert(hc, after, after->at))
		{
			add_to_customer(hc, after, 1, &changes, cxt);
			ct_rollup_apply(hc, &ledger, after, &changes);
			return;
		}
		ct_ledger_read(hc, &w->id, &w->shop, &ledger, cxt);
	}

	contribution_of_ledger(&ledger, &w->id, &was);
	if (after != nullptr)
		contribution_of_order(after, &ledger, &now);
	else
		now.present = false;
	if (!apply_increment(hc, w, ct::rules::Classify(was, now), &changes, cxt))
		apply_recompute(hc, w, now, &changes, cxt);
}
