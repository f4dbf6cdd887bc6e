#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# 200 concurrent connections between the namespaces, all opened before any
# byte moves, then 1 MiB each way on every one at once, both ends under
# the library and driven by epoll (tests/e2e/xl_many.c). Every connection
# must be byte-exact and have both directions on the ring; the daemons
# must have seen all of them close, their connection tables must be empty
# afterwards, and at least 99% of the bytes must have gone by the rings.
# XL_MANY_CONNS and XL_MANY_BYTES override the defaults.
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/data-lib.sh"

MANY=$XL_BUILDDIR/tests/e2e/xl_many
[ -x "$MANY" ] || xl_skip "xl_many not built ($MANY)"
N=${XL_MANY_CONNS:-200}
BYTES=${XL_MANY_BYTES:-$((1 << 20))}
RND=$(( (RANDOM << 15) | RANDOM ))

xl_data_setup

many() {
	local name=$1 addr=$2 spid rc=0 t0=$SECONDS
	xl_bg xl_shim "$XL_NS_B" timeout 90 "$MANY" -l "$addr" 5002 -n "$N" \
		-b "$BYTES" -r "$RND" -t 80
	spid=$XL_LAST_PID
	xl_wait_for 10 xl_data_listening "$XL_NS_B" 5002 ||
		xl_fail "$name: xl_many does not listen"
	xl_shim "$XL_NS_A" timeout 90 "$MANY" -c "$addr" 5002 -n "$N" \
		-b "$BYTES" -r "$((RND + 1))" -t 80 || rc=1
	wait "$spid" || rc=1
	[ $rc -eq 0 ] || xl_fail "$name: not every connection was whole"
	xl_log "$name: $N connections, $BYTES bytes each way on each," \
		"in $((SECONDS - t0)) s"
	xl_check_ring "$name" "$N" exact
}

many ipv4 "$XL_ADDR_B"
xl_log "manyconn: done in $(xl_data_elapsed) s after set-up"
