/*
 * codes.hpp: loyalty codes and referrals at the commit-time apply (codes.cpp,
 * referrals.cpp). The hooks themselves are declared in tracking.h.
 */
#ifndef CT_CODES_HPP
#define CT_CODES_HPP

#include "tracking.h"

/* Longest code accepted (issued codes are 10 characters, referral codes 8). */
#define CT_CODE_MAX 32

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

/* Referrals (referrals.cpp): voids and creations, customers locked by the caller. */
void ct_referral_apply(const HostCache *hc, const OrderWork *w, const LoyaltyWork *lw);
/* Records an issue of the order at commit (WARNING at report_level; ERROR in strict mode). */
void ct_loyalty_issue(const HostCache *hc, const OrderImage *img, const char *code,
					  const char *detail);

#endif
