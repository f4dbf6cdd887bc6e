#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Unmodified PostgreSQL, a forking server (the postmaster accepts, then
# forks a backend for each connection), in guest b, pgbench and psql in
# guest a, in each mode of app-lib.sh (plain, library at both ends,
# client only, server only). One cluster, made by initdb in the run dir
# as the postgres user, listening on b's address with trust for
# 198.18.0.0/15 only; each mode starts it afresh and
#   - pgbench -i (scale 1: 100000 accounts, loaded by COPY), then the
#     accounts' balances set to a function of their ids by one UPDATE;
#   - pgbench -S -T 5 -c 4 (read-only): transactions done, none failed;
#   - the count, sum and an md5 of all (aid, abalance) pairs, and all of
#     pgbench_accounts by COPY TO STDOUT (10 MB) by sha256: identical to
#     the plain run.
# With the library at both ends at least $XL_PG_MIN_RING percent (99) of
# each step's payload must go by the rings, and none with one end plain:
# the postmaster forks a backend per connection before its channel
# comes, and the backend claims it (docs/protocol.md §4.1).
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/app-lib.sh"

# the newest installed server's own programs (/usr/bin's are wrappers)
PGBIN=${XL_PG_BIN:-}
if [ -z "$PGBIN" ]; then
	for d in /usr/lib/postgresql/*/bin; do
		[ -d "$d" ] && PGBIN=$d
	done
fi
for p in postgres initdb pg_ctl pg_isready pgbench psql; do
	[ -x "$PGBIN/$p" ] || xl_skip "needs PostgreSQL's $p"
done
id postgres >/dev/null 2>&1 || xl_skip "needs the postgres user"
xl_require_cmd setpriv sha256sum
app_require_preloadable "$PGBIN/postgres" "$PGBIN/psql" "$PGBIN/pgbench"
PORT=5432
SECS=${XL_PG_SECS:-5}
app_setup postgres
APP_MIN_RING=${XL_PG_MIN_RING:-99}

# the cluster, its sockets and logs belong to postgres, who must reach
# them and the daemons' sockets (0666) through the run dir
chmod 711 "$XL_RUNDIR"
PGDATA=$APP_DIR/pgdata
PGSOCK=$APP_DIR/pgsock
install -d -o postgres -g postgres -m 700 "$PGDATA" "$PGSOCK"
as_pg() {
	setpriv --reuid=postgres --regid=postgres --init-groups "$@"
}

# postgres and its backends die with the test, whatever way it ends
pg_cleanup() {
	local rc=$?
	as_pg "$PGBIN/pg_ctl" stop -D "$PGDATA" -m immediate -t 5 \
		>/dev/null 2>&1 || true
	(exit $rc)
	xl_cleanup
}
trap pg_cleanup EXIT INT TERM

as_pg timeout 120 "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust \
	-E UTF8 --locale=C --no-sync >"$APP_DIR/initdb.log" 2>&1 ||
	xl_fail "initdb: $(tail -n 5 "$APP_DIR/initdb.log")"
cat >>"$PGDATA/postgresql.conf" <<EOF
# the test's own
listen_addresses = '$XL_ADDR_B'
port = $PORT
unix_socket_directories = '$PGSOCK'
max_connections = 20
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
EOF
cat >"$PGDATA/pg_hba.conf" <<EOF
# the test's own: the guests' range only
local all all trust
host all all 198.18.0.0/15 trust
EOF

# psql in guest a, in MODE
pgq() {
	local mode=$1
	shift
	app_cli "$mode" 60 "$PGBIN/psql" -X -q -h "$XL_ADDR_B" -p $PORT \
		-U postgres -v ON_ERROR_STOP=1 "$@" postgres
}

pg_ready() {
	ip netns exec "$XL_NS_B" "$PGBIN/pg_isready" -q -h "$XL_ADDR_B" \
		-p $PORT -t 2
}

pg_mode() {
	local mode=$1 out=$APP_DIR/$1.out log=$APP_DIR/$1 rc=0
	app_argv srv "$mode"
	xl_bg timeout -k 3 120 "${APP_ARGV[@]}" setpriv --reuid=postgres \
		--regid=postgres --init-groups "$PGBIN/postgres" -D "$PGDATA" \
		>"$log.server.log" 2>&1
	APP_SRV_PID=$XL_LAST_PID
	if ! app_srv_wait $PORT 30 || ! xl_wait_for 30 pg_ready; then
		app_bad "$mode" "postgres does not answer:" \
			"$(tail -n 5 "$log.server.log")"
		app_srv_stop
		return 1
	fi
	: >"$out"
	if app_cli "$mode" 60 "$PGBIN/pgbench" -h "$XL_ADDR_B" -p $PORT \
		-U postgres -i -s 1 -q postgres >"$log.init" 2>&1 &&
		pgq "$mode" -c "UPDATE pgbench_accounts
			SET abalance = (aid * 7919) % 10007 - 5003" \
			>>"$log.init" 2>&1; then
		echo "pgbench -i: done" >>"$out"
	else
		app_bad "$mode" "pgbench -i: $(tail -n 5 "$log.init")"
		rc=1
	fi
	app_step "$mode" "pgbench -i"
	if app_cli "$mode" $((SECS + 60)) "$PGBIN/pgbench" -h "$XL_ADDR_B" \
		-p $PORT -U postgres -S -T "$SECS" -c 4 -j 2 -n postgres \
		>"$log.bench" 2>&1 &&
		grep -Eq '^number of transactions actually processed: [1-9]' \
			"$log.bench" &&
		! grep -Eq '^number of failed transactions: [1-9]' "$log.bench"
	then
		echo "pgbench -S: transactions done, none failed" >>"$out"
		app_log "$mode: pgbench -S: $(grep -E '^(number of trans|tps)' \
			"$log.bench" | tr -s '\n' ' ')"
	else
		app_bad "$mode" "pgbench -S: $(tail -n 8 "$log.bench")"
		rc=1
	fi
	app_step "$mode" "pgbench -S -T $SECS -c 4" timed
	{
		echo "accounts: $(pgq "$mode" -At -c "SELECT count(*),
			sum(abalance), md5(string_agg(aid || ':' || abalance,
			',' ORDER BY aid)) FROM pgbench_accounts")"
		echo "copy: $(pgq "$mode" -c '\copy pgbench_accounts to stdout' |
			sha256sum)"
	} >>"$out" 2>"$log.psql.err"
	app_step "$mode" "the sums and COPY out"
	app_srv_stop
	app_log "$mode: $(grep '^accounts\|^copy' "$out" | tr -s '\n -' ' ')"
	grep -Eq '^accounts: 100000\|-?[0-9]+\|[0-9a-f]{32}$' "$out" ||
		app_bad "$mode" "the accounts: $(grep '^accounts' "$out")" \
			"$(cat "$log.psql.err")" || rc=1
	return $rc
}

app_run_modes pg_mode
