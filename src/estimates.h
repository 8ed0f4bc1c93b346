/*
 * estimates.h: planner estimates for the extension's tables before their
 * first ANALYZE (estimates.cpp).
 */
#ifndef CT_ESTIMATES_H
#define CT_ESTIMATES_H

#include "customer_tracking.h"

void ct_estimates_init(void);
/* A relation changed (module.cpp's relcache callback): the schema is looked up again. */
void ct_estimates_relcache(Oid relid);

#endif
