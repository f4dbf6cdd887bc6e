#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The library's own descriptors never leave a program fewer of its own
# (ARCHITECTURE.md invariant 7): a client that opens connections until
# socket() fails with EMFILE (tests/e2e/xl_fdlimit.c, every connection
# byte-checked) gets exactly as many under the library as without it,
# with its channels taken on the way, also when it raises its soft limit
# over the library's descriptors half-way. Where the hard limit equals the soft
# one the library's descriptors must go below the limit, and it stops
# taking channels while the program still has a reserve: there the test
# asserts that the daemon was told (`resources`) and that the program lost
# at most what the channels it holds cost.
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/data-lib.sh"

FDL=$XL_BUILDDIR/tests/e2e/xl_fdlimit
[ -x "$FDL" ] || xl_skip "xl_fdlimit not built ($FDL)"
PORT=5003

xl_data_setup

# fdl NAME shim|plain SOFT HARD [RAISE]: prints "conns N rings R"
fdl() {
	local run=xl_in_plain
	[ "$2" = shim ] && run=xl_shim
	$run "$XL_NS_A" timeout 60 "$FDL" -c "$XL_ADDR_B" -n "$3" -N "$4" \
		-r "${5:-0}" -t 50 "$PORT" || xl_fail "$1: the client failed"
}

# connections of daemon $1 that stayed on TCP for want of resources
resources() {
	xl_status_json "$1" | "$XL_PY" -c '
import json, sys
print(json.load(sys.stdin)["fallbacks"]["resources"])'
}

xl_bg xl_shim "$XL_NS_B" timeout 200 "$FDL" -l "$XL_ADDR_B" -t 190 "$PORT"
xl_wait_for 10 xl_data_listening "$XL_NS_B" "$PORT" ||
	xl_fail "the echo server does not listen"

check() {
	local name=$1 soft=$2 hard=$3 raise=${4:-} plain lib np nl rl res res0
	plain=$(fdl "$name plain" plain "$soft" "$hard" "$raise")
	res0=$(resources "$XL_NS_A")
	lib=$(fdl "$name shim" shim "$soft" "$hard" "$raise")
	read -r _ np _ _ <<<"$plain"
	read -r _ nl _ rl <<<"$lib"
	xl_log "$name: limit $soft/$hard${raise:+ then $raise}: plain $np connections," \
		"library $nl ($rl on rings)"
	[ "$rl" -gt 0 ] || xl_fail "$name: no connection got a ring"
	if [ "$soft" -lt "$hard" ]; then
		[ "$nl" -eq "$np" ] ||
			xl_fail "$name: $nl connections under the library, $np without"
		return
	fi
	res=$(($(resources "$XL_NS_A") - res0))
	xl_log "$name: $res connections of $XL_NS_A stayed on TCP for resources"
	[ "$res" -gt 0 ] || xl_fail "$name: the daemon heard of no refusal"
	[ "$nl" -lt "$rl" ] && xl_fail "$name: more rings than connections"
	[ $((nl + 5 * rl + 1)) -ge "$np" ] ||
		xl_fail "$name: $nl connections, $np without, $rl rings"
}

check headroom 256 4096
# channels taken under 256, their fds at 512 and up, then the program
# raises its limit over them: they must move out of its way
check raised 256 8192 1024
check nohead 256 256
xl_log "fdlimit: done in $(xl_data_elapsed) s after set-up"
