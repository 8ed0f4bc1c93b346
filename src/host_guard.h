/*
 * host_guard.h: the DDL guard event triggers, drift, and the C rule functions
 * exposed to SQL (host_guard.cpp).
 */
#ifndef CT_HOST_GUARD_H
#define CT_HOST_GUARD_H

#include "customer_tracking.h"

void ct_guard_init(void);

#endif
