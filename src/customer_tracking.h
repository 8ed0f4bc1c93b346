/*
 * customer_tracking.h: what every PostgreSQL-facing source shares: the
 * PostgreSQL headers every file needs and the settings (GUCs, module.cpp).
 *
 * Each module declares its own API in src/<module>.h; the pure C++ parts
 * (phone identity in phone.hpp, order rules in order_rules.hpp) have headers
 * of their own and no PostgreSQL dependency, so they can be unit-tested
 * without a server.
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

#endif
