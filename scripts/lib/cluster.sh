# shellcheck shell=bash
# Throwaway PostgreSQL 15 cluster for tests and the demo. Source this file, then:
#
#   ct_cluster_start        # initdb + start in a fresh temp dir; exports PGHOST PGPORT PGUSER
#                           # PGDATA PGBIN CT_CLUSTER_DIR CT_CLUSTER_LOG CT_PG_RUNAS
#   ct_as_pg CMD...         # run CMD as the cluster owner (postgres when we are root)
#   ct_cluster_restart      # pg_ctl restart (e.g. after a crash test)
#   ct_cluster_ensure_up    # start the server again if a test stopped or crashed it
#   ct_cluster_stop         # stop the server and delete the temp dir (safe to call twice)
#
# The server listens only on a unix socket inside the temp dir (listen_addresses = ''), with
# trust authentication and superuser "postgres". When run as root, initdb and the postmaster run
# as the OS user postgres (via runuser); clients (make installcheck, psql) may stay root and
# connect as PGUSER=postgres over the socket.
#
# Tunables (environment): PG_CONFIG (default /usr/lib/postgresql/15/bin/pg_config),
# CT_TMP_BASE (default /tmp; keep it short, socket paths are limited to 107 bytes),
# CT_PG_EXTRA_CONF (extra postgresql.conf lines).

: "${PG_CONFIG:=/usr/lib/postgresql/15/bin/pg_config}"

CT_CLUSTER_DIR=${CT_CLUSTER_DIR:-}

ct_as_pg()
{
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

_ct_port_free()
{
	local port=$1
	# Something accepting TCP connections on it?
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		return 1
	fi
	# Another cluster with its socket in the default place?
	[ ! -e "/tmp/.s.PGSQL.$port" ] && [ ! -e "/var/run/postgresql/.s.PGSQL.$port" ]
}

ct_cluster_start()
{
	local base=${CT_TMP_BASE:-/tmp} port="" _
	PGBIN=$("$PG_CONFIG" --bindir) || { echo "cluster: cannot run $PG_CONFIG (set PG_CONFIG)" >&2; return 1; }
	export PGBIN

	if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
		echo "cluster: running as root but there is no OS user 'postgres' (install postgresql-15)" >&2
		return 1
	fi

	CT_CLUSTER_DIR=$(mktemp -d "$base/ct-pg.XXXXXX") || return 1
	export CT_CLUSTER_DIR
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres:postgres "$CT_CLUSTER_DIR"
		CT_PG_RUNAS="runuser -u postgres --"
	else
		CT_PG_RUNAS=""
	fi
	export CT_PG_RUNAS
	chmod 700 "$CT_CLUSTER_DIR"

	for _ in $(seq 1 100); do
		port=$((54321 + RANDOM % 2000))
		if _ct_port_free "$port"; then
			break
		fi
		port=""
	done
	if [ -z "$port" ]; then
		echo "cluster: no free port found" >&2
		return 1
	fi

	export PGDATA="$CT_CLUSTER_DIR/data"
	export CT_CLUSTER_LOG="$CT_CLUSTER_DIR/server.log"
	if ! ct_as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C \
		--no-sync --no-instructions >"$CT_CLUSTER_DIR/initdb.log" 2>&1; then
		echo "cluster: initdb failed:" >&2
		cat "$CT_CLUSTER_DIR/initdb.log" >&2
		return 1
	fi

	ct_as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null <<CONF

# --- customer_tracking throwaway test cluster ---
listen_addresses = ''
unix_socket_directories = '$CT_CLUSTER_DIR'
port = $port
# fsync off is safe for process crashes (kill -9, segfault): only an OS crash loses data.
# synchronous_commit stays on: with it off, a backend crash can lose just-committed rows.
fsync = off
full_page_writes = off
max_connections = 60
max_prepared_transactions = 10
log_line_prefix = '%m [%p] %q%a '
log_min_messages = warning
${CT_PG_EXTRA_CONF:-}
CONF

	export PGHOST="$CT_CLUSTER_DIR" PGPORT="$port" PGUSER=postgres
	if ! ct_as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$CT_CLUSTER_LOG" -w -t 60 start >/dev/null; then
		echo "cluster: server failed to start; log:" >&2
		cat "$CT_CLUSTER_LOG" >&2 || true
		return 1
	fi
	echo "cluster: PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}') up, PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER"
}

ct_cluster_running()
{
	[ -n "${PGDATA:-}" ] && [ -d "$PGDATA" ] && ct_as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

ct_cluster_restart()
{
	ct_as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$CT_CLUSTER_LOG" -w -t 60 -m fast restart >/dev/null
}

ct_cluster_ensure_up()
{
	if ! ct_cluster_running; then
		ct_as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$CT_CLUSTER_LOG" -w -t 60 start >/dev/null
	fi
}

ct_cluster_stop()
{
	if [ -z "${CT_CLUSTER_DIR:-}" ] || [ ! -d "$CT_CLUSTER_DIR" ]; then
		return 0
	fi
	if [ -d "${PGDATA:-}" ]; then
		ct_as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			ct_as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
	fi
	rm -rf "$CT_CLUSTER_DIR"
	CT_CLUSTER_DIR=""
}

# Print the tail of the server log (for failure reports).
ct_cluster_log_tail()
{
	local n=${1:-80}
	if [ -n "${CT_CLUSTER_LOG:-}" ] && [ -f "$CT_CLUSTER_LOG" ]; then
		echo "----- last $n lines of the server log ($CT_CLUSTER_LOG) -----"
		tail -n "$n" "$CT_CLUSTER_LOG"
		echo "-----"
	fi
}
