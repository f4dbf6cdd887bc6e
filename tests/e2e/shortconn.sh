#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Short connections with the library on both ends: 5,000 times connect, a
# 100-byte request, its reply, close, 32 in flight (bench/shortconn checks
# every reply byte). Afterwards neither daemon may hold a registration or
# count a fallback under resources, protocol or shared (nothing forks): a
# connection that closes leaves nothing behind, even when a thread reads
# its channel between its close and the CLOSE that follows. Then once more with registration at once
# (XENLOOP_REGISTER_DELAY_US=0), where every connection goes through the
# daemons and the same must hold once they are closed; and once so under
# strace(1), whose slow calls leave time for another thread of the client
# to take a connection's channel while its own receive is on the kernel
# socket: the server then replies on the ring and closes, and the kernel's
# end of stream must not be taken for the end (a reply was lost so, once
# in about a thousand connections, until the library checked).
. "$XL_TOP_SRCDIR/tests/e2e/edge-lib.sh"
xl_require_root
xl_require_cmd python3 timeout
e2_preload_setup

SC=$XL_BUILDDIR/bench/shortconn
[ -x "$SC" ] || xl_skip "bench/shortconn not built"
xl_setup_net
xl_start_daemon "$XL_NS_A"
xl_start_daemon "$XL_NS_B"
xl_wait_peers "$XL_NS_A" "$XL_NS_B"

# What must hold in a namespace's status once every connection is closed.
sc_clean() {	# NS
	xl_status_json "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
left = d.get("connections", [])
fb = d.get("fallbacks", {})
bad = []
if left:
    bad.append("%d registrations left: %s" % (len(left), left[:3]))
for k in ("resources", "protocol", "shared"):
    if fb.get(k, 0):
        bad.append("%d fallbacks under %s" % (fb[k], k))
if bad:
    print("; ".join(bad))
    sys.exit(1)
'
}

sc_run() {	# PORT DELAY_US CONNS [INFLIGHT [WRAPPER...]]
	local port=$1 delay=$2 n=$3 inflight=${4:-32} ns
	shift 4 2>/dev/null || shift $#
	xl_bg e2_shim "$XL_NS_B" env XENLOOP_REGISTER_DELAY_US="$delay" \
		"$SC" server "$XL_ADDR_B" "$port"
	xl_wait_for 5 bash -c "ip netns exec $XL_NS_B ss -Hltn 'sport = :$port' | grep -q ." ||
		xl_fail "the server on port $port did not come up"
	xl_log "$n short connections, registration delay $delay us${1:+, under $1}"
	# the wrapper (strace) itself runs without the library; LeakSanitizer
	# cannot work under ptrace
	local asan=${ASAN_OPTIONS:-}
	[ $# -eq 0 ] || asan="${asan:+$asan:}detect_leaks=0"
	ip netns exec "$XL_NS_A" timeout 120 "$@" env LD_PRELOAD="$E2_PRELOAD" \
		ASAN_OPTIONS="$asan" \
		XENLOOP_RUNDIR="$XL_RUNDIR" XENLOOP_REGISTER_DELAY_US="$delay" \
		"$SC" client "$XL_ADDR_B" "$port" --conns "$n" \
		--inflight "$inflight" ||
		xl_fail "short connections (delay $delay us): not every request was answered correctly"
	# the server's last CLOSEs are on their way: a bounded wait
	for ns in "$XL_NS_A" "$XL_NS_B"; do
		xl_wait_for 5 sc_clean "$ns" >/dev/null ||
			xl_fail "$ns after the run (delay $delay us): $(sc_clean "$ns")"
	done
}

sc_run 7101 2000 5000
sc_run 7102 0 1000
if command -v strace >/dev/null; then
	sc_run 7103 0 6000 16 strace -f -o /dev/null
else
	xl_log "no strace: the run under it is left out"
fi
xl_log "PASS"
