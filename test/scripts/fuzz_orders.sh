#!/usr/bin/env bash
# Differential fuzz test: test/drivers/fuzz_orders.py runs random sequences of
# order operations on one connection (inserts, multi-row inserts, upserts, MERGE, payments,
# refunds, deletes, edits of phone / amount / shop / slug / time / network, multi-statement
# transactions, savepoints with ROLLBACK TO, rollbacks, PREPARE TRANSACTION, setting changes, bad
# input) and after every step compares shop_customers, the orders' links and
# shop_customer_metrics() with a recomputation from shop_orders written in the test;
# customer_tracking_verify() must be empty every 10 steps and at the end.
#
#   database ct_fuzz: host schema (test/fixtures/host-schema.sql), CREATE EXTENSION
#   customer_tracking; the program adds 3 shops.
#
# 2000 steps by default, 20000 with CT_LONG_TESTS=1 (CT_FUZZ_STEPS overrides). The seed is
# CT_FUZZ_SEED or random; it is printed at the start and on failure, with the failing step, its
# SQL, the history of the orders involved, a replay file (build/fuzz-replay-SEED.sql, or in
# CT_FUZZ_OUT) and the command that reproduces the run. Prints "fuzz: PASS|FAIL ..."; drops the
# database on success.
#
# Environment: PGHOST PGPORT PGUSER PGBIN CT_LONG_TESTS (scripts/test.sh); CT_FUZZ_SEED,
# CT_FUZZ_STEPS, CT_FUZZ_VERIFY_EVERY, CT_FUZZ_OUT, CT_PYTHON (default /usr/bin/python3: Debian's,
# with python3-psycopg).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 --no-psqlrc)
export PGDATABASE=postgres
DB=ct_fuzz
PY=${CT_PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3

if ! "$PY" -c 'import psycopg' 2>/dev/null; then
	echo "fuzz: FAIL (python3-psycopg is not installed for $PY; run scripts/install-deps.sh)"
	exit 1
fi

if ! { "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" &&
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB" &&
	PGOPTIONS='-c client_min_messages=warning' "${PSQL[@]}" -d "$DB" \
		-f "$ROOT/test/fixtures/host-schema.sql" -c 'CREATE EXTENSION customer_tracking'; }; then
	echo "fuzz: FAIL (could not create the test database)"
	exit 1
fi

if "$PY" "$ROOT/test/drivers/fuzz_orders.py" "$DB"; then
	"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB"
	exit 0
fi
# A prepared transaction left by a failed step would keep the database busy.
"${PSQL[@]}" -d "$DB" -c "ROLLBACK PREPARED 'ct_fuzz'" >/dev/null 2>&1
echo "database $DB kept for inspection"
exit 1
