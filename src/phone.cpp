/*
 * phone.cpp: phone identity with libphonenumber (see phone.hpp).
 *
 * Pure C++: no PostgreSQL header may be included here.
 */
#include "phone.hpp"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <thread>

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

namespace ct::phone {

namespace {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

/* E.164 is at most 15 digits after the '+'; leave room to spare. */
constexpr std::size_t kMaxE164Bytes = 24;

/* libphonenumber's "unknown region": only '+' numbers parse with it. */
constexpr char kUnknownRegion[3] = "ZZ";

static_assert((kCacheEntries & (kCacheEntries - 1)) == 0, "cache size must be a power of two");
static_assert(kMaxRawBytes <= 255, "key length is stored in a byte");

const PhoneNumberUtil &Util()
{
	/* GetInstance() loads the metadata once per process; keep the reference. */
	static const PhoneNumberUtil &util = *PhoneNumberUtil::GetInstance();
	return util;
}

bool IsAsciiSpace(char c) noexcept
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool IsAsciiDigit(char c) noexcept { return c >= '0' && c <= '9'; }

bool IsAsciiLetter(char c) noexcept { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* Writes the upper-cased region to out (3 bytes); false unless two ASCII letters. */
bool CanonicalRegion(std::string_view region, char out[3]) noexcept
{
	if (region.size() != 2 || !IsAsciiLetter(region[0]) || !IsAsciiLetter(region[1]))
		return false;
	for (int i = 0; i < 2; i++)
	{
		char c = region[i];
		out[i] = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
	}
	out[2] = '\0';
	return true;
}

std::string_view TrimAsciiSpace(std::string_view s) noexcept
{
	std::size_t begin = 0;
	std::size_t end = s.size();
	while (begin < end && IsAsciiSpace(s[begin]))
		begin++;
	while (end > begin && IsAsciiSpace(s[end - 1]))
		end--;
	return s.substr(begin, end - begin);
}

/* Strict UTF-8 check: no overlong forms, no surrogates, nothing above U+10FFFF. */
bool IsValidUtf8(std::string_view s) noexcept
{
	const auto *p = reinterpret_cast<const unsigned char *>(s.data());
	const auto *end = p + s.size();
	while (p < end)
	{
		unsigned char c = *p;
		if (c < 0x80)
		{
			p++;
			continue;
		}
		std::size_t n;
		unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
		if (c >= 0xC2 && c <= 0xDF)
			n = 1;
		else if (c >= 0xE0 && c <= 0xEF)
		{
			n = 2;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		}
		else if (c >= 0xF0 && c <= 0xF4)
		{
			n = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		}
		else
			return false;
		if (static_cast<std::size_t>(end - p) <= n)
			return false;
		if (p[1] < lo || p[1] > hi)
			return false;
		for (std::size_t i = 2; i <= n; i++)
			if ((p[i] & 0xC0) != 0x80)
				return false;
		p += n + 1;
	}
	return true;
}

/* Parses text in region; on a valid number writes its E.164 form to e164. */
bool ParseValid(const PhoneNumberUtil &util, const std::string &text, const std::string &region,
				std::string *e164)
{
	PhoneNumber number;
	if (util.Parse(text, region, &number) != PhoneNumberUtil::NO_PARSING_ERROR)
		return false;
	if (!util.IsValidNumber(number))
		return false;
	util.Format(number, PhoneNumberUtil::E164, e164);
	return !e164->empty();
}

/*
 * The uncached work. text is trimmed, non-empty and at most kMaxRawBytes long;
 * region is canonical (two upper-case letters, "ZZ" when unknown).
 */
Normalized Compute(std::string_view text, const char *region)
{
	Normalized result{Outcome::kInvalid, std::string()};

	if (!IsValidUtf8(text))
		return result;

	const PhoneNumberUtil &util = Util();

	/*
	 * libphonenumber stops at a tab or newline inside a number ("024\t123"
	 * fails to parse) but accepts spaces: read every ASCII blank as a space.
	 */
	std::string input(text);
	bool has_letter = false;
	for (char &c : input)
	{
		if (IsAsciiSpace(c))
			c = ' ';
		else if (IsAsciiLetter(c))
			has_letter = true;
	}

	/*
	 * Vanity numbers: libphonenumber maps letters to keypad digits, so
	 * "024-ABC-DEFG" would be the valid +233242223334. Nobody's phone
	 * identity is spelled in letters; refuse them. (Extensions such as
	 * "ext 12" or "x12" are not alpha numbers and pass.)
	 */
	if (has_letter && util.IsAlphaNumber(input))
		return result;

	const std::string region_code(region, 2);
	if (ParseValid(util, input, region_code, &result.e164))
	{
		result.outcome = Outcome::kValid;
		return result;
	}
	result.e164.clear();

	/*
	 * Retry as an international number written without its '+':
	 * "233241234567", "2348031234567", or "00233241234567" in a region whose
	 * international prefix is not 00. Only for plain digit strings with
	 * separators, so that extensions and other text are not glued onto the
	 * number.
	 */
	char digits[kMaxRawBytes + 2];
	std::size_t ndigits = 0;
	digits[ndigits++] = '+';
	for (char c : text)
	{
		if (IsAsciiDigit(c))
			digits[ndigits++] = c;
		else if (!(IsAsciiSpace(c) || c == '.' || c == '-' || c == '(' || c == ')' || c == '/'))
			return result;
	}
	std::string_view international(digits, ndigits);
	if (international.size() > 3 && international[1] == '0' && international[2] == '0')
	{
		digits[2] = '+';
		international.remove_prefix(2);
	}
	if (international.size() < 3 || international[1] == '0')
		return result;

	const std::string retry(international);
	if (ParseValid(util, retry, std::string(kUnknownRegion, 2), &result.e164))
	{
		result.outcome = Outcome::kValid;
		return result;
	}
	result.e164.clear();
	return result;
}

/* ------------------------------------------------------------------------ */
/* The per-process cache: 8-way set-associative with LRU replacement inside  */
/* a set, fixed size, no allocation. The hashes of a set share one cache     */
/* line, so a lookup touches two lines. (A direct-mapped table thrashed:     */
/* with 1000 regular customers in 4096 slots ~10% kept evicting each other.) */

constexpr std::size_t kCacheWays = 8;
constexpr std::size_t kCacheSets = kCacheEntries / kCacheWays;
static_assert(kCacheSets * kCacheWays == kCacheEntries,
			  "cache size must be a multiple of the ways");

struct CacheEntry
{
	std::uint32_t last_used;
	std::uint8_t key_len;
	std::uint8_t outcome;
	std::uint8_t e164_len;
	char region[2];
	char key[kMaxRawBytes];
	char e164[kMaxE164Bytes];
};

alignas(64) std::uint64_t g_cache_hash[kCacheEntries]; /* 0: empty slot */
CacheEntry g_cache[kCacheEntries];
std::uint32_t g_cache_clock; /* bumped on every hit and store */

/*
 * Guards the cache. Only ever try-locked by lookups and stores: a thread that
 * finds the cache busy computes the answer itself instead of waiting. (A
 * PostgreSQL backend is single-threaded, so there it always succeeds.)
 */
std::atomic_flag g_cache_busy = ATOMIC_FLAG_INIT;

std::uint64_t HashKey(const char *region, std::string_view text) noexcept
{
	/* FNV-1a, 64 bit, with a final mix so the low bits used as set index are good. */
	std::uint64_t h = 14695981039346656037ULL;
	auto mix = [&h](unsigned char c) {
		h ^= c;
		h *= 1099511628211ULL;
	};
	mix(static_cast<unsigned char>(region[0]));
	mix(static_cast<unsigned char>(region[1]));
	for (char c : text)
		mix(static_cast<unsigned char>(c));
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h == 0 ? 1 : h;
}

std::size_t SetStart(std::uint64_t hash) noexcept
{
	return static_cast<std::size_t>(hash % kCacheSets) * kCacheWays;
}

bool EntryMatches(const CacheEntry &e, const char *region, std::string_view text) noexcept
{
	return e.key_len == text.size() && e.region[0] == region[0] && e.region[1] == region[1] &&
		   std::memcmp(e.key, text.data(), text.size()) == 0;
}

/* On a hit copies the entry's answer out and returns true. */
bool CacheLookup(std::uint64_t hash, const char *region, std::string_view text, Outcome *outcome,
				 char *e164, std::size_t *e164_len) noexcept
{
	if (g_cache_busy.test_and_set(std::memory_order_acquire))
		return false;
	bool hit = false;
	const std::size_t start = SetStart(hash);
	for (std::size_t i = start; i < start + kCacheWays; i++)
	{
		if (g_cache_hash[i] != hash)
			continue;
		CacheEntry &e = g_cache[i];
		if (EntryMatches(e, region, text))
		{
			e.last_used = ++g_cache_clock;
			*outcome = static_cast<Outcome>(e.outcome);
			*e164_len = e.e164_len;
			std::memcpy(e164, e.e164, e.e164_len);
			hit = true;
			break;
		}
	}
	g_cache_busy.clear(std::memory_order_release);
	return hit;
}

void CacheStore(std::uint64_t hash, const char *region, std::string_view text,
				const Normalized &value) noexcept
{
	if (text.size() > kMaxRawBytes || value.e164.size() > kMaxE164Bytes)
		return;
	if (g_cache_busy.test_and_set(std::memory_order_acquire))
		return;
	/* Replace an empty slot, else the least recently used one of the set. */
	const std::size_t start = SetStart(hash);
	const std::uint32_t now = ++g_cache_clock;
	std::size_t victim = start;
	for (std::size_t i = start; i < start + kCacheWays; i++)
	{
		if (g_cache_hash[i] == 0)
		{
			victim = i;
			break;
		}
		/* Unsigned ages survive the clock wrapping around. */
		if (static_cast<std::uint32_t>(now - g_cache[i].last_used) >
			static_cast<std::uint32_t>(now - g_cache[victim].last_used))
			victim = i;
	}
	CacheEntry &e = g_cache[victim];
	g_cache_hash[victim] = hash;
	e.last_used = now;
	e.key_len = static_cast<std::uint8_t>(text.size());
	e.outcome = static_cast<std::uint8_t>(value.outcome);
	e.e164_len = static_cast<std::uint8_t>(value.e164.size());
	e.region[0] = region[0];
	e.region[1] = region[1];
	std::memcpy(e.key, text.data(), text.size());
	std::memcpy(e.e164, value.e164.data(), value.e164.size());
	g_cache_busy.clear(std::memory_order_release);
}

} // namespace

Normalized Normalize(std::string_view raw, std::string_view region)
{
	if (raw.size() > kMaxRawBytes)
		return Normalized{Outcome::kTooLong, std::string()};

	std::string_view text = TrimAsciiSpace(raw);
	if (text.empty())
		return Normalized{Outcome::kMissing, std::string()};

	char canonical[3];
	if (!CanonicalRegion(region, canonical))
		std::memcpy(canonical, kUnknownRegion, sizeof(canonical));

	const std::uint64_t hash = HashKey(canonical, text);
	{
		Outcome outcome;
		char e164[kMaxE164Bytes];
		std::size_t e164_len = 0;
		if (CacheLookup(hash, canonical, text, &outcome, e164, &e164_len))
			return Normalized{outcome, std::string(e164, e164_len)};
	}

	Normalized result{Outcome::kInvalid, std::string()};
	try
	{
		result = Compute(text, canonical);
	}
	catch (const std::bad_alloc &)
	{
		throw;
	}
	catch (...)
	{
		/* libphonenumber is not expected to throw; do not cache a failure. */
		return Normalized{Outcome::kInvalid, std::string()};
	}
	CacheStore(hash, canonical, text, result);
	return result;
}

bool IsKnownRegion(std::string_view region)
{
	char canonical[3];
	if (!CanonicalRegion(region, canonical))
		return false;
	try
	{
		return Util().GetCountryCodeForRegion(std::string(canonical, 2)) != 0;
	}
	catch (const std::bad_alloc &)
	{
		throw;
	}
	catch (...)
	{
		return false;
	}
}

void WarmUp(std::string_view region)
{
	try
	{
		const PhoneNumberUtil &util = Util();
		char canonical[3];
		if (!CanonicalRegion(region, canonical) ||
			util.GetCountryCodeForRegion(std::string(canonical, 2)) == 0)
			return;

		/*
		 * Parsing compiles and caches libphonenumber's regular expressions
		 * (the first Parse() of a process costs ~1 ms). Use the region's own
		 * example number, written both nationally and internationally; the
		 * results are not cached.
		 */
		PhoneNumber example;
		if (!util.GetExampleNumber(std::string(canonical, 2), &example))
			return;
		std::string national;
		std::string international;
		util.Format(example, PhoneNumberUtil::NATIONAL, &national);
		util.Format(example, PhoneNumberUtil::INTERNATIONAL, &international);
		if (national.size() <= kMaxRawBytes)
			(void) Compute(national, canonical);
		if (international.size() <= kMaxRawBytes)
			(void) Compute(international, canonical);
	}
	catch (const std::bad_alloc &)
	{
		throw;
	}
	catch (...)
	{
		/* Warming up is an optimisation only. */
	}
}

void ClearCache() noexcept
{
	while (g_cache_busy.test_and_set(std::memory_order_acquire))
		std::this_thread::yield();
	for (std::uint64_t &hash : g_cache_hash)
		hash = 0;
	g_cache_busy.clear(std::memory_order_release);
}

} // namespace ct::phone
