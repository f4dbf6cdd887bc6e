#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Socket semantics under the library (tests/e2e/semantics.c): nonblocking
# connect, poll/select/epoll readiness, MSG_PEEK/WAITALL/DONTWAIT,
# readv/writev, half-close both ways, FIONREAD, dup, fork, EPIPE and
# SIGPIPE, EOF and reset. Run twice, with the library at both ends: first
# with no daemon (nothing may be tracked: pure pass-through), then with
# both daemons (every connection on the ring, its payload never through
# the kernel). Each result must be what kernel TCP gives.
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/edge-lib.sh"

xl_require_root
xl_require_cmd python3 timeout
[ -x "$SEM" ] || xl_skip "semantics not built ($SEM)"
e2_preload_setup
xl_setup_net
OUT=$XL_RUNDIR/out
mkdir -p "$OUT"

# run MODE PORT: the server in b, every test from a over IPv4, the bulk
# test over IPv6, then "quit"; both ends must report no failure.
run_mode() {
	local mode=$1 port=$2 spid rc=0 t0
	t0=$(e2_ms)
	xl_bg e2_shim "$XL_NS_B" timeout 60 "$SEM" server "$port" "$mode" \
		>"$OUT/$mode.server" 2>&1
	spid=$XL_LAST_PID
	xl_wait_for 5 grep -q listening "$OUT/$mode.server" ||
		xl_fail "$mode: no server: $(cat "$OUT/$mode.server")"
	e2_shim "$XL_NS_A" timeout 60 "$SEM" client "$XL_ADDR_B" "$port" \
		"$mode" >"$OUT/$mode.client" 2>&1 || rc=1
	e2_shim "$XL_NS_A" timeout 30 "$SEM" client "$XL_ADDR6_B" "$port" \
		"$mode" bulk quit >"$OUT/$mode.client6" 2>&1 || rc=1
	wait "$spid" || rc=1
	sed "s/^/$mode client: /" "$OUT/$mode.client" >&2
	sed "s/^/$mode client (IPv6): /" "$OUT/$mode.client6" >&2
	sed "s/^/$mode server: /" "$OUT/$mode.server" >&2
	[ $rc -eq 0 ] || xl_fail "$mode: see the FAIL lines above"
	grep -q FAIL "$OUT"/"$mode".* && xl_fail "$mode: a FAIL line"
	[ "$(grep -c '^PASS' "$OUT/$mode.client")" -ge 24 ] ||
		xl_fail "$mode: fewer tests passed than exist"
	xl_log "$mode: all passed in $(($(e2_ms) - t0)) ms"
}

# ---- the library without a daemon: it must stay out of the way ----
run_mode tcp 7101

# ---- both daemons: everything on the ring ----
xl_start_daemon "$XL_NS_A"
xl_start_daemon "$XL_NS_B"
xl_wait_peers "$XL_NS_A" "$XL_NS_B"
run_mode ring 7102
e2_wait_empty "$XL_NS_A" "$XL_NS_B"
# every connection was matched (the refused one never registered)
for ns in "$XL_NS_A" "$XL_NS_B"; do
	e2_expect_eq "fallbacks in $ns" \
		"$(e2_jget "$ns" 'sum(d["fallbacks"].values())')" 0
done
xl_log "PASS"
