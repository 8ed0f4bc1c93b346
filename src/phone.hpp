/*
 * phone.hpp: phone identity (pure C++, no PostgreSQL dependency).
 *
 * A customer is identified per shop by the phone number normalised to E.164
 * with libphonenumber. Normalize() turns whatever a customer typed into the
 * canonical "+<country code><national number>" form, reading numbers written
 * without a country code in the given default region:
 *
 *     Normalize("0241234567", "GH")        -> +233241234567
 *     Normalize("024 123 4567", "GH")      -> +233241234567
 *     Normalize("+233 24 123 4567", "NG")  -> +233241234567
 *     Normalize("233241234567", "GH")      -> +233241234567
 *     Normalize("00233241234567", "NG")    -> +233241234567
 *
 * Rules, in order:
 *   - raw longer than kMaxRawBytes bytes: kTooLong (libphonenumber is not called);
 *   - empty or only ASCII whitespace: kMissing;
 *   - not valid UTF-8, a "vanity" number with letters (024-ABC-DEFG), or a
 *     number libphonenumber does not consider valid (IsValidNumber, i.e. its
 *     metadata knows the range) in any country: kInvalid;
 *   - otherwise kValid with the E.164 string.
 * Numbers written without '+' that are invalid in the default region are
 * retried as international numbers ("2348031234567" with region GH gives
 * +2348031234567; "00233..." with a region whose international prefix is not
 * 00 gives +233...), provided the text holds only digits and separators.
 *
 * Regions are two ASCII letters and case-insensitive ("gh" == "GH"). An
 * unknown region is not an error here: only numbers written with a '+'
 * country code can then be valid. Callers that must reject unknown regions
 * check IsKnownRegion() first.
 *
 * Results are memoised in a bounded per-process cache (kCacheEntries entries,
 * keyed by region + trimmed input), so a repeat customer typing the same
 * string costs a hash lookup. The cache is safe to use from several threads:
 * a thread that finds it busy simply bypasses it.
 *
 * Neither function throws anything but std::bad_alloc.
 */
#ifndef CT_PHONE_HPP
#define CT_PHONE_HPP

#include <cstddef>
#include <string>
#include <string_view>

namespace ct::phone {

/* Longest raw input handed to libphonenumber, in bytes. */
inline constexpr std::size_t kMaxRawBytes = 64;

/* Slots in the per-process result cache. */
inline constexpr std::size_t kCacheEntries = 4096;

enum class Outcome
{
	kValid,	  /* e164 holds the number */
	kMissing, /* empty or blank */
	kTooLong, /* longer than kMaxRawBytes bytes */
	kInvalid  /* not a valid phone number */
};

struct Normalized
{
	Outcome outcome;
	std::string e164; /* "+233241234567" when kValid, empty otherwise */
};

Normalized Normalize(std::string_view raw, std::string_view region);

/* True for a two-letter region (any case) that libphonenumber knows. */
bool IsKnownRegion(std::string_view region);

/* Loads libphonenumber's metadata and compiles its common patterns now. */
void WarmUp(std::string_view region);

/* Empties the result cache (for tests). */
void ClearCache() noexcept;

} // namespace ct::phone

#endif
