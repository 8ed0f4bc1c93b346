#!/usr/bin/env bash
# bench/tiers.sh: loyalty tiers at scale, against plain SQL in the same run, on
# a throwaway cluster:
#
#   1. one shop with --customers customers (default 1,000,000; ~1.3 orders each over 2 years,
#      ~8% refunded), loaded with the triggers off and counted by customer_tracking_backfill();
#   2. shop_tier_summary() with lifetime tiers and with rolling-12-month tiers, against the plain
#      SQL recomputation of the same summary from shop_orders;
#   3. shop_customer_tier() for --lookups random customers, against plain SQL over the customer's
#      orders (index on shop_orders.shop_customer_id);
#   4. shop_customer_list() with the tier: page 1, and page 1 of the top tier only (the page without the tier, customer_tracking_customer_page(), as plain);
#   5. the trigger's cost per order with tiers configured and without (pgbench, one paid order per
#      transaction, alternating rounds): tiers are computed at read, so the write path is the
#      same code either way; this shows it.
#
# Server time = median "Execution Time" of EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) after
# --warm untimed runs. Usage: bash bench/tiers.sh [--customers N | --quick] [--reps N]
# [--lookups N] [--write-seconds N] [--rounds N] [--direct] [--keep] [--build]
# --direct: instead of orders and a backfill, insert the ledger (customer_tracking) and the
# customers (shop_customers) directly, consistent with each other (much faster to load); the
# plain SQL then recomputes from the ledger instead of shop_orders.
# PG_CONFIG selects the PostgreSQL installation (e.g. a private copy from bench/private_pg.sh).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
CUSTOMERS=1000000
REPS=15
WARM=2
LOOKUPS=200
WRITE_SECONDS=15
ROUNDS=3
KEEP=0
BUILD=0
DIRECT=0
while [ $# -gt 0 ]; do
	case "$1" in
	--customers) CUSTOMERS=$2; shift ;;
	--quick) CUSTOMERS=100000 ;;
	--reps) REPS=$2; shift ;;
	--warm) WARM=$2; shift ;;
	--lookups) LOOKUPS=$2; shift ;;
	--write-seconds) WRITE_SECONDS=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--keep) KEEP=1 ;;
	--direct) DIRECT=1 ;;
	--build) BUILD=1 ;;
	-h | --help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
if [ "$BUILD" = 1 ]; then
	make -C "$REPO_DIR" -j2 PG_CONFIG="$PG_CONFIG" >/dev/null
	make -C "$REPO_DIR" install PG_CONFIG="$PG_CONFIG" >/dev/null
fi
# shellcheck source=../scripts/lib/cluster.sh
source "$REPO_DIR/scripts/lib/cluster.sh"
CT_PG_EXTRA_CONF=${CT_PG_EXTRA_CONF:-"shared_buffers = 512MB
jit = off
max_wal_size = 4GB
synchronous_commit = on"}
export CT_PG_EXTRA_CONF
ct_cluster_start >/dev/null
if [ "$KEEP" = 0 ]; then trap ct_cluster_stop EXIT; fi
export PGDATABASE=postgres
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)

SHOP=a1400000-0000-0000-0000-0000000000bb
EMPTY=a1400000-0000-0000-0000-0000000000cc
echo "== load: $CUSTOMERS customers in one shop"
"${PSQL[@]}" -c "CREATE EXTENSION pgcrypto" -f "$REPO_DIR/test/fixtures/host-schema.sql" -c "CREATE EXTENSION customer_tracking"
t0=$(date +%s)
"${PSQL[@]}" -c "INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('$SHOP', 'b1400000-0000-0000-0000-0000000000bb', 'big'), ('$EMPTY', 'b1400000-0000-0000-0000-0000000000cc', 'writes')"
if [ "$DIRECT" = 1 ]; then
	"${PSQL[@]}" <<SQL
CREATE TEMP TABLE l AS
SELECT gen_random_uuid() AS id, '+23324' || lpad(c::text, 7, '0') AS phone,
       customer_tracking_customer_id('$SHOP', '+23324' || lpad(c::text, 7, '0')) AS cid,
       (5 + (i * 7919) % 200)::numeric AS amount, i % 13 <> 0 AS paid,
       now() - ((i * 104729) % (730 * 86400)) * interval '1 second' AS at
  FROM generate_series(1::bigint, ($CUSTOMERS * 13 / 10)::bigint) i,
       LATERAL (SELECT CASE WHEN i <= $CUSTOMERS THEN i ELSE 1 + (i * 7) % $CUSTOMERS END AS c) q;
INSERT INTO customer_tracking (id, shop_order_id, shop_customer_id, shop_id, accessed_at, purchase_completed,
                               completed_at, purchase_amount, network)
SELECT id, id, cid, '$SHOP', at, paid, CASE WHEN paid THEN at END, amount, 'MTN' FROM l;
INSERT INTO shop_customers (id, shop_id, phone_number, first_purchase_at, last_purchase_at, total_purchases,
                            total_spent, total_orders)
SELECT cid, '$SHOP', min(phone), min(at) FILTER (WHERE paid), max(at) FILTER (WHERE paid),
       count(*) FILTER (WHERE paid), coalesce(sum(amount) FILTER (WHERE paid), 0), count(*)
  FROM l GROUP BY cid;
VACUUM ANALYZE;
SQL
	SRC="customer_tracking o"; CID="o.shop_customer_id"; AMT="o.purchase_amount"; PAID="o.purchase_completed"; AT="o.accessed_at"
else
	"${PSQL[@]}" <<SQL
SET session_replication_role = replica;
INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status, network, shop_slug, created_at)
SELECT '$SHOP', '024' || lpad(c::text, 7, '0'), 5 + (i * 7919) % 200,
       CASE WHEN i % 13 = 0 THEN 'refunded' ELSE 'paid' END, 'MTN', 'big',
       now() - ((i * 104729) % (730 * 86400)) * interval '1 second'
  FROM generate_series(1::bigint, ($CUSTOMERS * 13 / 10)::bigint) i,
       LATERAL (SELECT CASE WHEN i <= $CUSTOMERS THEN i ELSE 1 + (i * 7) % $CUSTOMERS END AS c) q;
RESET session_replication_role;
SET client_min_messages = warning;
SELECT count(*) FROM customer_tracking_backfill('$SHOP');
VACUUM ANALYZE;
SQL
	SRC="shop_orders o"; CID="o.shop_customer_id"; AMT="o.total_price"; PAID="o.payment_status = 'paid'"; AT="o.created_at"
fi
echo "loaded in $(($(date +%s) - t0)) s: $("${PSQL[@]}" -Atc "SELECT count(*) FROM shop_customers WHERE shop_id = '$SHOP'") customers, $("${PSQL[@]}" -Atc "SELECT count(*) FROM customer_tracking WHERE shop_id = '$SHOP'") ledger rows"

LIFETIME='[{"name": "Bronze", "min_purchases": 1}, {"name": "Silver", "min_spent": 150}, {"name": "Gold", "min_spent": 300, "min_purchases": 2}]'
ROLLING='[{"name": "Bronze", "min_purchases": 1}, {"name": "Silver", "min_spent": 150, "window": "rolling_12m"}, {"name": "Gold", "min_spent": 300, "min_purchases": 2, "window": "rolling_12m"}]'

# Plain SQL: the same summary recomputed from shop_orders (paid = 'paid' here), per customer then
# per tier, thresholds written in.
plain_summary() { # $1: lifetime | rolling
	local w="$AT <= now()"
	[ "$1" = rolling ] && w="$AT <= now() AND $AT > now() - interval '12 months'"
	cat <<SQL
SELECT t.rank, count(*), sum(t.spent)
  FROM (SELECT s.cid, s.spent, CASE WHEN w.spent >= 300 AND w.n >= 2 THEN 3 WHEN w.spent >= 150 THEN 2
                                    WHEN s.n >= 1 THEN 1 ELSE 0 END AS rank
          FROM (SELECT $CID AS cid, sum($AMT) AS spent, count(*) AS n
                  FROM $SRC WHERE o.shop_id = '$SHOP' AND $PAID AND $AT <= now()
                 GROUP BY 1) s
          LEFT JOIN (SELECT $CID AS cid, sum($AMT) AS spent, count(*) AS n
                       FROM $SRC WHERE o.shop_id = '$SHOP' AND $PAID AND $w
                      GROUP BY 1) w ON w.cid = s.cid) t
 GROUP BY 1
SQL
}

# Median server execution time (ms) of a statement, or of one statement per line of a file.
median_ms() { # $1: file with one statement per line; each run REPS times after WARM
	local f=$1
	{
		echo "SET jit = off;"
		while IFS= read -r q; do
			for _ in $(seq 1 "$WARM"); do echo "$q;"; done
			for _ in $(seq 1 "$REPS"); do echo "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) $q;"; done
		done <"$f"
	} | "$PGBIN/psql" -X -At 2>&1 | sed -n 's/^Execution Time: \([0-9.]*\) ms$/\1/p' | sort -n |
		awk '{a[NR]=$1} END {if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'
}
one() { local f; f=$(mktemp); printf '%s\n' "$1" >"$f"; median_ms "$f"; rm -f "$f"; }

results=()
row() { results+=("| $1 | $2 | $3 |"); printf '%-62s %10s ms   plain SQL: %s ms\n' "$1" "$2" "$3"; }

echo "== summary"
"${PSQL[@]}" -c "SELECT count(*) FROM customer_tracking_set_tiers('$SHOP', '$LIFETIME')" >/dev/null
echo "lifetime tiers: $("${PSQL[@]}" -Atc "SELECT string_agg(format('%s %s', tier, customers), ', ' ORDER BY rank) FROM shop_tier_summary('$SHOP')")"
check_l=$("${PSQL[@]}" -Atc "SELECT string_agg(format('%s:%s:%s', rank, customers, revenue), ' ' ORDER BY rank) FROM shop_tier_summary('$SHOP') WHERE customers > 0")
plain_l=$("${PSQL[@]}" -Atc "SELECT string_agg(format('%s:%s:%s', rank, count, sum), ' ' ORDER BY rank) FROM ($(plain_summary lifetime)) x")
[ "$check_l" = "$plain_l" ] && echo "  equal to the plain SQL" || echo "  DIFFERS from the plain SQL: $check_l / $plain_l"
REPS_SAVED=$REPS
row "shop_tier_summary, lifetime tiers" "$(one "SELECT * FROM shop_tier_summary('$SHOP')")" \
	"$(REPS=3 one "$(plain_summary lifetime | tr '\n' ' ')")"
"${PSQL[@]}" -c "SELECT count(*) FROM customer_tracking_set_tiers('$SHOP', '$ROLLING')" >/dev/null
echo "rolling tiers: $("${PSQL[@]}" -Atc "SELECT string_agg(format('%s %s', tier, customers), ', ' ORDER BY rank) FROM shop_tier_summary('$SHOP')")"
check_r=$("${PSQL[@]}" -Atc "SELECT string_agg(format('%s:%s:%s', rank, customers, revenue), ' ' ORDER BY rank) FROM shop_tier_summary('$SHOP') WHERE customers > 0")
plain_r=$("${PSQL[@]}" -Atc "SELECT string_agg(format('%s:%s:%s', rank, count, sum), ' ' ORDER BY rank) FROM ($(plain_summary rolling)) x")
[ "$check_r" = "$plain_r" ] && echo "  equal to the plain SQL" || echo "  DIFFERS from the plain SQL: $check_r / $plain_r"
row "shop_tier_summary, rolling_12m tiers" "$(one "SELECT * FROM shop_tier_summary('$SHOP')")" \
	"$(REPS=3 one "$(plain_summary rolling | tr '\n' ' ')")"
row "shop_tier_preview, lifetime tiers (rolling stored)" "$(one "SELECT * FROM shop_tier_preview('$SHOP', '$LIFETIME')")" "-"

echo "== per customer ($LOOKUPS random customers, each timed $REPS times)"
f=$(mktemp)
g=$(mktemp)
"${PSQL[@]}" -Atc "SELECT id FROM shop_customers WHERE shop_id = '$SHOP' ORDER BY md5(id::text) LIMIT $LOOKUPS" >"$f.ids"
while read -r id; do
	echo "SELECT * FROM shop_customer_tier('$SHOP', '$id')" >>"$f"
	echo "SELECT CASE WHEN w.spent >= 300 AND w.n >= 2 THEN 3 WHEN w.spent >= 150 THEN 2 WHEN s.n >= 1 THEN 1 ELSE 0 END FROM (SELECT sum($AMT) AS spent, count(*) AS n FROM $SRC WHERE $CID = '$id' AND o.shop_id = '$SHOP' AND $PAID AND $AT <= now()) s, (SELECT sum($AMT) AS spent, count(*) AS n FROM $SRC WHERE $CID = '$id' AND o.shop_id = '$SHOP' AND $PAID AND $AT <= now() AND $AT > now() - interval '12 months') w" >>"$g"
done <"$f.ids"
row "shop_customer_tier, rolling_12m tiers (median of $LOOKUPS customers)" "$(REPS=3 median_ms "$f")" "$(REPS=3 median_ms "$g")"
rm -f "$f" "$g" "$f.ids"

echo "== customer list"
row "shop_customer_list with tiers, page 1 (50 rows)" \
	"$(one "SELECT * FROM shop_customer_list('$SHOP')")" \
	"$(one "SELECT * FROM customer_tracking_customer_page('$SHOP', NULL, false, 'last_purchase', 50, NULL, NULL, NULL)")"
row "shop_customer_list, p_tier Gold, page 1 (50 rows)" \
	"$(one "SELECT * FROM shop_customer_list('$SHOP', p_tier => 'Gold')")" "-"
REPS=$REPS_SAVED

echo "== writes: one paid order per transaction, tiers configured vs none ($ROUNDS rounds of ${WRITE_SECONDS}s)"
cat >"$CT_CLUSTER_DIR/order.pgbench" <<'PGB'
\set c random(1, 200000)
INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status, network, shop_slug, created_at)
VALUES ('a1400000-0000-0000-0000-0000000000cc', '055' || lpad(:c::text, 7, '0'), 20, 'paid', 'MTN', 'writes', now());
PGB
chmod a+r "$CT_CLUSTER_DIR/order.pgbench"
declare -a with_t without_t
for r in $(seq 1 "$ROUNDS"); do
	for mode in with without; do
		if [ "$mode" = with ]; then
			"${PSQL[@]}" -c "SELECT count(*) FROM customer_tracking_set_tiers('$EMPTY', '$ROLLING')" >/dev/null
		else
			"${PSQL[@]}" -c "SELECT count(*) FROM customer_tracking_set_tiers('$EMPTY', '[]')" >/dev/null
		fi
		lat=$("$PGBIN/pgbench" -n -M prepared -c 1 -T "$WRITE_SECONDS" -f "$CT_CLUSTER_DIR/order.pgbench" 2>&1 |
			sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p')
		echo "  round $r, tiers $mode: $lat ms per order"
		if [ "$mode" = with ]; then with_t+=("$lat"); else without_t+=("$lat"); fi
	done
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mw=$(med "${with_t[@]}")
mo=$(med "${without_t[@]}")
ratio=$(awk -v a="$mw" -v b="$mo" 'BEGIN {printf "%.3f", a / b}')
echo "per order: $mw ms with tiers, $mo ms without (median of rounds): ratio $ratio"
echo "verify rows: $("${PSQL[@]}" -Atc "SELECT count(*) FROM customer_tracking_verify('$EMPTY')")"

echo
echo "| call ($CUSTOMERS customers) | extension, ms | plain SQL, ms |"
echo "| --- | ---: | ---: |"
printf '%s\n' "${results[@]}"
echo "| one paid order per transaction, tiers / no tiers | $mw / $mo | ratio $ratio |"
