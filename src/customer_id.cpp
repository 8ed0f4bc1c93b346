/*
 * customer_id.cpp: customer identity as a name-based UUID.
 *
 * shop_customers.id = UUID v5 (RFC 4122, SHA-1) with the shop id as namespace
 * and the E.164 phone as name. Deterministic ids let the BEFORE trigger link
 * an order without reading or writing shop_customers, so an INSERT that ends
 * in ON CONFLICT DO NOTHING leaves no trace behind.
 */
#include "customer_id.h"
#include "pg_boundary.hpp"

extern "C" {
#include "common/cryptohash.h"
#include "common/sha1.h"
#include "utils/builtins.h"
#include "utils/uuid.h"
}

void ct_customer_id(const pg_uuid_t *shop_id, const char *e164, size_t len, pg_uuid_t *out)
{
	uint8 digest[SHA1_DIGEST_LENGTH];
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA1);

	if (ctx == nullptr || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, shop_id->data, UUID_LEN) < 0 ||
		pg_cryptohash_update(ctx, reinterpret_cast<const uint8 *>(e164), len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
	{
		pg_cryptohash_free(ctx);
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("customer_tracking: could not compute SHA-1 for a customer id")));
	}
	pg_cryptohash_free(ctx);

	memcpy(out->data, digest, UUID_LEN);
	out->data[6] = static_cast<unsigned char>((out->data[6] & 0x0f) | 0x50); /* version 5 */
	out->data[8] = static_cast<unsigned char>((out->data[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

CT_FUNCTION(ct_customer_id_sql)
{
	pg_uuid_t *shop_id = PG_GETARG_UUID_P(0);
	text *phone = PG_GETARG_TEXT_PP(1);
	pg_uuid_t *result = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));

	ct_customer_id(shop_id, VARDATA_ANY(phone), VARSIZE_ANY_EXHDR(phone), result);
	PG_RETURN_UUID_P(result);
}
