/*
 * phone_glue.h: phone identity for the PostgreSQL-facing sources
 * (phone_glue.cpp, wrapping the pure C++ ct::phone of phone.hpp).
 */
#ifndef CT_PHONE_GLUE_H
#define CT_PHONE_GLUE_H

#include "customer_tracking.h"

void ct_phone_init(void);

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
 * A memo of ct_phone_normalize() for bulk reads of orders (backfill, verify):
 * while one is active, each distinct raw phone is parsed once. It holds at
 * most CT_PHONE_MEMO_ENTRIES phones (~32 MB) and starts over when full.
 * Activate it only around calls that cannot outlive it (PG_FINALLY
 * deactivates), in the memory context it was made in.
 */
#define CT_PHONE_MEMO_ENTRIES 262144
struct PhoneMemo;
PhoneMemo *ct_phone_memo_create(MemoryContext cxt);
/* nullptr: no memo. Returns the memo active before. */
PhoneMemo *ct_phone_memo_activate(PhoneMemo *memo);
/* Phones parsed and looked up through the memo (for tests and progress). */
void ct_phone_memo_counts(const PhoneMemo *memo, int64 *parsed, int64 *lookups);

#endif
