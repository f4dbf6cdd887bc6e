#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A byte-exact transfer of 1 GiB in each direction at the same time on one
# connection between the namespaces, both ends under the library
# (tests/e2e/xl_bulk.c: random call kinds and sizes, every byte checked at
# its offset), once over IPv4 and once, shorter, over IPv6. Both
# directions must have moved onto the ring, and the daemons must account
# for the same bytes on both sides, at least 99% of them on the ring.
# XL_BULK_BYTES overrides the IPv4 length (default 1 GiB).
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/data-lib.sh"

BULK=$XL_BUILDDIR/tests/e2e/xl_bulk
[ -x "$BULK" ] || xl_skip "xl_bulk not built ($BULK)"
LEN=${XL_BULK_BYTES:-$((1 << 30))}
RND=$(( (RANDOM << 15) | RANDOM ))

xl_data_setup

# bulk NAME SERVER_ADDR BYTES SEED
bulk() {
	local name=$1 addr=$2 len=$3 seed=$4 spid rc=0 t0=$SECONDS
	xl_bg xl_shim "$XL_NS_B" timeout 60 "$BULK" -l "$addr" 5001 -R \
		-n "$len" -s "$seed" -r "$RND" -t 50
	spid=$XL_LAST_PID
	xl_shim "$XL_NS_A" timeout 60 "$BULK" -c "$addr" 5001 -R \
		-n "$len" -s "$seed" -r "$((RND + 1))" -t 50 || rc=1
	wait "$spid" || rc=1
	[ $rc -eq 0 ] || xl_fail "$name: the transfer was not whole (see above)"
	xl_log "$name: $len bytes each way in $((SECONDS - t0)) s"
	xl_check_ring "$name" 1 exact
}

bulk ipv4 "$XL_ADDR_B" "$LEN" 7
bulk ipv6 "$XL_ADDR6_B" $((LEN / 4)) 8
xl_log "bulk: done in $(xl_data_elapsed) s after set-up"
