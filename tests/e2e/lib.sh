#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Shared harness of the end-to-end tests: two "guests" (network namespaces)
# on a bridge that lives in a third ("dom0"), each guest with its own
# xenloopd, all state in a private run directory. Sourced by the tests.
#
#   guest a: 198.18.0.1/24, 2001:2::1/64      (benchmarking ranges only)
#   guest b: 198.18.0.2/24, 2001:2::2/64
#
# Every process started through xl_bg is killed at exit, the namespaces are
# deleted and the run directory removed, whatever way the test ends.
# Requires root; without it the test is skipped (exit 77).

set -euo pipefail

XL_TOP_SRCDIR=${XL_TOP_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# automake runs tests from the build dir; by hand, default to build/default
XL_BUILDDIR=${XL_BUILDDIR:-${abs_top_builddir:-$XL_TOP_SRCDIR/build/default}}
XL_PRELOAD=${XL_PRELOAD:-$XL_BUILDDIR/preload/.libs/libxenloop.so}
XL_DAEMON=${XL_DAEMON:-$XL_BUILDDIR/daemon/xenloopd}
XL_CTL=${XL_CTL:-$XL_BUILDDIR/daemon/xenloopctl}

XL_ADDR_A=198.18.0.1
XL_ADDR_B=198.18.0.2
XL_ADDR6_A=2001:2::1
XL_ADDR6_B=2001:2::2

# pyenv's python3 shim takes seconds to start on a loaded machine; the
# tests' JSON checks are simple and any Python 3 does
if [ -x /usr/bin/python3 ]; then
	python3() { /usr/bin/python3 "$@"; }
fi

# Connections register with the daemon as soon as they are connected
# (xenloop(7), XENLOOP_REGISTER_DELAY_US): the tests that wait for a
# channel before their first byte need both ends registered without data
# calls. tests/e2e/shortconn.sh runs the default delay.
export XENLOOP_REGISTER_DELAY_US=${XL_REGISTER_DELAY_US:-0}

xl_pids=()
xl_ns_list=()
XL_RUNDIR=

xl_log() { printf 'e2e: %s\n' "$*" >&2; }
xl_fail() { printf 'e2e: FAIL: %s\n' "$*" >&2; exit 1; }
xl_skip() { printf 'e2e: SKIP: %s\n' "$*" >&2; exit 77; }

xl_require_root() {
	[ "$(id -u)" -eq 0 ] || xl_skip "needs root (network namespaces)"
	command -v ip >/dev/null || xl_skip "needs iproute2"
}

xl_require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || xl_skip "needs $c"
	done
}

xl_cleanup() {
	local rc=$? pid ns
	trap - EXIT INT TERM
	for pid in "${xl_pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${xl_pids[@]}"; do
		# bounded: give each process up to 3 s, then SIGKILL
		timeout 3 tail --pid="$pid" -f /dev/null 2>/dev/null ||
			kill -KILL "$pid" 2>/dev/null || true
	done
	for ns in "${xl_ns_list[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	[ -n "$XL_RUNDIR" ] && rm -rf "$XL_RUNDIR"
	exit $rc
}

# Start "$@" in the background, remember it for cleanup; its pid in XL_LAST_PID.
xl_bg() {
	"$@" &
	XL_LAST_PID=$!
	xl_pids+=("$XL_LAST_PID")
}

# Create the topology. Namespace names in XL_NS_A, XL_NS_B, XL_NS_H.
xl_setup_net() {
	local tag=xl$$ ns
	XL_NS_A=${tag}a XL_NS_B=${tag}b XL_NS_H=${tag}h
	trap xl_cleanup EXIT INT TERM
	XL_RUNDIR=$(mktemp -d /tmp/xenloop-e2e.XXXXXX)
	for ns in "$XL_NS_H" "$XL_NS_A" "$XL_NS_B"; do
		ip netns add "$ns"
		xl_ns_list+=("$ns")
		ip -n "$ns" link set lo up
	done
	ip -n "$XL_NS_H" link add br0 type bridge
	ip -n "$XL_NS_H" link set br0 up
	xl_add_guest "$XL_NS_A" "$XL_ADDR_A" "$XL_ADDR6_A" va
	xl_add_guest "$XL_NS_B" "$XL_ADDR_B" "$XL_ADDR6_B" vb
	xl_wait_for 5 ip netns exec "$XL_NS_A" ping -c1 -W1 "$XL_ADDR_B" >/dev/null ||
		xl_fail "namespaces cannot reach each other"
}

xl_add_guest() {
	local ns=$1 addr=$2 addr6=$3 name=$4
	ip -n "$XL_NS_H" link add "$name" type veth peer name eth0 netns "$ns"
	ip -n "$XL_NS_H" link set "$name" master br0 up
	ip -n "$ns" addr add "$addr/24" dev eth0
	ip -n "$ns" addr add "$addr6/64" dev eth0 nodad
	ip -n "$ns" link set eth0 up
}

# Run "$@" every 0.1 s until it succeeds, for at most $1 seconds.
xl_wait_for() {
	local limit=$1 end
	shift
	end=$((SECONDS + limit))
	while ! "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

# Start xenloopd in namespace $1 (extra daemon arguments follow) and wait
# until the namespace's socket answers.
xl_start_daemon() {
	local ns=$1 ino
	shift
	[ -x "$XL_DAEMON" ] || xl_skip "xenloopd not built ($XL_DAEMON)"
	xl_bg ip netns exec "$ns" "$XL_DAEMON" -d -r "$XL_RUNDIR" "$@"
	ino=$(ip netns exec "$ns" stat -L -c %i /proc/self/ns/net)
	xl_wait_for 5 test -S "$XL_RUNDIR/ns/$ino.sock" ||
		xl_fail "xenloopd in $ns did not come up"
}

# Wait until every daemon lists the other as a peer (discovery is periodic).
xl_wait_peers() {
	local ns
	for ns in "$@"; do
		xl_wait_for 10 xl_has_peer "$ns" || xl_fail "no peer seen from $ns"
	done
}

xl_has_peer() {
	ip netns exec "$1" env XENLOOP_RUNDIR="$XL_RUNDIR" "$XL_CTL" status --json |
		python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["peers"] else 1)'
}

# Run "$@" in namespace $1 under the preload library.
xl_in_shim() {
	local ns=$1
	shift
	[ -f "$XL_PRELOAD" ] || xl_skip "libxenloop.so not built ($XL_PRELOAD)"
	ip netns exec "$ns" env LD_PRELOAD="$XL_PRELOAD" \
		XENLOOP_RUNDIR="$XL_RUNDIR" "$@"
}

# Run "$@" in namespace $1 without it.
xl_in_plain() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# xenloopctl status --json of namespace $1.
xl_status_json() {
	ip netns exec "$1" env XENLOOP_RUNDIR="$XL_RUNDIR" "$XL_CTL" status --json
}
