# shellcheck shell=bash
# Throwaway Citus cluster for tests: a coordinator and two workers on loopback ports, each a
# PostgreSQL 15 with shared_preload_libraries = 'citus', in one temp dir. Source this file, then:
#
#   ct_citus_start          # initdb x3, start, CREATE EXTENSION citus on each node,
#                           # citus_set_coordinator_host + citus_add_node x2 on the coordinator;
#                           # exports CT_CITUS_DIR CT_CITUS_HOST CT_CITUS_SOCKET
#                           # CT_CITUS_PORT_COORD CT_CITUS_PORT_W1 CT_CITUS_PORT_W2 CT_CITUS_DB
#   ct_citus_psql NODE ARGS # psql (-X -v ON_ERROR_STOP=1 -q) on NODE (coord, w1, w2, w3) as postgres
#   ct_citus_add_worker     # a third worker w3 (initdb, start, CREATE EXTENSION citus), added to
#                           # the cluster with citus_add_node; exports CT_CITUS_PORT_W3
#   ct_citus_port NODE      # the port of NODE
#   ct_citus_running        # all three servers up?
#   ct_citus_log_tail [N]   # last N lines of each node's log
#   ct_citus_stop           # stop the three servers and delete the temp dir (safe to call twice)
#
# Conventions as in scripts/lib/cluster.sh (which this sources for ct_as_pg and the free-port
# check): the OS user postgres owns the data dirs when we are root, trust authentication, the
# unix sockets are in the temp dir. The nodes also listen on 127.0.0.1 (Citus connects between
# nodes over TCP, with the names registered in pg_dist_node: 127.0.0.1 and each port).
# The single-node variables (PGHOST, PGPORT, PGDATA, ...) are left alone, so a test script run by
# scripts/test.sh can use both clusters.
#
# Settings every node gets (on top of cluster.sh's test settings):
#   shared_preload_libraries = 'citus'
#   max_prepared_transactions = 20       Citus commits multi-node writes with 2PC
#   citus.node_conninfo = 'sslmode=disable'  loopback only; no TLS handshakes in tests
#   citus.enable_unsafe_triggers = on    triggers on distributed tables (customer_tracking's
#                                        triggers on shop_orders) are refused without it; Citus
#                                        then creates them on every shard and they fire there
#   citus.log_remote_commands is off; set CT_CITUS_EXTRA_CONF for more lines.
#
# Tunables (environment): PG_CONFIG, CT_TMP_BASE (as cluster.sh), CT_CITUS_EXTRA_CONF,
# CT_CITUS_DB (default postgres: Citus is created in that database on each node).

# shellcheck source=scripts/lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"

CT_CITUS_DIR=${CT_CITUS_DIR:-}
CT_CITUS_NODES=(coord w1 w2)

ct_citus_port()
{
	case "$1" in
		coord) echo "$CT_CITUS_PORT_COORD" ;;
		w1) echo "$CT_CITUS_PORT_W1" ;;
		w2) echo "$CT_CITUS_PORT_W2" ;;
		w3) echo "${CT_CITUS_PORT_W3:?no worker w3 (ct_citus_add_worker)}" ;;
		*) echo "ct_citus_port: unknown node $1 (coord, w1, w2 or w3)" >&2; return 1 ;;
	esac
}

ct_citus_psql()
{
	local node=$1 port
	shift
	port=$(ct_citus_port "$node") || return 1
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$CT_CITUS_SOCKET" -p "$port" -U postgres \
		-d "$CT_CITUS_DB" "$@"
}

_ct_citus_pg_ctl()
{
	local node=$1
	shift
	ct_as_pg "$PGBIN/pg_ctl" -D "$CT_CITUS_DIR/$node" -l "$CT_CITUS_DIR/$node.log" "$@"
}

# _ct_citus_init_node NODE: a free port, initdb, the settings, start.
_ct_citus_init_node()
{
	local node=$1 port _
	port=""
	for _ in $(seq 1 200); do
		# Below Linux's ephemeral range (32768-60999): a port there may be bound by an
		# outgoing connection (Citus opens many), which no probe sees and bind() refuses.
		port=$((26400 + RANDOM % 3000))
		if [[ $_CT_CITUS_USED != *" $port "* ]] && _ct_port_free "$port"; then
			break
		fi
		port=""
	done
	if [ -z "$port" ]; then
		echo "citus cluster: no free port found" >&2
		return 1
	fi
	_CT_CITUS_USED+="$port "
	case "$node" in
		coord) export CT_CITUS_PORT_COORD=$port ;;
		w1) export CT_CITUS_PORT_W1=$port ;;
		w2) export CT_CITUS_PORT_W2=$port ;;
		w3) export CT_CITUS_PORT_W3=$port ;;
	esac

	if ! ct_as_pg "$PGBIN/initdb" -D "$CT_CITUS_DIR/$node" -U postgres --auth=trust -E UTF8 \
		--locale=C --no-sync --no-instructions >"$CT_CITUS_DIR/$node.initdb.log" 2>&1; then
		echo "citus cluster: initdb of $node failed:" >&2
		cat "$CT_CITUS_DIR/$node.initdb.log" >&2
		return 1
	fi
	ct_as_pg tee -a "$CT_CITUS_DIR/$node/postgresql.conf" >/dev/null <<CONF

# --- customer_tracking throwaway Citus test cluster: node $node ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$CT_CITUS_DIR'
port = $port
shared_preload_libraries = 'citus'
fsync = off
full_page_writes = off
max_connections = 80
max_prepared_transactions = 20
shared_buffers = 32MB
log_line_prefix = '%m [%p] $node %q%a '
log_min_messages = warning
citus.node_conninfo = 'sslmode=disable'
citus.enable_unsafe_triggers = on
${CT_CITUS_EXTRA_CONF:-}
CONF
	if ! _ct_citus_pg_ctl "$node" -w -t 60 start >/dev/null; then
		echo "citus cluster: $node failed to start; log:" >&2
		cat "$CT_CITUS_DIR/$node.log" >&2 || true
		return 1
	fi
}

ct_citus_start()
{
	local base=${CT_TMP_BASE:-/tmp} node
	CT_CITUS_NODES=(coord w1 w2)
	PGBIN=$("$PG_CONFIG" --bindir) || { echo "citus cluster: cannot run $PG_CONFIG" >&2; return 1; }
	export PGBIN
	if [ ! -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
		echo "citus cluster: Citus is not installed (run scripts/install-citus.sh)" >&2
		return 1
	fi
	if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
		echo "citus cluster: running as root but there is no OS user 'postgres'" >&2
		return 1
	fi

	CT_CITUS_DIR=$(mktemp -d "$base/ct-citus.XXXXXX") || return 1
	export CT_CITUS_DIR
	[ "$(id -u)" -ne 0 ] || chown postgres:postgres "$CT_CITUS_DIR"
	chmod 700 "$CT_CITUS_DIR"
	export CT_CITUS_SOCKET=$CT_CITUS_DIR CT_CITUS_HOST=127.0.0.1 CT_CITUS_DB=${CT_CITUS_DB:-postgres}

	_CT_CITUS_USED=" "
	for node in "${CT_CITUS_NODES[@]}"; do
		_ct_citus_init_node "$node" || return 1
	done

	for node in "${CT_CITUS_NODES[@]}"; do
		if [ "$CT_CITUS_DB" != postgres ]; then
			ct_citus_psql "$node" -d postgres -c "CREATE DATABASE \"$CT_CITUS_DB\"" || return 1
		fi
		ct_citus_psql "$node" -c "CREATE EXTENSION citus" || {
			echo "citus cluster: CREATE EXTENSION citus failed on $node" >&2
			return 1
		}
	done
	ct_citus_psql coord -o /dev/null <<SQL || { echo "citus cluster: adding the nodes failed" >&2; return 1; }
SELECT citus_set_coordinator_host('$CT_CITUS_HOST', $CT_CITUS_PORT_COORD);
SELECT citus_add_node('$CT_CITUS_HOST', $CT_CITUS_PORT_W1);
SELECT citus_add_node('$CT_CITUS_HOST', $CT_CITUS_PORT_W2);
SQL
	echo "citus cluster: coordinator :$CT_CITUS_PORT_COORD, workers :$CT_CITUS_PORT_W1 :$CT_CITUS_PORT_W2" \
		"(Citus $(ct_citus_psql coord -Atc "SELECT extversion FROM pg_extension WHERE extname = 'citus'")," \
		"sockets in $CT_CITUS_SOCKET)"
}

ct_citus_add_worker()
{
	_ct_citus_init_node w3 || return 1
	CT_CITUS_NODES=(coord w1 w2 w3)
	if [ "$CT_CITUS_DB" != postgres ]; then
		ct_citus_psql w3 -d postgres -c "CREATE DATABASE \"$CT_CITUS_DB\"" || return 1
	fi
	if ! ct_citus_psql w3 -c "CREATE EXTENSION citus" ||
		! ct_citus_psql coord -o /dev/null -c "SELECT citus_add_node('$CT_CITUS_HOST', $CT_CITUS_PORT_W3)"; then
		echo "citus cluster: adding worker w3 failed" >&2
		return 1
	fi
}

ct_citus_running()
{
	local node
	[ -n "${CT_CITUS_DIR:-}" ] && [ -d "$CT_CITUS_DIR" ] || return 1
	for node in "${CT_CITUS_NODES[@]}"; do
		ct_as_pg "$PGBIN/pg_ctl" -D "$CT_CITUS_DIR/$node" status >/dev/null 2>&1 || return 1
	done
}

ct_citus_stop()
{
	local node
	if [ -z "${CT_CITUS_DIR:-}" ] || [ ! -d "$CT_CITUS_DIR" ]; then
		return 0
	fi
	for node in "${CT_CITUS_NODES[@]}"; do
		[ -d "$CT_CITUS_DIR/$node" ] || continue
		ct_as_pg "$PGBIN/pg_ctl" -D "$CT_CITUS_DIR/$node" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			ct_as_pg "$PGBIN/pg_ctl" -D "$CT_CITUS_DIR/$node" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
			true
	done
	rm -rf "$CT_CITUS_DIR"
	CT_CITUS_DIR=""
}

ct_citus_log_tail()
{
	local n=${1:-60} node
	for node in "${CT_CITUS_NODES[@]}"; do
		if [ -n "${CT_CITUS_DIR:-}" ] && [ -f "$CT_CITUS_DIR/$node.log" ]; then
			echo "----- last $n lines of the $node log -----"
			tail -n "$n" "$CT_CITUS_DIR/$node.log"
		fi
	done
	echo "-----"
}
