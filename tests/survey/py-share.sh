#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Survey reproducer: one pyprogs.py exchange (20 MB up, 20 MB down) in
# STYLE (default sockall: the server answers with loop.sock_sendall),
# library on both ends; prints each daemon's ring/tcp totals, so a
# direction that stayed on TCP shows. By hand, as root.
set -uo pipefail
XL_TOP_SRCDIR=${XL_TOP_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$XL_TOP_SRCDIR/tests/e2e/data-lib.sh"
set +e
unset XENLOOP_REGISTER_DELAY_US
style=${1:-sockall}
py=$XL_TOP_SRCDIR/tests/survey/pyprogs.py
xl_data_setup
head -c $((20 << 20)) /dev/urandom >"$XL_RUNDIR/big.bin"
xl_shim_argv "$XL_NS_B" tool
xl_bg timeout 60 "${XL_ARGV[@]}" /usr/bin/python3 "$py" server "$style" \
	$XL_ADDR_B 7010 "$XL_RUNDIR/big.bin"
xl_wait_for 10 sh -c "ip netns exec $XL_NS_B ss -Hltn 'sport = :7010' | grep -q ."
xl_shim_argv "$XL_NS_A" tool
timeout 30 "${XL_ARGV[@]}" /usr/bin/python3 "$py" client "$style" \
	$XL_ADDR_B 7010 "$XL_RUNDIR/big.bin"
echo "client rc=$?"
xl_wait_closed "$XL_NS_A" "$XL_NS_B"
for ns in "$XL_NS_A" "$XL_NS_B"; do
	xl_status_json "$ns" | "$XL_PY" -c '
import json, sys
j = json.load(sys.stdin)
t = j["totals"]
print({k: t[k] for k in ("connections", "ring_tx", "ring_rx", "tcp_tx",
      "tcp_rx", "switches")}, t["switched"],
      {k: v for k, v in j["fallbacks"].items() if v})'
done
