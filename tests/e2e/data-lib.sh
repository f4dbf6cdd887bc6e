# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# What the data tests (iperf3.sh, sockperf.sh, bulk.sh, manyconn.sh) share
# on top of lib.sh: the two guests with their daemons, the shim as a
# sanitizer build needs it, and the daemons' account of the bytes: every
# connection closed and reported, and at least 99% of the payload carried
# by the rings. Sourced by the tests.

. "${XL_TOP_SRCDIR:-$(dirname "${BASH_SOURCE[0]}")/../..}/tests/e2e/lib.sh"

# An ASan build of the library needs the ASan runtime first in the list of
# libraries, or the runtime refuses to start in an uninstrumented program.
xl_data_preload() {
	local asan
	asan=$(ldd "$XL_PRELOAD" 2>/dev/null | awk '/libasan/ { print $3 }')
	XL_DATA_PRELOAD=$XL_PRELOAD
	[ -z "$asan" ] || XL_DATA_PRELOAD=$asan:$XL_PRELOAD
}

# The command line of xl_shim NS (and of xl_shim_tool NS with "tool") in
# the array XL_ARGV, for a process to be signalled: started as
# xl_bg "${XL_ARGV[@]}" CMD..., its pid is the program's (every part of
# the line execs the next), not that of a shell around it.
xl_shim_argv() {
	local asan=${ASAN_OPTIONS:+$ASAN_OPTIONS:}
	XL_ARGV=(ip netns exec "$1" env LD_PRELOAD="$XL_DATA_PRELOAD"
		XENLOOP_RUNDIR="$XL_RUNDIR")
	# LeakSanitizer would report the leaks of a program that is not ours
	# (iperf3, sockperf), which are none of our business
	[ "${2:-}" != tool ] || XL_ARGV+=(ASAN_OPTIONS="${asan}detect_leaks=0")
}

# Run "$@" in namespace $1 under the preload library (xl_in_shim, with
# the sanitizer runtime when the library needs it).
xl_shim() {
	local ns=$1
	shift
	xl_shim_argv "$ns"
	"${XL_ARGV[@]}" "$@"
}

# The same for a program that is not ours.
xl_shim_tool() {
	local ns=$1
	shift
	xl_shim_argv "$ns" tool
	"${XL_ARGV[@]}" "$@"
}

# lib.sh's python3 may be a slow wrapper (pyenv: seconds per start on a
# busy machine); the system's own is enough for the checks.
XL_PY=$(command -v /usr/bin/python3 || command -v python3 || echo python3)

# Guests a and b, each with its daemon, each seeing the other.
xl_data_setup() {
	xl_require_root
	xl_require_cmd python3 timeout ss
	[ -f "$XL_PRELOAD" ] || xl_skip "libxenloop.so not built ($XL_PRELOAD)"
	[ -x "$XL_CTL" ] || xl_skip "xenloopctl not built ($XL_CTL)"
	xl_data_preload
	xl_setup_net
	xl_start_daemon "$XL_NS_A"
	xl_start_daemon "$XL_NS_B"
	xl_wait_for 10 xl_data_peer "$XL_NS_A" ||
		xl_fail "no peer seen from $XL_NS_A"
	xl_wait_for 10 xl_data_peer "$XL_NS_B" ||
		xl_fail "no peer seen from $XL_NS_B"
	XL_DATA_T0=$SECONDS
}

# xl_has_peer of lib.sh, with the quick python (xl_wait_peers spends most
# of a test's set-up starting a slow one)
xl_data_peer() {
	xl_status_json "$1" | "$XL_PY" -c '
import json, sys
sys.exit(0 if json.load(sys.stdin)["peers"] else 1)'
}

xl_no_connections() {
	xl_status_json "$1" | "$XL_PY" -c '
import json, sys
sys.exit(1 if json.load(sys.stdin)["connections"] else 0)'
}

# The daemons count what the library reports with STATS and CLOSE: wait
# (bounded) until every connection of namespace $1.. has closed.
xl_wait_closed() {
	local ns
	for ns in "$@"; do
		xl_wait_for 10 xl_no_connections "$ns" && continue
		xl_fail "connections still open in $ns: $(xl_status_json "$ns")"
	done
}

# xl_check_ring NAME MIN_CONNS [exact]: the connection tables of both
# daemons are empty, each daemon saw at least MIN_CONNS connections close
# since the last check, and of the payload bytes each daemon accounts for
# (sent and received) at least 99% of those after each connection's first
# bytes (tcp_before_ring: TCP while its channel is made, longer on a
# loaded machine) and 90% of all went through a ring. With "exact",
# what a sent is what b received and the other way round, ring and TCP
# counted apart (the applications read every byte). The counts since the
# last check are left in $XL_RUNDIR/delta.json ([a, b]).
xl_check_ring() {
	local name=$1 min=$2 exact=${3:-} sa sb
	xl_wait_closed "$XL_NS_A" "$XL_NS_B"
	sa=$(xl_status_json "$XL_NS_A")
	sb=$(xl_status_json "$XL_NS_B")
	"$XL_PY" - "$name" "$min" "$exact" "$sa" "$sb" "$XL_RUNDIR" \
		<<'EOF' || xl_fail "$name: ring accounting"
import json, os, sys
name, need, exact = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "exact"
keys = ("connections", "ring_tx", "ring_rx", "tcp_tx", "tcp_rx",
        "tcp_before_ring")
now = [json.loads(s)["totals"] for s in sys.argv[4:6]]
prevf = os.path.join(sys.argv[6], "totals.prev")
prev = json.load(open(prevf)) if os.path.exists(prevf) else \
    [dict.fromkeys(keys, 0), dict.fromkeys(keys, 0)]
json.dump(now, open(prevf, "w"))
d = [{k: n[k] - p[k] for k in keys} for n, p in zip(now, prev)]
json.dump(d, open(os.path.join(sys.argv[6], "delta.json"), "w"))
ok = True
for side, t in zip("ab", d):
    ring = t["ring_tx"] + t["ring_rx"]
    total = ring + t["tcp_tx"] + t["tcp_rx"]
    share = ring / total if total else 0.0
    later = total - t["tcp_before_ring"]
    share_later = ring / later if later else 0.0
    print("e2e: %s: daemon %s: %d connections, ring tx/rx %d/%d, "
          "tcp tx/rx %d/%d (%d before the rings), ring share %.4f%% "
          "(%.4f%% after the first bytes)" % (name, side,
          t["connections"], t["ring_tx"], t["ring_rx"], t["tcp_tx"],
          t["tcp_rx"], t["tcp_before_ring"], 100 * share,
          100 * share_later), file=sys.stderr)
    if t["connections"] < need:
        print("e2e: %s: daemon %s saw %d connections, expected >= %d" %
              (name, side, t["connections"], need), file=sys.stderr)
        ok = False
    if share_later < 0.99:
        print("e2e: %s: daemon %s: only %.4f%% of the %d bytes after the "
              "rings took over on them" % (name, side, 100 * share_later,
                                            later), file=sys.stderr)
        ok = False
    elif share < 0.90:
        print("e2e: %s: daemon %s: only %.4f%% of %d bytes on the ring "
              "(%d by TCP before the rings took over)" % (name, side,
              100 * share, total, t["tcp_before_ring"]), file=sys.stderr)
        ok = False
if exact:
    for a, b in (("ring_tx", "ring_rx"), ("tcp_tx", "tcp_rx")):
        for x, y, sx, sy in ((d[0], d[1], "a", "b"), (d[1], d[0], "b", "a")):
            if x[a] != y[b]:
                print("e2e: %s: %s %s %d != %s %s %d" % (name, sx, a, x[a],
                      sy, b, y[b]), file=sys.stderr)
                ok = False
sys.exit(0 if ok else 1)
EOF
}

# Is something listening on TCP port $2 in namespace $1?
xl_data_listening() {
	ip netns exec "$1" ss -Htln "sport = :$2" | grep -q .
}

# Seconds since xl_data_setup, for the log.
xl_data_elapsed() {
	echo $((SECONDS - XL_DATA_T0))
}
