/*
 * order_rules.hpp: the pure rules of order tracking (no PostgreSQL headers).
 *
 * Which statuses are purchases, and what a change of an order means for its
 * customer's statistics. The trigger applies these decisions with SPI; the
 * unit tests check them without a server.
 */
#ifndef CT_ORDER_RULES_HPP
#define CT_ORDER_RULES_HPP

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ct::rules {

enum class StatusClass
{
	kPaid,	  /* a purchase */
	kUnpaid,  /* a known status that is not (or no longer) a purchase */
	kUnknown, /* not in either list: tracked as not paid, reported */
	kMissing  /* NULL or blank: tracked as not paid, reported */
};

/* Comma-separated, case-insensitive lists as stored in customer_tracking_settings. */
class StatusVocabulary
{
public:
	StatusVocabulary();
	void SetPaid(std::string_view comma_list);
	void SetUnpaid(std::string_view comma_list);
	/* Allocation-free, so the trigger may call it between PostgreSQL calls. */
	StatusClass Classify(std::string_view status) const noexcept;

private:
	std::vector<std::string> paid_;
	std::vector<std::string> unpaid_;
};

/* Lower-cases ASCII letters and strips blanks at both ends. */
std::string NormalizeStatus(std::string_view status);

/* Strips blanks at both ends, without copying. */
std::string_view TrimBlanks(std::string_view text) noexcept;

/*
 * What an order contributes to its customer, as far as the decision goes.
 * Views only (trivially destructible): the caller owns the memory.
 */
struct Contribution
{
	bool present = false;		/* false: the order is not linked (or is gone) */
	std::string_view customer;	/* customer id (16 raw bytes) */
	std::string_view order;		/* order id (16 raw bytes) */
	bool purchase = false;		/* in a paid status */
	std::string_view amount;	/* numeric amount in canonical text form */
	long long purchased_at = 0; /* purchase time (microseconds) */
	bool network_null = true;
	std::string_view network;
	bool slug_null = true;
	std::string_view slug;
	bool attribution_changed = false; /* after only: referrer/UTM differ from the ledger */
};

enum class ChangeKind
{
	kNothing,		 /* no effect on stats or ledger */
	kLedgerOnly,	 /* attribution text changed; customer stats unchanged */
	kAddOrder,		 /* a new linked order: increment-only upsert */
	kBecamePurchase, /* same customer, not a purchase before, a purchase now: increment-only */
	kRecompute		 /* anything that removes or alters a counted purchase, or moves customers */
};

ChangeKind Classify(const Contribution &before, const Contribution &after) noexcept;

} // namespace ct::rules

#endif
