/*
 * customers.h: a customer's statistics (shop_customers) and its purchases per
 * slug (customer_tracking_slug_customers), as the commit-time apply changes
 * them (customers.cpp). Each operation reports the state before and after.
 */
#ifndef CT_CUSTOMERS_H
#define CT_CUSTOMERS_H

#include "host_cache.h"
#include "order.h"

/* The customers and per-slug counts one order's change involves, at most. */
#define CT_MAX_CUSTOMERS 2
#define CT_MAX_PAIRS	 4

/* What the rollups need of a customer, before or after an event. */
struct CustomerState
{
	bool exists;
	int purchases;
	bool first_null;
	TimestampTz first_at;
	char *first_slug; /* nullptr = NULL */
	bool last_null;
	TimestampTz last_at;
	char *preferred; /* nullptr = NULL */
};

struct CustomerChange
{
	bool known; /* false: no such customer row */
	pg_uuid_t shop;
	pg_uuid_t customer;
	CustomerState before;
	CustomerState after;
};

/* A customer's purchases through one slug ('' = no slug). */
struct PairState
{
	int purchases;
	TimestampTz first_at;
};

struct PairChange
{
	pg_uuid_t shop;
	pg_uuid_t customer;
	char *slug;
	PairState before;
	PairState after;
};

/* Customers and per-slug purchases (customers.cpp). */
void ct_customers_prepare(HostCache *hc);
void ct_customer_add(const HostCache *hc, const OrderImage *img, int order_delta,
					 CustomerChange *change, MemoryContext cxt);
bool ct_customer_ensure(const HostCache *hc, const OrderImage *img); /* true: created */
/* The same from the BEFORE trigger, which links orders: only for a customer without a row. */
void ct_customer_ensure_linked(const HostCache *hc, const OrderImage *img);
/* Customers it created whose order was not saved after all: removed at the end of the statement. */
bool ct_customers_created(void);
void ct_customers_sweep(const HostCache *hc);
void ct_customer_lock(const HostCache *hc, const pg_uuid_t *customer, const pg_uuid_t *shop,
					  CustomerChange *change, MemoryContext cxt);
/* ct_customer_lock() for the customer an order links to: its row is made again if it was deleted. */
void ct_customer_lock_linked(const HostCache *hc, const OrderImage *img, CustomerChange *change,
							 MemoryContext cxt);
void ct_customer_recompute(const HostCache *hc, CustomerChange *change, MemoryContext cxt);
void ct_pair_add(const HostCache *hc, const OrderImage *img, PairChange *pair);
void ct_pair_read(const HostCache *hc, const pg_uuid_t *shop, const char *slug,
				  const pg_uuid_t *customer, PairChange *pair);
void ct_pair_recompute(const HostCache *hc, PairChange *pair);

void ct_customers_init(void);

#endif
