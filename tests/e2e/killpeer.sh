#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A process or a daemon killed outright mid-stream (ARCHITECTURE
# invariants 3 and 6). A source in a streams a checked pattern to a sink
# in b (tests/e2e/semantics.c):
#   - the source, then the sink, is SIGKILLed: the survivor must end as it
#     does over plain TCP (EOF, or the same errno and SIGPIPE count), in
#     bounded time, with every byte it got a correct prefix of the stream;
#     both daemons then forget the connection;
#   - the daemon of b, then that of a, is SIGKILLed: the stream on the
#     ring goes on (no daemon on the data path), ends cleanly and whole,
#     and each new connection stays on TCP, byte-exact.
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/edge-lib.sh"

xl_require_root
xl_require_cmd python3 timeout
[ -x "$SEM" ] || xl_skip "semantics not built ($SEM)"
e2_preload_setup
xl_setup_net
OUT=$XL_RUNDIR/out
mkdir -p "$OUT"
MIB=$((1 << 20))
NOTICE_MS=2000		# a dead peer is noticed within about a second

# run SHIM NS CMD...: in NS, under the library if SHIM is 1.
run() {
	local shim=$1
	shift
	if [ "$shim" = 1 ]; then e2_shim "$@"; else ip netns exec "$@"; fi
}

pid_of() {
	sed -n 's/^pid //p' "$1" | head -n 1
}

progress() {
	awk '/^progress/ { p = $2 } END { print p + 0 }' "$1"
}

at_least() {	# FILE BYTES
	[ "$(progress "$1")" -ge "$2" ]
}

# The last progress line of FILE: bytes that went through the kernel, and
# through the ring (the library's count).
via() {
	awk '/^progress/ { t = $4; r = $6 } END { print t + 0, r + 0 }' "$1"
}

# Past BYTES, and (ring mode) the stream has moved onto the ring.
going() {	# FILE BYTES MODE
	local t r
	read -r t r < <(via "$1")
	at_least "$1" "$2" && { [ "$3" != ring ] || [ "$r" -gt 0 ]; }
}

# stream NAME SHIM PORT [LIMIT]: sink in b, source in a; their output in
# $OUT/NAME.sink and $OUT/NAME.source, their pids in SINK and SOURCE.
stream() {
	local name=$1 shim=$2 port=$3 limit=${4:-}
	xl_bg run "$shim" "$XL_NS_B" "$SEM" sink listen "$port" \
		>"$OUT/$name.sink" 2>&1
	xl_wait_for 5 grep -q '^listening' "$OUT/$name.sink" ||
		xl_fail "$name: no sink"
	xl_bg run "$shim" "$XL_NS_A" "$SEM" source connect "$XL_ADDR_B" \
		"$port" $limit >"$OUT/$name.source" 2>&1
	xl_wait_for 5 grep -q '^pid' "$OUT/$name.source" ||
		xl_fail "$name: no source"
	SINK=$(pid_of "$OUT/$name.sink")
	SOURCE=$(pid_of "$OUT/$name.source")
}

ended() {
	grep -q ' end ' "$1"
}

# How the stream ended for the process that wrote FILE, counts left out.
outcome() {
	sed -n 's/^\(source\|sink\) end \(sent\|recv\)=[0-9]* /\1 /p' "$1"
}

# The state and the byte counts the library reported for FILE's socket:
# "state ring_tx ring_rx tcp_tx tcp_rx".
info() {
	sed -n 's/^[a-z]* info state=//p' "$1" | tr -c '0-9\n' ' ' |
		awk '{ print $1, $2, $3, $4, $5 }'
}

# kill_one MODE VICTIM PORT: SIGKILL the source or the sink mid-stream;
# the survivor's outcome goes to $OUT/MODE.VICTIM.
kill_one() {
	local mode=$1 victim=$2 port=$3 shim=0 name=$1-$2 pid other t0 ms
	local st tx rx
	[ "$mode" = ring ] && shim=1
	stream "$name" "$shim" "$port"
	xl_wait_for 10 going "$OUT/$name.sink" $((8 * MIB)) "$mode" ||
		xl_fail "$name: the stream did not get going: $(via \
			"$OUT/$name.sink")"
	if [ "$victim" = source ]; then
		pid=$SOURCE other=sink
	else
		pid=$SINK other=source
	fi
	t0=$(e2_ms)
	kill -KILL "$pid"
	xl_wait_for 10 ended "$OUT/$name.$other" ||
		xl_fail "$name: the $other hangs after the $victim was killed"
	ms=$(($(e2_ms) - t0))
	outcome "$OUT/$name.$other" >"$OUT/$mode.$victim"
	xl_log "$name: after $ms ms: $(cat "$OUT/$mode.$victim")"
	[ $ms -lt $NOTICE_MS ] ||
		xl_fail "$name: the $other took $ms ms to notice"
	[ "$other" = source ] || grep -q 'data=ok' "$OUT/$mode.$victim" ||
		xl_fail "$name: the sink got wrong bytes"
	[ "$mode" = ring ] || return 0
	read -r st tx rx _ < <(info "$OUT/$name.$other")
	[ "$st" = 3 ] && [ $((tx + rx)) -gt 0 ] ||
		xl_fail "$name: the $other was not on the ring ($st $tx $rx)"
}

# Do the ring's outcome $1 and TCP's $2 agree? A writer whose reader was
# killed gets ECONNRESET, or (its next write) EPIPE with a SIGPIPE,
# depending on when the kernel's RST lands between two writes: over plain
# TCP both come up, so either is the kernel's answer.
same_end() {
	local dead='source err=ECONNRESET sigpipe=0|source err=EPIPE sigpipe=1'
	[ "$1" = "$2" ] && return 0
	[[ "$1" =~ ^($dead)$ ]] && [[ "$2" =~ ^($dead)$ ]]
}

# ---- the reference: plain TCP ----
kill_one plain source 7301
kill_one plain sink 7302

# ---- the same on the ring ----
xl_start_daemon "$XL_NS_A"
PID_A=$XL_LAST_PID
xl_start_daemon "$XL_NS_B"
PID_B=$XL_LAST_PID
xl_wait_peers "$XL_NS_A" "$XL_NS_B"
port=7303
for victim in source sink; do
	kill_one ring "$victim" $((port++))
	same_end "$(cat "$OUT/ring.$victim")" "$(cat "$OUT/plain.$victim")" ||
		xl_fail "$victim killed: '$(cat "$OUT/ring.$victim")' on the" \
			"ring, '$(cat "$OUT/plain.$victim")' over TCP"
	e2_wait_empty "$XL_NS_A" "$XL_NS_B"
	xl_log "ring-$victim: as over TCP; both daemons forgot the connection"
done

# ---- a daemon killed under a stream on the ring ----
# fallback NAME PORT: a new 4 MiB connection, byte-exact and on TCP.
fallback() {
	local name=$1 port=$2 st tx rx
	stream "$name" 1 "$port" $((4 * MIB))
	xl_wait_for 10 ended "$OUT/$name.sink" ||
		xl_fail "$name: the new connection did not end"
	xl_wait_for 5 ended "$OUT/$name.source" ||
		xl_fail "$name: the source did not end"
	grep -q "^sink end recv=$((4 * MIB)) end=eof data=ok" \
		"$OUT/$name.sink" ||
		xl_fail "$name: $(grep ' end ' "$OUT/$name.sink")"
	for f in source sink; do
		read -r st tx rx _ < <(info "$OUT/$name.$f")
		[ "$st" != 3 ] && [ "$tx" = 0 ] && [ "$rx" = 0 ] ||
			xl_fail "$name: the $f is on a ring ($st $tx $rx)"
	done
	xl_log "$name: a new connection stays on TCP, byte-exact"
}

stream dkill 1 7310
DK_SOURCE=$SOURCE
port=7311
xl_wait_for 10 going "$OUT/dkill.sink" $((8 * MIB)) ring ||
	xl_fail "dkill: the stream did not get going: $(via "$OUT/dkill.sink")"
# the kernel's share is fixed from now on: the ring never hands back
read -r tcp_k ring_k < <(via "$OUT/dkill.sink")
for pid in "$PID_B" "$PID_A"; do
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true	# our child: no "Killed" message
	p=$(progress "$OUT/dkill.sink")
	xl_wait_for 10 at_least "$OUT/dkill.sink" $((p + 32 * MIB)) ||
		xl_fail "dkill: the stream stopped with daemon $pid"
	xl_log "dkill: daemon $pid killed at $p bytes; the stream goes on"
	fallback "fb$pid" $((port++))
done
kill -TERM "$DK_SOURCE"
xl_wait_for 10 ended "$OUT/dkill.sink" || xl_fail "dkill: no end"
xl_wait_for 5 ended "$OUT/dkill.source" || xl_fail "dkill: the source hangs"
sent=$(sed -n 's/^source end sent=\([0-9]*\) err=none sigpipe=0$/\1/p' \
	"$OUT/dkill.source")
[ -n "$sent" ] || xl_fail "dkill: $(grep ' end ' "$OUT/dkill.source")"
grep -q "^sink end recv=$sent end=eof data=ok" "$OUT/dkill.sink" ||
	xl_fail "dkill: sent $sent, $(grep ' end ' "$OUT/dkill.sink")"
read -r st tx rx ttx trx < <(info "$OUT/dkill.sink")
[ "$st" = 3 ] && [ "$trx" = "$tcp_k" ] && [ $((trx + rx)) = "$sent" ] ||
	xl_fail "dkill: not on the ring to the end: state $st, tcp_rx $trx" \
		"(was $tcp_k before the kills), ring_rx $rx of $sent"
xl_log "dkill: $sent bytes, whole and in order; $tcp_k by TCP before the" \
	"switch, the rest on the ring to the end"
xl_log "PASS"
