#!/usr/bin/env bash
# customer_tracking on a Citus cluster (issue 11; groundwork): a coordinator and two workers on
# loopback ports (scripts/lib/citus_cluster.sh), the host schema, CREATE EXTENSION, the growth
# path from a populated single-node install, customer_tracking_distribute(), and what already
# works through the coordinator afterwards.
#
# Skipped (exit 0, with the reason) when Citus is not installed: scripts/test.sh runs
# scripts/install-citus.sh first and exports CT_CITUS_SKIP=<reason> when it could not.
#
# Each check prints one line: "ok", "FAIL", "XFAIL" (known to fail until issue 11 is done; the
# reason is printed; not a failure), "XPASS" (expected to fail but works now: turn it into a
# check; not a failure either) or "SKIP" (not run: it would crash a node or cannot work yet).
# Exit status 1 when a check fails.
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
trap 'ct_citus_stop' EXIT
ct_citus_start || exit 1

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
# xcheck NAME REASON EXPECTED NODE SQL: expected to fail until issue 11 is done.
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
	check "$w: the extension (1.4) with its 10 tables, no host tables, nothing attached" "1.4|10|0|0" "$w" \
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
DASHBOARD_CALLS=(
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

PENDING="issue 11 in progress: 1.4's keys include shop_id now, its policies still hold a subquery, and the DDL guard stops the table conversions Citus makes while distributing"
echo "== customer_tracking_distribute(): what must change first"
check "distribution_problems(): the host's primary key, and the extension's 2 keys and 9 policies" \
	"shop_orders|1
shop_customers|2
customer_tracking|2
customer_tracking_slug_customers|1
customer_tracking_issues|1
customer_tracking_shop_totals|1
customer_tracking_daily|1
customer_tracking_slug_daily|1
customer_tracking_network_totals|1
customer_tracking_frequency|1" coord \
	"SELECT p.table_name, count(*) FROM customer_tracking_distribution_problems() WITH ORDINALITY p
	  GROUP BY 1 ORDER BY min(p.ordinality)"
HOST_FIX=$(sql coord "SELECT fix FROM customer_tracking_distribution_problems() WHERE table_name = 'shop_orders'::regclass")
if [ "$HOST_FIX" = "ALTER TABLE shop_orders DROP CONSTRAINT shop_orders_pkey; ALTER TABLE shop_orders ADD PRIMARY KEY (id, shop_id);" ]; then
	ok "the host's fix is the two ALTER TABLE statements"
else
	fail "the host's fix is the two ALTER TABLE statements" "$HOST_FIX"
fi
out=$(sql coord "SELECT * FROM customer_tracking_distribute()")
n=$(grep -c '^- ' <<<"$out")
if grep -q 'cannot distribute yet; change first:' <<<"$out" && [ "$n" = 12 ] &&
	grep -q 'shop_orders_pkey' <<<"$out" && grep -q 'shop_customers_pkey' <<<"$out" &&
	grep -q 'customer_tracking_pkey' <<<"$out"; then
	ok "distribute() fails with one message naming the 12 changes"
else
	fail "distribute() fails with one message naming the 12 changes" "$out"
fi
check "... and changes nothing" "0" coord "SELECT count(*) FROM pg_dist_partition"

echo "== the host changes its primary key"
if out=$(sql coord "$HOST_FIX"); then ok "the host's fix runs"; else fail "the host's fix runs" "$out"; fi
check "no problem left with the host tables" "0" coord \
	"SELECT count(*) FROM customer_tracking_distribution_problems()
	  WHERE table_name IN ('shop_orders'::regclass, 'user_shops'::regclass) OR table_name IS NULL"
xcheck "distribute() with the extension's schema as 1.4 has it" \
	"the extension's keys must include shop_id and its policies lose their subqueries (issue 11)" \
	"0" coord "SELECT count(*) FROM customer_tracking_distribution_problems()"

echo "== distribute() with the keys and policies issue 11 asks for"
# Until the extension's schema changes, the test makes by hand the changes that
# customer_tracking_distribution_problems() names for the extension's own tables (each only if
# still needed), to check the rest: the order Citus accepts, the data, the triggers.
if [ "$(sql coord "SELECT count(*) FROM customer_tracking_distribution_problems()")" != 0 ]; then
	echo "note   made by this test: primary keys (id, shop_id) for shop_customers and customer_tracking," \
		"policies without a subquery"
	out=$(ct_citus_psql coord -c "SET client_min_messages = warning" -f - <<'SQL' 2>&1
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.conrelid::regclass AS rel, c.conname FROM pg_constraint c
              WHERE c.contype = 'p' AND c.conrelid IN ('shop_customers'::regclass, 'customer_tracking'::regclass)
                AND NOT (SELECT a.attnum FROM pg_attribute a WHERE a.attrelid = c.conrelid AND a.attname = 'shop_id') = ANY (c.conkey)
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.rel, r.conname);
        EXECUTE format('ALTER TABLE %s ADD PRIMARY KEY (id, shop_id)', r.rel);
    END LOOP;
    FOR r IN SELECT p.polname, p.polrelid::regclass AS rel FROM pg_policy p
              WHERE p.polrelid IN (SELECT format('public.%I', d.table_name)::regclass FROM customer_tracking_distributed_tables() d)
                AND p.polqual::text LIKE '%{SUBLINK %'
    LOOP
        EXECUTE format('DROP POLICY %I ON %s', r.polname, r.rel);
        EXECUTE format('CREATE POLICY %I ON %s FOR SELECT USING (shop_id = ANY (public.customer_tracking_owned_shops()))',
                       r.polname, r.rel);
    END LOOP;
END
$$;
SQL
	) || fail "the extension's schema changed by hand" "$out"
fi
check "no problem left" "0" coord "SELECT count(*) FROM customer_tracking_distribution_problems()"
check "distribute() distributes the 12 tables in an order Citus accepts" \
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
customer_tracking_frequency|by shop_id, colocated with public.shop_orders|distributed" coord \
	"SELECT * FROM customer_tracking_distribute()"
check "2 reference tables; 10 tables by shop_id in one colocation group" "n|t|2|1
h|s|10|1" coord \
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
check "running it again changes nothing" "12|already" coord \
	"SELECT count(*), string_agg(DISTINCT action, ',') FROM customer_tracking_distribute()"

echo "== through the coordinator, after distribution"
i=0
for call in "${DASHBOARD_CALLS[@]}"; do
	got=$(sql coord "$call")
	name="same dashboard result as on one node: ${call:0:60}"
	if [ "$got" = "${DASHBOARD_BEFORE[$i]}" ]; then
		ok "$name"
	elif grep -q 'could not create distributed plan' <<<"$got"; then
		xfail "$name" "Citus cannot plan SQL functions with parameters; $(grep -m1 ERROR <<<"$got")"
	elif grep -q 'cannot execute a distributed query from a query on a shard' <<<"$got"; then
		xfail "$name" "a distributed query nested in one Citus pushed to a worker; $(grep -m1 CONTEXT <<<"$got")"
	else
		fail "$name" "before: ${DASHBOARD_BEFORE[$i]}
after:  $got"
	fi
	i=$((i + 1))
done
xcheck "customer_tracking_verify() through the coordinator" \
	"an SQL function with parameters: Citus cannot plan it (issue 11: make it PL/pgSQL or a distributed function)" \
	"0" coord "SELECT count(*) FROM customer_tracking_verify()"
check "TRUNCATE shop_orders clears the extension's tables (rolled back)" "0|0|0|0" coord \
	"BEGIN; TRUNCATE shop_orders;
	 SELECT (SELECT count(*) FROM shop_orders), (SELECT count(*) FROM shop_customers),
	        (SELECT count(*) FROM customer_tracking), (SELECT count(*) FROM customer_tracking_daily);
	 ROLLBACK;"
skip "orders written through the coordinator or a worker are counted" \
	"not run: the trigger's statements name the extension's tables, so on the worker they go through Citus's planner (shell tables) instead of the colocated shards: the commit-time apply fails ('argument 1: key must not be null': Citus evaluates jsonb_build_object(\$12, 1) in a CASE branch not taken) and recording that in customer_tracking_issues crashes the worker (signal 11 in Citus's fast-path planner, CheckAndBuildDelayedFastPathPlan)"
skip "verify() empty after concurrent writers, shard moves, RLS through the coordinator" \
	"need shard-local writes first (issue 11)"

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

echo
echo "citus_cluster: $PASSED passed, $FAILED failed, $XFAILED expected failures, $XPASSED unexpectedly passing, $SKIPPED skipped"
if [ "$FAILED" -gt 0 ]; then
	ct_citus_log_tail 40
	exit 1
fi
exit 0
