#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Survey reproducer: socat sends SIZE_MB (default 100) from guest b to a
# (socat -u OPEN:file TCP-LISTEN / socat -u TCP STDOUT), N times (default
# 3) each plainly and with the library at both ends, interleaved; prints
# each run's wall time. socat moves 8 KiB per read()/write() after a
# select(). By hand, as root; SURVEY_SOCAT_OPTS adds socat options (-b).
set -uo pipefail
XL_TOP_SRCDIR=${XL_TOP_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$XL_TOP_SRCDIR/tests/e2e/data-lib.sh"
set +e
unset XENLOOP_REGISTER_DELAY_US
xl_data_setup
head -c $((${SIZE_MB:-100} << 20)) /dev/urandom >"$XL_RUNDIR/big.bin"
opts=${SURVEY_SOCAT_OPTS:-}
one() {
	local pre=() t0 t1
	[ "$1" = plain ] || { xl_shim_argv "$XL_NS_B" tool; pre=("${XL_ARGV[@]}"); }
	[ "$1" = plain ] && pre=(ip netns exec "$XL_NS_B")
	xl_bg timeout 60 "${pre[@]}" socat $opts -u OPEN:"$XL_RUNDIR/big.bin" \
		TCP-LISTEN:7002,bind=$XL_ADDR_B,reuseaddr
	xl_wait_for 10 sh -c "ip netns exec $XL_NS_B ss -Hltn 'sport = :7002' | grep -q ."
	[ "$1" = plain ] && pre=(ip netns exec "$XL_NS_A")
	[ "$1" = plain ] || { xl_shim_argv "$XL_NS_A" tool; pre=("${XL_ARGV[@]}"); }
	t0=$(date +%s.%N)
	timeout 60 "${pre[@]}" socat $opts -u TCP:$XL_ADDR_B:7002 STDOUT | wc -c
	t1=$(date +%s.%N)
	echo "$1: $(echo "$t1 - $t0" | bc) s"
	wait "$XL_LAST_PID"
}
for i in $(seq 1 "${N:-3}"); do
	one plain
	one both
done
