#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Survey reproducer: socat client stdin -> TCP with shut-down, server
# socat SYSTEM:sha256sum, library on both ends. Prints the checksum and
# the daemons' ring/tcp totals (ring share 0% when the bytes bypass the
# ring). By hand, as root; SURVEY_LOG=debug shows the library's log.
set -uo pipefail
XL_TOP_SRCDIR=${XL_TOP_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$XL_TOP_SRCDIR/tests/e2e/data-lib.sh"
set +e
xl_data_setup
head -c $((20 << 20)) /dev/urandom >"$XL_RUNDIR/big.bin"
sha256sum <"$XL_RUNDIR/big.bin"
export XENLOOP_LOG_LEVEL=${SURVEY_LOG:-warn}
xl_shim_argv "$XL_NS_B" tool
xl_bg timeout 60 "${XL_ARGV[@]}" socat \
	TCP-LISTEN:7001,bind=$XL_ADDR_B,reuseaddr "${SURVEY_SRV:-SYSTEM:sha256sum}"
xl_wait_for 10 sh -c "ip netns exec $XL_NS_B ss -Hltn 'sport = :7001' | grep -q ."
xl_shim_argv "$XL_NS_A" tool
timeout 30 "${XL_ARGV[@]}" socat ${SURVEY_CLI_OPTS:-} - \
	TCP:$XL_ADDR_B:7001,shut-down <"$XL_RUNDIR/big.bin"
echo "client rc=$?"
xl_wait_closed "$XL_NS_A" "$XL_NS_B"
for ns in "$XL_NS_A" "$XL_NS_B"; do
	xl_status_json "$ns" | "$XL_PY" -c '
import json, sys
j = json.load(sys.stdin)
print(j["totals"], j.get("fallbacks"))'
done
