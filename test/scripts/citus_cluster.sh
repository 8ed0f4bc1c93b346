#!/usr/bin/env bash
# customer_tracking on a Citus cluster: a coordinator and two workers on loopback
# ports (scripts/lib/citus_cluster.sh), the host schema, CREATE EXTENSION, the growth path from a
# populated single-node install, customer_tracking_distribute(); then, distributed: the dashboard
# and maintenance functions through the coordinator, the order lifecycle written through the
# coordinator and through a worker (compared with one node), concurrent writers through every
# node, a shard move while orders arrive, row-level security through the coordinator, and the
# install on host tables that are distributed already.
#
# Skipped (exit 0, with the reason) when Citus is not installed: scripts/test.sh runs
# scripts/install-citus.sh first and exports CT_CITUS_SKIP=<reason> when it could not.
#
# Each check prints one line: "ok", "FAIL", "XFAIL" (known not to work yet; the reason is
# printed; not a failure), "XPASS" (expected to fail but works now: turn it into a check; not a
# failure either) or "SKIP". Exit status 1 when a check fails, or when any node logged a crash.
# CT_CITUS_LOAD_SECONDS (default 8): how long the concurrent writers run, twice.
set -uo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
: "${PG_CONFIG:=/usr/lib/postgresql/15/bin/pg_config}"

if [ -n "${CT_CITUS_SKIP:-}" ]; then
	echo "SKIP citus_cluster: $CT_CITUS_SKIP"
	exit 0
fi
if ! PG_CONFIG=$PG_CONFIG bash scripts/install-citus.sh --check; then
	echo "SKIP citus_cluster: Citus is not installed for $("$PG_CONFIG" --version) (bash scripts/install-citus.sh)"
	exit 0
fi

# shellcheck source=scripts/lib/citus_cluster.sh
source scripts/lib/citus_cluster.sh
# customer_tracking preloaded (as the README asks of a Citus cluster): the node a distributed
# transaction starts on applies its orders on the workers before they prepare. Logical decoding
# for shard moves that keep accepting writes (citus_move_shard_placement).
export CT_CITUS_EXTRA_CONF="shared_preload_libraries = 'citus,customer_tracking'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
citus.shard_count = ${CT_CITUS_SHARD_COUNT:-$([ "${CT_LONG_TESTS:-0}" = 1 ] && echo 32 || echo 8)}"
SCRATCH=$(mktemp -d "${CT_TMP_BASE:-/tmp}/ct-citus-test.XXXXXX") || exit 2
chmod 755 "$SCRATCH"
# An update path to a probe version (written into the installation, removed again).
PROBE_FILES=("$("$PG_CONFIG" --sharedir)/extension/customer_tracking--1.4--1.4-probe.sql"
	"$("$PG_CONFIG" --sharedir)/extension/customer_tracking--1.4-probe--1.4.sql")
trap 'ct_citus_stop; rm -rf "$SCRATCH"; rm -f "${PROBE_FILES[@]}"' EXIT
ct_citus_start || exit 1
LOAD_SECONDS=${CT_CITUS_LOAD_SECONDS:-8}

PASSED=0
FAILED=0
XFAILED=0
XPASSED=0
SKIPPED=0
ok() { PASSED=$((PASSED + 1)); printf 'ok     %s\n' "$1"; }
# PENDING: a reason when the checks that follow are known not to pass yet (each is then counted
# as an expected failure with that reason, and shown in full).
PENDING=""
fail()
{
	if [ -n "$PENDING" ]; then
		xfail "$1" "$PENDING"
		[ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/       | /'
		return
	fi
	FAILED=$((FAILED + 1))
	printf 'FAIL   %s\n' "$1"
	[ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/       | /'
}
xfail() { XFAILED=$((XFAILED + 1)); printf 'XFAIL  %s\n       (%s)\n' "$1" "$2"; }
xpass() { XPASSED=$((XPASSED + 1)); printf 'XPASS  %s: expected to fail (%s) but works now; make it a check\n' "$1" "$2"; }
skip() { SKIPPED=$((SKIPPED + 1)); printf 'SKIP   %s\n       (%s)\n' "$1" "$2"; }

# One value (or rows, '|'-separated) from NODE.
sql() { local node=$1; shift; ct_citus_psql "$node" -At -c "SET client_min_messages = warning" -c "$*" 2>&1; }
# check NAME EXPECTED NODE SQL
check()
{
	local name=$1 expected=$2 node=$3 got
	shift 3
	got=$(sql "$node" "$*")
	if [ "$got" = "$expected" ]; then ok "$name"; else fail "$name" "expected: $expected
got:      $got"; fi
}
# checkn NAME EXPECTED NODE SQL...: each SQL its own transaction (psql -c each)
checkn()
{
	local name=$1 expected=$2 node=$3 got stmt args=()
	shift 3
	for stmt in "$@"; do args+=(-c "$stmt"); done
	got=$(ct_citus_psql "$node" -At -c "SET client_min_messages = warning" "${args[@]}" 2>&1)
	if [ "$got" = "$expected" ]; then ok "$name"; else fail "$name" "expected: $expected
got:      $got"; fi
}
# xcheck NAME REASON EXPECTED NODE SQL: expected to fail until the cluster support covers it.
xcheck()
{
	local name=$1 reason=$2 expected=$3 node=$4 got
	shift 4
	got=$(sql "$node" "$*")
	if [ "$got" = "$expected" ]; then xpass "$name" "$reason"; else xfail "$name" "$reason; got: $(head -n 1 <<<"$got")"; fi
}

SHOP1=00000000-0000-0000-0000-000000000001
TABLES_SQL="SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind = 'r'
   AND c.relname IN (SELECT table_name FROM customer_tracking_distributed_tables())"
COUNTS_SQL="SELECT (SELECT count(*) FROM shop_orders) || ' orders, ' || (SELECT count(*) FROM shop_customers)
 || ' customers, ' || (SELECT count(*) FROM customer_tracking) || ' ledger rows, '
 || (SELECT sum(revenue) FROM customer_tracking_shop_totals) || ' revenue, '
 || (SELECT count(*) FROM customer_tracking_issues) || ' issues'"

echo "== CREATE EXTENSION on the coordinator (Citus runs it on the workers too)"
if ct_citus_psql coord -f test/fixtures/host-schema.sql >/dev/null 2>&1 &&
	out=$(sql coord "CREATE EXTENSION customer_tracking"); then
	ok "CREATE EXTENSION customer_tracking on the coordinator"
else
	fail "CREATE EXTENSION customer_tracking on the coordinator" "$out"
	exit 1
fi
for w in w1 w2; do
	check "$w: the extension (1.4) with its 18 tables, no host tables, nothing attached" "1.4|18|0|0" "$w" \
		"SELECT (SELECT extversion FROM pg_extension WHERE extname = 'customer_tracking'), ($TABLES_SQL),
		        (SELECT count(*) FROM pg_class WHERE relname IN ('shop_orders', 'user_shops')),
		        (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'customer_tracking%')"
done
check "coordinator: attached (3 triggers on shop_orders)" "3" coord \
	"SELECT count(*) FROM pg_trigger WHERE tgrelid = 'shop_orders'::regclass AND tgname LIKE 'customer_tracking%'"

echo "== a single-node install with data (the growth path: still local on the coordinator)"
if out=$(ct_citus_psql coord -c "SET client_min_messages = error" -c "
	INSERT INTO user_shops (id, user_id)
	SELECT ('00000000-0000-0000-0000-00000000000' || i)::uuid, gen_random_uuid() FROM generate_series(1, 4) i;
	INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status, network, shop_slug, created_at)
	SELECT ('00000000-0000-0000-0000-00000000000' || (1 + i % 4))::uuid,
	       '024' || lpad((1000000 + i % 37)::text, 7, '0'), 10 + i % 5,
	       CASE WHEN i % 3 = 0 THEN 'pending' ELSE 'paid' END,
	       CASE WHEN i % 2 = 0 THEN 'MTN' ELSE 'Telecel' END, CASE WHEN i % 4 = 0 THEN 'promo' END,
	       now() - i * interval '7 hours'
	  FROM generate_series(1, 200) i;
	UPDATE shop_orders SET payment_status = 'paid' WHERE payment_status = 'pending' AND total_price = 12;
	INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status)
	VALUES ('$SHOP1', 'not a phone', 5, 'paid');" 2>&1); then
	ok "orders placed on the single node"
else
	fail "orders placed on the single node" "$out"
fi
check "verify() is empty on the single node" "0" coord "SELECT count(*) FROM customer_tracking_verify()"
BEFORE=$(sql coord "$COUNTS_SQL")
echo "       ($BEFORE)"
# What the dashboard shows for one shop before distribution, to compare with afterwards.
CUSTOMER1=$(sql coord "SELECT id FROM shop_customers WHERE shop_id = '$SHOP1' ORDER BY id LIMIT 1")
TIERS='[{"name": "Bronze", "min_purchases": 1}, {"name": "Silver", "min_spent": 40, "window": "rolling_12m"}, {"name": "Gold", "min_spent": 80, "min_purchases": 6, "window": "calendar_year"}]'
check "loyalty tiers set on the single node" "3" coord "SELECT count(*) FROM customer_tracking_set_tiers('$SHOP1', '$TIERS')"
DASHBOARD_CALLS=(
	"SELECT * FROM shop_loyalty_tiers('$SHOP1')"
	"SELECT * FROM shop_tier_summary('$SHOP1')"
	"SELECT * FROM shop_customer_tier('$SHOP1', '$CUSTOMER1')"
	"SELECT * FROM shop_tier_changes('$SHOP1', now() - interval '100 days', now())"
	"SELECT id, tier, tier_rank FROM shop_customer_tier_list('$SHOP1', p_sort => 'total_spent', p_limit => 10)"
	"SELECT * FROM shop_customer_list('$SHOP1', p_limit => 5)"
	"SELECT * FROM shop_network_analytics('$SHOP1')"
	"SELECT * FROM shop_purchase_frequency('$SHOP1')"
	"SELECT * FROM shop_slug_analytics('$SHOP1')"
	"SELECT * FROM shop_last_purchase_decay('$SHOP1', '2030-01-01')"
	"SELECT * FROM shop_daily_series('$SHOP1', current_date - 3, current_date)"
	"SELECT customer_tracking_new_customers('$SHOP1', now() - interval '10 days', now())"
	"SELECT * FROM shop_customer_metrics('$SHOP1')"
	"SELECT * FROM customer_purchase_history('$CUSTOMER1')"
)
DASHBOARD_BEFORE=()
for call in "${DASHBOARD_CALLS[@]}"; do
	DASHBOARD_BEFORE+=("$(sql coord "$call")")
done

PENDING=""
echo "== customer_tracking_distribute(): what must change first"
check "distribution_problems(): only the host's primary key (1.4's keys include shop_id, its policies have no subquery)" \
	"shop_orders|1" coord \
	"SELECT p.table_name, count(*) FROM customer_tracking_distribution_problems() WITH ORDINALITY p
	  GROUP BY 1 ORDER BY min(p.ordinality)"
HOST_FIX=$(sql coord "SELECT fix FROM customer_tracking_distribution_problems() WHERE table_name = 'shop_orders'::regclass")
if [ "$HOST_FIX" = "ALTER TABLE shop_orders DROP CONSTRAINT shop_orders_pkey; ALTER TABLE shop_orders ADD PRIMARY KEY (id, shop_id);" ]; then
	ok "the host's fix is the two ALTER TABLE statements"
else
	fail "the host's fix is the two ALTER TABLE statements" "$HOST_FIX"
fi
out=$(sql coord "SELECT * FROM customer_tracking_distribute()")
if grep -q 'cannot distribute yet; change first:' <<<"$out" && [ "$(grep -c '^- ' <<<"$out")" = 1 ] &&
	grep -q 'shop_orders_pkey' <<<"$out"; then
	ok "distribute() fails with one message naming the change"
else
	fail "distribute() fails with one message naming the change" "$out"
fi
check "... and changes nothing" "0" coord "SELECT count(*) FROM pg_dist_partition"

echo "== the host changes its primary key; distribute()"
if out=$(sql coord "$HOST_FIX"); then ok "the host's fix runs"; else fail "the host's fix runs" "$out"; fi
check "no problem left" "0" coord "SELECT count(*) FROM customer_tracking_distribution_problems()"
check "distribute() distributes the 15 tables in an order Citus accepts" \
	"user_shops|reference|distributed
customer_tracking_settings|reference|distributed
shop_orders|by shop_id|distributed
shop_customers|by shop_id, colocated with public.shop_orders|distributed
customer_tracking|by shop_id, colocated with public.shop_orders|distributed
customer_tracking_slug_customers|by shop_id, colocated with public.shop_orders|distributed
customer_tracking_issues|by shop_id, colocated with public.shop_orders|distributed
customer_tracking_shop_totals|by shop_id, colocated with public.shop_orders|distributed
customer_tracking_daily|by shop_id, colocated with public.shop_orders|distributed
customer_tracking_slug_daily|by shop_id, colocated with public.shop_orders|distributed
customer_tracking_network_totals|by shop_id, colocated with public.shop_orders|distributed
customer_tracking_frequency|by shop_id, colocated with public.shop_orders|distributed
customer_tracking_slug_visits|by shop_id, colocated with public.shop_orders|distributed
customer_tracking_visitors|by shop_id, colocated with public.shop_orders|distributed
customer_tracking_codes|by shop_id, colocated with public.shop_orders|distributed
customer_tracking_code_uses|by shop_id, colocated with public.shop_orders|distributed
customer_tracking_referral_codes|by shop_id, colocated with public.shop_orders|distributed
customer_tracking_referrals|by shop_id, colocated with public.shop_orders|distributed
customer_tracking_referral_settings|by shop_id, colocated with public.shop_orders|distributed
customer_tracking_tiers|by shop_id, colocated with public.shop_orders|distributed" coord \
	"SELECT * FROM customer_tracking_distribute()"
check "2 reference tables; 18 tables by shop_id in one colocation group" "n|t|2|1
h|s|18|1" coord \
	"SELECT partmethod, repmodel, count(*), count(DISTINCT colocationid) FROM pg_dist_partition GROUP BY 1, 2 ORDER BY 1 DESC"
check "nothing lost: the same orders, customers, ledger rows, revenue and issues" "$BEFORE" coord "$COUNTS_SQL"
check "the coordinator's local copies are truncated" "0" coord \
	"SELECT sum(pg_relation_size(logicalrelid)) FROM pg_dist_partition"
for w in w1 w2; do
	check "$w: the row triggers are enabled on every shard of shop_orders" "customer_tracking_link|O
customer_tracking_track|O" "$w" \
		"SELECT DISTINCT regexp_replace(t.tgname, '_[0-9]+$', ''), t.tgenabled FROM pg_trigger t
		  WHERE t.tgname ~ '^customer_tracking_(link|track)_[0-9]+$' ORDER BY 1"
done
check "running it again changes nothing" "20|already" coord \
	"SELECT count(*), string_agg(DISTINCT action, ',') FROM customer_tracking_distribute()"

echo "== through the coordinator, after distribution"
i=0
for call in "${DASHBOARD_CALLS[@]}"; do
	check "same dashboard result as on one node: ${call:0:60}" "${DASHBOARD_BEFORE[$i]}" coord "$call"
	i=$((i + 1))
done
check "customer_tracking_verify() is empty (cluster-wide)" "0" coord "SELECT count(*) FROM customer_tracking_verify()"
check "customer_tracking_set_tiers() through the coordinator, read back" "Bronze|Gold" coord \
	"SELECT string_agg(name, '|' ORDER BY rank) FROM customer_tracking_set_tiers('$SHOP1', '[{\"name\": \"Bronze\", \"min_purchases\": 1}, {\"name\": \"Gold\", \"min_purchases\": 3}]')"
check "... and the summary follows" "$(sql coord "SELECT count(*) FROM shop_customers WHERE shop_id = '$SHOP1' AND total_purchases >= 3")" coord \
	"SELECT customers FROM shop_tier_summary('$SHOP1') WHERE tier = 'Gold'"
check "customer_tracking_verify(shop) is empty" "0" coord "SELECT count(*) FROM customer_tracking_verify('$SHOP1')"
check "verify() finds a wrong number (rolled back)" "total_spent" coord \
	"BEGIN; UPDATE shop_customers SET total_spent = total_spent + 1 WHERE id = '$CUSTOMER1' AND shop_id = '$SHOP1';
	 SELECT problem FROM customer_tracking_verify('$SHOP1'); ROLLBACK;"
check "TRUNCATE shop_orders clears the extension's tables on every shard (rolled back)" "0|0|0|0|0" coord \
	"BEGIN; TRUNCATE shop_orders;
	 SELECT (SELECT count(*) FROM shop_orders), (SELECT count(*) FROM shop_customers),
	        (SELECT count(*) FROM customer_tracking), (SELECT count(*) FROM customer_tracking_daily),
	        (SELECT count(*) FROM customer_tracking_verify());
	 ROLLBACK;"

echo "== the order lifecycle through the coordinator and through a worker, against one node"
# Shops 5..7 (scenario through the coordinator) and 8..10 (through worker w1); the same scenario
# runs on one node (a database without Citus on the coordinator's server) for both.
SHOPS_A="'00000000-0000-0000-0000-000000000005','00000000-0000-0000-0000-000000000006','00000000-0000-0000-0000-000000000007'"
SHOPS_B="'00000000-0000-0000-0000-000000000008','00000000-0000-0000-0000-000000000009','00000000-0000-0000-0000-000000000010'"
scenario() # scenario PREFIX S1 S2 S3: the scenario's SQL for these shops
{
	sed -e "s/@P@/$1/g" -e "s/@S1@/$2/g" -e "s/@S2@/$3/g" -e "s/@S3@/$4/g" test/fixtures/citus-scenario.sql
}
state_sql() # the tracking state of the shops in $1, in one text, comparable between installs
{
	cat <<SQL
SET TimeZone = 'UTC';
SELECT 'customer', c.shop_id, c.phone_number, c.total_orders, c.total_purchases, c.total_spent, c.first_purchase_at,
       c.last_purchase_at, c.first_source_slug, c.preferred_network, c.network_purchases, c.first_order_id,
       c.repeat_customer, c.customer_name
  FROM shop_customers c WHERE c.shop_id IN ($1) ORDER BY 2, 3;
SELECT 'ledger', t.shop_id, t.id, t.shop_customer_id, t.purchase_completed, t.purchase_amount, t.accessed_at,
       t.network, t.accessed_via_slug
  FROM customer_tracking t WHERE t.shop_id IN ($1) ORDER BY 2, 3;
SELECT 'link', o.shop_id, o.id, o.shop_customer_id FROM shop_orders o WHERE o.shop_id IN ($1) ORDER BY 2, 3;
SELECT 'issue', i.shop_id, i.shop_order_id, i.issue, i.untracked, i.resolved_at IS NULL, i.detail
  FROM customer_tracking_issues i WHERE i.shop_id IN ($1) ORDER BY 2, 3, 4;
SELECT 'pair', p.shop_id, p.slug, p.shop_customer_id, p.purchases, p.first_purchase_at
  FROM customer_tracking_slug_customers p WHERE p.shop_id IN ($1) ORDER BY 2, 3, 4;
SELECT 'totals', r.shop_id, sum(r.customers), sum(r.repeat_customers), sum(r.purchases), sum(r.revenue), sum(r.checkouts)
  FROM customer_tracking_shop_totals r WHERE r.shop_id IN ($1) GROUP BY 2 ORDER BY 2;
SELECT 'daily', r.shop_id, r.day, sum(r.checkouts), sum(r.purchases), sum(r.revenue), sum(r.new_customers), sum(r.last_purchasers)
  FROM customer_tracking_daily r WHERE r.shop_id IN ($1) GROUP BY 2, 3
HAVING (sum(r.checkouts), sum(r.purchases), sum(r.revenue), sum(r.new_customers), sum(r.last_purchasers)) <> (0, 0, 0, 0, 0)
 ORDER BY 2, 3;
SELECT 'slug_daily', r.shop_id, r.slug, r.day, sum(r.checkouts), sum(r.purchases), sum(r.revenue), sum(r.new_customers),
       sum(r.repeat_customers), sum(r.customers)
  FROM customer_tracking_slug_daily r WHERE r.shop_id IN ($1) GROUP BY 2, 3, 4
HAVING (sum(r.checkouts), sum(r.purchases), sum(r.revenue), sum(r.new_customers), sum(r.repeat_customers), sum(r.customers))
       <> (0, 0, 0, 0, 0, 0)
 ORDER BY 2, 3, 4;
SELECT 'network', r.shop_id, r.network, sum(r.customers_preferring), sum(r.purchases), sum(r.revenue)
  FROM customer_tracking_network_totals r WHERE r.shop_id IN ($1) GROUP BY 2, 3
HAVING (sum(r.customers_preferring), sum(r.purchases), sum(r.revenue)) <> (0, 0, 0) ORDER BY 2, 3;
SELECT 'frequency', r.shop_id, r.purchases, sum(r.customers)
  FROM customer_tracking_frequency r WHERE r.shop_id IN ($1) GROUP BY 2, 3 HAVING sum(r.customers) <> 0 ORDER BY 2, 3;
SQL
}
# One node: a database without Citus on the coordinator's server.
SHOPS_SQL="INSERT INTO user_shops (id, user_id) SELECT ('00000000-0000-0000-0000-0000000000' || lpad(i::text, 2, '0'))::uuid,
	('10000000-0000-0000-0000-0000000000' || lpad(i::text, 2, '0'))::uuid FROM generate_series(5, 12) i"
if out=$(sql coord "CREATE DATABASE ct_single" 2>&1) &&
	out=$(CT_CITUS_DB=ct_single ct_citus_psql coord -f test/fixtures/host-schema.sql -c "SET client_min_messages = warning" \
		-c "CREATE EXTENSION customer_tracking" -c "$SHOPS_SQL" 2>&1) &&
	out=$(scenario aaaaaaaa 00000000-0000-0000-0000-000000000005 00000000-0000-0000-0000-000000000006 00000000-0000-0000-0000-000000000007 |
		CT_CITUS_DB=ct_single ct_citus_psql coord 2>&1) &&
	out=$(scenario bbbbbbbb 00000000-0000-0000-0000-000000000008 00000000-0000-0000-0000-000000000009 00000000-0000-0000-0000-000000000010 |
		CT_CITUS_DB=ct_single ct_citus_psql coord 2>&1); then
	ok "the scenario on one node"
else
	fail "the scenario on one node" "$out"
fi
SINGLE_A=$(state_sql "$SHOPS_A" | CT_CITUS_DB=ct_single ct_citus_psql coord -At 2>&1)
SINGLE_B=$(state_sql "$SHOPS_B" | CT_CITUS_DB=ct_single ct_citus_psql coord -At 2>&1)
CT_CITUS_DB=ct_single check "one node: verify() is empty after the scenario" "0" coord "SELECT count(*) FROM customer_tracking_verify()"
echo "       (one node: $(grep -c '^customer|' <<<"$SINGLE_A") customers, $(grep -c '^ledger|' <<<"$SINGLE_A") ledger rows, $(grep -c '^issue|' <<<"$SINGLE_A") issue rows per run)"

sql coord "$SHOPS_SQL" >/dev/null
if out=$(scenario aaaaaaaa 00000000-0000-0000-0000-000000000005 00000000-0000-0000-0000-000000000006 00000000-0000-0000-0000-000000000007 |
	ct_citus_psql coord 2>&1); then
	ok "the scenario through the coordinator"
else
	fail "the scenario through the coordinator" "$out"
fi
if out=$(scenario bbbbbbbb 00000000-0000-0000-0000-000000000008 00000000-0000-0000-0000-000000000009 00000000-0000-0000-0000-000000000010 |
	ct_citus_psql w1 2>&1); then
	ok "the scenario through worker w1"
else
	fail "the scenario through worker w1" "$out"
fi
got=$(state_sql "$SHOPS_A" | ct_citus_psql coord -At 2>&1)
if [ "$got" = "$SINGLE_A" ]; then
	ok "through the coordinator: customers, ledger, links, issues and rollups as on one node"
else
	fail "through the coordinator: customers, ledger, links, issues and rollups as on one node" "$(diff <(echo "$SINGLE_A") <(echo "$got") | head -20)"
fi
got=$(state_sql "$SHOPS_B" | ct_citus_psql coord -At 2>&1)
if [ "$got" = "$SINGLE_B" ]; then
	ok "through a worker: customers, ledger, links, issues and rollups as on one node"
else
	fail "through a worker: customers, ledger, links, issues and rollups as on one node" "$(diff <(echo "$SINGLE_B") <(echo "$got") | head -20)"
fi
check "verify() is empty" "0" coord "SELECT count(*) FROM customer_tracking_verify()"
for call in "shop_customer_metrics('00000000-0000-0000-0000-000000000005', '2024-03-20')" \
	"shop_slug_analytics('00000000-0000-0000-0000-000000000006')" \
	"shop_daily_series('00000000-0000-0000-0000-000000000009', '2024-03-01', '2024-03-20')" \
	"shop_customer_list('00000000-0000-0000-0000-000000000010', p_sort => 'total_spent')" \
	"shop_purchase_frequency('00000000-0000-0000-0000-000000000007')" \
	"shop_network_analytics('00000000-0000-0000-0000-000000000008')"; do
	check "$call as on one node" "$(CT_CITUS_DB=ct_single sql coord "SELECT * FROM $call")" coord "SELECT * FROM $call"
done
check "moving an order by updating its shop is refused by Citus" \
	"ERROR:  modifying the partition value of rows is not allowed" coord \
	"UPDATE shop_orders SET shop_id = '00000000-0000-0000-0000-000000000006' WHERE id = 'aaaaaaaa-0000-0000-0000-000000000001' AND shop_id = '00000000-0000-0000-0000-000000000007'"
check "... and changes nothing" "1" coord \
	"SELECT count(*) FROM shop_orders WHERE id = 'aaaaaaaa-0000-0000-0000-000000000001' AND shop_id = '00000000-0000-0000-0000-000000000007'"
check "... (verify() is empty)" "0" coord "SELECT count(*) FROM customer_tracking_verify()"

echo "== concurrent writers through every node (${LOAD_SECONDS}s)"
cat >"$SCRATCH/writer.pgbench" <<'PGB'
\set shop random(5, 12)
\set other random(5, 12)
\set phone random(1, 12)
\set ref random(1, 40)
\set op random(1, 10)
BEGIN;
INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, shop_slug, reference_code, created_at)
VALUES (('00000000-0000-0000-0000-0000000000' || lpad(:shop::text, 2, '0'))::uuid, '024555' || lpad(:phone::text, 4, '0'),
        CASE WHEN :phone % 3 = 0 THEN 'MTN' ELSE 'Telecel' END, 1 + :ref, CASE WHEN :op <= 6 THEN 'paid' ELSE 'pending' END,
        CASE WHEN :ref % 4 = 0 THEN 'promo' END, 'load-' || :ref, now() - (:ref || ' hours')::interval);
INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status, reference_code)
VALUES (('00000000-0000-0000-0000-0000000000' || lpad(:other::text, 2, '0'))::uuid, '024555' || lpad(:phone::text, 4, '0'), 2, 'paid', 'load-' || :ref);
UPDATE shop_orders SET payment_status = CASE WHEN :op % 2 = 0 THEN 'paid' ELSE 'refunded' END
 WHERE shop_id = ('00000000-0000-0000-0000-0000000000' || lpad(:other::text, 2, '0'))::uuid AND reference_code = 'load-' || (:ref + 1);
DELETE FROM shop_orders WHERE shop_id = ('00000000-0000-0000-0000-0000000000' || lpad(:shop::text, 2, '0'))::uuid
   AND reference_code = 'load-' || (:ref + 2) AND :op = 10;
COMMIT;
PGB
chmod 644 "$SCRATCH/writer.pgbench"
# load NODE CLIENTS SECONDS LOG: pgbench with the writer script, no retries
load()
{
	timeout $((${3} + 90)) "$PGBIN/pgbench" -n -h "$CT_CITUS_SOCKET" -p "$(ct_citus_port "$1")" -U postgres -d "$CT_CITUS_DB" \
		-c "$2" -j "$2" -T "$3" -f "$SCRATCH/writer.pgbench" >"$4" 2>&1
}
load_failures() # the pgbench logs in $@ that show a failed transaction or an error
{
	local log bad=""
	for log in "$@"; do
		if ! grep -q '^number of failed transactions: 0 ' "$log" || grep -q 'error\|aborted' "$log"; then
			bad+="$log: $(grep -m3 -i 'error\|failed\|aborted' "$log" | tr '\n' ' ')"$'\n'
		fi
	done
	printf '%s' "$bad"
}
load coord 4 "$LOAD_SECONDS" "$SCRATCH/coord.log" &
load w1 2 "$LOAD_SECONDS" "$SCRATCH/w1.log" &
load w2 2 "$LOAD_SECONDS" "$SCRATCH/w2.log" &
wait
bad=$(load_failures "$SCRATCH/coord.log" "$SCRATCH/w1.log" "$SCRATCH/w2.log")
n=$(cat "$SCRATCH"/{coord,w1,w2}.log | awk '/^number of transactions actually processed/ {s += $6} END {print s + 0}')
if [ -z "$bad" ] && [ "$n" -gt 0 ]; then
	ok "$n transactions (4 clients on the coordinator, 2 on each worker), none failed"
else
	fail "concurrent writers: no transaction fails" "$bad"
fi
check "verify() is empty after concurrent writers" "0" coord "SELECT count(*) FROM customer_tracking_verify()"

echo "== a shard move while orders arrive"
MOVE=$(sql coord "SELECT s.shardid || ' ' || n.nodename || ' ' || n.nodeport || ' ' || t.nodename || ' ' || t.nodeport
	FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n ON n.groupid = p.groupid
	JOIN pg_dist_node t ON t.groupid <> p.groupid AND t.groupid <> 0
	WHERE s.logicalrelid = 'shop_orders'::regclass
	  AND s.shardid = get_shard_id_for_distribution_column('shop_orders', '00000000-0000-0000-0000-000000000005')")
read -r shard from_host from_port to_host to_port <<<"$MOVE"
load coord 4 "$LOAD_SECONDS" "$SCRATCH/move-coord.log" &
LOAD_PID=$!
load w1 1 "$LOAD_SECONDS" "$SCRATCH/move-w1.log" &
LOAD_PID2=$!
sleep 2
if out=$(timeout 180 "$PGBIN/psql" -X -At -h "$CT_CITUS_SOCKET" -p "$CT_CITUS_PORT_COORD" -U postgres -d "$CT_CITUS_DB" \
	-c "SELECT citus_move_shard_placement($shard, '$from_host', $from_port, '$to_host', $to_port, shard_transfer_mode => 'force_logical')" 2>&1); then
	ok "citus_move_shard_placement (force_logical) of the shards of shop 5 (shard $shard and its colocated shards) from :$from_port to :$to_port"
else
	fail "citus_move_shard_placement of shard $shard under load" "$out"
fi
wait "$LOAD_PID" "$LOAD_PID2"
bad=$(load_failures "$SCRATCH/move-coord.log" "$SCRATCH/move-w1.log")
if [ -z "$bad" ]; then ok "no transaction failed during the move"; else fail "no transaction failed during the move" "$bad"; fi
check "the shards moved together" "$to_port|18" coord \
	"SELECT n.nodeport, count(*) FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
	  WHERE s.shardid IN (SELECT s2.shardid FROM pg_dist_shard s2 JOIN pg_dist_shard s1 ON s1.shardminvalue = s2.shardminvalue
	                       JOIN pg_dist_partition p1 ON p1.logicalrelid = s1.logicalrelid
	                       JOIN pg_dist_partition p2 ON p2.logicalrelid = s2.logicalrelid AND p2.colocationid = p1.colocationid
	                      WHERE s1.shardid = $shard)
	  GROUP BY 1"
check "verify() is empty after the move" "0" coord "SELECT count(*) FROM customer_tracking_verify()"
if out=$(sql coord "INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status) VALUES ('00000000-0000-0000-0000-000000000005', '0245550099', 3, 'paid')") &&
	[ "$(sql coord "SELECT total_purchases FROM shop_customers WHERE shop_id = '00000000-0000-0000-0000-000000000005' AND phone_number = '+233245550099'")" = 1 ] &&
	[ "$(sql coord "SELECT count(*) FROM customer_tracking_verify('00000000-0000-0000-0000-000000000005')")" = 0 ]; then
	ok "an order of the moved shop is counted where its shards are now"
else
	fail "an order of the moved shop is counted where its shards are now" "$out"
fi

echo "== row-level security through the coordinator"
OWNER5=10000000-0000-0000-0000-000000000005
sql coord "CREATE ROLE ct_owner LOGIN; GRANT USAGE ON SCHEMA public TO ct_owner; GRANT SELECT ON shop_orders TO ct_owner" >/dev/null
# as_owner CLAIMS SQL: as ct_owner, with these JWT claims set as PostgREST would, in a transaction
as_owner()
{
	ct_citus_psql coord -At -U ct_owner -c "SET client_min_messages = warning" -c "BEGIN" \
		-c "SET LOCAL citus.propagate_set_commands = 'local'" \
		-c "SET LOCAL request.jwt.claims = '$1'" -c "$2" -c "COMMIT" 2>&1
}
got=$(as_owner "{\"sub\": \"$OWNER5\"}" "SELECT count(*), count(DISTINCT shop_id) FROM shop_customers")
want=$(sql coord "SELECT count(*) || '|1' FROM shop_customers WHERE shop_id = '00000000-0000-0000-0000-000000000005'")
if [ "$got" = "$want" ]; then ok "an owner reads only their shop's customers through the coordinator ($got)"; else fail "an owner reads only their shop's customers" "want $want, got $got"; fi
got=$(as_owner "{\"sub\": \"$OWNER5\"}" "SELECT count(*) FROM customer_tracking WHERE shop_id = '00000000-0000-0000-0000-000000000006'")
if [ "$got" = 0 ]; then ok "... and nothing of another shop"; else fail "... and nothing of another shop" "$got"; fi
got=$(as_owner "{\"sub\": \"$OWNER5\"}" "SELECT total_customers FROM shop_customer_metrics('00000000-0000-0000-0000-000000000005')")
want=$(sql coord "SELECT total_customers FROM shop_customer_metrics('00000000-0000-0000-0000-000000000005')")
if [ "$got" = "$want" ]; then ok "shop_customer_metrics() of their shop as for a superuser ($got)"; else fail "shop_customer_metrics() of their shop" "want $want, got $got"; fi
got=$(as_owner "{\"sub\": \"$OWNER5\"}" "SELECT total_customers FROM shop_customer_metrics('00000000-0000-0000-0000-000000000006')")
if [ "$got" = 0 ]; then ok "shop_customer_metrics() of another shop: zeros"; else fail "shop_customer_metrics() of another shop: zeros" "$got"; fi
got=$(as_owner "{\"sub\": \"$OWNER5\"}" "SELECT count(*) FROM shop_customer_list('00000000-0000-0000-0000-000000000006')")
if [ "$got" = 0 ]; then ok "shop_customer_list() of another shop: nothing"; else fail "shop_customer_list() of another shop: nothing" "$got"; fi
got=$(as_owner "{\"sub\": \"20000000-0000-0000-0000-000000000000\"}" "SELECT count(*) FROM shop_customers")
if [ "$got" = 0 ]; then ok "a user owning no shop sees no customer"; else fail "a user owning no shop sees no customer" "$got"; fi

echo "== a settings change reaches the sessions on the workers"
# One session: its connections to the workers (and their sessions there) stay open meanwhile.
SHOP11=00000000-0000-0000-0000-000000000011
cat >"$SCRATCH/settings.sql" <<SQL
INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status) VALUES ('$SHOP11', '0241234500', 5, 'zzz');
\\! "$PGBIN/psql" -X -q -h "$CT_CITUS_SOCKET" -p "$CT_CITUS_PORT_COORD" -U postgres -d "$CT_CITUS_DB" -c "SELECT customer_tracking_set_statuses('completed, paid, success, zzz')" >/dev/null 2>&1
INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status) VALUES ('$SHOP11', '0241234500', 7, 'zzz');
SELECT total_purchases FROM shop_customers WHERE shop_id = '$SHOP11' AND phone_number = '+233241234500';
SQL
chmod 644 "$SCRATCH/settings.sql"
got=$(ct_citus_psql coord -At -c "SET client_min_messages = error" -f "$SCRATCH/settings.sql" 2>&1 | tail -n 1)
if [ "$got" = 1 ]; then ok "a new paid status counts in a session opened before the change"; else fail "a new paid status counts in a session opened before the change" "$got"; fi
check "backfill(shop) re-derives the order placed before the change (1 order; 2 purchases; verify() empty)" "1
2
0" coord \
	"SELECT orders_retracked FROM customer_tracking_backfill('$SHOP11');
	 SELECT total_purchases FROM shop_customers WHERE shop_id = '$SHOP11' AND phone_number = '+233241234500';
	 SELECT count(*) FROM customer_tracking_verify()"

echo "== customer_tracking_apply_pending() counts on every node before commit"
# Shops 5..10 are on both workers (checked); one customer per shop, written in one statement.
apply_pending_check() # NODE PHONE: through NODE, in a transaction: before, after apply_pending(), after commit
{
	sql "$1" "BEGIN;
	 INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status)
	 SELECT ('00000000-0000-0000-0000-0000000000' || lpad(i::text, 2, '0'))::uuid, '$2', 4, 'paid' FROM generate_series(5, 10) i;
	 SELECT count(*) FROM shop_customers WHERE phone_number = '+233${2:1}' AND total_purchases = 1;
	 SELECT customer_tracking_apply_pending();
	 SELECT count(*) FROM shop_customers WHERE phone_number = '+233${2:1}' AND total_purchases = 1;
	 COMMIT;
	 SELECT count(*) FROM shop_customers WHERE phone_number = '+233${2:1}' AND total_purchases = 1"
}
check "shops 5..10 are on two workers" "2" coord \
	"SELECT count(DISTINCT p.groupid) FROM generate_series(5, 10) i
	  JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('shop_orders',
	       ('00000000-0000-0000-0000-0000000000' || lpad(i::text, 2, '0'))::uuid)"
got=$(apply_pending_check coord 0245557711)
if [ "$got" = $'0\n\n6\n6' ]; then
	ok "through the coordinator: counted on both workers by apply_pending(), before commit (0 before, 6 after)"
else
	fail "through the coordinator: apply_pending() counts on both workers before commit" "$got"
fi
got=$(apply_pending_check w1 0245557712)
if [ "$got" = $'0\n\n6\n6' ]; then
	ok "through worker w1: counted on w1 and on w2 by apply_pending(), before commit"
else
	fail "through worker w1: apply_pending() counts on both workers before commit" "$got"
fi
check "in savepoints: applied on every node; ROLLBACK TO takes the second order back; commit as on one node" "
6

6
6
6
0" coord \
	"BEGIN; SAVEPOINT a;
	 INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status)
	 SELECT ('00000000-0000-0000-0000-0000000000' || lpad(i::text, 2, '0'))::uuid, '0245557713', 4, 'paid' FROM generate_series(5, 10) i;
	 SELECT customer_tracking_apply_pending();
	 SELECT count(*) FROM shop_customers WHERE phone_number = '+233245557713' AND total_purchases = 1;
	 SAVEPOINT b;
	 INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status)
	 SELECT ('00000000-0000-0000-0000-0000000000' || lpad(i::text, 2, '0'))::uuid, '0245557713', 4, 'paid' FROM generate_series(5, 10) i;
	 SELECT customer_tracking_apply_pending();
	 SELECT count(*) FROM shop_customers WHERE phone_number = '+233245557713' AND total_purchases = 2;
	 ROLLBACK TO b;
	 SELECT count(*) FROM shop_customers WHERE phone_number = '+233245557713' AND total_purchases = 1;
	 COMMIT;
	 SELECT count(*) FROM shop_customers WHERE phone_number = '+233245557713' AND total_purchases = 1;
	 SELECT count(*) FROM customer_tracking_verify()"

echo "== row-level security through the coordinator as PostgREST does it (set_config, role authenticated)"
# PostgREST connects as an authenticator role and, per request, in a transaction:
# set_config('role', 'authenticated', true), set_config('request.jwt.claims', ..., true), then
# its db-pre-request function, then the call. Citus opens its connections to the workers as the
# current role, so authenticated must be able to log in there (not on the coordinator), and
# forwards SET LOCAL (not set_config) with citus.propagate_set_commands = 'local'.
sql coord "CREATE ROLE authenticated NOLOGIN;
	CREATE ROLE ct_authenticator LOGIN NOINHERIT;
	GRANT authenticated TO ct_authenticator;
	ALTER ROLE ct_authenticator SET citus.propagate_set_commands = 'local';
	GRANT USAGE ON SCHEMA public TO authenticated;
	GRANT SELECT ON shop_orders TO authenticated;
	CREATE FUNCTION public.ct_pre_request() RETURNS void LANGUAGE plpgsql AS \$\$
	BEGIN
	  EXECUTE format('SET LOCAL request.jwt.claims = %L', current_setting('request.jwt.claims', true));
	END \$\$;
	GRANT EXECUTE ON FUNCTION public.ct_pre_request() TO authenticated" >/dev/null
for w in w1 w2; do
	sql "$w" "SET citus.enable_ddl_propagation = off; ALTER ROLE authenticated LOGIN" >/dev/null
done
# as_postgrest CLAIMS PRE SQL: one request as PostgREST makes it (PRE=pre: calls the pre-request function)
as_postgrest()
{
	local pre="SELECT 1"
	[ "$2" = pre ] && pre="SELECT public.ct_pre_request()"
	ct_citus_psql coord -At -U ct_authenticator -c "SET client_min_messages = warning" -c "BEGIN" \
		-c "SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', '$1', true)" \
		-c "$pre" -c "$3" -c "COMMIT" 2>&1 | sed -n '3,$p'
}
CLAIMS5="{\"sub\": \"$OWNER5\", \"role\": \"authenticated\"}"
NOSHOP=00000000-0000-0000-0000-000000000099
got=$(as_postgrest "$CLAIMS5" no "SELECT count(*) FROM shop_customers")
if [ "$got" = 0 ]; then
	ok "without the pre-request function the claims do not reach the workers: the owner sees nothing (never more)"
else
	fail "without the pre-request function: the owner sees nothing" "$got"
fi
got=$(as_postgrest "$CLAIMS5" pre "SELECT count(*), count(DISTINCT shop_id) FROM shop_customers")
want=$(sql coord "SELECT count(*) || '|1' FROM shop_customers WHERE shop_id = '00000000-0000-0000-0000-000000000005'")
if [ "$got" = "$want" ]; then ok "with it: the owner reads only their shop's customers ($got)"; else fail "with the pre-request function: the owner's customers" "want $want, got $got"; fi
CUSTOMER5=$(sql coord "SELECT id FROM shop_customers WHERE shop_id = '00000000-0000-0000-0000-000000000005' ORDER BY id LIMIT 1")
CUSTOMER6=$(sql coord "SELECT id FROM shop_customers WHERE shop_id = '00000000-0000-0000-0000-000000000006' ORDER BY id LIMIT 1")
for call in "shop_customer_metrics('@S@', '2030-01-01')" "shop_customer_list('@S@', p_limit => 5)" \
	"shop_network_analytics('@S@')" "shop_purchase_frequency('@S@')" "shop_slug_analytics('@S@')" \
	"shop_last_purchase_decay('@S@', '2030-01-01')" "shop_daily_series('@S@', current_date - 3, current_date)" \
	"shop_customer_overview('@S@')"; do
	own=${call//@S@/00000000-0000-0000-0000-000000000005}
	other=${call//@S@/00000000-0000-0000-0000-000000000006}
	got=$(as_postgrest "$CLAIMS5" pre "SELECT * FROM $own")
	want=$(sql coord "SELECT * FROM $own")
	if [ "$got" = "$want" ] && [ -n "$got" ]; then ok "$own: the owner's shop as for a superuser"; else fail "$own: the owner's shop as for a superuser" "want: $want
got:  $got"; fi
	got=$(as_postgrest "$CLAIMS5" pre "SELECT * FROM $other")
	want=$(sql coord "SELECT * FROM ${call//@S@/$NOSHOP}")
	if [ "$got" = "$want" ]; then ok "... another shop: as a shop without orders"; else fail "$other: another shop as a shop without orders" "want: $want
got:  $got"; fi
done
got=$(as_postgrest "$CLAIMS5" pre "SELECT count(*) FROM customer_purchase_history('$CUSTOMER5')")
want=$(sql coord "SELECT count(*) FROM customer_purchase_history('$CUSTOMER5')")
if [ "$got" = "$want" ] && [ "$got" -gt 0 ]; then ok "customer_purchase_history() of an own customer ($got orders)"; else fail "customer_purchase_history() of an own customer" "want $want, got $got"; fi
got=$(as_postgrest "$CLAIMS5" pre "SELECT count(*) FROM customer_purchase_history('$CUSTOMER6')")
if [ "$got" = 0 ]; then ok "customer_purchase_history() of another shop's customer: nothing"; else fail "customer_purchase_history() of another shop's customer: nothing" "$got"; fi
got=$(as_postgrest "{\"sub\": \"20000000-0000-0000-0000-000000000000\"}" pre "SELECT count(*) FROM shop_customers")
if [ "$got" = 0 ]; then ok "a user owning no shop sees no customer"; else fail "a user owning no shop sees no customer" "$got"; fi

echo "== a third worker, then citus_rebalance_start() while orders arrive"
if ct_citus_add_worker >"$SCRATCH/w3.log" 2>&1; then
	ok "worker w3 started and added (citus_add_node)"
else
	fail "worker w3 started and added (citus_add_node)" "$(cat "$SCRATCH/w3.log")"
fi
NTABLES=$(sql coord "SELECT count(*) FROM customer_tracking_distributed_tables()")
check "w3: Citus installed the extension (1.4) with its $NTABLES tables; no shard yet" "1.4|$NTABLES|0" w3 \
	"SELECT (SELECT extversion FROM pg_extension WHERE extname = 'customer_tracking'), ($TABLES_SQL),
	        (SELECT count(*) FROM pg_class WHERE relname ~ '^shop_customers_[0-9]+$')"
# Counted writers: one paid order of 1.00 per transaction (reference 'rebalance'), next to the
# mixed writers; what each pgbench processed must be exactly what is stored and counted.
cat >"$SCRATCH/counted.pgbench" <<'PGB'
\set shop random(5, 12)
\set phone random(1, 50)
INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status, reference_code)
VALUES (('00000000-0000-0000-0000-0000000000' || lpad(:shop::text, 2, '0'))::uuid, '024556' || lpad(:phone::text, 4, '0'), 1, 'paid', 'rebalance');
PGB
chmod 644 "$SCRATCH/counted.pgbench"
counted_load() # NODE LOG
{
	timeout 150 "$PGBIN/pgbench" -n -h "$CT_CITUS_SOCKET" -p "$(ct_citus_port "$1")" -U postgres -d "$CT_CITUS_DB" \
		-c 1 -j 1 -T 3 -f "$SCRATCH/counted.pgbench" >"$2" 2>&1
}
if out=$(sql coord "SELECT citus_rebalance_start(shard_transfer_mode => 'force_logical')") && [[ $out =~ ^[0-9]+$ ]]; then
	ok "citus_rebalance_start(shard_transfer_mode => 'force_logical') scheduled job $out"
else
	fail "citus_rebalance_start(shard_transfer_mode => 'force_logical')" "$out"
fi
# Orders arrive in rounds of 3 s (mixed writers on the coordinator and w1, counted ones on the
# coordinator and w2) until the rebalance has finished (at most 40 rounds).
round=0
logs=()
while [ "$round" -lt 40 ]; do
	round=$((round + 1))
	load coord 2 3 "$SCRATCH/rb-mixed-$round.log" &
	load w1 1 3 "$SCRATCH/rb-w1-$round.log" &
	counted_load coord "$SCRATCH/rb-counted-c-$round.log" &
	counted_load w2 "$SCRATCH/rb-counted-w-$round.log" &
	wait
	logs+=("$SCRATCH/rb-mixed-$round.log" "$SCRATCH/rb-w1-$round.log" "$SCRATCH/rb-counted-c-$round.log" "$SCRATCH/rb-counted-w-$round.log")
	state=$(sql coord "SELECT state FROM citus_rebalance_status() ORDER BY job_id DESC LIMIT 1")
	[ "$state" = running ] || [ "$state" = scheduled ] || break
done
check "the rebalance finished ($round rounds of orders meanwhile)" "finished" coord \
	"SELECT state FROM citus_rebalance_status() ORDER BY job_id DESC LIMIT 1"
bad=$(load_failures "${logs[@]}")
if [ -z "$bad" ]; then ok "no transaction failed during the rebalance"; else fail "no transaction failed during the rebalance" "$bad"; fi
NCOLOCATED=$(sql coord "SELECT count(*) FROM pg_dist_partition WHERE partmethod = 'h'")
check "w3 holds shards now, each with its colocated shards ($NCOLOCATED tables per shard group)" "t|t" coord \
	"SELECT count(*) > 0, count(*) % $NCOLOCATED = 0 FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
	  JOIN pg_dist_partition d ON d.logicalrelid = s.logicalrelid
	 WHERE n.nodeport = $CT_CITUS_PORT_W3 AND d.partmethod = 'h'"
counted=$(cat "$SCRATCH"/rb-counted-*.log | awk '/^number of transactions actually processed/ {s += $6} END {print s + 0}')
check "every counted order is stored and counted: $counted orders, $counted ledger purchases, $counted.00 revenue" \
	"$counted|$counted|$counted.00" coord \
	"SELECT count(*), count(*) FILTER (WHERE t.purchase_completed), sum(t.purchase_amount) FILTER (WHERE t.purchase_completed)
	   FROM shop_orders o LEFT JOIN customer_tracking t ON t.shop_id = o.shop_id AND t.shop_order_id = o.id
	  WHERE o.reference_code = 'rebalance'"
check "... and their customers' purchases add up to them" "$counted" coord \
	"SELECT sum(total_purchases) FROM shop_customers WHERE phone_number LIKE '+23324556%'"
# The shards moved away are dropped later by Citus's maintenance daemon; at once here.
sql coord "CALL citus_cleanup_orphaned_resources()" >/dev/null
check "verify() is empty after the rebalance" "0" coord "SELECT count(*) FROM customer_tracking_verify()"
check "w3: the row triggers are enabled on its shards of shop_orders" "customer_tracking_link|O
customer_tracking_track|O" w3 \
	"SELECT DISTINCT regexp_replace(t.tgname, '_[0-9]+$', ''), t.tgenabled FROM pg_trigger t
	  WHERE t.tgname ~ '^customer_tracking_(link|track)_[0-9]+$' ORDER BY 1"

echo "== ALTER EXTENSION customer_tracking UPDATE on the cluster"
# One installation serves every node here. An update path to a probe version shows what an
# update does on a cluster: Citus runs ALTER EXTENSION ... UPDATE on every worker too, where the
# script runs against the shell tables; it does not touch the shards.
EXTDIR=$("$PG_CONFIG" --sharedir)/extension
VERSIONS_SQL="SELECT string_agg(v, '|') FROM (SELECT extversion AS v FROM pg_extension WHERE extname = 'customer_tracking'
  UNION ALL (SELECT result FROM run_command_on_workers(\$\$SELECT extversion FROM pg_extension WHERE extname = 'customer_tracking'\$\$) ORDER BY nodeport)) x"
checkn "ALTER EXTENSION customer_tracking UPDATE (1.4 already): nothing to do on any node" "1.4|1.4|1.4|1.4" coord \
	"ALTER EXTENSION customer_tracking UPDATE" "$VERSIONS_SQL"
if cat >"${PROBE_FILES[0]}" <<'SQL' && cat >"${PROBE_FILES[1]}" <<'SQL2'; then
-- test/scripts/citus_cluster.sh: a probe update (a function and a comment), removed after the test
CREATE FUNCTION customer_tracking_probe() RETURNS int LANGUAGE sql AS 'SELECT 14';
COMMENT ON TABLE shop_customers IS 'probe';
SQL
DROP FUNCTION customer_tracking_probe();
COMMENT ON TABLE shop_customers IS NULL;
SQL2
	chmod 644 "${PROBE_FILES[@]}"
	checkn "ALTER EXTENSION customer_tracking UPDATE TO a new version on the coordinator: every node at that version" \
		"1.4-probe|1.4-probe|1.4-probe|1.4-probe" coord "ALTER EXTENSION customer_tracking UPDATE TO '1.4-probe'" "$VERSIONS_SQL"
	check "... the update script ran on every node (its function, on the shell tables its comment)" "14|14|14|14
probe|probe|probe|probe" coord \
		"SELECT customer_tracking_probe() || '|' || string_agg(result, '|' ORDER BY nodeport)
		   FROM run_command_on_workers('SELECT customer_tracking_probe()');
		 SELECT obj_description('shop_customers'::regclass, 'pg_class') || '|' || string_agg(result, '|' ORDER BY nodeport)
		   FROM run_command_on_workers(\$\$SELECT obj_description('shop_customers'::regclass, 'pg_class')\$\$)"
	check "... but not on the shards" "0" w1 \
		"SELECT count(obj_description(c.oid, 'pg_class')) FROM pg_class c WHERE c.relname ~ '^shop_customers_[0-9]+$'"
	checkn "... orders are tracked at the new version" "1" coord \
		"INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status) VALUES ('00000000-0000-0000-0000-000000000007', '0245557720', 3, 'paid')" \
		"SELECT count(*) FROM shop_customers WHERE phone_number = '+233245557720' AND total_purchases = 1"
	checkn "... and back to 1.4 the same way" "1.4|1.4|1.4|1.4" coord "ALTER EXTENSION customer_tracking UPDATE TO '1.4'" "$VERSIONS_SQL"
	check "verify() is empty" "0" coord "SELECT count(*) FROM customer_tracking_verify()"
else
	skip "ALTER EXTENSION ... UPDATE TO a probe version" "cannot write to $EXTDIR"
fi
rm -f "${PROBE_FILES[@]}"

echo "== DROP EXTENSION customer_tracking on the coordinator, then CREATE again"
STATS_SQL="SELECT (SELECT count(*) || '|' || sum(total_purchases) || '|' || sum(total_spent) FROM shop_customers) || '|'
 || (SELECT count(*) FROM customer_tracking) || '|' || (SELECT sum(revenue) FROM customer_tracking_shop_totals)"
BEFORE_DROP=$(sql coord "$STATS_SQL")
ORDERS_BEFORE_DROP=$(sql coord "SELECT count(*) FROM shop_orders")
if out=$(sql coord "DROP EXTENSION customer_tracking CASCADE"); then
	ok "DROP EXTENSION customer_tracking CASCADE"
else
	fail "DROP EXTENSION customer_tracking CASCADE" "$out"
fi
for node in "${CT_CITUS_NODES[@]}"; do
	check "$node: no extension, no table, shard or function of it, no trigger on shop_orders (or its shards)" "0|||0" "$node" \
		"SELECT (SELECT count(*) FROM pg_extension WHERE extname = 'customer_tracking'),
		        (SELECT string_agg(relname, ',') FROM pg_class WHERE relname ~ '^(shop_customers|customer_tracking)'),
		        (SELECT string_agg(proname, ',') FROM pg_proc WHERE proname ~ '^(customer_tracking|shop_customer)'),
		        (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'customer_tracking%')"
done
check "shop_orders and its rows stay, distributed" "$ORDERS_BEFORE_DROP
h" coord \
	"SELECT count(*) FROM shop_orders; SELECT partmethod FROM pg_dist_partition WHERE logicalrelid = 'shop_orders'::regclass"
check "an order without the extension is saved" "1" coord \
	"INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status) VALUES ('00000000-0000-0000-0000-000000000008', '0245557721', 2, 'paid');
	 SELECT count(*) FROM shop_orders WHERE customer_phone = '0245557721'"
# The stored settings go with the extension: the statuses set earlier ('zzz' is paid) again.
if out=$(sql coord "CREATE EXTENSION customer_tracking;
	SELECT count(*) FROM customer_tracking_distribute();
	SELECT customer_tracking_set_statuses('completed, paid, success, zzz');
	SELECT sum(orders_linked) > 0 FROM customer_tracking_backfill()"); then
	ok "CREATE EXTENSION again, distribute(), the settings again, backfill()"
else
	fail "CREATE EXTENSION again, distribute(), the settings again, backfill()" "$out"
fi
check "verify() is empty; every order kept" "0|$((ORDERS_BEFORE_DROP + 1))" coord \
	"SELECT (SELECT count(*) FROM customer_tracking_verify()), (SELECT count(*) FROM shop_orders)"
IFS='|' read -r c p spent l r <<<"$BEFORE_DROP"
check "customers, purchases, spent, ledger rows, revenue: as before the drop, plus that order" \
	"$((c + 1))|$((p + 1))|$(echo "$spent + 2" | bc)|$((l + 1))|$(echo "$r + 2" | bc)" coord "$STATS_SQL"
checkn "tracking goes on" "1" coord \
	"INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status) VALUES ('00000000-0000-0000-0000-000000000008', '0245557721', 2, 'paid')" \
	"SELECT count(*) FROM shop_customers WHERE phone_number = '+233245557721' AND total_purchases = 2"

PENDING=""
echo "== CREATE EXTENSION when the host tables are already distributed (another database)"
# Citus keeps its metadata per database: the database, Citus and the nodes, as in ct_citus_start.
db2=ct_host_first
for node in "${CT_CITUS_NODES[@]}"; do
	sql "$node" "CREATE DATABASE $db2" >/dev/null
	CT_CITUS_DB=$db2 sql "$node" "CREATE EXTENSION citus" >/dev/null
done
CT_CITUS_DB=$db2 sql coord "SELECT citus_set_coordinator_host('$CT_CITUS_HOST', $CT_CITUS_PORT_COORD);
	SELECT citus_add_node('$CT_CITUS_HOST', $CT_CITUS_PORT_W1); SELECT citus_add_node('$CT_CITUS_HOST', $CT_CITUS_PORT_W2);" >/dev/null
if out=$(CT_CITUS_DB=$db2 ct_citus_psql coord -c "SET client_min_messages = warning" -f test/fixtures/host-schema.sql -c "
	ALTER TABLE shop_orders DROP CONSTRAINT shop_orders_pkey;
	ALTER TABLE shop_orders ADD PRIMARY KEY (id, shop_id);
	SELECT create_reference_table('user_shops');
	SELECT create_distributed_table('shop_orders', 'shop_id');
	INSERT INTO user_shops (id, user_id) VALUES ('$SHOP1', gen_random_uuid());
	INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status)
	VALUES ('$SHOP1', '0241234567', 10, 'paid');" 2>&1 >/dev/null); then
	ok "the host distributes user_shops and shop_orders itself"
else
	fail "the host distributes user_shops and shop_orders itself" "$out"
fi
if out=$(CT_CITUS_DB=$db2 sql coord "CREATE EXTENSION customer_tracking"); then
	ok "CREATE EXTENSION customer_tracking on the coordinator"
else
	fail "CREATE EXTENSION customer_tracking on the coordinator" "$out"
fi
for w in w1 w2; do
	CT_CITUS_DB=$db2 check "$w: the row triggers on every shard of shop_orders, the column, the extension" \
		"$(CT_CITUS_DB=$db2 sql "$w" "SELECT count(*) * 2 FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid)
		    WHERE s.logicalrelid = 'shop_orders'::regclass AND p.groupid = (SELECT groupid FROM pg_dist_local_group)")|1|1.4" "$w" \
		"SELECT (SELECT count(*) FROM pg_trigger WHERE tgname ~ '^customer_tracking_(link|track)_[0-9]+$' AND tgenabled = 'O'),
		        (SELECT count(*) FROM pg_attribute WHERE attrelid = 'shop_orders'::regclass AND attname = 'shop_customer_id'),
		        (SELECT extversion FROM pg_extension WHERE extname = 'customer_tracking')"
done
CT_CITUS_DB=$db2 check "the order placed before, unlinked until a backfill" "1|0" coord \
	"SELECT count(*), count(shop_customer_id) FROM shop_orders"
out=$(CT_CITUS_DB=$db2 ct_citus_psql coord -c "INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status)
	VALUES ('$SHOP1', '0241234568', 11, 'paid')" 2>&1)
if [ $? = 0 ] && grep -q "WARNING:  customer_tracking: orders saved but not counted: table .* is not distributed yet" <<<"$out"; then
	ok "an order before the extension's tables are distributed: saved, not counted, a WARNING says why"
else
	fail "an order before the extension's tables are distributed: saved, not counted, a WARNING says why" "$out"
fi
CT_CITUS_DB=$db2 check "distribute() distributes the extension's tables next to the host's" \
	"user_shops|already
customer_tracking_settings|distributed
shop_orders|already
shop_customers|distributed" coord \
	"SELECT table_name, action FROM customer_tracking_distribute() LIMIT 4"
CT_CITUS_DB=$db2 check "backfill() counts the orders placed before (cluster-wide; each shop on its node)" \
	"2|2|0" coord "SELECT sum(orders_retracked), sum(orders_linked), sum(orders_untracked) FROM customer_tracking_backfill()"
CT_CITUS_DB=$db2 check "... verify() is empty, the customers counted" "0|2" coord \
	"SELECT (SELECT count(*) FROM customer_tracking_verify()), (SELECT count(*) FROM shop_customers WHERE total_purchases = 1)"
CT_CITUS_DB=$db2 check "backfill(shop) repairs customers and rollups changed by hand" "2
0" coord \
	"UPDATE shop_customers SET total_spent = 999 WHERE shop_id = '$SHOP1';
	 DELETE FROM customer_tracking_daily WHERE shop_id = '$SHOP1';
	 SELECT customers_repaired FROM customer_tracking_backfill('$SHOP1');
	 SELECT count(*) FROM customer_tracking_verify()"
if out=$(CT_CITUS_DB=$db2 ct_citus_psql coord -c "SET client_min_messages = warning" -c "BEGIN" \
	-c "INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status) VALUES ('$SHOP1', '0241230000', 5, 'paid')" \
	-c "TRUNCATE shop_orders" \
	-c "INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status) VALUES ('$SHOP1', '0241230001', 5, 'pending')" \
	-c "COMMIT" 2>&1); then
	CT_CITUS_DB=$db2 check "orders written and TRUNCATEd in one transaction: only the one written after counts" "1|1|0|0" coord \
		"SELECT (SELECT count(*) FROM shop_orders), (SELECT count(*) FROM customer_tracking),
		        (SELECT count(*) FROM shop_customers WHERE total_purchases > 0), (SELECT count(*) FROM customer_tracking_verify())"
else
	fail "orders written and TRUNCATEd in one transaction" "$out"
fi

echo "== no node crashed"
crashes=$(for node in "${CT_CITUS_NODES[@]}"; do grep -h 'terminated by signal\|was terminated by\|PANIC' "$CT_CITUS_DIR/$node.log"; done 2>/dev/null | head -5)
if [ -z "$crashes" ]; then ok "no process of any node was killed by a signal"; else fail "no process of any node was killed by a signal" "$crashes"; fi

echo
echo "citus_cluster: $PASSED passed, $FAILED failed, $XFAILED expected failures, $XPASSED unexpectedly passing, $SKIPPED skipped"
if [ "$FAILED" -gt 0 ]; then
	ct_citus_log_tail 40
	exit 1
fi
exit 0
