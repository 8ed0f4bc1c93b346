/*
 * order_rules_test.cpp: unit tests for ct::rules (status vocabulary and the
 * classification of an order change, src/order_rules.hpp).
 */
#include "../../src/order_rules.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using ct::rules::ChangeKind;
using ct::rules::Classify;
using ct::rules::Contribution;
using ct::rules::IsPlainDecimal;
using ct::rules::NormalizeNetwork;
using ct::rules::NormalizeNetworkTo;
using ct::rules::NormalizeStatus;
using ct::rules::SplitStatusList;
using ct::rules::StatusClass;
using ct::rules::StatusVocabulary;
using ct::rules::TrimBlanks;

const char *Name(StatusClass c)
{
	switch (c)
	{
		case StatusClass::kPaid:
			return "kPaid";
		case StatusClass::kUnpaid:
			return "kUnpaid";
		case StatusClass::kUnknown:
			return "kUnknown";
		case StatusClass::kMissing:
			return "kMissing";
	}
	return "?";
}

const char *Name(ChangeKind k)
{
	switch (k)
	{
		case ChangeKind::kNothing:
			return "kNothing";
		case ChangeKind::kLedgerOnly:
			return "kLedgerOnly";
		case ChangeKind::kAddOrder:
			return "kAddOrder";
		case ChangeKind::kBecamePurchase:
			return "kBecamePurchase";
		case ChangeKind::kRecompute:
			return "kRecompute";
	}
	return "?";
}

/* Compares by name, so a failure prints e.g. kUnknown vs kPaid. */
#define EXPECT_STATUS(vocabulary, text, expected) \
	EXPECT_STREQ(Name((vocabulary).Classify(text)), Name(expected)) << "status \"" << (text) << "\""
#define EXPECT_KIND(before, after, expected) \
	EXPECT_STREQ(Name(Classify((before), (after))), Name(expected))

/* ---------------------------------------------------------------------------
 * StatusVocabulary
 * ------------------------------------------------------------------------ */

TEST(StatusVocabulary, DefaultPaidStatuses)
{
	StatusVocabulary v;
	for (const char *s : {"completed", "paid", "success"})
		EXPECT_STATUS(v, s, StatusClass::kPaid);
}

TEST(StatusVocabulary, DefaultUnpaidStatuses)
{
	StatusVocabulary v;
	for (const char *s : {"pending", "processing", "failed", "refunded", "cancelled", "canceled",
						  "reversed", "abandoned", "expired", "declined"})
		EXPECT_STATUS(v, s, StatusClass::kUnpaid);
}

TEST(StatusVocabulary, CaseInsensitive)
{
	StatusVocabulary v;
	for (const char *s : {"PAID", "Paid", "pAiD", "COMPLETED", "Success"})
		EXPECT_STATUS(v, s, StatusClass::kPaid);
	for (const char *s : {"PENDING", "Refunded", "CanCelled"})
		EXPECT_STATUS(v, s, StatusClass::kUnpaid);
}

TEST(StatusVocabulary, BlanksAroundAreIgnored)
{
	StatusVocabulary v;
	for (const char *s : {" paid", "paid ", "\tPaid\n", "\r\n completed \f\v", "  success  "})
		EXPECT_STATUS(v, s, StatusClass::kPaid);
	EXPECT_STATUS(v, "  refunded\t", StatusClass::kUnpaid);
}

TEST(StatusVocabulary, BlanksInsideAreNot)
{
	StatusVocabulary v;
	EXPECT_STATUS(v, "pa id", StatusClass::kUnknown);
	EXPECT_STATUS(v, "paid paid", StatusClass::kUnknown);
}

TEST(StatusVocabulary, BlankOrEmptyIsMissing)
{
	StatusVocabulary v;
	for (const char *s : {"", " ", "   ", "\t", "\n\r", " \t\n\r\f\v "})
		EXPECT_STATUS(v, s, StatusClass::kMissing);
}

TEST(StatusVocabulary, UnknownStatuses)
{
	StatusVocabulary v;
	for (const char *s :
		 {"shipped", "paid!", "paidd", "pai", "un-paid", "completed.", "0", "null", "PAÏD"})
		EXPECT_STATUS(v, s, StatusClass::kUnknown);
}

TEST(StatusVocabulary, OnlyAsciiLettersAreFolded)
{
	StatusVocabulary v;
	v.SetPaid("payé");
	EXPECT_STATUS(v, "payé", StatusClass::kPaid);
	EXPECT_STATUS(v, "PAYé", StatusClass::kPaid);
	EXPECT_STATUS(v, "PAYÉ", StatusClass::kUnknown); /* É is not ASCII: not folded */
}

TEST(StatusVocabulary, EmbeddedNulIsNotTruncated)
{
	StatusVocabulary v;
	EXPECT_STATUS(v, std::string_view("paid\0x", 6), StatusClass::kUnknown);
}

TEST(StatusVocabulary, CustomPaidListReplacesTheDefault)
{
	StatusVocabulary v;
	v.SetPaid(" Settled , CAPTURED,");
	EXPECT_STATUS(v, "settled", StatusClass::kPaid);
	EXPECT_STATUS(v, "Captured", StatusClass::kPaid);
	EXPECT_STATUS(v, " SETTLED ", StatusClass::kPaid);
	/* The default paid statuses are no longer paid, nor known unpaid. */
	EXPECT_STATUS(v, "paid", StatusClass::kUnknown);
	EXPECT_STATUS(v, "completed", StatusClass::kUnknown);
	/* The unpaid list is untouched. */
	EXPECT_STATUS(v, "pending", StatusClass::kUnpaid);
}

TEST(StatusVocabulary, CustomUnpaidListReplacesTheDefault)
{
	StatusVocabulary v;
	v.SetUnpaid("Voided,\tON_HOLD ");
	EXPECT_STATUS(v, "voided", StatusClass::kUnpaid);
	EXPECT_STATUS(v, "on_hold", StatusClass::kUnpaid);
	EXPECT_STATUS(v, "pending", StatusClass::kUnknown);
	EXPECT_STATUS(v, "refunded", StatusClass::kUnknown);
	EXPECT_STATUS(v, "paid", StatusClass::kPaid);
}

TEST(StatusVocabulary, EmptyItemsInListsAreIgnored)
{
	StatusVocabulary v;
	v.SetPaid(",, ,paid,,\t,");
	EXPECT_STATUS(v, "paid", StatusClass::kPaid);
	EXPECT_STATUS(v, "", StatusClass::kMissing);
	EXPECT_STATUS(v, " ", StatusClass::kMissing);
	EXPECT_STATUS(v, ",", StatusClass::kUnknown);
}

TEST(StatusVocabulary, EmptyPaidListMakesNothingPaid)
{
	StatusVocabulary v;
	v.SetPaid("");
	EXPECT_STATUS(v, "paid", StatusClass::kUnknown);
	EXPECT_STATUS(v, "pending", StatusClass::kUnpaid);
	v.SetUnpaid(" , ");
	EXPECT_STATUS(v, "pending", StatusClass::kUnknown);
}

TEST(StatusVocabulary, SingleItemWithoutComma)
{
	StatusVocabulary v;
	v.SetPaid("ok");
	EXPECT_STATUS(v, "OK", StatusClass::kPaid);
	EXPECT_STATUS(v, "o", StatusClass::kUnknown);
	EXPECT_STATUS(v, "okk", StatusClass::kUnknown);
}

TEST(StatusVocabulary, PaidWinsWhenAStatusIsInBothLists)
{
	StatusVocabulary v;
	v.SetPaid("paid,done");
	v.SetUnpaid("done,pending");
	EXPECT_STATUS(v, "done", StatusClass::kPaid);
	EXPECT_STATUS(v, "pending", StatusClass::kUnpaid);
}

TEST(StatusVocabulary, ListsCanBeSetAgain)
{
	StatusVocabulary v;
	v.SetPaid("a");
	v.SetPaid("b");
	EXPECT_STATUS(v, "a", StatusClass::kUnknown);
	EXPECT_STATUS(v, "b", StatusClass::kPaid);
}

TEST(StatusVocabulary, CopiesAreIndependent)
{
	StatusVocabulary v;
	StatusVocabulary copy = v;
	v.SetPaid("settled");
	EXPECT_STATUS(copy, "paid", StatusClass::kPaid);
	EXPECT_STATUS(copy, "settled", StatusClass::kUnknown);
	EXPECT_STATUS(v, "settled", StatusClass::kPaid);
}

TEST(StatusHelpers, NormalizeStatus)
{
	EXPECT_EQ(NormalizeStatus("  PaId\t"), "paid");
	EXPECT_EQ(NormalizeStatus("ON_HOLD-2"), "on_hold-2");
	EXPECT_EQ(NormalizeStatus(""), "");
	EXPECT_EQ(NormalizeStatus(" \t\n"), "");
	EXPECT_EQ(NormalizeStatus("A B"), "a b");
	EXPECT_EQ(NormalizeStatus("ÉA"), "Éa");
}

TEST(StatusHelpers, TrimBlanks)
{
	EXPECT_EQ(TrimBlanks("  x y \t"), "x y");
	EXPECT_EQ(TrimBlanks("\v\fx\r\n"), "x");
	EXPECT_EQ(TrimBlanks("x"), "x");
	EXPECT_EQ(TrimBlanks(""), "");
	EXPECT_EQ(TrimBlanks("   "), "");
	/* A view into the argument, not a copy. */
	std::string_view text = "  abc  ";
	std::string_view trimmed = TrimBlanks(text);
	EXPECT_EQ(trimmed.data(), text.data() + 2);
	EXPECT_EQ(trimmed.size(), 3U);
}

/* ---------------------------------------------------------------------------
 * The one parser of status lists (SQL: customer_tracking_status_list())
 * ------------------------------------------------------------------------ */

TEST(SplitStatusList, EntriesAreTrimmedAndLowerCased)
{
	std::vector<std::string> expected = {"paid", "completed", "on hold"};
	EXPECT_EQ(SplitStatusList(" Paid ,\tCOMPLETED\n, On Hold "), expected);
}

TEST(SplitStatusList, EmptyEntriesAreDropped)
{
	std::vector<std::string> expected = {"paid", "ok"};
	EXPECT_EQ(SplitStatusList(",, paid,, \t ,ok,"), expected);
	EXPECT_TRUE(SplitStatusList("").empty());
	EXPECT_TRUE(SplitStatusList(" , ,\t,").empty());
}

TEST(SplitStatusList, NonAsciiBytesAreKept)
{
	std::vector<std::string> expected = {"pay\xc3\x89", "\xd0\x9f\xd0\x9b"};
	EXPECT_EQ(SplitStatusList("PAY\xc3\x89 , \xd0\x9f\xd0\x9b"), expected);
}

TEST(SplitStatusList, IsWhatTheVocabularyReads)
{
	StatusVocabulary v;
	v.SetPaid(" Paid ,,\tOK ");
	v.SetUnpaid(",, on hold");
	std::vector<std::string> paid = {"paid", "ok"};
	std::vector<std::string> unpaid = {"on hold"};
	EXPECT_EQ(v.Paid(), paid);
	EXPECT_EQ(v.Unpaid(), unpaid);
	EXPECT_STATUS(v, " ON HOLD\t", StatusClass::kUnpaid);
	EXPECT_STATUS(v, "onhold", StatusClass::kUnknown);
}

/* ---------------------------------------------------------------------------
 * Network names (SQL: customer_tracking_network_name())
 * ------------------------------------------------------------------------ */

TEST(NormalizeNetwork, TrimmedAndAsciiUpperCased)
{
	EXPECT_EQ(NormalizeNetwork("mtn"), "MTN");
	EXPECT_EQ(NormalizeNetwork(" Mtn\t"), "MTN");
	EXPECT_EQ(NormalizeNetwork("MTN"), "MTN");
	EXPECT_EQ(NormalizeNetwork("AirtelTigo"), "AIRTELTIGO");
	EXPECT_EQ(NormalizeNetwork("airtel tigo"), "AIRTEL TIGO");
}

TEST(NormalizeNetwork, BlankIsEmpty)
{
	EXPECT_EQ(NormalizeNetwork(""), "");
	EXPECT_EQ(NormalizeNetwork(" \t\n"), "");
}

TEST(NormalizeNetwork, NonAsciiBytesAreKept)
{
	EXPECT_EQ(NormalizeNetwork("\xc3\xa9" "cobank"), "\xc3\xa9" "COBANK");
}

TEST(NormalizeNetwork, IntoABufferIsTheSame)
{
	char buf[16];
	size_t len = NormalizeNetworkTo("  glo ", buf);
	EXPECT_EQ(std::string(buf, len), "GLO");
	EXPECT_TRUE(noexcept(NormalizeNetworkTo("", buf)));
}

/* ---------------------------------------------------------------------------
 * Amounts stored as text
 * ------------------------------------------------------------------------ */

TEST(IsPlainDecimal, Numbers)
{
	for (const char *s : {"0", "12", "12.5", " 12.50 ", "-1", "+3", ".5", "5.", "1e3", "1E-3",
						  "\t7\n", "1e1000", "1e-1000"})
		EXPECT_TRUE(IsPlainDecimal(s)) << s;
}

TEST(IsPlainDecimal, NotNumbers)
{
	for (const char *s : {"", " ", ".", "-", "+.", "1e", "1e+", "GHS 12", "12 GHS", "1,5", "NaN",
						  "Infinity", "-inf", "0x10", "1e1001", "1e-1001", "1e99999", "12.5.1",
						  "1_000", "--1"})
		EXPECT_FALSE(IsPlainDecimal(s)) << s;
	EXPECT_FALSE(IsPlainDecimal(std::string(1001, '9')));
	EXPECT_TRUE(IsPlainDecimal(std::string(1000, '9')));
}

/* ---------------------------------------------------------------------------
 * Classify(before, after)
 * ------------------------------------------------------------------------ */

/* 16-byte raw ids, as the trigger passes them. */
const std::string kCustomerA(16, '\x0a');
const std::string kCustomerB(16, '\x0b');
const std::string kOrder1(16, '\x01');
const std::string kOrder2(16, '\x02');

/* A linked order of customer A: pending 10.5, MTN, slug "promo". */
Contribution Order(bool purchase)
{
	Contribution c;
	c.present = true;
	c.customer = kCustomerA;
	c.order = kOrder1;
	c.purchase = purchase;
	c.amount = "10.5";
	c.purchased_at = 820540800000000LL; /* 2026-01-01 00:00 UTC: microseconds since 2000-01-01 */
	c.network_null = false;
	c.network = "MTN";
	c.slug_null = false;
	c.slug = "promo";
	return c;
}

Contribution Absent() { return Contribution(); }

TEST(Classify, NotLinkedBeforeOrAfterIsNothing)
{
	EXPECT_KIND(Absent(), Absent(), ChangeKind::kNothing);
	/* Stale fields of an absent contribution are ignored. */
	Contribution ghost = Order(true);
	ghost.present = false;
	EXPECT_KIND(ghost, Absent(), ChangeKind::kNothing);
	EXPECT_KIND(Absent(), ghost, ChangeKind::kNothing);
}

TEST(Classify, UnchangedIsNothing)
{
	EXPECT_KIND(Order(false), Order(false), ChangeKind::kNothing);
	EXPECT_KIND(Order(true), Order(true), ChangeKind::kNothing);
}

TEST(Classify, NewOrUnlinkedToLinkedIsAddOrder)
{
	EXPECT_KIND(Absent(), Order(true), ChangeKind::kAddOrder);
	EXPECT_KIND(Absent(), Order(false), ChangeKind::kAddOrder);
	Contribution with_attribution = Order(true);
	with_attribution.attribution_changed = true;
	EXPECT_KIND(Absent(), with_attribution, ChangeKind::kAddOrder);
}

TEST(Classify, LinkedToUnlinkedOrDeletedIsRecompute)
{
	EXPECT_KIND(Order(true), Absent(), ChangeKind::kRecompute);
	/* A pending order still counts in total_orders. */
	EXPECT_KIND(Order(false), Absent(), ChangeKind::kRecompute);
}

TEST(Classify, PendingToPaidIsBecamePurchase)
{
	EXPECT_KIND(Order(false), Order(true), ChangeKind::kBecamePurchase);
}

TEST(Classify, PendingToPaidWithOtherChangesIsStillBecamePurchase)
{
	/* The ledger is rewritten with the new values and the increment uses them. */
	Contribution after = Order(true);
	after.amount = "12";
	after.purchased_at += 1000;
	after.network = "Telecel";
	after.slug_null = true;
	after.slug = std::string_view();
	after.attribution_changed = true;
	EXPECT_KIND(Order(false), after, ChangeKind::kBecamePurchase);
}

TEST(Classify, PaidToRefundedIsRecompute)
{
	EXPECT_KIND(Order(true), Order(false), ChangeKind::kRecompute);
}

TEST(Classify, PaidToRefundedWithAttributionChangeIsRecompute)
{
	Contribution after = Order(false);
	after.attribution_changed = true;
	EXPECT_KIND(Order(true), after, ChangeKind::kRecompute);
}

TEST(Classify, AmountChangeOnAPurchaseIsRecompute)
{
	Contribution after = Order(true);
	after.amount = "45";
	EXPECT_KIND(Order(true), after, ChangeKind::kRecompute);
	/* The amount is compared in its canonical text form. */
	after.amount = "10.50";
	EXPECT_KIND(Order(true), after, ChangeKind::kRecompute);
}

TEST(Classify, AmountChangeOnAPendingOrderIsLedgerOnly)
{
	Contribution after = Order(false);
	after.amount = "45";
	EXPECT_KIND(Order(false), after, ChangeKind::kLedgerOnly);
}

TEST(Classify, PurchaseTimeNetworkOrSlugChangeOnAPurchaseIsRecompute)
{
	Contribution time = Order(true);
	time.purchased_at -= 86400000000LL;
	EXPECT_KIND(Order(true), time, ChangeKind::kRecompute);

	Contribution network = Order(true);
	network.network = "AirtelTigo";
	EXPECT_KIND(Order(true), network, ChangeKind::kRecompute);

	Contribution no_network = Order(true);
	no_network.network_null = true;
	no_network.network = std::string_view();
	EXPECT_KIND(Order(true), no_network, ChangeKind::kRecompute);
	EXPECT_KIND(no_network, Order(true), ChangeKind::kRecompute);

	Contribution slug = Order(true);
	slug.slug = "other";
	EXPECT_KIND(Order(true), slug, ChangeKind::kRecompute);

	Contribution no_slug = Order(true);
	no_slug.slug_null = true;
	no_slug.slug = std::string_view();
	EXPECT_KIND(Order(true), no_slug, ChangeKind::kRecompute);
}

TEST(Classify, NullDiffersFromEmptyText)
{
	Contribution null_network = Order(true);
	null_network.network_null = true;
	null_network.network = std::string_view();
	Contribution empty_network = Order(true);
	empty_network.network = "";
	EXPECT_KIND(null_network, empty_network, ChangeKind::kRecompute);

	Contribution null_slug = Order(false);
	null_slug.slug_null = true;
	null_slug.slug = std::string_view();
	Contribution empty_slug = Order(false);
	empty_slug.slug = "";
	EXPECT_KIND(null_slug, empty_slug, ChangeKind::kLedgerOnly);
}

TEST(Classify, PurchaseTimeNetworkOrSlugChangeOnAPendingOrderIsLedgerOnly)
{
	Contribution time = Order(false);
	time.purchased_at += 1;
	EXPECT_KIND(Order(false), time, ChangeKind::kLedgerOnly);

	Contribution network = Order(false);
	network.network_null = true;
	network.network = std::string_view();
	EXPECT_KIND(Order(false), network, ChangeKind::kLedgerOnly);

	Contribution slug = Order(false);
	slug.slug = "other";
	EXPECT_KIND(Order(false), slug, ChangeKind::kLedgerOnly);
}

TEST(Classify, CustomerChangeIsRecompute)
{
	Contribution moved = Order(true);
	moved.customer = kCustomerB;
	EXPECT_KIND(Order(true), moved, ChangeKind::kRecompute);
	/* Even for a pending order (total_orders moves), or with nothing else changed. */
	Contribution moved_pending = Order(false);
	moved_pending.customer = kCustomerB;
	EXPECT_KIND(Order(false), moved_pending, ChangeKind::kRecompute);
	/* And when it becomes a purchase at the same time. */
	EXPECT_KIND(Order(false), moved, ChangeKind::kRecompute);
}

TEST(Classify, OrderIdChangeIsRecompute)
{
	Contribution renumbered = Order(true);
	renumbered.order = kOrder2;
	EXPECT_KIND(Order(true), renumbered, ChangeKind::kRecompute);
	Contribution renumbered_pending = Order(false);
	renumbered_pending.order = kOrder2;
	EXPECT_KIND(Order(false), renumbered_pending, ChangeKind::kRecompute);
}

TEST(Classify, IdsAreComparedAsRawBytes)
{
	/* Ids that differ only after an embedded NUL byte are different. */
	std::string a(16, '\0');
	std::string b(16, '\0');
	b[15] = '\x01';
	Contribution before = Order(true);
	before.customer = a;
	Contribution after = Order(true);
	after.customer = b;
	EXPECT_KIND(before, after, ChangeKind::kRecompute);
	after.customer = a;
	EXPECT_KIND(before, after, ChangeKind::kNothing);
}

TEST(Classify, AttributionChangeOnlyIsLedgerOnly)
{
	Contribution paid = Order(true);
	paid.attribution_changed = true;
	EXPECT_KIND(Order(true), paid, ChangeKind::kLedgerOnly);
	Contribution pending = Order(false);
	pending.attribution_changed = true;
	EXPECT_KIND(Order(false), pending, ChangeKind::kLedgerOnly);
}

TEST(Classify, AttributionFlagOfBeforeIsIgnored)
{
	/* attribution_changed is only meaningful on the after side. */
	Contribution before = Order(true);
	before.attribution_changed = true;
	EXPECT_KIND(before, Order(true), ChangeKind::kNothing);
}

TEST(Classify, AttributionAndAmountChangeOnAPurchaseIsRecompute)
{
	Contribution after = Order(true);
	after.attribution_changed = true;
	after.amount = "1";
	EXPECT_KIND(Order(true), after, ChangeKind::kRecompute);
}

TEST(Classify, IsNoexcept)
{
	static_assert(noexcept(Classify(std::declval<const Contribution &>(),
									std::declval<const Contribution &>())),
				  "Classify is called between PostgreSQL calls and must not throw");
	static_assert(noexcept(std::declval<const StatusVocabulary &>().Classify(std::string_view())),
				  "StatusVocabulary::Classify must not throw");
	static_assert(std::is_trivially_destructible<Contribution>::value,
				  "Contribution lives in frames that PostgreSQL may longjmp out of");
	SUCCEED();
}

} // namespace
