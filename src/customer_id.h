/*
 * customer_id.h: customer identity (customer_id.cpp).
 */
#ifndef CT_CUSTOMER_ID_H
#define CT_CUSTOMER_ID_H

#include "customer_tracking.h"

struct pg_uuid_t;
/* The shop_customers.id of (shop, E.164 phone): a name-based UUID (v5). */
void ct_customer_id(const pg_uuid_t *shop_id, const char *e164, size_t len, pg_uuid_t *out);

#endif
