#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Unmodified redis-server (an event-loop server: one thread, epoll) in
# guest b, redis-benchmark and redis-cli in guest a, in each mode of
# app-lib.sh (plain, library at both ends, client only, server only):
#   - redis-benchmark -n 10000 -c 50 -t set,get,ping, and again with
#     -P 16: every test completes, with no error;
#   - a bulk load through redis-cli --pipe of $XL_REDIS_KEYS SET commands
#     (every 100th value $XL_REDIS_BIG bytes, 32 KiB, the rest up to 200
#     bytes): no error, one reply per command;
#   - DBSIZE and DEBUG DIGEST (the server's digest of its whole data set)
#     after the benchmarks and after the load, the sorted key list through
#     SCAN, and an MGET of the large values (32 MB back) by sha256:
#     identical to the plain run;
#   - redis-benchmark with a new connection for each request (-k 0: 500
#     SET and 500 GET of 10 kB values by 10 clients), then DBSIZE and
#     DEBUG DIGEST again.
# With the library at both ends at least 99% of each step's payload must
# go by the rings, and none with the library at one end only.
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/app-lib.sh"

xl_require_cmd redis-server redis-cli redis-benchmark sha256sum
KEYS=${XL_REDIS_KEYS:-100000}
BIG=${XL_REDIS_BIG:-32768}
PORT=6379
# requests of each redis-benchmark test: enough that a connection's first
# round trips, which go by TCP until its channel comes, are well under 1%
# (10000 gave 98-99.3% on rings on a loaded machine; 40000 made the runs
# with the library at the client only so long that the part after its
# registrations timed out, which the library does not count, passed 10%)
BENCH_N=${XL_REDIS_BENCH_N:-20000}
app_setup redis

# the bulk load in the Redis protocol, and the MGET of its large values
"$XL_PY" - "$KEYS" "$BIG" "$APP_DIR/load.resp" "$APP_DIR/big.keys" <<'EOF'
import hashlib, sys
n, size, out, big = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], \
    sys.argv[4]
def cmd(*args):
    b = b"*%d\r\n" % len(args)
    for a in args:
        b += b"$%d\r\n%s\r\n" % (len(a), a)
    return b
with open(out, "wb") as f, open(big, "w") as g:
    for i in range(n):
        h = hashlib.sha256(b"%d" % i).hexdigest().encode()
        if i % 100 == 7:
            v = (h * (size // 64 + 1))[:size]
            g.write("load:%d\n" % i)
        else:
            v = (h * 4)[:16 + i % 185]
        f.write(cmd(b"SET", b"load:%d" % i, v))
EOF

# redis-benchmark --csv: "test","rps",... one line a test; the names of
# those that completed with a rate above 0, in order
bench_tests() {
	"$XL_PY" -c '
import csv, sys
rows = list(csv.reader(sys.stdin))
for r in rows[1:]:
    if float(r[1]) > 0:
        print(r[0])'
}

# bench MODE "-P 1" | "-P 16" | "-k 0": redis-benchmark in guest a; with
# -k 0 a connection for each request, 10 kB values
bench() {
	local mode=$1 args
	# shellcheck disable=SC2206
	case $2 in
	-k*) args=(-n 500 -c 10 -t "set,get" -d 10000 -k 0) ;;
	*) args=(-n "$BENCH_N" -c 50 -t "set,get,ping" $2) ;;
	esac
	app_cli "$mode" 30 redis-benchmark -h "$XL_ADDR_B" -p $PORT \
		"${args[@]}" --csv
}

# bench_step MODE ARGS: a redis-benchmark step of MODE (bench above)
bench_step() {
	local mode=$1 p=$2 log=$APP_DIR/$1
	echo "benchmark $p:" >>"$log.out"
	if ! bench "$mode" "$p" >"$log.bench.csv" 2>"$log.bench.err"; then
		app_bad "$mode" "redis-benchmark $p failed:" \
			"$(tail -n 3 "$log.bench.err")"
		return 1
	fi
	bench_tests <"$log.bench.csv" >>"$log.out"
	# a pipelined or a connection-per-request run is over within a few
	# round trips a connection: short (app-lib.sh)
	if [ "$p" = "-P 1" ]; then
		app_step "$mode" "redis-benchmark $p"
	else
		app_step "$mode" "redis-benchmark $p" short
	fi
	app_log "$mode: redis-benchmark $p, requests/s: $(awk -F, \
		'NR > 1 { gsub(/"/, ""); printf "%s %d ", $1, $2 }' \
		"$log.bench.csv")"
}

redis_mode() {
	local mode=$1 out=$APP_DIR/$1.out log=$APP_DIR/$1 rc=0
	rm -rf "$APP_DIR/data"
	mkdir -p "$APP_DIR/data"
	app_srv "$mode" 120 redis-server --bind "$XL_ADDR_B" --port $PORT \
		--save '' --appendonly no --daemonize no --protected-mode no \
		--enable-debug-command yes --dir "$APP_DIR/data" \
		--logfile "$log.server.log"
	app_srv_wait $PORT 15 || {
		app_bad "$mode" "redis-server does not listen:" \
			"$(tail -n 5 "$log.server.log")"
		return 1
	}
	cli() { app_cli "$mode" 30 redis-cli -h "$XL_ADDR_B" -p $PORT "$@"; }
	: >"$out"
	if ! bench_step "$mode" "-P 1" || ! bench_step "$mode" "-P 16"; then
		app_srv_stop
		return 1
	fi
	{
		echo "after the benchmarks: dbsize $(cli DBSIZE)" \
			"digest $(cli DEBUG DIGEST)"
		echo "pipe: $(app_cli "$mode" 60 redis-cli -h "$XL_ADDR_B" \
			-p $PORT --pipe <"$APP_DIR/load.resp" 2>&1 | tail -n 1)"
		echo "after the load: dbsize $(cli DBSIZE)" \
			"digest $(cli DEBUG DIGEST)"
		cli --scan | sort >"$log.keys"
		echo "keys: $(wc -l <"$log.keys") $(sha256sum <"$log.keys")"
		# shellcheck disable=SC2046
		cli MGET $(cat "$APP_DIR/big.keys") >"$log.mget"
		echo "mget: $(wc -c <"$log.mget") $(sha256sum <"$log.mget")"
	} >>"$out" 2>"$log.cli.err"
	app_step "$mode" "the load and the reads"
	# last: with the library at one end only, its 1000 connections in a
	# few seconds fill the daemon's table of those waiting for a match
	bench_step "$mode" "-k 0" || rc=1
	echo "at the end: dbsize $(cli DBSIZE) digest $(cli DEBUG DIGEST)" \
		>>"$out" 2>>"$log.cli.err"
	app_srv_stop
	app_log "$mode: $(grep -v '^benchmark\|^[A-Z_]*$' "$out" |
		tr -s '\n -' ' ')"
	grep -q "^pipe: errors: 0, replies: $KEYS\$" "$out" ||
		app_bad "$mode" "the bulk load: $(grep '^pipe' "$out")" || rc=1
	if ! grep -q "^after the load: dbsize $((KEYS + 1)) " "$out" ||
		! grep -q "^keys: $((KEYS + 1)) " "$out" ||
		! grep -q "^mget: $(($(wc -l <"$APP_DIR/big.keys") * (BIG + 1))) " \
			"$out"; then
		app_bad "$mode" "the data set is not what was loaded:" \
			"$(cat "$out" "$log.cli.err")"
		rc=1
	fi
	return $rc
}

app_run_modes redis_mode
