#!/usr/bin/env bash
# Driver-level concurrency test: test/drivers/concurrency.py runs 16 asyncpg
# connections for 10 s (60 s with --long) sending multi-row batches (executemany, INSERT ...
# VALUES, INSERT ... SELECT, COPY), webhook batches that pay or refund many orders, deletes,
# edits and checkouts left open for a while, every batch in random customer order, over a small
# pool of customers (3 shops x 20 people, phones typed 4 ways). No client retries.
#
#   database ct_driver: host schema (test/fixtures/host-schema.sql), CREATE EXTENSION
#   customer_tracking; the program adds the shops.
#
# Passes iff no deadlock, serialization failure or other error, no lost or wrong order (a
# client-side ledger of every committed transaction), no client ever waiting for a lock held by
# an open transaction that is idle between statements, customer_tracking_verify() empty, and the
# server log written during the run has no ERROR, FATAL, PANIC or WARNING. Lock waits are reported
# (longest seen), never a failure. Prints "driver: PASS|FAIL ..."; drops the database on success.
#
# Environment: PGHOST PGPORT PGUSER PGBIN CT_CLUSTER_LOG CT_LONG_TESTS (scripts/test.sh);
# CT_DRIVER_CLIENTS (16), CT_DRIVER_SECONDS (10, or 60 with CT_LONG_TESTS=1), CT_DRIVER_SEED,
# CT_PYTHON (default /usr/bin/python3: Debian's, with python3-asyncpg).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source=test/load/lib.sh
source "$ROOT/test/load/lib.sh"

export PGDATABASE=postgres
DB=ct_driver
PY=${CT_PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3

if ! "$PY" -c 'import asyncpg' 2>/dev/null; then
	echo "driver: FAIL (python3-asyncpg is not installed for $PY; run scripts/install-deps.sh)"
	exit 1
fi

if ! { "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" &&
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB" &&
	PGOPTIONS='-c client_min_messages=warning' "${PSQL[@]}" -d "$DB" \
		-f "$ROOT/test/fixtures/host-schema.sql" -c 'CREATE EXTENSION customer_tracking'; }; then
	echo "driver: FAIL (could not create the test database)"
	exit 1
fi

OFFSET=$(log_offset)
"$PY" "$ROOT/test/drivers/concurrency.py" "$DB"
RC=$?

LOG_FAIL=0
log_clean "$OFFSET" '' || LOG_FAIL=1

if [ "$RC" -eq 0 ] && [ "$LOG_FAIL" -eq 0 ]; then
	"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB"
	exit 0
fi
echo "driver: FAIL; database $DB kept for inspection"
exit 1
