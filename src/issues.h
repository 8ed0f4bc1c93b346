/*
 * issues.h: the issue record (customer_tracking_issues): what is wrong with
 * an order, written as the order is saved (issues.cpp).
 */
#ifndef CT_ISSUES_H
#define CT_ISSUES_H

#include "host_cache.h"
#include "order.h"

/* Records img's issues (reported once, when before did not have them already). */
void ct_issues_record(const HostCache *hc, const OrderImage *img, const OrderImage *before);
/* Marks before's issues that after no longer has as resolved. */
void ct_issues_resolve(const HostCache *hc, const OrderImage *before, const OrderImage *after);
/* Removes every issue row of an order that is gone (deleted, or moved to another key). */
void ct_issues_forget(const HostCache *hc, const OrderImage *before);
/*
 * An issue found at commit (codes.cpp): recorded, or listed again with its
 * new detail, as a caveat (the order is tracked). Neither reports nor raises.
 */
void ct_issue_at_commit(const HostCache *hc, const pg_uuid_t *shop, const pg_uuid_t *order,
						const char *code, const char *detail);
/*
 * The order's resolved issue code whose detail starts with detail_prefix,
 * open again (the row trigger resolves issues on any change); false: none.
 */
bool ct_issue_reopen(const HostCache *hc, const pg_uuid_t *shop, const pg_uuid_t *order,
					 const char *code, const char *detail_prefix);
/* An order the commit-time apply could not count: "not_counted", with the error's message. */
void ct_issue_not_counted(const HostCache *hc, const pg_uuid_t *shop, const pg_uuid_t *order,
						  const char *message);

#endif
