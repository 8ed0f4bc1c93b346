#!/usr/bin/env bash
# Dump/restore round trips of a database using customer_tracking.
#
#   1. source db: host schema (test/fixtures/host-schema.sql), CREATE EXTENSION, the demo orders
#      (test/fixtures/demo-orders.sql: ~300 orders, pending then paid, a refund, a bad phone) plus
#      more refunds, deletions, untrackable orders and overlong text; a second database whose
#      shop_orders uses other column names (customer_tracking.column_map).
#   2. pg_dump -Fc | pg_restore into a fresh empty database. pg_restore runs CREATE EXTENSION before
#      the host tables exist; the install script must notice and leave the attachment (column,
#      foreign key, index, triggers) to the dump.
#   3. pg_dump (plain) | psql into another fresh database.
#   Each restored database must have the same rows in shop_orders (with shop_customer_id) and in
#   every table of the extension, the triggers, foreign keys, policies and RLS flags, an empty
#   customer_tracking_verify(), and must go on tracking new orders (insert, pay, refund, bad phone).
#
# Environment (scripts/test.sh): PGHOST PGPORT PGUSER PGBIN CT_SCRATCH. Exit status 0 = pass.
set -u

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
SCRATCH=${CT_SCRATCH:-$(mktemp -d)}
export PGDATABASE=postgres
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 --no-psqlrc)
SRC=ct_dr_src
MAP=ct_dr_map
DBS=("$SRC" ct_dr_custom ct_dr_plain "$MAP" ct_dr_map_custom)
FAILS=0
T0=$SECONDS

pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*"
	FAILS=$((FAILS + 1))
}
check() { # check DESCRIPTION COMMAND...: PASS if the command succeeds
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
same_numbers() { # same_numbers "1 2.50 3" "1 2.5 3": equal as numbers, non-empty
	[ -n "$1" ] && [ "$(awk '{print $1+0, $2+0, $3+0}' <<<"$1")" = "$(awk '{print $1+0, $2+0, $3+0}' <<<"$2")" ]
}
q() { # q DB SQL: one value, unaligned
	"${PSQL[@]}" -d "$1" -At -c "$2"
}
drop_dbs() {
	local db
	for db in "${DBS[@]}"; do
		"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db" 2>/dev/null
	done
}
cleanup() {
	drop_dbs
	[ -n "${CT_SCRATCH:-}" ] || rm -rf "$SCRATCH"
}
trap cleanup EXIT

die() {
	fail "$*"
	echo "dump_restore: $FAILS failure(s), stopped early"
	exit 1
}

cd "$(dirname "$0")/../.." || die "cannot cd to the repository root"
drop_dbs

# ---------------------------------------------------------------------------------------------
# Source database
# ---------------------------------------------------------------------------------------------
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $SRC" || die "create $SRC"
"${PSQL[@]}" -d "$SRC" -f test/fixtures/host-schema.sql >/dev/null || die "host schema"
"${PSQL[@]}" -d "$SRC" -c "SET client_min_messages = warning; CREATE EXTENSION customer_tracking" ||
	die "CREATE EXTENSION in $SRC"
"${PSQL[@]}" -d "$SRC" -c "SET client_min_messages = error" -f test/fixtures/demo-orders.sql >/dev/null 2>&1 ||
	die "loading test/fixtures/demo-orders.sql"
"${PSQL[@]}" -d "$SRC" >/dev/null 2>&1 <<'SQL' || die "extra orders in $SRC"
SET client_min_messages = error;
-- More of everything: refunds, cancellations, deletions, bad phones, overlong text.
WITH paid AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM shop_orders
               WHERE payment_status IN ('paid', 'completed'))
UPDATE shop_orders o SET payment_status = CASE WHEN p.n % 2 = 0 THEN 'refunded' ELSE 'cancelled' END
  FROM paid p WHERE o.id = p.id AND p.n % 17 = 0;
DELETE FROM shop_orders WHERE id IN (SELECT id FROM shop_orders ORDER BY id LIMIT 5);
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT ('dddddddd-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, s.id, 'Extra ' || i,
       CASE WHEN i % 10 = 0 THEN 'no phone given' WHEN i % 10 = 1 THEN NULL
            ELSE '02' || (4 + i % 3)::text || lpad((1000000 + i % 25)::text, 7, '0') END,
       CASE WHEN i % 2 = 0 THEN 'MTN' ELSE 'Telecel' END, 5 + i % 40,
       CASE WHEN i % 4 = 0 THEN 'pending' ELSE 'paid' END,
       CASE WHEN i % 25 = 0 THEN repeat('long-slug-', 30) ELSE s.shop_slug END,
       now() - i * interval '7 hours'
  FROM generate_series(1, 120) i
  JOIN (SELECT id, shop_slug, row_number() OVER (ORDER BY id) - 1 AS k FROM user_shops) s ON s.k = i % 3;
UPDATE shop_orders SET payment_status = 'paid'
 WHERE id IN (SELECT id FROM shop_orders WHERE id::text LIKE 'dddddddd%' AND payment_status = 'pending' ORDER BY id LIMIT 10);
UPDATE shop_orders SET customer_phone = '0244000111'
 WHERE id = (SELECT id FROM shop_orders WHERE id::text LIKE 'dddddddd%' AND customer_phone = 'no phone given' ORDER BY id LIMIT 1);
SQL

# A second source: shop_orders with other column names and no slug, installed with a mapping.
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $MAP" || die "create $MAP"
"${PSQL[@]}" -d "$MAP" >/dev/null 2>&1 <<'SQL' || die "mapped source $MAP"
SET client_min_messages = error;
CREATE TABLE user_shops (id uuid PRIMARY KEY, user_id uuid NOT NULL);
CREATE TABLE shop_orders (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  shop_id uuid NOT NULL REFERENCES user_shops (id), customer_name text, customer_email text,
  buyer_phone text, network text, amount numeric(12,2) NOT NULL, status text NOT NULL DEFAULT 'pending',
  placed_at timestamptz NOT NULL DEFAULT now());
SET customer_tracking.column_map = 'customer_phone=buyer_phone, total_price=amount, payment_status=status, created_at=placed_at, shop_slug=';
CREATE EXTENSION customer_tracking;
RESET customer_tracking.column_map;
INSERT INTO user_shops VALUES ('a5000000-0000-0000-0000-000000000001', 'b5000000-0000-0000-0000-000000000001');
INSERT INTO shop_orders (shop_id, customer_name, buyer_phone, network, amount, status, placed_at)
SELECT 'a5000000-0000-0000-0000-000000000001', 'M' || i % 9, CASE WHEN i % 13 = 0 THEN 'x' ELSE '0551' || lpad((i % 9)::text, 6, '0') END,
       CASE WHEN i % 3 = 0 THEN 'MTN' ELSE 'Telecel' END, i, CASE WHEN i % 5 = 0 THEN 'pending' ELSE 'paid' END,
       now() - i * interval '1 day'
  FROM generate_series(1, 60) i;
UPDATE shop_orders SET status = 'refunded' WHERE amount IN (7, 14, 21);
SQL

for db in "$SRC" "$MAP"; do
	n=$(q "$db" "SELECT count(*) FROM customer_tracking_verify()") || die "verify in $db"
	[ "$n" = 0 ] || die "source $db is not consistent before the dump: customer_tracking_verify() has $n rows"
done
echo "sources: $SRC $(q "$SRC" "SELECT count(*) || ' orders, ' || count(shop_customer_id) || ' linked' FROM shop_orders")," \
	"$(q "$SRC" "SELECT count(*) || ' customers' FROM shop_customers"), $(q "$SRC" "SELECT count(*) || ' issues' FROM customer_tracking_issues");" \
	"$MAP $(q "$MAP" "SELECT count(*) || ' orders' FROM shop_orders")"

# ---------------------------------------------------------------------------------------------
# What must survive: every row of the host tables and of the extension's tables, and the objects.
# ---------------------------------------------------------------------------------------------
# One line per table: name, row count, md5 of the sorted rows. Tables: the host's and every table
# that belongs to the extension (so tables added later are covered too), but the visit salt and
# the day's visitor hashes, which are not dumped by design (the restore makes new salts).
fingerprint() {
	"${PSQL[@]}" -d "$1" -At <<'SQL'
SELECT format('SELECT %L || '' '' || count(*) || '' '' || coalesce(md5(string_agg(t::text, E''\n'' ORDER BY t::text)), ''-'') FROM %s t',
              c.relname, c.oid::regclass)
  FROM pg_class c
 WHERE c.relkind = 'r'
   AND c.relname NOT IN ('customer_tracking_visit_salt', 'customer_tracking_visitors')
   AND (c.relname IN ('shop_orders', 'user_shops')
        OR c.oid IN (SELECT objid FROM pg_depend WHERE classid = 'pg_class'::regclass AND deptype = 'e'
                        AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'customer_tracking')))
 ORDER BY c.relname
\gexec
SQL
}
# The attachment and the security objects.
objects() {
	"${PSQL[@]}" -d "$1" -At <<'SQL'
SELECT 'trigger ' || tgname || ' ' || tgenabled::text || ' ' || pg_get_triggerdef(oid)
  FROM pg_trigger WHERE tgrelid = 'shop_orders'::regclass AND NOT tgisinternal
UNION ALL
SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE conrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace) AND contype IN ('f', 'p', 'u', 'c')
UNION ALL
SELECT 'index ' || indexrelid::regclass || ' ' || pg_get_indexdef(indexrelid)
  FROM pg_index WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)
UNION ALL
SELECT 'policy ' || polrelid::regclass || ' ' || polname || ' ' || polcmd::text || ' ' || pg_get_expr(polqual, polrelid)
  FROM pg_policy
UNION ALL
SELECT 'rls ' || oid::regclass || ' ' || relrowsecurity || ' ' || relforcerowsecurity
  FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'
UNION ALL
SELECT 'acl ' || oid::regclass || ' ' || coalesce(relacl::text, '-')
  FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'v')
UNION ALL
SELECT 'extension ' || extname || ' ' || extversion || ' ' || coalesce(extconfig::regclass[]::text, '-')
  FROM pg_extension
UNION ALL
SELECT 'column shop_orders.' || attname || ' ' || format_type(atttypid, atttypmod)
  FROM pg_attribute WHERE attrelid = 'shop_orders'::regclass AND attnum > 0 AND NOT attisdropped
ORDER BY 1
SQL
}

# compare SOURCE_DB RESTORED_DB LABEL
compare() {
	local src=$1 dst=$2 label=$3 a b
	a=$(fingerprint "$src") || { fail "$label: fingerprint of $src"; return; }
	b=$(fingerprint "$dst") || { fail "$label: fingerprint of $dst"; return; }
	if [ "$a" = "$b" ]; then
		pass "$label: same rows in $(echo "$a" | wc -l) tables ($(echo "$a" | awk '{printf "%s%s=%s", (NR>1?", ":""), $1, $2}'))"
	else
		fail "$label: rows differ (table, count, md5: - source, + restored)"
		diff <(echo "$a") <(echo "$b") | sed 's/^/    /'
	fi
	a=$(objects "$src") || { fail "$label: objects of $src"; return; }
	b=$(objects "$dst") || { fail "$label: objects of $dst"; return; }
	if [ "$a" = "$b" ]; then
		pass "$label: same triggers, constraints, indexes, policies, RLS flags, grants ($(echo "$a" | wc -l) items)"
	else
		fail "$label: objects differ (- source, + restored)"
		diff <(echo "$a") <(echo "$b") | sed 's/^/    /'
	fi
	# The essentials, named (so a change that drops them in both databases is still caught).
	local want
	for want in "trigger customer_tracking_link O" "trigger customer_tracking_track O" \
		"trigger customer_tracking_truncate O" \
		"index idx_shop_orders_customer_id" "rls shop_customers true" "rls customer_tracking true" \
		"rls customer_tracking_issues true" "policy shop_customers shop_customers_owner_select" \
		"policy customer_tracking customer_tracking_owner_select" \
		"policy customer_tracking_issues customer_tracking_issues_owner_select"; do
		if ! grep -qF -- "$want" <<<"$b"; then
			fail "$label: missing in $dst: $want"
		fi
	done
	local n
	n=$(q "$dst" "SELECT count(*) FROM customer_tracking_verify()")
	check "$label: customer_tracking_verify() is empty after the restore ($n rows)" [ "$n" = 0 ]
}

# after_restore DB LABEL: new orders in the restored database are tracked.
after_restore() {
	local db=$1 label=$2 out
	out=$("${PSQL[@]}" -d "$db" -At 2>&1 <<'SQL'
SET client_min_messages = warning;
\set shop '''11111111-1111-4111-8111-111111111111'''
-- A customer of the shop (linked, with purchases), found from the data.
SELECT phone_number AS phone, total_purchases AS p0, total_spent AS s0, total_orders AS o0
  FROM shop_customers WHERE shop_id = :shop AND total_purchases > 0 ORDER BY phone_number LIMIT 1 \gset
SELECT coalesce(sum(total_purchases), 0) AS n0, coalesce(sum(total_spent), 0) AS ns0 FROM shop_customers
 WHERE shop_id = :shop AND phone_number = '+233209990001' \gset
SELECT id AS refund_id, total_price AS refund_amount FROM shop_orders
 WHERE shop_id = :shop AND payment_status IN ('paid', 'completed') AND shop_customer_id = customer_tracking_customer_id(:shop, :'phone')
 ORDER BY id LIMIT 1 \gset
-- Paid at once (phone written another way), pending then paid, a refund, a bad phone.
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('eeeeeeee-0000-4000-8000-000000000001', :shop, '+' || substr(:'phone', 2, 3) || ' ' || substr(:'phone', 5), 'MTN', 11.00, 'paid', now()),
  ('eeeeeeee-0000-4000-8000-000000000002', :shop, :'phone', 'MTN', 12.00, 'pending', now()),
  ('eeeeeeee-0000-4000-8000-000000000003', :shop, 'call the office', 'MTN', 13.00, 'paid', now()),
  ('eeeeeeee-0000-4000-8000-000000000004', :shop, '0209990001', 'Telecel', 14.00, 'paid', now());
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'eeeeeeee-0000-4000-8000-000000000002';
UPDATE shop_orders SET payment_status = 'refunded' WHERE id = :'refund_id';
SELECT 'customer ' || (total_purchases - :p0) || ' ' || (total_spent - :s0) || ' ' || (total_orders - :o0)
  FROM shop_customers WHERE shop_id = :shop AND phone_number = :'phone';
SELECT 'expected ' || (2 - 1) || ' ' || (11.00 + 12.00 - :refund_amount) || ' 2';
SELECT 'new ' || (total_purchases - :n0) || ' ' || (total_spent - :ns0) FROM shop_customers WHERE shop_id = :shop AND phone_number = '+233209990001';
SELECT 'untracked ' || string_agg(reason, ',') FROM customer_tracking_untracked WHERE shop_order_id = 'eeeeeeee-0000-4000-8000-000000000003';
SELECT 'linked ' || count(*) FILTER (WHERE shop_customer_id IS NOT NULL) || '/' || count(*) FROM shop_orders WHERE id::text LIKE 'eeeeeeee%';
SELECT 'verify ' || count(*) FROM customer_tracking_verify();
SQL
	) || { fail "$label: new orders in the restored database: $out"; return; }
	local cust exp
	cust=$(sed -n 's/^customer //p' <<<"$out")
	exp=$(sed -n 's/^expected //p' <<<"$out")
	check "$label: an existing customer gains the new purchases and loses the refund (delta purchases/spent/orders: $cust, expected $exp)" \
		same_numbers "$cust" "$exp"
	check "$label: the purchase of a new phone is counted ($(sed -n 's/^new //p' <<<"$out"))" grep -qx 'new 1 14.00' <<<"$out"
	check "$label: an untrackable order is listed ($(sed -n 's/^untracked //p' <<<"$out"))" grep -qx 'untracked invalid_phone' <<<"$out"
	check "$label: the new orders are linked ($(sed -n 's/^linked //p' <<<"$out"))" grep -qx 'linked 3/4' <<<"$out"
	check "$label: customer_tracking_verify() is empty after the new orders ($(sed -n 's/^verify //p' <<<"$out") rows)" grep -qx 'verify 0' <<<"$out"
}

# after_restore_mapped DB LABEL: the restored mapping is used.
after_restore_mapped() {
	local db=$1 label=$2 out
	out=$("${PSQL[@]}" -d "$db" -At 2>&1 <<'SQL'
SET client_min_messages = warning;
INSERT INTO shop_orders (id, shop_id, buyer_phone, network, amount, status, placed_at) VALUES
  ('eeeeeeee-0000-4000-8000-000000000011', 'a5000000-0000-0000-0000-000000000001', '0551 000 001', 'MTN', 100.00, 'pending', now());
UPDATE shop_orders SET status = 'paid' WHERE id = 'eeeeeeee-0000-4000-8000-000000000011';
SELECT 'linked ' || (shop_customer_id = customer_tracking_customer_id(shop_id, '+233551000001'))
  FROM shop_orders WHERE id = 'eeeeeeee-0000-4000-8000-000000000011';
SELECT 'tracked ' || purchase_completed || ' ' || purchase_amount FROM customer_tracking WHERE id = 'eeeeeeee-0000-4000-8000-000000000011';
SELECT 'verify ' || count(*) FROM customer_tracking_verify();
SQL
	) || { fail "$label: new orders in the restored database: $out"; return; }
	check "$label: a new order is tracked through the restored column mapping" \
		grep -qx 'linked true' <<<"$out"
	check "$label: its payment is counted" grep -qx 'tracked true 100.00' <<<"$out"
	check "$label: customer_tracking_verify() is empty after the new order" grep -qx 'verify 0' <<<"$out"
}

# ---------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------
# restore_custom SOURCE TARGET LABEL: pg_dump -Fc, pg_restore into a fresh empty database.
restore_custom() {
	local src=$1 dst=$2 label=$3 dump="$SCRATCH/$1.dump" log="$SCRATCH/$2.restore.log"
	"$PGBIN/pg_dump" -Fc -d "$src" -f "$dump" 2>"$log.dump" || {
		fail "$label: pg_dump -Fc $src"
		sed 's/^/    /' "$log.dump"
		return 1
	}
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE $dst TEMPLATE template0" || return 1
	if "$PGBIN/pg_restore" --exit-on-error -d "$dst" "$dump" >"$log" 2>&1; then
		pass "$label: pg_restore into an empty database succeeded"
	else
		fail "$label: pg_restore failed"
		sed 's/^/    /' "$log"
		return 1
	fi
}
# restore_plain SOURCE TARGET LABEL: pg_dump | psql into a fresh empty database.
restore_plain() {
	local src=$1 dst=$2 label=$3 log="$SCRATCH/$2.restore.log"
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE $dst TEMPLATE template0" || return 1
	if "$PGBIN/pg_dump" -d "$src" 2>"$log.dump" |
		"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 --no-psqlrc -d "$dst" >"$log" 2>&1 &&
		[ ! -s "$log.dump" ]; then
		pass "$label: pg_dump | psql into an empty database succeeded"
	else
		fail "$label: pg_dump | psql failed"
		sed 's/^/    /' "$log.dump" "$log"
		return 1
	fi
}

if restore_custom "$SRC" ct_dr_custom "custom format"; then
	compare "$SRC" ct_dr_custom "custom format"
	after_restore ct_dr_custom "custom format"
fi
if restore_plain "$SRC" ct_dr_plain "plain format"; then
	compare "$SRC" ct_dr_plain "plain format"
	after_restore ct_dr_plain "plain format"
fi
if restore_custom "$MAP" ct_dr_map_custom "mapped columns, custom format"; then
	compare "$MAP" ct_dr_map_custom "mapped columns, custom format"
	after_restore_mapped ct_dr_map_custom "mapped columns, custom format"
fi

echo "dump_restore: $FAILS failure(s), $((SECONDS - T0)) s"
[ "$FAILS" -eq 0 ]
