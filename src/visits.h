/*
 * visits.h: storefront visits (visits.cpp): customer_tracking_record_visit() and the daily
 * salt its visitor hashes are made with.
 */
#ifndef CT_VISITS_H
#define CT_VISITS_H

#include "customer_tracking.h"

/* customer_tracking.visit_day_offset: days added to the clock visits are counted by (tests). */
extern int ct_visit_day_offset;

/* Defines the module's setting; called from _PG_init. */
void ct_visits_init(void);
/*
 * A relation changed (module.cpp's relcache callback): when it is one of the
 * visit tables, the statements are made again at the next call.
 */
void ct_visits_relcache(Oid relid);

/* Bounds of what a call may carry; a longer argument makes the call count nothing. */
#define CT_VISIT_MAX_SLUG	  255
#define CT_VISIT_MAX_VISITOR  1024
#define CT_VISIT_MAX_REFERRER 2048
#define CT_VISIT_MAX_UTM	  255
/* Salt length (bytes) and the visitor hash kept per day (bytes: a uuid). */
#define CT_VISIT_SALT_LEN 32
#define CT_VISIT_HASH_LEN 16
/* Old visitor hashes deleted per call while a past day's remain (spread over calls). */
#define CT_VISIT_CLEANUP_BATCH 1000

#endif
