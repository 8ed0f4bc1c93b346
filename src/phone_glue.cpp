/*
 * phone_glue.cpp: the PostgreSQL-facing side of phone identity.
 *
 * ct_phone_normalize() and friends wrap ct::phone (phone.cpp, pure C++) for
 * the trigger and the SQL function normalize_phone(phone text, region text).
 * None of them lets a C++ exception escape, and the SQL entry point keeps the
 * boundary rule of pg_boundary.hpp: PostgreSQL functions that may ereport()
 * are only called from frames holding no objects with destructors; the C++
 * work (std::string and friends) happens inside ct_phone_normalize(), whose
 * frame is gone before the result text is palloc'd.
 */
#include <cstring>
#include <new>
#include <string_view>

#include "pg_boundary.hpp"
#include "phone.hpp"

extern "C" {
#include "utils/builtins.h"
}

/* Used when a caller passes no region and the GUC is somehow unset. */
static const char ct_fallback_region[] = "GH";

void ct_phone_init(void)
{
	try
	{
		ct::phone::WarmUp(ct_default_region != nullptr ? ct_default_region : ct_fallback_region);
	}
	catch (...)
	{
		/* Out of memory while warming up: the first real call will retry. */
	}
}

bool ct_region_is_known(const char *region)
{
	if (region == nullptr)
		return false;
	try
	{
		return ct::phone::IsKnownRegion(region);
	}
	catch (...)
	{
		return false;
	}
}

int ct_phone_normalize(const char *raw, size_t len, const char *region, char *out)
{
	if (out != nullptr)
		out[0] = '\0';
	if (raw == nullptr)
		return CT_PHONE_MISSING;
	if (region == nullptr)
		region = ct_default_region != nullptr ? ct_default_region : ct_fallback_region;

	try
	{
		const ct::phone::Normalized n =
			ct::phone::Normalize(std::string_view(raw, len), std::string_view(region));
		switch (n.outcome)
		{
			case ct::phone::Outcome::kValid:
				if (n.e164.size() >= CT_E164_BUFSIZE)
					return CT_PHONE_INTERNAL; /* cannot happen: E.164 is <= 16 bytes */
				if (out != nullptr)
				{
					std::memcpy(out, n.e164.data(), n.e164.size());
					out[n.e164.size()] = '\0';
				}
				return CT_PHONE_VALID;
			case ct::phone::Outcome::kMissing:
				return CT_PHONE_MISSING;
			case ct::phone::Outcome::kTooLong:
				return CT_PHONE_TOO_LONG;
			case ct::phone::Outcome::kInvalid:
				return CT_PHONE_INVALID;
		}
		return CT_PHONE_INTERNAL;
	}
	catch (...)
	{
		return CT_PHONE_INTERNAL;
	}
}

const char *ct_phone_status_reason(int status)
{
	switch (status)
	{
		case CT_PHONE_VALID:
			return "valid";
		case CT_PHONE_MISSING:
			return "missing_phone";
		case CT_PHONE_TOO_LONG:
			return "phone_too_long";
		case CT_PHONE_INVALID:
			return "invalid_phone";
		case CT_PHONE_INTERNAL:
		default:
			return "phone_internal_error";
	}
}

/*
 * normalize_phone(phone text, region text DEFAULT NULL) RETURNS text
 *
 * NULL phone -> NULL; NULL region -> customer_tracking.default_region;
 * unknown region -> ERROR; blank, too long or invalid phone -> NULL.
 * Declared STABLE (it reads a GUC) and not STRICT.
 */
CT_FUNCTION(ct_normalize_phone)
{
	/* Plain C data only in this frame: everything below may ereport(). */
	text *phone;
	const char *region;
	char e164[CT_E164_BUFSIZE];
	int status;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();

	if (PG_NARGS() > 1 && !PG_ARGISNULL(1))
		region = text_to_cstring(PG_GETARG_TEXT_PP(1));
	else
		region = ct_default_region;

	if (region == nullptr || !ct_region_is_known(region))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("unknown phone region \"%s\"", region != nullptr ? region : ""),
						errhint("Use a two-letter ISO 3166 region code known to libphonenumber, "
								"such as GH or NG.")));

	phone = PG_GETARG_TEXT_PP(0);
	status = ct_phone_normalize(VARDATA_ANY(phone), VARSIZE_ANY_EXHDR(phone), region, e164);

	if (status == CT_PHONE_INTERNAL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("out of memory while normalizing a phone number")));
	if (status != CT_PHONE_VALID)
		PG_RETURN_NULL();

	PG_RETURN_TEXT_P(cstring_to_text(e164));
}
