#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Thousands of concurrent connections between the namespaces, both ends
# one process each under epoll (tests/e2e/xl_many), opened at once with
# nonblocking connects: the registration storm must not push any onto
# TCP, every connection must be byte-exact (4 KiB each way, checked byte
# by byte) and have both directions on its ring, and the daemons must
# have seen every one close and hold nothing afterwards.
#
# 10,000 connections (XL_SCALE_CONNS), or as many as the hard limit on
# descriptors lets a process hold on rings: each connection costs the
# socket and five descriptors of its channel (four eventfds and the
# liveness socket of the local transport) in each process, so a hard
# limit of 20,000 that cannot be raised (a container without
# CAP_SYS_RESOURCE) allows about 2,800. The log says which.
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/data-lib.sh"

MANY=$XL_BUILDDIR/tests/e2e/xl_many
[ -x "$MANY" ] || xl_skip "xl_many not built ($MANY)"
WANT=${XL_SCALE_CONNS:-10000}
BYTES=${XL_SCALE_BYTES:-4096}
RND=$(( (RANDOM << 15) | RANDOM ))

# what a process may hold: raised to the hard limit where it is lower
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
N=$(( (hard - 512) / 7 ))
[ "$N" -le "$WANT" ] || N=$WANT
[ "$N" -ge 100 ] || xl_skip "a hard limit of $hard descriptors is too low"
[ "$N" -eq "$WANT" ] ||
	xl_log "scale: $N connections, not $WANT: a hard limit of $hard" \
		"descriptors a process (each connection takes 6 with its ring)"

xl_data_setup
t0=$SECONDS
xl_bg xl_shim "$XL_NS_B" timeout 100 "$MANY" -l "$XL_ADDR_B" 5003 -n "$N" \
	-b "$BYTES" -r "$RND" -t 90
spid=$XL_LAST_PID
xl_wait_for 10 xl_data_listening "$XL_NS_B" 5003 ||
	xl_fail "xl_many does not listen"
rc=0
xl_shim "$XL_NS_A" timeout 100 "$MANY" -c "$XL_ADDR_B" 5003 -n "$N" \
	-b "$BYTES" -r "$((RND + 1))" -t 90 || rc=1
wait "$spid" || rc=1
[ $rc -eq 0 ] || xl_fail "not every connection was whole and on its ring"
xl_log "scale: $N connections, $BYTES bytes each way on each, in" \
	"$((SECONDS - t0)) s"
# every connection closed and counted, both tables empty, the bytes on
# the rings (xl_wait_closed waits up to 10 s for the daemons)
xl_check_ring scale "$N" exact
xl_log "scale: done in $(xl_data_elapsed) s after set-up"
