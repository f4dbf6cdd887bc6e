#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Issue 14: connections leave their rings while both ends live, byte-exact.
# 104 connections (a quarter nonblocking under epoll, a quarter in blocking
# threads, a quarter reading with MSG_PEEK first, a quarter mostly idle,
# asleep in blocking reads: tests/e2e/xl_chaos.c) stream checked data
# both ways for CHAOS_SECS (default 60) while this
# script, at random, takes connections off their rings (xenloopctl drop,
# on either side), corrupts rings from outside (tests/e2e/xl_corrupt.c:
# the consumer finds -EPROTO), and SIGKILLs each daemon once and starts it
# again. Every byte must arrive exactly once and in order on every
# connection, none may be reset, and most bytes must still have gone
# through rings; a daemon started again must list every connection of its
# namespace within seconds (their processes tell it), and can drop them.
# Both programs run with XENLOOP_REATTACH_MS (CHAOS_REATTACH_MS, default
# 1000; 0 turns it off), so connections that left their rings come back
# onto new ones (protocol.md §5.3): both daemons must count some, and at
# least three quarters of the bytes must have gone through rings (about
# two thirds do without it). Prints the switches and how long each kept
# its reader waiting (p50/p99, from XENLOOP_TEST_SWITCH_LOG).
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/edge-lib.sh"

xl_require_root
xl_require_cmd python3 timeout
CHAOS=$XL_BUILDDIR/tests/e2e/xl_chaos
CORRUPT=$XL_BUILDDIR/tests/e2e/xl_corrupt
[ -x "$CHAOS" ] && [ -x "$CORRUPT" ] || xl_skip "chaos programs not built"
N=${CHAOS_CONNS:-104}
SECS=${CHAOS_SECS:-60}
KIB=${CHAOS_KIB:-128}
PORT=5301
# dropped connections come back onto new rings after this long (0: never)
REATTACH_MS=${CHAOS_REATTACH_MS:-1000}
RANDOM=${CHAOS_SEED:-$$}
xl_log "seed $RANDOM, $N connections, $SECS s"
e2_preload_setup	# the sanitizer build's runtime first, if any

xl_setup_net
OUT=$XL_RUNDIR/out
mkdir -p "$OUT"
declare -A DPID
start_daemon() {	# NS
	xl_start_daemon "$1"
	DPID[$1]=$XL_LAST_PID
}
start_daemon "$XL_NS_A"
start_daemon "$XL_NS_B"
xl_wait_peers "$XL_NS_A" "$XL_NS_B"

ctl() {	# NS ARGS...
	local ns=$1
	shift
	timeout 10 ip netns exec "$ns" env XENLOOP_RUNDIR="$XL_RUNDIR" \
		"$XL_CTL" "$@"
}

# How many connections NS's daemon lists.
listed() {
	ctl "$1" status --json 2>/dev/null | python3 -c '
import json, sys
print(len(json.load(sys.stdin)["connections"]))' 2>/dev/null || echo 0
}

lists_all() { [ "$(listed "$1")" -ge "$N" ]; }
all_on_ring() { [ "$(on_ring "$1" | wc -l)" -ge "$N" ]; }

# restart NS: SIGKILL its daemon, start another, which must learn every
# connection that outlived the first
restart() {
	kill -KILL "${DPID[$1]}"
	kills=$((kills + 1))
	sleep 1
	start_daemon "$1"
	xl_wait_for 10 lists_all "$1" ||
		xl_fail "the daemon started again in $1 lists $(listed "$1") of $N connections"
}

# The connections of NS's daemon still on their rings, as PID:COOKIE.
on_ring() {
	ctl "$1" status --json 2>/dev/null | python3 -c '
import json, sys
for c in json.load(sys.stdin)["connections"]:
    if c["state"] == "ring":
        print("%d:%d" % (c["pid"], c["cookie"]))' 2>/dev/null || true
}

xl_bg e2_shim "$XL_NS_B" env XENLOOP_TEST_SWITCH_LOG="$OUT/sw.b" \
	XENLOOP_REATTACH_MS="$REATTACH_MS" \
	"$CHAOS" -l "$XL_ADDR_B" $PORT -n "$N" -d "$SECS" -k "$KIB" \
	-t $((SECS + 60)) >"$OUT/server" 2>"$OUT/server.err"
SRV=$XL_LAST_PID
xl_wait_for 10 grep -q '^listening' "$OUT/server" || xl_fail "no server"
xl_bg e2_shim "$XL_NS_A" env XENLOOP_TEST_SWITCH_LOG="$OUT/sw.a" \
	XENLOOP_REATTACH_MS="$REATTACH_MS" \
	"$CHAOS" -c "$XL_ADDR_B" $PORT -n "$N" -d "$SECS" -k "$KIB" \
	-t $((SECS + 60)) >"$OUT/client" 2>"$OUT/client.err"
CLI=$XL_LAST_PID
xl_wait_for 30 grep -q '^connected' "$OUT/client" ||
	xl_fail "the client did not connect: $(cat "$OUT/client.err")"
START=$SECONDS
# the library's pids (the xl_chaos processes under ip netns exec / env)
cpid=$(pgrep -f "^$CHAOS -c $XL_ADDR_B $PORT" | head -n 1)
spid=$(pgrep -f "^$CHAOS -l $XL_ADDR_B $PORT" | head -n 1)
[ -n "$cpid" ] && [ -n "$spid" ] || xl_fail "no chaos processes"
xl_wait_for 15 all_on_ring "$XL_NS_A" ||
	xl_fail "not all $N connections on rings: $(on_ring "$XL_NS_A" | wc -l)"

drops=0 corrupts=0 kills=0
killed_a=0 killed_b=0
while [ $((SECONDS - START)) -lt $((SECS - 3)) ]; do
	t=$((SECONDS - START))
	# each daemon once, a third and two thirds of the way
	if [ $killed_a = 0 ] && [ "$t" -ge $((SECS / 3)) ]; then
		killed_a=1
		restart "$XL_NS_A"
	fi
	if [ $killed_b = 0 ] && [ "$t" -ge $((2 * SECS / 3)) ]; then
		killed_b=1
		restart "$XL_NS_B"
	fi
	case $((RANDOM % 5)) in
	0|1|2)	# a drop, from either side
		ns=$XL_NS_A; [ $((RANDOM % 2)) = 0 ] && ns=$XL_NS_B
		mapfile -t conns < <(on_ring "$ns")
		if [ ${#conns[@]} -gt 0 ]; then
			c=${conns[$((RANDOM % ${#conns[@]}))]}
			ctl "$ns" drop "$c" >>"$OUT/actions" 2>&1 &&
				drops=$((drops + 1))
		fi ;;
	3)	# a corrupt ring, seen by either side
		p=$cpid; [ $((RANDOM % 2)) = 0 ] && p=$spid
		"$CORRUPT" "$p" $RANDOM | tee -a "$OUT/actions" |
			grep -q '^corrupted' && corrupts=$((corrupts + 1)) ;;
	*)	;;
	esac
	sleep 0.$((RANDOM % 5 + 1))
done
xl_log "chaos done: $drops drops, $corrupts corruptions, $kills daemon kills"
# how many times connections came back onto a new ring, as the daemon
# counts them (its totals count the live connections too)
reattached() {
	ctl "$1" status --json 2>/dev/null | python3 -c '
import json, sys
print(json.load(sys.stdin)["totals"].get("reattaches", 0))' 2>/dev/null ||
		echo 0
}
sleep 1.2	# a STATS tick
back_a=$(reattached "$XL_NS_A") back_b=$(reattached "$XL_NS_B")
if [ -n "${CHAOS_DEBUG:-}" ]; then
	ctl "$XL_NS_A" status --json >/tmp/chaos.status.a 2>&1
	ctl "$XL_NS_B" status --json >/tmp/chaos.status.b 2>&1
	ctl "$XL_NS_A" status >/tmp/chaos.table.a 2>&1
fi
xl_log "came back onto new rings: $back_a (client side), $back_b (server side)"
[ -n "${CHAOS_DEBUG:-}" ] && cp "$OUT/actions" /tmp/chaos.actions

timeout $((SECS + 60)) tail --pid="$CLI" -f /dev/null ||
	xl_fail "the client did not end"
timeout 30 tail --pid="$SRV" -f /dev/null || xl_fail "the server did not end"
cat "$OUT/client.err" "$OUT/server.err" >&2
wait "$CLI" || xl_fail "the client failed (see above)"
wait "$SRV" || xl_fail "the server failed (see above)"

# every byte once: what one end sent, the other received, per connection
back=off
[ "$REATTACH_MS" != 0 ] && back=on
python3 - "$OUT" "$N" "$drops" "$corrupts" "$back" "$back_a" "$back_b" \
	<<'PY' || xl_fail "streams differ"
import sys
out, n, drops, corrupts = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
back, back_a, back_b = sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
def load(name):
    conns, total = {}, None
    for line in open(f"{out}/{name}"):
        w = line.split()
        if w[0] == "conn":
            conns[int(w[1])] = (int(w[3]), int(w[5]))
        elif w[0] == "total":
            total = dict(zip(w[1::2], map(int, w[2::2])))
    return conns, total
cli, ct = load("client")
srv, st = load("server")
bad = [i for i in range(n) if cli[i][0] != srv[i][1] or srv[i][0] != cli[i][1]]
if len(cli) != n or len(srv) != n or bad:
    print("e2e: connections that lost or gained bytes:", bad[:10])
    sys.exit(1)
if min(c[0] for c in cli.values()) == 0 or min(c[0] for c in srv.values()) == 0:
    print("e2e: a connection sent nothing")
    sys.exit(1)
rx = ct["rx"] + st["rx"]
ring = ct["ring_rx"] + st["ring_rx"]
ns = []
for side in "ab":
    try:
        ns += [int(l) for l in open(f"{out}/sw.{side}")]
    except FileNotFoundError:
        pass
ns.sort()
def pct(p):
    return ns[min(len(ns) - 1, int(p * len(ns)))] / 1e6 if ns else float("nan")
print(f"e2e: chaos: {n} connections, {rx} bytes checked, "
      f"{100.0 * ring / rx:.1f}% through rings; {drops} drops, "
      f"{corrupts} corruptions; {len(ns)} switches timed, "
      f"p50 {pct(0.5):.2f} ms p99 {pct(0.99):.2f} ms")
if not ns:
    print("e2e: no switch happened")
    sys.exit(1)
if back != "off" and (min(back_a, back_b) == 0 or ring * 4 < rx * 3):
    print("e2e: dropped connections did not come back onto rings "
          f"({back_a}, {back_b} times; {100.0 * ring / rx:.1f}% on rings)")
    sys.exit(1)
if ring * 2 < rx:
    print("e2e: most bytes did not go through rings")
    sys.exit(1)
PY
exit 0
