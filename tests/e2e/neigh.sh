#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The neighbour lookup of Xen guests (daemon/xl_neigh.c) against the real
# kernel table: after traffic, guest a finds guest b's MAC for b's IPv4
# and IPv6 addresses, and finds nothing for an address nobody has.
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
xl_require_root
probe=$XL_BUILDDIR/tests/e2e/neigh_probe
[ -x "$probe" ] || xl_skip "neigh_probe not built"
xl_setup_net

mac_b=$(ip -n "$XL_NS_B" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
[ -n "$mac_b" ] || xl_fail "no MAC for b's eth0"
ip netns exec "$XL_NS_A" ping -c1 -W2 "$XL_ADDR6_B" >/dev/null ||
	xl_fail "a cannot ping b over IPv6"

for addr in "$XL_ADDR_B" "$XL_ADDR6_B"; do
	got=$(ip netns exec "$XL_NS_A" "$probe" "$addr") ||
		xl_fail "no neighbour entry for $addr (exit $?)"
	[ "$got" = "$mac_b" ] || xl_fail "$addr: got $got, want $mac_b"
	xl_log "ok: $addr -> $got"
done

rc=0
got=$(ip netns exec "$XL_NS_A" "$probe" 198.18.0.99) || rc=$?
[ "$rc" -eq 2 ] && [ "$got" = none ] ||
	xl_fail "an unknown address gave '$got' (exit $rc)"
xl_log "ok: 198.18.0.99 -> none"
# b's own address, seen from b, is not a neighbour either
rc=0
ip netns exec "$XL_NS_B" "$probe" "$XL_ADDR_B" >/dev/null || rc=$?
[ "$rc" -eq 2 ] || xl_fail "b found itself in its neighbour table"
xl_log PASS
