#!/usr/bin/env bash
# bench/codes.sh: what loyalty codes cost, in one throwaway cluster.
#
#   checks/s   shop_check_code() calls per second from CLIENTS pgbench clients, half of them for
#              a customer's real code, half guesses (not_found), over POOL customers
#   uses/s     paid orders carrying a valid code per second from CLIENTS clients (each takes a
#              use at commit; codes of POOL customers with 1,000,000 uses each), and refunds of
#              such orders (each gives its use back)
#   per order  server side, without client round trips: a procedure inserting ORDERS paid orders
#              of random customers, one transaction each (COMMIT after every INSERT, so each
#              runs the commit-time apply), timed with clock_timestamp(); ROUNDS interleaved
#              runs of each variant, medians, in microseconds per order:
#                off       shop_orders without a discount_code column (the feature unused)
#                no code   the column present, orders without a code
#                code      the column present, every order carrying its customer's valid code
#              all three look up the customer's code first (the same statement), so the
#              differences are the feature's cost. Also server side: shop_check_code() calls
#              per second in one backend.
#
# Usage: PG_CONFIG=... bash bench/codes.sh [--seconds N] [--rounds N] [--clients N] [--pool N]
# Prints a Markdown table; bench/README.md keeps the latest figures.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
SECONDS_RUN=10
ROUNDS=5
ORDERS=2000
CLIENTS=2
POOL=2000
while [ $# -gt 0 ]; do
	case $1 in
		--seconds) SECONDS_RUN=$2; shift 2 ;;
		--rounds) ROUNDS=$2; shift 2 ;;
		--clients) CLIENTS=$2; shift 2 ;;
		--pool) POOL=$2; shift 2 ;;
		--orders) ORDERS=$2; shift 2 ;;
		*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done

export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
# shellcheck source=scripts/lib/cluster.sh
source "$REPO_DIR/scripts/lib/cluster.sh"
CT_PG_EXTRA_CONF="fsync = off
synchronous_commit = off
shared_buffers = 256MB" ct_cluster_start >/dev/null
trap ct_cluster_stop EXIT
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
WORK=$(mktemp -d "${CT_TMP_BASE:-/tmp}/ct-bench-codes.XXXXXX")

make_db() { # make_db NAME WITH_COLUMN
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE $1"
	PGOPTIONS='-c client_min_messages=warning' "${PSQL[@]}" -d "$1" -f "$REPO_DIR/test/fixtures/host-schema.sql"
	if [ "$2" = 1 ]; then
		"${PSQL[@]}" -d "$1" -c "ALTER TABLE shop_orders ADD COLUMN discount_code text"
	fi
	"${PSQL[@]}" -d "$1" -c "CREATE EXTENSION customer_tracking" \
		-c "INSERT INTO user_shops (id, user_id, shop_slug) VALUES ('b0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000001', 'bench-shop')" \
		-c "INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status)
		    SELECT 'b0000000-0000-0000-0000-000000000001', '024' || lpad(c::text, 7, '0'), 10, 'paid' FROM generate_series(1, $POOL) c"
	if [ "$2" = 1 ]; then
		# One code per customer, kept in a table the scripts read: code of customer c.
		"${PSQL[@]}" -d "$1" -c "CREATE TABLE bench_codes (c int PRIMARY KEY, code text NOT NULL)" \
			-c "INSERT INTO bench_codes SELECT c, customer_tracking_issue_code('b0000000-0000-0000-0000-000000000001',
			        customer_tracking_customer_id('b0000000-0000-0000-0000-000000000001', normalize_phone('024' || lpad(c::text, 7, '0'))),
			        'percent', 5, NULL, 1000000) FROM generate_series(1, $POOL) c"
		column=", discount_code"
		value=", CASE WHEN coded THEN v_code END"
	else
		"${PSQL[@]}" -d "$1" -c "CREATE TABLE bench_codes (c int PRIMARY KEY, code text NOT NULL)" \
			-c "INSERT INTO bench_codes SELECT c, md5(c::text) FROM generate_series(1, $POOL) c"
		column=""
		value=""
	fi
	# n paid orders of random customers, one transaction each; NOTICE: microseconds per order.
	"${PSQL[@]}" -d "$1" -c "CREATE PROCEDURE bench_orders(n int, coded boolean) LANGUAGE plpgsql AS \$\$
		DECLARE v_c int; v_code text; t0 timestamptz := clock_timestamp(); c0 bigint; c1 bigint;
		BEGIN
		    -- this backend's CPU time (utime + stime, clock ticks): steadier than wall time on a busy machine
		    SELECT a[14]::bigint + a[15]::bigint INTO c0 FROM string_to_array(pg_read_file('/proc/self/stat'), ' ') a;
		    FOR i IN 1..n LOOP
		        v_c := 1 + (random() * ($POOL - 1))::int;
		        SELECT b.code INTO v_code FROM bench_codes b WHERE b.c = v_c;
		        INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status$column)
		        VALUES ('b0000000-0000-0000-0000-000000000001', '024' || lpad(v_c::text, 7, '0'), 12, 'paid'$value);
		        COMMIT;
		    END LOOP;
		    SELECT a[14]::bigint + a[15]::bigint INTO c1 FROM string_to_array(pg_read_file('/proc/self/stat'), ' ') a;
		    RAISE NOTICE 'us_per_order=% cpu_us_per_order=%', round(extract(epoch FROM clock_timestamp() - t0) * 1e6 / n, 1),
		                 round((c1 - c0) * 1e6 / $(getconf CLK_TCK) / n, 1);
		END \$\$" -c "VACUUM ANALYZE"
}
make_db bench_off 0
make_db bench_on 1
"${PSQL[@]}" -d bench_on -c "CREATE PROCEDURE bench_checks(n int) LANGUAGE plpgsql AS \$\$
	DECLARE v_code text; v_ok int := 0; t0 timestamptz := clock_timestamp();
	BEGIN
	    FOR i IN 1..n LOOP
	        SELECT b.code INTO v_code FROM bench_codes b WHERE b.c = 1 + i % $POOL;
	        v_ok := v_ok + (SELECT count(*) FROM shop_check_code('bench-shop', '024' || lpad((1 + i % $POOL)::text, 7, '0'),
	                                                             CASE WHEN i % 2 = 0 THEN v_code ELSE 'GUESS' || i END) r
	                         WHERE r.valid)::int;
	    END LOOP;
	    IF v_ok <> n / 2 THEN RAISE EXCEPTION 'bench_checks: % valid answers of %', v_ok, n; END IF;
	    RAISE NOTICE 'checks_per_s=%', round(n / extract(epoch FROM clock_timestamp() - t0));
	END \$\$"

cat > "$WORK/check.pgbench" <<EOF2
\set c random(1, $POOL)
SELECT code AS code FROM bench_codes WHERE c = :c \gset
SELECT * FROM shop_check_code('bench-shop', '024' || lpad((:c)::text, 7, '0'), CASE WHEN (:c)::int % 2 = 0 THEN (:code)::text ELSE 'GUESS' || (:c)::text END);
EOF2
cat > "$WORK/use.pgbench" <<EOF2
\set c random(1, $POOL)
SELECT code AS code FROM bench_codes WHERE c = :c \gset
INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status, discount_code) VALUES ('b0000000-0000-0000-0000-000000000001', '024' || lpad((:c)::text, 7, '0'), 12, 'paid', (:code)::text);
EOF2
cat > "$WORK/refund.pgbench" <<EOF2
UPDATE shop_orders SET payment_status = 'refunded' WHERE id = (SELECT u.order_id FROM customer_tracking_code_uses u WHERE u.shop_id = 'b0000000-0000-0000-0000-000000000001' ORDER BY u.order_id LIMIT 1 OFFSET (random() * 1000)::int FOR UPDATE SKIP LOCKED);
EOF2
tps() { # tps DB SCRIPT CLIENTS SECONDS -> transactions per second
	"$PGBIN/pgbench" -n -M prepared -c "$3" -j "$3" -T "$4" -f "$2" "$1" 2>>"$WORK/pgbench.err" |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

per_order() { # per_order DB CODED -> "wall cpu" microseconds per order (after a warm-up call in the session)
	"${PSQL[@]}" -d "$1" -c "CALL bench_orders(50, $2)" -c "CALL bench_orders($ORDERS, $2)" 2>&1 |
		sed -n 's/.* us_per_order=\([0-9.]*\) cpu_us_per_order=\([0-9.]*\).*/\1 \2/p' | tail -1
}
checks_per_s() { # one backend, server side (after a warm-up call)
	"${PSQL[@]}" -d bench_on -c "CALL bench_checks(100)" -c "CALL bench_checks(5000)" 2>&1 |
		sed -n 's/.*checks_per_s=\([0-9.]*\).*/\1/p' | tail -1
}
declare -A R
for r in $(seq 1 "$ROUNDS"); do
	for v in off nocode code; do
		case $v in off) out=$(per_order bench_off false) ;; nocode) out=$(per_order bench_on false) ;; code) out=$(per_order bench_on true) ;; esac
		R[$v]+="${out% *} "
		R[cpu_$v]+="${out#* } "
	done
	R[check1]+="$(checks_per_s) "
done
for r in $(seq 1 "$ROUNDS"); do
	R[check]+="$(tps bench_on "$WORK/check.pgbench" "$CLIENTS" "$SECONDS_RUN") "
	R[use]+="$(tps bench_on "$WORK/use.pgbench" "$CLIENTS" "$SECONDS_RUN") "
	R[refund]+="$(tps bench_on "$WORK/refund.pgbench" "$CLIENTS" "$SECONDS_RUN") "
done
m() { tr ' ' '\n' <<<"${R[$1]}" | grep -v '^$' | median; }
problems=$("${PSQL[@]}" -d bench_on -At -c "SELECT (SELECT count(*) FROM customer_tracking_verify_loyalty()) + (SELECT count(*) FROM customer_tracking_verify())")
off=$(m off); nocode=$(m nocode); code=$(m code)
coff=$(m cpu_off); cnocode=$(m cpu_nocode); ccode=$(m cpu_code)
echo "| measure ($ROUNDS interleaved rounds, medians; pool $POOL customers, one code each) | value |"
echo "| --- | ---: |"
d() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.1f", a - b}'; }
echo "| per order, feature unused (no discount_code column): backend CPU µs / wall µs | $coff / $off |"
echo "| per order, column present, no code: backend CPU µs / wall µs (added CPU: $(d "$cnocode" "$coff")) | $cnocode / $nocode |"
echo "| per order, a valid code, one use taken at commit: backend CPU µs / wall µs (added CPU: $(d "$ccode" "$coff")) | $ccode / $code |"
echo "| shop_check_code() calls/s, one backend, server side | $(m check1) |"
echo "| shop_check_code() calls/s, $CLIENTS pgbench clients (with a lookup of the code each) | $(m check) |"
echo "| paid orders using a code /s, $CLIENTS pgbench clients (one use taken each at commit) | $(m use) |"
echo "| refunds of such orders /s, $CLIENTS pgbench clients (one use given back each) | $(m refund) |"
echo "| verify problems after the run | $problems |"
if grep -q "error\|ERROR" "$WORK/pgbench.err" 2>/dev/null; then
	echo "pgbench errors:" >&2
	grep -m5 "error\|ERROR" "$WORK/pgbench.err" >&2
fi
rm -rf "$WORK"
