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
	/* The lists as parsed (normalised entries, empty ones dropped), for SQL to show. */
	const std::vector<std::string> &Paid() const noexcept { return paid_; }
	const std::vector<std::string> &Unpaid() const noexcept { return unpaid_; }

private:
	std::vector<std::string> paid_;
	std::vector<std::string> unpaid_;
};

/* Lower-cases ASCII letters and strips blanks at both ends. */
std::string NormalizeStatus(std::string_view status);

/* Strips blanks at both ends, without copying. */
std::string_view TrimBlanks(std::string_view text) noexcept;

/*
 * A comma-separated status list as the vocabulary reads it: each entry
 * normalised (NormalizeStatus), empty entries dropped. The one parser of the
 * paid/unpaid settings (the trigger, and SQL through
 * customer_tracking_status_list()).
 */
std::vector<std::string> SplitStatusList(std::string_view comma_list);

/*
 * The one spelling of a network name: blanks at both ends stripped, ASCII
 * letters upper-cased ("mtn ", " MTN" and "Mtn" are all "MTN"); other bytes
 * are kept as they are. Empty when the name is blank (no network).
 */
std::string NormalizeNetwork(std::string_view network);
/* The same into out (room for network.size() bytes), allocation-free; returns the length. */
size_t NormalizeNetworkTo(std::string_view network, char *out) noexcept;

/*
 * Whether text (blanks allowed at both ends) is a plain decimal number that
 * numeric_in reads without error: optional sign, digits with an optional
 * decimal point, an optional exponent of at most 1000 either way, and at
 * most 1000 digits in all. NaN, Infinity, empty and anything else: false.
 */
bool IsPlainDecimal(std::string_view text) noexcept;

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
