#!/usr/bin/env bash
# Loyalty codes and referrals from 8 concurrent asyncpg connections:
# test/drivers/codes_race.py (the last use of a code taken at once, a referral daily limit
# reached at once, a mixed pay/refund/delete/re-code workload), then both verify functions.
#
#   database ct_codes_driver: host schema (test/fixtures/host-schema.sql) with the optional
#   discount_code and referral_code columns, CREATE EXTENSION customer_tracking.
#
# Passes iff the program passes and the server log written during the run has no ERROR, FATAL,
# PANIC or unexpected WARNING (the discount_code_not_used warnings of refused codes are expected).
#
# Environment: PGHOST PGPORT PGUSER PGBIN CT_CLUSTER_LOG (scripts/test.sh); CT_CODES_CLIENTS,
# CT_CODES_ROUNDS, CT_CODES_SECONDS, CT_CODES_SEED (see the program); CT_PYTHON.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source=test/load/lib.sh
source "$ROOT/test/load/lib.sh"

export PGDATABASE=postgres
DB=ct_codes_driver
PY=${CT_PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3

if ! "$PY" -c 'import asyncpg' 2>/dev/null; then
	echo "codes: FAIL (python3-asyncpg is not installed for $PY; run scripts/install-deps.sh)"
	exit 1
fi
if ! { "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" &&
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB" &&
	PGOPTIONS='-c client_min_messages=warning' "${PSQL[@]}" -d "$DB" \
		-f "$ROOT/test/fixtures/host-schema.sql" \
		-c 'ALTER TABLE shop_orders ADD COLUMN discount_code text, ADD COLUMN referral_code text' \
		-c 'CREATE EXTENSION customer_tracking'; }; then
	echo "codes: FAIL (could not create the test database)"
	exit 1
fi

OFFSET=$(log_offset)
"$PY" "$ROOT/test/drivers/codes_race.py" "$DB"
RC=$?

LOG_FAIL=0
log_clean "$OFFSET" 'tracked with a caveat: discount_code_not_used' || LOG_FAIL=1

if [ "$RC" -eq 0 ] && [ "$LOG_FAIL" -eq 0 ]; then
	"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB"
	exit 0
fi
echo "codes: FAIL; database $DB kept for inspection"
exit 1
