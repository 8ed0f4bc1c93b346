/*
 * owner.h: the owner lookup of the dashboard functions (owner.cpp).
 */
#ifndef CT_OWNER_H
#define CT_OWNER_H

#include "customer_tracking.h"

#include "utils/uuid.h"

/* A relation changed: the statement kept here is made again if it reads it. */
void ct_owner_relcache(Oid relid);

/*
 * Whether the role that made the request (the outer user: session user or SET ROLE) may manage
 * the shop: it is one of customer_tracking_owned_shops() for that role (the owner lookup runs with
 * its rights, never the extension owner's), or the role is a superuser or bypasses row-level
 * security (service_role), as it reads every row anyway. schema: the extension's.
 */
bool ct_role_manages_shop(const pg_uuid_t *shop, Oid schema);

/*
 * Where a function of the extension lives and whose rights it has: its owner and schema, and the
 * schema's name (the extension's schema, wherever it was installed).
 */
const char *ct_function_home(Oid function, Oid *owner, Oid *schema);

#endif
