/*
 * phone_glue.cpp: the PostgreSQL-facing side of phone identity.
 *
 * ct_phone_normalize() and friends wrap ct::phone (phone.cpp, pure C++) for
 * the trigger and the SQL function normalize_phone(p_phone text, p_region text).
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
#include "phone_glue.h"

extern "C" {
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
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

/* The uncached work; the only frame here that holds C++ objects. */
static int normalize_uncached(const char *raw, size_t len, const char *region, char *out)
{
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

/*
 * The memo: a hash table of raw phone -> outcome, in a memory context of its
 * own. Raw phones longer than ct::phone::kMaxRawBytes are never parsed (too
 * long), so the key has a fixed size.
 */
struct PhoneMemoKey
{
	uint32 len;
	char raw[ct::phone::kMaxRawBytes];
};

struct PhoneMemoEntry
{
	PhoneMemoKey key; /* hash key: first */
	int status;
	char e164[CT_E164_BUFSIZE];
};

struct PhoneMemo
{
	MemoryContext cxt;
	HTAB *table;
	char region[3]; /* the region of its entries; "" until the first */
	int64 parsed;
	int64 lookups;
};

static PhoneMemo *active_memo = nullptr;

static HTAB *memo_table(MemoryContext cxt)
{
	HASHCTL ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(PhoneMemoKey);
	ctl.entrysize = sizeof(PhoneMemoEntry);
	ctl.hcxt = cxt;
	return hash_create("customer_tracking phone memo", 1024, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

PhoneMemo *ct_phone_memo_create(MemoryContext parent)
{
	PhoneMemo *memo = static_cast<PhoneMemo *>(MemoryContextAllocZero(parent, sizeof(PhoneMemo)));
	memo->cxt =
		AllocSetContextCreate(parent, "customer_tracking phone memo", ALLOCSET_DEFAULT_SIZES);
	memo->table = memo_table(memo->cxt);
	return memo;
}

PhoneMemo *ct_phone_memo_activate(PhoneMemo *memo)
{
	PhoneMemo *before = active_memo;
	active_memo = memo;
	return before;
}

void ct_phone_memo_counts(const PhoneMemo *memo, int64 *parsed, int64 *lookups)
{
	*parsed = memo != nullptr ? memo->parsed : 0;
	*lookups = memo != nullptr ? memo->lookups : 0;
}

/* The memo's entry for raw in region; nullptr when it cannot hold it. Sets *found. */
static PhoneMemoEntry *memo_entry(PhoneMemo *memo, const char *raw, size_t len, const char *region,
								  bool *found)
{
	PhoneMemoKey key;

	*found = false;
	if (len > sizeof(key.raw) || strlen(region) != 2)
		return nullptr;
	if (memo->region[0] == '\0')
		memcpy(memo->region, region, 3);
	else if (memcmp(memo->region, region, 2) != 0)
		return nullptr; /* the region changed: not this memo's phones */
	if (hash_get_num_entries(memo->table) >= CT_PHONE_MEMO_ENTRIES)
	{
		/* Full: start over (memory stays bounded). */
		MemoryContextReset(memo->cxt);
		memo->table = memo_table(memo->cxt);
	}
	memset(&key, 0, sizeof(key));
	key.len = static_cast<uint32>(len);
	memcpy(key.raw, raw, len);
	return static_cast<PhoneMemoEntry *>(hash_search(memo->table, &key, HASH_ENTER, found));
}

int ct_phone_normalize(const char *raw, size_t len, const char *region, char *out)
{
	if (out != nullptr)
		out[0] = '\0';
	if (raw == nullptr)
		return CT_PHONE_MISSING;
	if (region == nullptr)
		region = ct_default_region != nullptr ? ct_default_region : ct_fallback_region;
	if (active_memo == nullptr)
		return normalize_uncached(raw, len, region, out);

	bool found;
	PhoneMemo *memo = active_memo;
	PhoneMemoEntry *entry = memo_entry(memo, raw, len, region, &found);
	memo->lookups++;
	if (entry == nullptr)
		return normalize_uncached(raw, len, region, out);
	if (!found)
	{
		memo->parsed++;
		entry->e164[0] = '\0';
		entry->status = normalize_uncached(raw, len, region, entry->e164);
		if (entry->status == CT_PHONE_INTERNAL)
		{
			/* Not a property of the phone (out of memory): ask again next time. */
			hash_search(memo->table, &entry->key, HASH_REMOVE, nullptr);
			return CT_PHONE_INTERNAL;
		}
	}
	if (out != nullptr)
		strcpy(out, entry->e164);
	return entry->status;
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
 * normalize_phone(p_phone text, p_region text DEFAULT NULL) RETURNS text
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
