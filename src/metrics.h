/*
 * metrics.h: shop_customer_metrics() (metrics.cpp).
 */
#ifndef CT_METRICS_H
#define CT_METRICS_H

#include "customer_tracking.h"

/* A relation changed: the statement kept here is made again if it reads it. */
void ct_metrics_relcache(Oid relid);

#endif
