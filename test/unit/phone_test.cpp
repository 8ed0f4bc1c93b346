/*
 * phone_test.cpp: unit tests for ct::phone (phone identity, E.164).
 */
#include "../../src/phone.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using ct::phone::IsKnownRegion;
using ct::phone::Normalize;
using ct::phone::Normalized;
using ct::phone::Outcome;

constexpr const char *kGhana = "+233241234567";

/* Prints the input on failure, quoted, with non-printable bytes escaped. */
std::string Show(std::string_view s)
{
	static const char hex[] = "0123456789abcdef";
	std::string out = "\"";
	for (unsigned char c : s)
	{
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			out += static_cast<char>(c);
		else
		{
			out += "\\x";
			out += hex[c >> 4];
			out += hex[c & 15];
		}
	}
	return out + "\"";
}

void ExpectValid(std::string_view raw, std::string_view region, const std::string &e164)
{
	Normalized n = Normalize(raw, region);
	EXPECT_EQ(n.outcome, Outcome::kValid) << Show(raw) << " in " << region;
	EXPECT_EQ(n.e164, e164) << Show(raw) << " in " << region;
}

void ExpectOutcome(std::string_view raw, std::string_view region, Outcome outcome)
{
	Normalized n = Normalize(raw, region);
	EXPECT_EQ(n.outcome, outcome) << Show(raw) << " in " << region;
	EXPECT_TRUE(n.e164.empty()) << Show(raw) << " gave " << n.e164;
}

class PhoneTest : public ::testing::Test
{
protected:
	void SetUp() override { ct::phone::ClearCache(); }
};

TEST_F(PhoneTest, GhanaFormatsOfTheSameNumber)
{
	for (const char *raw : {
			 "0241234567",			 "024 123 4567",   "+233 24 123 4567",	 "233241234567",
			 "+233241234567",		 "00233241234567", "00 233 24 123 4567", "024-123-4567",
			 "024.123.4567",		 "(024) 123-4567", "024/123/4567",		 "+233-24-123-4567",
			 "+233 (0) 24 123 4567", "2330241234567",  "241234567",			 "  0241234567  ",
			 "\t0241234567\r\n",	 "024\t123\t4567", "024\n123\n4567",	 "0 2 4 1 2 3 4 5 6 7",
			 "tel:+233241234567",
		 })
		ExpectValid(raw, "GH", kGhana);
}

TEST_F(PhoneTest, OtherGhanaNetworks)
{
	ExpectValid("0201234567", "GH", "+233201234567");
	ExpectValid("050 123 4567", "GH", "+233501234567");
	ExpectValid("0551234567", "GH", "+233551234567");
	ExpectValid("0271234567", "GH", "+233271234567");
}

TEST_F(PhoneTest, RegionIsCaseInsensitive)
{
	ExpectValid("0241234567", "gh", kGhana);
	ExpectValid("0241234567", "Gh", kGhana);
	ExpectValid("08031234567", "ng", "+2348031234567");
}

TEST_F(PhoneTest, Nigeria)
{
	for (const char *raw : {"08031234567", "0803 123 4567", "2348031234567", "+234 803 123 4567",
							"+234 (0) 803 123 4567", "0803-123-4567"})
		ExpectValid(raw, "NG", "+2348031234567");
	/* Nigeria's international prefix is 009, yet 00 is what people type. */
	ExpectValid("00233241234567", "NG", kGhana);
	ExpectValid("+233 24 123 4567", "NG", kGhana);
	/* A Ghanaian national number means something else in Nigeria. */
	ExpectOutcome("0241234567", "NG", Outcome::kInvalid);
}

TEST_F(PhoneTest, UnitedStates)
{
	for (const char *raw : {"(650) 253-0000", "650.253.0000", "650-253-0000", "16502530000",
							"+1 650 253 0000", "1 (650) 253-0000"})
		ExpectValid(raw, "US", "+16502530000");
	ExpectValid("011 233 24 123 4567", "US", kGhana);
	ExpectValid("00233241234567", "US", kGhana);
}

TEST_F(PhoneTest, ForeignNumbersInTheDefaultRegion)
{
	ExpectValid("+234 803 123 4567", "GH", "+2348031234567");
	ExpectValid("+44 20 7946 0958", "GH", "+442079460958");
	ExpectValid("+1 650 253 0000", "GH", "+16502530000");
	/* Written without '+': invalid in Ghana, valid as an international number. */
	ExpectValid("2348031234567", "GH", "+2348031234567");
	ExpectValid("234 803 123 4567", "GH", "+2348031234567");
	ExpectValid("0023480 3123 4567", "GH", "+2348031234567");
}

TEST_F(PhoneTest, ExtensionsAreDropped)
{
	ExpectValid("0241234567 ext 12", "GH", kGhana);
	ExpectValid("0241234567 x12", "GH", kGhana);
	ExpectValid("+233 24 123 4567 ext. 5", "GH", kGhana);
	ExpectValid("0241234567;ext=1", "GH", kGhana);
}

TEST_F(PhoneTest, NonAsciiDigitsAndPlus)
{
	/* Full-width digits and plus sign, Arabic-Indic digits: libphonenumber maps them. */
	ExpectValid("\xef\xbc\x90\xef\xbc\x92\xef\xbc\x94\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93"
				"\xef\xbc\x94\xef\xbc\x95\xef\xbc\x96\xef\xbc\x97",
				"GH", kGhana);
	ExpectValid("\xef\xbc\x8b"
				"233241234567",
				"GH", kGhana);
	ExpectValid("\xd9\xa0\xd9\xa2\xd9\xa4\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4\xd9\xa5\xd9\xa6\xd9\xa7",
				"GH", kGhana);
	/* A non-breaking space around the number is ignored too. */
	ExpectValid("\xc2\xa0"
				"0241234567\xc2\xa0",
				"GH", kGhana);
}

TEST_F(PhoneTest, Garbage)
{
	for (const char *raw : {
			 "abc",
			 "12",
			 "233",
			 "+",
			 "++",
			 "+0241234567",
			 "0000000000",
			 "024123456",
			 "02412345678",
			 "024123456a",
			 "0241234567#",
			 "0241234567abc",
			 "0241234567 / 0201234567",
			 "0241234567,0201234567",
			 "0241234567 call after 5pm",
			 "6502530000",
			 "-",
			 "()",
			 "N/A",
			 "none",
			 "\xc2\xa0\xc2\xa0",
		 })
		ExpectOutcome(raw, "GH", Outcome::kInvalid);
}

TEST_F(PhoneTest, VanityNumbersAreRejected)
{
	/* libphonenumber would read these as keypad digits and call them valid. */
	ExpectOutcome("024-ABC-DEFG", "GH", Outcome::kInvalid);
	ExpectOutcome("1-800-FLOWERS", "US", Outcome::kInvalid);
	ExpectOutcome("1-650-CALL-NOW", "US", Outcome::kInvalid);
}

TEST_F(PhoneTest, InvalidUtf8AndControlBytes)
{
	ExpectOutcome("\xff\xfe", "GH", Outcome::kInvalid);
	ExpectOutcome("0241234567\xff", "GH", Outcome::kInvalid);
	ExpectOutcome("\x80"
				  "0241234567",
				  "GH", Outcome::kInvalid);
	ExpectOutcome("0241234567\xc3", "GH", Outcome::kInvalid); /* truncated */
	ExpectOutcome("\xc0\xb0"
				  "241234567",
				  "GH", Outcome::kInvalid); /* overlong '0' */
	ExpectOutcome("\xed\xa0\x80"
				  "0241234567",
				  "GH", Outcome::kInvalid); /* surrogate */
	ExpectOutcome(std::string_view("024\0 1234567", 12), "GH", Outcome::kInvalid);
	ExpectOutcome(std::string_view("\0", 1), "GH", Outcome::kInvalid);
	ExpectOutcome("\x01\x02\x03", "GH", Outcome::kInvalid);
}

TEST_F(PhoneTest, ArbitraryBytesNeverThrow)
{
	std::mt19937 rng(42);
	std::uniform_int_distribution<int> byte(0, 255);
	std::uniform_int_distribution<int> length(0, 80);
	const std::string alphabet = "0123456789+-() .\t\xc2\xa0\xff/xe#*";
	std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
	for (int i = 0; i < 5000; i++)
	{
		std::string raw;
		int len = length(rng);
		for (int j = 0; j < len; j++)
			raw += static_cast<char>(i % 2 ? byte(rng) : alphabet[pick(rng)]);
		Normalized first;
		ASSERT_NO_THROW(first = Normalize(raw, i % 3 ? "GH" : "NG")) << Show(raw);
		if (first.outcome == Outcome::kValid)
		{
			ASSERT_GE(first.e164.size(), 8u) << Show(raw);
			ASSERT_LE(first.e164.size(), 16u) << Show(raw);
			ASSERT_EQ(first.e164[0], '+');
			ASSERT_EQ(first.e164.find_first_not_of("0123456789", 1), std::string::npos);
			/* The E.164 form is a fixed point. */
			Normalized again = Normalize(first.e164, "US");
			ASSERT_EQ(again.outcome, Outcome::kValid) << first.e164;
			ASSERT_EQ(again.e164, first.e164);
		}
		else
			ASSERT_TRUE(first.e164.empty());
	}
}

TEST_F(PhoneTest, BlankIsMissing)
{
	for (const char *raw : {"", " ", "   ", "\t", "\r\n", " \t\n\v\f\r "})
		ExpectOutcome(raw, "GH", Outcome::kMissing);
	ExpectOutcome(std::string(ct::phone::kMaxRawBytes, ' '), "GH", Outcome::kMissing);
	ExpectOutcome("", "ZZ", Outcome::kMissing);
}

TEST_F(PhoneTest, TooLong)
{
	const std::size_t max = ct::phone::kMaxRawBytes;
	ExpectOutcome(std::string(max + 1, '1'), "GH", Outcome::kTooLong);
	ExpectOutcome(std::string(max + 1, ' '), "GH", Outcome::kTooLong);
	ExpectOutcome(std::string(10000, '5'), "GH", Outcome::kTooLong);
	ExpectOutcome(std::string(10000, 'a'), "GH", Outcome::kTooLong);
	ExpectOutcome(std::string(1 << 20, '\xff'), "GH", Outcome::kTooLong);

	/* Exactly the limit is still read. */
	std::string padded = "0241234567";
	padded.resize(max, ' ');
	ExpectValid(padded, "GH", kGhana);
	ExpectOutcome(padded + " ", "GH", Outcome::kTooLong);
}

TEST_F(PhoneTest, UnknownRegionReadsOnlyInternationalNumbers)
{
	for (const char *region : {"ZZ", "XX", "", "G", "GHA", "001", "1H", "\xc3\x80X"})
	{
		ExpectValid("+233 24 123 4567", region, kGhana);
		ExpectValid("233241234567", region, kGhana);
		ExpectOutcome("0241234567", region, Outcome::kInvalid);
	}
}

TEST(PhoneRegion, IsKnownRegion)
{
	for (const char *region : {"GH", "NG", "US", "GB", "KE", "ZA", "gh", "Ng", "uS"})
		EXPECT_TRUE(IsKnownRegion(region)) << region;
	for (const char *region : {"", "G", "GHA", "ZZ", "XX", "001", "G1", "  ", "gh ", "\xc3\x80X"})
		EXPECT_FALSE(IsKnownRegion(region)) << Show(region);
	EXPECT_FALSE(IsKnownRegion(std::string_view("G\0", 2)));
}

TEST_F(PhoneTest, CacheGivesTheSameAnswerTwice)
{
	for (int round = 0; round < 3; round++)
	{
		ExpectValid("0241234567", "GH", kGhana);
		ExpectValid(" 024 123 4567 ", "GH", kGhana);
		ExpectOutcome("abc", "GH", Outcome::kInvalid);
		ExpectOutcome("", "GH", Outcome::kMissing);
	}
}

TEST_F(PhoneTest, CacheKeyIncludesTheRegion)
{
	/* Same text, different regions, in both orders. */
	ExpectValid("08031234567", "NG", "+2348031234567");
	ExpectOutcome("08031234567", "GH", Outcome::kInvalid);
	ExpectValid("08031234567", "NG", "+2348031234567");
	ExpectOutcome("0241234567", "NG", Outcome::kInvalid);
	ExpectValid("0241234567", "GH", kGhana);
	ExpectOutcome("0241234567", "NG", Outcome::kInvalid);
	ExpectOutcome("0241234567", "ZZ", Outcome::kInvalid);
	ExpectValid("0241234567", "gh", kGhana);
}

/* The i-th distinct Ghanaian mobile number, national and E.164. */
std::pair<std::string, std::string> GhanaNumber(int i)
{
	std::string digits = std::to_string(1000000 + i % 9000000);
	return {"024" + digits, "+23324" + digits};
}

TEST_F(PhoneTest, ManyDistinctInputsBeyondTheCacheSize)
{
	const int count = static_cast<int>(ct::phone::kCacheEntries) * 3;
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < count; i++)
		{
			auto [national, e164] = GhanaNumber(i);
			Normalized n = Normalize(national, "GH");
			ASSERT_EQ(n.outcome, Outcome::kValid) << national;
			ASSERT_EQ(n.e164, e164) << national;
			/* Interleave an invalid input that shares the cache. */
			Normalized bad = Normalize(national.substr(0, 6), "GH");
			ASSERT_EQ(bad.outcome, Outcome::kInvalid) << national.substr(0, 6);
		}
	/* After eviction churn, the originals still come back right. */
	ExpectValid("0241234567", "GH", kGhana);
	ExpectValid("0241234567", "GH", kGhana);
}

TEST_F(PhoneTest, ConcurrentCallersAgree)
{
	std::vector<std::thread> threads;
	std::vector<int> failures(4, 0);
	for (int t = 0; t < 4; t++)
		threads.emplace_back([t, &failures]() {
			for (int i = 0; i < 3000; i++)
			{
				auto [national, e164] = GhanaNumber((i * 7 + t) % 500);
				Normalized n = Normalize(national, t % 2 ? "GH" : "gh");
				if (n.outcome != Outcome::kValid || n.e164 != e164)
					failures[t]++;
				if (i % 100 == 0)
					ct::phone::ClearCache();
			}
		});
	for (auto &thread : threads)
		thread.join();
	for (int t = 0; t < 4; t++)
		EXPECT_EQ(failures[t], 0) << "thread " << t;
}

TEST(PhoneWarmUp, IsHarmlessForAnyRegion)
{
	ct::phone::WarmUp("GH");
	ct::phone::WarmUp("ng");
	ct::phone::WarmUp("ZZ");
	ct::phone::WarmUp("");
	ct::phone::WarmUp("not a region");
	ExpectValid("0241234567", "GH", kGhana);
}

} // namespace
