/*
 * codes.h: loyalty codes and referrals at the commit-time apply, one module
 * in two files (codes.cpp: the hooks, code uses, the owner check;
 * referrals.cpp: referrals). It owns its statements (on its tables, the
 * customer row lock it waits on); whether its tables exist is a fact of the
 * host description (HostCache::loyalty).
 */
#ifndef CT_CODES_H
#define CT_CODES_H

#include "apply.h"
#include "host_cache.h"
#include "order.h"

/* Longest code accepted (issued codes are 10 characters, referral codes 8). */
#define CT_CODE_MAX 32

/*
 * The hooks in the commit-time apply (pending.cpp): ct_loyalty_prepare()
 * after ct_order_prepare() (no shared row locked yet; may add a referral's
 * advocate to the customers to lock), ct_loyalty_apply() after
 * ct_order_apply() (the order's customers are locked).
 */
void ct_loyalty_prepare(const HostCache *hc, OrderWork *w, MemoryContext cxt);
void ct_loyalty_apply(const HostCache *hc, OrderWork *w, MemoryContext cxt);
/* What TRUNCATE of the orders clears (trigger.cpp): uses and referrals ("" without the tables). */
const char *ct_loyalty_truncate_sql(const HostCache *hc);

/* Between the module's two files. */

/*
 * What ct_loyalty_prepare() found about an order, for ct_loyalty_apply();
 * nullptr in OrderWork when neither codes nor referrals concern the order.
 */
struct LoyaltyWork
{
	bool was_paid;	/* its ledger row said it was a purchase */
	bool now_paid;	/* its latest version is a tracked purchase */
	bool moved;		/* was paid for another customer than it is now */
	char *code;		/* its discount code, normalized; nullptr: none */
	bool code_bad;	/* a discount code that cannot be one (characters, length) */
	char *raw_code; /* as written, clipped (issue details) */
	char *referral; /* its referral code, normalized (first purchase only); nullptr: none */
	bool has_advocate;
	pg_uuid_t advocate;
};

/*
 * A code as it is matched: ASCII letters upper-cased, spaces and dashes
 * dropped. False when anything else is in it or it is empty or too long.
 */
bool ct_code_normalize(const char *data, int len, char *out);
/* The referral code an order carries (referral_code, else a ref= value in utm_source/referrer). */
char *ct_referral_code_of(const HostCache *hc, const OrderImage *img);
/* The advocate owning a referral code (referrals.cpp); false: no customer's code. */
bool ct_referral_advocate(const HostCache *hc, const pg_uuid_t *shop, const char *code,
						  pg_uuid_t *advocate);

/* Referrals (referrals.cpp): voids and creations, customers locked by the caller. */
void ct_referral_apply(const HostCache *hc, const OrderWork *w, const LoyaltyWork *lw);
/* Records an issue of the order at commit (WARNING at report_level; ERROR in strict mode). */
void ct_loyalty_issue(const HostCache *hc, const OrderImage *img, const char *code,
					  const char *detail);

#endif
