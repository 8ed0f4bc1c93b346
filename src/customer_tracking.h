/*
 * customer_tracking.h: declarations shared by the PostgreSQL-facing sources.
 *
 * Only files that talk to PostgreSQL include this header; the pure C++ parts
 * (phone identity in phone.hpp, order rules in order_rules.hpp) have headers of their own and no
 * PostgreSQL dependency, so they can be unit-tested without a server.
 */
#ifndef CUSTOMER_TRACKING_H
#define CUSTOMER_TRACKING_H

extern "C" {
#include "postgres.h"
#include "fmgr.h"
}

/* GUCs (module.cpp). */
extern char *ct_default_region; /* customer_tracking.default_region */
extern bool ct_strict;			/* customer_tracking.strict */
extern char *ct_column_map;		/* customer_tracking.column_map */
extern bool ct_retrack;			/* customer_tracking.retrack (backfill) */
extern bool ct_direct_writes;	/* customer_tracking.direct_writes */
extern int ct_apply_batch;		/* customer_tracking.apply_batch: 0 = at commit only */
extern int ct_report_level;		/* customer_tracking.report_level: an elevel, 0 = off */
extern int
	ct_progress_notice_interval; /* customer_tracking.progress_notice_interval (ms, 0 = off) */

/*
 * customer_tracking.* values set in this session before the library was loaded and not applied
 * (module.cpp); nullptr when none. ct_settings_check() raises the error once.
 */
extern const char *ct_refused_settings;
void ct_settings_refused_error(void);
static inline void ct_settings_check(void)
{
	if (unlikely(ct_refused_settings != nullptr))
		ct_settings_refused_error();
}

/* Per-module initialisation, called once from _PG_init. */
void ct_phone_init(void);
void ct_trigger_init(void);
void ct_rollup_init(void);
void ct_customers_init(void);
void ct_pending_init(void);
void ct_estimates_init(void);
void ct_estimates_relcache(Oid relid);
void ct_guard_init(void);
void ct_backfill_init(void);

/* True if region is a two-letter region libphonenumber knows ("GH", "NG", ...). */
bool ct_region_is_known(const char *region);

/*
 * Normalises raw to E.164 in out (at least CT_E164_BUFSIZE bytes) using
 * region as the default region. Returns one of the CT_PHONE_* codes; never
 * throws and never raises a PostgreSQL error.
 */
#define CT_E164_BUFSIZE 32
enum ct_phone_status
{
	CT_PHONE_VALID = 0,
	CT_PHONE_MISSING,  /* NULL, empty or only blanks */
	CT_PHONE_TOO_LONG, /* longer than any phone number could be */
	CT_PHONE_INVALID,  /* not a valid number for the region */
	CT_PHONE_INTERNAL  /* libphonenumber failed (e.g. out of memory) */
};
int ct_phone_normalize(const char *raw, size_t len, const char *region, char *out);
const char *ct_phone_status_reason(int status);

/*
 * A memo of ct_phone_normalize() for bulk reads of orders (backfill, verify;
 * phone_glue.cpp): while one is active, each distinct raw phone is parsed
 * once. It holds at most CT_PHONE_MEMO_ENTRIES phones (~32 MB) and starts
 * over when full. Activate it only around calls that cannot outlive it
 * (PG_FINALLY deactivates), in the memory context it was made in.
 */
#define CT_PHONE_MEMO_ENTRIES 262144
struct PhoneMemo;
PhoneMemo *ct_phone_memo_create(MemoryContext cxt);
/* nullptr: no memo. Returns the memo active before. */
PhoneMemo *ct_phone_memo_activate(PhoneMemo *memo);
/* Phones parsed and looked up through the memo (for tests and progress). */
void ct_phone_memo_counts(const PhoneMemo *memo, int64 *parsed, int64 *lookups);


/* Customer identity (customer_id.cpp). */
struct pg_uuid_t;
/* The shop_customers.id of (shop, E.164 phone): a name-based UUID (v5). */
void ct_customer_id(const pg_uuid_t *shop_id, const char *e164, size_t len, pg_uuid_t *out);
#endif
