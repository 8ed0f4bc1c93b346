/*
 * order.h: one version of an order as the extension reads it (order.cpp):
 * its fields, decoded once (column map, status lists, naive time zone, network
 * spelling, phone), whether it can be tracked, and its issues.
 */
#ifndef CT_ORDER_H
#define CT_ORDER_H

#include "host_cache.h"
#include "order_rules.hpp"
#include "phone_glue.h"

extern "C" {
#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
}

/* Text fields kept (clipped to their column width) in the extension's tables. */
enum TextField
{
	CT_TEXT_EMAIL,
	CT_TEXT_NAME,
	CT_TEXT_NETWORK,
	CT_TEXT_SLUG,
	CT_TEXT_REFERRER,
	CT_TEXT_UTM_SOURCE,
	CT_TEXT_UTM_MEDIUM,
	CT_TEXT_UTM_CAMPAIGN,
	CT_TEXT_FIELDS
};

/* The order field each text field is read from. */
inline constexpr int ct_text_field_of[CT_TEXT_FIELDS] = {
	FIELD_EMAIL,	FIELD_NAME,		  FIELD_NETWORK,	FIELD_SLUG,
	FIELD_REFERRER, FIELD_UTM_SOURCE, FIELD_UTM_MEDIUM, FIELD_UTM_CAMPAIGN};

struct TextValue
{
	const char *data; /* not NUL-terminated */
	int len;		  /* bytes, after clipping to the column width */
	int full_len;	  /* bytes before clipping */
	bool isnull;
};

#define CT_MAX_ISSUES 16

struct Issue
{
	const char *code;
	char *detail;
	bool untracked;
};

struct OrderImage
{
	bool id_null;
	pg_uuid_t id;
	bool shop_null;
	pg_uuid_t shop;
	TextValue phone;
	TextValue status;
	bool amount_null;
	Datum amount; /* numeric */
	bool at_null;
	TimestampTz at;
	TextValue text[CT_TEXT_FIELDS]; /* email, name, network, slug, referrer, utm x3 */
	TextValue discount_code;		/* unclipped; null without the column (codes.cpp) */
	TextValue referral_code;		/* the same (referrals.cpp) */
	bool link_null;					/* the shop_customer_id column */
	pg_uuid_t link;

	/* derived */
	int phone_status;
	char e164[CT_E164_BUFSIZE];
	bool trackable;
	pg_uuid_t customer; /* valid when trackable */
	ct::rules::StatusClass status_class;
	bool purchase;
	int nissues;
	Issue issues[CT_MAX_ISSUES];
};

/* How the trigger reads an order; also customer_tracking_decode_order() and the backfill. */
void ct_decode_order(const HostCache *hc, HeapTuple tuple, TupleDesc desc, OrderImage *img);
/* The latest version of an order, decoded for the commit-time apply (not_linked checked). */
OrderImage *ct_order_decode(const HostCache *hc, TupleDesc desc, HeapTuple tuple);

/*
 * The characters a text field is clipped to: the width of the column of the
 * extension's table that keeps it, read from the catalog (0: no limit).
 */
int ct_text_width(const HostCache *hc, int text_field);

/* Text parameter from an order field (clipped); sets *null for NULL. */
Datum ct_text_datum(const TextValue *t, char *null);
/* The slug as a key of per-slug counts and rollups ('' = no slug), palloc'd. */
char *ct_slug_key(const OrderImage *img);

/* Whether two versions of an order are of the same shop (both without one counts as the same). */
bool ct_same_shop(const OrderImage *a, const OrderImage *b);
bool ct_uuid_equal(const pg_uuid_t *a, const pg_uuid_t *b);
const char *ct_uuid_text(const pg_uuid_t *u);

#endif
