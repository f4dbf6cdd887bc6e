#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A process that holds an io_uring instance: what it could queue there on a
# tracked socket would bypass the library, so its connections stay on TCP
# (reason io_uring), byte-exact; the same client without the instance gets
# its ring (tests/e2e/uring_probe.c).
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/edge-lib.sh"

PROBE=$XL_BUILDDIR/tests/e2e/uring_probe
xl_require_root
xl_require_cmd socat timeout
[ -x "$PROBE" ] || xl_skip "uring_probe not built ($PROBE)"
e2_preload_setup
xl_setup_net
xl_start_daemon "$XL_NS_A"
xl_start_daemon "$XL_NS_B"
xl_wait_peers "$XL_NS_A" "$XL_NS_B"
PORT=7401
xl_bg e2_tool "$XL_NS_B" timeout 60 socat -t 5 \
	"TCP-LISTEN:$PORT,fork,reuseaddr" EXEC:cat
listening() {
	[ -n "$(ip netns exec "$XL_NS_B" ss -Hltn "sport = :$PORT")" ]
}
xl_wait_for 5 listening || xl_fail "no server on port $PORT"

# ring_bytes: what the client's daemon counted through rings so far
ring_bytes() {
	e2_jget "$XL_NS_A" 'd["totals"]["ring_tx"] + d["totals"]["ring_rx"]'
}

rc=0
e2_shim "$XL_NS_A" timeout 20 "$PROBE" "$XL_ADDR_B" "$PORT" with || rc=$?
[ $rc -eq 77 ] && xl_skip "the kernel gives no io_uring here"
[ $rc -eq 0 ] || xl_fail "the client with io_uring failed ($rc)"
e2_wait_empty "$XL_NS_A"
e2_expect_eq "io_uring fallbacks" "$(e2_jget "$XL_NS_A" \
	'd["fallbacks"]["io_uring"]')" 1
e2_expect_eq "ring bytes of the io_uring client" "$(ring_bytes)" 0

e2_shim "$XL_NS_A" timeout 20 "$PROBE" "$XL_ADDR_B" "$PORT" without ||
	xl_fail "the client without io_uring failed"
e2_wait_empty "$XL_NS_A"
[ "$(ring_bytes)" -gt 300000 ] ||
	xl_fail "the client without io_uring moved only $(ring_bytes) bytes" \
		"through its ring"
xl_log "ok: $(ring_bytes) bytes through the ring without io_uring"
xl_log "PASS"
