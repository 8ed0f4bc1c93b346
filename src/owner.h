/*
 * owner.h: the owner lookup of the dashboard functions (owner.cpp).
 */
#ifndef CT_OWNER_H
#define CT_OWNER_H

#include "customer_tracking.h"

/* A relation changed: the statement kept here is made again if it reads it. */
void ct_owner_relcache(Oid relid);

#endif
