/*
 * pg_boundary.hpp: the one place where C++ meets PostgreSQL error handling.
 *
 * Every SQL-callable function of this extension is a thin extern "C" entry
 * point whose body runs inside ct_invoke(): any C++ exception is caught there
 * and turned into ereport(ERROR) only after the C++ frames have unwound.
 *
 * The converse rule is kept by construction: code that calls PostgreSQL
 * functions that may ereport(ERROR) (SPI, palloc, catalog access) holds no
 * objects with destructors in its frame, so a longjmp never skips one.
 */
#ifndef CT_PG_BOUNDARY_HPP
#define CT_PG_BOUNDARY_HPP

#include <exception>
#include <new>

#include "customer_tracking.h"

extern "C" {
#include "utils/elog.h"
}

namespace ct {

/* Copies what() into a fixed buffer so nothing C++-owned outlives the catch. */
inline void copy_message(char *dst, size_t size, const char *src) noexcept
{
	size_t i = 0;
	for (; src != nullptr && src[i] != '\0' && i + 1 < size; i++)
		dst[i] = src[i];
	dst[i] = '\0';
}

template <typename Body>
Datum invoke(const char *where, Body &&body)
{
	char message[256];
	bool out_of_memory = false;
	bool failed = false;
	Datum result = (Datum) 0;

	/* A setting this session made before the library was loaded was not applied: say so first. */
	ct_settings_check();
	try
	{
		result = body();
	}
	catch (const std::bad_alloc &)
	{
		out_of_memory = true;
	}
	catch (const std::exception &e)
	{
		failed = true;
		copy_message(message, sizeof(message), e.what());
	}
	catch (...)
	{
		failed = true;
		copy_message(message, sizeof(message), "unknown C++ exception");
	}

	/* All C++ frames are gone here; raising a PostgreSQL error is safe. */
	if (out_of_memory)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory in %s", where)));
	if (failed)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("internal error in %s: %s", where, message)));
	return result;
}

} // namespace ct

/* Defines a SQL-callable C function whose body runs behind the boundary. */
#define CT_FUNCTION(name)                                                     \
	static Datum name##_impl(FunctionCallInfo fcinfo);                        \
	extern "C" {                                                              \
	PG_FUNCTION_INFO_V1(name);                                                \
	Datum name(PG_FUNCTION_ARGS)                                              \
	{                                                                         \
		return ct::invoke(#name, [fcinfo]() { return name##_impl(fcinfo); }); \
	}                                                                         \
	}                                                                         \
	static Datum name##_impl(FunctionCallInfo fcinfo)

#endif
